//! Connecting to one of a host's addresses: Happy Eyeballs (RFC 8305).
//!
//! A name often has IPv6 and IPv4 addresses, and on many networks one of
//! the two paths silently drops packets (a Docker host, a corporate VPN).
//! Trying the addresses one after the other would wait out a connect
//! timeout on the dead one before each token. Here the addresses are
//! raced, as curl and Go do:
//! - the families alternate, starting with the one that last worked for
//!   this host (for [`REMEMBER_FOR`]), else with the system's first choice;
//! - the next attempt starts [`ATTEMPT_DELAY`] after the previous one (or
//!   half the time left, when that is less), or at once when an attempt
//!   fails;
//! - the first connection made wins and the others are closed, all within
//!   the deadline.
//!
//! When none connects, the error lists every attempt and how it ended. A
//! socket this process cannot make (no descriptor left) ends the race at
//! once, as a transport error, rather than use up the other addresses.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::descriptors::above_stdio;
use crate::trace::{self, EventKind};

/// The wait before the next address is tried while an attempt is under
/// way (RFC 8305 §5 recommends 250 ms).
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// How long the family that connected is tried first for its host.
const REMEMBER_FOR: Duration = Duration::from_secs(600);

/// Which family connected last for each host (`host:port`), and when.
#[derive(Debug, Default)]
pub(crate) struct Eyeballs {
    winners: Mutex<HashMap<String, (Instant, bool)>>,
}

impl Eyeballs {
    /// A connection to one of `addrs` (the addresses of `host`, in the
    /// system's order), made before `deadline` (`None`: no limit).
    pub(crate) fn connect(
        &self,
        host: &str,
        addrs: &[SocketAddr],
        deadline: Option<Instant>,
    ) -> Result<(TcpStream, SocketAddr), ConnectFailed> {
        let order = interleaved(addrs, self.remembered(host));
        let started = Instant::now();
        let (stream, addr) =
            race(&order, deadline).map_err(|(attempts, ending)| ConnectFailed {
                host: host.to_owned(),
                attempts,
                ending,
            })?;
        self.winners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_owned(), (Instant::now(), addr.is_ipv6()));
        trace::note(EventKind::Connect, || {
            format!(
                "connected to {addr} ({host}) in {} ms",
                started.elapsed().as_millis()
            )
        });
        Ok((stream, addr))
    }

    /// True for IPv6, false for IPv4, when one of them connected lately.
    fn remembered(&self, host: &str) -> Option<bool> {
        let winners = self.winners.lock().unwrap_or_else(PoisonError::into_inner);
        let (when, ipv6) = winners.get(host)?;
        (when.elapsed() < REMEMBER_FOR).then_some(*ipv6)
    }
}

/// `addrs` with the families alternating (RFC 8305 §4), starting with
/// `first_ipv6`'s family when given, else with the first address's; each
/// family keeps the system's order.
pub(crate) fn interleaved(addrs: &[SocketAddr], first_ipv6: Option<bool>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let first_ipv6 = first_ipv6
        .filter(|&ipv6| addrs.iter().any(|addr| addr.is_ipv6() == ipv6))
        .unwrap_or(first.is_ipv6());
    let (mut leading, mut trailing): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|addr| addr.is_ipv6() == first_ipv6);
    let mut order = Vec::with_capacity(addrs.len());
    leading.reverse();
    trailing.reverse();
    while let Some(addr) = leading.pop() {
        order.push(addr);
        order.extend(trailing.pop());
    }
    order.extend(trailing.into_iter().rev());
    order
}

/// One address tried, and how it ended when it did not connect.
#[derive(Debug)]
pub(crate) struct Attempt {
    addr: SocketAddr,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    Failed(io::Error),
    /// Still under way at the deadline, for this long.
    NoAnswer(Duration),
}

/// A connection attempt under way.
struct Pending {
    addr: SocketAddr,
    socket: OwnedFd,
    started: Instant,
}

/// How a race ended without a winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Every address was tried and every attempt failed.
    AllFailed,
    /// The deadline came first.
    Deadline,
    /// This process could not make a socket (no descriptor left, say):
    /// the other attempts were given up.
    Local,
}

/// Runs the race over `order`; the winner, or every attempt and how the
/// race ended when none won.
fn race(
    order: &[SocketAddr],
    deadline: Option<Instant>,
) -> Result<(TcpStream, SocketAddr), (Vec<Attempt>, Ending)> {
    let mut untried = order.iter();
    let mut pending: Vec<Pending> = Vec::new();
    let mut ended = Vec::new();
    let mut next_start = Instant::now();
    let ending = loop {
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break Ending::Deadline;
        }
        if now >= next_start || pending.is_empty() {
            let Some(&addr) = untried.next() else {
                if pending.is_empty() {
                    break Ending::AllFailed;
                }
                next_start = deadline.unwrap_or(now + Duration::from_secs(3600));
                continue;
            };
            next_start = now + attempt_delay(now, deadline);
            trace::note(EventKind::Connect, || format!("trying {addr}"));
            match start(addr) {
                Ok(Started::Connected(stream)) => return Ok((stream, addr)),
                Ok(Started::Pending(socket)) => pending.push(Pending {
                    addr,
                    socket,
                    started: now,
                }),
                Err(NotStarted::Address(error)) => {
                    ended.push(failed(addr, error));
                    next_start = now;
                }
                Err(NotStarted::Local(error)) => {
                    ended.push(failed(addr, error));
                    break Ending::Local;
                }
            }
            continue;
        }
        let wait_until = deadline.map_or(next_start, |deadline| deadline.min(next_start));
        for index in ready(&pending, wait_until) {
            let attempt = pending.swap_remove(index);
            match rustix::net::sockopt::socket_error(&attempt.socket) {
                Ok(Ok(())) => return Ok((TcpStream::from(attempt.socket), attempt.addr)),
                Ok(Err(errno)) => ended.push(failed(attempt.addr, errno.into())),
                Err(errno) => ended.push(failed(attempt.addr, errno.into())),
            }
            next_start = Instant::now();
        }
    };
    let now = Instant::now();
    ended.extend(pending.into_iter().map(|attempt| Attempt {
        addr: attempt.addr,
        outcome: Outcome::NoAnswer(now.saturating_duration_since(attempt.started)),
    }));
    Err((ended, ending))
}

/// [`ATTEMPT_DELAY`], or half the time left when that is shorter, so that
/// under a short connect limit the next address still gets its turn.
fn attempt_delay(now: Instant, deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(deadline) => ATTEMPT_DELAY.min(deadline.saturating_duration_since(now) / 2),
        None => ATTEMPT_DELAY,
    }
}

fn failed(addr: SocketAddr, error: io::Error) -> Attempt {
    trace::note(EventKind::Connect, || format!("{addr}: {error}"));
    Attempt {
        addr,
        outcome: Outcome::Failed(error),
    }
}

enum Started {
    Connected(TcpStream),
    Pending(OwnedFd),
}

/// Why an attempt could not begin: something about its address (no route
/// to it, say), or about this process (no descriptor left for a socket).
enum NotStarted {
    Address(io::Error),
    Local(io::Error),
}

/// A non-blocking connection to `addr`, begun.
fn start(addr: SocketAddr) -> Result<Started, NotStarted> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)
        .map_err(io::Error::from)
        .and_then(above_stdio)
        .map_err(|error| match error.raw_os_error() {
            // A family the system lacks (no IPv6) is about the address.
            Some(libc::EAFNOSUPPORT) => NotStarted::Address(error),
            _ => NotStarted::Local(error),
        })?;
    match rustix::net::connect(&socket, &addr) {
        Ok(()) => Ok(Started::Connected(TcpStream::from(socket))),
        Err(rustix::io::Errno::INPROGRESS) => Ok(Started::Pending(socket)),
        Err(errno) => Err(NotStarted::Address(errno.into())),
    }
}

/// The indexes of the attempts in `pending` that have ended (connected or
/// failed) by `until`, highest first so that each can be removed in turn.
fn ready(pending: &[Pending], until: Instant) -> Vec<usize> {
    let left = until.saturating_duration_since(Instant::now());
    let timeout = Timespec {
        tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: left.subsec_nanos().into(),
    };
    let mut fds: Vec<PollFd> = pending
        .iter()
        .map(|attempt| PollFd::new(&attempt.socket, PollFlags::OUT))
        .collect();
    match poll(&mut fds, Some(&timeout)) {
        Ok(0) | Err(rustix::io::Errno::INTR) => Vec::new(),
        Ok(_) => (0..fds.len())
            .rev()
            .filter(|&index| !fds[index].revents().is_empty())
            .collect(),
        // poll fails only for a bad argument; let every attempt say so.
        Err(_) => (0..fds.len()).rev().collect(),
    }
}

/// No address of a host connected: every attempt, and how it ended.
#[derive(Debug)]
pub(crate) struct ConnectFailed {
    host: String,
    attempts: Vec<Attempt>,
    ending: Ending,
}

impl ConnectFailed {
    /// True when the deadline came before any attempt succeeded.
    pub(crate) fn timed_out(&self) -> bool {
        self.ending == Ending::Deadline
    }

    /// The error kind that best says why: a timeout at the deadline, else
    /// how the last attempt failed.
    pub(crate) fn kind(&self) -> io::ErrorKind {
        let last_failure = self
            .attempts
            .iter()
            .rev()
            .find_map(|attempt| match &attempt.outcome {
                Outcome::Failed(error) => Some(error.kind()),
                Outcome::NoAnswer(_) => None,
            });
        match (self.ending, last_failure) {
            (Ending::Deadline, _) | (_, None) => io::ErrorKind::TimedOut,
            (_, Some(kind)) => kind,
        }
    }

    /// The failure carried by `error`, when it is one.
    pub(crate) fn of(error: &io::Error) -> Option<&ConnectFailed> {
        error.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not connect to {}: ", self.host)?;
        if self.attempts.is_empty() {
            return f.write_str("no attempt could be made before the deadline");
        }
        for (index, attempt) in self.attempts.iter().enumerate() {
            let separator = if index == 0 { "" } else { "; " };
            match &attempt.outcome {
                Outcome::Failed(error) => write!(f, "{separator}{}: {error}", attempt.addr)?,
                Outcome::NoAnswer(after) if self.ending == Ending::Local => write!(
                    f,
                    "{separator}{}: given up after {} ms",
                    attempt.addr,
                    after.as_millis()
                )?,
                Outcome::NoAnswer(after) => write!(
                    f,
                    "{separator}{}: no answer in {} ms",
                    attempt.addr,
                    after.as_millis()
                )?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConnectFailed {}

impl From<ConnectFailed> for io::Error {
    fn from(failed: ConnectFailed) -> Self {
        io::Error::new(failed.kind(), failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|addr| addr.parse().unwrap()).collect()
    }

    #[test]
    fn families_alternate_from_the_first_or_the_remembered_one() {
        let given = addrs(&["[::1]:1", "[::2]:1", "[::3]:1", "10.0.0.1:1", "10.0.0.2:1"]);
        let expected = addrs(&["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1", "[::3]:1"]);
        assert_eq!(interleaved(&given, None), expected);
        let ipv4_first = addrs(&["10.0.0.1:1", "[::1]:1", "10.0.0.2:1", "[::2]:1", "[::3]:1"]);
        assert_eq!(interleaved(&given, Some(false)), ipv4_first);
        // A remembered family the host no longer has is ignored.
        let only_ipv4 = addrs(&["10.0.0.1:1", "10.0.0.2:1"]);
        assert_eq!(interleaved(&only_ipv4, Some(true)), only_ipv4);
        assert!(interleaved(&[], None).is_empty());
    }

    #[test]
    fn a_short_connect_limit_still_leaves_the_next_address_its_turn() {
        let now = Instant::now();
        assert_eq!(attempt_delay(now, None), ATTEMPT_DELAY);
        let far = now + Duration::from_secs(10);
        assert_eq!(attempt_delay(now, Some(far)), ATTEMPT_DELAY);
        let near = now + Duration::from_millis(200);
        assert_eq!(attempt_delay(now, Some(near)), Duration::from_millis(100));
        assert_eq!(attempt_delay(now, Some(now)), Duration::ZERO);
    }

    #[test]
    fn a_refused_address_gives_way_at_once_and_the_winner_is_remembered() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = TcpListener::bind("[::1]:0").unwrap().local_addr().unwrap();
        let eyeballs = Eyeballs::default();
        let started = Instant::now();
        let (_, winner) = eyeballs
            .connect(
                "h:1",
                &[closed, open],
                Some(started + Duration::from_secs(5)),
            )
            .unwrap();
        assert_eq!(winner, open);
        assert!(started.elapsed() < ATTEMPT_DELAY, "{:?}", started.elapsed());
        assert_eq!(eyeballs.remembered("h:1"), Some(false));
    }

    #[test]
    fn every_failed_attempt_is_named() {
        let first = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let second = TcpListener::bind("[::1]:0").unwrap().local_addr().unwrap();
        let failed = Eyeballs::default()
            .connect("h:1", &[first, second], None)
            .unwrap_err();
        let message = failed.to_string();
        assert!(
            message.starts_with("could not connect to h:1: 127.0.0.1:"),
            "{message}"
        );
        assert!(
            message.contains(&format!("; {second}: Connection refused")),
            "{message}"
        );
        assert_eq!(failed.kind(), io::ErrorKind::ConnectionRefused);
        assert!(!failed.timed_out());
    }
}
