//! The files of lineages that no longer serve, removed: a store directory
//! used by many lineages over time stays small.
//!
//! A record stops being of use once its token has expired, unless it
//! holds a refresh token the server has not refused (the lineage's only
//! one, once rotated). When a source writes its record, it notes when
//! that will be in the lineage's lock file ([`USELESS_AFTER`]; the record
//! itself is sealed). A lock of the directory, at most once every
//! [`SWEEP_EVERY`] for all processes (the marker file's time says when),
//! starts a sweep on a worker of the library's: it removes the files of
//! each lineage that has been of no use for [`GRACE`], and that nobody
//! locked meanwhile.
//!
//! Nothing another process could use is removed: a lineage is removed
//! only under its lock, taken without waiting, once its lock file says
//! so and has not been touched for [`GRACE`] (every lock touches it). A
//! lock file that says nothing (written by an earlier release, or before
//! any record) keeps its record. A process that opened the lock file
//! before it was removed finds the name gone once it holds the lock, and
//! locks again (see `Directory::still_named`).

use std::os::fd::OwnedFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Dir, Mode, OFlags, Stat, futimens, openat, statat, unlinkat};
use rustix::io::Errno;

use super::{Files, NOW, turn_key};
use crate::descriptors::above_stdio;
use crate::source::shared::lock::{self, Turn, WHOLE_FILE};
use crate::threads;

/// How long a lineage's files stay after they stopped serving.
pub(super) const GRACE: Duration = Duration::from_secs(3600);
/// How often a directory is swept, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The file whose modification time says when the last sweep began.
const MARKER: &str = "swept";
/// What a lock file says, then the Unix time in seconds.
pub(super) const USELESS_AFTER: &str = "useless after ";
/// The longest note a lock file holds.
const MAX_NOTE_BYTES: usize = 64;

/// Starts a sweep of `directory` (just locked) when none began within
/// [`SWEEP_EVERY`]. Never waits: the sweep runs on a worker of the
/// library's, and is left for a later lock when none can be started.
pub(super) fn start_if_due(directory: &OwnedFd) {
    let now = SystemTime::now();
    let swept = statat(directory, MARKER, AtFlags::SYMLINK_NOFOLLOW);
    // A time ahead of now (the clock was set back since) is no reason to
    // wait until then.
    let recent = |status: &Stat| {
        let at = modified(status);
        at + SWEEP_EVERY > now && at <= now + SWEEP_EVERY
    };
    match &swept {
        Ok(status) if !is_regular(status) => {
            // Something else took the name (a directory, a link, a FIFO).
            let _ = unlinkat(directory, MARKER, AtFlags::empty());
            let _ = unlinkat(directory, MARKER, AtFlags::REMOVEDIR);
        }
        Ok(status) if recent(status) => return,
        _ => {}
    }
    // Never waits: a FIFO put in its place meanwhile is not opened (ENXIO).
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let Ok(marker) = openat(directory, MARKER, flags, Mode::RUSR | Mode::WUSR) else {
        return;
    };
    let _ = futimens(&marker, &NOW);
    drop(marker);
    // Its own descriptor (above the standard streams), for the worker.
    let Ok(own) = rustix::io::fcntl_dupfd_cloexec(directory, 3) else {
        return;
    };
    let _ = threads::run_in_background(move || sweep(&own, SystemTime::now()));
}

/// Removes the files of every lineage of `directory` that has been of no
/// use since `GRACE` before `now`.
fn sweep(directory: &OwnedFd, now: SystemTime) {
    let Ok(mut entries) = Dir::read_from(directory) else {
        return;
    };
    let mut keys: Vec<String> = Vec::new();
    while let Some(Ok(entry)) = entries.read() {
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        let stem = [".lock", ".json", ".tmp"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix));
        if let Some(key) = stem.filter(|key| is_lineage_key(key)) {
            keys.push(key.to_owned());
        }
    }
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        remove_if_useless(directory, &Files::named(&key), now);
    }
}

/// A lineage's name in a directory: 32 lowercase hex digits.
fn is_lineage_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Removes the lineage's files when its lock file says they have been of
/// no use for [`GRACE`], and nobody has locked it for as long.
fn remove_if_useless(directory: &OwnedFd, files: &Files, now: SystemTime) -> Option<()> {
    let lock_status = statat(directory, &files.lock, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if modified(&lock_status) + GRACE > now {
        return None;
    }
    let key = turn_key(directory, files).ok()?;
    let removed = remove_with_turn(directory, files, &lock_status, &key, now);
    // The flag of a lineage this process does not use is not kept.
    lock::forget_flag(&key);
    removed
}

/// [`remove_if_useless`] past its first look, with the lineage's turn in
/// this process (its other threads stay out meanwhile: closing a
/// descriptor of the file would drop their lock) and its lock.
fn remove_with_turn(
    directory: &OwnedFd,
    files: &Files,
    seen: &Stat,
    key: &str,
    now: SystemTime,
) -> Option<()> {
    let _turn = Turn::take(lock::flag_of(key))?;
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let lock_file = above_stdio(openat(directory, &files.lock, flags, Mode::empty()).ok()?).ok()?;
    if !lock::try_lock(&lock_file, WHOLE_FILE).ok()? {
        return None;
    }
    let unchanged = rustix::fs::fstat(&lock_file)
        .is_ok_and(|status| (status.st_ino, status.st_dev) == (seen.st_ino, seen.st_dev));
    let useless = unchanged && useless_since(&lock_file, directory, files, now - GRACE);
    if useless {
        for name in [&files.record, &files.temporary, &files.lock] {
            let _ = unlinkat(directory, name, AtFlags::empty());
        }
    }
    lock::unlock(&lock_file, WHOLE_FILE);
    useless.then_some(())
}

/// Whether the lineage was of no use at `since`: its lock file says so,
/// or it has no record at all.
fn useless_since(
    lock_file: &OwnedFd,
    directory: &OwnedFd,
    files: &Files,
    since: SystemTime,
) -> bool {
    let mut note = [0; MAX_NOTE_BYTES];
    let read = rustix::io::pread(lock_file, &mut note, 0).unwrap_or(0);
    let note = std::str::from_utf8(&note[..read]).unwrap_or("");
    let useless_after = note
        .strip_prefix(USELESS_AFTER)
        .and_then(|rest| rest.trim_end().parse::<u64>().ok())
        .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds));
    match useless_after {
        Some(when) => when <= since,
        None => matches!(
            statat(directory, &files.record, AtFlags::SYMLINK_NOFOLLOW),
            Err(Errno::NOENT)
        ),
    }
}

fn is_regular(status: &Stat) -> bool {
    status.st_mode & libc::S_IFMT == libc::S_IFREG
}

fn modified(status: &Stat) -> SystemTime {
    let seconds = u64::try_from(status.st_mtime).unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(seconds)
}
