//! The files and sockets the library opens inside someone else's process.
//!
//! None is kept on descriptor 0, 1 or 2: a host program that closed its
//! standard streams (daemons do) would otherwise write its own output into
//! our connection, an access token into a TLS tunnel in clear text, say.
//! And a file is read only when it is a regular file of bounded size, so
//! that `/dev/zero`, a FIFO or a huge file given as a trust store neither
//! blocks the caller nor exhausts its memory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::fstat;

/// The lowest descriptor the library keeps.
const FIRST_FREE_DESCRIPTOR: i32 = 3;

/// `descriptor` itself, or when it is one of the standard streams, a copy
/// above them (close-on-exec) with the original closed.
pub(crate) fn above_stdio<D: From<OwnedFd> + Into<OwnedFd>>(descriptor: D) -> io::Result<D> {
    let descriptor: OwnedFd = descriptor.into();
    if descriptor.as_raw_fd() >= FIRST_FREE_DESCRIPTOR {
        return Ok(D::from(descriptor));
    }
    let moved = rustix::io::fcntl_dupfd_cloexec(&descriptor, FIRST_FREE_DESCRIPTOR)?;
    Ok(D::from(moved))
}

/// Why a file could not be read; says what is wrong, not which file (the
/// caller names it).
#[derive(Debug)]
pub(crate) enum Unreadable {
    Io(io::Error),
    NotRegular,
    TooLarge(u64),
}

impl Unreadable {
    pub(crate) fn is_out_of_descriptors(&self) -> bool {
        match self {
            Unreadable::Io(error) => is_out_of_descriptors(error),
            _ => false,
        }
    }
}

pub(crate) fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::Io(why) => write!(f, "cannot read it: {why}"),
            Unreadable::NotRegular => {
                f.write_str("is not a regular file (a device, FIFO, socket or directory)")
            }
            Unreadable::TooLarge(limit) => write!(f, "is larger than {limit} bytes"),
        }
    }
}

/// The whole content of the regular file at `path`, when it holds at most
/// `limit` bytes. Opening never blocks (`O_NONBLOCK`: a FIFO is refused
/// once opened, before any read), and a file that grows while read is
/// refused at `limit` + 1 bytes.
pub(crate) fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, Unreadable> {
    let io_error = Unreadable::Io;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_error)?;
    read_open_file(above_stdio(file).map_err(io_error)?, limit)
}

/// The whole content of `file`, opened for reading, when it is a regular
/// file of at most `limit` bytes.
pub(crate) fn read_open_file(file: File, limit: u64) -> Result<Vec<u8>, Unreadable> {
    let io_error = Unreadable::Io;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(Unreadable::NotRegular);
    }
    if metadata.len() > limit {
        return Err(Unreadable::TooLarge(limit));
    }
    let mut content = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut content)
        .map_err(io_error)?;
    if content.len() as u64 > limit {
        return Err(Unreadable::TooLarge(limit));
    }
    Ok(content)
}

/// A file or socket kept across calls that knows which one it is. A host
/// program that closes descriptors it does not know (`closefrom` after
/// `fork()`) may give the number to a file or socket of its own: that one
/// is never used, and never closed, by the library.
#[derive(Debug)]
pub(crate) struct Identified<D: AsFd> {
    descriptor: ManuallyDrop<D>,
    /// Device and inode, from `fstat`, when it was made.
    identity: (u64, u64),
}

impl<D: AsFd> Identified<D> {
    pub(crate) fn new(descriptor: D) -> io::Result<Self> {
        let status = fstat(&descriptor)?;
        Ok(Identified {
            descriptor: ManuallyDrop::new(descriptor),
            identity: (status.st_dev, status.st_ino),
        })
    }

    /// The descriptor without the check, for the later steps of a call
    /// that began with [`ours`](Self::ours).
    pub(crate) fn checked_before(&self) -> &D {
        &self.descriptor
    }

    /// The descriptor, while its number still names what was made.
    pub(crate) fn ours(&self) -> io::Result<&D> {
        let status = fstat(&*self.descriptor)?;
        match (status.st_dev, status.st_ino) == self.identity {
            true => Ok(&self.descriptor),
            false => Err(io::Error::other(
                "its descriptor was closed and the number reused by the program",
            )),
        }
    }
}

impl<D: AsFd> Drop for Identified<D> {
    fn drop(&mut self) {
        if self.ours().is_ok() {
            // SAFETY: `descriptor` is dropped here once, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.descriptor) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_at_once() {
        let not_regular = |path: &Path| {
            matches!(
                read_regular_file(path, 1 << 20),
                Err(Unreadable::NotRegular)
            )
        };
        assert!(not_regular(Path::new("/dev/zero")));
        assert!(not_regular(Path::new("/")));
        let dir = std::env::temp_dir().join(format!("criteo-fifo-{}", std::process::id()));
        let made = std::process::Command::new("mkfifo").arg(&dir).status();
        assert!(made.unwrap().success());
        let refused = not_regular(&dir);
        std::fs::remove_file(&dir).unwrap();
        assert!(refused, "no writer, no wait");
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let path = std::env::temp_dir().join(format!("criteo-big-{}", std::process::id()));
        std::fs::write(&path, vec![b'x'; 1001]).unwrap();
        let refused = read_regular_file(&path, 1000);
        let read = read_regular_file(&path, 1001);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(refused, Err(Unreadable::TooLarge(1000))));
        assert_eq!(read.unwrap().len(), 1001);
    }
}
