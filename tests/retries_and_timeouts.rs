//! Retries and time limits, against scripted answers.

mod support;

use std::time::{Duration, Instant};

use criteo_oauth::ffi::status::*;
use support::{Call, Setup, TestServer, demo_call, status_name};

fn server() -> TestServer {
    TestServer::start().unwrap()
}

fn retrying(host: &str, max_retries: u32, total_ms: u32) -> support::Client {
    let connect_ms = total_ms.min(2_000);
    Setup {
        max_retries,
        total_ms,
        connect_ms,
        ..Setup::new(host)
    }
    .build()
    .unwrap()
}

#[test]
fn a_503_then_200_succeeds_with_exactly_two_requests() {
    let server = server();
    let client = retrying(&server.scenario_url("503-then-200"), 2, 10_000);
    client.get(&demo_call()).unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn retry_after_is_waited_for() {
    let server = server();
    let client = retrying(&server.scenario_url("429-after-1-then-200"), 2, 10_000);
    client.get(&demo_call()).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].arrived - requests[0].arrived;
    assert!(
        waited >= Duration::from_millis(950),
        "the second request came after {waited:?}"
    );
}

#[test]
fn a_retry_after_beyond_the_deadline_returns_at_once() {
    let server = server();
    let client = retrying(&server.scenario_url("429-after-100"), 2, 5_000);
    let started = Instant::now();
    let error = client.get(&demo_call()).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_HTTP_STATUS);
    assert_eq!((error.http_status, error.retry_after), (429, 100));
    assert_eq!(server.requests().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait out the deadline"
    );
}

#[test]
fn retries_stop_at_max_retries() {
    let server = server();
    let error = retrying(&server.scenario_url("503-always"), 2, 20_000)
        .get(&demo_call())
        .unwrap_err();
    assert_eq!(error.http_status, 503);
    assert_eq!(server.requests().len(), 3, "one request and two retries");
}

#[test]
fn the_total_limit_bounds_retries_and_their_waits() {
    let server = server();
    let started = Instant::now();
    let error = retrying(&server.scenario_url("503-always"), 10, 1_000)
        .get(&demo_call())
        .unwrap_err();
    assert_eq!(error.http_status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        server.requests().len() < 11,
        "{} requests",
        server.requests().len()
    );
}

#[test]
fn oauth_errors_are_never_retried() {
    let server = server();
    for name in ["400-json", "401-json", "500"] {
        retrying(&server.scenario_url(name), 3, 10_000)
            .get(&demo_call())
            .unwrap_err();
    }
    assert_eq!(server.requests().len(), 3, "one request per call");
}

#[test]
fn an_authorization_code_that_reached_the_server_is_sent_once() {
    let server = server();
    let call = Call {
        grant_type: "authorization_code",
        code: Some("single-use"),
        ..demo_call()
    };
    for name in ["503-always", "reset", "close-early"] {
        let before = server.requests().len();
        retrying(&server.scenario_url(name), 3, 10_000)
            .get(&call)
            .unwrap_err();
        assert_eq!(
            server.requests().len() - before,
            1,
            "{name}: the code went out once"
        );
    }
}

#[test]
fn a_request_whose_answer_was_lost_is_not_sent_again() {
    let server = server();
    for name in ["reset", "close-early", "truncated"] {
        let before = server.requests().len();
        let error = retrying(&server.scenario_url(name), 3, 10_000)
            .get(&demo_call())
            .unwrap_err();
        assert_eq!(
            error.status, CRITEO_ERR_TRANSPORT,
            "{name}: {}",
            error.message
        );
        assert_eq!(server.requests().len() - before, 1, "{name}");
    }
}

#[test]
fn a_failed_connection_is_retried_until_the_server_is_up() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        TestServer::start_on(&format!("127.0.0.1:{port}")).unwrap()
    });
    let client = retrying(&format!("http://127.0.0.1:{port}"), 10, 30_000);
    let outcome = client.get(&demo_call());
    let server = starter.join().unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "the request reached the server once"
    );
}

/// That refused connections are retried is shown by
/// `a_failed_connection_is_retried_until_the_server_is_up`; here, that
/// running out of retries still gives the transport error.
#[test]
fn a_connection_refused_to_the_end_is_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = retrying(&format!("http://127.0.0.1:{port}"), 2, 10_000)
        .get(&demo_call())
        .unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_TRANSPORT);
    assert!(
        error.message.contains("Connection refused"),
        "{}",
        error.message
    );
}

#[test]
fn a_slow_answer_times_out_near_the_total_limit() {
    let server = server();
    let client = Setup {
        total_ms: 1_000,
        connect_ms: 500,
        ..Setup::new(&server.scenario_url("slow-8000"))
    }
    .build()
    .unwrap();
    let started = Instant::now();
    let error = client.get(&demo_call()).unwrap_err();
    assert_eq!(
        status_name(error.status),
        "CRITEO_ERR_TIMEOUT",
        "{}",
        error.message
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950),
        "returned before the limit: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(6),
        "waited for the server: {elapsed:?}"
    );
}

#[test]
fn the_user_agent_names_the_program_first() {
    let server = server();
    let client = Setup {
        user_agent: Some("my-app/1.2"),
        ..Setup::new(&server.url())
    }
    .build()
    .unwrap();
    client.get(&demo_call()).unwrap();
    assert_eq!(
        server.requests()[0].header("user-agent"),
        Some("my-app/1.2 criteo-oauth/0.1.0")
    );
    let error = Setup {
        user_agent: Some("bad\u{7f}"),
        ..Setup::new(&server.url())
    }
    .build()
    .err()
    .unwrap();
    assert_eq!(error.message, "user_agent contains a control character");
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused_before_connecting() {
    for host in [
        "http://api.criteo.com",
        "http://192.0.2.1:8080",
        "http://localhost.example",
    ] {
        let error = Setup::new(host).build().err().unwrap();
        assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT, "{host}");
        assert!(error.message.contains("not loopback"), "{}", error.message);
    }
    for host in ["http://localhost:1", "http://127.0.0.2:1", "http://[::1]:1"] {
        assert!(Setup::new(host).build().is_ok(), "{host}");
    }
}

#[test]
fn a_connect_limit_of_0_fits_under_a_smaller_total() {
    let server = server();
    // (0, 1500): the default connect limit (10 s) would exceed the total.
    let client = support::Client::with_timeouts(&server.scenario_url("slow-5000"), 0, 1_500);
    let error = client.get(&demo_call()).unwrap_err();
    assert_eq!(
        status_name(error.status),
        "CRITEO_ERR_TIMEOUT",
        "the total limit holds: {}",
        error.message
    );
}
