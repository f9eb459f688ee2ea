//! What goes on the wire: the exact request the reference SDK sends, and
//! connection reuse.

mod support;

use criteo_oauth::ffi::status::*;
use support::{Call, Client, TestServer, demo_call};

#[test]
fn the_request_matches_the_reference_sdk_byte_for_byte() {
    let server = TestServer::start().unwrap();
    let call = Call {
        client_id: "my id",
        client_secret: "s3cr&t=x",
        ..demo_call()
    };
    Client::new(&server.scenario_url("json"))
        .get(&call)
        .unwrap();

    let requests = server.requests();
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/scenario/json/oauth2/token");
    assert_eq!(request.version, "HTTP/1.1");
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        "grant_type=client_credentials&client_id=my+id&client_secret=s3cr%26t%3Dx"
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.header("content-length"), Some("72"));
    assert!(
        request
            .header("accept")
            .is_some_and(|v| v.contains("application/json"))
    );
    assert_eq!(request.header("user-agent"), Some("criteo-oauth/0.1.0"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        request.header("host"),
        Some(server.url().trim_start_matches("http://"))
    );
}

#[test]
fn a_plus_in_the_secret_arrives_as_percent_2b() {
    let server = TestServer::start().unwrap();
    let call = Call {
        client_secret: "a+b c",
        ..demo_call()
    };
    Client::new(&server.scenario_url("json"))
        .get(&call)
        .unwrap();
    let body = String::from_utf8(server.requests()[0].body.clone()).unwrap();
    assert!(body.ends_with("&client_secret=a%2Bb+c"), "{body}");
    assert_eq!(
        server.requests()[0].field("client_secret").as_deref(),
        Some("a+b c")
    );
}

#[test]
fn optional_fields_are_sent_in_order_only_when_given() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let call = Call {
        grant_type: "authorization_code",
        redirect_uri: Some("https://app.example/callback"),
        code: Some(criteo_test_server::DEMO_CODE),
        ..demo_call()
    };
    let token = client.get(&call).unwrap();
    assert_eq!(
        token.refresh_token.as_deref(),
        Some(criteo_test_server::DEMO_REFRESH_TOKEN)
    );
    let names: Vec<String> = server.requests()[0]
        .form()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "client_id",
            "client_secret",
            "redirect_uri",
            "code"
        ]
    );

    let call = Call {
        grant_type: "refresh_token",
        refresh_token: Some(criteo_test_server::DEMO_REFRESH_TOKEN),
        ..demo_call()
    };
    client.get(&call).unwrap();
    let names: Vec<String> = server.requests()[1]
        .form()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        ["grant_type", "client_id", "client_secret", "refresh_token"]
    );
}

#[test]
fn a_wrong_code_is_a_bad_request() {
    let server = TestServer::start().unwrap();
    let call = Call {
        grant_type: "authorization_code",
        code: Some("stale"),
        ..demo_call()
    };
    let error = Client::new(&server.url()).get(&call).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_BAD_REQUEST);
    assert_eq!(error.code.as_deref(), Some("invalid_grant"));
}

#[test]
fn a_host_with_a_path_prefix_keeps_it() {
    let server = TestServer::start().unwrap();
    Client::new(&format!("{}/", server.scenario_url("json")))
        .get(&demo_call())
        .unwrap();
    assert_eq!(server.requests()[0].target, "/scenario/json/oauth2/token");
}

#[test]
fn one_client_reuses_its_connection() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    for _ in 0..5 {
        client.get(&demo_call()).unwrap();
    }
    assert_eq!(server.requests().len(), 5);
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_connection_the_server_closes_is_replaced() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("close"));
    for _ in 0..3 {
        client.get(&demo_call()).unwrap();
    }
    assert_eq!(server.connections(), 3);
}

/// A connection that the server closed, or wrote to unasked, while it sat
/// in the pool is not used again: the next call opens a new one and gets
/// a proper token.
#[test]
fn a_pooled_connection_that_went_bad_is_not_reused() {
    for scenario in ["late-bytes", "idle-close"] {
        let server = TestServer::start().unwrap();
        let client = Client::new(&server.scenario_url(scenario));
        let first = client.get(&demo_call()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let second = client
            .get(&demo_call())
            .unwrap_or_else(|e| panic!("{scenario}: {}", e.message));
        assert!(
            second.access_token.starts_with("eyJ"),
            "{scenario}: {second:?}"
        );
        assert_ne!(second.access_token, first.access_token, "{scenario}");
        assert_eq!(server.connections(), 2, "{scenario}: a second connection");
        assert_eq!(server.requests().len(), 2, "{scenario}: no request lost");
    }
}

#[test]
fn many_threads_share_one_client() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..25 {
                    let token = client.get(&demo_call()).unwrap();
                    assert_eq!(token.expires_in, 900);
                }
            });
        }
    });
    assert_eq!(server.requests().len(), 200);
    assert!(
        server.connections() <= 8,
        "{} connections",
        server.connections()
    );
}
