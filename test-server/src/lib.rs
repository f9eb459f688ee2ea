//! A scripted OAuth token server on loopback for criteo-oauth's tests and
//! demo: real HTTP/1.1 with keep-alive, on 127.0.0.1 and an ephemeral port.
//!
//! `POST /oauth2/token` behaves like the real endpoint for one demo client
//! (see [`DEMO_CLIENT_ID`]). `POST /scenario/<name>/oauth2/token` gives a
//! scripted answer, good or bad (see [`scenarios`]), so a client configured
//! with host `<url>/scenario/<name>` meets exactly that answer.
//! `GET /consent?...` and `GET /consent/deny?...` play Criteo's consent
//! step, a user who approves or refuses, and the codes they hand out are
//! checked (PKCE included) when exchanged at `POST /oauth2/token` (see
//! `consent.rs`).
//! `GET /count/<client_id>` answers how many token requests that client has
//! made, on any path, so that a test in another process can count fetches.
//!
//! [`FakeRedis`] is a Redis server that answers badly on purpose, for the
//! tests of the library's Redis store.

pub mod catalogue;
mod consent;
pub mod fake_redis;
mod http;
mod proxy;
pub mod scenarios;
mod tls;

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use http::Wire;

pub use consent::s256_challenge;
pub use fake_redis::{FakeRedis, FakeRedisMode};
pub use http::RecordedRequest;
pub use proxy::{ConnectProxy, Tunnel};
pub use scenarios::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_CODE, DEMO_REFRESH_TOKEN};
pub use tls::{TestCa, Validity};

/// What the server has seen, shared with the tests.
#[derive(Default)]
pub(crate) struct Observed {
    requests: Mutex<Vec<RecordedRequest>>,
    /// Requests per target, so a scenario can change its answer ("503, then 200").
    hits: Mutex<HashMap<String, usize>>,
    connections: AtomicUsize,
    streamed_bytes: AtomicU64,
    /// Whether held answers may go, and who waits for that.
    released: Mutex<bool>,
    release: Condvar,
    /// Token requests being answered now, and the most at once, per
    /// client id.
    in_flight: Mutex<HashMap<String, (usize, usize)>>,
    /// The codes the consent step gave, and the refresh tokens they led to.
    consents: consent::Consents,
}

/// A running server. It serves until the process ends.
pub struct TestServer {
    address: SocketAddr,
    scheme: &'static str,
    observed: Arc<Observed>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 and a port the system picks.
    pub fn start() -> io::Result<TestServer> {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts a server on the given address (e.g. `[::1]:0`).
    pub fn start_on(address: &str) -> io::Result<TestServer> {
        Self::listen(address, None)
    }

    /// Starts an https server on 127.0.0.1 with the given TLS setup (see
    /// [`TestCa::server_config`]).
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> io::Result<TestServer> {
        Self::listen("127.0.0.1:0", Some(config))
    }

    fn listen(address: &str, tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<TestServer> {
        let listener = TcpListener::bind(address)?;
        let server = TestServer {
            address: listener.local_addr()?,
            scheme: if tls.is_some() { "https" } else { "http" },
            observed: Arc::default(),
        };
        let observed = Arc::clone(&server.observed);
        thread::spawn(move || accept_forever(listener, tls, observed));
        Ok(server)
    }

    /// `http://127.0.0.1:<port>` (or https): the host for the demo client.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The host that makes every request meet the named scenario.
    pub fn scenario_url(&self, name: &str) -> String {
        format!("{}/scenario/{name}", self.url())
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.observed.requests.lock().unwrap().clone()
    }

    /// How many token requests `client_id` has made, on any path.
    pub fn fetches_by(&self, client_id: &str) -> usize {
        self.observed.fetches_by(client_id)
    }

    /// The most token requests of `client_id` that were being answered
    /// at once.
    pub fn most_at_once(&self, client_id: &str) -> usize {
        self.observed.most_at_once(client_id)
    }

    /// How many TCP connections have been accepted.
    pub fn connections(&self) -> usize {
        self.observed.connections.load(Ordering::SeqCst)
    }

    /// Lets every held answer go, now and from now on (the scenario
    /// `held-refresh-expires-<s>` holds them).
    pub fn release_held(&self) {
        *self.observed.released.lock().unwrap() = true;
        self.observed.release.notify_all();
    }

    /// Body bytes written by the streaming scenarios (`huge`, `huge-chunked`).
    pub fn streamed_bytes(&self) -> u64 {
        self.observed.streamed_bytes.load(Ordering::SeqCst)
    }
}

fn accept_forever(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    observed: Arc<Observed>,
) {
    for stream in listener.incoming().flatten() {
        observed.connections.fetch_add(1, Ordering::SeqCst);
        // An answer written in pieces (TLS records, a head then a body)
        // must not wait for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let observed = Arc::clone(&observed);
        let tls = tls.clone();
        thread::spawn(move || match tls {
            None => serve_connection(stream, &observed),
            Some(config) => {
                if let Ok(session) = rustls::ServerConnection::new(config) {
                    serve_connection(rustls::StreamOwned::new(session, stream), &observed);
                }
            }
        });
    }
}

impl Observed {
    fn fetches_by(&self, client_id: &str) -> usize {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|request| request.method == "POST" && request.target.ends_with("/oauth2/token"))
            .filter(|request| request.field("client_id").as_deref() == Some(client_id))
            .count()
    }

    fn most_at_once(&self, client_id: &str) -> usize {
        let in_flight = self.in_flight.lock().unwrap();
        in_flight.get(client_id).map_or(0, |(_, most)| *most)
    }

    /// Counts a token request of `client_id` in while `answer` runs.
    fn in_flight<R>(&self, client_id: Option<String>, answer: impl FnOnce() -> R) -> R {
        let Some(client_id) = client_id else {
            return answer();
        };
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            let (now, most) = in_flight.entry(client_id.clone()).or_default();
            *now += 1;
            *most = (*most).max(*now);
        }
        let answered = answer();
        let mut in_flight = self.in_flight.lock().unwrap();
        if let Some((now, _)) = in_flight.get_mut(&client_id) {
            *now -= 1;
        }
        answered
    }
}

/// Answers requests on one connection until either side closes it.
fn serve_connection(stream: impl Wire, observed: &Observed) {
    let mut connection = http::Connection::new(stream);
    while let Ok(Some(request)) = connection.read_request() {
        let sequence = {
            let mut requests = observed.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len()
        };
        let hit = {
            let mut hits = observed.hits.lock().unwrap();
            let count = hits.entry(request.target.clone()).or_default();
            *count += 1;
            *count
        };
        let count = |path: &str| match request.method.as_str() {
            "GET" => request.target.strip_prefix(path),
            _ => None,
        };
        let action = match (count("/count/"), count("/most-at-once/")) {
            (Some(client_id), _) => scenarios::count_answer(observed.fetches_by(client_id)),
            (_, Some(client_id)) => scenarios::count_answer(observed.most_at_once(client_id)),
            _ => consent::respond(&request, sequence, &observed.consents)
                .unwrap_or_else(|| scenarios::respond(&request, sequence, hit)),
        };
        let token_request = request.method == "POST" && request.target.ends_with("/oauth2/token");
        let client_id = request.field("client_id").filter(|_| token_request);
        let performed = observed.in_flight(client_id, || {
            if let http::Action::Held(_) = action {
                let released = observed.released.lock().unwrap();
                drop(observed.release.wait_while(released, |released| !*released));
            }
            connection.perform(action, &observed.streamed_bytes)
        });
        match performed {
            Ok(http::After::KeepAlive) if !request.wants_close() => {}
            _ => return,
        }
    }
}
