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
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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

/// A server thread that answers each connection with the next fuzz input.
struct Replay {
    client: Client,
    answers: SyncSender<Vec<u8>>,
}

fn replay() -> &'static Mutex<Replay> {
    static REPLAY: OnceLock<Mutex<Replay>> = OnceLock::new();
    REPLAY.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (answers, inputs) = sync_channel(0);
        std::thread::spawn(move || serve(listener, inputs));
        let mut config = ClientConfig::default();
        config
            .set_host(&format!("http://127.0.0.1:{port}"))
            .unwrap();
        config.set_timeouts(1_000, 2_000).unwrap();
        config.set_max_retries(0).unwrap();
        config.set_proxy("").unwrap();
        Mutex::new(Replay {
            client: config.build().unwrap(),
            answers,
        })
    })
}

fn serve(listener: TcpListener, inputs: Receiver<Vec<u8>>) {
    for mut stream in listener.incoming().flatten() {
        let Ok(answer) = inputs.recv() else { return };
        // Read the request (headers and a small form body) before answering.
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(&answer);
        let _ = stream.shutdown(Shutdown::Both);
    }
}

fuzz_target!(|data: &[u8]| {
    let replay = replay().lock().unwrap();
    let request = TokenRequest::new(&TokenRequestFields {
        grant_type: "client_credentials",
        client_id: "fuzz",
        client_secret: "fuzz-client-secret-0123",
        ..Default::default()
    })
    .unwrap();
    // Every call opens a new connection: the server closes after answering.
    let sender = replay.answers.clone();
    let answer = data.to_vec();
    let feeder = std::thread::spawn(move || sender.send(answer));
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let outcome = replay.client.get_token(&request);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let _ = feeder.join();
    assert!(peak < MAX_EXTRA_BYTES, "held {peak} bytes for one answer");
    if let Err(error) = outcome {
        let message = error.message();
        assert!(!message.contains(char::is_control), "{message:?}");
        assert!(!message.contains("fuzz-client-secret-0123"), "{message:?}");
    }
});
