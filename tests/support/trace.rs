//! Collects the events of a client's trace callback, through the C ABI.

use std::ffi::{CStr, c_void};
use std::sync::Mutex;
use std::thread::{self, ThreadId};

use criteo_oauth::ffi::trace::*;

/// One event as the callback saw it.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    pub kind: u32,
    pub message: String,
    pub elapsed_us: u64,
    pub thread: ThreadId,
    pub thread_name: Option<String>,
}

/// Every event told so far, in order. Give it to [`super::Setup::trace`].
#[derive(Debug, Default)]
pub struct Trace {
    events: Mutex<Vec<TraceEvent>>,
}

impl Trace {
    pub fn events(&self) -> Vec<TraceEvent> {
        self.events.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    /// The kinds, as their names, in order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.events()
            .iter()
            .map(|event| kind_name(event.kind))
            .collect()
    }

    /// The messages of the events of `kind`.
    pub fn messages(&self, kind: u32) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|event| event.kind == kind)
            .map(|event| event.message)
            .collect()
    }
}

pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        CRITEO_EVENT_LOOKUP => "lookup",
        CRITEO_EVENT_CONNECT => "connect",
        CRITEO_EVENT_TLS => "tls",
        CRITEO_EVENT_REQUEST => "request",
        CRITEO_EVENT_RESPONSE => "response",
        CRITEO_EVENT_RETRY => "retry",
        CRITEO_EVENT_FETCH => "fetch",
        _ => "unknown",
    }
}

/// The callback given to `criteo_client_builder_set_trace`.
///
/// # Safety
/// `user_data` is a live `Trace`, `event` the event of this call.
pub unsafe extern "C" fn collect(user_data: *mut c_void, event: *const criteo_event) {
    // SAFETY: as this function's contract says.
    let (trace, event) = unsafe { (&*(user_data as *const Trace), event) };
    // SAFETY: the event is valid during the call.
    let collected = unsafe {
        TraceEvent {
            kind: criteo_event_kind(event),
            message: CStr::from_ptr(criteo_event_message(event))
                .to_string_lossy()
                .into_owned(),
            elapsed_us: criteo_event_elapsed_us(event),
            thread: thread::current().id(),
            thread_name: thread::current().name().map(str::to_owned),
        }
    };
    trace.events.lock().unwrap().push(collected);
}
