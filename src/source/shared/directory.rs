//! A store in a directory: one lock file and one record file per lineage,
//! in a directory that only its user can reach.
//!
//! The directory is opened once, without following a symbolic link, and
//! checked as tmux and ssh-agent check theirs: owned by this user, no
//! access for group or others. Every file is then reached through that
//! open directory (`openat`), never by a path that could be swapped, and
//! opened without following a link.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, Mode, OFlags, fchmod, fstat, fsync, lstat, mkdir, open, openat, renameat, unlinkat,
};
use rustix::io::Errno;
use rustix::process::geteuid;

use super::lock::{self, Held, LockFailure, LockKind};
use crate::descriptors::{Unreadable, above_stdio, read_open_file};
use crate::error::{Error, ErrorKind};

/// The most a record file may hold: a token and a refresh token of the
/// largest answer the client accepts, with room to spare.
const MAX_RECORD_BYTES: u64 = 4 << 20;

pub(super) struct Directory {
    directory: OwnedFd,
    path: PathBuf,
}

/// The files of one lineage, named by its key.
pub(super) struct Files {
    lock: String,
    record: String,
    temporary: String,
}

/// A lock taken on a lineage's lock file.
/// Its entry in the table of held locks goes before the descriptor is
/// closed (fields drop in order), so that a child never closes a number
/// the descriptor's successor may have taken.
pub(super) struct Locked {
    _entered: Held,
    file: OwnedFd,
}

impl Files {
    pub(super) fn named(key: &str) -> Files {
        Files {
            lock: format!("{key}.lock"),
            record: format!("{key}.json"),
            temporary: format!("{key}.tmp"),
        }
    }
}

/// `$XDG_RUNTIME_DIR/criteo-oauth` when that variable names an existing
/// directory by an absolute path, else `/tmp/criteo-oauth-<uid>`.
pub(super) fn default_path() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() && runtime.is_dir() => runtime.join("criteo-oauth"),
        _ => PathBuf::from(format!("/tmp/criteo-oauth-{}", geteuid().as_raw())),
    }
}

impl Directory {
    /// Opens (creating it 0700 when it does not exist) and checks the
    /// directory at `path`.
    pub(super) fn open(path: &Path) -> Result<Directory, Error> {
        let refused = |why: String| {
            Error::invalid_argument(format!("the store directory {} {why}", path.display()))
        };
        let created = match mkdir(path, Mode::RWXU) {
            Ok(()) => true,
            Err(Errno::EXIST) => false,
            Err(error) => return Err(refused(format!("cannot be created: {error}"))),
        };
        // Opening without following refuses a link (as ENOTDIR); asked
        // first only to say so.
        if lstat(path).is_ok_and(|status| status.st_mode & libc::S_IFMT == libc::S_IFLNK) {
            return Err(refused("is a symbolic link".into()));
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let directory = match open(path, flags, Mode::empty()) {
            Ok(directory) => directory,
            Err(Errno::LOOP) => return Err(refused("is a symbolic link".into())),
            Err(Errno::NOTDIR) => return Err(refused("is not a directory".into())),
            Err(error) => return Err(refused(format!("cannot be opened: {error}"))),
        };
        let directory =
            above_stdio(directory).map_err(|e| refused(format!("cannot be opened: {e}")))?;
        if created {
            // The umask may have taken away the owner's own rights.
            fchmod(&directory, Mode::RWXU)
                .map_err(|e| refused(format!("cannot be set to 0700: {e}")))?;
        }
        let status = fstat(&directory).map_err(|e| refused(format!("cannot be read: {e}")))?;
        let me = geteuid().as_raw();
        if status.st_uid != me {
            return Err(refused(format!(
                "belongs to uid {}, not to this user (uid {me})",
                status.st_uid
            )));
        }
        let mode = status.st_mode & 0o777;
        if mode & 0o077 != 0 {
            return Err(refused(format!(
                "is open to group or others (mode {mode:04o}): it must be 0700"
            )));
        }
        Ok(Directory {
            directory,
            path: path.to_owned(),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lineage's lock, on a descriptor of its own.
    pub(super) fn lock(
        &self,
        files: &Files,
        deadline: std::time::Instant,
    ) -> Result<Locked, LockFailure> {
        let file = self.open_lock(files).map_err(LockFailure::Unusable)?;
        let entered = Held::enter(&file);
        lock::lock_by(&file, LockKind::OpenFile, deadline)?;
        Ok(Locked {
            file,
            _entered: entered,
        })
    }

    /// Takes the lineage's lock if no one holds it.
    pub(super) fn try_lock(&self, files: &Files) -> io::Result<Option<Locked>> {
        let file = self.open_lock(files)?;
        let entered = Held::enter(&file);
        Ok(
            lock::try_lock(&file, LockKind::OpenFile)?.then_some(Locked {
                file,
                _entered: entered,
            }),
        )
    }

    fn open_lock(&self, files: &Files) -> io::Result<OwnedFd> {
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let file = above_stdio(openat(
            &self.directory,
            &files.lock,
            flags,
            Mode::RUSR | Mode::WUSR,
        )?)?;
        let status = fstat(&file)?;
        if status.st_mode & libc::S_IFMT != libc::S_IFREG || status.st_uid != geteuid().as_raw() {
            return Err(io::Error::other(format!(
                "{} is not a regular file of this user",
                files.lock
            )));
        }
        Ok(file)
    }

    /// The record's bytes; `None` when there is none, or none that could
    /// be a record (a link, a device, another user's file, too large).
    pub(super) fn read(&self, files: &Files) -> Result<Option<Vec<u8>>, Error> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let file = match openat(&self.directory, &files.record, flags, Mode::empty()) {
            Ok(file) => file,
            Err(Errno::NOENT | Errno::LOOP) => return Ok(None),
            Err(error) => return Err(self.failed("read", &files.record, error.into())),
        };
        let file =
            File::from(above_stdio(file).map_err(|e| self.failed("read", &files.record, e))?);
        let owner = fstat(&file).map(|status| status.st_uid);
        if owner != Ok(geteuid().as_raw()) {
            return Ok(None);
        }
        match read_open_file(file, MAX_RECORD_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Unreadable::Io(error)) => Err(self.failed("read", &files.record, error)),
            Err(Unreadable::NotRegular | Unreadable::TooLarge(_)) => Ok(None),
        }
    }

    /// Replaces the record with `bytes`, durably: a temporary file,
    /// written and synced, then renamed over the record, then the
    /// directory synced. Called with the lineage's lock held.
    pub(super) fn write(&self, files: &Files, bytes: &[u8]) -> Result<(), Error> {
        self.replace(files, bytes)
            .map_err(|error| self.failed("write", &files.record, error))
    }

    fn replace(&self, files: &Files, bytes: &[u8]) -> io::Result<()> {
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::TRUNC
            | OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | OFlags::NONBLOCK;
        let mode = Mode::RUSR | Mode::WUSR;
        let temporary = match openat(&self.directory, &files.temporary, flags, mode) {
            // Something that is not ours took the name: put it away.
            Err(Errno::LOOP | Errno::ISDIR | Errno::ACCESS) => {
                let _ = unlinkat(&self.directory, &files.temporary, AtFlags::empty());
                openat(&self.directory, &files.temporary, flags, mode)?
            }
            opened => opened?,
        };
        let mut temporary = File::from(above_stdio(temporary)?);
        if !temporary.metadata()?.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                files.temporary
            )));
        }
        temporary.write_all(bytes)?;
        fsync(&temporary)?;
        drop(temporary);
        renameat(
            &self.directory,
            &files.temporary,
            &self.directory,
            &files.record,
        )?;
        fsync(&self.directory)?;
        Ok(())
    }

    fn failed(&self, what: &str, name: &str, error: io::Error) -> Error {
        Error::new(
            ErrorKind::Store,
            format!(
                "cannot {what} the token store {}: {error}",
                self.path.join(name).display()
            ),
        )
    }
}

/// Unlocked explicitly, not by closing: a child of `fork()` may share the
/// open file (until its handler closes its copy).
impl Drop for Locked {
    fn drop(&mut self) {
        lock::unlock(&self.file, LockKind::OpenFile);
    }
}
