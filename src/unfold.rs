//! Folded header lines, unfolded. RFC 9112 §5.2: a user agent that
//! receives an obs-fold (a line break followed by a space or tab, which
//! continues the field line before it) MUST replace it with spaces before
//! interpreting the field. ureq's parser cannot be told to, so this
//! transport, at the top of the connector chain (over TCP, TLS and
//! proxies alike), does it to the answer's head before ureq reads it: each
//! folding line break becomes as many spaces, so no length changes. The
//! body passes untouched.

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
};

/// Wraps every connection to the server in [`Unfolding`], and none to a
/// CONNECT proxy: what goes through the tunnel after the proxy's answer is
/// TLS, which must reach the TLS layer byte for byte.
#[derive(Debug)]
pub(crate) struct UnfoldConnector {
    /// Whether the agent has a proxy: ureq then connects to the proxy
    /// through the whole chain, with a configuration that has none.
    proxied: bool,
}

impl UnfoldConnector {
    pub(crate) fn new(config: &ureq::config::Config) -> Self {
        UnfoldConnector {
            proxied: config.proxy().is_some(),
        }
    }
}

impl<In: Transport> Connector<In> for UnfoldConnector {
    type Out = Either<In, Unfolding<In>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(inner) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if self.proxied && details.config.proxy().is_none() {
            return Ok(Some(Either::A(inner)));
        }
        Ok(Some(Either::B(Unfolding {
            inner,
            // Only its input is used (the output is the inner one's), but
            // ureq's buffers must have some output.
            input: LazyBuffers::new(details.config.input_buffer_size(), 1),
            head: Head::default(),
        })))
    }
}

/// A connection whose answers reach ureq with their heads unfolded: the
/// output is the inner transport's, the input a copy of its input.
#[derive(Debug)]
pub(crate) struct Unfolding<T> {
    inner: T,
    input: LazyBuffers,
    head: Head,
}

/// Where the answer being read is: in its head (and where in the line), or
/// in its body.
#[derive(Debug, Default)]
struct Head {
    in_body: bool,
    /// Bytes of the current line so far.
    line: usize,
    /// Whether the current line is the status line (which nothing folds
    /// onto).
    after_status_line: bool,
    /// The status line's first bytes: a `1xx` head is followed by another.
    status: [u8; 10],
}

impl<T: Transport> Buffers for Unfolding<T> {
    fn output(&mut self) -> &mut [u8] {
        self.inner.buffers().output()
    }

    fn input(&self) -> &[u8] {
        self.input.input()
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.input.input_append_buf()
    }

    fn input_appended(&mut self, amount: usize) {
        self.input.input_appended(amount)
    }

    fn input_consume(&mut self, amount: usize) {
        self.input.input_consume(amount)
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.inner.buffers().tmp_and_output()
    }

    fn can_use_input(&self) -> bool {
        self.input.can_use_input()
    }
}

impl<T: Transport> Transport for Unfolding<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self
    }

    /// A request goes out: its answer's head comes next.
    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.head = Head::default();
        self.inner.transmit_output(amount, timeout)
    }

    /// What the inner transport already holds is passed on before it is
    /// asked to read: an answer may have come in one piece larger than the
    /// room left here.
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let mut more = true;
        loop {
            let fresh = self.inner.buffers().input();
            let room = self.input.input_append_buf();
            if room.is_empty() {
                return Ok(false);
            }
            let written = self.head.unfold(fresh, room, !more);
            self.input.input_appended(written);
            self.inner.buffers().input_consume(written);
            // Nothing written: nothing held, or a line break whose next
            // byte decides has not come yet.
            if written > 0 || !more {
                return Ok(written > 0);
            }
            more = self.inner.await_input(timeout)?;
        }
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl Head {
    /// Copies what it can of `fresh` into `room`, unfolded; says how many
    /// bytes it copied (unfolding keeps every length). A line break in the
    /// head is taken only with the byte after it, unless `at_end`.
    fn unfold(&mut self, fresh: &[u8], room: &mut [u8], at_end: bool) -> usize {
        let mut at = 0;
        while at < fresh.len() && at < room.len() {
            if self.in_body {
                let amount = (fresh.len() - at).min(room.len() - at);
                room[at..at + amount].copy_from_slice(&fresh[at..at + amount]);
                return at + amount;
            }
            let Some(taken) = self.head_step(&fresh[at..], &mut room[at..], at_end) else {
                break;
            };
            at += taken;
        }
        at
    }

    /// One byte of the head, or one line break: how many bytes it took,
    /// or `None` when it cannot tell yet (or `room` is too small).
    fn head_step(&mut self, fresh: &[u8], room: &mut [u8], at_end: bool) -> Option<usize> {
        let line_break = match fresh {
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            [b'\r'] if !at_end => return None,
            [byte, ..] => {
                room[0] = *byte;
                if !self.after_status_line && self.line < self.status.len() {
                    self.status[self.line] = *byte;
                }
                self.line += 1;
                return Some(1);
            }
            [] => return None,
        };
        if room.len() < line_break {
            return None;
        }
        // Empty lines before the status line are passed over, as the
        // parser does.
        if self.line == 0 && !self.after_status_line {
            room[..line_break].copy_from_slice(&fresh[..line_break]);
            return Some(line_break);
        }
        let folds = match fresh.get(line_break) {
            _ if self.line == 0 => false,
            Some(b' ' | b'\t') => self.after_status_line,
            Some(_) => false,
            None if at_end => false,
            None => return None,
        };
        if folds {
            room[..line_break].fill(b' ');
            return Some(line_break);
        }
        room[..line_break].copy_from_slice(&fresh[..line_break]);
        if self.line == 0 {
            self.end_of_head();
        } else {
            self.after_status_line = true;
        }
        self.line = 0;
        Some(line_break)
    }

    /// An empty line ends the head; an informational (`1xx`) answer's head
    /// is followed by the real answer's.
    fn end_of_head(&mut self) {
        let informational = self.status.starts_with(b"HTTP/1.") && self.status[9] == b'1';
        *self = Head {
            in_body: !informational,
            ..Head::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `answer` unfolded, handed over in pieces of `piece` bytes.
    fn unfolded(answer: &[u8], piece: usize) -> Vec<u8> {
        let mut head = Head::default();
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        let mut chunks = answer.chunks(piece).peekable();
        while let Some(chunk) = chunks.next() {
            pending.extend_from_slice(chunk);
            let at_end = chunks.peek().is_none();
            let mut room = vec![0; pending.len()];
            let written = head.unfold(&pending, &mut room, at_end);
            out.extend_from_slice(&room[..written]);
            pending.drain(..written);
        }
        assert!(pending.is_empty(), "all taken at the end");
        out
    }

    #[test]
    fn folded_lines_become_spaces_whatever_the_pieces() {
        let answer =
            b"HTTP/1.1 200 OK\r\nX-Note: first\r\n second\n\tthird\r\nA: b\r\n\r\nbody\r\n x";
        let expected =
            b"HTTP/1.1 200 OK\r\nX-Note: first   second \tthird\r\nA: b\r\n\r\nbody\r\n x";
        for piece in 1..answer.len() {
            assert_eq!(unfolded(answer, piece), expected, "pieces of {piece}");
        }
    }

    #[test]
    fn the_head_after_an_informational_answer_is_unfolded_too() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n";
        let expected = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b   c\r\n\r\n";
        assert_eq!(unfolded(answer, 3), expected);
    }

    #[test]
    fn empty_lines_before_the_status_line_are_not_the_end_of_the_head() {
        let answer = b"\r\n\nHTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n";
        let expected = b"\r\n\nHTTP/1.1 200 OK\r\nA: b   c\r\n\r\n";
        for piece in 1..answer.len() {
            assert_eq!(unfolded(answer, piece), expected, "pieces of {piece}");
        }
    }

    #[test]
    fn nothing_folds_onto_the_status_line_and_a_cut_head_is_kept() {
        let answer = b"HTTP/1.1 200 OK\r\n bad\r\n\r\n";
        assert_eq!(unfolded(answer, 4), answer, "left for the parser to refuse");
        assert_eq!(
            unfolded(b"HTTP/1.1 200 OK\r\nA: b\r", 5),
            b"HTTP/1.1 200 OK\r\nA: b\r"
        );
    }
}
