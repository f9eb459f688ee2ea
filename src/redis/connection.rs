//! One connection to a Redis server: TCP (the addresses raced, as for
//! the token endpoint), TLS for `rediss://` (rustls, with the client's
//! trust), then `AUTH` and `SELECT`. Every step and every command ends by
//! a deadline, read by read: a server that answers one byte a second
//! costs no more than one that never answers.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::unversioned::resolver::Resolver;
use ureq::unversioned::transport::NextTimeout;
use ureq::unversioned::transport::time::Duration as UreqDuration;

use super::address::Address;
use super::protocol::{self, Reply};
use crate::connect::Eyeballs;
use crate::descriptors::Identified;
use crate::resolver::{CachingResolver, SystemLookup};

/// How a connection reaches the server, shared by every connection made
/// to one address.
pub(crate) struct Route {
    pub(crate) address: Address,
    /// For `rediss://`: what the client trusts.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    resolver: CachingResolver<SystemLookup>,
    /// What the resolver is asked with (it reads nothing of it that the
    /// store sets).
    lookup_config: ureq::config::Config,
    eyeballs: Eyeballs,
}

/// A connection, authenticated, on the database the URL names.
pub(crate) struct Connection {
    stream: BufReader<Stream>,
}

enum Stream {
    Plain(Wire),
    Tls(Box<StreamOwned<ClientConnection, Wire>>),
}

/// The socket, used only while its number is still its own, and read and
/// written within the deadline of the operation under way.
struct Wire {
    socket: Identified<TcpStream>,
    deadline: Instant,
}

impl Route {
    pub(crate) fn new(address: Address, tls: Option<Arc<ClientConfig>>) -> Route {
        Route {
            address,
            tls,
            resolver: CachingResolver::default(),
            lookup_config: ureq::Agent::config_builder().build(),
            eyeballs: Eyeballs::default(),
        }
    }

    /// A new connection, ready for commands, made before `deadline`.
    pub(crate) fn connect(&self, deadline: Instant) -> io::Result<Connection> {
        let address = &self.address;
        let addresses = self.look_up(deadline)?;
        let (socket, _) = self
            .eyeballs
            .connect(&address.host, &addresses, Some(deadline))
            .map_err(|failed| io::Error::new(failed.kind(), failed.to_string()))?;
        // The race leaves it non-blocking; reads here wait, each with
        // what is left of the deadline as its limit.
        socket.set_nonblocking(false)?;
        socket.set_nodelay(true)?;
        let wire = Wire {
            socket: Identified::new(socket)?,
            deadline,
        };
        let stream = match &self.tls {
            None => Stream::Plain(wire),
            Some(config) => Stream::Tls(Box::new(handshake(config, &address.host, wire)?)),
        };
        let mut connection = Connection {
            stream: BufReader::new(stream),
        };
        connection.authenticate(address, deadline)?;
        Ok(connection)
    }

    fn look_up(&self, deadline: Instant) -> io::Result<Vec<std::net::SocketAddr>> {
        let uri = format!("http://{}/", self.address.host_port())
            .parse()
            .map_err(io::Error::other)?;
        let timeout = NextTimeout {
            after: UreqDuration::Exact(deadline.saturating_duration_since(Instant::now())),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        let found = self
            .resolver
            .resolve(&uri, &self.lookup_config, timeout)
            .map_err(|error| io::Error::other(format!("cannot look up the host: {error}")))?;
        Ok(found.iter().copied().collect())
    }
}

fn handshake(
    config: &Arc<ClientConfig>,
    host: &str,
    mut wire: Wire,
) -> io::Result<StreamOwned<ClientConnection, Wire>> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| io::Error::other(format!("{host} is not a name TLS can verify")))?;
    let mut session = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
    while session.is_handshaking() {
        session
            .complete_io(&mut wire)
            .map_err(|error| io::Error::new(error.kind(), format!("TLS: {error}")))?;
    }
    Ok(StreamOwned::new(session, wire))
}

impl Connection {
    /// `AUTH` when the URL has credentials, and `SELECT` when it names a
    /// database other than 0.
    fn authenticate(&mut self, address: &Address, deadline: Instant) -> io::Result<()> {
        if let Some(credentials) = &address.credentials {
            let password = credentials.password.as_bytes();
            let reply = match &credentials.user {
                Some(user) => self.call(&[b"AUTH", user.as_bytes(), password], deadline)?,
                None => self.call(&[b"AUTH", password], deadline)?,
            };
            expect_ok(reply, "AUTH")?;
        }
        if address.db != 0 {
            let db = address.db.to_string();
            expect_ok(self.call(&[b"SELECT", db.as_bytes()], deadline)?, "SELECT")?;
        }
        Ok(())
    }

    /// Sends one command and reads its reply, both before `deadline`. An
    /// error reply is an error. After any error the connection is not to
    /// be used again: a reply may be left half read.
    pub(crate) fn call(&mut self, arguments: &[&[u8]], deadline: Instant) -> io::Result<Reply> {
        self.stream.get_mut().wire().deadline = deadline;
        self.stream.get_ref().wire_ref().socket.ours()?;
        let command = protocol::encode(arguments);
        let stream = self.stream.get_mut();
        stream.write_all(&command)?;
        stream.flush()?;
        match protocol::read_reply(&mut self.stream)? {
            Reply::Error(code) => Err(io::Error::other(server_error(&code))),
            reply => Ok(reply),
        }
    }

    /// Whether the server sent something nobody asked for (an answer left
    /// from a command whose caller gave up, or the connection closed).
    pub(crate) fn is_out_of_step(&self) -> bool {
        if !self.stream.buffer().is_empty() {
            return true;
        }
        let Ok(socket) = self.stream.get_ref().wire_ref().socket.ours() else {
            return true;
        };
        let mut byte = [0];
        let peeked = recv(socket, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT);
        peeked != Err(Errno::AGAIN)
    }
}

fn expect_ok(reply: Reply, command: &str) -> io::Result<()> {
    match reply {
        Reply::Status(status) if status == "OK" => Ok(()),
        _ => Err(io::Error::other(format!(
            "the server answered {command} with something other than OK"
        ))),
    }
}

/// What an error code means, in the message of a store failure. The
/// server's own text is never shown: it may echo what it was sent.
fn server_error(code: &str) -> String {
    let meaning = match code {
        "NOAUTH" => {
            "it asks for authentication first (a URL with no password, or one it did not take)"
        }
        "WRONGPASS" => "it refused the user name or password of the URL",
        "NOPERM" => "the URL's user may not run this command or use this key",
        "READONLY" => "it is a read-only replica",
        "OOM" => "it is out of memory",
        "LOADING" => "it is loading its data",
        "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" => "it cannot serve now",
        "MOVED" | "ASK" => "the key is on another node of a cluster, which is not followed",
        "NOSCRIPT" | "BUSY" => "it cannot run the store's script now",
        _ => "it refused the command",
    };
    format!("the server answered {code}: {meaning}")
}

impl Stream {
    fn wire(&mut self) -> &mut Wire {
        match self {
            Stream::Plain(wire) => wire,
            Stream::Tls(stream) => &mut stream.sock,
        }
    }

    fn wire_ref(&self) -> &Wire {
        match self {
            Stream::Plain(wire) => wire,
            Stream::Tls(stream) => &stream.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(wire) => wire.read(buffer),
            Stream::Tls(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(wire) => wire.write(buffer),
            Stream::Tls(stream) => stream.write(buffer),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(wire) => wire.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}

impl Wire {
    /// The socket, with what is left until the deadline as its limit.
    fn socket_until_deadline(
        &self,
        set: fn(&TcpStream, Option<Duration>) -> io::Result<()>,
    ) -> io::Result<&TcpStream> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server did not answer in time",
            ));
        }
        let socket = self.socket.checked_before();
        set(socket, Some(left))?;
        Ok(socket)
    }
}

impl Read for Wire {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let mut socket = self.socket_until_deadline(TcpStream::set_read_timeout)?;
        socket.read(buffer).map_err(timed_out)
    }
}

impl Write for Wire {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let mut socket = self.socket_until_deadline(TcpStream::set_write_timeout)?;
        socket.write(buffer).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A socket's time limit, said as one.
fn timed_out(error: io::Error) -> io::Error {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            io::Error::new(io::ErrorKind::TimedOut, "the server did not answer in time")
        }
        _ => error,
    }
}
