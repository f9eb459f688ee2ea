//! The TCP transport under ureq's connector chain (plain HTTP, and under
//! rustls and the CONNECT proxy, which ureq layers on top of it): a
//! non-blocking socket, connected by [`crate::connect`], and a system call
//! only when it does something.
//!
//! ureq's own TCP transport changes the socket's timeouts before reads and
//! writes (`setsockopt`), checks a pooled connection by switching the
//! socket to non-blocking and back (`ioctl` twice, and a `recv`), and
//! sends the request head and body apart: 12 system calls per keep-alive
//! request on loopback. This one makes 6 (a `send`, a `poll`, a `recv`,
//! a `recv(MSG_PEEK)`, and an `fstat` before the send and before the
//! peek, for a host program that reused the socket's number: see
//! [`Socket`]):
//! - output is kept until the transport is asked for input (HTTP sends,
//!   then reads), so a request, or a batch of TLS records, goes out in
//!   one `send`;
//! - a read that would block waits in `poll`, whose timeout is the
//!   deadline: sockets never carry timeouts;
//! - a pooled connection is checked with one `recv(MSG_PEEK)`, once: ureq
//!   asks when the connection goes back to the pool, right after its
//!   answer was read, and again when it takes it out for the next request;
//!   only the second can see what the first would not (the server closed,
//!   or sent bytes nobody asked for), so the first costs nothing.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, recv, send};
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

use crate::authority::default_port;
use crate::connect::Eyeballs;
use crate::descriptors::Identified;

/// Output is sent at once when less than this much room is left for more.
const MIN_OUTPUT_ROOM: usize = 4096;

/// Opens the TCP connection when no earlier connector in the chain did.
#[derive(Debug, Default)]
pub struct TcpConnector {
    eyeballs: Eyeballs,
}

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        if details.addrs.is_empty() {
            return Err(ureq::Error::ConnectionFailed);
        }
        // The server's host, or the proxy's when there is one (never its
        // credentials: this name is shown in messages).
        let uri = details.uri;
        let port = uri.port_u16().unwrap_or(default_port(uri));
        let host = format!("{}:{port}", uri.host().unwrap_or(""));
        let deadline = Deadline::after(details.timeout);
        let (stream, peer) = self
            .eyeballs
            .connect(&host, &details.addrs, deadline.at)
            .map_err(io::Error::from)?;
        stream.set_nodelay(details.config.no_delay())?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        let transport = TcpTransport {
            stream: Arc::new(Socket::new(stream)?),
            peer,
            buffers: WriteBehind {
                inner: buffers,
                pending: 0,
            },
            answer_just_read: false,
        };
        (details.register_shutdown)(Arc::downgrade(&transport.stream) as Weak<dyn ShutdownHandle>)?;
        Ok(Some(Either::B(transport)))
    }
}

thread_local! {
    static LAST_PEER: Cell<Option<SocketAddr>> = const { Cell::new(None) };
}

/// The address this thread's last request was sent to (the server's, or
/// the proxy's), taken: for the messages of failures after connecting.
pub(crate) fn take_last_peer() -> Option<SocketAddr> {
    LAST_PEER.with(Cell::take)
}

/// A connected, non-blocking TCP socket and its buffers.
#[derive(Debug)]
pub struct TcpTransport {
    /// Shared (weakly) with the handle ureq uses to shut the socket down.
    stream: Arc<Socket>,
    /// Where it is connected to.
    peer: SocketAddr,
    buffers: WriteBehind,
    /// Set by a read, cleared by the next liveness check (see the module doc).
    answer_just_read: bool,
}

/// ureq's buffers, with output written behind: what `transmit_output` was
/// given stays at the start of the output buffer, and ureq is handed the
/// room after it, until the transport sends it all at once.
#[derive(Debug)]
struct WriteBehind {
    inner: LazyBuffers,
    pending: usize,
}

impl Buffers for WriteBehind {
    fn output(&mut self) -> &mut [u8] {
        &mut self.inner.output()[self.pending..]
    }

    fn input(&self) -> &[u8] {
        self.inner.input()
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.inner.input_append_buf()
    }

    fn input_appended(&mut self, amount: usize) {
        self.inner.input_appended(amount)
    }

    fn input_consume(&mut self, amount: usize) {
        self.inner.input_consume(amount)
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        let (tmp, output) = self.inner.tmp_and_output();
        (tmp, &mut output[self.pending..])
    }

    fn can_use_input(&self) -> bool {
        self.inner.can_use_input()
    }
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.buffers.pending += amount;
        if self.buffers.output().len() < MIN_OUTPUT_ROOM {
            self.send_pending(Deadline::after(timeout.for_write()))?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        LAST_PEER.set(Some(self.peer));
        let sent_now = self.buffers.pending > 0;
        self.send_pending(Deadline::after(timeout.for_write()))?;
        let deadline = Deadline::after(timeout.for_read());
        // Right after a request the answer is surely not there yet: wait
        // first rather than make a read that would only say so.
        if sent_now {
            self.wait_for(PollFlags::IN, deadline)?;
        }
        loop {
            // Never waiting in the call itself, even on a socket that is
            // not ours any more: only in `poll`, within the deadline.
            let received = recv(
                self.stream.checked_before(),
                self.buffers.input_append_buf(),
                RecvFlags::DONTWAIT,
            );
            match received.map(|(amount, _)| amount).map_err(io::Error::from) {
                Ok(amount) => {
                    self.buffers.input_appended(amount);
                    self.answer_just_read = amount > 0;
                    return Ok(amount > 0);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_for(PollFlags::IN, deadline)?
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        if self.buffers.pending > 0 {
            return false;
        }
        if std::mem::take(&mut self.answer_just_read) {
            return true;
        }
        // Open means nothing to read: the server has neither closed the
        // connection nor sent anything unasked.
        let Ok(stream) = self.stream.ours() else {
            return false;
        };
        // Not waiting even on a socket that is not ours any more.
        let peeked = recv(stream, &mut [0], RecvFlags::PEEK | RecvFlags::DONTWAIT);
        matches!(peeked, Err(Errno::AGAIN))
    }
}

impl TcpTransport {
    /// Sends the output kept so far, waiting in `poll` while the socket's
    /// send buffer is full.
    fn send_pending(&mut self, deadline: Deadline) -> Result<(), ureq::Error> {
        let pending = self.buffers.pending;
        if pending > 0 {
            self.stream.ours()?;
        }
        let mut sent = 0;
        while sent < pending {
            let output = &self.buffers.inner.output()[sent..pending];
            let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
            match send(self.stream.checked_before(), output, flags).map_err(io::Error::from) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(amount) => sent += amount,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_for(PollFlags::OUT, deadline)?
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
        self.buffers.pending = 0;
        Ok(())
    }

    /// Waits until the socket is ready for `events`, or fails at the
    /// deadline with ureq's timeout of that name.
    fn wait_for(&self, events: PollFlags, deadline: Deadline) -> Result<(), ureq::Error> {
        loop {
            let left = deadline.left()?;
            let timeout = left.map(|left| Timespec {
                tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: left.subsec_nanos().into(),
            });
            let mut fds = [PollFd::new(self.stream.checked_before(), events)];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(0) => return Err(deadline.passed()),
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => {}
                Err(error) => return Err(io::Error::from(error).into()),
            }
        }
    }
}

/// A connected socket, used only while its number is still its own (see
/// [`Identified`]): checked before each request is sent and each time a
/// pooled connection is taken, so a request (which holds the secret)
/// never goes down a socket of the host program's.
type Socket = Identified<TcpStream>;

impl ShutdownHandle for Identified<TcpStream> {
    fn shutdown(&self) {
        if let Ok(stream) = self.ours() {
            ShutdownHandle::shutdown(stream);
        }
    }
}

/// When a read, a write or a connection must be done by, from ureq's
/// `NextTimeout`; `None` for no limit.
#[derive(Clone, Copy)]
struct Deadline {
    at: Option<Instant>,
    reason: ureq::Timeout,
}

impl Deadline {
    fn after(timeout: NextTimeout) -> Deadline {
        let at = match timeout.after {
            UreqDuration::Exact(after) => Some(
                Instant::now()
                    .checked_add(after)
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(u64::from(u32::MAX))),
            ),
            UreqDuration::NotHappening => None,
        };
        Deadline {
            at,
            reason: timeout.reason,
        }
    }

    /// The time left, or the timeout error when none is.
    fn left(&self) -> Result<Option<Duration>, ureq::Error> {
        match self.at {
            None => Ok(None),
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(self.passed()),
            },
        }
    }

    fn passed(&self) -> ureq::Error {
        ureq::Error::Timeout(self.reason)
    }
}
