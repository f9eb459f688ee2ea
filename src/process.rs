//! The library inside someone else's process: which process it is in (a
//! `fork()` starts a new generation), and panics kept off the host's stderr.

use std::cell::Cell;
use std::ops::Deref;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Changes in a child after each `fork()` (once [`watch_for_fork`] has
/// been called). Connections, locks and threads of another generation belong to
/// another process: they are left alone, never used, never closed.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Registers, once, handlers that tell this module of every `fork()`, so
/// that a child never uses its parent's connections or locks, and both
/// know that they may now share what the parent had. Called by every
/// exported function and by every token source made. glibc removes the
/// handlers when the library is unloaded with `dlclose`.
pub(crate) fn watch_for_fork() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    first_time(&REGISTERED, || {
        // SAFETY: each handler only increments atomic counters, which is
        // async-signal-safe as a child handler must be.
        let registered = unsafe {
            libc::pthread_atfork(Some(around_fork), Some(around_fork), Some(in_the_child))
        };
        if registered == 0 {
            WATCHING.store(true, Ordering::Release);
        }
    });
}

/// Before the fork, and in the parent after it: what another thread reads
/// between the two still changes in the parent once the child exists.
extern "C" fn around_fork() {
    note_fork_coming();
}

extern "C" fn in_the_child() {
    note_fork_coming();
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

static FORKS_BEGUN: AtomicU64 = AtomicU64::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Called around each `fork()`: before it, then in both processes after
/// it (a value read in between, by another thread, is then stale in both).
fn note_fork_coming() {
    FORKS_BEGUN.fetch_add(1, Ordering::AcqRel);
}

/// How many `fork()`s this process, and those it was forked from, have
/// begun since the library began to watch: a value that changes, in
/// parent and child alike, with every `fork()`. `None` when the library
/// could not watch: then any moment may come after a `fork()`.
pub(crate) fn forks_begun() -> Option<u64> {
    let forks = FORKS_BEGUN.load(Ordering::Acquire);
    WATCHING.load(Ordering::Acquire).then_some(forks)
}

/// The value in `cell`, made with `make` on first use. Made outside the
/// cell's lock: a child forked while another thread of its parent makes
/// it never waits for that thread (threads that race each make one, and
/// all but the first drop theirs).
pub(crate) fn made_once<T>(cell: &'static OnceLock<T>, make: impl FnOnce() -> T) -> &'static T {
    if let Some(value) = cell.get() {
        return value;
    }
    let made = make();
    cell.get_or_init(|| made)
}

/// A value that belongs to the process that made it, such as a pool of
/// connections or a lock. In a child after `fork()`, the first use makes a
/// new one, and the parent's is leaked untouched: dropping it could close
/// the parent's TLS sessions, and its locks may have been held by a thread
/// that does not exist in the child.
pub struct PerProcess<T> {
    current: ArcSwap<Owned<T>>,
}

/// A value and the generation of the process it belongs to.
pub struct Owned<T> {
    generation: u64,
    value: T,
}

impl<T> Owned<T> {
    /// Whether it belongs to this process: false in a child of `fork()`.
    pub fn is_current(&self) -> bool {
        self.generation == generation()
    }
}

impl<T> Deref for Owned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> PerProcess<T> {
    pub fn new(value: T) -> Self {
        let generation = generation();
        PerProcess {
            current: ArcSwap::from_pointee(Owned { generation, value }),
        }
    }

    /// The value of this process, made with `make` if it has none yet.
    pub fn get(&self, make: impl FnOnce() -> T) -> Arc<Owned<T>> {
        let generation = generation();
        let current = self.current.load_full();
        if current.generation == generation {
            return current;
        }
        let made = Arc::new(Owned {
            generation,
            value: make(),
        });
        let previous = self.current.compare_and_swap(&current, Arc::clone(&made));
        if Arc::ptr_eq(&previous, &current) {
            std::mem::forget(current);
            made
        } else {
            // Another thread of this process made one first: use that one.
            arc_swap::Guard::into_inner(previous)
        }
    }
}

thread_local! {
    static INSIDE_THE_LIBRARY: Cell<u32> = const { Cell::new(0) };
}

/// While one lives on a thread, a panic on that thread prints nothing: the
/// panic boundary turns it into an error whose message carries its text.
/// Elsewhere panics are reported as the program's own hook says.
pub struct QuietPanics(());

impl QuietPanics {
    pub fn enter() -> QuietPanics {
        install_hook();
        INSIDE_THE_LIBRARY.with(|depth| depth.set(depth.get() + 1));
        QuietPanics(())
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        INSIDE_THE_LIBRARY.with(|depth| depth.set(depth.get() - 1));
    }
}

fn install_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    first_time(&INSTALLED, || {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if INSIDE_THE_LIBRARY.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `once` the first time `done` is seen false, and never waits for it
/// elsewhere: a `Once` would hang forever a child forked while another
/// thread of its parent runs it. (A thread that comes meanwhile goes on
/// before `once` has ended.)
///
/// Every call into the library passes here: once done, it is a plain load,
/// never a write that threads on other cores would fight over.
pub(crate) fn first_time(done: &AtomicBool, once: impl FnOnce()) {
    if !done.load(Ordering::Acquire) && !done.swap(true, Ordering::AcqRel) {
        once();
    }
}
