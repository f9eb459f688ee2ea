//! The trace callback, its `criteo_event`s, and a token source's counters.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ffi::client::{apply_to_builder, criteo_client_builder};
use crate::ffi::glue::{read_handle, to_c_string};
use crate::ffi::source::criteo_token_source;
use crate::ffi::status::criteo_status;
use crate::gate::CallGate;
use crate::source::Stat;
use crate::trace::{Event, Tracer};

/// One step of a call or fetch, borrowed by the trace callback for the
/// duration of its call.
pub struct criteo_event {
    kind: u32,
    message: CString,
    elapsed_us: u64,
}

/// Called for every step of a call or fetch of the client, on the thread
/// doing it, with an event borrowed for the duration of the call.
pub type criteo_trace_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event: *const criteo_event)>;

/// A host name looked up (or found in the cache, or `localhost`): the
/// addresses found, or why none were.
pub const CRITEO_EVENT_LOOKUP: u32 = 1;
/// A connection attempt begun ("trying ADDR"), failed, or won ("connected
/// to ADDR"), directly or to the proxy.
pub const CRITEO_EVENT_CONNECT: u32 = 2;
/// The TLS session of a new connection: the protocol version, the cipher
/// suite, and a full handshake or a resumed session.
pub const CRITEO_EVENT_TLS: u32 = 3;
/// An attempt begins: method, URL (never the form), the proxy, the form's
/// size. Its lookup and connection come next, then its answer.
pub const CRITEO_EVENT_REQUEST: u32 = 4;
/// The answer: status number and reason, size, `Retry-After`.
pub const CRITEO_EVENT_RESPONSE: u32 = 5;
/// A failed attempt to be tried again: which retry, the wait, the failure.
pub const CRITEO_EVENT_RETRY: u32 = 6;
/// A token source's fetch: why it started (or that another process had
/// stored the token), and how it ended.
pub const CRITEO_EVENT_FETCH: u32 = 7;

/// Requests for a token a source made.
pub const CRITEO_STAT_FETCHES: u32 = 1;
/// Those that failed.
pub const CRITEO_STAT_FETCH_FAILURES: u32 = 2;
/// Fetches avoided because another process had stored a token.
pub const CRITEO_STAT_STORE_HITS: u32 = 3;

/// A C callback and its pointer, callable from whichever thread works,
/// until the last handle that can reach it is freed.
struct TraceFromC {
    function: unsafe extern "C" fn(*mut c_void, *const criteo_event),
    user_data: *mut c_void,
    gate: CallGate,
    /// The [`TraceUser`]s alive.
    users: AtomicUsize,
}

// SAFETY: the header tells the caller the callback runs on any thread
// that works for the client, with this user_data.
unsafe impl Send for TraceFromC {}
// SAFETY: as above.
unsafe impl Sync for TraceFromC {}

impl TraceFromC {
    fn call(&self, event: &Event<'_>) {
        let event = criteo_event {
            kind: event.kind as u32,
            message: to_c_string(event.message),
            elapsed_us: u64::try_from(event.elapsed.as_micros()).unwrap_or(u64::MAX),
        };
        self.gate.run(|| {
            // SAFETY: the caller registered a function that takes this
            // user_data and an event valid for the duration of the call,
            // and keeps user_data valid while a handle lives: the gate is
            // closed when the last one is freed.
            unsafe { (self.function)(self.user_data, &event) }
        });
    }
}

/// One handle that can make the trace callback run: the client, or a
/// source made from it. When the last is dropped, the callback is closed:
/// a call under way on another thread (a fetch in the background) is
/// waited for, and none starts after, so the program may release
/// `user_data` once it has freed them all.
pub(crate) struct TraceUser(Arc<TraceFromC>);

impl TraceUser {
    /// Another user of the same callback.
    pub(crate) fn share(&self) -> TraceUser {
        self.0.users.fetch_add(1, Ordering::AcqRel);
        TraceUser(Arc::clone(&self.0))
    }
}

impl Drop for TraceUser {
    fn drop(&mut self) {
        if self.0.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.gate.close();
        }
    }
}

/// The client's tracer for a C callback, and the first user of it.
fn tracer_from_c(
    callback: criteo_trace_callback,
    user_data: *mut c_void,
) -> (Tracer, Option<TraceUser>) {
    let Some(function) = callback else {
        return (Tracer::default(), None);
    };
    let from_c = Arc::new(TraceFromC {
        function,
        user_data,
        gate: CallGate::new(),
        users: AtomicUsize::new(1),
    });
    let calling = Arc::clone(&from_c);
    let tracer = Tracer::new(Some(Arc::new(move |event: &Event<'_>| calling.call(event))));
    (tracer, Some(TraceUser(from_c)))
}

/// Asks for every step of this client's calls, and of the fetches of its
/// token sources, to be told to `callback` (NULL: none, the default): the
/// request (never its form), its name lookup, each connection attempt and
/// the one that won, the TLS session (version, cipher suite, resumed or
/// not), the answer, each retry and its wait, and for a token
/// source why a fetch started (no token yet, the token due for refresh,
/// expired, invalidated or rejected, or not needed: another process had
/// stored one) and how it ended. Each `criteo_event` has a
/// kind (`CRITEO_EVENT_*`), a one-line message passed through the same
/// redaction as error messages (no secret, code, refresh token, access
/// token or proxy password, in any encoding), and the time since its call
/// or fetch began.
///
/// `callback` runs on the thread doing the work (a caller's, or the
/// library's "criteo-oauth fetch" for a refresh in the background), from
/// several threads at once when they work at once, and before the call
/// returns. It must return normally (a C++ exception that escapes it
/// aborts the process), must not call the library for the same client or
/// its sources, and must be quick: the call waits for it. `user_data` is
/// passed through; it must stay valid, and usable from any thread, until
/// the client and every source made from it are freed: the last of those
/// frees waits for a call under way (a fetch in the background goes on,
/// but tells nothing more), and no call starts after it. With no callback, no message is
/// made: tracing costs nothing then.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `builder` is
/// NULL.
///
/// # Safety
/// `builder` is NULL or a live builder used by one thread; `callback` is
/// NULL or a function safe to call with `user_data` from any thread while
/// the client lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_trace(
    builder: *mut criteo_client_builder,
    callback: criteo_trace_callback,
    user_data: *mut c_void,
) -> criteo_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        apply_to_builder(builder, |builder| {
            let (tracer, user) = tracer_from_c(callback, user_data);
            builder.config.set_trace(tracer);
            builder.trace_user = user;
            Ok(())
        })
    }
}

/// The event's kind, a `CRITEO_EVENT_*` value; 0 for NULL. Like every
/// `criteo_event_*` accessor, it reads only the event, so it is safe on
/// whichever thread the callback runs, for the duration of the callback.
///
/// # Safety
/// `event` is NULL or the event a trace callback was given, during that call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_event_kind(event: *const criteo_event) -> u32 {
    // SAFETY: event is NULL or live, as documented.
    unsafe { read_handle(event, 0, |e| e.kind) }
}

/// The event's one line, redacted; never NULL ("" for a NULL event).
/// Borrowed from the event: copy it to keep it.
///
/// # Safety
/// `event` is NULL or the event a trace callback was given, during that call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_event_message(event: *const criteo_event) -> *const c_char {
    // SAFETY: event is NULL or live, as documented.
    unsafe { read_handle(event, c"".as_ptr(), |e| e.message.as_ptr()) }
}

/// Microseconds from the start of the event's call (`criteo_get_token`,
/// or one HTTP call of a fetch) or token source fetch to the event; 0 for
/// NULL. Within one call or fetch, they never go back.
///
/// # Safety
/// `event` is NULL or the event a trace callback was given, during that call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_event_elapsed_us(event: *const criteo_event) -> u64 {
    // SAFETY: event is NULL or live, as documented.
    unsafe { read_handle(event, 0, |e| e.elapsed_us) }
}

/// A counter of the source (`CRITEO_STAT_*`), in this process: requests
/// for a token it made (`CRITEO_STAT_FETCHES`, retries inside one),
/// those that failed (`CRITEO_STAT_FETCH_FAILURES`), and fetches avoided
/// because another process had stored a token that was not due
/// (`CRITEO_STAT_STORE_HITS`). 0 for a NULL source or an unknown counter.
/// A child of `fork()` starts from its parent's counts. Reading never
/// slows the source's gets, which never write a counter. Thread-safe.
///
/// # Safety
/// `source` is NULL or a live source.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_stat(
    source: *const criteo_token_source,
    which: u32,
) -> u64 {
    let Some(stat) = Stat::from_number(which) else {
        return 0;
    };
    // SAFETY: source is NULL or live, as documented.
    unsafe { read_handle(source, 0, |s| s.source.stat(stat)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::EventKind;

    #[test]
    fn the_constants_are_the_core_s_numbers() {
        let kinds = [
            (CRITEO_EVENT_LOOKUP, EventKind::Lookup),
            (CRITEO_EVENT_CONNECT, EventKind::Connect),
            (CRITEO_EVENT_TLS, EventKind::Tls),
            (CRITEO_EVENT_REQUEST, EventKind::Request),
            (CRITEO_EVENT_RESPONSE, EventKind::Response),
            (CRITEO_EVENT_RETRY, EventKind::Retry),
            (CRITEO_EVENT_FETCH, EventKind::Fetch),
        ];
        for (number, kind) in kinds {
            assert_eq!(number, kind as u32, "{kind}");
        }
        let stats = [
            (CRITEO_STAT_FETCHES, Stat::Fetches),
            (CRITEO_STAT_FETCH_FAILURES, Stat::FetchFailures),
            (CRITEO_STAT_STORE_HITS, Stat::StoreHits),
        ];
        for (number, stat) in stats {
            assert_eq!(Stat::from_number(number), Some(stat));
        }
        assert_eq!(Stat::from_number(0), None);
    }
}
