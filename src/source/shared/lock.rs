//! The lock that processes take for a whole fetch, waited for within a
//! deadline, and what a child of `fork()` does with one it inherited.
//!
//! Two kinds serve two files. A named store file is locked with `flock`
//! on a descriptor opened for that one lock: other descriptors of the file
//! (another source of the same process, the host's own) cannot drop it.
//! The anonymous file that a source shares with its children is locked
//! with a POSIX record lock, which belongs to a process: a child never
//! inherits it, and the kernel drops it when its process dies.
//!
//! A `flock` lock belongs to the open file, which a child shares: were the
//! parent killed while the child kept its copy, the lock would be held
//! forever. So the child closes its copies of the descriptors that held a
//! lock at the fork ([`close_inherited`]); the lock stays the parent's.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, fcntl_lock, flock};

#[derive(Clone, Copy)]
pub(super) enum LockKind {
    /// `flock`, on a descriptor of the lock's own.
    OpenFile,
    /// `fcntl(F_SETLK)`, on a descriptor the process keeps.
    Process,
}

/// Why no lock was taken.
pub(super) enum LockFailure {
    /// Another process held it until the deadline.
    TimedOut,
    /// The lock itself failed (the file cannot be opened, say).
    Unusable(io::Error),
}

/// The first and the longest pause between two tries for a lock.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(16);

/// Takes the lock on `file`, trying until `deadline`.
pub(super) fn lock_by(
    file: &impl AsFd,
    kind: LockKind,
    deadline: Instant,
) -> Result<(), LockFailure> {
    poll_until(deadline, || try_lock(file, kind))
}

/// Calls `attempt` until it succeeds or `deadline` passes, pausing longer
/// and longer between tries.
pub(super) fn poll_until(
    deadline: Instant,
    mut attempt: impl FnMut() -> io::Result<bool>,
) -> Result<(), LockFailure> {
    let mut pause = FIRST_PAUSE;
    loop {
        if attempt().map_err(LockFailure::Unusable)? {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LockFailure::TimedOut);
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Takes the lock if no other holds it; `false` when one does.
pub(super) fn try_lock(file: &impl AsFd, kind: LockKind) -> io::Result<bool> {
    let taken = match kind {
        LockKind::OpenFile => flock(file, FlockOperation::NonBlockingLockExclusive),
        LockKind::Process => fcntl_lock(file, FlockOperation::NonBlockingLockExclusive),
    };
    match taken {
        Ok(()) => Ok(true),
        Err(error)
            if error == rustix::io::Errno::WOULDBLOCK || error == rustix::io::Errno::ACCESS =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

pub(super) fn unlock(file: &impl AsFd, kind: LockKind) {
    // Fails only for a descriptor that is not open, which holds no lock.
    let _ = match kind {
        LockKind::OpenFile => flock(file, FlockOperation::Unlock),
        LockKind::Process => fcntl_lock(file, FlockOperation::NonBlockingUnlock),
    };
}

/// The descriptors that hold a `flock` lock now, so that a child of
/// `fork()` can close its copies. A fixed table of atomics: the child's
/// handler may neither lock nor allocate.
static HELD: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];

/// A descriptor entered in [`HELD`] while it lives.
pub(super) struct Held {
    slot: Option<usize>,
}

impl Held {
    /// Enters `file` (in the rare case of 64 locks held at once, the 65th
    /// is not entered and a child keeps its copy: as with any `flock`).
    pub(super) fn enter(file: &OwnedFd) -> Held {
        let fd = file.as_raw_fd();
        let slot = HELD.iter().position(|slot| {
            slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        Held { slot }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            HELD[slot].store(-1, Ordering::Release);
        }
    }
}

/// In a child right after `fork()`: closes the copies of the descriptors
/// that held a lock, which the child never uses (the threads that would
/// unlock them are the parent's). Async-signal-safe.
pub(crate) fn close_inherited() {
    for slot in &HELD {
        let fd: RawFd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: `fd` is the child's copy of a descriptor that only the
            // parent's lock holder owned; nothing in the child uses it.
            unsafe { libc::close(fd) };
        }
    }
}
