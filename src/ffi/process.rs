//! What the library needs from the process around it: thread cancellation
//! held off during calls, and word of a `fork()`.

use std::ffi::c_int;
use std::sync::atomic::AtomicBool;

// Not in the libc crate for Linux; the values of glibc's and musl's <pthread.h>.
const PTHREAD_CANCEL_ENABLE: c_int = 0;
const PTHREAD_CANCEL_DISABLE: c_int = 1;

// Left out of the header by cbindgen.toml's export.exclude.
unsafe extern "C" {
    fn pthread_setcancelstate(state: c_int, old_state: *mut c_int) -> c_int;
}

/// Holds off `pthread_cancel` for as long as it lives: a cancellation that
/// arrives meanwhile stays pending until the caller's next cancellation
/// point. Setting the state is not itself a cancellation point.
pub(crate) struct CancellationDeferred(c_int);

impl CancellationDeferred {
    pub(crate) fn start() -> Self {
        let mut previous = PTHREAD_CANCEL_ENABLE;
        // SAFETY: `previous` is a valid place for the old state.
        unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut previous) };
        CancellationDeferred(previous)
    }
}

impl Drop for CancellationDeferred {
    fn drop(&mut self) {
        // SAFETY: restores the state `start` found; the old state may be NULL.
        unsafe { pthread_setcancelstate(self.0, std::ptr::null_mut()) };
    }
}

/// Registers, once, handlers that tell [`crate::process`] of every
/// `fork()`, so that a child never uses its parent's connections or locks,
/// and both know that they may now share what the parent had. glibc
/// removes the handlers when the library is unloaded with `dlclose`.
pub(crate) fn watch_for_fork() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::process::first_time(&REGISTERED, || {
        // SAFETY: each handler only increments an atomic counter, which is
        // async-signal-safe as a child handler must be.
        let registered = unsafe {
            libc::pthread_atfork(Some(around_fork), Some(around_fork), Some(in_the_child))
        };
        if registered == 0 {
            crate::process::note_watching();
        }
    });
}

/// Before the fork, and in the parent after it: what another thread reads
/// between the two still changes in the parent once the child exists.
extern "C" fn around_fork() {
    crate::process::note_fork_coming();
}

extern "C" fn in_the_child() {
    crate::process::note_fork_coming();
    crate::process::note_fork();
}
