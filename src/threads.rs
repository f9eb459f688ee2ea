//! The library's own threads in the host's process (a refresh in the
//! background, a fetch of `get_within`), all started here. While one runs:
//! - the library stays loaded: a `dlclose` would unmap the code it runs,
//!   so once the library has started a thread it is never unloaded;
//! - the process's `exit()` waits for it, up to the time it was given:
//!   a short-lived program (a cron job, a command in a shell loop) must not
//!   cut off a refresh whose request the server may have answered with a
//!   new refresh token, and revoked the old one.

use std::cell::Cell;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::clock::deadline_after;
use crate::process::{Owned, PerProcess};

/// The library's threads running in this process (in a child of `fork()`,
/// none: the parent's are not there).
#[derive(Default)]
struct Running {
    state: Mutex<RunningState>,
    ended: Condvar,
}

#[derive(Default)]
struct RunningState {
    count: usize,
    /// When the last of them should have ended.
    until: Option<Instant>,
}

thread_local! {
    static ON_A_LIBRARY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work` on a new thread named `name`, which should end within
/// `limit`. The error says why no thread could be started.
pub(crate) fn spawn(
    name: &str,
    limit: Duration,
    work: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    stay_loaded_and_wait_at_exit();
    let running = running();
    {
        let mut state = running.lock();
        state.count += 1;
        let until = deadline_after(limit);
        state.until = Some(state.until.map_or(until, |earlier| earlier.max(until)));
    }
    let spawned = thread::Builder::new().name(name.into()).spawn(move || {
        ON_A_LIBRARY_THREAD.set(true);
        let _ended = Ended;
        work();
    });
    if spawned.is_err() {
        drop(Ended);
    }
    spawned.map(drop)
}

/// Counts a thread out when dropped, even by a panic.
struct Ended;

impl Drop for Ended {
    fn drop(&mut self) {
        let running = running();
        let mut state = running.lock();
        state.count -= 1;
        if state.count == 0 {
            state.until = None;
        }
        drop(state);
        running.ended.notify_all();
    }
}

fn running() -> Arc<Owned<Running>> {
    static RUNNING: OnceLock<PerProcess<Running>> = OnceLock::new();
    RUNNING
        .get_or_init(|| PerProcess::new(Running::default()))
        .get(Running::default)
}

impl Running {
    fn lock(&self) -> MutexGuard<'_, RunningState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Called by `exit()`: waits for the library's threads of this process to
/// end, each at most until its limit. Not from one of them (a refresh
/// callback that calls `exit()`), which would wait for itself.
extern "C" fn wait_for_library_threads() {
    if ON_A_LIBRARY_THREAD.get() {
        return;
    }
    let running = running();
    let mut state = running.lock();
    while state.count > 0 {
        let left = state.until.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return;
        }
        state = running
            .ended
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// The first time the library starts a thread: it is never unloaded from
/// then on, and `exit()` waits for its threads.
fn stay_loaded_and_wait_at_exit() {
    static DONE: Once = Once::new();
    DONE.call_once(|| {
        keep_library_loaded();
        // SAFETY: the handler is a function of this library, which is never
        // unloaded from now on. Its failure (no memory) only loses the wait.
        unsafe { libc::atexit(wait_for_library_threads) };
    });
}

/// Marks the library never to be unloaded. (Linked into the program, it
/// never is; this changes nothing.)
fn keep_library_loaded() {
    // SAFETY: Dl_info is plain data, for which zeros are valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = keep_library_loaded as *const libc::c_void;
    // SAFETY: `here` is an address in this library and `info` is writable.
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return;
    }
    let flags = libc::RTLD_LAZY | libc::RTLD_NOLOAD | libc::RTLD_NODELETE;
    // SAFETY: dli_fname is the NUL-terminated name the loader keeps for this
    // library, which is loaded (RTLD_NOLOAD loads nothing new).
    let handle = unsafe { libc::dlopen(info.dli_fname, flags) };
    if !handle.is_null() {
        // SAFETY: the handle was just opened; RTLD_NODELETE outlives it.
        unsafe { libc::dlclose(handle) };
    }
}
