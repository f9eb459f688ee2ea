//! A store on a Redis server, shared by the hosts of a fleet.
//!
//! A lineage has two keys, `<prefix>{<name>}:lock` and
//! `<prefix>{<name>}:record` (the braces keep both in one slot of a
//! cluster). The lock is `SET NX PX`, in a script: a random owner and a
//! lease longer than a fetch's time limit, so that a holder that dies or
//! stops frees it by itself (a lock found with no expiry is given one),
//! and nothing taken by a try that the server runs after its sender gave
//! up (the script reads the server's clock); it is released by its owner
//! alone (compare-and-delete, in a script). The record is a hash: the sealed record (`r`) and its
//! generation (`g`), which a write moves forward only from the generation
//! its writer read (compare-and-set, in a script): a holder whose lease ran
//! out while it was stopped never puts an older record over a newer one.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};

use super::lock::{LockFailure, Pauses, poll_until};
use super::{Backend, Held, Written};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::process::PerProcess;
use crate::redis::{OPERATION_LIMIT, Reply, Server};

pub(crate) use crate::redis::{is_redis_url, refuse_other_urls};

/// How much longer than the client's total time limit a lease lasts: the
/// store's own operations under the lock.
const LEASE_BEYOND_THE_FETCH: Duration = Duration::from_secs(2);

/// Waiting for another host's lock: each try is a round trip, so the
/// pauses grow to a tenth of a second.
const PAUSES: Pauses = Pauses {
    first: Duration::from_millis(5),
    longest: Duration::from_millis(100),
};

/// Takes the lock for `ARGV[1]` for `ARGV[2]` ms if no one has it, unless
/// the server runs it after `ARGV[3]` (ms since 1970 on its clock): a try
/// whose sender gave up on it (a server that stalled, then went on) takes
/// nothing. A lock with no expiry (set by hand, or by another program)
/// would hold every host up for good: it is given the lease, and lapses.
const LOCK: &str = "local now = redis.call('TIME') \
                    if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) \
                      > tonumber(ARGV[3]) then return 0 end \
                    if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end \
                    if redis.call('PTTL', KEYS[1]) == -1 then \
                      redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
/// Deletes the lock if its owner is `ARGV[1]`.
const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                        return redis.call('DEL', KEYS[1]) end return 0";
/// Writes `ARGV[3]` as generation `ARGV[2]` if the record's generation is
/// still `ARGV[1]` (empty: no record).
const WRITE: &str = "if (redis.call('HGET', KEYS[1], 'g') or '') ~= ARGV[1] then return 0 end \
                     redis.call('HSET', KEYS[1], 'g', ARGV[2], 'r', ARGV[3]) return 1";

pub(super) struct RedisStore {
    server: Arc<Server>,
    lock_key: String,
    record_key: String,
    lease: Duration,
    /// The owners of tries for the lock whose answer never came (a server
    /// that stalled): the server may yet run them, and hold the lock for
    /// an owner that gave up. Released before the next try, in this
    /// process (a child of `fork()` leaves them to lapse).
    abandoned: PerProcess<Mutex<Vec<String>>>,
}

/// The lock, held until dropped, and the generation last read.
struct Lease<'a> {
    store: &'a RedisStore,
    owner: String,
    generation: String,
}

impl RedisStore {
    /// The keys of the lineage `name` on the server `url` names.
    pub(super) fn new(url: &str, client: &Client, name: &str) -> Result<RedisStore, Error> {
        let server = Server::shared(url, client)?;
        let base = format!("{}{{{name}}}", server.prefix());
        Ok(RedisStore {
            lock_key: format!("{base}:lock"),
            record_key: format!("{base}:record"),
            lease: client.total_timeout() + LEASE_BEYOND_THE_FETCH,
            server,
            abandoned: PerProcess::new(Mutex::default()),
        })
    }

    /// One try for the lock, as `owner`, after the locks of tries that
    /// got no answer are released. A try that gets none is abandoned.
    fn try_take(&self, owner: &str, deadline: Instant) -> io::Result<bool> {
        self.release_abandoned(deadline)?;
        let taken = self.set_lock(owner, deadline);
        if taken.is_err() {
            self.with_abandoned(|abandoned| abandoned.push(owner.to_owned()));
        }
        taken
    }

    /// Releases the locks of the abandoned tries; those that cannot be
    /// released now are kept for the next try.
    fn release_abandoned(&self, deadline: Instant) -> io::Result<()> {
        let mut owners = self.with_abandoned(std::mem::take);
        while let Some(owner) = owners.last() {
            if let Err(error) = self.unlock(owner, deadline) {
                self.with_abandoned(|abandoned| abandoned.append(&mut owners));
                return Err(error);
            }
            owners.pop();
        }
        Ok(())
    }

    /// Runs `change` on the owners abandoned in this process; the list is
    /// never held across a call to the server.
    fn with_abandoned<R>(&self, change: impl FnOnce(&mut Vec<String>) -> R) -> R {
        let abandoned = self.abandoned.get(Mutex::default);
        let mut abandoned = abandoned.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut abandoned)
    }

    /// Deletes the lock if `owner` holds it.
    fn unlock(&self, owner: &str, deadline: Instant) -> io::Result<()> {
        let arguments: [&[u8]; 5] = [
            b"EVAL",
            UNLOCK.as_bytes(),
            b"1",
            self.lock_key.as_bytes(),
            owner.as_bytes(),
        ];
        self.server.call(&arguments, deadline).map(drop)
    }

    fn set_lock(&self, owner: &str, deadline: Instant) -> io::Result<bool> {
        let lease = self.lease.as_millis().to_string();
        let too_late = self.server.on_its_clock(deadline)?.to_string();
        let arguments: [&[u8]; 7] = [
            b"EVAL",
            LOCK.as_bytes(),
            b"1",
            self.lock_key.as_bytes(),
            owner.as_bytes(),
            lease.as_bytes(),
            too_late.as_bytes(),
        ];
        match self.server.call(&arguments, deadline)? {
            Reply::Integer(1) => Ok(true),
            Reply::Integer(0) => Ok(false),
            _ => Err(unexpected("EVAL")),
        }
    }

    fn failed(&self, what: &str, error: io::Error) -> Error {
        Error::new(
            ErrorKind::Store,
            format!("cannot {what} the token store {}: {error}", self.describe()),
        )
    }
}

impl Backend for RedisStore {
    fn describe(&self) -> String {
        format!("{} (keys {})", self.server.describe(), self.record_key)
    }

    fn lock(&self, deadline: Instant) -> Result<Box<dyn Held + '_>, LockFailure> {
        let owner = new_owner().map_err(LockFailure::Unusable)?;
        // Each try has its own limit: the last one, made as the wait ends,
        // is a try, not a store that failed to answer.
        poll_until(deadline, PAUSES, || {
            self.try_take(&owner, Instant::now() + OPERATION_LIMIT)
        })?;
        Ok(Box::new(Lease::new(self, owner)))
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn Held + '_>>> {
        let owner = new_owner()?;
        let taken = self.try_take(&owner, Instant::now() + OPERATION_LIMIT)?;
        Ok(taken.then(|| Box::new(Lease::new(self, owner)) as Box<dyn Held>))
    }
}

impl<'a> Lease<'a> {
    fn new(store: &'a RedisStore, owner: String) -> Self {
        Lease {
            store,
            owner,
            generation: String::new(),
        }
    }
}

impl Held for Lease<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let store = self.store;
        let arguments: [&[u8]; 4] = [b"HMGET", store.record_key.as_bytes(), b"g", b"r"];
        let reply = store
            .server
            .call(&arguments, Instant::now() + OPERATION_LIMIT)
            .map_err(|error| store.failed("read", error))?;
        let Reply::Array(Some(mut fields)) = reply else {
            return Err(store.failed("read", unexpected("HMGET")));
        };
        let (Some(Reply::Bulk(record)), Some(Reply::Bulk(generation)), None) =
            (fields.pop(), fields.pop(), fields.pop())
        else {
            return Err(store.failed("read", unexpected("HMGET")));
        };
        self.generation = generation
            .map(|g| String::from_utf8_lossy(&g).into_owned())
            .unwrap_or_default();
        Ok(record.map(|record| record.to_vec()))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<Written, Error> {
        let store = self.store;
        let next = self
            .generation
            .parse::<u64>()
            .unwrap_or(0)
            .saturating_add(1);
        let next = next.to_string();
        let arguments: [&[u8]; 7] = [
            b"EVAL",
            WRITE.as_bytes(),
            b"1",
            store.record_key.as_bytes(),
            self.generation.as_bytes(),
            next.as_bytes(),
            bytes,
        ];
        let reply = store
            .server
            .call(&arguments, Instant::now() + OPERATION_LIMIT)
            .map_err(|error| store.failed("write", error))?;
        match reply {
            Reply::Integer(1) => {
                self.generation = next;
                Ok(Written::Done)
            }
            Reply::Integer(0) => Ok(Written::Superseded),
            _ => Err(store.failed("write", unexpected("EVAL"))),
        }
    }

    /// Redis's `TIME`: the clock the hosts sharing it stamp moments on.
    fn wall_clock(&mut self) -> Result<Option<SystemTime>, Error> {
        let store = self.store;
        let time = store.server.time();
        time.map(Some)
            .map_err(|error| store.failed("read the clock of", error))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let store = self.store;
        if store
            .unlock(&self.owner, Instant::now() + OPERATION_LIMIT)
            .is_err()
        {
            // The server may run it late, or never: the lock lapses with
            // its lease, or goes with the next try.
            store.with_abandoned(|abandoned| abandoned.push(self.owner.clone()));
        }
    }
}

/// A lock owner no other holder has: 128 random bits, in hex, and the
/// process id. An error when the system gives no random bytes: an owner
/// another holder may have could release that holder's lock.
fn new_owner() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("the system gave no random bytes for the lock's owner"))?;
    let mut owner: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    owner.push_str(&format!("-{}", std::process::id()));
    Ok(owner)
}

fn unexpected(command: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the server answered {command} with a reply of the wrong kind"),
    )
}
