//! Whole answers, byte for byte, over a real loopback connection to the
//! real client: status line, headers, framing and body as a server might
//! send them. It must never panic, must give every failure a status and a
//! clean message, and must never hold more than the body cap (checked by
//! counting the bytes allocated while the call runs).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Mutex, OnceLock};

use criteo_oauth::{Client, ClientConfig, TokenRequest, TokenRequestFields};
use libfuzzer_sys::fuzz_target;

/// Counts live heap bytes and remembers the peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live =
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The body cap (1 MiB) plus room for buffers, the parsed token and ureq's
/// own bookkeeping.
const MAX_EXTRA_BYTES: isize = 4 << 20;

/// The answer the server thread gives the next connection. A slot, not a
/// channel: should the client not connect for an input (a connection it
/// believed reusable turned out dead), nothing waits on anything.
static NEXT_ANSWER: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// A client for a server thread that answers each connection with the
/// current fuzz input, then closes it.
fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || serve(listener));
        let mut config = ClientConfig::default();
        config
            .set_host(&format!("http://127.0.0.1:{port}"))
            .unwrap();
        config.set_timeouts(1_000, 2_000).unwrap();
        config.set_max_retries(0).unwrap();
        config.set_proxy("").unwrap();
        config.build().unwrap()
    })
}

fn serve(listener: TcpListener) {
    for mut stream in listener.incoming().flatten() {
        // Read the request (headers and a small form body) before answering.
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        if let Some(answer) = NEXT_ANSWER.lock().unwrap().take() {
            let _ = stream.write_all(&answer);
        }
        let _ = stream.shutdown(Shutdown::Both);
    }
}

fuzz_target!(|data: &[u8]| {
    let client = client();
    let request = TokenRequest::new(&TokenRequestFields {
        grant_type: "client_credentials",
        client_id: "fuzz",
        client_secret: "fuzz-client-secret-0123",
        ..Default::default()
    })
    .unwrap();
    *NEXT_ANSWER.lock().unwrap() = Some(data.to_vec());
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let outcome = client.get_token(&request);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(peak < MAX_EXTRA_BYTES, "held {peak} bytes for one answer");
    if let Err(error) = outcome {
        let message = error.message();
        assert!(!message.contains(char::is_control), "{message:?}");
        assert!(!message.contains("fuzz-client-secret-0123"), "{message:?}");
    }
});
