//! The client: validated configuration, one HTTP agent (so connections are
//! reused), and the token call with its retries.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use ureq::http::{HeaderMap, header};
use ureq::unversioned::transport::{ConnectProxyConnector, Connector};
use zeroize::Zeroizing;

use crate::admission::{
    Admission, DEFAULT_MAX_CONCURRENT_REQUESTS, MAX_CONCURRENT_REQUESTS_LIMIT, Refused,
};
use crate::connect::ConnectFailed;
use crate::endpoint::{Endpoint, checked_consent_url};
use crate::error::{Error, ErrorKind};
use crate::process::{PerProcess, made_once};
use crate::proxy::{Proxy, ProxySetting};
use crate::request::TokenRequest;
use crate::resolver::{CachingResolver, SystemLookup, is_temporary_lookup_failure};
use crate::response::{Answer, AnswerBody, MAX_BODY_BYTES, interpret};
use crate::retry::{Failure, Next, next_step};
use crate::sanitize::Redactor;
use crate::tls::{Roots, read_ca_file, system_roots, tls_failure};
use crate::tls_session::{TlsConnector, client_config};
use crate::token::Token;
use crate::trace::{self, EventKind, Span, Tracer};
use crate::transport::{TcpConnector, take_last_peer};
use crate::unfold::UnfoldConnector;

pub const DEFAULT_HOST: &str = "https://api.criteo.com";
/// Criteo's consent page, where a consent sends the user.
pub const DEFAULT_CONSENT_URL: &str = "https://consent.criteo.com/request";
/// Our product token, last in every `User-Agent`.
pub const USER_AGENT: &str = concat!("criteo-oauth/", env!("CARGO_PKG_VERSION"));
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RETRIES: u32 = 2;
const MAX_RETRIES_LIMIT: u32 = 10;
const MAX_USER_AGENT_BYTES: usize = 256;
/// Idle connections kept for reuse: enough for a busy multi-threaded program
/// to stop opening new ones (ureq keeps 3 by default).
const MAX_IDLE_CONNECTIONS: usize = 32;
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// A token answer's header is a few hundred bytes; 16 KiB is generous, and
/// lets each connection's buffers stay small (ureq keeps 128 KiB each way).
const MAX_ANSWER_HEADER_BYTES: usize = 16 * 1024;
const INPUT_BUFFER_BYTES: usize = 32 * 1024;
const OUTPUT_BUFFER_BYTES: usize = 16 * 1024;

/// How a [`Client`] is set up. Each setter checks its input at once.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    endpoint: Endpoint,
    connect_timeout: Duration,
    total_timeout: Duration,
    max_retries: u32,
    max_concurrent_requests: u32,
    /// `None`: the system's trust store, read when the client first connects.
    ca_roots: Option<Roots>,
    proxy: ProxySetting,
    user_agent: String,
    tracer: Tracer,
    consent_url: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: Endpoint::parse(DEFAULT_HOST).expect("the default host is valid"),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            ca_roots: None,
            proxy: ProxySetting::FromEnvironment,
            user_agent: USER_AGENT.into(),
            tracer: Tracer::default(),
            consent_url: DEFAULT_CONSENT_URL.into(),
        }
    }
}

impl ClientConfig {
    /// The API's base URL, e.g. `https://api.criteo.com`; see [`Endpoint::parse`].
    pub fn set_host(&mut self, base_url: &str) -> Result<(), Error> {
        self.endpoint = Endpoint::parse(base_url)?;
        Ok(())
    }

    /// Where a consent sends the user (see [`crate::consent`]), for a
    /// sandbox or a test; checked as the host is.
    pub fn set_consent_url(&mut self, url: &str) -> Result<(), Error> {
        self.consent_url = checked_consent_url(url)?;
        Ok(())
    }

    /// Time limits in milliseconds for connecting and for the whole call,
    /// retries and their waits included. 0 keeps the default: 30 s for the
    /// total, and for connecting 10 s or the total when that is smaller.
    pub fn set_timeouts(&mut self, connect_ms: u32, total_ms: u32) -> Result<(), Error> {
        let millis = |ms: u32| Duration::from_millis(ms.into());
        let total = match total_ms {
            0 => DEFAULT_TOTAL_TIMEOUT,
            ms => millis(ms),
        };
        let connect = match connect_ms {
            0 => DEFAULT_CONNECT_TIMEOUT.min(total),
            ms => millis(ms),
        };
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

    /// How many token requests the client sends at once, from all its
    /// callers and sources in a process (1 to 1024; 8 by default). The
    /// others wait their turn, within their own time limits.
    pub fn set_max_concurrent_requests(&mut self, max: u32) -> Result<(), Error> {
        if !(1..=MAX_CONCURRENT_REQUESTS_LIMIT).contains(&max) {
            return Err(Error::invalid_argument(format!(
                "max_concurrent_requests ({max}) must be from 1 to {MAX_CONCURRENT_REQUESTS_LIMIT}"
            )));
        }
        self.max_concurrent_requests = max;
        Ok(())
    }

    /// Trust exactly the certificates of this PEM bundle (read now).
    pub fn set_ca_file(&mut self, path: &str) -> Result<(), Error> {
        self.ca_roots = Some(read_ca_file(path)?);
        Ok(())
    }

    /// Go through this `http://` CONNECT proxy, whatever the environment
    /// says; `""` means no proxy at all (as with curl).
    pub fn set_proxy(&mut self, proxy_url: &str) -> Result<(), Error> {
        self.proxy = match proxy_url {
            "" => ProxySetting::Direct,
            url => ProxySetting::Through(Proxy::parse(url, "proxy_url")?),
        };
        Ok(())
    }

    /// Puts the caller's product token (e.g. `my-app/1.2`) before ours.
    pub fn set_user_agent(&mut self, product: &str) -> Result<(), Error> {
        let invalid = |why: &str| Error::invalid_argument(format!("user_agent {why}"));
        if product.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        if product.len() > MAX_USER_AGENT_BYTES {
            return Err(invalid(&format!(
                "is longer than {MAX_USER_AGENT_BYTES} bytes"
            )));
        }
        if product.contains(char::is_control) {
            return Err(invalid("contains a control character"));
        }
        if !product.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(invalid("may hold only printable ASCII"));
        }
        self.user_agent = format!("{} {USER_AGENT}", product.trim());
        Ok(())
    }

    /// The callback told every step of this client's calls (`None`: none).
    pub fn set_trace(&mut self, tracer: Tracer) {
        self.tracer = tracer;
    }

    /// Makes the client: reads the proxy environment (unless a proxy was
    /// set). The system's trust store (for https, unless a CA file was
    /// given) is read when the client first connects.
    pub fn build(&self) -> Result<Client, Error> {
        let proxy = match &self.proxy {
            ProxySetting::FromEnvironment => {
                Proxy::from_environment(&self.endpoint, |name| std::env::var(name).ok())?
            }
            ProxySetting::Direct => None,
            ProxySetting::Through(proxy) => Some(proxy.clone()),
        };
        let trust = match (&self.ca_roots, self.endpoint.is_https()) {
            (Some(roots), _) => Trust::Given(roots.clone()),
            (None, true) => Trust::System(OnceLock::new()),
            (None, false) => Trust::Given(Roots::new()),
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(&self.user_agent)
            .accept("application/json")
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.total_timeout))
            .max_response_header_size(MAX_ANSWER_HEADER_BYTES)
            .input_buffer_size(INPUT_BUFFER_BYTES)
            .output_buffer_size(OUTPUT_BUFFER_BYTES)
            .max_idle_connections(MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
            .proxy(proxy.as_ref().map(Proxy::to_ureq).transpose()?)
            .build();
        Ok(Client(Arc::new(Parts {
            connections: Arc::new(Connections::new(config, trust)),
            token_url: self.endpoint.token_url().into(),
            connect_timeout: self.connect_timeout,
            total_timeout: self.total_timeout,
            max_retries: self.max_retries,
            admission: Arc::new(Admission::new(self.max_concurrent_requests)),
            proxy,
            tracer: self.tracer.clone(),
            consent_url: self.consent_url.as_str().into(),
        })))
    }
}

/// A configured connection to the token endpoint. Cheap to clone; clones
/// share connections. Safe to use from many threads at once, and in a child
/// after `fork()` (see [`Connections`]).
#[derive(Clone)]
pub struct Client(Arc<Parts>);

/// What a client's clones share (a token source keeps a clone: one
/// pointer).
struct Parts {
    connections: Arc<Connections>,
    token_url: Arc<str>,
    connect_timeout: Duration,
    total_timeout: Duration,
    max_retries: u32,
    /// Shared by clones, as connections are.
    admission: Arc<Admission>,
    proxy: Option<Proxy>,
    tracer: Tracer,
    consent_url: Arc<str>,
}

impl Client {
    /// The process-wide client for `https://api.criteo.com`, made on first
    /// use. Making it fails only when the environment is unusable (a
    /// malformed proxy variable). Such a failure is
    /// not remembered: the next call tries again, so a fixed environment
    /// takes effect without a restart. Once made, it is kept for the life
    /// of the process.
    pub fn shared_default() -> Result<&'static Client, Error> {
        static DEFAULT: OnceLock<Client> = OnceLock::new();
        if let Some(client) = DEFAULT.get() {
            return Ok(client);
        }
        let client = ClientConfig::default().build()?;
        Ok(made_once(&DEFAULT, || client))
    }

    /// The full URL requests are posted to.
    pub fn token_url(&self) -> &str {
        &self.0.token_url
    }

    /// What this client's sources trust in the TLS of other servers than
    /// the token endpoint (a store on `rediss://`): the client's CA file
    /// or, for a client that reads none, the system's trust store.
    pub(crate) fn tls_config_for_others(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        let roots = self.0.connections.trust.roots()?;
        match roots.is_empty() {
            false => Ok(client_config(roots)),
            true => Ok(client_config(&system_roots()?)),
        }
    }

    /// Tells this client (and its clones) from any other in the process.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0.connections) as usize
    }

    /// Where a consent sends the user.
    pub fn consent_url(&self) -> &str {
        &self.0.consent_url
    }

    /// The limit on one call, retries included.
    pub fn total_timeout(&self) -> Duration {
        self.0.total_timeout
    }

    pub fn max_retries(&self) -> u32 {
        self.0.max_retries
    }

    /// `POST {host}/oauth2/token` with the request as a form, retried as
    /// [`crate::retry::next_step`] allows, all within the total time limit.
    /// Redirects are never followed.
    pub fn get_token(&self, request: &TokenRequest) -> Result<Token, Error> {
        #[cfg(feature = "test-panic")]
        if request.client_id() == "test-panic-in-fetch" {
            thread::sleep(Duration::from_millis(300));
            panic!("forced by the test-panic feature, in a fetch");
        }
        let span = self.trace_span(request);
        match &span {
            Some(span) => span.during(|| self.get_token_traced(request, Some(span))),
            None => self.get_token_traced(request, None),
        }
    }

    /// A span for one call or fetch of `request`, when a trace callback is
    /// set.
    pub(crate) fn trace_span(&self, request: &TokenRequest) -> Option<Arc<Span>> {
        self.0.tracer.begin(request, self.proxy_secrets())
    }

    /// [`Client::get_token`], telling `span` each request, answer and retry.
    fn get_token_traced(
        &self,
        request: &TokenRequest,
        span: Option<&Arc<Span>>,
    ) -> Result<Token, Error> {
        let deadline = Instant::now() + self.0.total_timeout;
        let single_use = request.is_single_use();
        let mut retries_done = 0;
        loop {
            let failure = match self.admitted_attempt(request, retries_done > 0, deadline, span) {
                Ok(token) => return Ok(token),
                Err(failure) => failure,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match next_step(
                &failure,
                retries_done,
                self.0.max_retries,
                single_use,
                remaining,
            ) {
                Next::GiveUp => return Err(failure.error),
                Next::RetryAfter(wait) => {
                    trace::emit(span, EventKind::Retry, || {
                        format!(
                            "retry {} of {} in {} ms, after: {}",
                            retries_done + 1,
                            self.0.max_retries,
                            wait.as_millis(),
                            failure.error.message()
                        )
                    });
                    thread::sleep(wait)
                }
            }
            retries_done += 1;
        }
    }

    /// One request, sent when its turn comes (see [`Admission`]), and its
    /// answer. A `429` with `Retry-After` holds the client id's requests.
    fn admitted_attempt(
        &self,
        request: &TokenRequest,
        retry: bool,
        deadline: Instant,
        span: Option<&Arc<Span>>,
    ) -> Result<Token, Failure> {
        let client_id = request.client_id();
        let turn = self
            .0
            .admission
            .enter(client_id, deadline)
            .map_err(|refused| self.not_sent(refused))?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let time_left = (retry || turn.waited).then_some(remaining);
        let result = self.attempt(request, time_left, span);
        // Held before the turn goes to a request waiting for it.
        if let Err(failure) = &result
            && failure.error.http_status() == Some(429)
            && let Some(seconds) = failure.error.retry_after_secs()
        {
            self.0
                .admission
                .hold(client_id, Duration::from_secs(seconds));
        }
        drop(turn);
        result
    }

    fn not_sent(&self, refused: Refused) -> Failure {
        let url = &self.0.token_url;
        let error = match refused {
            Refused::NoTurn { limit } => Error::new(
                ErrorKind::Timeout,
                format!(
                    "POST {url} not sent: timed out waiting for a turn ({limit} token requests \
                     of this client were under way, the most it sends at once)"
                ),
            ),
            Refused::Held(left) => {
                let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                Error::new(
                    ErrorKind::HttpStatus,
                    format!(
                        "POST {url} not sent: the server answered 429 Too Many Requests to a \
                         request of this client id and asked it to wait; {seconds} s more"
                    ),
                )
                .with_http_status(429)
                .with_retry_after(Some(seconds))
            }
        };
        Failure {
            error,
            nothing_sent: true,
        }
    }

    /// One request and its answer. `time_left` shortens the agent's limits
    /// for a retry, so the whole call stays within the total.
    fn attempt(
        &self,
        request: &TokenRequest,
        time_left: Option<Duration>,
        span: Option<&Arc<Span>>,
    ) -> Result<Token, Failure> {
        let form = request.form_body();
        trace::emit(span, EventKind::Request, || {
            let via = match &self.0.proxy {
                Some(proxy) => format!(" via proxy {}", proxy.shown()),
                None => String::new(),
            };
            format!(
                "POST {}{via}, a form of {} bytes",
                self.0.token_url,
                form.len()
            )
        });
        take_last_peer();
        let agent = self
            .0
            .connections
            .for_this_process()
            .map_err(|error| Failure {
                error,
                nothing_sent: false,
            })?;
        let mut post = agent.post(&*self.0.token_url);
        if let Some(time_left) = time_left {
            post = post
                .config()
                .timeout_global(Some(time_left))
                .timeout_connect(Some(self.0.connect_timeout.min(time_left)))
                .build();
        }
        let mut response = post
            .header(header::CONTENT_TYPE, FORM_CONTENT_TYPE)
            .send(form.as_bytes())
            .map_err(|e| self.transport_failure(e))?;
        let status = response.status().as_u16();
        let body = read_body(&mut response).map_err(|e| {
            let failure = self.transport_failure(e);
            Failure::from(failure.error.with_http_status(status))
        })?;
        let headers = response.headers();
        let answer = Answer {
            status,
            retry_after: header_text(headers, header::RETRY_AFTER),
            location: header_text(headers, header::LOCATION),
            body,
        };
        trace::emit(span, EventKind::Response, || answer.describe());
        let redactor = request.redactor().with_secrets(self.proxy_secrets());
        interpret(&answer, &redactor).map_err(|error| {
            let message = format!("POST {} answered {}", self.0.token_url, error.message());
            Failure::from(error.with_message(message))
        })
    }

    fn transport_failure(&self, error: ureq::Error) -> Failure {
        let nothing_sent = never_left(&error);
        let (kind, detail) = match (&error, tls_failure(&error)) {
            (_, Some(reason)) => (ErrorKind::Tls, format!("failed TLS: {reason}")),
            (ureq::Error::Io(io), _) if let Some(failed) = ConnectFailed::of(io) => {
                match failed.timed_out() {
                    true => (ErrorKind::Timeout, format!("timed out: {failed}")),
                    false => (ErrorKind::Transport, format!("failed: {failed}")),
                }
            }
            (ureq::Error::Timeout(which), _) => {
                (ErrorKind::Timeout, format!("timed out ({which} limit)"))
            }
            (ureq::Error::Io(io), _) if io.kind() == std::io::ErrorKind::UnexpectedEof => (
                ErrorKind::Transport,
                "failed: the connection closed before the answer was complete".into(),
            ),
            (ureq::Error::Io(io), _) => (ErrorKind::Transport, format!("failed: {io}")),
            (ureq::Error::ConnectProxyFailed(reason), _) => {
                (ErrorKind::Transport, proxy_refusal(reason))
            }
            (ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..), _) => (
                ErrorKind::Transport,
                format!("got a malformed HTTP answer: {error}"),
            ),
            _ => (ErrorKind::Transport, format!("failed: {error}")),
        };
        let mut via = match &self.0.proxy {
            Some(proxy) => format!(" (via proxy {})", proxy.shown()),
            None => String::new(),
        };
        if let Some(peer) = take_last_peer() {
            via.push_str(&format!(" (connected to {peer})"));
        }
        // A proxy's refusal quotes the proxy, which knows its password.
        let detail = Redactor::new(self.proxy_secrets())
            .redact(&detail)
            .into_owned();
        Failure {
            error: Error::new(kind, format!("POST {} {detail}{via}", self.0.token_url)),
            nothing_sent,
        }
    }

    fn proxy_secrets(&self) -> impl Iterator<Item = &str> {
        self.0.proxy.iter().flat_map(Proxy::secrets)
    }
}

/// What a proxy's refusal of the tunnel means. ureq says "proxy server
/// responded 407/407"; this names the status and what to check.
fn proxy_refusal(reason: &str) -> String {
    let status = reason
        .strip_prefix("proxy server responded ")
        .and_then(|rest| rest.split('/').next())
        .and_then(|code| ureq::http::StatusCode::from_bytes(code.as_bytes()).ok());
    match status {
        Some(status) => {
            let phrase = status.canonical_reason().unwrap_or("");
            let hint = match status.as_u16() {
                407 => " (check the proxy credentials)",
                _ => "",
            };
            format!(
                "failed: the proxy refused the tunnel: {} {phrase}{hint}",
                status.as_u16()
            )
        }
        None => format!("failed: the proxy: {reason}"),
    }
}

/// The HTTP agent, and so the pool of open connections, of the process
/// using the client: a child after `fork()` makes its own (see
/// [`PerProcess`]) and never touches a connection of its parent's. Made
/// when the process first sends a request, so that a client that never
/// connects (a program that finds its token in a store) never reads the
/// system's trust store.
struct Connections {
    config: ureq::config::Config,
    trust: Trust,
    agent: PerProcess<OnceLock<ureq::Agent>>,
}

/// What TLS trusts: each process makes its own TLS configuration (and
/// session cache) from it.
enum Trust {
    /// A CA file's certificates, or none for plain HTTP.
    Given(Roots),
    /// The system's trust store, read when first needed.
    System(OnceLock<Roots>),
}

impl Trust {
    /// The certificates. The system's are read once they are read
    /// without error; a failure (a bad `SSL_CERT_FILE`, say) is not kept:
    /// the next request reads them again, so that a fixed environment
    /// takes effect without a restart.
    fn roots(&self) -> Result<&Roots, Error> {
        match self {
            Trust::Given(roots) => Ok(roots),
            Trust::System(read) => match read.get() {
                Some(roots) => Ok(roots),
                None => {
                    let roots = system_roots()?;
                    Ok(read.get_or_init(|| roots))
                }
            },
        }
    }
}

impl Connections {
    fn new(config: ureq::config::Config, trust: Trust) -> Self {
        Connections {
            config,
            trust,
            agent: PerProcess::new(OnceLock::new()),
        }
    }

    fn for_this_process(&self) -> Result<ureq::Agent, Error> {
        let agent = self.agent.get(OnceLock::new);
        if let Some(agent) = agent.get() {
            return Ok(ureq::Agent::clone(agent));
        }
        let made = new_agent(&self.config, self.trust.roots()?);
        Ok(ureq::Agent::clone(agent.get_or_init(|| made)))
    }
}

/// An agent whose connections are ureq's chain with our TCP transport: a
/// CONNECT proxy when one is set, TCP, then TLS for https (ours, which
/// tells its session to the trace), and over all of them the unfolding of
/// folded header lines.
fn new_agent(config: &ureq::config::Config, roots: &Roots) -> ureq::Agent {
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TlsConnector::new(roots))
            .chain(UnfoldConnector::new(config));
    ureq::Agent::with_parts(
        config.clone(),
        connector,
        CachingResolver::<SystemLookup>::default(),
    )
}

/// True for failures that happen before any byte of the request is sent:
/// no address (for now), no connection. Such a request can be sent again
/// safely.
fn never_left(error: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => true,
        ureq::Error::Io(io) if is_temporary_lookup_failure(io) => true,
        ureq::Error::Io(io) if ConnectFailed::of(io).is_some() => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
        ),
        _ => false,
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; a longer body is left unread, and so
/// is a compressed one (we never ask for compression, so never decode it).
fn read_body(response: &mut ureq::http::Response<ureq::Body>) -> Result<AnswerBody, ureq::Error> {
    let too_large = || AnswerBody::Unreadable(format!("larger than {MAX_BODY_BYTES} bytes"));
    if let Some(encoding) = header_text(response.headers(), header::CONTENT_ENCODING)
        .filter(|encoding| !encoding.trim().eq_ignore_ascii_case("identity"))
    {
        return Ok(AnswerBody::Unreadable(format!(
            "encoded with {encoding} (Content-Encoding), which was not asked for"
        )));
    }
    let body = response.body_mut();
    let declared = body.content_length();
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Ok(too_large());
    }
    // Sized up front where possible: growing the buffer would leave copies
    // of the token in freed memory.
    let capacity = declared.unwrap_or(8 * 1024) as usize;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    let mut reader = body.with_config().limit(MAX_BODY_BYTES).reader();
    match reader.read_to_end(&mut bytes) {
        Ok(_) => Ok(AnswerBody::Complete(bytes)),
        Err(io) => match ureq::Error::from(io) {
            ureq::Error::BodyExceedsLimit(_) => Ok(too_large()),
            other => Err(other),
        },
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        config.set_timeouts(0, 2000).unwrap();
        assert_eq!(
            (config.connect_timeout, config.total_timeout),
            (Duration::from_millis(2000), Duration::from_millis(2000)),
            "the default connect limit fits under a smaller total"
        );
        config.set_timeouts(0, 60_000).unwrap();
        assert_eq!(config.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        let error = config.set_timeouts(40_000, 0).unwrap_err();
        assert_eq!(
            error.message(),
            "connect_ms (40000 ms) must not exceed total_ms (30000 ms)"
        );
    }

    #[test]
    fn the_default_client_is_made_once_for_the_criteo_api() {
        let first = Client::shared_default().unwrap();
        assert!(std::ptr::eq(first, Client::shared_default().unwrap()));
        assert_eq!(first.token_url(), "https://api.criteo.com/oauth2/token");
        assert_eq!(first.max_retries(), DEFAULT_MAX_RETRIES);
    }

    #[test]
    fn max_retries_is_bounded() {
        let mut config = ClientConfig::default();
        config.set_max_retries(0).unwrap();
        assert_eq!(config.build().unwrap().max_retries(), 0);
        assert_eq!(
            config.set_max_retries(11).unwrap_err().message(),
            "max_retries (11) must be at most 10"
        );
    }

    #[test]
    fn user_agent_puts_the_product_first() {
        let mut config = ClientConfig::default();
        config
            .set_user_agent("my-app/1.2 (ops@example.com)")
            .unwrap();
        assert_eq!(
            config.user_agent,
            format!("my-app/1.2 (ops@example.com) {USER_AGENT}")
        );
        let message = |ua: &str| {
            config
                .clone()
                .set_user_agent(ua)
                .unwrap_err()
                .message()
                .to_owned()
        };
        assert_eq!(message(" "), "user_agent must not be empty");
        assert_eq!(
            message("app\u{e9}"),
            "user_agent may hold only printable ASCII"
        );
        assert_eq!(
            message(&"a".repeat(257)),
            "user_agent is longer than 256 bytes"
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let mut config = ClientConfig::default();
        let error = config.set_ca_file("/nonexistent/ca.pem").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
        assert!(
            error
                .message()
                .starts_with("ca_file /nonexistent/ca.pem: cannot read it: "),
            "{}",
            error.message()
        );
        let empty =
            std::env::temp_dir().join(format!("criteo-oauth-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let error = config.set_ca_file(empty.to_str().unwrap()).unwrap_err();
        assert_eq!(
            error.message(),
            format!("ca_file {}: holds no PEM certificate", empty.display())
        );
        std::fs::remove_file(empty).unwrap();
    }
}
