//! The lock that the processes of one host take for a whole fetch, waited
//! for within a deadline (and the waiting, which the Redis store's lock
//! shares).
//!
//! It is a POSIX record lock (`fcntl(F_SETLK)`) on a whole file or on a
//! part of one (a [`Span`]), which belongs to a process: a child of `fork()` never inherits it, the kernel drops it
//! when its process dies (even by `SIGKILL`), and no descriptor a child
//! inherited can keep it alive. Two rules come with it, which this module
//! keeps. A process does not exclude itself, so its threads first take
//! the file's turn in the process ([`Turn`]), named by the file's
//! identity, not by a path that may be spelled several ways. And closing
//! any descriptor of the file drops the process's lock, so the file is
//! opened only with its turn held: while a thread holds the turn it alone
//! has the file open.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{PerProcess, made_once};

/// Why no lock was taken.
pub(super) enum LockFailure {
    /// Another holder kept it until the deadline.
    TimedOut,
    /// The lock itself failed (the file cannot be opened, say).
    Unusable(io::Error),
}

/// The first and the longest pause between two tries for a lock.
#[derive(Clone, Copy)]
pub(super) struct Pauses {
    pub(super) first: Duration,
    pub(super) longest: Duration,
}

/// For a lock of this host: a try costs a system call.
const LOCAL_PAUSES: Pauses = Pauses {
    first: Duration::from_millis(1),
    longest: Duration::from_millis(16),
};

/// A file's turn in this process, held while it lives.
pub(super) struct Turn(Arc<AtomicBool>);

impl Turn {
    /// The turn that `flag` marks, waited for until `deadline`.
    pub(super) fn wait(flag: Arc<AtomicBool>, deadline: Instant) -> Result<Turn, LockFailure> {
        poll_until(deadline, LOCAL_PAUSES, || {
            Ok(!flag.swap(true, Ordering::AcqRel))
        })?;
        Ok(Turn(flag))
    }

    /// The turn that `flag` marks, if no thread of this process has it.
    pub(super) fn take(flag: Arc<AtomicBool>) -> Option<Turn> {
        // Made only when taken: a Turn that is dropped gives the turn up.
        (!flag.swap(true, Ordering::AcqRel)).then(|| Turn(flag))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The flag of the turn of the named file `key`, one per file in this
/// process (a store's files, by path). Per process: a child of `fork()`
/// starts with none taken.
pub(super) fn flag_of(key: &str) -> Arc<AtomicBool> {
    let flags = flags();
    let mut flags = flags.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(flags.entry(key.to_owned()).or_default())
}

/// Forgets the flag of `key` (a file that was removed) unless a thread
/// of this process still has it.
pub(super) fn forget_flag(key: &str) {
    let flags = flags();
    let mut flags = flags.lock().unwrap_or_else(PoisonError::into_inner);
    if flags
        .get(key)
        .is_some_and(|flag| Arc::strong_count(flag) == 1)
    {
        flags.remove(key);
    }
}

type Flags = Mutex<HashMap<String, Arc<AtomicBool>>>;

fn flags() -> Arc<crate::process::Owned<Flags>> {
    static FLAGS: OnceLock<PerProcess<Flags>> = OnceLock::new();
    made_once(&FLAGS, || PerProcess::new(Flags::default())).get(Flags::default)
}

/// The bytes of a file that a lock covers.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) start: u64,
    /// 0: to the end of the file, however far it grows.
    pub(super) len: u64,
}

pub(super) const WHOLE_FILE: Span = Span { start: 0, len: 0 };

/// Takes the lock on `span` of `file`, trying until `deadline`.
pub(super) fn lock(file: &impl AsFd, span: Span, deadline: Instant) -> Result<(), LockFailure> {
    poll_until(deadline, LOCAL_PAUSES, || try_lock(file, span))
}

/// Calls `attempt` until it succeeds or `deadline` passes, pausing longer
/// and longer between tries.
pub(super) fn poll_until(
    deadline: Instant,
    pauses: Pauses,
    mut attempt: impl FnMut() -> io::Result<bool>,
) -> Result<(), LockFailure> {
    let mut pause = pauses.first;
    loop {
        if attempt().map_err(LockFailure::Unusable)? {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LockFailure::TimedOut);
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(pauses.longest);
    }
}

/// Takes the lock on `span` if no other process holds any of it; `false`
/// when one does.
pub(super) fn try_lock(file: &impl AsFd, span: Span) -> io::Result<bool> {
    match set_record_lock(file, span, libc::F_WRLCK) {
        Ok(()) => Ok(true),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

pub(super) fn unlock(file: &impl AsFd, span: Span) {
    // Fails only for a descriptor that is not open, which holds no lock.
    let _ = set_record_lock(file, span, libc::F_UNLCK);
}

/// `fcntl(F_SETLK)`, never waiting: `kind` is `F_WRLCK` or `F_UNLCK`.
fn set_record_lock(file: &impl AsFd, span: Span, kind: i32) -> io::Result<()> {
    let start = libc::off_t::try_from(span.start);
    let len = libc::off_t::try_from(span.len);
    let (Ok(start), Ok(len)) = (start, len) else {
        return Err(io::Error::from_raw_os_error(libc::EOVERFLOW));
    };
    // SAFETY: `flock` is plain data, for which zeros are valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = start;
    lock.l_len = len;
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and
    // `lock` is a valid `flock` that F_SETLK only reads.
    let done = unsafe { libc::fcntl(file.as_fd().as_raw_fd(), libc::F_SETLK, &lock) };
    match done {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}
