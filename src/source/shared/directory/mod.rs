//! A store in a directory: one lock file and one record file per lineage,
//! in a directory that only its user can reach; the files of lineages
//! that no longer serve are removed by a later lock ([`sweep`]).
//!
//! The directory is checked as tmux and ssh-agent check theirs (owned by
//! this user, no access for group or others, not a symbolic link) each
//! time it is used: it is opened by its path for each lock, so that a
//! directory removed and made again, or a host program that closed the
//! library's descriptors, never leads a write astray. Its files are then
//! reached through that open directory (`openat`), never by a path that
//! could be swapped, and opened without following a link.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{
    AtFlags, Mode, OFlags, Timespec, Timestamps, UTIME_NOW, chmod, fchmod, fstat, fsync, ftruncate,
    futimens, lstat, mkdir, open, openat, renameat, statat, unlinkat,
};
use rustix::io::Errno;
use rustix::process::geteuid;

use super::lock::{self, LockFailure, Turn, WHOLE_FILE};
use super::record::MAX_RECORD_BYTES;
use super::{Backend, Held, Written};
use crate::descriptors::{Unreadable, above_stdio, read_open_file};
use crate::error::{Error, ErrorKind};

mod sweep;

/// "Now" for both of a file's times.
const NOW: Timestamps = Timestamps {
    last_access: Timespec {
        tv_sec: 0,
        tv_nsec: UTIME_NOW,
    },
    last_modification: Timespec {
        tv_sec: 0,
        tv_nsec: UTIME_NOW,
    },
};

/// One lineage's place in a store directory: the directory's absolute
/// path, checked again at each use, and the lineage's files in it.
pub(super) struct Directory {
    path: PathBuf,
    files: Files,
}

/// The files of one lineage, named by its key.
struct Files {
    lock: String,
    record: String,
    temporary: String,
}

/// A lineage's lock, held: the directory as opened for it, and the lock
/// file. Fields drop in order: the lock file is unlocked and closed before
/// the process's turn is given up.
pub(super) struct Locked<'a> {
    store: &'a Directory,
    directory: OwnedFd,
    lock_file: OwnedFd,
    _turn: Turn,
}

impl Files {
    fn named(key: &str) -> Files {
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
    /// The files of the lineage `name` in the directory at `path`, made
    /// (mode 0700) when it does not exist, and checked.
    pub(super) fn new(path: &Path, name: &str) -> Result<Directory, Error> {
        let refused = |why: String| {
            Error::invalid_argument(format!("the store directory {} {why}", path.display()))
        };
        let path =
            std::path::absolute(path).map_err(|e| refused(format!("has no absolute path: {e}")))?;
        let directory = Directory {
            path,
            files: Files::named(name),
        };
        directory.open().map_err(refused)?;
        Ok(directory)
    }

    /// Opens the directory, making it first when it does not exist, and
    /// checks it.
    fn open(&self) -> Result<OwnedFd, String> {
        match mkdir(&self.path, Mode::RWXU) {
            // The umask may have taken away the owner's own rights; the
            // directory is checked once opened, whatever this did.
            Ok(()) => {
                let _ = chmod(&self.path, Mode::RWXU);
            }
            Err(Errno::EXIST) => {}
            Err(error) => return Err(format!("cannot be created: {error}")),
        }
        // Opening without following refuses a link (as ENOTDIR); asked
        // first only to say so.
        if lstat(&self.path).is_ok_and(|status| status.st_mode & libc::S_IFMT == libc::S_IFLNK) {
            return Err("is a symbolic link".into());
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let directory = match open(&self.path, flags, Mode::empty()) {
            Ok(directory) => {
                above_stdio(directory).map_err(|e| format!("cannot be opened: {e}"))?
            }
            Err(Errno::LOOP) => return Err("is a symbolic link".into()),
            Err(Errno::NOTDIR) => return Err("is not a directory".into()),
            Err(error) => return Err(format!("cannot be opened: {error}")),
        };
        let status = fstat(&directory).map_err(|e| format!("cannot be read: {e}"))?;
        let me = geteuid().as_raw();
        if status.st_uid != me {
            return Err(format!(
                "belongs to uid {}, not to this user (uid {me})",
                status.st_uid
            ));
        }
        let mode = status.st_mode & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "is open to group or others (mode {mode:04o}): it must be 0700"
            ));
        }
        Ok(directory)
    }
}

impl Backend for Directory {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// A directory of the first release's holds plain records, which may
    /// hold the only live refresh token: an upgrade keeps it.
    fn takes_plain_records(&self) -> bool {
        true
    }

    fn lock(&self, deadline: Instant) -> Result<Box<dyn Held + '_>, LockFailure> {
        let unusable = LockFailure::Unusable;
        let files = &self.files;
        loop {
            let directory = self.open().map_err(|why| unusable(io::Error::other(why)))?;
            let turn = Turn::wait(turn_flag(&directory, files).map_err(unusable)?, deadline)?;
            let lock_file = open_lock_file(&directory, files).map_err(unusable)?;
            lock::lock(&lock_file, WHOLE_FILE, deadline)?;
            if self.still_named(&directory, files, &lock_file) {
                // Used now: a cleaner of old files leaves it alone.
                let _ = futimens(&lock_file, &NOW);
                sweep::start_if_due(&directory);
                return Ok(Box::new(Locked {
                    store: self,
                    directory,
                    lock_file,
                    _turn: turn,
                }));
            }
        }
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn Held + '_>>> {
        let files = &self.files;
        let directory = self.open().map_err(io::Error::other)?;
        let Some(turn) = Turn::take(turn_flag(&directory, files)?) else {
            return Ok(None);
        };
        let lock_file = open_lock_file(&directory, files)?;
        let locked = lock::try_lock(&lock_file, WHOLE_FILE)?
            && self.still_named(&directory, files, &lock_file);
        Ok(locked.then(|| {
            Box::new(Locked {
                store: self,
                directory,
                lock_file,
                _turn: turn,
            }) as Box<dyn Held>
        }))
    }
}

impl Directory {
    /// Whether the lock file's name still leads to the file locked: one
    /// removed meanwhile (by a cleaner of old files, say) locks nothing.
    fn still_named(&self, directory: &OwnedFd, files: &Files, lock_file: &OwnedFd) -> bool {
        let named = statat(directory, &files.lock, AtFlags::SYMLINK_NOFOLLOW);
        let locked = fstat(lock_file);
        match (named, locked) {
            (Ok(named), Ok(locked)) => {
                (named.st_dev, named.st_ino) == (locked.st_dev, locked.st_ino)
            }
            _ => false,
        }
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

/// The turn of a lineage's lock file in this process, named by the
/// directory's identity: every spelling of its path (a link, `..`, a
/// trailing `/`) shares it.
fn turn_flag(directory: &OwnedFd, files: &Files) -> io::Result<Arc<AtomicBool>> {
    Ok(lock::flag_of(&turn_key(directory, files)?))
}

fn turn_key(directory: &OwnedFd, files: &Files) -> io::Result<String> {
    let status = fstat(directory)?;
    Ok(format!(
        "{}:{}/{}",
        status.st_dev, status.st_ino, files.lock
    ))
}

/// The lineage's lock file in `directory` (mode 0600, whatever the umask
/// of the process that made it). Opened only with the file's turn held.
fn open_lock_file(directory: &OwnedFd, files: &Files) -> io::Result<OwnedFd> {
    let flags =
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let file = openat(directory, &files.lock, flags, Mode::RUSR | Mode::WUSR)?;
    let file = above_stdio(file)?;
    let status = fstat(&file)?;
    if status.st_mode & libc::S_IFMT != libc::S_IFREG || status.st_uid != geteuid().as_raw() {
        return Err(io::Error::other(format!(
            "{} is not a regular file of this user",
            files.lock
        )));
    }
    if status.st_mode & 0o777 != 0o600 {
        fchmod(&file, Mode::RUSR | Mode::WUSR)?;
    }
    Ok(file)
}

impl Held for Locked<'_> {
    /// The record's bytes; `None` when there is none, or none that could
    /// be a record (a link, a device, another user's file, too large).
    fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let (store, files) = (self.store, &self.store.files);
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let failed = |error| store.failed("read", &files.record, error);
        let file = match openat(&self.directory, &files.record, flags, Mode::empty()) {
            Ok(file) => file,
            Err(Errno::NOENT | Errno::LOOP) => return Ok(None),
            Err(error) => return Err(failed(error.into())),
        };
        let file = File::from(above_stdio(file).map_err(failed)?);
        let owner = fstat(&file).map(|status| status.st_uid);
        if owner != Ok(geteuid().as_raw()) {
            return Ok(None);
        }
        match read_open_file(file, MAX_RECORD_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Unreadable::Io(error)) => Err(failed(error)),
            Err(Unreadable::NotRegular | Unreadable::TooLarge(_)) => Ok(None),
        }
    }

    /// Replaces the record with `bytes`, durably: a temporary file,
    /// written and synced, then renamed over the record, then the
    /// directory synced. The lock, held by one process alone, keeps the
    /// record from moving on meanwhile.
    fn write(&mut self, bytes: &[u8]) -> Result<Written, Error> {
        let files = &self.store.files;
        self.replace(files, bytes)
            .map(|()| Written::Done)
            .map_err(|error| self.store.failed("write", &files.record, error))
    }

    /// Written into the lock file, which the sweep reads (the record is
    /// sealed); an empty one, as earlier releases leave, means "kept".
    fn note_useless_after(&mut self, when: Option<SystemTime>) {
        let note = match when {
            Some(when) => {
                let seconds = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                format!("{}{seconds}\n", sweep::USELESS_AFTER)
            }
            None => String::new(),
        };
        let written = rustix::io::pwrite(&self.lock_file, note.as_bytes(), 0);
        if written.is_ok_and(|n| n == note.len()) {
            let _ = ftruncate(&self.lock_file, note.len() as u64);
        }
    }
}

impl Locked<'_> {
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
        // Readable by the user whatever the umask of this process.
        fchmod(&temporary, mode)?;
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
}

/// Unlocked explicitly before the descriptor closes (which would drop the
/// lock too): the order is then plain to see.
impl Drop for Locked<'_> {
    fn drop(&mut self) {
        lock::unlock(&self.lock_file, WHOLE_FILE);
    }
}
