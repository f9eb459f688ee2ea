//! HTTP CONNECT proxies: set explicitly, or read from the environment the
//! way curl reads it.

use std::fmt;

use base64::Engine;

use crate::authority::parse_host_port;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::secret::Secret;

/// Which proxy a client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// Whatever the environment says when the client is built.
    FromEnvironment,
    /// No proxy, whatever the environment says.
    Direct,
    Through(Proxy),
}

/// An `http://` proxy that tunnels with CONNECT, possibly with credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The whole URL, password included.
    url: Secret,
    shown: String,
    /// The password as written and percent-decoded, and the Basic
    /// credentials made of it, for redaction: a proxy sees them, and may
    /// echo them.
    password: Vec<Secret>,
}

impl Proxy {
    /// `http://[user:password@]host[:port]`; a missing scheme means
    /// `http://`, a missing port 80. `name` names the setting in messages.
    pub fn parse(url: &str, name: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::invalid_argument(format!("{name} {why}"));
        if url.contains(|c: char| c.is_control() || c == ' ') {
            return Err(invalid("contains a space or control character"));
        }
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        // The credentials are split off first, at the last '@': a '#', '?',
        // '/' or '@' in a password must never make the rest of it read as a
        // host, port, path or query that a message would quote.
        let (scheme, rest) = with_scheme.split_once("://").unwrap_or_default();
        let (userinfo, after_userinfo) = match rest.rsplit_once('@') {
            Some((userinfo, after)) => (Some(userinfo), after),
            None => (None, rest),
        };
        if userinfo.is_some_and(|userinfo| !is_userinfo(userinfo)) {
            return Err(invalid(
                "has a user name or password with characters that must be percent-encoded \
                 ('@', '/', '?', '#', '%' not followed by two hex digits, or a space); \
                 it is not shown",
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(invalid(
                "must be an http:// proxy (CONNECT); other kinds are not supported",
            ));
        }
        let host_port = after_userinfo.strip_suffix('/').unwrap_or(after_userinfo);
        if host_port.contains(['/', '?', '#']) {
            return Err(invalid("must not have a path, query or fragment"));
        }
        // Without an '@', `user:password` reads as `host:port`: a port
        // that is not digits is refused without being quoted.
        if userinfo.is_none() && !has_numeric_port_or_none(host_port) {
            return Err(invalid(
                "has an invalid port (not shown: it may be a password; credentials go before \
                 an '@', e.g. http://user:password@proxy.example:3128)",
            ));
        }
        parse_host_port(host_port, name)?;
        // ureq reads the URL again when the client is built: what it cannot
        // read is refused here, naming the setting.
        ureq::Proxy::new(&with_scheme).map_err(|_| {
            invalid("is not a valid proxy URL (percent-encode any '@', ':' or '%' in the user name or password)")
        })?;
        let (user, password) = match userinfo.map(|userinfo| userinfo.split_once(':')) {
            Some(Some((user, password))) => (Some(user), Some(password)),
            Some(None) => (userinfo, None),
            None => (None, None),
        };
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let basic = |user: &str, password: &str| {
            Secret::new(
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
            )
        };
        let password: Vec<Secret> = password
            .into_iter()
            .flat_map(|written| {
                let user = user.unwrap_or_default();
                [
                    Secret::new(written),
                    Secret::new(decode(written)),
                    // The Proxy-Authorization credentials, which a proxy may echo.
                    basic(user, written),
                    basic(&decode(user), &decode(written)),
                ]
            })
            .collect();
        let shown = match user {
            Some(user) => format!("http://{user}@{host_port}"),
            None => format!("http://{host_port}"),
        };
        Ok(Proxy {
            url: Secret::new(with_scheme),
            shown,
            password,
        })
    }

    /// The password, as written and decoded: no message may hold it.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.password.iter().map(Secret::expose)
    }

    /// The proxy's URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub(crate) fn to_ureq(&self) -> Result<ureq::Proxy, Error> {
        ureq::Proxy::new(self.url.expose())
            .map_err(|e| Error::invalid_argument(format!("proxy {}: {e}", self.shown)))
    }

    /// The proxy the environment asks for `endpoint`, as curl reads it:
    /// `https_proxy` / `HTTPS_PROXY` for https (`http_proxy` for http),
    /// then `all_proxy` / `ALL_PROXY`; none when `no_proxy` / `NO_PROXY`
    /// covers the host. `env` looks a variable up.
    pub fn from_environment(
        endpoint: &Endpoint,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, Error> {
        let names: &[&str] = if endpoint.is_https() {
            &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        } else {
            // Like curl, not HTTP_PROXY: CGI servers set it from a request header.
            &["http_proxy", "all_proxy", "ALL_PROXY"]
        };
        let Some((name, url)) = names.iter().find_map(|name| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*name, v))
        }) else {
            return Ok(None);
        };
        let no_proxy = env("no_proxy")
            .or_else(|| env("NO_PROXY"))
            .unwrap_or_default();
        if no_proxy_covers(&no_proxy, endpoint.host()) {
            return Ok(None);
        }
        Proxy::parse(url.trim(), name).map(Some)
    }
}

/// `host`, `host:digits` or `[v6]:digits`: anything else after a ':'
/// might be a password written without its '@'.
fn has_numeric_port_or_none(host_port: &str) -> bool {
    let after_host = match host_port.rfind(']') {
        Some(end) => &host_port[end + 1..],
        None => host_port,
    };
    match after_host.split_once(':') {
        Some((_, port)) => port.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    }
}

/// What RFC 3986 allows in userinfo: unreserved characters, sub-delims,
/// ':' and percent-escapes of two hex digits.
fn is_userinfo(userinfo: &str) -> bool {
    let bytes = userinfo.as_bytes();
    bytes.iter().enumerate().all(|(at, &byte)| match byte {
        b'%' => bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
        byte => byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:".contains(&byte),
    })
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({})", self.shown)
    }
}

/// Whether a `NO_PROXY` list covers `host`: `*`, the host itself, or a
/// domain it is under (`example.com` and `.example.com` both cover
/// `api.example.com`). Ports in the list are ignored.
fn no_proxy_covers(list: &str, host: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = strip_port(entry)
                .trim_start_matches('.')
                .to_ascii_lowercase();
            host == entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

fn strip_port(entry: &str) -> &str {
    if let Some(bracketed) = entry.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::Redactor;

    #[test]
    fn the_basic_credentials_a_proxy_is_sent_are_secrets_too() {
        let proxy = Proxy::parse("http://bob:s3cret@proxy.example:3128", "proxy_url").unwrap();
        let secrets: Vec<&str> = proxy.secrets().collect();
        assert!(secrets.contains(&"s3cret"), "{secrets:?}");
        // base64("bob:s3cret"), what Proxy-Authorization carries.
        assert!(secrets.contains(&"Ym9iOnMzY3JldA=="), "{secrets:?}");
        let redacted = Redactor::new(proxy.secrets()).redact("echo: Basic Ym9iOnMzY3JldA==");
        assert_eq!(redacted, "echo: Basic [redacted]");
    }

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn chosen(base_url: &str, pairs: &[(&str, &str)]) -> Option<String> {
        let endpoint = Endpoint::parse(base_url).unwrap();
        Proxy::from_environment(&endpoint, env_of(pairs))
            .unwrap()
            .map(|p| p.shown().to_owned())
    }

    #[test]
    fn password_never_shown() {
        let proxy = Proxy::parse("http://alice:s3cret@proxy.example:3128", "proxy_url").unwrap();
        assert_eq!(proxy.shown(), "http://alice@proxy.example:3128");
        assert_eq!(
            format!("{proxy:?}"),
            "Proxy(http://alice@proxy.example:3128)"
        );
        assert_eq!(
            Proxy::parse("proxy:8080", "proxy_url").unwrap().shown(),
            "http://proxy:8080"
        );
    }

    #[test]
    fn unusable_proxy_urls() {
        let message = |url| {
            Proxy::parse(url, "proxy_url")
                .unwrap_err()
                .message()
                .to_owned()
        };
        assert_eq!(
            message("socks5://p:1080"),
            "proxy_url must be an http:// proxy (CONNECT); other kinds are not supported"
        );
        assert_eq!(
            message("http://p:1/path"),
            "proxy_url must not have a path, query or fragment"
        );
        assert_eq!(message("http://"), "proxy_url has no host");
        assert_eq!(
            message("http://p\n"),
            "proxy_url contains a space or control character"
        );
        // Found by the c_strings fuzz target.
        assert!(message("http://AAA%AAA@PP@P.PP").contains("must be percent-encoded"));
    }

    /// Every way a password can hold a character that ends the userinfo,
    /// in every position: no message shows any piece of it.
    #[test]
    fn no_message_shows_a_piece_of_the_password() {
        let passwords = [
            "Zq9PW#x",
            "#Zq9PWx",
            "Zq9PWx#",
            "Zq9?PWx",
            "Zq9/PWx",
            "Zq9@PWx",
            "Zq9PWx@",
            "@Zq9PWx",
            "Zq#9?P/W@x",
            "Zq9%zzPWx",
            "Zq9 PWx",
        ];
        for password in passwords {
            for url in [
                format!("http://alice:{password}@proxy.corp:3128"),
                format!("alice:{password}@proxy.corp:3128"),
                format!("http://alice:{password}@proxy.corp:3128/"),
                format!("http://alice:{password}@proxy.corp:99999"),
                format!("http://alice:{password}@"),
                format!("http://{password}@proxy.corp:3128"),
                format!("socks5://alice:{password}@proxy.corp:1080"),
                format!("alice:{password}"),
                format!("http://alice:{password}:8080"),
            ] {
                // With no host and an '@' in it, the rest of the password
                // is the host: no reading could tell.
                if password.contains('@') && !url.contains("proxy.corp") {
                    continue;
                }
                let shown = match Proxy::parse(&url, "proxy_url") {
                    Ok(proxy) => proxy.shown().to_owned() + &format!("{proxy:?}"),
                    Err(error) => error.message().to_owned(),
                };
                for piece in pieces_of(password) {
                    assert!(!shown.contains(&piece), "{url}: {shown} shows {piece:?}");
                }
            }
        }
    }

    /// Every run of three or more characters of `secret` that holds a
    /// letter or digit of it.
    fn pieces_of(secret: &str) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        let mut pieces = Vec::new();
        for start in 0..chars.len() {
            for end in start + 3..=chars.len() {
                let piece: String = chars[start..end].iter().collect();
                if piece.chars().any(|c| c.is_ascii_alphanumeric()) {
                    pieces.push(piece);
                }
            }
        }
        pieces
    }

    #[test]
    fn environment_is_read_as_curl_reads_it() {
        let https = "https://api.criteo.com";
        assert_eq!(chosen(https, &[]), None);
        assert_eq!(
            chosen(https, &[("HTTPS_PROXY", "http://a:1")]).as_deref(),
            Some("http://a:1")
        );
        assert_eq!(
            chosen(
                https,
                &[("HTTPS_PROXY", "http://a:1"), ("https_proxy", "http://b:1")]
            )
            .as_deref(),
            Some("http://b:1")
        );
        assert_eq!(
            chosen(
                https,
                &[("ALL_PROXY", "http://c:1"), ("HTTPS_PROXY", "http://a:1")]
            )
            .as_deref(),
            Some("http://a:1"),
            "the scheme's own variable wins over ALL_PROXY"
        );
        assert_eq!(
            chosen(https, &[("ALL_PROXY", "http://c:1")]).as_deref(),
            Some("http://c:1")
        );
        assert_eq!(chosen(https, &[("HTTP_PROXY", "http://d:1")]), None);
        assert_eq!(chosen(https, &[("HTTPS_PROXY", "  ")]), None);
        let http = "http://127.0.0.1:8080";
        assert_eq!(
            chosen(http, &[("HTTP_PROXY", "http://d:1")]),
            None,
            "never HTTP_PROXY"
        );
        assert_eq!(
            chosen(http, &[("http_proxy", "http://d:1")]).as_deref(),
            Some("http://d:1")
        );
    }

    #[test]
    fn no_proxy_bypasses() {
        let proxy = ("HTTPS_PROXY", "http://a:1");
        let https = "https://api.criteo.com";
        for list in [
            "*",
            "api.criteo.com",
            "criteo.com",
            ".criteo.com",
            "x.org, criteo.com:443",
            "API.CRITEO.COM",
        ] {
            assert_eq!(chosen(https, &[proxy, ("NO_PROXY", list)]), None, "{list}");
        }
        for list in ["", "riteo.com", "x.org", "api.criteo.com.evil"] {
            assert!(
                chosen(https, &[proxy, ("no_proxy", list)]).is_some(),
                "{list}"
            );
        }
        assert_eq!(
            chosen("https://[::1]:8443", &[proxy, ("NO_PROXY", "[::1]")]),
            None
        );
        assert_eq!(
            chosen(
                "https://127.0.0.1:8443",
                &[proxy, ("NO_PROXY", "127.0.0.1")]
            ),
            None
        );
    }

    #[test]
    fn a_bad_proxy_variable_is_named() {
        let endpoint = Endpoint::parse("https://api.criteo.com").unwrap();
        let error = Proxy::from_environment(&endpoint, env_of(&[("HTTPS_PROXY", "socks5://p")]))
            .unwrap_err();
        assert_eq!(
            error.message(),
            "HTTPS_PROXY must be an http:// proxy (CONNECT); other kinds are not supported"
        );
    }
}
