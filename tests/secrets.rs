//! Secrets never appear in a message: every failure path, run with a
//! recognisable secret, authorization code and refresh token, and every
//! field of every error checked for them; and Debug output of the Rust
//! types redacts them.

mod support;

use criteo_oauth::{ClientConfig, Error, ErrorKind, Secret, TokenRequest, TokenRequestFields};
use support::{Call, Client, ErrorView, ServerProcess, Setup, Source, TestServer, Trace};

const SECRET: &str = "SECRET-7f3a9c1e";
const CODE: &str = "CODE-4b2d8e6f";
const REFRESH: &str = "REFRESH-9a1c3e5b";
/// A PKCE verifier: 43 unreserved characters.
const VERIFIER: &str = "VERIFIER-2c4e6a8b0d2f4a6c8e0b2d4f6a8c0e2b4d";

/// Every scenario that ends in an error, good ones too (a wrong grant
/// makes some of them fail).
const SCENARIOS: &[&str] = &[
    "json",
    "400-json",
    "401-json",
    "401-html",
    "401-empty",
    "401-echo",
    "401-echo-upper",
    "401-echo-lower",
    "302",
    "429",
    "500",
    "503",
    "not-json",
    "invalid-utf8",
    "deep-nesting",
    "no-token",
    "empty-token",
    "error-in-200",
    "control-in-token",
    "over-limit",
    "huge",
    "huge-chunked",
    "reset",
    "close-early",
    "truncated",
    "slow-3000",
    "dribble",
    "huge-header-line",
    "many-headers",
    "gzip",
    "garbage-status",
    "503-retry-after-1",
    "keep-refresh",
    "unknown-scenario",
];

/// No secret in any field of `error`, in any letter case.
fn assert_clean(error: &ErrorView, context: &str) {
    let fields = [
        Some(&error.message),
        error.code.as_ref(),
        error.description.as_ref(),
        error.uri.as_ref(),
    ];
    for text in fields.into_iter().flatten() {
        for secret in [SECRET, CODE, REFRESH, VERIFIER] {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "{context}: {secret} leaked into {text:?}"
            );
        }
    }
}

/// The three grants, each carrying secrets in every field that can hold one.
fn calls() -> [Call<'static>; 3] {
    let base = Call {
        client_id: "id",
        client_secret: SECRET,
        ..Call::default()
    };
    [
        Call {
            grant_type: "client_credentials",
            ..base
        },
        Call {
            grant_type: "authorization_code",
            code: Some(CODE),
            redirect_uri: Some("https://app/cb"),
            ..base
        },
        Call {
            grant_type: "refresh_token",
            refresh_token: Some(REFRESH),
            ..base
        },
    ]
}

/// No secret and no access token in any event message of `trace`, in any
/// letter case.
fn assert_trace_clean(trace: &Trace, context: &str) {
    let events = trace.events();
    assert!(!events.is_empty(), "{context}: no event");
    // Every access token the test server gives starts so.
    let access_token = "eyJhbGciOiJIUzI1NiJ9";
    for event in events {
        for secret in [SECRET, CODE, REFRESH, VERIFIER, access_token] {
            assert!(
                !event
                    .message
                    .to_lowercase()
                    .contains(&secret.to_lowercase()),
                "{context}: {secret} leaked into the trace: {:?}",
                event.message
            );
        }
    }
}

/// A client for `host` that retries once, within short limits, telling
/// `trace` every event.
fn traced_client(host: &str, trace: &Trace) -> Client {
    Setup {
        connect_ms: 500,
        total_ms: 1_000,
        max_retries: 1,
        trace: Some(trace),
        ..Setup::new(host)
    }
    .build()
    .unwrap()
}

#[test]
fn no_failure_path_quotes_a_secret() {
    let server = ServerProcess::start();
    let mut failures = 0;
    for name in SCENARIOS {
        let host = format!("{}/scenario/{name}", server.url);
        // Every path traced too: no event may quote a secret either.
        let trace = Trace::default();
        let client = traced_client(&host, &trace);
        for call in calls() {
            if let Err(error) = client.get(&call) {
                assert_clean(&error, name);
                failures += 1;
            }
            let source = Source::new(&client, &call).unwrap();
            for _ in 0..2 {
                if let Err(error) = source.get() {
                    assert_clean(&error, name);
                }
                source.invalidate();
            }
            if call.code.is_some()
                && let Err(error) = client.get_pkce(&call, VERIFIER)
            {
                assert_clean(&error, name);
                failures += 1;
            }
        }
        assert_trace_clean(&trace, name);
    }
    assert!(
        failures > 80,
        "the paths were exercised: {failures} failures"
    );
}

#[test]
fn an_echoing_server_and_a_proxy_password_are_redacted() {
    let server = TestServer::start().unwrap();
    for scenario in ["401-echo", "401-echo-upper", "401-echo-lower"] {
        for call in calls() {
            let host = server.scenario_url(scenario);
            let client = Setup::new(&host).build().unwrap();
            let error = client.get(&call).unwrap_err();
            assert_clean(&error, scenario);
            assert!(error.message.contains("[redacted]"), "{}", error.message);
            if call.code.is_some() {
                let error = client.get_pkce(&call, VERIFIER).unwrap_err();
                assert_clean(&error, scenario);
                assert!(error.message.contains("[redacted]"), "{}", error.message);
            }
        }
    }
    let proxy = "http://user:PROXY-PASSWORD-1234@127.0.0.1:9";
    let error = Setup {
        proxy: Some(proxy),
        ..Setup::new(&server.url())
    }
    .build()
    .unwrap()
    .get(&calls()[0])
    .unwrap_err();
    assert!(
        !error.message.contains("PROXY-PASSWORD-1234"),
        "{}",
        error.message
    );
}

/// The review's secret: its form encoding (`S3cr%26t%3Dx%2By...`) is not
/// the secret as written, so a base64 echo of the body hides no copy of it.
const ESCAPED_SECRET: &str = "S3cr&t=x+y/z%Q-long";

/// Whether any run of base64 characters in `text`, read from any of its
/// first four characters in either alphabet, decodes to bytes holding
/// `needle`.
fn base64_holds(text: &str, needle: &[u8]) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let is_base64 = |c: char| c.is_ascii_alphanumeric() || "+/-_".contains(c);
    let runs = text.split(|c: char| !is_base64(c));
    runs.flat_map(|run| (0..4.min(run.len())).map(move |skip| &run[skip..]))
        .flat_map(|run| {
            let whole = &run[..run.len() - run.len() % 4];
            [STANDARD_NO_PAD, URL_SAFE_NO_PAD].map(|engine| engine.decode(whole).ok())
        })
        .flatten()
        .any(|decoded| decoded.windows(needle.len()).any(|w| w == needle))
}

/// A server that sends the request body back base64-encoded, in every
/// header of its answer (`Location` of a 302, `Retry-After` of a 503 and a
/// 429) and as its body: neither the error nor any trace event holds a
/// decodable piece of the secret, as sent (form-encoded) or as written.
#[test]
fn a_base64_echo_of_the_body_is_redacted_in_every_header() {
    let server = TestServer::start().unwrap();
    let sent: String = form_urlencoded::byte_serialize(ESCAPED_SECRET.as_bytes()).collect();
    for status in [302, 401, 429, 500, 503] {
        let host = server.scenario_url(&format!("echo-base64-{status}"));
        let trace = Trace::default();
        let client = traced_client(&host, &trace);
        for call in calls() {
            let call = Call {
                client_secret: ESCAPED_SECRET,
                ..call
            };
            let error = client.get(&call).unwrap_err();
            let events = trace.events();
            let texts = [&error.message]
                .into_iter()
                .chain(events.iter().map(|event| &event.message));
            for text in texts {
                for needle in [sent.as_str(), ESCAPED_SECRET, CODE, REFRESH] {
                    // Any 8 bytes of it would be a leak.
                    for piece in needle.as_bytes().windows(8) {
                        assert!(
                            !base64_holds(text, piece),
                            "{status}: {:?} decodable in {text:?}",
                            String::from_utf8_lossy(piece)
                        );
                    }
                }
            }
            assert!(error.message.contains("[redacted]"), "{}", error.message);
        }
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let fields = TokenRequestFields {
        grant_type: "authorization_code",
        client_id: "id",
        client_secret: SECRET,
        code: Some(CODE),
        refresh_token: Some(REFRESH),
        ..Default::default()
    };
    let request = TokenRequest::new(&fields).unwrap();
    let mut config = ClientConfig::default();
    config
        .set_proxy("http://user:PROXY-PASSWORD-1234@proxy:3128")
        .unwrap();
    let debug = [
        format!("{request:?}"),
        format!("{:?}", request.refresh_with(&Secret::new(REFRESH))),
        format!("{:?}", Secret::new(SECRET)),
        format!("{config:?}"),
        format!(
            "{:?}",
            Error::new(ErrorKind::Unauthorized, "401 Unauthorized")
        ),
    ];
    for text in &debug {
        for secret in [SECRET, CODE, REFRESH, "PROXY-PASSWORD-1234"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(debug[0].contains("[redacted]"), "{}", debug[0]);
}
