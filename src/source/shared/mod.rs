//! The store that the processes using one set of credentials share: one
//! cached token, one fetch at a time, and the refresh token that rotates,
//! for every process of the user that uses the same store.
//!
//! A store is one [`Backend`]: a named directory ([`directory`]) shared
//! by the processes of one host, a Redis server ([`redis`]) shared by the
//! hosts of a fleet, or, for the children of the process that made a
//! source, a file with no name ([`anonymous`]). Each holds one [`record`]
//! per lineage, [`seal`]ed, behind a lock that a source holds for a whole
//! fetch: under it, it reads what another process left, fetches only when
//! that will not do, and writes the result before anyone sees it.
//!
//! A lineage is named by a keyed hash (HMAC-SHA256, keyed with the client
//! secret) of the token URL, the grant, the client id and the code or
//! refresh token the sources start from: the secret is never written, and
//! a source with another secret never finds the record, nor opens it.

mod anonymous;
mod directory;
mod lock;
mod record;
mod redis;
mod seal;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ring::hmac;
use zeroize::Zeroizing;

use crate::client::Client;
use crate::clock::{Clock, ShiftedWall, wall_offset_ms};
use crate::error::{Error, ErrorKind};
use crate::request::TokenRequest;
use anonymous::Anonymous;
use directory::Directory;
use lock::LockFailure;
pub(super) use record::Record;
#[cfg(fuzzing)]
pub use record::read_back as read_back_record;
use redis::{RedisStore, is_redis_url, refuse_other_urls};
use seal::Seal;

/// Bumped when the way lineages are named changes.
const LINEAGE_CONTEXT: &str = "criteo-oauth lineage 1";

/// The variable that names the store when a program names none.
pub(crate) const STORE_VARIABLE: &str = "CRITEO_OAUTH_STORE";

/// One lineage's place in a store: where its record is kept, and how the
/// holders of its lock exclude one another. One implementation per kind
/// of store; the lineage logic above does not depend on which.
trait Backend: Send + Sync {
    /// Where the store is, for messages (never a password).
    fn describe(&self) -> String;

    /// Takes the lineage's lock, waiting for another holder until
    /// `deadline`.
    fn lock(&self, deadline: Instant) -> Result<Box<dyn Held + '_>, LockFailure>;

    /// Takes the lineage's lock if nobody holds it.
    fn try_lock(&self) -> io::Result<Option<Box<dyn Held + '_>>>;

    /// Whether a plain record of the first release, written before
    /// records were sealed, is still taken (from a directory of this
    /// user's only, where it may hold the only live refresh token).
    fn takes_plain_records(&self) -> bool {
        false
    }
}

/// A lineage's lock, held; released when dropped.
trait Held {
    /// The record's bytes, as stored; `None` when there is none.
    fn read(&mut self) -> Result<Option<Vec<u8>>, Error>;

    /// Replaces the record, durably, unless it moved on since it was
    /// read (another holder wrote it after this one's lock ran out).
    fn write(&mut self, bytes: &[u8]) -> Result<Written, Error>;

    /// The store's own wall clock, for a store that hosts share; `None`
    /// for a store of one host, whose processes share its clock.
    fn wall_clock(&mut self) -> Result<Option<SystemTime>, Error> {
        Ok(None)
    }

    /// Told, after a write, when the record written stops being of use
    /// to anyone (`None`: never), for a store that removes what no longer
    /// serves (see `directory::sweep`).
    fn note_useless_after(&mut self, _when: Option<SystemTime>) {}

    /// Whether another process may read the record now. While none can,
    /// a write is kept back, and made when the lock is released only if
    /// one can then (a `fork()` came meanwhile).
    fn shared(&self) -> bool {
        true
    }
}

/// How a write ended.
#[derive(Debug, PartialEq)]
pub(super) enum Written {
    Done,
    /// Not written: another holder wrote a newer record since this one
    /// read it.
    Superseded,
}

pub(crate) struct SharedStore {
    backend: Box<dyn Backend>,
    /// The lineage's key, in hex; its first half names its record.
    key: String,
    seal: Seal,
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
    held: Box<dyn Held + 'a>,
    /// A record written while no other process could read it, unsealed.
    kept_back: Option<Zeroizing<Vec<u8>>>,
}

impl SharedStore {
    /// The store `place` names, for sources made with `request` on
    /// `client`: a `redis://` or `rediss://` URL, or a directory. `None`
    /// is what `$CRITEO_OAUTH_STORE` names when it is set and not empty,
    /// else the default directory (see [`directory::default_path`]).
    pub(crate) fn named(
        place: Option<&str>,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<SharedStore, Error> {
        let from_environment = std::env::var(STORE_VARIABLE).ok().filter(|s| !s.is_empty());
        let named_by_environment = place.is_none() && from_environment.is_some();
        let place = place.or(from_environment.as_deref());
        let key = lineage_key(client.token_url(), request);
        let backend = backend_for(place, client, &key[..32]);
        let backend = backend.map_err(|error| match named_by_environment {
            true => {
                let message = format!("{STORE_VARIABLE}: {}", error.message());
                error.with_message(message)
            }
            false => error,
        })?;
        Ok(Self::with_backend(backend, key, request))
    }

    /// A store for this source and the children it will have; `None` when
    /// the system cannot make one.
    pub(crate) fn anonymous(token_url: &str, request: &TokenRequest) -> Option<SharedStore> {
        let key = lineage_key(token_url, request);
        Some(Self::with_backend(
            Box::new(Anonymous::new()?),
            key,
            request,
        ))
    }

    fn with_backend(backend: Box<dyn Backend>, key: String, request: &TokenRequest) -> Self {
        let [_, _, client_secret, code, refresh_token] = request.lineage_fields();
        SharedStore {
            backend,
            seal: Seal::new(&[client_secret, code, refresh_token], &key),
            key,
        }
    }

    /// Where the store is, for messages.
    pub(crate) fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Takes the lineage's lock, waiting for another holder until `deadline`.
    pub(super) fn lock(&self, deadline: Instant) -> Result<Guard<'_>, Unlocked> {
        match self.backend.lock(deadline) {
            Ok(held) => Ok(Guard::new(self, held)),
            Err(LockFailure::TimedOut) => Err(Unlocked::TimedOut),
            Err(LockFailure::Unusable(error)) => Err(Unlocked::Unusable(self.unusable(error))),
        }
    }

    /// Takes the lineage's lock if nobody holds it.
    pub(super) fn try_lock(&self) -> Result<Option<Guard<'_>>, Error> {
        let held = self
            .backend
            .try_lock()
            .map_err(|error| self.unusable(error))?;
        Ok(held.map(|held| Guard::new(self, held)))
    }

    fn unusable(&self, error: io::Error) -> Error {
        Error::new(
            ErrorKind::Store,
            format!("cannot lock the token store {}: {error}", self.describe()),
        )
    }
}

impl<'a> Guard<'a> {
    fn new(store: &'a SharedStore, held: Box<dyn Held + 'a>) -> Self {
        Guard {
            store,
            held,
            kept_back: None,
        }
    }

    /// The lineage's record; `None` when there is none. A record this
    /// source cannot take (truncated, altered, sealed with other secrets,
    /// of another format or lineage) is an error, and counts as none.
    pub(super) fn read(&mut self) -> Result<Option<Record>, Error> {
        let Some(bytes) = self.held.read()?.map(Zeroizing::new) else {
            return Ok(None);
        };
        let store = self.store;
        let opened = store.seal.open(&bytes);
        let plain = (opened.is_none() && store.backend.takes_plain_records()).then_some(&bytes);
        match opened.as_ref().or(plain) {
            Some(record) => Record::parse(record, &store.key).map(Some),
            None => None,
        }
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Store,
                format!(
                    "the record of this lineage in the token store {} does not open (altered, \
                     damaged or of another version): it is taken as absent, and replaced",
                    store.describe()
                ),
            )
        })
    }

    /// Replaces the lineage's record, sealed, durably, before the lock is
    /// released, unless another holder wrote since it was read. (While no
    /// other process can read it, it is kept back: see [`Held::shared`].)
    pub(super) fn write(&mut self, record: &Record) -> Result<Written, Error> {
        let plain = record.to_bytes();
        if !self.held.shared() {
            self.kept_back = Some(plain);
            return Ok(Written::Done);
        }
        self.kept_back = None;
        let written = self.write_plain(&plain)?;
        if written == Written::Done {
            self.held.note_useless_after(record.useless_after());
        }
        Ok(written)
    }

    fn write_plain(&mut self, plain: &[u8]) -> Result<Written, Error> {
        let sealed = self.store.seal.seal(plain).ok_or_else(|| {
            Error::new(
                ErrorKind::Store,
                format!(
                    "cannot write the token store {}: the system gave no random bytes to seal \
                     the record with",
                    self.store.describe()
                ),
            )
        })?;
        self.held.write(&sealed)
    }

    pub(super) fn key(&self) -> &str {
        &self.store.key
    }

    /// `clock`, with the store's wall clock in place of its own when the
    /// store has one: the hosts that share it then stamp the moments they
    /// store (when a token arrived, until when to back off) on one wall
    /// clock, whatever their own clocks say. An error when the store's
    /// clock cannot be read: its records are then not to be used, rather
    /// than read on another clock than they were written on.
    pub(super) fn clock(&mut self, clock: &Arc<dyn Clock>) -> Result<Arc<dyn Clock>, Error> {
        let mut failure = None;
        let ahead_ms = wall_offset_ms(&**clock, || match self.held.wall_clock() {
            Ok(time) => time,
            Err(error) => {
                failure = Some(error);
                None
            }
        });
        match (failure, ahead_ms) {
            (Some(error), _) => Err(error),
            (None, Some(ahead_ms)) => Ok(Arc::new(ShiftedWall::new(Arc::clone(clock), ahead_ms))),
            (None, None) => Ok(Arc::clone(clock)),
        }
    }
}

impl Drop for Guard<'_> {
    /// Makes the write kept back when a `fork()` came while the lock was
    /// held: the child waits for the lock, and must find what this
    /// process has. (A failure is not reported: the write reported
    /// success; the child then asks the server itself.)
    fn drop(&mut self) {
        if let Some(plain) = self.kept_back.take().filter(|_| self.held.shared()) {
            let _ = self.write_plain(&plain);
        }
    }
}

/// The backend of the lineage `name` in the store `place` names (`None`:
/// the default directory).
fn backend_for(
    place: Option<&str>,
    client: &Client,
    name: &str,
) -> Result<Box<dyn Backend>, Error> {
    let Some(place) = place else {
        return Ok(Box::new(Directory::new(&directory::default_path(), name)?));
    };
    refuse_other_urls(place)?;
    Ok(match is_redis_url(place) {
        true => Box::new(RedisStore::new(place, client, name)?),
        false => Box::new(Directory::new(Path::new(place), name)?),
    })
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

#[cfg(test)]
mod sealed_records {
    use std::time::Duration;

    use super::*;
    use crate::clock::SystemClock;
    use crate::request::TokenRequestFields;
    use crate::sanitize::Redactor;
    use crate::source::plan::Lineage;
    use crate::token::{Token, parse_token};

    fn request() -> TokenRequest {
        TokenRequest::new(&TokenRequestFields {
            grant_type: "refresh_token",
            client_id: "id",
            client_secret: "secret",
            refresh_token: Some("rt-0"),
            ..Default::default()
        })
        .unwrap()
    }

    /// A lineage holding a token received `ahead` from now on this boot's
    /// clock (zero: now).
    fn lineage_received(ahead: Duration) -> Lineage<Token> {
        let json = br#"{"access_token":"tok","token_type":"Bearer","expires_in":900,"refresh_token":"rt-1"}"#;
        let token = parse_token(json, "200 OK", &Redactor::new([])).unwrap();
        let mut lineage = Lineage::new(request());
        lineage.install(&token, SystemClock.now() + ahead);
        lineage.serial = 3;
        lineage
    }

    fn store_in(directory: &Path) -> SharedStore {
        let key = lineage_key("https://api.example/oauth2/token", &request());
        let backend = Directory::new(directory, &key[..32]).unwrap();
        SharedStore::with_backend(Box::new(backend), key, &request())
    }

    fn temporary_directory(name: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("criteo-sealed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    /// Writes `bytes` as the record, as they are (not sealed).
    fn write_plain(store: &SharedStore, bytes: &[u8]) {
        let mut guard = store
            .lock(Instant::now() + Duration::from_secs(1))
            .ok()
            .unwrap();
        assert_eq!(guard.held.write(bytes).unwrap(), Written::Done);
    }

    /// Writes `lineage` as the record, sealed, as a source does.
    fn write_sealed(store: &SharedStore, lineage: &Lineage<Token>) {
        let record = Record::of(lineage, &store.key, &SystemClock);
        let mut guard = store
            .lock(Instant::now() + Duration::from_secs(1))
            .ok()
            .unwrap();
        assert_eq!(guard.write(&record).unwrap(), Written::Done);
    }

    fn read_back(store: &SharedStore) -> Result<Option<Lineage<Token>>, Error> {
        let mut guard = store
            .lock(Instant::now() + Duration::from_secs(1))
            .ok()
            .unwrap();
        let first = request();
        Ok(guard
            .read()?
            .map(|record| record.into_lineage(&first, &SystemClock)))
    }

    #[test]
    fn a_plain_record_of_the_first_release_is_still_taken_from_a_directory() {
        let directory = temporary_directory("plain");
        let store = store_in(&directory);
        let plain = Record::of(&lineage_received(Duration::ZERO), &store.key, &SystemClock);
        write_plain(&store, &plain.to_bytes());
        let taken = read_back(&store).unwrap().expect("the plain record");
        assert_eq!(taken.serial, 3);
        assert!(taken.current.is_some());
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_record_stamped_from_the_future_of_this_boot_gives_no_token() {
        let directory = temporary_directory("future");
        let store = store_in(&directory);
        write_sealed(&store, &lineage_received(Duration::from_secs(3600)));
        let taken = read_back(&store).unwrap().expect("the record");
        assert!(taken.current.is_none(), "a token received an hour from now");
        assert_eq!(taken.serial, 3, "the rest of the lineage is read");
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_stored_backoff_never_lasts_longer_than_the_longest_retry_after() {
        let directory = temporary_directory("backoff");
        let store = store_in(&directory);
        let mut lineage = lineage_received(Duration::ZERO);
        let refused = Error::new(crate::error::ErrorKind::HttpStatus, "503").with_http_status(503);
        let day = Duration::from_secs(86_400);
        lineage.failure = Some(crate::source::plan::Failure {
            error: refused,
            not_before: SystemClock.now() + day,
            backoff: day,
        });
        write_sealed(&store, &lineage);
        let taken = read_back(&store).unwrap().expect("the record");
        let not_before = taken.failure.expect("the failure").not_before;
        let longest = SystemClock.now() + crate::retry::MAX_SERVER_WAIT;
        assert!(not_before <= longest, "a day's backoff was taken whole");
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_record_that_does_not_open_is_reported() {
        let directory = temporary_directory("altered");
        let store = store_in(&directory);
        let record = Record::of(&lineage_received(Duration::ZERO), &store.key, &SystemClock);
        let mut sealed = store.seal.seal(&record.to_bytes()).unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        write_plain(&store, &sealed);
        let Err(error) = read_back(&store) else {
            panic!("an altered record was taken")
        };
        assert!(
            error.message().contains("does not open"),
            "{}",
            error.message()
        );
        let _ = std::fs::remove_dir_all(&directory);
    }
}
