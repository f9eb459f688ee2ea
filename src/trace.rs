//! Tracing: what a call or a fetch does, step by step, told to a callback
//! the program gives the client (`criteo_client_builder_set_trace`).
//!
//! Each event is one line, passed through the same redaction as error
//! messages (the request's secrets and the proxy's password, in every
//! encoding), with the time since its call or fetch began. With no
//! callback set nothing is formatted or copied: a call checks one
//! pointer, the transport and the resolver one thread-local.
//!
//! The steps that happen inside ureq's connector chain (name lookup,
//! connection attempts, the TLS handshake) reach the call's span through the thread-local
//! that [`Span::during`] sets: they run on the calling thread.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::request::TokenRequest;
use crate::sanitize::Redactor;

/// What an event is about. The numbers are the C API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum EventKind {
    /// A host name looked up (or found in the cache): the addresses.
    Lookup = 1,
    /// A connection attempt begun, failed, or won.
    Connect = 2,
    /// The TLS session of a new connection: version, suite, resumed or not.
    Tls = 3,
    /// An attempt begins: method, URL (never the form), size.
    Request = 4,
    /// The answer: status, reason, size, `Retry-After`.
    Response = 5,
    /// A failed attempt tried again, and the wait first.
    Retry = 6,
    /// A token source's fetch: why it started and how it ended.
    Fetch = 7,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Lookup => "lookup",
            EventKind::Connect => "connect",
            EventKind::Tls => "tls",
            EventKind::Request => "request",
            EventKind::Response => "response",
            EventKind::Retry => "retry",
            EventKind::Fetch => "fetch",
        })
    }
}

/// One event, borrowed by the callback for the duration of its call.
#[derive(Debug)]
pub struct Event<'a> {
    pub kind: EventKind,
    /// One line, redacted.
    pub message: &'a str,
    /// Since the call or fetch began.
    pub elapsed: Duration,
}

/// The program's callback: runs on the thread doing the work.
pub type TraceFn = dyn Fn(&Event<'_>) + Send + Sync;

/// The longest message, in characters: an event is a line for a log.
const MAX_MESSAGE_CHARS: usize = 1000;

/// A client's callback, if any. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tracer(Option<Arc<TraceFn>>);

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tracer(set)"
        } else {
            "Tracer(none)"
        })
    }
}

impl Tracer {
    pub fn new(callback: Option<Arc<TraceFn>>) -> Self {
        Tracer(callback)
    }

    /// A span for one call or fetch of `request`, with `proxy_secrets` to
    /// redact too; `None` when no callback is set (nothing is copied).
    pub(crate) fn begin<'a>(
        &self,
        request: &TokenRequest,
        proxy_secrets: impl IntoIterator<Item = &'a str>,
    ) -> Option<Arc<Span>> {
        let sink = Arc::clone(self.0.as_ref()?);
        Some(Arc::new(Span {
            sink,
            started: Instant::now(),
            redactor: request.redactor().with_secrets(proxy_secrets),
        }))
    }
}

/// The events of one call or fetch: its start, and what to redact.
pub(crate) struct Span {
    sink: Arc<TraceFn>,
    started: Instant,
    /// The request's secrets and the proxy's, which no event may show;
    /// one for all the events, so its patterns are worked out once.
    redactor: Redactor,
}

thread_local! {
    /// The span of the call this thread is making, for the steps inside
    /// ureq's connector chain.
    static CURRENT: RefCell<Option<Arc<Span>>> = const { RefCell::new(None) };
}

impl Span {
    /// Tells the callback, redacted, on one line.
    pub(crate) fn emit(&self, kind: EventKind, message: &str) {
        let redactor = &self.redactor;
        // Redacted again once on one line: a tab in an echo turned to a
        // space can complete a secret that holds one.
        let line = redactor.one_clean_line(&redactor.redact(message), MAX_MESSAGE_CHARS);
        let event = Event {
            kind,
            message: &line,
            elapsed: self.started.elapsed(),
        };
        // A callback that panics must not unwind into the call.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.sink)(&event)));
    }

    /// Runs `work` with this span as the thread's current one (and the
    /// one before it again afterwards, even if `work` panics).
    pub(crate) fn during<R>(self: &Arc<Self>, work: impl FnOnce() -> R) -> R {
        struct Restore(Option<Arc<Span>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let outer = self.0.take();
                CURRENT.with(|current| *current.borrow_mut() = outer);
            }
        }
        let _restore = Restore(CURRENT.with(|current| current.replace(Some(Arc::clone(self)))));
        work()
    }
}

/// An event of the current call, if this thread is making one with a
/// callback set; `message` is only formatted then.
pub(crate) fn note(kind: EventKind, message: impl FnOnce() -> String) {
    let span = CURRENT.with(|current| current.borrow().clone());
    if let Some(span) = span {
        span.emit(kind, &message());
    }
}

/// `span`'s event, formatted only when there is a span.
pub(crate) fn emit(span: Option<&Arc<Span>>, kind: EventKind, message: impl FnOnce() -> String) {
    if let Some(span) = span {
        span.emit(kind, &message());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TokenRequestFields;
    use std::sync::Mutex;

    #[test]
    fn a_secret_split_by_a_tab_is_redacted_once_on_one_line() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let tracer = Tracer::new(Some(Arc::new(move |event: &Event<'_>| {
            sink.lock().unwrap().push(event.message.to_owned());
        })));
        let request = TokenRequest::new(&TokenRequestFields {
            grant_type: "client_credentials",
            client_id: "c1",
            client_secret: "my secret value",
            redirect_uri: None,
            code: None,
            refresh_token: None,
        })
        .unwrap();
        let span = tracer.begin(&request, []).unwrap();
        span.emit(EventKind::Response, "Retry-After: my\tsecret\nvalue");
        assert_eq!(*seen.lock().unwrap(), ["Retry-After: [redacted]"]);
        assert!(
            Tracer::default().begin(&request, []).is_none(),
            "no span without a callback"
        );

        // One line, cut at MAX_MESSAGE_CHARS (with "..." to show the cut).
        seen.lock().unwrap().clear();
        span.emit(EventKind::Lookup, &"a\u{7}b\r\n".repeat(2000));
        let line = seen.lock().unwrap()[0].clone();
        assert!(
            line.chars().count() <= MAX_MESSAGE_CHARS + 3,
            "{}",
            line.len()
        );
        assert!(
            line.ends_with("...") && !line.chars().any(char::is_control),
            "{line:?}"
        );
    }
}
