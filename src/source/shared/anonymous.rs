//! The store a source shares with the children it will have: a file with
//! no name (`memfd_create`), made with the source, inherited by every
//! child of `fork()` and closed on `exec`.
//!
//! Parent and children exclude each other with its lock (see [`lock`]);
//! nothing else in a process opens this file, so no other descriptor can
//! drop the lock. The record is read and written in place (`pread`,
//! `pwrite`), never through the offset that parent and children share.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};

use super::lock::{self, LockFailure, Turn};
use super::record::MAX_RECORD_BYTES;
use super::{Backend, Held, Written};
use crate::descriptors::{Identified, above_stdio};
use crate::error::{Error, ErrorKind};
use crate::process::PerProcess;

pub(super) struct Anonymous {
    /// Its turn in each process (no other part of a process locks it).
    turn: PerProcess<Arc<AtomicBool>>,
    /// Used and closed only while its number still names it: a host
    /// program that closes descriptors it does not know may give the
    /// number to one of its own files.
    file: Identified<File>,
}

struct Locked<'a> {
    file: &'a File,
    _turn: Turn,
}

impl Anonymous {
    /// `None` when the system cannot make one (then the source is shared
    /// by the threads of each process only).
    pub(super) fn new() -> Option<Anonymous> {
        let file = memfd_create("criteo-oauth token", MemfdFlags::CLOEXEC).ok()?;
        let file = File::from(above_stdio(file).ok()?);
        Some(Anonymous {
            turn: PerProcess::new(Arc::default()),
            file: Identified::new(file).ok()?,
        })
    }

    fn turn_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.turn.get(Arc::default))
    }
}

impl Backend for Anonymous {
    fn describe(&self) -> String {
        "the store shared with forked processes".into()
    }

    fn lock(&self, deadline: Instant) -> Result<Box<dyn Held + '_>, LockFailure> {
        let turn = Turn::wait(self.turn_flag(), deadline)?;
        let file = self.file.ours().map_err(LockFailure::Unusable)?;
        lock::lock(file, deadline)?;
        Ok(Box::new(Locked { file, _turn: turn }))
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn Held + '_>>> {
        let Some(turn) = Turn::take(self.turn_flag()) else {
            return Ok(None);
        };
        let file = self.file.ours()?;
        let locked = lock::try_lock(file)?;
        Ok(locked.then(|| Box::new(Locked { file, _turn: turn }) as Box<dyn Held>))
    }
}

impl Held for Locked<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let size = self.file.metadata().map_err(failed)?.len();
        if size == 0 || size > MAX_RECORD_BYTES {
            return Ok(None);
        }
        let mut bytes = vec![0; size as usize];
        self.file.read_exact_at(&mut bytes, 0).map_err(failed)?;
        Ok(Some(bytes))
    }

    /// The lock, held by one process alone, keeps the record from moving
    /// on meanwhile.
    fn write(&mut self, bytes: &[u8]) -> Result<Written, Error> {
        self.file.write_all_at(bytes, 0).map_err(failed)?;
        ftruncate(self.file, bytes.len() as u64).map_err(|e| failed(e.into()))?;
        Ok(Written::Done)
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        lock::unlock(self.file);
    }
}

fn failed(error: io::Error) -> Error {
    Error::new(
        ErrorKind::Store,
        format!("cannot use the token store shared with forked processes: {error}"),
    )
}
