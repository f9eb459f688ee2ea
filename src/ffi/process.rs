//! What the library needs from the process around it: thread cancellation
//! held off during calls (word of a `fork()` is `crate::process`'s).

use std::ffi::c_int;

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
