//! A scripted OAuth token server on loopback for criteo-oauth's tests and
//! demo: real HTTP/1.1 with keep-alive, on 127.0.0.1 and an ephemeral port.
//!
//! `POST /oauth2/token` behaves like the real endpoint for one demo client
//! (see [`DEMO_CLIENT_ID`]). `POST /scenario/<name>/oauth2/token` gives a
//! scripted answer, good or bad (see [`scenarios`]), so a client configured
//! with host `<url>/scenario/<name>` meets exactly that answer.

mod http;
pub mod scenarios;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub use http::RecordedRequest;
pub use scenarios::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_CODE, DEMO_REFRESH_TOKEN};

/// What the server has seen, shared with the tests.
#[derive(Default)]
pub(crate) struct Observed {
    requests: Mutex<Vec<RecordedRequest>>,
    connections: AtomicUsize,
    streamed_bytes: AtomicU64,
}

/// A running server. It serves until the process ends.
pub struct TestServer {
    address: SocketAddr,
    observed: Arc<Observed>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 and a port the system picks.
    pub fn start() -> io::Result<TestServer> {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts a server on the given address (e.g. `[::1]:0`).
    pub fn start_on(address: &str) -> io::Result<TestServer> {
        let listener = TcpListener::bind(address)?;
        let server = TestServer {
            address: listener.local_addr()?,
            observed: Arc::default(),
        };
        let observed = Arc::clone(&server.observed);
        thread::spawn(move || accept_forever(listener, observed));
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`: the host to configure for the demo client.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The host that makes every request meet the named scenario.
    pub fn scenario_url(&self, name: &str) -> String {
        format!("{}/scenario/{name}", self.url())
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.observed.requests.lock().unwrap().clone()
    }

    /// How many TCP connections have been accepted.
    pub fn connections(&self) -> usize {
        self.observed.connections.load(Ordering::SeqCst)
    }

    /// Body bytes written by the streaming scenarios (`huge`, `huge-chunked`).
    pub fn streamed_bytes(&self) -> u64 {
        self.observed.streamed_bytes.load(Ordering::SeqCst)
    }
}

fn accept_forever(listener: TcpListener, observed: Arc<Observed>) {
    for stream in listener.incoming().flatten() {
        observed.connections.fetch_add(1, Ordering::SeqCst);
        let observed = Arc::clone(&observed);
        thread::spawn(move || serve_connection(stream, &observed));
    }
}

/// Answers requests on one connection until either side closes it.
fn serve_connection(stream: TcpStream, observed: &Observed) {
    let mut connection = http::Connection::new(stream);
    while let Ok(Some(request)) = connection.read_request() {
        let sequence = {
            let mut requests = observed.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len()
        };
        let action = scenarios::respond(&request, sequence);
        match connection.perform(action, &observed.streamed_bytes) {
            Ok(http::After::KeepAlive) if !request.wants_close() => {}
            _ => return,
        }
    }
}
