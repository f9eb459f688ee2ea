//! Just enough HTTP/1.1 to read a client's requests and write scripted
//! answers, including broken ones.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A request exactly as it arrived.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub target: String,
    pub version: String,
    /// In arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the request line arrived.
    pub arrived: Instant,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body decoded as a form, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        String::from_utf8_lossy(&self.body)
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(name), form_decode(value))
            })
            .collect()
    }

    /// A form field's value.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub(crate) fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (other, _) => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a reply's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    Chunked,
    /// No length: the body ends when the server closes (HTTP/1.0 style).
    CloseDelimited,
}

/// A complete answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub framing: Framing,
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Action {
    Reply(Reply),
    /// Waits, then replies.
    Slow(Duration, Reply),
    /// Replies once the test releases held answers (see
    /// `TestServer::release_held`).
    Held(Reply),
    /// Closes the connection without answering.
    CloseSilently,
    /// Resets the connection (RST) without answering.
    Reset,
    /// Promises a body of 100 bytes, sends 20, closes.
    Truncated,
    /// A 200 whose body of `total` bytes is generated as it is sent.
    Stream {
        total: u64,
        chunked: bool,
    },
    /// A 200 whose body comes one byte a second.
    Dribble,
    /// These bytes exactly, whatever they are; the connection stays open
    /// for more requests unless `close`.
    Raw {
        bytes: Vec<u8>,
        close: bool,
    },
    /// `first`, then 50 ms later `rest` in one write, the connection kept
    /// open: an answer whose pieces fall anywhere.
    InTwo {
        first: Vec<u8>,
        rest: Vec<u8>,
    },
    /// Replies, keeping the connection open, then after `after` either
    /// sends `late` bytes nobody asked for or, when `None`, closes it: a
    /// pooled connection that went bad while idle.
    ThenLater {
        reply: Reply,
        after: Duration,
        late: Option<Vec<u8>>,
    },
}

/// Whether the connection may carry another request.
pub(crate) enum After {
    KeepAlive,
    Closed,
}

/// A connection the server answers on: plain TCP, or TLS over it.
pub(crate) trait Wire: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Wire for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Wire for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

pub(crate) struct Connection<W: Wire> {
    reader: BufReader<W>,
}

impl<W: Wire> Connection<W> {
    pub(crate) fn new(stream: W) -> Self {
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// The next request, or `None` when the client closed the connection.
    pub(crate) fn read_request(&mut self) -> io::Result<Option<RecordedRequest>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let arrived = Instant::now();
        let mut parts = line.trim_end().splitn(3, ' ');
        let mut next = || parts.next().unwrap_or_default().to_owned();
        let (method, target, version) = (next(), next(), next());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut request = RecordedRequest {
            method,
            target,
            version,
            headers,
            body: Vec::new(),
            arrived,
        };
        let length: usize = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        request.body = vec![0; length];
        self.reader.read_exact(&mut request.body)?;
        Ok(Some(request))
    }

    pub(crate) fn perform(&mut self, action: Action, streamed: &AtomicU64) -> io::Result<After> {
        let stream = self.reader.get_mut();
        match action {
            Action::Reply(reply) => write_reply(stream, &reply),
            Action::Slow(delay, reply) => {
                thread::sleep(delay);
                write_reply(stream, &reply)
            }
            Action::Held(reply) => write_reply(stream, &reply),
            Action::CloseSilently => {
                stream.tcp().shutdown(Shutdown::Both)?;
                Ok(After::Closed)
            }
            Action::Reset => {
                reset(stream.tcp());
                Ok(After::Closed)
            }
            Action::Truncated => {
                stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"access_token\":\"trunc")?;
                stream.flush()?;
                stream.tcp().shutdown(Shutdown::Both)?;
                Ok(After::Closed)
            }
            Action::Stream { total, chunked } => {
                // The client is expected to hang up early: an error here is the point.
                let _ = stream_body(stream, total, chunked, streamed);
                Ok(After::Closed)
            }
            Action::Dribble => {
                let _ = dribble(stream);
                Ok(After::Closed)
            }
            Action::ThenLater { reply, after, late } => {
                write_reply(stream, &reply)?;
                thread::sleep(after);
                match late {
                    Some(bytes) => {
                        stream.write_all(&bytes)?;
                        stream.flush()?;
                        // Wait for a request that must never come on this connection.
                        Ok(After::KeepAlive)
                    }
                    None => {
                        stream.tcp().shutdown(Shutdown::Both)?;
                        Ok(After::Closed)
                    }
                }
            }
            Action::InTwo { first, rest } => {
                stream.write_all(&first)?;
                stream.flush()?;
                std::thread::sleep(Duration::from_millis(50));
                stream.write_all(&rest)?;
                stream.flush()?;
                Ok(After::KeepAlive)
            }
            Action::Raw { bytes, close } => {
                stream.write_all(&bytes)?;
                stream.flush()?;
                if close {
                    stream.tcp().shutdown(Shutdown::Both)?;
                    return Ok(After::Closed);
                }
                Ok(After::KeepAlive)
            }
        }
    }
}

fn write_reply(stream: &mut impl Wire, reply: &Reply) -> io::Result<After> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.framing {
        Framing::ContentLength => {
            head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()))
        }
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::CloseDelimited => head.push_str("Connection: close\r\n"),
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    match reply.framing {
        Framing::Chunked => {
            // Several chunks, so the client must really reassemble them.
            for chunk in reply.body.chunks(7) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        _ => out.extend_from_slice(&reply.body),
    }
    stream.write_all(&out)?;
    stream.flush()?;
    let closes = reply.framing == Framing::CloseDelimited
        || reply
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
    if closes {
        stream.tcp().shutdown(Shutdown::Both)?;
        return Ok(After::Closed);
    }
    Ok(After::KeepAlive)
}

fn stream_body(
    stream: &mut impl Wire,
    total: u64,
    chunked: bool,
    streamed: &AtomicU64,
) -> io::Result<()> {
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {total}")
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )?;
    let block = [b' '; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let size = block.len().min((total - sent) as usize);
        if chunked {
            write!(stream, "{size:x}\r\n")?;
        }
        stream.write_all(&block[..size])?;
        if chunked {
            stream.write_all(b"\r\n")?;
        }
        sent += size as u64;
        streamed.fetch_add(size as u64, Ordering::SeqCst);
    }
    Ok(())
}

/// A valid token, one byte a second, for a client to give up on.
fn dribble(stream: &mut impl Wire) -> io::Result<()> {
    let body = br#"{"access_token":"slow-token","token_type":"Bearer","expires_in":900}"#;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    for byte in body {
        stream.write_all(&[*byte])?;
        stream.flush()?;
        thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// Closes with RST instead of FIN: SO_LINGER with a zero timeout.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
