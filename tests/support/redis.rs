//! A real `redis-server` for the tests of the Redis store: on 127.0.0.1
//! and a free port, with a random password, nothing saved to disk, in a
//! temporary directory of its own; optionally with TLS from a test CA.
//! The tests look inside it through a Unix socket of its own, which
//! works whatever its TCP ports do (TLS only, killed and restarted).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criteo_test_server::TestCa;

/// One answer of the server, as RESP2 has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    /// The answer as text: an array's elements one a line, nil as "".
    pub fn text(&self) -> String {
        match self {
            Reply::Status(text) | Reply::Error(text) => text.clone(),
            Reply::Integer(n) => n.to_string(),
            Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Reply::Nil => String::new(),
            Reply::Array(items) => items.iter().map(Reply::text).collect::<Vec<_>>().join("\n"),
        }
    }

    /// Every bulk string in the answer, at any depth, in order.
    pub fn bulks(&self) -> Vec<Vec<u8>> {
        match self {
            Reply::Bulk(bytes) => vec![bytes.clone()],
            Reply::Array(items) => items.iter().flat_map(Reply::bulks).collect(),
            _ => Vec::new(),
        }
    }
}

/// An ACL user, kept to be made again after a restart.
#[derive(Debug, Clone)]
struct User {
    name: String,
    password: String,
    prefix: String,
}

/// The commands the store sends, as docs/sharing-across-hosts.md lists
/// them for an ACL user limited to a prefix.
const ACL_COMMANDS: [&str; 12] = [
    "+get", "+set", "+del", "+hmget", "+hset", "+hget", "+pttl", "+pexpire", "+eval", "+time",
    "+auth", "+select",
];

/// A running `redis-server`, killed and its directory removed on drop.
pub struct RedisServer {
    dir: PathBuf,
    /// The plain TCP port; 0 when the server speaks TLS only.
    port: u16,
    tls_port: Option<u16>,
    password: String,
    child: Mutex<Option<Child>>,
    users: Mutex<Vec<User>>,
}

impl RedisServer {
    /// A server on a plain port, or `None` (after a loud SKIP) when
    /// `redis-server` is not installed. Under `CI=true` that panics
    /// instead: CI must run every test.
    pub fn start() -> Option<RedisServer> {
        Self::launch(None)
    }

    /// A server that speaks TLS only (its plain port is off), with a
    /// certificate for 127.0.0.1 from `ca`.
    pub fn start_tls(ca: &TestCa) -> Option<RedisServer> {
        Self::launch(Some(ca))
    }

    fn launch(ca: Option<&TestCa>) -> Option<RedisServer> {
        if !installed() {
            return None;
        }
        let dir = new_dir();
        if let Some(ca) = ca {
            ca.write_server_pem(&["127.0.0.1"], &dir.join("cert.pem"), &dir.join("key.pem"))
                .unwrap();
            std::fs::copy(ca.pem_path(), dir.join("ca.pem")).unwrap();
        }
        let ports = || match ca {
            Some(_) => (0, Some(free_port())),
            None => (free_port(), None),
        };
        let (port, tls_port) = ports();
        let mut server = RedisServer {
            dir,
            port,
            tls_port,
            password: random_hex(16),
            child: Mutex::new(None),
            users: Mutex::new(Vec::new()),
        };
        // A port found free may be taken by another test before the
        // server binds it: then try another.
        for _ in 0..5 {
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(log) if log.contains("Address already in use") => {
                    (server.port, server.tls_port) = ports();
                }
                Err(log) => panic!("redis-server did not start:\n{log}"),
            }
        }
        panic!("redis-server found no free port in 5 tries")
    }

    /// Starts the process on this server's ports and waits until it
    /// answers PING; on failure, what its log says.
    fn spawn(&self) -> Result<(), String> {
        let dir = self.dir.to_str().unwrap();
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--requirepass", &self.password])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", dir, "--logfile", &format!("{dir}/redis.log")])
            .args(["--unixsocket", &self.socket().to_string_lossy()])
            .args(["--unixsocketperm", "700"]);
        if let Some(tls_port) = self.tls_port {
            command
                .args(["--tls-port", &tls_port.to_string()])
                .args(["--tls-cert-file", &format!("{dir}/cert.pem")])
                .args(["--tls-key-file", &format!("{dir}/key.pem")])
                .args(["--tls-ca-cert-file", &format!("{dir}/ca.pem")])
                .args(["--tls-auth-clients", "no"]);
        }
        let _ = std::fs::remove_file(self.dir.join("redis.log"));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            if self
                .try_command(&[b"PING"])
                .is_ok_and(|reply| reply.text() == "PONG")
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no PONG within 10 s:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        *self.child.lock().unwrap() = Some(child);
        Ok(())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The password of the default user (`requirepass`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The plain port (0 for a server started with [`Self::start_tls`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://:<password>@127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        self.url_db(0)
    }

    /// `redis://:<password>@127.0.0.1:<port>/<db>`.
    pub fn url_db(&self, db: u32) -> String {
        assert_ne!(self.port, 0, "a TLS-only server has no plain URL");
        format!("redis://:{}@127.0.0.1:{}/{db}", self.password, self.port)
    }

    /// [`Self::url`] with `?prefix=<prefix>`.
    pub fn url_prefix(&self, prefix: &str) -> String {
        format!("{}?prefix={prefix}", self.url())
    }

    /// How a store error must name this server: `redis://127.0.0.1:<port>/0`.
    pub fn store_name(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `rediss://:<password>@127.0.0.1:<tls port>/0`.
    pub fn tls_url(&self) -> String {
        format!(
            "rediss://:{}@127.0.0.1:{}/0",
            self.password,
            self.tls_port()
        )
    }

    pub fn tls_port(&self) -> u16 {
        self.tls_port.expect("a server started with start_tls")
    }

    /// A URL for the ACL user `user` (made now, or made anew), who may
    /// touch only keys that start with `prefix`, and with `?prefix=<prefix>`.
    /// The user's password has characters a URL must percent-encode.
    pub fn url_with(&self, user: &str, prefix: &str) -> String {
        let password = self.add_user(user, prefix);
        format!(
            "redis://{user}:{}@127.0.0.1:{}/0?prefix={prefix}",
            percent_encode(&password),
            self.port
        )
    }

    /// The (decoded) password of an ACL user made by [`Self::url_with`].
    pub fn user_password(&self, user: &str) -> String {
        let users = self.users.lock().unwrap();
        let found = users.iter().find(|known| known.name == user);
        found.expect("a user made by url_with").password.clone()
    }

    fn add_user(&self, name: &str, prefix: &str) -> String {
        let password = format!("p@ss:w/rd %+?#&={}", random_hex(8));
        let user = User {
            name: name.to_owned(),
            password: password.clone(),
            prefix: prefix.to_owned(),
        };
        self.set_user(&user);
        let mut users = self.users.lock().unwrap();
        users.retain(|known| known.name != name);
        users.push(user);
        password
    }

    /// The user, with exactly the commands docs/sharing-across-hosts.md
    /// lists for an ACL user of a prefix.
    fn set_user(&self, user: &User) {
        let (password, keys) = (format!(">{}", user.password), format!("~{}*", user.prefix));
        let mut words = vec![
            "ACL", "SETUSER", &user.name, "reset", "on", &password, &keys,
        ];
        words.extend(ACL_COMMANDS);
        self.command(&words);
    }

    /// Kills the server with SIGKILL, as a crash or an OOM kill would.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGSTOP: connections are still accepted (by
    /// the kernel) and nothing is answered, as a blackholed or stalled
    /// server. [`Self::resume`] lets it go on.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        let child = self.child.lock().unwrap();
        let pid = child.as_ref().expect("a running server").id();
        // SAFETY: a plain kill(2) on our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    }

    /// Kills the server and starts it again on the same ports with the
    /// same passwords and users, and no data (as a restart without
    /// persistence).
    pub fn restart_empty(&self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(log) = self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        for user in self.users.lock().unwrap().iter() {
            self.set_user(user);
        }
    }

    /// A command's answer as text (see [`Reply::text`]); panics on an
    /// error answer.
    pub fn command(&self, words: &[&str]) -> String {
        let words: Vec<&[u8]> = words.iter().map(|word| word.as_bytes()).collect();
        match self.try_command(&words) {
            Ok(Reply::Error(error)) => panic!("{words:?}: {error}"),
            Ok(reply) => reply.text(),
            Err(error) => panic!("{words:?}: {error}"),
        }
    }

    /// One command on a connection of its own, authenticated as the
    /// default user.
    pub fn try_command(&self, words: &[&[u8]]) -> std::io::Result<Reply> {
        Admin::connect(self)?.call(words)
    }

    /// Every key of database 0 with the bytes it holds (see [`Self::dump_db`]).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        self.dump_db(0)
    }

    /// Every key of database `db`, sorted, with every value it holds
    /// concatenated: a string's bytes, a hash's field values, a list's or
    /// set's members.
    pub fn dump_db(&self, db: u32) -> Vec<(String, Vec<u8>)> {
        let mut admin = Admin::connect(self).unwrap();
        admin.ok(&[b"SELECT", db.to_string().as_bytes()]);
        let mut keys = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let reply = admin.ok(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let Reply::Array(parts) = reply else {
                panic!("SCAN answered {reply:?}")
            };
            let [Reply::Bulk(next), found] = &parts[..] else {
                panic!("SCAN answered {parts:?}")
            };
            keys.extend(found.bulks());
            if next == b"0" {
                break;
            }
            cursor = next.clone();
        }
        keys.sort();
        keys.dedup();
        let mut dump = Vec::new();
        for key in keys {
            let kind = admin.ok(&[b"TYPE", &key]).text();
            let values = match kind.as_str() {
                "string" => admin.ok(&[b"GET", &key]).bulks(),
                "hash" => admin.ok(&[b"HVALS", &key]).bulks(),
                "list" => admin.ok(&[b"LRANGE", &key, b"0", b"-1"]).bulks(),
                "set" => admin.ok(&[b"SMEMBERS", &key]).bulks(),
                "zset" => admin.ok(&[b"ZRANGE", &key, b"0", b"-1"]).bulks(),
                "none" => continue, // expired since SCAN
                other => panic!("key {key:?} of type {other}"),
            };
            let key = String::from_utf8_lossy(&key).into_owned();
            dump.push((key, values.concat()));
        }
        dump
    }

    /// A hash's fields and values (`HGETALL`), in the server's order.
    pub fn hash(&self, key: &str) -> Vec<(String, Vec<u8>)> {
        let mut admin = Admin::connect(self).unwrap();
        let bulks = admin.ok(&[b"HGETALL", key.as_bytes()]).bulks();
        bulks
            .chunks(2)
            .map(|pair| {
                (
                    String::from_utf8_lossy(&pair[0]).into_owned(),
                    pair[1].clone(),
                )
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A connection of the tests' own to the server's Unix socket.
struct Admin {
    reader: BufReader<UnixStream>,
}

impl Admin {
    fn connect(server: &RedisServer) -> std::io::Result<Admin> {
        let stream = UnixStream::connect(server.socket())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut admin = Admin {
            reader: BufReader::new(stream),
        };
        match admin.call(&[b"AUTH", server.password.as_bytes()])? {
            Reply::Status(ok) if ok == "OK" => Ok(admin),
            other => Err(std::io::Error::other(format!("AUTH answered {other:?}"))),
        }
    }

    fn call(&mut self, words: &[&[u8]]) -> std::io::Result<Reply> {
        let mut request = format!("*{}\r\n", words.len()).into_bytes();
        for word in words {
            request.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
            request.extend_from_slice(word);
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request)?;
        read_reply(&mut self.reader)
    }

    /// A command that must not fail.
    fn ok(&mut self, words: &[&[u8]]) -> Reply {
        match self.call(words) {
            Ok(Reply::Error(error)) => panic!("{words:?}: {error}"),
            Ok(reply) => reply,
            Err(error) => panic!("{words:?}: {error}"),
        }
    }
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return Err(std::io::Error::other(format!("not RESP: {line:?}")));
    };
    let (kind, rest) = line.split_first().unwrap();
    let rest = String::from_utf8_lossy(rest).into_owned();
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| std::io::Error::other(format!("not a number: {rest:?}")))
    };
    Ok(match kind {
        b'+' => Reply::Status(rest),
        b'-' => Reply::Error(rest),
        b':' => Reply::Integer(number()?),
        b'$' if number()? < 0 => Reply::Nil,
        b'$' => {
            let mut bytes = vec![0; number()? as usize + 2];
            reader.read_exact(&mut bytes)?;
            bytes.truncate(bytes.len() - 2);
            Reply::Bulk(bytes)
        }
        b'*' if number()? < 0 => Reply::Nil,
        b'*' => Reply::Array(
            (0..number()?)
                .map(|_| read_reply(reader))
                .collect::<std::io::Result<_>>()?,
        ),
        _ => return Err(std::io::Error::other(format!("not RESP: {line:?}"))),
    })
}

/// Whether `redis-server` can be run; if not, says SKIP loudly, or
/// panics under `CI=true`.
fn installed() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        let message = "SKIP: redis-server not installed (scripts/test-deps.sh installs it)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "redis-server not installed (scripts/test-deps.sh installs it), and CI=true runs every test"
            );
        }
        // Straight to stderr: the test harness captures eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "\n{}\n{message}\n{}",
            "#".repeat(72),
            "#".repeat(72)
        );
    }
    found
}

/// A fresh directory for one server (short: its Unix socket's path must
/// fit in 108 bytes).
fn new_dir() -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new("/tmp").join(format!(
        "criteo-redis-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// A TCP port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `bytes` random bytes from the system, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut random = vec![0; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut random))
        .unwrap();
    random.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
