//! What the token store needs of a Redis server (or of any server that
//! speaks its protocol: Valkey, a managed Redis): a URL read strictly
//! ([`address`]), the protocol for a few commands ([`protocol`]), and one
//! connection per server per process ([`connection`]), shared by every
//! source that names the server, made again after a failure, and never
//! used by a child of `fork()`.
//!
//! Written here rather than taken from a Redis crate: the store sends four
//! commands, and needs what such crates leave out: one deadline for a
//! whole command (a server that answers a byte a second), bounded replies,
//! no server text in messages, and the client's own trust for TLS.

mod address;
mod connection;
mod protocol;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::digest::{SHA256, digest};

use address::Address;
pub(crate) use address::{is_redis_url, refuse_other_urls};
use connection::{Connection, Route};
pub(crate) use protocol::Reply;

use crate::client::Client;
use crate::error::Error;
use crate::process::{PerProcess, made_once};

/// For the `redis_reply` fuzz target: how many replies `bytes` holds
/// before the first that cannot be read.
#[cfg(fuzzing)]
pub(crate) fn read_replies(bytes: &[u8]) -> usize {
    let mut input = io::BufReader::new(bytes);
    std::iter::from_fn(|| protocol::read_reply(&mut input).ok()).count()
}

/// The longest one store operation takes, connecting included.
pub(crate) const OPERATION_LIMIT: Duration = Duration::from_millis(500);

/// A Redis server, as the sources of this process reach it.
pub(crate) struct Server {
    route: Route,
    /// This process's connection.
    slot: PerProcess<Slot>,
    /// How far the server's clock was ahead of this system's wall clock
    /// at its last `TIME`, in ms; [`UNKNOWN`] before the first.
    ahead_ms: AtomicI64,
}

const UNKNOWN: i64 = i64::MIN;

/// One connection, lent to one operation at a time.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    returned: Condvar,
}

#[derive(Default)]
struct SlotState {
    lent: bool,
    connection: Option<Connection>,
}

impl Server {
    /// The server `url` names, reached with the trust of `client` for
    /// `rediss://`: the one this process already has for them, or a new
    /// one.
    pub(crate) fn shared(url: &str, client: &Client) -> Result<Arc<Server>, Error> {
        type Servers = Mutex<HashMap<Vec<u8>, Weak<Server>>>;
        static SERVERS: OnceLock<PerProcess<Servers>> = OnceLock::new();
        let address = Address::parse(url)?;
        let tls = match address.tls {
            true => Some(client.tls_config_for_others()?),
            false => None,
        };
        // Named by a digest: the map holds no password.
        let mut name = digest(&SHA256, url.as_bytes()).as_ref().to_vec();
        name.extend_from_slice(&client.identity().to_ne_bytes());
        let servers = made_once(&SERVERS, || PerProcess::new(Servers::default()));
        let servers = servers.get(Servers::default);
        let mut servers = servers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = servers.get(&name).and_then(Weak::upgrade) {
            return Ok(server);
        }
        servers.retain(|_, server| server.strong_count() > 0);
        let server = Arc::new(Server {
            route: Route::new(address, tls),
            slot: PerProcess::new(Slot::default()),
            ahead_ms: AtomicI64::new(UNKNOWN),
        });
        servers.insert(name, Arc::downgrade(&server));
        Ok(server)
    }

    /// The URL without its user info, for messages.
    pub(crate) fn describe(&self) -> String {
        self.route.address.describe()
    }

    /// What the URL puts before every key.
    pub(crate) fn prefix(&self) -> &str {
        &self.route.address.prefix
    }

    /// Runs one command within [`OPERATION_LIMIT`] and `deadline`, on this
    /// process's connection (made first when there is none, or when the
    /// last one failed or was closed by the server).
    pub(crate) fn call(&self, arguments: &[&[u8]], deadline: Instant) -> io::Result<Reply> {
        let deadline = deadline.min(Instant::now() + OPERATION_LIMIT);
        let slot = self.slot.get(Slot::default);
        let mut state = slot.borrow(deadline)?;
        let taken = state.connection.take();
        state.lent = true;
        drop(state);
        let result = self.call_on(taken, arguments, deadline);
        let mut state = slot.lock();
        state.lent = false;
        // A connection that failed is dropped: a reply may be half read.
        let reply = result.map(|(connection, reply)| {
            state.connection = Some(connection);
            reply
        });
        drop(state);
        slot.returned.notify_one();
        reply
    }

    /// The server's clock (`TIME`), read within [`OPERATION_LIMIT`].
    pub(crate) fn time(&self) -> io::Result<SystemTime> {
        let before = SystemTime::now();
        let reply = self.call(&[b"TIME"], Instant::now() + OPERATION_LIMIT)?;
        let after = SystemTime::now();
        let time = time_of(&reply).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the server answered TIME with no time",
            )
        })?;
        let middle = before + after.duration_since(before).unwrap_or_default() / 2;
        self.ahead_ms
            .store(ms_between(middle, time), Ordering::Relaxed);
        Ok(time)
    }

    /// `deadline`, of this process, in ms since 1970 on the server's
    /// clock (read first when it never was).
    pub(crate) fn on_its_clock(&self, deadline: Instant) -> io::Result<i64> {
        if self.ahead_ms.load(Ordering::Relaxed) == UNKNOWN {
            self.time()?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let deadline = SystemTime::now() + left;
        let since_1970 = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
        let since_1970 = i64::try_from(since_1970.as_millis()).unwrap_or(i64::MAX);
        Ok(since_1970.saturating_add(self.ahead_ms.load(Ordering::Relaxed)))
    }

    fn call_on(
        &self,
        connection: Option<Connection>,
        arguments: &[&[u8]],
        deadline: Instant,
    ) -> io::Result<(Connection, Reply)> {
        let mut connection = match connection {
            Some(kept) if !kept.is_out_of_step() => kept,
            _ => self.route.connect(deadline)?,
        };
        let reply = connection.call(arguments, deadline)?;
        Ok((connection, reply))
    }
}

/// The time of a `TIME` reply: seconds and microseconds.
fn time_of(reply: &Reply) -> Option<SystemTime> {
    let Reply::Array(Some(parts)) = reply else {
        return None;
    };
    let [Reply::Bulk(Some(seconds)), Reply::Bulk(Some(micros))] = &parts[..] else {
        return None;
    };
    let number = |digits: &[u8]| std::str::from_utf8(digits).ok()?.parse::<u64>().ok();
    let since_1970 =
        Duration::from_secs(number(seconds)?) + Duration::from_micros(number(micros)?.min(999_999));
    UNIX_EPOCH.checked_add(since_1970)
}

/// How far `later` is after `earlier`, in ms (negative when before).
fn ms_between(earlier: SystemTime, later: SystemTime) -> i64 {
    let ms = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    match later.duration_since(earlier) {
        Ok(ahead) => ms(ahead),
        Err(behind) => -ms(behind.duration()),
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot, once no other operation has its connection, waited for
    /// until `deadline`.
    fn borrow(&self, deadline: Instant) -> io::Result<MutexGuard<'_, SlotState>> {
        let mut state = self.lock();
        while state.lent {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was busy with another operation until the time limit",
                ));
            }
            state = self
                .returned
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(state)
    }
}
