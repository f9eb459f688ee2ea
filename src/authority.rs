//! The host and port of a URL, checked strictly.
//!
//! `http::Uri` (ureq's parser) splits a URL into its parts but is lenient
//! about what it finds there: a port it cannot read as a `u16` (`:65616`,
//! `:+80`) is kept as text, and ureq then quietly connects to the scheme's
//! default port instead. A secret must go exactly where the caller wrote, so
//! every host and port is checked here, and anything that could be read two
//! ways is refused. curl is the model: it refuses the same ports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Error;

/// The port a URL means when it names none: 443 for https, else 80.
pub fn default_port(uri: &ureq::http::Uri) -> u16 {
    match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    }
}

/// The name `localhost` and the names under it (RFC 6761): always the
/// loopback interface, whatever a resolver says.
pub fn is_localhost_name(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// A checked host and port, as written (without brackets around IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    /// The host's IP address, when it is written as one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// A loopback IP address, or a `localhost` name.
    pub fn is_loopback(&self) -> bool {
        is_localhost_name(&self.host) || self.ip().is_some_and(|ip| ip.is_loopback())
    }
}

/// Checks `host_port` (the authority without any `user:password@`); `name`
/// names the setting in messages.
pub fn parse_host_port(host_port: &str, name: &str) -> Result<HostPort, Error> {
    let invalid = |why: String| Error::invalid_argument(format!("{name} {why}"));
    let (host, port) = split_port(host_port).map_err(invalid)?;
    check_host(host).map_err(invalid)?;
    let port = port.map(parse_port).transpose().map_err(invalid)?;
    Ok(HostPort {
        host: host.trim_start_matches('[').trim_end_matches(']').into(),
        port,
    })
}

/// `[v6]:port`, `host:port`, or either without a port.
fn split_port(host_port: &str) -> Result<(&str, Option<&str>), String> {
    let (host, rest) = match host_port.find(']') {
        Some(end) if host_port.starts_with('[') => host_port.split_at(end + 1),
        _ => match host_port.find(':') {
            Some(colon) => host_port.split_at(colon),
            None => (host_port, ""),
        },
    };
    match rest.strip_prefix(':') {
        Some(port) => Ok((host, Some(port))),
        None if rest.is_empty() => Ok((host, None)),
        None => Err(format!("has an unreadable host ({host_port:?})")),
    }
}

/// Plain decimal from 1 to 65535: no sign, no leading zero, not empty.
fn parse_port(port: &str) -> Result<u16, String> {
    let refuse = || {
        Err(format!(
            "has an invalid port {port:?} (expected a number from 1 to 65535, \
             in plain decimal digits)"
        ))
    };
    if port.is_empty() || port.starts_with('0') || !port.bytes().all(|b| b.is_ascii_digit()) {
        return refuse();
    }
    match port.parse::<u16>() {
        Ok(port) => Ok(port),
        Err(_) => refuse(),
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("has no host".into());
    }
    if let Some(inside) = host.strip_prefix('[') {
        let inside = inside.strip_suffix(']').unwrap_or(inside);
        return match inside.parse::<Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "has an invalid IPv6 address [{inside}] (zone IDs are not supported)"
            )),
        };
    }
    if host.contains('%') {
        return Err(format!(
            "has a percent-encoded host ({host}); write the host name as it is"
        ));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!(
            "has a host ({host}) with characters a host name cannot hold"
        ));
    }
    let labels = host.strip_suffix('.').unwrap_or(host);
    if labels.split('.').any(str::is_empty) {
        return Err(format!("has a host ({host}) with an empty label"));
    }
    // Resolvers read `127.1`, `0x7f.1` or `2130706433` as 127.0.0.1, and
    // `010.0.0.1` as 8.0.0.1: a host that ends like a number must be a
    // plain dotted-quad IPv4 address, so it cannot mean two things.
    let last = labels.rsplit('.').next().unwrap_or_default();
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err(format!(
            "has a host ({host}) that is not a valid IPv4 address \
             (write it as four decimal numbers, e.g. 127.0.0.1)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(host_port: &str) -> (String, Option<u16>) {
        let checked = parse_host_port(host_port, "base_url").unwrap();
        (checked.host, checked.port)
    }

    fn refused(host_port: &str) -> String {
        parse_host_port(host_port, "base_url")
            .unwrap_err()
            .message()
            .to_owned()
    }

    #[test]
    fn ports_from_1_to_65535_in_plain_digits() {
        assert_eq!(accepted("h:1"), ("h".into(), Some(1)));
        assert_eq!(accepted("h:65535"), ("h".into(), Some(65535)));
        assert_eq!(accepted("[::1]:8443"), ("::1".into(), Some(8443)));
        assert_eq!(accepted("127.0.0.1"), ("127.0.0.1".into(), None));
        for port in [
            "0", "65536", "65616", "70000", "99999", "+80", "-1", "080", "", "8a", " 80",
        ] {
            assert_eq!(
                refused(&format!("127.0.0.1:{port}")),
                format!(
                    "base_url has an invalid port {port:?} (expected a number from 1 to 65535, \
                     in plain decimal digits)"
                )
            );
        }
        assert!(refused("[::1]:99999").contains("invalid port \"99999\""));
        assert!(refused("h:1:2").contains("invalid port \"1:2\""));
    }

    #[test]
    fn hosts_that_could_be_read_two_ways_are_refused() {
        assert!(refused("%6cocalhost").contains("percent-encoded"));
        for host in [
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "010.0.0.1",
            "127.0.0.1.",
        ] {
            assert!(refused(host).contains("not a valid IPv4 address"), "{host}");
        }
        assert!(refused("a..b").contains("empty label"));
        assert!(refused("[fe80::1%25eth0]").contains("invalid IPv6 address"));
        assert!(refused("[::1]x").contains("unreadable host"));
        assert!(refused("h\\@x").contains("characters a host name cannot hold"));
        assert_eq!(refused(":80"), "base_url has no host");
        assert_eq!(
            accepted("api.criteo.com."),
            ("api.criteo.com.".into(), None)
        );
        assert_eq!(accepted("1e100.net"), ("1e100.net".into(), None));
    }

    #[test]
    fn loopback_is_an_address_or_a_localhost_name() {
        let loopback = |h: &str| parse_host_port(h, "x").unwrap().is_loopback();
        assert!(loopback("127.8.9.10") && loopback("[::1]") && loopback("LOCALHOST"));
        assert!(loopback("api.localhost"));
        assert!(!loopback("localhost.example") && !loopback("[::2]") && !loopback("0.0.0.0"));
    }
}
