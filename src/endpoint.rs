//! Where token requests go: `{base_url}/oauth2/token`, checked so that a
//! secret never crosses a network in clear.

use ureq::http::Uri;

use crate::authority::parse_host_port;
use crate::error::Error;

/// A checked token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    token_url: String,
    host: String,
    https: bool,
}

impl Endpoint {
    /// From the API's base URL, e.g. `https://api.criteo.com`. A path prefix
    /// is kept (`http://127.0.0.1:8080/mock` posts to `/mock/oauth2/token`).
    /// `http://` is accepted only for loopback hosts.
    pub fn parse(base_url: &str) -> Result<Self, Error> {
        let url = CheckedUrl::parse("base_url", base_url, "the client secret")?;
        let prefix = url.path.trim_end_matches('/');
        Ok(Endpoint {
            token_url: format!("{}://{}{prefix}/oauth2/token", url.scheme, url.authority),
            host: url.host,
            https: url.scheme == "https",
        })
    }

    /// The full URL requests are posted to.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The host name or IP address, lowercase, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

/// Where the consent step sends the user (Criteo's consent page), checked
/// as the API's base URL is; kept as given.
pub fn checked_consent_url(url: &str) -> Result<String, Error> {
    CheckedUrl::parse("consent_url", url, "the user's sign-in")?;
    Ok(url.to_owned())
}

/// An https URL (or http to a loopback host), with a host and no query,
/// fragment or credentials; `name` is the argument named in errors, and
/// `what_crosses` what plain http would expose.
struct CheckedUrl {
    scheme: String,
    authority: String,
    path: String,
    /// Lowercase, without brackets.
    host: String,
}

impl CheckedUrl {
    fn parse(name: &str, url: &str, what_crosses: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::invalid_argument(format!("{name} {why}"));
        if url.contains(|c: char| c.is_control() || c == ' ') {
            return Err(invalid("contains a space or control character"));
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| invalid("is not a valid URL (expected e.g. https://api.criteo.com)"))?;
        let scheme = uri.scheme_str().unwrap_or_default();
        if !matches!(scheme, "http" | "https") {
            return Err(invalid("must start with https:// or http://"));
        }
        let authority = uri
            .authority()
            .filter(|authority| !authority.host().is_empty())
            .ok_or_else(|| invalid("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("must not carry credentials"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(invalid("must not have a query or fragment"));
        }
        let host = parse_host_port(authority.as_str(), name)?;
        if scheme != "https" && !host.is_loopback() {
            return Err(invalid(&format!(
                "uses http:// for a host that is not loopback (127.0.0.0/8, ::1, localhost, \
                 *.localhost): {what_crosses} would cross the network in clear; use https://"
            )));
        }
        Ok(CheckedUrl {
            scheme: scheme.to_owned(),
            authority: authority.to_string(),
            path: uri.path().to_owned(),
            host: host.host.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn token_url(base_url: &str) -> String {
        Endpoint::parse(base_url).unwrap().token_url().to_owned()
    }

    #[test]
    fn token_url_keeps_a_path_prefix() {
        assert_eq!(
            token_url("https://api.criteo.com"),
            "https://api.criteo.com/oauth2/token"
        );
        assert_eq!(
            token_url("https://api.criteo.com/"),
            "https://api.criteo.com/oauth2/token"
        );
        assert_eq!(
            token_url("http://127.0.0.1:8080/mock/"),
            "http://127.0.0.1:8080/mock/oauth2/token"
        );
        assert_eq!(
            token_url("http://[::1]:9/a/b"),
            "http://[::1]:9/a/b/oauth2/token"
        );
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for url in [
            "http://127.0.0.1",
            "http://127.8.9.10:1",
            "http://[::1]:80",
            "http://LOCALHOST:8",
        ] {
            let endpoint = Endpoint::parse(url).unwrap();
            assert!(!endpoint.is_https(), "{url}");
        }
        for url in [
            "http://api.criteo.com",
            "http://10.0.0.1",
            "http://localhost.attacker.example",
            "http://128.0.0.1",
            "http://[::2]",
            "http://0.0.0.0",
        ] {
            let error = Endpoint::parse(url).unwrap_err();
            assert!(
                error.message().contains("not loopback"),
                "{url}: {}",
                error.message()
            );
        }
        assert_eq!(Endpoint::parse("https://[::1]:8443").unwrap().host(), "::1");
    }

    #[test]
    fn unusable_hosts_are_refused_with_a_reason() {
        let cases = [
            (
                "",
                "base_url is not a valid URL (expected e.g. https://api.criteo.com)",
            ),
            (
                "api.criteo.com",
                "base_url must start with https:// or http://",
            ),
            (
                "ftp://api.criteo.com",
                "base_url must start with https:// or http://",
            ),
            (
                "https://",
                "base_url is not a valid URL (expected e.g. https://api.criteo.com)",
            ),
            (
                "https://user:pw@api.criteo.com",
                "base_url must not carry credentials",
            ),
            (
                "https://api.criteo.com/?x=1",
                "base_url must not have a query or fragment",
            ),
            (
                "https://api.criteo.com/#x",
                "base_url must not have a query or fragment",
            ),
            (
                "https://api.criteo.com/a b",
                "base_url contains a space or control character",
            ),
        ];
        for (url, message) in cases {
            let error = Endpoint::parse(url).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidArgument);
            assert_eq!(error.message(), message, "{url}");
        }
    }
}
