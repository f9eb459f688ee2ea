//! A small HTTP CONNECT proxy that counts its tunnels and remembers the
//! credentials it was offered.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// One CONNECT request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// `host:port` the client asked for.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// A running proxy; it serves until the process ends.
pub struct ConnectProxy {
    address: SocketAddr,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
}

impl ConnectProxy {
    pub fn start() -> io::Result<ConnectProxy> {
        Self::start_requiring(None)
    }

    /// A proxy that answers 407 unless `Proxy-Authorization` is exactly
    /// `authorization` (when given).
    pub fn start_requiring(authorization: Option<String>) -> io::Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let proxy = ConnectProxy {
            address: listener.local_addr()?,
            tunnels: Arc::default(),
        };
        let tunnels = Arc::clone(&proxy.tunnels);
        let required = Arc::new(authorization);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let tunnels = Arc::clone(&tunnels);
                let required = Arc::clone(&required);
                thread::spawn(move || {
                    let _ = serve(client, &tunnels, required.as_deref());
                });
            }
        });
        Ok(proxy)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every CONNECT request so far.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }
}

fn serve(
    client: TcpStream,
    tunnels: &Mutex<Vec<Tunnel>>,
    required: Option<&str>,
) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("proxy-authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let mut parts = request_line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        return (&client)
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
    };
    let refused = required.is_some() && required != authorization.as_deref();
    tunnels.lock().unwrap().push(Tunnel {
        target: target.to_owned(),
        authorization,
    });
    if refused {
        return (&client).write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
        );
    }
    let Ok(upstream) = TcpStream::connect(target) else {
        return (&client).write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    };
    (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let (client_read, upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    let forward = thread::spawn(move || pipe(client_read, upstream_write));
    pipe(upstream, client);
    let _ = forward.join();
    Ok(())
}

/// Copies until either side closes, then closes the other.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
