//! Finding the server's addresses without a thread per request.
//!
//! With a time limit set, ureq's default resolver runs every lookup on a
//! new thread so that it can give up on a slow DNS server, even when the
//! host is an IP address and the connection comes from the pool. Each such
//! thread costs a clone and a stack that glibc keeps cached afterwards.
//! Here an IP address needs no lookup at all, and a name is looked up (by
//! ureq, with its time limit) at most once every [`CACHE_FOR`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long looked-up addresses are reused. getaddrinfo gives no TTL; this
/// is short enough to follow a DNS change soon, long enough that a busy
/// program looks up once in a while instead of on every call.
const CACHE_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct CachingResolver {
    lookup: DefaultResolver,
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let authority = uri
            .authority()
            .ok_or_else(|| ureq::Error::BadUri(uri.to_string()))?;
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let port = authority.port_u16().unwrap_or(default_port);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            let mut addresses = self.empty();
            addresses.push(SocketAddr::new(ip, port));
            return Ok(addresses);
        }
        let key = format!("{host}:{port}");
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((looked_up, addresses)) = cache.get(&key)
            && looked_up.elapsed() < CACHE_FOR
        {
            return Ok(addresses.clone());
        }
        // Looked up outside the lock: a slow DNS server must not hold up
        // the calls whose addresses are cached.
        drop(cache);
        let addresses = self.lookup.resolve(uri, config, timeout)?;
        cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(key, (Instant::now(), addresses.clone()));
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::Timeout;
    use ureq::unversioned::transport::time::Duration as UreqDuration;

    fn resolve(resolver: &CachingResolver, url: &str) -> Vec<SocketAddr> {
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
        let resolver = CachingResolver::default();
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
    fn names_are_looked_up_once_then_cached() {
        let resolver = CachingResolver::default();
        let first = resolve(&resolver, "http://localhost:9/");
        assert!(
            first.iter().all(|a| a.ip().is_loopback() && a.port() == 9),
            "{first:?}"
        );
        assert_eq!(resolver.cache.lock().unwrap().len(), 1);
        assert_eq!(resolve(&resolver, "http://localhost:9/"), first);
    }
}
