//! Every kind of answer the token endpoint may give, through the C ABI,
//! against the project's test server on loopback.

mod support;

use criteo_oauth::ffi::status::*;
use support::{
    Call, Client, TestServer, TokenView, after_answered, assert_invalid_grant, demo_call,
    expect_answer, expect_error, scenario, status_name, unix_now,
};

fn server() -> TestServer {
    TestServer::start().expect("the test server starts")
}

fn expect_token(server: &TestServer, name: &str) -> TokenView {
    scenario(server, name).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

#[test]
fn demo_client_gets_a_token() {
    let server = server();
    let token = Client::new(&server.url()).get(&demo_call()).unwrap();
    assert_eq!(
        token.access_token,
        criteo_test_server::scenarios::access_token(1)
    );
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.refresh_token, None);
    assert_eq!(token.expires_in, 900);
    assert!(
        (token.expires_at - (unix_now() + 900)).abs() <= 2,
        "{}",
        token.expires_at
    );
    assert_eq!(
        token.authorization,
        format!("Bearer {}", token.access_token)
    );
}

#[test]
fn json_under_every_content_type() {
    let server = server();
    for name in ["json", "text-json", "text-plain", "no-content-type"] {
        let token = expect_token(&server, name);
        assert!(token.access_token.starts_with("eyJ"), "{name}");
    }
}

#[test]
fn refresh_token_present_absent_or_null() {
    let server = server();
    assert_eq!(
        expect_token(&server, "with-refresh")
            .refresh_token
            .as_deref(),
        Some("rt-rotated-1")
    );
    assert_eq!(expect_token(&server, "json").refresh_token, None);
    assert_eq!(expect_token(&server, "no-expires").refresh_token, None);
}

#[test]
fn expires_in_as_number_string_or_absent() {
    let server = server();
    assert_eq!(expect_token(&server, "json").expires_in, 900);
    let token = expect_token(&server, "expires-string");
    assert_eq!(token.expires_in, 299);
    assert!((token.expires_at - (unix_now() + 299)).abs() <= 2);
    let token = expect_token(&server, "no-expires");
    assert_eq!((token.expires_in, token.expires_at), (-1, -1));
}

#[test]
fn unknown_fields_and_lowercase_bearer() {
    let server = server();
    assert_eq!(expect_token(&server, "extra-fields").expires_in, 900);
    let token = expect_token(&server, "lowercase-bearer");
    assert_eq!(token.token_type, "bearer");
    assert!(token.authorization.starts_with("Bearer "));
}

#[test]
fn chunked_close_and_close_delimited_bodies() {
    let server = server();
    for name in ["chunked", "close", "close-delimited"] {
        assert_eq!(expect_token(&server, name).expires_in, 900, "{name}");
    }
}

#[test]
fn a_body_of_exactly_the_limit_is_read() {
    let server = server();
    expect_token(&server, "exact-limit");
}

#[test]
fn wrong_credentials_give_401_with_the_oauth_error() {
    let server = server();
    let call = Call {
        client_secret: "wrong",
        ..demo_call()
    };
    let error = Client::new(&server.url()).get(&call).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_UNAUTHORIZED);
    assert_eq!(error.http_status, 401);
    assert_eq!(error.code.as_deref(), Some("invalid_client"));
    assert_eq!(
        after_answered(&error.message, &server.url()),
        "401 Unauthorized: invalid_client: client_id doesn't exist or the client_secret is invalid"
    );
    assert_eq!(error.retry_after, -1);
}

#[test]
fn oauth_400_carries_code_description_and_uri() {
    let server = server();
    let error = expect_answer(&server, "400-json", CRITEO_ERR_BAD_REQUEST);
    assert_invalid_grant(&error);
    assert_eq!(
        error.message,
        "400 Bad Request: invalid_grant: The authorization code has expired"
    );
}

#[test]
fn non_json_401_bodies_give_a_short_clean_excerpt() {
    let server = server();
    let error = expect_answer(&server, "401-html", CRITEO_ERR_UNAUTHORIZED);
    assert_eq!(
        error.message,
        "401 Unauthorized: 401 Authorization Required 401 Authorization Required nginx"
    );
    assert_eq!(
        (error.code, error.description, error.uri),
        (None, None, None)
    );
    let error = expect_answer(&server, "401-empty", CRITEO_ERR_UNAUTHORIZED);
    assert_eq!(error.message, "401 Unauthorized: empty body");
}

#[test]
fn other_statuses_are_http_status_errors() {
    let server = server();
    let error = expect_answer(&server, "429", CRITEO_ERR_HTTP_STATUS);
    assert_eq!((error.http_status, error.retry_after), (429, 7));
    assert_eq!(
        error.message,
        "429 Too Many Requests: rate limit exceeded (retry after 7 s)"
    );

    let error = expect_answer(&server, "500", CRITEO_ERR_HTTP_STATUS);
    assert_eq!((error.http_status, error.retry_after), (500, -1));
    assert_eq!(
        error.message,
        "500 Internal Server Error: Internal Server Error"
    );

    let error = expect_answer(&server, "503", CRITEO_ERR_HTTP_STATUS);
    assert_eq!(
        error.message,
        r#"503 Service Unavailable: {"message":"maintenance"}"#
    );
}

#[test]
fn redirects_are_reported_not_followed() {
    let server = server();
    let error = expect_answer(&server, "302", CRITEO_ERR_HTTP_STATUS);
    assert_eq!(error.http_status, 302);
    assert_eq!(
        error.message,
        "302 Found: redirect to https://attacker.example/oauth2/token not followed: empty body"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "the redirect target was never asked"
    );
}

#[test]
fn unusable_2xx_answers_are_invalid_responses() {
    let server = server();
    let cases = [
        (
            "not-json",
            "200 OK is not a usable token: not JSON: Welcome to the portal",
        ),
        (
            "invalid-utf8",
            "200 OK is not a usable token: the body is not valid UTF-8 (at byte 19)",
        ),
        ("no-token", "200 OK is not a usable token: no access_token"),
        (
            "empty-token",
            "200 OK is not a usable token: access_token is empty",
        ),
        (
            "control-in-token",
            "200 OK is not a usable token: access_token has characters that cannot go in an HTTP header",
        ),
        (
            "deep-nesting",
            "200 OK is not a usable token: malformed JSON: EOF while parsing a list at line 1 column 200030",
        ),
    ];
    for (name, message) in cases {
        let error = expect_answer(&server, name, CRITEO_ERR_INVALID_RESPONSE);
        assert_eq!(error.message, message, "{name}");
        assert_eq!(error.http_status, 200, "{name}");
    }
}

#[test]
fn an_error_field_in_a_2xx_keeps_its_oauth_code() {
    let server = server();
    let error = expect_answer(&server, "error-in-200", CRITEO_ERR_INVALID_RESPONSE);
    assert_eq!(error.code.as_deref(), Some("invalid_grant"));
    assert_eq!(error.description.as_deref(), Some("code already used"));
    assert_eq!(
        error.message,
        "200 OK is not a usable token: invalid_grant: code already used"
    );
}

#[test]
fn bodies_over_1_mib_are_refused_without_being_read() {
    let server = server();
    let error = expect_answer(&server, "over-limit", CRITEO_ERR_INVALID_RESPONSE);
    assert_eq!(
        error.message,
        "200 OK is not a usable token: the body is larger than 1048576 bytes"
    );
    for name in ["huge", "huge-chunked"] {
        let before = server.streamed_bytes();
        let error = expect_answer(&server, name, CRITEO_ERR_INVALID_RESPONSE);
        assert!(
            error
                .message
                .ends_with("the body is larger than 1048576 bytes"),
            "{}",
            error.message
        );
        // The server offers 200 MiB. It can only have pushed what the
        // client read (at most 1 MiB and a byte) plus what the kernel's
        // socket buffers held when the client hung up.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let sent = server.streamed_bytes() - before;
        assert!(sent < 32 << 20, "{name}: the server streamed {sent} bytes");
    }
}

#[test]
fn no_complete_answer_is_a_transport_error() {
    let server = server();
    for name in ["reset", "close-early", "truncated"] {
        let error = expect_error(&server, name, CRITEO_ERR_TRANSPORT);
        assert!(
            error.message.starts_with(&format!(
                "POST {}/oauth2/token failed",
                server.scenario_url(name)
            )) || error.message.contains("malformed HTTP answer"),
            "{name}: {}",
            error.message
        );
        assert!(
            !error.message.contains("eyJ"),
            "no token text in: {}",
            error.message
        );
    }
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = Client::new(&format!("http://127.0.0.1:{port}"))
        .get(&demo_call())
        .unwrap_err();
    assert_eq!(
        status_name(error.status),
        "CRITEO_ERR_TRANSPORT",
        "{}",
        error.message
    );
    assert_eq!(error.http_status, 0);
    assert!(
        error.message.contains("Connection refused"),
        "{}",
        error.message
    );
}

#[test]
fn a_slow_server_hits_the_total_time_limit() {
    let server = server();
    let client = Client::with_timeouts(&server.scenario_url("slow-3000"), 200, 500);
    let started = std::time::Instant::now();
    let error = client.get(&demo_call()).unwrap_err();
    assert_eq!(
        status_name(error.status),
        "CRITEO_ERR_TIMEOUT",
        "{}",
        error.message
    );
    assert!(error.message.contains("timed out"), "{}", error.message);
    // Not a timing assertion: only that the call did not wait for the answer.
    assert!(started.elapsed() < std::time::Duration::from_millis(2_900));
}

#[test]
fn an_echoed_secret_is_redacted() {
    let server = server();
    let call = Call {
        client_secret: "s3cr&t+VALUE",
        ..demo_call()
    };
    let error = Client::new(&server.scenario_url("401-echo"))
        .get(&call)
        .unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_UNAUTHORIZED);
    assert!(!error.message.contains("VALUE"), "{}", error.message);
    assert!(
        error.message.contains("client_secret=[redacted]"),
        "{}",
        error.message
    );
}
