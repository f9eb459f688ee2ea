//! Hostile servers: each answer a careless or malicious server might give,
//! and the status the caller gets for it. (More bad answers, from the
//! first issue, are in answers.rs; slow ones in retries_and_timeouts.rs.)

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use criteo_oauth::ffi::status::*;
use criteo_test_server::TestCa;
use support::{
    Client, Setup, TestServer, demo_call, expect_answer, expect_error, scenario, status_name,
};

#[test]
fn a_server_that_dribbles_one_byte_a_second_hits_the_total_limit() {
    let server = TestServer::start().unwrap();
    let host = server.scenario_url("dribble");
    let setup = Setup {
        connect_ms: 500,
        total_ms: 1_500,
        ..Setup::new(&host)
    };
    let started = Instant::now();
    let error = setup.build().unwrap().get(&demo_call()).unwrap_err();
    assert_eq!(
        status_name(error.status),
        "CRITEO_ERR_TIMEOUT",
        "{}",
        error.message
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn absurd_headers_are_refused() {
    let server = TestServer::start().unwrap();
    let error = expect_error(&server, "huge-header-line", CRITEO_ERR_TRANSPORT);
    assert!(
        error
            .message
            .contains("malformed HTTP answer: response header is too big"),
        "{}",
        error.message
    );
    let error = expect_error(&server, "many-headers", CRITEO_ERR_TRANSPORT);
    assert!(
        error.message.contains("malformed HTTP answer"),
        "{}",
        error.message
    );
}

#[test]
fn a_100_continue_before_the_answer_is_skipped() {
    let server = TestServer::start().unwrap();
    assert_eq!(scenario(&server, "100-continue").unwrap().expires_in, 900);
}

#[test]
fn an_http_1_0_answer_ended_by_closing_is_read() {
    let server = TestServer::start().unwrap();
    assert_eq!(scenario(&server, "http10-close").unwrap().expires_in, 900);
}

#[test]
fn a_gzip_body_nobody_asked_for_is_refused_unread() {
    let server = TestServer::start().unwrap();
    let error = expect_answer(&server, "gzip", CRITEO_ERR_INVALID_RESPONSE);
    assert_eq!(
        error.message,
        "200 OK is not a usable token: the body is encoded with gzip (Content-Encoding), which was not asked for"
    );
    assert!(
        server.requests()[0].header("accept-encoding").is_none(),
        "we never ask for compression"
    );
}

/// A header line folded onto the next (obs-fold) is unfolded, as RFC
/// 9112 §5.2 asks of a user agent, before the answer is read: the token
/// comes, and a folded `Retry-After` is honoured.
#[test]
fn a_folded_header_line_is_unfolded() {
    let server = TestServer::start().unwrap();
    let token = scenario(&server, "obs-fold").unwrap();
    assert!(token.access_token.starts_with("eyJ"), "{token:?}");
    let error = expect_error(&server, "obs-fold-503", CRITEO_ERR_HTTP_STATUS);
    assert_eq!(error.http_status, 503, "{}", error.message);
    assert_eq!(error.retry_after, 7, "{}", error.message);
}

/// The head in a small piece, then the rest of it and the body in one
/// larger than the room the unfolding had left: every byte is passed on
/// (it once waited for more from the server until the time limit).
#[test]
fn an_answer_in_two_uneven_pieces_is_read_whole() {
    let server = TestServer::start().unwrap();
    let client = Client::with_timeouts(&server.scenario_url("head-in-two"), 2_000, 3_000);
    for round in 0..3 {
        let got = client.get(&demo_call());
        assert!(got.is_ok(), "round {round}: {got:?}");
    }
}

#[test]
fn a_garbage_status_line_is_a_transport_error() {
    let server = TestServer::start().unwrap();
    let error = expect_error(&server, "garbage-status", CRITEO_ERR_TRANSPORT);
    assert!(
        error.message.contains("malformed HTTP answer"),
        "{}",
        error.message
    );
}

#[test]
fn a_second_unasked_answer_is_never_taken_for_the_next_one() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("two-answers"));
    for call in 1..=4 {
        let token = client.get(&demo_call()).unwrap();
        assert!(
            !token.access_token.contains("STALE"),
            "call {call} got the stale answer"
        );
        assert_eq!(
            token.access_token,
            criteo_test_server::scenarios::access_token(call)
        );
    }
}

#[test]
fn a_body_over_the_cap_sent_chunked_is_refused() {
    let server = TestServer::start().unwrap();
    let error = expect_error(&server, "huge-chunked", CRITEO_ERR_INVALID_RESPONSE);
    assert!(
        error
            .message
            .ends_with("the body is larger than 1048576 bytes"),
        "{}",
        error.message
    );
}

#[test]
fn an_ipv6_loopback_server_works() {
    let server = TestServer::start_on("[::1]:0").expect("::1 is available on this machine");
    assert!(server.url().starts_with("http://[::1]:"));
    Client::new(&server.url()).get(&demo_call()).unwrap();
}

/// The TLS layer sees only "the peer closed": the same as a server hanging
/// up after the request, so it is a transport error saying so.
#[test]
fn a_tls_server_that_closes_mid_handshake_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Read the ClientHello, then hang up without a word.
            let mut hello = [0u8; 512];
            let _ = (&stream).read(&mut hello);
            drop(stream);
        }
    });
    let ca = TestCa::new();
    let host = format!("https://127.0.0.1:{port}");
    let setup = Setup {
        ca_file: ca.pem_path().to_str(),
        ..Setup::new(&host)
    };
    let error = setup.build().unwrap().get(&demo_call()).unwrap_err();
    assert_eq!(
        status_name(error.status),
        "CRITEO_ERR_TRANSPORT",
        "{}",
        error.message
    );
    // The message names the address that was connected to.
    let ending = format!(
        "failed: the connection closed before the answer was complete (connected to 127.0.0.1:{port})"
    );
    assert!(error.message.ends_with(&ending), "{}", error.message);
}
