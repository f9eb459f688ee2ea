//! A fake Redis server on loopback that reads real RESP commands and gives
//! hostile answers, for the tests of the library's Redis store: every
//! mode is a way a server or the network between can fail a client, and
//! each `error-<WORD>` answer quotes the password it got in `AUTH`, so a
//! test can check that the library never repeats it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

/// Every mode, with what it answers (for `criteo-test-server --help`).
pub const MODES: &[(&str, &str)] = &[
    (
        "garbage",
        "random bytes that are not RESP, to every command",
    ),
    (
        "huge-bulk",
        "$999999999999, then bytes without end, to the first command",
    ),
    (
        "one-byte-a-second",
        "a correct answer (+OK, +PONG) to each command, one byte a second",
    ),
    ("silent", "accepts and reads, never answers"),
    (
        "close-mid-answer",
        "half an answer to the first command, then closes",
    ),
    (
        "error-<WORD>",
        "-WORD and text quoting the AUTH password, to every command",
    ),
    (
        "echo-password",
        "an error whose first word is the AUTH password, to every command",
    ),
];

/// How the fake server answers each command it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeRedisMode {
    Garbage,
    HugeBulk,
    OneByteASecond,
    Silent,
    CloseMidAnswer,
    /// `-WORD ...`, e.g. `Error("NOAUTH")`, `Error("READONLY")`.
    Error(String),
    /// `-<password> is not the password`: the password where a code goes.
    EchoPassword,
}

impl FakeRedisMode {
    /// The mode a name of [`MODES`] stands for (`error-OOM` for `error-<WORD>`).
    pub fn parse(name: &str) -> Option<FakeRedisMode> {
        Some(match name {
            "garbage" => FakeRedisMode::Garbage,
            "echo-password" => FakeRedisMode::EchoPassword,
            "huge-bulk" => FakeRedisMode::HugeBulk,
            "one-byte-a-second" => FakeRedisMode::OneByteASecond,
            "silent" => FakeRedisMode::Silent,
            "close-mid-answer" => FakeRedisMode::CloseMidAnswer,
            _ => {
                let word = name.strip_prefix("error-")?;
                let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric());
                FakeRedisMode::Error(plain.then(|| word.to_owned())?)
            }
        })
    }
}

/// What the fake server has seen, shared with the tests.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// The name of every command read (upper-cased), oldest first.
    commands: Mutex<Vec<String>>,
}

/// A running fake Redis; it serves until the process ends.
pub struct FakeRedis {
    address: SocketAddr,
    seen: Arc<Seen>,
}

impl FakeRedis {
    /// Listens on 127.0.0.1 and a port the system picks.
    pub fn start(mode: FakeRedisMode) -> io::Result<FakeRedis> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let fake = FakeRedis {
            address: listener.local_addr()?,
            seen: Arc::default(),
        };
        let seen = Arc::clone(&fake.seen);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                seen.connections.fetch_add(1, Ordering::SeqCst);
                let (seen, mode) = (Arc::clone(&seen), mode.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &mode, &seen);
                });
            }
        });
        Ok(fake)
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// How many TCP connections have been accepted.
    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// The name of every command read so far (`AUTH`, `SET`, ...), oldest first.
    pub fn commands(&self) -> Vec<String> {
        self.seen.commands.lock().unwrap().clone()
    }
}

/// Reads commands and answers each as `mode` says, until either side closes.
fn serve(stream: TcpStream, mode: &FakeRedisMode, seen: &Seen) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut password = None;
    while let Some(command) = read_command(&mut reader)? {
        let name = command
            .first()
            .map(|word| String::from_utf8_lossy(word).to_ascii_uppercase())
            .unwrap_or_default();
        seen.commands.lock().unwrap().push(name.clone());
        if name == "AUTH" || name == "HELLO" {
            // AUTH [user] password; HELLO 3 AUTH user password.
            password = command
                .last()
                .map(|word| String::from_utf8_lossy(word).into_owned());
        }
        match mode {
            FakeRedisMode::Garbage => writer.write_all(&garbage())?,
            FakeRedisMode::HugeBulk => {
                writer.write_all(b"$999999999999\r\n")?;
                let endless = [b'x'; 64 * 1024];
                loop {
                    writer.write_all(&endless)?;
                }
            }
            FakeRedisMode::OneByteASecond => {
                let answer: &[u8] = if name == "PING" {
                    b"+PONG\r\n"
                } else {
                    b"+OK\r\n"
                };
                for byte in answer {
                    writer.write_all(&[*byte])?;
                    thread::sleep(Duration::from_secs(1));
                }
            }
            FakeRedisMode::Silent => {}
            FakeRedisMode::CloseMidAnswer => {
                writer.write_all(b"$20\r\n0123456789")?;
                return writer.shutdown(Shutdown::Both);
            }
            FakeRedisMode::Error(word) => {
                let password = password.as_deref().unwrap_or("(none yet)");
                let answer = format!(
                    "-{word} {name} refused; the password you sent was {password} \
                     (AUTH {password})\r\n"
                );
                writer.write_all(answer.as_bytes())?;
            }
            FakeRedisMode::EchoPassword => {
                let password = password.as_deref().unwrap_or("NONE_YET");
                writer.write_all(format!("-{password} is not the password\r\n").as_bytes())?;
            }
        }
    }
    Ok(())
}

/// One command: a RESP array of bulk strings, or an inline line of words.
/// `None` at the end of the stream.
fn read_command(reader: &mut impl BufRead) -> io::Result<Option<Vec<Vec<u8>>>> {
    let Some(line) = read_line(reader)? else {
        return Ok(None);
    };
    let Some(count) = line.strip_prefix(b"*") else {
        let words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
        return Ok(Some(words.map(<[u8]>::to_vec).collect()));
    };
    let count = number(count)?;
    let mut words = Vec::new();
    for _ in 0..count.min(1024) {
        let header = read_line(reader)?.ok_or_else(cut_short)?;
        let length = header.strip_prefix(b"$").ok_or_else(not_resp)?;
        // No client of ours sends a large argument; refuse rather than buffer.
        let length = number(length)?.min(1 << 20);
        let mut word = vec![0; length + 2];
        reader.read_exact(&mut word)?;
        word.truncate(length);
        words.push(word);
    }
    Ok(Some(words))
}

/// A line without its CRLF, at most 64 KiB long.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    reader.take(64 * 1024).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn number(text: &[u8]) -> io::Result<usize> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(not_resp)
}

fn not_resp() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "not RESP")
}

fn cut_short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "command cut short")
}

/// 64 bytes that no RESP reader can take for an answer: the first is none
/// of RESP's type bytes, and the rest are random.
fn garbage() -> Vec<u8> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos() as u64);
    // xorshift64*, seeded anew for each answer: random enough for a test.
    let mut state = (nanos ^ ((COUNT.fetch_add(1, Ordering::SeqCst) as u64) << 32)) | 1;
    let mut bytes = vec![0x01];
    bytes.extend((1..64).map(|_| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    }));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `command` as RESP and reads what comes back within `wait`.
    fn exchange(fake: &FakeRedis, command: &[&str], wait: Duration) -> Vec<u8> {
        let mut stream = TcpStream::connect(fake.address).unwrap();
        let mut request = format!("*{}\r\n", command.len());
        for word in command {
            request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        stream.set_read_timeout(Some(wait)).unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0; 4096];
        while answer.len() < 100_000 {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
        answer
    }

    fn start(name: &str) -> FakeRedis {
        FakeRedis::start(FakeRedisMode::parse(name).unwrap()).unwrap()
    }

    #[test]
    fn an_error_answer_quotes_the_password_of_auth() {
        let fake = start("error-WRONGPASS");
        let answer = exchange(&fake, &["AUTH", "hunter2"], Duration::from_millis(500));
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("-WRONGPASS "), "{answer}");
        assert!(
            answer.ends_with("\r\n") && answer.contains("hunter2"),
            "{answer}"
        );
        assert_eq!(fake.commands(), ["AUTH"]);
        assert_eq!(fake.connections(), 1);
    }

    #[test]
    fn each_mode_answers_as_documented() {
        let short = Duration::from_millis(300);
        let garbage = exchange(&start("garbage"), &["PING"], short);
        assert_eq!(garbage.len(), 64);
        assert!(!b"+-:$*_,#!=(%~>|".contains(&garbage[0]));
        let huge = exchange(&start("huge-bulk"), &["GET", "k"], short);
        assert!(huge.starts_with(b"$999999999999\r\nxxx") && huge.len() >= 100_000);
        assert!(exchange(&start("silent"), &["PING"], short).is_empty());
        assert_eq!(
            exchange(&start("close-mid-answer"), &["PING"], short),
            b"$20\r\n0123456789"
        );
        // One byte now, the next a second later: within 300 ms, just "+".
        assert_eq!(
            exchange(&start("one-byte-a-second"), &["PING"], short),
            b"+"
        );
    }

    #[test]
    fn inline_commands_are_read_too() {
        let fake = start("silent");
        let mut stream = TcpStream::connect(fake.address).unwrap();
        stream.write_all(b"PING\r\nset a b\r\n").unwrap();
        for _ in 0..100 {
            if fake.commands().len() == 2 {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(fake.commands(), ["PING", "SET"]);
    }

    #[test]
    fn every_listed_mode_parses_and_nothing_else() {
        for (name, _) in MODES {
            let name = name.replace("<WORD>", "READONLY");
            assert!(FakeRedisMode::parse(&name).is_some(), "{name}");
        }
        for name in ["", "error-", "error-two words", "loud"] {
            assert_eq!(FakeRedisMode::parse(name), None, "{name}");
        }
    }
}
