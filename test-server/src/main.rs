//! Runs the test token server until killed. Prints its URL on the first
//! line of standard output, so scripts can read it.
//!
//! Usage: criteo-test-server [ADDRESS]   (default 127.0.0.1:0)

use std::io::Write;

fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let server = match criteo_test_server::TestServer::start_on(&address) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("criteo-test-server: cannot listen on {address}: {error}");
            std::process::exit(1);
        }
    };
    println!("{}", server.url());
    std::io::stdout().flush().expect("stdout is writable");
    loop {
        std::thread::park();
    }
}
