//! Runs the test token server until killed. Prints its URL on the first
//! line of standard output, so scripts can read it. `--help` says how to
//! use it and lists the scenarios (see `catalogue.rs`). With
//! `--fake-redis MODE` it runs a fake Redis server instead and prints its
//! port.

use std::io::Write;

use criteo_test_server::{
    ConnectProxy, FakeRedis, FakeRedisMode, TestCa, TestServer, Validity, catalogue,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut ca_file, mut proxy, mut address) = (None, false, "127.0.0.1:0".to_owned());
    let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => ca_file = Some(args.next().unwrap_or_else(|| usage())),
            "--tls-name" => names.push(args.next().unwrap_or_else(|| usage())),
            "--proxy" => proxy = true,
            "--fake-redis" => fake_redis(&args.next().unwrap_or_else(|| usage())),
            "--help" | "-h" => {
                print!("{}", catalogue::help());
                std::process::exit(0);
            }
            _ if arg.starts_with('-') => usage(),
            _ => address = arg,
        }
    }
    let ca = ca_file.map(|path| {
        TestCa::with_pem_at(path.clone().into())
            .unwrap_or_else(|e| die(&format!("cannot write {path}: {e}")))
    });
    let server = match &ca {
        Some(ca) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            TestServer::start_tls(ca.server_config(&names, Validity::Current))
        }
        None => TestServer::start_on(&address),
    }
    .unwrap_or_else(|e| die(&format!("cannot listen on {address}: {e}")));
    println!("{}", server.url());
    let proxy = proxy.then(|| ConnectProxy::start().unwrap_or_else(|e| die(&e.to_string())));
    if let Some(proxy) = &proxy {
        println!("{}", proxy.url());
    }
    std::io::stdout().flush().expect("stdout is writable");
    loop {
        std::thread::park();
    }
}

/// Runs a fake Redis server until killed, its port on the first line.
fn fake_redis(mode: &str) -> ! {
    let mode = FakeRedisMode::parse(mode)
        .unwrap_or_else(|| die(&format!("unknown fake Redis mode {mode:?} (see --help)")));
    let fake = FakeRedis::start(mode).unwrap_or_else(|e| die(&e.to_string()));
    println!("{}", fake.port());
    std::io::stdout().flush().expect("stdout is writable");
    loop {
        std::thread::park();
    }
}

fn usage() -> ! {
    die(catalogue::USAGE)
}

fn die(message: &str) -> ! {
    eprintln!("criteo-test-server: {message}");
    std::process::exit(1);
}
