//! Stress: 64 threads x 2,000 calls on one client, mixing success, 401,
//! 500 and timeouts. No crash, every call gets the status its answer calls
//! for, and resident memory after the run stays within 10% of what it was
//! after the first 1,000 calls.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use criteo_oauth::ffi::status::*;
use support::{Call, ServerProcess, Setup, demo_call, status_name};

const THREADS: usize = 64;
const CALLS_PER_THREAD: usize = 2_000;

/// Which answer call `i` asks the "mixed" scenario for, and the status it must get.
fn plan(i: usize) -> (&'static str, criteo_status) {
    match i {
        i if i % 250 == 0 => ("slow", CRITEO_ERR_TIMEOUT),
        i if i % 4 == 1 => ("unauthorized", CRITEO_ERR_UNAUTHORIZED),
        i if i % 4 == 2 => ("error", CRITEO_ERR_HTTP_STATUS),
        _ => ("ok", CRITEO_OK),
    }
}

fn resident_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn many_threads_mixed_answers_bounded_memory() {
    // In its own process, so resident memory here is the library's alone.
    let server = ServerProcess::start();
    let host = format!("{}/scenario/mixed", server.url);
    let client = Setup {
        connect_ms: 1_000,
        total_ms: 1_000,
        // All at once: what is stressed is the client on many threads.
        max_concurrent_requests: Some(THREADS as u32),
        ..Setup::new(&host)
    }
    .build()
    .unwrap();
    let done = AtomicUsize::new(0);
    let after_first_thousand = OnceLock::new();
    let wrong = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (client, done, after_first_thousand, wrong) =
                (&client, &done, &after_first_thousand, &wrong);
            scope.spawn(move || {
                for call in 0..CALLS_PER_THREAD {
                    let (client_id, expected) = plan(thread * CALLS_PER_THREAD + call);
                    let status = match client.get(&Call {
                        client_id,
                        ..demo_call()
                    }) {
                        Ok(_) => CRITEO_OK,
                        Err(error) => error.status,
                    };
                    if status != expected {
                        wrong
                            .lock()
                            .unwrap()
                            .push(format!("{client_id}: {}", status_name(status)));
                    }
                    if done.fetch_add(1, Ordering::Relaxed) + 1 == 1_000 {
                        after_first_thousand.set(resident_kib()).unwrap();
                    }
                }
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(
        wrong.is_empty(),
        "{} calls got the wrong status, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let (before, after) = (*after_first_thousand.get().unwrap(), resident_kib());
    println!(
        "{} calls; resident memory {before} KiB after 1,000, {after} KiB after all",
        THREADS * CALLS_PER_THREAD
    );
    assert!(
        after * 10 <= before * 11,
        "resident memory grew from {before} KiB to {after} KiB"
    );
}
