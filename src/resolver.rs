//! Finding the server's addresses without a thread per request.
//!
//! With a time limit set, ureq's default resolver runs every lookup on a
//! new thread so that it can give up on a slow DNS server, even when the
//! host is an IP address and the connection comes from the pool. Each such
//! thread costs a clone and a stack that glibc keeps cached afterwards.
//! Here an IP address needs no lookup at all, and a name is looked up (on a
//! thread, within the time limit) at most once every [`CACHE_FOR`]. A
//! thread that cannot be started (a process at its limit of threads) is a
//! transport error that says so, not a panic.
//!
//! `localhost` and the names under it are never looked up: they are the
//! loopback addresses (RFC 6761, as curl does), so a hosts file or DNS
//! server that says otherwise cannot send a plain-HTTP request elsewhere.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::panic;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::authority::{default_port, is_localhost_name, parse_host_port};
use crate::connect::interleaved;
use crate::descriptors::is_out_of_descriptors;
use crate::process::QuietPanics;
use crate::threads;
use crate::trace::{self, EventKind};

/// How long looked-up addresses are reused. getaddrinfo gives no TTL; this
/// is short enough to follow a DNS change soon, long enough that a busy
/// program looks up once in a while instead of on every call.
const CACHE_FOR: Duration = Duration::from_secs(30);

/// Caches what `lookup` (the system's resolver, but for tests) finds.
#[derive(Debug, Default)]
pub(crate) struct CachingResolver<L = SystemLookup> {
    lookup: L,
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl<L: Resolver> Resolver for CachingResolver<L> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let authority = uri
            .authority()
            .ok_or_else(|| ureq::Error::BadUri(uri.to_string()))?;
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, host_port)| host_port);
        // The same strict reading as the client's settings: never the
        // default port in place of one that cannot be read.
        let checked =
            parse_host_port(host_port, "url").map_err(|_| ureq::Error::BadUri(uri.to_string()))?;
        let (host, port) = (
            checked.host.as_str(),
            checked.port.unwrap_or(default_port(uri)),
        );
        if let Some(ip) = checked.ip() {
            return Ok(self.these(&[ip], port));
        }
        if is_localhost_name(host) {
            let addresses = self.these(
                &[Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
                port,
            );
            trace::note(EventKind::Lookup, || {
                format!("{host}: {} (localhost, not looked up)", listed(&addresses))
            });
            return Ok(addresses);
        }
        let key = format!("{host}:{port}");
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((looked_up, addresses)) = cache.get(&key)
            && looked_up.elapsed() < CACHE_FOR
        {
            let addresses = addresses.clone();
            trace::note(EventKind::Lookup, || {
                format!("{host}: {} (cached)", listed(&addresses))
            });
            return Ok(addresses);
        }
        // Looked up outside the lock: a slow DNS server must not hold up
        // the calls whose addresses are cached.
        drop(cache);
        let started = Instant::now();
        let looked_up = self.lookup.resolve(uri, config, timeout);
        trace::note(EventKind::Lookup, || match &looked_up {
            Ok(addresses) => format!(
                "{host}: {} (looked up in {} ms)",
                listed(addresses),
                started.elapsed().as_millis()
            ),
            Err(error) => format!("{host}: {error} after {} ms", started.elapsed().as_millis()),
        });
        let addresses = looked_up?;
        cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(key, (Instant::now(), addresses.clone()));
        Ok(addresses)
    }
}

/// The system's resolver (`getaddrinfo`), on a thread of its own when there
/// is a time limit, so that a slow DNS server cannot hold the call longer.
/// One lookup per name at a time: calls for a name whose lookup is still
/// under way (a DNS server that never answers) wait for that one, each
/// within its own limit, rather than start a thread of their own.
#[derive(Debug, Default)]
pub(crate) struct SystemLookup {
    under_way: Arc<Mutex<HashMap<String, Arc<Lookup>>>>,
}

impl Resolver for SystemLookup {
    fn resolve(
        &self,
        uri: &Uri,
        _: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (scheme, authority) = uri
            .scheme()
            .zip(uri.authority())
            .ok_or_else(|| ureq::Error::BadUri(uri.to_string()))?;
        let name = DefaultResolver::host_and_port(scheme, authority)
            .ok_or_else(|| ureq::Error::BadUri(uri.to_string()))?;
        let host = authority.host().to_owned();
        let found = if timeout.after.is_not_happening() {
            look_up(&name, &host)
        } else {
            let lookup = self.lookup_of(name, host)?;
            lookup
                .wait(*timeout.after)
                .ok_or(ureq::Error::Timeout(timeout.reason))?
        };
        let found = found.map_err(LookupFailed::into_io)?;
        // Both families kept when there are more addresses than fit: the
        // connection races them (see `connect`).
        let mut addresses = self.empty();
        for address in interleaved(&found, None) {
            if addresses.try_push(address).is_err() {
                break;
            }
        }
        match addresses.is_empty() {
            true => Err(ureq::Error::HostNotFound),
            false => Ok(addresses),
        }
    }
}

impl SystemLookup {
    /// The lookup of `name` under way, or a new one on a thread of its own.
    fn lookup_of(&self, name: String, host: String) -> Result<Arc<Lookup>, ureq::Error> {
        let mut under_way = self
            .under_way
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(lookup) = under_way.get(&name) {
            return Ok(Arc::clone(lookup));
        }
        let lookup = Arc::new(Lookup::default());
        let (answer, all) = (Arc::clone(&lookup), Arc::clone(&self.under_way));
        let key = name.clone();
        let started = threads::spawn("criteo-oauth lookup", move || {
            let _quiet = QuietPanics::enter();
            // Answered even if the lookup panics: no waiter waits in vain,
            // and the name does not stay "under way" for good.
            let found = panic::catch_unwind(|| look_up(&name, &host)).unwrap_or_else(|_| {
                Err(LookupFailed {
                    kind: io::ErrorKind::Other,
                    temporary: false,
                    message: format!("the lookup of {host} ended without an answer"),
                })
            });
            answer.answer(found);
            let mut under_way = all.lock().unwrap_or_else(PoisonError::into_inner);
            if under_way
                .get(&name)
                .is_some_and(|l| Arc::ptr_eq(l, &answer))
            {
                under_way.remove(&name);
            }
        });
        if let Err(error) = started {
            let message = format!(
                "could not start a thread to look up {} ({error}): the process may be at its \
                 limit of threads (ulimit -u)",
                key.rsplit_once(':').map_or(key.as_str(), |(host, _)| host)
            );
            let failure = LookupFailed {
                kind: error.kind(),
                temporary: false,
                message,
            };
            return Err(failure.into_io().into());
        }
        under_way.insert(key, Arc::clone(&lookup));
        Ok(lookup)
    }
}

/// What a lookup found: the addresses, or why there are none.
type Found = Result<Vec<SocketAddr>, LookupFailed>;

/// A lookup under way on its thread, and its answer once it has come.
#[derive(Debug, Default)]
struct Lookup {
    found: Mutex<Option<Found>>,
    came: Condvar,
}

impl Lookup {
    fn answer(&self, found: Found) {
        *self.found.lock().unwrap_or_else(PoisonError::into_inner) = Some(found);
        self.came.notify_all();
    }

    /// The answer, or `None` when it has not come within `limit`.
    fn wait(&self, limit: Duration) -> Option<Found> {
        let found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        let (found, _) = self
            .came
            .wait_timeout_while(found, limit, |found| found.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        found.clone()
    }
}

/// `getaddrinfo` for `name` (`host:port`), its failure said in our words.
fn look_up(name: &str, host: &str) -> Found {
    match name.to_socket_addrs() {
        Ok(found) => Ok(found.collect()),
        Err(error) => Err(lookup_failed(host, error)),
    }
}

/// What glibc's resolver says for `EAI_AGAIN` (a SERVFAIL, a DNS server
/// that did not answer), as std reports it. (Under a translated locale the
/// words differ, and such a failure is taken as definite.)
const TEMPORARY_FAILURE: &str = "Temporary failure in name resolution";

/// A failed name lookup, carried inside the `io::Error` that ureq passes
/// on, so that the retry rule can tell a temporary failure (tried again,
/// like a refused connection) from a definite one (an unknown name).
#[derive(Debug, Clone)]
struct LookupFailed {
    kind: io::ErrorKind,
    temporary: bool,
    message: String,
}

impl LookupFailed {
    fn into_io(self) -> io::Error {
        io::Error::new(self.kind, self)
    }
}

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LookupFailed {}

/// True for a name lookup that failed for now and may work if tried again.
pub(crate) fn is_temporary_lookup_failure(error: &io::Error) -> bool {
    let failure = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<LookupFailed>());
    failure.is_some_and(|failure| failure.temporary)
}

/// Says what went wrong with looking `host` up, in words of our own: std's
/// "failed to lookup address information: ..." reads badly after "failed:",
/// and a resolver that cannot open a file says "Name or service not known".
fn lookup_failed(host: &str, error: io::Error) -> LookupFailed {
    let text = error.to_string();
    let detail = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    let out_of_files = std::fs::File::open("/dev/null")
        .err()
        .filter(is_out_of_descriptors);
    let message = match out_of_files {
        Some(files) => format!("could not look up {host}: no file descriptor is left ({files})"),
        None => format!("could not look up {host}: {detail}"),
    };
    LookupFailed {
        kind: error.kind(),
        temporary: detail == TEMPORARY_FAILURE,
        message,
    }
}

/// The addresses, for the trace.
fn listed(addresses: &ResolvedSocketAddrs) -> String {
    let addresses: Vec<String> = addresses.iter().map(SocketAddr::to_string).collect();
    addresses.join(", ")
}

impl<L> CachingResolver<L> {
    fn these(&self, ips: &[IpAddr], port: u16) -> ResolvedSocketAddrs
    where
        Self: Resolver,
    {
        let mut addresses = self.empty();
        for &ip in ips {
            addresses.push(SocketAddr::new(ip, port));
        }
        addresses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::Timeout;
    use ureq::unversioned::transport::time::Duration as UreqDuration;

    /// Answers every lookup with 192.0.2.1 and counts the lookups.
    #[derive(Debug, Default)]
    struct CountingLookup(std::sync::atomic::AtomicUsize);

    impl Resolver for CountingLookup {
        fn resolve(
            &self,
            uri: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let port = uri.port_u16().unwrap_or(80);
            let mut addresses = self.empty();
            addresses.push(SocketAddr::new([192, 0, 2, 1].into(), port));
            Ok(addresses)
        }
    }

    fn resolve<L: Resolver>(resolver: &CachingResolver<L>, url: &str) -> Vec<SocketAddr> {
        let timeout = NextTimeout {
            after: UreqDuration::from_secs(5),
            reason: Timeout::Resolve,
            ..NextTimeout::default()
        };
        let addresses = resolver
            .resolve(&url.parse().unwrap(), &Config::default(), timeout)
            .unwrap();
        addresses.iter().copied().collect()
    }

    #[test]
    fn ip_addresses_need_no_lookup() {
        let resolver = CachingResolver::<CountingLookup>::default();
        assert_eq!(
            resolve(&resolver, "http://127.0.0.1:8080/x"),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve(&resolver, "https://[::1]/"),
            ["[::1]:443".parse().unwrap()]
        );
        assert!(resolver.cache.lock().unwrap().is_empty());
    }

    #[test]
    fn localhost_names_are_the_loopback_addresses_without_a_lookup() {
        let resolver = CachingResolver::<CountingLookup>::default();
        let loopback: Vec<SocketAddr> =
            vec!["127.0.0.1:9".parse().unwrap(), "[::1]:9".parse().unwrap()];
        assert_eq!(resolve(&resolver, "http://localhost:9/"), loopback);
        assert_eq!(resolve(&resolver, "http://API.LOCALHOST:9/"), loopback);
        assert!(resolver.cache.lock().unwrap().is_empty());
    }

    #[test]
    fn names_are_looked_up_once_then_cached() {
        let resolver = CachingResolver::<CountingLookup>::default();
        let first = resolve(&resolver, "http://api.example:9/");
        assert_eq!(first, ["192.0.2.1:9".parse().unwrap()]);
        assert_eq!(resolve(&resolver, "http://api.example:9/"), first);
        assert_eq!(
            resolver.lookup.0.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
        resolve(&resolver, "http://localhost:9/");
        resolve(&resolver, "http://127.0.0.1:9/");
        assert_eq!(
            resolver.lookup.0.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    }

    #[test]
    fn an_unreadable_port_is_an_error_not_the_default() {
        let resolver = CachingResolver::<CountingLookup>::default();
        let uri = "http://127.0.0.1:65616/".parse().unwrap();
        let timeout = NextTimeout::default();
        assert!(matches!(
            resolver.resolve(&uri, &Config::default(), timeout),
            Err(ureq::Error::BadUri(_))
        ));
    }
}
