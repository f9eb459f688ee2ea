//! The client: validated configuration, one HTTP agent (so connections are
//! reused), and the token call itself.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::http::{HeaderMap, Uri, header};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::request::TokenRequest;
use crate::response::{Answer, AnswerBody, MAX_BODY_BYTES, interpret};
use crate::sanitize::Redactor;
use crate::token::Token;

pub const DEFAULT_HOST: &str = "https://api.criteo.com";
pub const USER_AGENT: &str = concat!("criteo-oauth/", env!("CARGO_PKG_VERSION"));
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_RETRIES_LIMIT: u32 = 10;
/// Idle connections kept for reuse: enough for a busy multi-threaded program
/// to stop opening new ones (ureq keeps 3 by default).
const MAX_IDLE_CONNECTIONS: usize = 32;
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// How a [`Client`] is set up. Each setter checks its input at once.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    token_url: String,
    connect_timeout: Duration,
    total_timeout: Duration,
    max_retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            token_url: token_url_for(DEFAULT_HOST).expect("the default host is valid"),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_retries: 2,
        }
    }
}

impl ClientConfig {
    /// The API's base URL, e.g. `https://api.criteo.com`; a path prefix is
    /// kept (`http://127.0.0.1:8080/mock` posts to `/mock/oauth2/token`).
    pub fn set_host(&mut self, base_url: &str) -> Result<(), Error> {
        self.token_url = token_url_for(base_url)?;
        Ok(())
    }

    /// Time limits in milliseconds for connecting and for the whole call;
    /// 0 keeps the default (10 s and 30 s).
    pub fn set_timeouts(&mut self, connect_ms: u32, total_ms: u32) -> Result<(), Error> {
        let or_default = |ms: u32, default| match ms {
            0 => default,
            ms => Duration::from_millis(ms.into()),
        };
        let connect = or_default(connect_ms, DEFAULT_CONNECT_TIMEOUT);
        let total = or_default(total_ms, DEFAULT_TOTAL_TIMEOUT);
        if connect > total {
            return Err(Error::invalid_argument(format!(
                "connect_ms ({} ms) must not exceed total_ms ({} ms)",
                connect.as_millis(),
                total.as_millis()
            )));
        }
        self.connect_timeout = connect;
        self.total_timeout = total;
        Ok(())
    }

    /// How many times a failed call may be retried (0 to 10).
    pub fn set_max_retries(&mut self, max_retries: u32) -> Result<(), Error> {
        if max_retries > MAX_RETRIES_LIMIT {
            return Err(Error::invalid_argument(format!(
                "max_retries ({max_retries}) must be at most {MAX_RETRIES_LIMIT}"
            )));
        }
        self.max_retries = max_retries;
        Ok(())
    }

    pub fn build(&self) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .accept("application/json")
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.total_timeout))
            .max_idle_connections(MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
            .build()
            .new_agent();
        Client {
            agent,
            token_url: self.token_url.as_str().into(),
            max_retries: self.max_retries,
        }
    }
}

/// A configured connection to the token endpoint. Cheap to clone; clones
/// share connections. Safe to use from many threads at once.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    token_url: Arc<str>,
    max_retries: u32,
}

impl Client {
    /// The process-wide client for `https://api.criteo.com`, made on first use.
    pub fn shared_default() -> &'static Client {
        static DEFAULT: OnceLock<Client> = OnceLock::new();
        DEFAULT.get_or_init(|| ClientConfig::default().build())
    }

    /// The full URL requests are posted to.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// `POST {host}/oauth2/token` with the request as a form; redirects are
    /// never followed.
    pub fn get_token(&self, request: &TokenRequest) -> Result<Token, Error> {
        let form = request.form_body();
        let mut response = self
            .agent
            .post(&*self.token_url)
            .header(header::CONTENT_TYPE, FORM_CONTENT_TYPE)
            .send(form.as_bytes())
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let body = read_body(response.body_mut())
            .map_err(|e| self.transport_error(e).with_http_status(status))?;
        let headers = response.headers();
        let answer = Answer {
            status,
            retry_after: header_text(headers, header::RETRY_AFTER),
            location: header_text(headers, header::LOCATION),
            body,
        };
        interpret(&answer, &Redactor::new(request.secrets()))
    }

    fn transport_error(&self, error: ureq::Error) -> Error {
        let (kind, detail) = match &error {
            ureq::Error::Timeout(which) => {
                (ErrorKind::Timeout, format!("timed out ({which} limit)"))
            }
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::TlsRequired => {
                (ErrorKind::Tls, format!("failed TLS: {error}"))
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => (
                ErrorKind::Transport,
                "failed: the connection closed before the answer was complete".into(),
            ),
            ureq::Error::Io(io) => (ErrorKind::Transport, format!("failed: {io}")),
            ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => (
                ErrorKind::Transport,
                format!("got a malformed HTTP answer: {error}"),
            ),
            _ => (ErrorKind::Transport, format!("failed: {error}")),
        };
        Error::new(kind, format!("POST {} {detail}", self.token_url))
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; a longer body is left unread.
fn read_body(body: &mut ureq::Body) -> Result<AnswerBody, ureq::Error> {
    let declared = body.content_length();
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Ok(AnswerBody::TooLarge);
    }
    // Sized up front where possible: growing the buffer would leave copies
    // of the token in freed memory.
    let capacity = declared.unwrap_or(8 * 1024) as usize;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    let mut reader = body.with_config().limit(MAX_BODY_BYTES).reader();
    match reader.read_to_end(&mut bytes) {
        Ok(_) => Ok(AnswerBody::Complete(bytes)),
        Err(io) => match ureq::Error::from(io) {
            ureq::Error::BodyExceedsLimit(_) => Ok(AnswerBody::TooLarge),
            other => Err(other),
        },
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `{base_url}/oauth2/token`, for an http(s) URL with a host and nothing
/// after the path.
fn token_url_for(base_url: &str) -> Result<String, Error> {
    let invalid = |why: &str| Error::invalid_argument(format!("base_url {why}"));
    if base_url.contains(|c: char| c.is_control() || c == ' ') {
        return Err(invalid("contains a space or control character"));
    }
    let uri: Uri = base_url
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
    if uri.query().is_some() || base_url.contains('#') {
        return Err(invalid("must not have a query or fragment"));
    }
    let prefix = uri.path().trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{prefix}/oauth2/token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_keeps_a_path_prefix() {
        assert_eq!(
            token_url_for("https://api.criteo.com").unwrap(),
            "https://api.criteo.com/oauth2/token"
        );
        assert_eq!(
            token_url_for("https://api.criteo.com/").unwrap(),
            "https://api.criteo.com/oauth2/token"
        );
        assert_eq!(
            token_url_for("http://127.0.0.1:8080/mock/").unwrap(),
            "http://127.0.0.1:8080/mock/oauth2/token"
        );
        assert_eq!(
            token_url_for("http://[::1]:9/a/b").unwrap(),
            "http://[::1]:9/a/b/oauth2/token"
        );
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
            let error = token_url_for(url).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidArgument);
            assert_eq!(error.message(), message, "{url}");
        }
    }

    #[test]
    fn timeouts_default_on_zero_and_must_be_ordered() {
        let mut config = ClientConfig::default();
        config.set_timeouts(0, 0).unwrap();
        assert_eq!(
            (config.connect_timeout, config.total_timeout),
            (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT)
        );
        config.set_timeouts(250, 1000).unwrap();
        assert_eq!(config.total_timeout, Duration::from_millis(1000));
        let error = config.set_timeouts(40_000, 0).unwrap_err();
        assert_eq!(
            error.message(),
            "connect_ms (40000 ms) must not exceed total_ms (30000 ms)"
        );
    }

    #[test]
    fn the_default_client_is_made_once_for_the_criteo_api() {
        let first = Client::shared_default();
        assert!(std::ptr::eq(first, Client::shared_default()));
        assert_eq!(first.token_url(), "https://api.criteo.com/oauth2/token");
        assert_eq!(first.max_retries(), 2);
    }

    #[test]
    fn max_retries_is_bounded() {
        let mut config = ClientConfig::default();
        config.set_max_retries(0).unwrap();
        assert_eq!(config.build().max_retries(), 0);
        assert_eq!(
            config.set_max_retries(11).unwrap_err().message(),
            "max_retries (11) must be at most 10"
        );
    }
}
