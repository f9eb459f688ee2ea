//! The library's own threads in the host's process, all started here: a
//! name lookup that may outlast its call, and the workers that run
//! fetches in the background (a refresh, a fetch of `get_within`). Those
//! are a bounded set, shared by every source of the process: a refresh
//! waits in line for a worker, rather than starting a thread of its own.
//! Once the library has started one, it is never unloaded: a `dlclose`
//! would unmap the code such a thread runs.
//!
//! Some background work is also awaited: the process's `exit()` waits for
//! it, up to the time it was given, because a short-lived program (a cron
//! job, a command in a shell loop) must not cut off a refresh whose request
//! the server may have answered with a new refresh token, revoking the old.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::clock::deadline_after;
use crate::process::{self, Owned, PerProcess, made_once};

/// The most workers a process runs background work on at once. A worker
/// ends as soon as no work waits: an idle process keeps no thread of the
/// library's.
const MAX_WORKERS: usize = 16;

/// The awaited jobs running in this process (in a child of `fork()`,
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

/// The generation of the process whose `exit()` has begun to wait (none
/// at first). From then on no awaited job starts: nothing would wait for
/// it.
static EXITING: AtomicU64 = AtomicU64::new(u64::MAX);

thread_local! {
    /// On the thread that runs `exit()`'s handlers, once they began.
    static EXITING_HERE: Cell<bool> = const { Cell::new(false) };
    /// While a worker runs an awaited job: the generation of the process
    /// that started it (a child forked from it runs on as its own main
    /// thread).
    static AWAITED_THREAD_OF: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `work` on a new thread named `name`. The error says why no thread
/// could be started.
pub(crate) fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    spawn_joinable(name, work).map(drop)
}

/// As [`spawn`], keeping the thread's handle, to know when it is gone.
fn spawn_joinable(
    name: &str,
    work: impl FnOnce() + Send + 'static,
) -> io::Result<thread::JoinHandle<()>> {
    stay_loaded_and_wait_at_exit();
    thread::Builder::new().name(name.into()).spawn(work)
}

/// Runs `work` on one of the process's workers, when one is free (in the
/// order given).
pub(crate) fn run_in_background(work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    Pool::give(pool(), Box::new(work))
}

/// As [`run_in_background`], and `exit()` waits for `work` to end, at
/// most `limit` from when it starts. Once the process has begun to exit
/// (an `atexit` handler of the host's, or another thread, may call in
/// then), none starts: work given then is refused (the error says why:
/// the caller does the work itself, or not at all), and work that was
/// waiting in line is given to `not_run` instead (nothing was sent, so
/// nothing is lost).
pub(crate) fn run_awaited(
    limit: Duration,
    work: impl FnOnce() + Send + 'static,
    not_run: impl FnOnce(io::Error) + Send + 'static,
) -> io::Result<()> {
    if EXITING.load(Ordering::Acquire) == process::generation() {
        return Err(exiting());
    }
    run_in_background(move || {
        let Some(counted) = Counted::start(limit) else {
            return not_run(exiting());
        };
        AWAITED_THREAD_OF.set(Some(process::generation()));
        work();
        AWAITED_THREAD_OF.set(None);
        drop(counted);
    })
}

/// Whether the process has begun to exit on another thread than this
/// one: then nothing waits for what this thread starts, and the process
/// may end in the middle of it.
pub(crate) fn exiting_elsewhere() -> bool {
    EXITING.load(Ordering::Acquire) == process::generation() && !EXITING_HERE.get()
}

fn exiting() -> io::Error {
    io::Error::other("the process is exiting, and would not wait for it")
}

type Job = Box<dyn FnOnce() + Send>;

/// The workers of a process, and the work waiting for one.
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    waiting: VecDeque<Job>,
    /// The workers taking jobs.
    workers: usize,
    /// Every worker's thread until it is joined: a worker that found no
    /// job has left `workers` but its thread may still be ending, and the
    /// process never holds more than [`MAX_WORKERS`] of them.
    threads: Vec<thread::JoinHandle<()>>,
}

fn pool() -> Arc<Owned<Pool>> {
    static POOL: OnceLock<PerProcess<Pool>> = OnceLock::new();
    made_once(&POOL, || PerProcess::new(Pool::default())).get(Pool::default)
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, and starts a worker when there are fewer than the
    /// most. Fails only when no worker runs and none could be started
    /// (the job is then not kept). The lock is held meanwhile: no job
    /// waits while no worker runs.
    fn give(pool: Arc<Owned<Pool>>, job: Job) -> io::Result<()> {
        let mut state = pool.lock();
        state.waiting.push_back(job);
        if state.workers >= MAX_WORKERS {
            return Ok(());
        }
        state.join_ended_threads();
        let worker = Arc::clone(&pool);
        match spawn_joinable("criteo-oauth fetch", move || Pool::work(&worker)) {
            Ok(thread) => {
                state.workers += 1;
                state.threads.push(thread);
            }
            Err(_) if state.workers > 0 => {}
            Err(error) => {
                state.waiting.pop_back();
                return Err(error);
            }
        }
        Ok(())
    }

    /// A worker's life: the jobs waiting, one at a time, until none is
    /// left. A worker that finds itself in a child of `fork()` (a job's
    /// callback forked) ends there: the jobs, and the lock, are the
    /// parent's.
    fn work(pool: &Owned<Pool>) {
        loop {
            if !pool.is_current() {
                return;
            }
            let job = {
                let mut state = pool.lock();
                match state.waiting.pop_front() {
                    Some(job) => job,
                    None => {
                        state.workers -= 1;
                        // What a burst of work needed is given back.
                        state.waiting.shrink_to_fit();
                        return;
                    }
                }
            };
            // A job's panic is its own; the worker goes on.
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }
}

impl PoolState {
    /// Joins the threads of the workers that have ended, and waits for
    /// those still ending until there is room for one more. Not long: a
    /// worker that has left `workers` only returns (it no longer needs the
    /// lock held here).
    fn join_ended_threads(&mut self) {
        loop {
            let (ended, running) = self.threads.drain(..).partition(|t| t.is_finished());
            self.threads = running;
            for thread in ended {
                let _ = thread.join();
            }
            if self.threads.len() < MAX_WORKERS {
                return;
            }
            thread::yield_now();
        }
    }
}

/// One awaited job, counted in from its start until this is dropped (when
/// its work ends, even by a panic).
struct Counted {
    running: Arc<Owned<Running>>,
}

impl Counted {
    /// `None` once the process has begun to exit: checked under the lock
    /// that `exit()` takes to mark it, so that no job starts unwaited for.
    fn start(limit: Duration) -> Option<Counted> {
        let running = running();
        let mut state = running.lock();
        if EXITING.load(Ordering::Acquire) == process::generation() {
            return None;
        }
        state.count += 1;
        let until = deadline_after(limit);
        state.until = Some(state.until.map_or(until, |earlier| earlier.max(until)));
        drop(state);
        Some(Counted { running })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // In a child of fork(), the count is the parent's, and its lock may
        // have been held at the fork.
        if !self.running.is_current() {
            return;
        }
        let mut state = self.running.lock();
        state.count -= 1;
        if state.count == 0 {
            state.until = None;
        }
        drop(state);
        self.running.ended.notify_all();
    }
}

fn running() -> Arc<Owned<Running>> {
    static RUNNING: OnceLock<PerProcess<Running>> = OnceLock::new();
    made_once(&RUNNING, || PerProcess::new(Running::default())).get(Running::default)
}

impl Running {
    fn lock(&self) -> MutexGuard<'_, RunningState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Called by `exit()`: waits for the awaited jobs of this process to
/// end, each at most until its limit, but not for the thread calling
/// `exit()` (a refresh callback may), which would wait for itself.
extern "C" fn wait_for_awaited_threads() {
    let own = usize::from(AWAITED_THREAD_OF.get() == Some(process::generation()));
    let running = running();
    let mut state = running.lock();
    EXITING.store(process::generation(), Ordering::Release);
    EXITING_HERE.set(true);
    while state.count > own {
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
/// then on, and `exit()` waits for its awaited jobs. Never waits (a
/// `Once` would hang a child forked while another thread runs it).
fn stay_loaded_and_wait_at_exit() {
    static DONE: AtomicBool = AtomicBool::new(false);
    process::first_time(&DONE, || {
        // SAFETY: the handler is a function of this library, which is never
        // unloaded from now on. Its failure (no memory) only loses the wait.
        unsafe { libc::atexit(wait_for_awaited_threads) };
        keep_library_loaded();
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
