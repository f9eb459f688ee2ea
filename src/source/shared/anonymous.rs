//! The store a source shares with the children it will have: a slot of a
//! file with no name (`memfd_create`). A process makes one such file for
//! all the sources it makes, so that their number costs no descriptors;
//! every child of `fork()` inherits it, and `exec` closes it.
//!
//! Parent and children exclude each other with a lock on the slot's bytes
//! (see [`lock`]); nothing else in a process opens this file, so no other
//! descriptor can drop the lock. A record is read and written in place
//! (`pread`, `pwrite`), never through the offset that processes share.
//!
//! Until a `fork()` comes after a source was made, no other process can
//! read its slot: its record is not written then, and the slot holds no
//! memory (a write is kept back while the lock is held, and made when
//! the lock is released if a `fork()` came meanwhile, see [`Held::shared`]).
//! A source's slot is reused once the source is gone, unless a `fork()`
//! came since the slot was taken: a child may still use it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Instant;

use rustix::fs::{FallocateFlags, MemfdFlags, fallocate, memfd_create};

use super::lock::{self, LockFailure, Span, Turn};
use super::{Backend, Held, Written};
use crate::descriptors::{Identified, above_stdio};
use crate::error::{Error, ErrorKind};
use crate::process::{self, Owned, PerProcess, made_once};

/// The bytes of one slot: a record's length (4 bytes, little-endian; 0
/// for none), then the record.
const SLOT_BYTES: u64 = 64 * 1024;
const LENGTH_BYTES: usize = 4;
/// The largest record a slot holds.
const MAX_SLOT_RECORD: usize = SLOT_BYTES as usize - LENGTH_BYTES;

pub(super) struct Anonymous {
    slot: Slot,
    /// Its turn in each process (no other part of a process locks it).
    turn: PerProcess<Arc<AtomicBool>>,
}

/// The slots of the sources one process made.
struct SlotFile {
    /// Used and closed only while its number still names it: a host
    /// program that closes descriptors it does not know may give the
    /// number to one of its own files.
    file: Identified<File>,
    /// The process that made it, which alone gives its slots out.
    generation: u64,
    free: Mutex<FreeSlots>,
}

#[derive(Default)]
struct FreeSlots {
    /// The first slot never given out.
    next: u64,
    /// Slots given back, emptied.
    returned: Vec<u64>,
}

/// One source's slot, given back when dropped.
struct Slot {
    file: Arc<SlotFile>,
    index: u64,
    /// [`process::forks_begun`] when the slot was taken.
    forks_at_start: Option<u64>,
}

struct Locked<'a> {
    slot: &'a Slot,
    file: &'a File,
    _turn: Turn,
}

impl Anonymous {
    /// `None` when the system cannot make the file (then the source is
    /// shared by the threads of each process only).
    pub(super) fn new() -> Option<Anonymous> {
        Some(Anonymous {
            slot: Slot::take()?,
            turn: PerProcess::new(Arc::default()),
        })
    }

    fn turn_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.turn.get(Arc::default))
    }

    fn locked(&self, turn: Turn) -> io::Result<Locked<'_>> {
        let file = self.slot.file.file.ours()?;
        Ok(Locked {
            slot: &self.slot,
            file,
            _turn: turn,
        })
    }
}

impl Backend for Anonymous {
    fn describe(&self) -> String {
        "the store shared with forked processes".into()
    }

    fn lock(&self, deadline: Instant) -> Result<Box<dyn Held + '_>, LockFailure> {
        let turn = Turn::wait(self.turn_flag(), deadline)?;
        let locked = self.locked(turn).map_err(LockFailure::Unusable)?;
        lock::lock(locked.file, self.slot.span(), deadline)?;
        Ok(Box::new(locked))
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn Held + '_>>> {
        let Some(turn) = Turn::take(self.turn_flag()) else {
            return Ok(None);
        };
        let locked = self.locked(turn)?;
        let taken = lock::try_lock(locked.file, self.slot.span())?;
        Ok(taken.then(|| Box::new(locked) as Box<dyn Held>))
    }
}

impl Held for Locked<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if !self.shared() {
            return Ok(None);
        }
        let start = self.slot.span().start;
        let mut length = [0; LENGTH_BYTES];
        self.file
            .read_exact_at(&mut length, start)
            .map_err(failed)?;
        let length = u32::from_le_bytes(length) as usize;
        if length == 0 || length > MAX_SLOT_RECORD {
            return Ok(None);
        }
        let mut bytes = vec![0; length];
        let at = start + LENGTH_BYTES as u64;
        self.file.read_exact_at(&mut bytes, at).map_err(failed)?;
        Ok(Some(bytes))
    }

    /// The lock, held by one process alone, keeps the record from moving
    /// on meanwhile.
    fn write(&mut self, bytes: &[u8]) -> Result<Written, Error> {
        let length = u32::try_from(bytes.len())
            .ok()
            .filter(|_| bytes.len() <= MAX_SLOT_RECORD)
            .ok_or_else(|| {
                failed(io::Error::other(format!(
                    "the token is too large to share ({} bytes; at most {MAX_SLOT_RECORD})",
                    bytes.len()
                )))
            })?;
        let mut slot = Vec::with_capacity(LENGTH_BYTES + bytes.len());
        slot.extend_from_slice(&length.to_le_bytes());
        slot.extend_from_slice(bytes);
        let start = self.slot.span().start;
        self.file.write_all_at(&slot, start).map_err(failed)?;
        Ok(Written::Done)
    }

    fn shared(&self) -> bool {
        self.slot.forked_since_taken()
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        lock::unlock(self.file, self.slot.span());
    }
}

impl Slot {
    /// A free slot of this process's file (made on first use).
    fn take() -> Option<Slot> {
        let file = SlotFile::of_this_process()?;
        let index = {
            let mut free = file.free.lock().unwrap_or_else(PoisonError::into_inner);
            free.returned.pop().unwrap_or_else(|| {
                free.next += 1;
                free.next - 1
            })
        };
        Some(Slot {
            file,
            index,
            forks_at_start: process::forks_begun(),
        })
    }

    fn span(&self) -> Span {
        Span {
            start: self.index * SLOT_BYTES,
            len: SLOT_BYTES,
        }
    }

    /// Whether another process may have the slot: a `fork()` began since
    /// it was taken (or the library cannot tell).
    fn forked_since_taken(&self) -> bool {
        self.forks_at_start.is_none() || process::forks_begun() != self.forks_at_start
    }
}

impl Drop for Slot {
    /// Gives the slot back, emptied, when no other process can have it.
    fn drop(&mut self) {
        if self.file.generation != process::generation() || self.forked_since_taken() {
            return;
        }
        let Ok(file) = self.file.file.ours() else {
            return;
        };
        let span = self.span();
        let emptied = fallocate(
            file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            span.start,
            span.len,
        );
        if emptied.is_ok() {
            let mut free = self
                .file
                .free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            free.returned.push(self.index);
        }
    }
}

/// Where a process keeps its file while sources use it.
type Current = Mutex<Weak<SlotFile>>;

fn current() -> Arc<Owned<Current>> {
    static CURRENT: OnceLock<PerProcess<Current>> = OnceLock::new();
    made_once(&CURRENT, || PerProcess::new(Current::default())).get(Current::default)
}

impl SlotFile {
    /// This process's file, made when it has none (its sources all gone,
    /// the last one closed it).
    fn of_this_process() -> Option<Arc<SlotFile>> {
        let current = current();
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = current.upgrade() {
            return Some(file);
        }
        let made = Arc::new(SlotFile::new()?);
        *current = Arc::downgrade(&made);
        Some(made)
    }

    fn new() -> Option<SlotFile> {
        let file = memfd_create("criteo-oauth tokens", MemfdFlags::CLOEXEC).ok()?;
        let file = File::from(above_stdio(file).ok()?);
        Some(SlotFile {
            file: Identified::new(file).ok()?,
            generation: process::generation(),
            free: Mutex::default(),
        })
    }
}

impl Drop for SlotFile {
    /// Forgets the file as this process's, so that nothing of it is left.
    fn drop(&mut self) {
        if self.generation != process::generation() {
            return;
        }
        let current = current();
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        if std::ptr::eq(current.as_ptr(), self) {
            *current = Weak::new();
        }
    }
}

fn failed(error: io::Error) -> Error {
    Error::new(
        ErrorKind::Store,
        format!("cannot use the token store shared with forked processes: {error}"),
    )
}
