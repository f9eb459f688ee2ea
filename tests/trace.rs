//! The trace callback and the counters, through the C ABI, against the
//! test server: which events come, in which order, on which thread, and
//! that none shows a secret.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use criteo_oauth::ffi::trace::*;
use criteo_test_server::{ConnectProxy, TestCa, Validity};
use support::trace::TraceEvent;
use support::{Call, Client, Setup, Source, TestServer, Trace, demo_call};

fn server() -> TestServer {
    TestServer::start().expect("the test server starts")
}

/// A client for `host` whose trace callback puts its events in `trace`.
fn traced_client(trace: &Trace, host: &str) -> Client {
    Setup {
        trace: Some(trace),
        ..Setup::new(host)
    }
    .build()
    .unwrap()
}

/// Elapsed times never go back within one call.
fn assert_in_order(events: &[TraceEvent]) {
    for pair in events.windows(2) {
        assert!(pair[0].elapsed_us <= pair[1].elapsed_us, "{events:#?}");
    }
}

#[test]
fn a_call_tells_its_lookup_connection_request_and_answer() {
    let server = server();
    let trace = Trace::default();
    let host = format!("http://localhost:{}", server.port());
    let client = traced_client(&trace, &host);
    client.get(&demo_call()).unwrap();
    assert_eq!(
        trace.kinds(),
        ["request", "lookup", "connect", "connect", "response"],
        "{:#?}",
        trace.events()
    );
    let events = trace.events();
    assert!(
        events[0]
            .message
            .starts_with(&format!("POST {host}/oauth2/token, a form of ")),
        "{}",
        events[0].message
    );
    assert_eq!(
        events[1].message,
        format!(
            "localhost: 127.0.0.1:{0}, [::1]:{0} (localhost, not looked up)",
            server.port()
        )
    );
    assert_eq!(
        events[2].message,
        format!("trying 127.0.0.1:{}", server.port())
    );
    assert!(
        events[3]
            .message
            .starts_with(&format!("connected to 127.0.0.1:{}", server.port()))
    );
    assert!(
        events[4].message.starts_with("200 OK, "),
        "{}",
        events[4].message
    );
    assert_in_order(&events);
    assert!(
        events
            .iter()
            .all(|event| event.thread == thread::current().id())
    );

    // A second call reuses the connection: no lookup, no connect.
    trace.clear();
    client.get(&demo_call()).unwrap();
    assert_eq!(trace.kinds(), ["request", "lookup", "response"]);
}

#[test]
fn a_retried_503_tells_each_answer_and_the_retry() {
    let server = server();
    let trace = Trace::default();
    let url = server.scenario_url("503-then-200");
    let setup = Setup {
        trace: Some(&trace),
        max_retries: 2,
        ..Setup::new(&url)
    };
    setup.build().unwrap().get(&demo_call()).unwrap();
    let kinds = trace.kinds();
    let from_request: Vec<_> = kinds.iter().filter(|kind| **kind != "connect").collect();
    assert_eq!(
        from_request,
        [&"request", &"response", &"retry", &"request", &"response"],
        "{:#?}",
        trace.events()
    );
    let answers = trace.messages(CRITEO_EVENT_RESPONSE);
    assert!(
        answers[0].starts_with("503 Service Unavailable, 9 bytes"),
        "{answers:?}"
    );
    assert!(answers[1].starts_with("200 OK"), "{answers:?}");
    let retry = &trace.messages(CRITEO_EVENT_RETRY)[0];
    assert!(retry.starts_with("retry 1 of 2 in "), "{retry}");
    assert!(
        retry.contains("answered 503 Service Unavailable"),
        "{retry}"
    );
    assert_in_order(&trace.events());
}

#[test]
fn a_call_through_a_proxy_names_it_without_its_password() {
    let server = server();
    let proxy = ConnectProxy::start_requiring(Some("Basic YWxpY2U6czNjcmV0".into())).unwrap();
    let proxy_port = proxy.url().rsplit(':').next().unwrap().to_owned();
    let proxy_url = format!("http://alice:s3cret@127.0.0.1:{proxy_port}");
    let trace = Trace::default();
    let host = format!("http://localhost:{}", server.port());
    let setup = Setup {
        trace: Some(&trace),
        proxy: Some(&proxy_url),
        ..Setup::new(&host)
    };
    // Plain http goes to the proxy as a request for the URL, not a tunnel:
    // whatever the proxy answers, the events are what is checked here.
    let _ = setup.build().unwrap().get(&demo_call());
    let events = trace.events();
    assert!(!events.is_empty());
    for event in &events {
        for secret in ["s3cret", "YWxpY2U6czNjcmV0", "demo-secret"] {
            assert!(!event.message.contains(secret), "{secret} in {event:?}");
        }
    }
    let request = &trace.messages(CRITEO_EVENT_REQUEST)[0];
    assert!(
        request.contains(&format!("via proxy http://alice@127.0.0.1:{proxy_port}")),
        "{request}"
    );
}

#[test]
fn no_event_shows_a_secret_the_server_echoes() {
    let server = server();
    let call = Call {
        client_secret: "SECRET-7f3a9c1e",
        ..demo_call()
    };
    for scenario in [
        "401-echo",
        "401-echo-upper",
        "401-echo-lower",
        "503-then-200",
    ] {
        let trace = Trace::default();
        let url = server.scenario_url(scenario);
        let setup = Setup {
            trace: Some(&trace),
            max_retries: 1,
            ..Setup::new(&url)
        };
        let _ = setup.build().unwrap().get(&call);
        let events = trace.events();
        assert!(!events.is_empty(), "{scenario}");
        for event in events {
            let message = event.message.to_lowercase();
            assert!(
                !message.contains("secret-7f3a9c1e"),
                "{scenario}: {event:?}"
            );
            assert!(
                !message.contains("secret%2d7f3a9c1e"),
                "{scenario}: {event:?}"
            );
        }
    }
}

#[test]
fn a_tls_call_tells_its_session_and_a_new_connection_resumes_it() {
    let ca = TestCa::new();
    let server =
        TestServer::start_tls(ca.server_config(&["127.0.0.1"], Validity::Current)).unwrap();
    let trace = Trace::default();
    let ca_file = ca.pem_path().to_str().unwrap();
    let url = server.url();
    let setup = Setup {
        trace: Some(&trace),
        ca_file: Some(ca_file),
        ..Setup::new(&url)
    };
    let client = setup.build().unwrap();
    client.get(&demo_call()).unwrap();
    assert_eq!(
        trace.kinds(),
        ["request", "connect", "connect", "tls", "response"]
    );
    let session = &trace.messages(CRITEO_EVENT_TLS)[0];
    assert!(session.starts_with("TLSv1_3, TLS13_"), "{session}");
    assert!(session.ends_with(", a full handshake"), "{session}");
    // The server closes after this answer: the next call connects again,
    // and resumes the session.
    let closing = format!("{}/scenario/close", server.url());
    let closing_client = Setup {
        trace: Some(&trace),
        ca_file: Some(ca_file),
        ..Setup::new(&closing)
    };
    let closing_client = closing_client.build().unwrap();
    trace.clear();
    closing_client.get(&demo_call()).unwrap();
    closing_client.get(&demo_call()).unwrap();
    let sessions = trace.messages(CRITEO_EVENT_TLS);
    assert_eq!(sessions.len(), 2, "{:#?}", trace.events());
    assert!(sessions[1].ends_with(", a resumed session"), "{sessions:?}");
}

#[test]
fn a_token_source_tells_why_it_fetches_and_counts_its_fetches() {
    let server = server();
    let trace = Trace::default();
    let client = traced_client(&trace, &server.url());
    let source = Source::new(&client, &demo_call()).unwrap();
    source.get().unwrap();
    let fetches = trace.messages(CRITEO_EVENT_FETCH);
    assert_eq!(
        fetches,
        ["asking the server: no token yet", "a token from the server"],
        "{:#?}",
        trace.events()
    );
    source.get().unwrap();
    assert_eq!(
        trace.messages(CRITEO_EVENT_FETCH).len(),
        2,
        "a cached get tells nothing"
    );

    trace.clear();
    source.invalidate();
    let token = source.get().unwrap();
    assert_eq!(
        trace.messages(CRITEO_EVENT_FETCH)[0],
        "asking the server: the token was invalidated or rejected"
    );
    trace.clear();
    source.reject(&token.access_token);
    source.get().unwrap();
    assert_eq!(
        trace.messages(CRITEO_EVENT_FETCH)[0],
        "asking the server: the token was invalidated or rejected"
    );

    assert_eq!(stat(&source, CRITEO_STAT_FETCHES), 3);
    assert_eq!(stat(&source, CRITEO_STAT_FETCH_FAILURES), 0);
    assert_eq!(stat(&source, CRITEO_STAT_STORE_HITS), 0);
    assert_eq!(stat(&source, 99), 0, "an unknown counter");
}

#[test]
fn a_failed_fetch_is_told_and_counted() {
    let server = server();
    let trace = Trace::default();
    let url = server.scenario_url("503-always");
    let client = traced_client(&trace, &url);
    let source = Source::new(&client, &demo_call()).unwrap();
    assert!(source.get().is_err());
    let fetches = trace.messages(CRITEO_EVENT_FETCH);
    assert!(fetches[1].starts_with("failed: POST "), "{fetches:?}");
    assert!(
        fetches[1].contains("answered 503 Service Unavailable"),
        "{fetches:?}"
    );
    assert_eq!(stat(&source, CRITEO_STAT_FETCHES), 1);
    assert_eq!(stat(&source, CRITEO_STAT_FETCH_FAILURES), 1);
}

#[test]
fn a_refresh_in_the_background_is_told_on_the_library_s_thread() {
    let server = server();
    let trace = Trace::default();
    let url = server.scenario_url("lives-4");
    let client = traced_client(&trace, &url);
    let source = Source::new(&client, &demo_call()).unwrap();
    source.set_refresh_margin(3);
    source.get().unwrap();
    thread::sleep(Duration::from_millis(1200));
    trace.clear();
    source.get().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while trace.messages(CRITEO_EVENT_FETCH).len() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let events = trace.events();
    let fetches: Vec<_> = events
        .iter()
        .filter(|e| e.kind == CRITEO_EVENT_FETCH)
        .collect();
    assert_eq!(
        fetches[0].message,
        "asking the server: the token is due for refresh"
    );
    assert_eq!(fetches[1].message, "a token from the server");
    for event in &events {
        assert_eq!(
            event.thread_name.as_deref(),
            Some("criteo-oauth fetch"),
            "{event:?}"
        );
    }
}

#[test]
fn a_token_another_source_stored_is_told_and_counted_as_a_store_hit() {
    let server = server();
    let store = tempdir();
    let trace = Trace::default();
    let client = traced_client(&trace, &server.url());
    let first = Source::new(&client, &demo_call()).unwrap();
    first.set_store(Some(&store)).unwrap();
    first.get().unwrap();
    let second = Source::new(&client, &demo_call()).unwrap();
    second.set_store(Some(&store)).unwrap();
    trace.clear();
    second.get().unwrap();
    assert_eq!(
        trace.messages(CRITEO_EVENT_FETCH),
        ["not needed: another process stored a token that is not due"]
    );
    assert_eq!(trace.kinds(), ["fetch"], "no request was made");
    assert_eq!(stat(&second, CRITEO_STAT_STORE_HITS), 1);
    assert_eq!(stat(&second, CRITEO_STAT_FETCHES), 0);
    assert_eq!(stat(&first, CRITEO_STAT_FETCHES), 1);
}

#[test]
fn a_null_event_or_source_reads_as_nothing() {
    // SAFETY: NULL is allowed everywhere here.
    unsafe {
        assert_eq!(criteo_event_kind(std::ptr::null()), 0);
        assert_eq!(criteo_event_elapsed_us(std::ptr::null()), 0);
        let message = std::ffi::CStr::from_ptr(criteo_event_message(std::ptr::null()));
        assert_eq!(message.to_bytes(), b"");
        assert_eq!(
            criteo_token_source_stat(std::ptr::null(), CRITEO_STAT_FETCHES),
            0
        );
    }
}

fn stat(source: &Source, which: u32) -> u64 {
    // SAFETY: a live source.
    unsafe { criteo_token_source_stat(source.as_ptr(), which) }
}

fn tempdir() -> String {
    let dir = std::env::temp_dir().join(format!(
        "criteo-trace-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store").to_str().unwrap().to_owned()
}
