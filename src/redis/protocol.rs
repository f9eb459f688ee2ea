//! RESP2, Redis's protocol, for the few commands the store sends: a
//! command is an array of bulk strings; a reply is read with limits on
//! every length, so that a server answering garbage, an endless line or a
//! huge bulk string costs a bounded amount of memory and an error.
//!
//! A server's error text is never kept: only its code (`WRONGPASS`,
//! `READONLY`, ...), so that nothing a server echoes (a password sent in
//! `AUTH`, say) can reach a message.

use std::io::{self, BufRead, Read};

use zeroize::Zeroizing;

/// The longest line read (a status, an error, a number or a length).
const MAX_LINE_BYTES: usize = 1024;
/// The most bytes of bulk strings one reply may hold, all together: a
/// sealed record with room to spare.
pub(crate) const MAX_REPLY_BYTES: usize = 8 << 20;
/// The most elements in an array, and how deep arrays nest.
const MAX_ELEMENTS: usize = 16;
const MAX_DEPTH: u32 = 2;

#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    Status(String),
    /// The error's code: its first word when that is in capitals.
    Error(String),
    Integer(i64),
    /// `None` for a nil.
    Bulk(Option<Zeroizing<Vec<u8>>>),
    Array(Option<Vec<Reply>>),
}

/// `arguments` as one command.
pub(crate) fn encode(arguments: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let size: usize = arguments.iter().map(|a| a.len() + 16).sum();
    let mut command = Zeroizing::new(Vec::with_capacity(size + 16));
    command.extend_from_slice(format!("*{}\r\n", arguments.len()).as_bytes());
    for argument in arguments {
        command.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        command.extend_from_slice(argument);
        command.extend_from_slice(b"\r\n");
    }
    command
}

/// The next reply in `input`.
pub(crate) fn read_reply(input: &mut impl BufRead) -> io::Result<Reply> {
    let mut budget = MAX_REPLY_BYTES;
    read_at_depth(input, 0, &mut budget)
}

/// A reply nested `depth` deep, whose bulk strings may hold `budget` more
/// bytes.
fn read_at_depth(input: &mut impl BufRead, depth: u32, budget: &mut usize) -> io::Result<Reply> {
    // Told by its first byte, without waiting for the end of a line that
    // garbage may never have.
    match input.fill_buf()?.first() {
        None => return Err(closed_mid_reply()),
        Some(b'+' | b'-' | b':' | b'$' | b'*') => {}
        Some(other) => {
            return Err(malformed(&format!(
                "a reply of unknown type (first byte 0x{other:02x})"
            )));
        }
    }
    let line = read_line(input)?;
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| malformed("an empty line"))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    Ok(match kind {
        b'+' => Reply::Status(text()),
        b'-' => Reply::Error(error_code(rest)),
        b':' => Reply::Integer(number(rest)?),
        b'$' => match number(rest)? {
            -1 => Reply::Bulk(None),
            length => Reply::Bulk(Some(read_bulk(input, length, budget)?)),
        },
        b'*' => match number(rest)? {
            -1 => Reply::Array(None),
            count if depth >= MAX_DEPTH => {
                return Err(malformed(&format!("an array of {count} nested too deep")));
            }
            count => Reply::Array(Some(read_elements(input, count, depth, budget)?)),
        },
        _ => unreachable!("the first byte was checked"),
    })
}

fn read_elements(
    input: &mut impl BufRead,
    count: i64,
    depth: u32,
    budget: &mut usize,
) -> io::Result<Vec<Reply>> {
    let count = usize::try_from(count)
        .ok()
        .filter(|&count| count <= MAX_ELEMENTS)
        .ok_or_else(|| malformed(&format!("an array of {count} elements")))?;
    (0..count)
        .map(|_| read_at_depth(input, depth + 1, budget))
        .collect()
}

fn read_bulk(
    input: &mut impl BufRead,
    length: i64,
    budget: &mut usize,
) -> io::Result<Zeroizing<Vec<u8>>> {
    let length = usize::try_from(length)
        .ok()
        .filter(|&length| length <= *budget)
        .ok_or_else(|| {
            malformed(&format!(
                "a bulk string of {length} bytes, more than a reply may hold"
            ))
        })?;
    *budget -= length;
    // Grown as the bytes come: a length announced is not yet memory given.
    let mut bulk = Zeroizing::new(Vec::with_capacity(length.min(64 << 10) + 2));
    input.take(length as u64 + 2).read_to_end(&mut bulk)?;
    if bulk.len() < length + 2 {
        return Err(closed_mid_reply());
    }
    if !bulk.ends_with(b"\r\n") {
        return Err(malformed("a bulk string not ended by CRLF"));
    }
    bulk.truncate(length);
    Ok(bulk)
}

/// One line, without its CRLF, of at most [`MAX_LINE_BYTES`].
fn read_line(input: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Err(closed_mid_reply());
        }
        let end = memchr::memchr(b'\n', available);
        let taken = end.map_or(available.len(), |end| end + 1);
        line.extend_from_slice(&available[..taken]);
        input.consume(taken);
        if line.len() > MAX_LINE_BYTES + 2 {
            return Err(malformed("a line longer than 1024 bytes"));
        }
        if end.is_some() {
            break;
        }
    }
    match line.strip_suffix(b"\r\n") {
        Some(content) => Ok(content.to_vec()),
        None => Err(malformed("a line not ended by CRLF")),
    }
}

fn number(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| malformed("a number that is not one"))
}

/// The codes of Redis's error answers that a message may name.
const KNOWN_ERROR_CODES: &[&str] = &[
    "ERR",
    "WRONGTYPE",
    "NOAUTH",
    "WRONGPASS",
    "NOPERM",
    "READONLY",
    "OOM",
    "LOADING",
    "MASTERDOWN",
    "MISCONF",
    "NOREPLICAS",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "CROSSSLOT",
    "MOVED",
    "ASK",
    "NOSCRIPT",
    "BUSY",
    "EXECABORT",
    "UNBLOCKED",
    "BUSYKEY",
];

/// The error's code when its first word is one of Redis's codes; else a
/// word of ours. Nothing else of the server's text is kept: a server that
/// echoes what it was sent (a password in capitals, say) echoes it into
/// nothing.
fn error_code(text: &[u8]) -> String {
    let word = text.split(|&byte| byte == b' ').next().unwrap_or_default();
    let known = KNOWN_ERROR_CODES
        .iter()
        .find(|code| code.as_bytes() == word);
    known
        .map_or("(an error of no known code)", |code| code)
        .to_owned()
}

fn closed_mid_reply() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection in the middle of a reply",
    )
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the server answered {what}, which is not Redis's protocol"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut io::BufReader::new(bytes))
    }

    #[test]
    fn reads_each_kind_of_reply() {
        assert_eq!(read(b"+OK\r\n").unwrap(), Reply::Status("OK".into()));
        assert_eq!(read(b":-3\r\n").unwrap(), Reply::Integer(-3));
        assert_eq!(read(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        let bulk = read(b"$4\r\na\r\nb\r\n").unwrap();
        assert_eq!(bulk, Reply::Bulk(Some(Zeroizing::new(b"a\r\nb".to_vec()))));
        let array = read(b"*2\r\n$1\r\n7\r\n$-1\r\n").unwrap();
        assert_eq!(
            array,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(Zeroizing::new(b"7".to_vec()))),
                Reply::Bulk(None)
            ]))
        );
        assert_eq!(
            encode(&[b"GET", b"k"]).as_slice(),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }

    #[test]
    fn keeps_only_the_code_of_an_error() {
        let echoed = read(b"-WRONGPASS invalid password 'hunter2'\r\n").unwrap();
        assert_eq!(echoed, Reply::Error("WRONGPASS".into()));
        for echo in [
            &b"-hunter2 is wrong\r\n"[..],
            b"-HUNTER_TWO is wrong\r\n",
            b"-OK2\r\n",
        ] {
            let Reply::Error(code) = read(echo).unwrap() else {
                panic!()
            };
            assert_eq!(code, "(an error of no known code)");
        }
    }

    #[test]
    fn refuses_garbage_and_absurd_lengths_without_reading_them() {
        for bad in [
            &b"$999999999999\r\n"[..],
            b"*100000\r\n",
            b"*1\r\n*1\r\n*1\r\n:1\r\n",
            b"*2\r\n$8388608\r\n",
            b"?what\r\n",
            b"+OK\n",
            b"$3\r\nabcde",
            b":12x\r\n",
            b"",
            b"+OK",
        ] {
            assert!(read(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let endless = vec![b'+'; 1 << 20];
        assert!(read(&endless).is_err());
    }
}
