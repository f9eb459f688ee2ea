//! The store that the processes using one set of credentials share: one
//! cached token, one fetch at a time, and the refresh token that rotates,
//! for every process of the user that uses the same store.
//!
//! A store is a named directory ([`directory`]) or, for the children of
//! the process that made a source, a file with no name ([`anonymous`]).
//! Either holds one [`record`] per lineage, behind a lock ([`lock`]) that
//! a source holds for a whole fetch: under it, it reads what another
//! process left, fetches only when that will not do, and writes the result
//! before anyone sees it.
//!
//! A lineage is named by a keyed hash (HMAC-SHA256, keyed with the client
//! secret) of the token URL, the grant, the client id and the code or
//! refresh token the sources start from: the secret is never written, and
//! a source with another secret never finds the record.

mod anonymous;
mod directory;
mod lock;
mod record;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ring::hmac;

use crate::error::{Error, ErrorKind};
use crate::request::TokenRequest;
use anonymous::Anonymous;
use directory::{Directory, Files};
use lock::LockFailure;
pub(super) use record::Record;
#[cfg(fuzzing)]
pub use record::read_back as read_back_record;

/// Bumped when the way lineages are named changes.
const LINEAGE_CONTEXT: &str = "criteo-oauth lineage 1";

pub(crate) struct SharedStore {
    place: Place,
    /// The lineage's key, in hex; its first half names its files.
    key: String,
}

enum Place {
    Directory(Directory, Files),
    Anonymous(Anonymous),
}

/// Why a store's lock was not taken.
pub(super) enum Unlocked {
    /// Another process held it until the deadline.
    TimedOut,
    /// The store cannot be used.
    Unusable(Error),
}

/// The lock of one lineage, held; released when dropped.
pub(super) struct Guard<'a> {
    store: &'a SharedStore,
    file: FileLock<'a>,
}

enum FileLock<'a> {
    Directory(directory::Locked, &'a Directory, &'a Files),
    Anonymous(anonymous::Locked<'a>),
}

impl SharedStore {
    /// The store in `directory`, or in the default one (see
    /// [`directory::default_path`]), for sources made with `request`.
    pub(crate) fn in_directory(
        path: Option<&Path>,
        token_url: &str,
        request: &TokenRequest,
    ) -> Result<SharedStore, Error> {
        let path = path.map_or_else(directory::default_path, PathBuf::from);
        let key = lineage_key(token_url, request);
        let files = Files::named(&key[..32]);
        Ok(SharedStore {
            place: Place::Directory(Directory::new(&path)?, files),
            key,
        })
    }

    /// A store for this source and the children it will have; `None` when
    /// the system cannot make one.
    pub(crate) fn anonymous(token_url: &str, request: &TokenRequest) -> Option<SharedStore> {
        Some(SharedStore {
            place: Place::Anonymous(Anonymous::new()?),
            key: lineage_key(token_url, request),
        })
    }

    /// Where the store is, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.place {
            Place::Directory(directory, _) => directory.path().display().to_string(),
            Place::Anonymous(_) => "the store shared with forked processes".into(),
        }
    }

    /// Takes the lineage's lock, waiting for another holder until `deadline`.
    pub(super) fn lock(&self, deadline: Instant) -> Result<Guard<'_>, Unlocked> {
        let file = match &self.place {
            Place::Directory(directory, files) => directory
                .lock(files, deadline)
                .map(|locked| FileLock::Directory(locked, directory, files)),
            Place::Anonymous(anonymous) => anonymous.lock(deadline).map(FileLock::Anonymous),
        }
        .map_err(|failure| self.unlocked(failure))?;
        Ok(Guard { store: self, file })
    }

    /// Takes the lineage's lock if nobody holds it.
    pub(super) fn try_lock(&self) -> Result<Option<Guard<'_>>, Error> {
        let file = match &self.place {
            Place::Directory(directory, files) => directory
                .try_lock(files)
                .map(|locked| locked.map(|locked| FileLock::Directory(locked, directory, files))),
            Place::Anonymous(anonymous) => anonymous
                .try_lock()
                .map(|locked| locked.map(FileLock::Anonymous)),
        }
        .map_err(|error| self.unusable(error))?;
        Ok(file.map(|file| Guard { store: self, file }))
    }

    fn unlocked(&self, failure: LockFailure) -> Unlocked {
        match failure {
            LockFailure::TimedOut => Unlocked::TimedOut,
            LockFailure::Unusable(error) => Unlocked::Unusable(self.unusable(error)),
        }
    }

    fn unusable(&self, error: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Store,
            format!("cannot lock the token store {}: {error}", self.describe()),
        )
    }
}

impl Guard<'_> {
    /// The lineage's record; `None` when there is none this source can
    /// take (missing, truncated, corrupt, of another format or lineage).
    pub(super) fn read(&self) -> Result<Option<Record>, Error> {
        let bytes = match &self.file {
            FileLock::Directory(locked, directory, files) => locked.read(directory, files)?,
            FileLock::Anonymous(locked) => locked.read()?,
        };
        let bytes = bytes.map(zeroize::Zeroizing::new);
        Ok(bytes.and_then(|bytes| Record::parse(&bytes, &self.store.key)))
    }

    /// Replaces the lineage's record, durably, before the lock is released.
    pub(super) fn write(&self, record: &Record) -> Result<(), Error> {
        let bytes = record.to_bytes();
        match &self.file {
            FileLock::Directory(locked, directory, files) => locked.write(directory, files, &bytes),
            FileLock::Anonymous(locked) => locked.write(&bytes),
        }
    }

    pub(super) fn key(&self) -> &str {
        &self.store.key
    }
}

/// HMAC-SHA256, keyed with the client secret, of everything else that
/// makes the lineage, in hex.
fn lineage_key(token_url: &str, request: &TokenRequest) -> String {
    let [grant_type, client_id, client_secret, code, refresh_token] = request.lineage_fields();
    let key = hmac::Key::new(hmac::HMAC_SHA256, client_secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    for part in [
        LINEAGE_CONTEXT,
        token_url,
        grant_type,
        client_id,
        code,
        refresh_token,
    ] {
        context.update(part.as_bytes());
        context.update(b"\0");
    }
    let tag = context.sign();
    tag.as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TokenRequestFields;

    fn request(secret: &str, refresh_token: Option<&str>) -> TokenRequest {
        TokenRequest::new(&TokenRequestFields {
            grant_type: if refresh_token.is_some() {
                "refresh_token"
            } else {
                "client_credentials"
            },
            client_id: "id",
            client_secret: secret,
            refresh_token,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_lineage_is_named_by_everything_that_makes_it_and_shows_none_of_it() {
        let url = "https://api.criteo.com/oauth2/token";
        let base = lineage_key(url, &request("secret", None));
        assert_eq!(base.len(), 64);
        assert_eq!(base, lineage_key(url, &request("secret", None)));
        for other in [
            lineage_key(url, &request("Secret", None)),
            lineage_key("http://127.0.0.1:1/oauth2/token", &request("secret", None)),
            lineage_key(url, &request("secret", Some("rt-1"))),
        ] {
            assert_ne!(base, other);
        }
        assert_ne!(
            lineage_key(url, &request("secret", Some("rt-1"))),
            lineage_key(url, &request("secret", Some("rt-2"))),
            "a refresh token provisioned anew starts a new lineage"
        );
    }
}
