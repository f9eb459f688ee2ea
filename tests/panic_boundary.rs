//! No panic crosses into C: a panic forced inside an exported call (with
//! the test-only `test-panic` feature) comes back as CRITEO_ERR_INTERNAL
//! with a message, prints nothing, wakes every thread that was waiting for
//! it, and the process and the library carry on.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use criteo_oauth::ffi::status::*;
use support::{Call, Client, Source, TestServer, demo_call};

#[test]
fn a_panic_inside_a_call_is_an_internal_error_and_the_process_lives_on() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let forced = Call {
        grant_type: "test-panic",
        ..demo_call()
    };

    let error = client.get(&forced).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_INTERNAL);
    assert_eq!(
        error.message,
        "internal error (a bug in criteo-oauth): forced by the test-panic feature"
    );
    let error = Source::new(&client, &forced).err().unwrap();
    assert_eq!(error.status, CRITEO_ERR_INTERNAL);

    // The same client, and the library, still work.
    assert_eq!(client.get(&demo_call()).unwrap().expires_in, 900);
    assert!(Source::new(&client, &demo_call()).unwrap().get().is_ok());
    assert!(
        server.requests().len() == 2,
        "the panicking calls sent nothing"
    );
}

#[test]
fn a_fetch_that_panics_wakes_every_thread_waiting_for_it() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let source = Source::new(
        &client,
        &Call {
            client_id: "test-panic-in-fetch",
            ..demo_call()
        },
    )
    .unwrap();
    let barrier = std::sync::Barrier::new(8);
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let asked = Instant::now();
                    (source.get().unwrap_err(), asked.elapsed())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (error, waited) in outcomes {
        assert_eq!(error.status, CRITEO_ERR_INTERNAL, "{}", error.message);
        assert!(
            error
                .message
                .contains("forced by the test-panic feature, in a fetch"),
            "{}",
            error.message
        );
        // The client's limit is 10 s; the panic comes after 300 ms.
        assert!(
            waited < Duration::from_secs(5),
            "a thread waited {waited:?}"
        );
    }
}

/// Run in a child process by the test below, which reads its stderr.
#[test]
fn child_makes_a_call_that_panics() {
    if std::env::var_os("CRITEO_PANIC_CHILD").is_none() {
        return;
    }
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let forced = Call {
        grant_type: "test-panic",
        ..demo_call()
    };
    assert_eq!(client.get(&forced).unwrap_err().status, CRITEO_ERR_INTERNAL);
}

#[test]
fn a_caught_panic_prints_nothing() {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_makes_a_call_that_panics", "--nocapture"])
        .env("CRITEO_PANIC_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child test ran: {stdout}");
    assert!(!stderr.contains("panicked"), "on stderr: {stderr}");
    assert!(!stdout.contains("panicked"), "on stdout: {stdout}");
}
