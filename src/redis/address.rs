//! A Redis server's URL, read strictly:
//! `redis://[[user]:password@]host[:port][/db][?prefix=P]`, and
//! `rediss://` for TLS. The password is a secret: it is kept apart, wiped
//! when dropped, and never shown; [`Address::describe`] shows the rest.

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use crate::authority::parse_host_port;
use crate::error::Error;

/// Redis's own port.
const DEFAULT_PORT: u16 = 6379;
/// Where a lineage's keys start when the URL names no prefix.
pub(crate) const DEFAULT_PREFIX: &str = "criteo-oauth:";
/// The longest URL taken, and the longest prefix.
const MAX_URL_BYTES: usize = 4096;
const MAX_PREFIX_BYTES: usize = 256;

pub(crate) struct Address {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) db: u32,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) prefix: String,
}

/// What `AUTH` sends: a password alone, or an ACL user and its password.
pub(crate) struct Credentials {
    pub(crate) user: Option<String>,
    pub(crate) password: Zeroizing<String>,
}

/// Whether `place` is a Redis URL rather than a directory.
pub(crate) fn is_redis_url(place: &str) -> bool {
    scheme_of(place).is_some()
}

/// Refuses a store that is meant as a URL but is not a Redis URL this
/// reads (`redis:host`, `redis:/:pw@host`, `http://...`), rather than make
/// a directory of that name. The place is not shown: it may hold a
/// password.
pub(crate) fn refuse_other_urls(place: &str) -> Result<(), Error> {
    let lower = place.to_ascii_lowercase();
    let scheme = lower.split_once("://").map(|(scheme, _)| scheme);
    let other_scheme = scheme.is_some_and(|scheme| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    });
    let mistyped_redis = ["redis:", "rediss:", "redis//", "rediss//"]
        .iter()
        .any(|start| lower.starts_with(start));
    if place.trim() != place {
        return Err(Error::invalid_argument(
            "the store begins or ends with white space (a URL or a directory never does here)",
        ));
    }
    match (is_redis_url(place), other_scheme || mistyped_redis) {
        (false, true) => Err(Error::invalid_argument(
            "the store looks like a URL but is not one this library reads: it takes \
             redis://[[user]:password@]host[:port][/db][?prefix=P], rediss://..., or a directory",
        )),
        _ => Ok(()),
    }
}

/// `Some(true)` for `rediss://`, `Some(false)` for `redis://`.
fn scheme_of(url: &str) -> Option<bool> {
    let (scheme, _) = url.split_once("://")?;
    match scheme.to_ascii_lowercase().as_str() {
        "redis" => Some(false),
        "rediss" => Some(true),
        _ => None,
    }
}

impl Address {
    /// Reads `url`; the error never holds the URL's user info.
    pub(crate) fn parse(url: &str) -> Result<Address, Error> {
        let refused = |why: &str| {
            Error::invalid_argument(format!(
                "the store URL {} is not valid: {why}",
                without_user_info(url)
            ))
        };
        if url.len() > MAX_URL_BYTES {
            return Err(Error::invalid_argument(format!(
                "the store URL is {} bytes long; at most {MAX_URL_BYTES} are taken",
                url.len()
            )));
        }
        if url.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
            return Err(refused("it holds a space or a control character"));
        }
        let tls =
            scheme_of(url).ok_or_else(|| refused("it must start with redis:// or rediss://"))?;
        let rest = &url[url.find("://").map_or(0, |at| at + 3)..];
        // The user info ends at the last `@`: a password may hold `/`, `?`
        // or `#` unescaped (so a prefix with `@` must be escaped).
        let (user_info, rest) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if rest.contains('#') {
            return Err(refused("it has a fragment (#)"));
        }
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
        let credentials = user_info
            .map(|info| credentials(info).map_err(&refused))
            .transpose()?;
        let checked =
            parse_host_port(host_port, "its authority").map_err(|e| refused(e.message()))?;
        let db = match path {
            "" => 0,
            digits => digits
                .parse()
                .ok()
                .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| refused("the path must be a database number, as /0"))?,
        };
        Ok(Address {
            tls,
            host: checked.host,
            port: checked.port.unwrap_or(DEFAULT_PORT),
            db,
            credentials,
            prefix: prefix(query).map_err(refused)?,
        })
    }

    /// The URL without its user info, for messages.
    pub(crate) fn describe(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}/{}", self.host_port(), self.db)
    }

    /// `host:port`, an IPv6 address in brackets.
    pub(crate) fn host_port(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }
}

/// `[user]:password`, each percent-decoded.
fn credentials(user_info: &str) -> Result<Credentials, &'static str> {
    let (user, password) = user_info
        .split_once(':')
        .ok_or("its user info must be [user]:password (a user with no password is not taken)")?;
    let decode = |part: &str| {
        if !is_well_escaped(part) {
            return Err("its user info has a % not followed by two hex digits");
        }
        percent_decode_str(part)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| "its user info is not UTF-8 once percent-decoded")
    };
    let password = Zeroizing::new(decode(password)?);
    if password.is_empty() {
        return Err("its password is empty");
    }
    let user = Some(decode(user)?).filter(|user| !user.is_empty());
    Ok(Credentials { user, password })
}

/// Whether every `%` in `text` starts an escape (`%` and two hex digits).
fn is_well_escaped(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(at, &byte)| {
        byte != b'%'
            || bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// The key prefix a query names (`prefix=P`, percent-decoded), or the
/// default.
fn prefix(query: &str) -> Result<String, &'static str> {
    let mut found = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "prefix" if found.is_none() => found = Some(value.into_owned()),
            "prefix" => return Err("it names prefix twice"),
            _ => return Err("the only parameter it may have is prefix"),
        }
    }
    let prefix = found.unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    if prefix.len() > MAX_PREFIX_BYTES {
        return Err("its prefix is longer than 256 bytes");
    }
    if prefix.chars().any(char::is_control) {
        return Err("its prefix holds a control character");
    }
    Ok(prefix)
}

/// `url` with what lies between `://` and its last `@` taken out: the
/// user info, however it is written.
fn without_user_info(url: &str) -> String {
    let Some(start) = url.find("://").map(|at| at + 3) else {
        return String::from("(not a URL)");
    };
    match url[start..].rfind('@') {
        Some(at) => format!("{}{}", &url[..start], &url[start + at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Address {
        Address::parse(url).unwrap_or_else(|e| panic!("{url}: {}", e.message()))
    }

    #[test]
    fn reads_every_part() {
        let address = parsed("rediss://app:p%40ss%3Aw@cache.example:6380/3?prefix=team%2Fa:");
        assert!(address.tls);
        assert_eq!(
            (address.host.as_str(), address.port, address.db),
            ("cache.example", 6380, 3)
        );
        let credentials = address.credentials.unwrap();
        assert_eq!(credentials.user.as_deref(), Some("app"));
        assert_eq!(credentials.password.as_str(), "p@ss:w");
        assert_eq!(address.prefix, "team/a:");
        let plain = parsed("REDIS://:pw@127.0.0.1");
        assert!(!plain.tls);
        assert_eq!((plain.port, plain.db), (6379, 0));
        assert_eq!(plain.credentials.unwrap().user, None);
        assert_eq!(plain.prefix, DEFAULT_PREFIX);
        assert_eq!(parsed("redis://[::1]:7/").describe(), "redis://[::1]:7/0");
        assert!(parsed("redis://h").credentials.is_none());
        let unescaped = parsed("redis://:a/b?c#d@h:1/2?prefix=p");
        assert_eq!(unescaped.credentials.unwrap().password.as_str(), "a/b?c#d");
        assert_eq!(
            (unescaped.host.as_str(), unescaped.port, unescaped.db),
            ("h", 1, 2)
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_without_showing_the_password() {
        for url in [
            "redis://:sekret@h/x",
            "redis://:sekret@h/1/2",
            "redis://:sekret@h:99999",
            "redis://:sekret@h:",
            "redis://:sekret@/0",
            "redis://:sekret@h?db=1",
            "redis://:sekret@h?prefix=a&prefix=b",
            "redis://:sekret@h#x",
            "redis://:sekret@h\n",
            "redis://sekret@h",
            "redis://user:@h",
            "redis://:%ff%fe@h",
            "redis://:sekret%zz@h",
            "redis://:sekret%4@h",
            "redis://:sek/ret@",
            "redis://u:sek/ret@h:0",
            "redis://u:sek?ret@h/x",
            "redis://u:sek#ret@h#",
        ] {
            let error = Address::parse(url).err().unwrap_or_else(|| panic!("{url}"));
            assert!(!error.message().contains("sek"), "{}", error.message());
            assert!(!error.message().contains("%ff"), "{}", error.message());
        }
        assert!(is_redis_url("rediss://h") && !is_redis_url("/var/run/store"));
        for mistyped in [
            "redis:127.0.0.1:6379",
            "REDIS:/:sekret@h",
            "http://h",
            "redis//:sekret@h",
            " redis://:sekret@h",
            "redis://:sekret@h\t",
        ] {
            let refused = refuse_other_urls(mistyped);
            assert!(refused.is_err(), "{mistyped}");
            if let Err(error) = refused {
                assert!(!error.message().contains("sek"), "{}", error.message());
            }
        }
        for place in [
            "garbage",
            "/run/criteo",
            "./a:b",
            "redis://h",
            "redis-cache",
        ] {
            assert!(refuse_other_urls(place).is_ok(), "{place}");
        }
        let long = format!("redis://:{}@h", "x".repeat(5000));
        let refused = Address::parse(&long).err().unwrap();
        assert!(!refused.message().contains("xxx"));
    }
}
