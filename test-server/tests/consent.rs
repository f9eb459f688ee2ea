//! The consent step and the token endpoint's checks of what it gave, over
//! real HTTP on loopback: each test starts a server and talks to it with a
//! bare `TcpStream`, one request per connection.

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criteo_test_server::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_CODE, DEMO_REFRESH_TOKEN, TestServer,
};

/// RFC 7636 Appendix B's verifier and challenge, checked against the RFC
/// text (the verifier has `UJU1p1r`: copies with `UJU2p1r` circulate,
/// and they hash to something else).
const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// This file's own verifier, to show the server does not merely know
/// the RFC's example.
const VERIFIER: &str = "a-verifier.of_this~test-0123456789-abcdefghijklmnop";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// The S256 challenge, computed here as RFC 7636 §4.2 says rather than
/// through the server's own function.
fn challenge_of(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A string field of the JSON body, found by its text (enough for the
    /// flat answers of a token endpoint).
    fn json_field(&self, name: &str) -> Option<String> {
        let start = self.body.find(&format!(r#""{name}":""#))? + name.len() + 4;
        let length = self.body[start..].find('"')?;
        Some(self.body[start..start + length].to_owned())
    }

    /// The error of an OAuth error answer.
    fn error(&self) -> Option<String> {
        self.json_field("error")
    }

    /// The query of the Location header, form-decoded.
    fn redirect_query(&self) -> Vec<(String, String)> {
        let location = self.header("location").expect("a Location header");
        let query = location.split_once('?').expect("a query").1;
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }
}

fn exchange(server: &TestServer, request: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete head");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    Answer {
        status: status.parse().unwrap(),
        headers,
        body: body.to_owned(),
    }
}

fn get(server: &TestServer, target: &str) -> Answer {
    exchange(
        server,
        &format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

fn post_token(server: &TestServer, form: &[(&str, &str)]) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    exchange(
        server,
        &format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// `path` with these parameters as its query.
fn with_query(path: &str, parameters: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(parameters)
        .finish();
    format!("{path}?{query}")
}

/// A consent for `client_id`, with PKCE when `challenge` is given: its
/// code.
fn consent(server: &TestServer, client_id: &str, challenge: Option<&str>) -> String {
    let mut parameters = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("state", "s"),
    ];
    if let Some(challenge) = challenge {
        parameters.extend([
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]);
    }
    let answer = get(server, &with_query("/consent", &parameters));
    assert_eq!(answer.status, 302, "{}", answer.body);
    let query = answer.redirect_query();
    query.iter().find(|(n, _)| n == "code").unwrap().1.clone()
}

/// The demo client's exchange of `code`, with `verifier` if given.
fn confidential_exchange(server: &TestServer, code: &str, verifier: Option<&str>) -> Answer {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    form.extend(verifier.map(|verifier| ("code_verifier", verifier)));
    post_token(server, &form)
}

fn assert_refused(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.error().as_deref(), Some(error), "{}", answer.body);
    assert!(answer.json_field("error_description").is_some());
}

#[test]
fn s256_matches_rfc_7636_appendix_b() {
    assert_eq!(challenge_of(RFC_VERIFIER), RFC_CHALLENGE);
    assert_eq!(
        criteo_test_server::s256_challenge(RFC_VERIFIER),
        RFC_CHALLENGE
    );
    assert_eq!(
        criteo_test_server::s256_challenge(VERIFIER),
        challenge_of(VERIFIER)
    );
}

#[test]
fn approval_redirects_with_a_fresh_code_and_the_state() {
    let server = TestServer::start().unwrap();
    let state = "a b+c&d=e/é%";
    let challenge = challenge_of(VERIFIER);
    let target = with_query(
        "/consent",
        &[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", "https://app.test/cb?app=1"),
            ("state", state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let first = get(&server, &target);
    assert_eq!(first.status, 302, "{}", first.body);
    let location = first.header("location").unwrap();
    assert!(
        location.starts_with("https://app.test/cb?app=1&code=code-"),
        "{location}"
    );
    // Encoded so that plain percent-decoding gives the values too.
    assert!(!location.contains('+'), "{location}");
    let query = first.redirect_query();
    let names: Vec<&str> = query.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["app", "code", "state"]);
    assert_eq!(query[2].1, state);
    let second = get(&server, &target);
    let code = |answer: &Answer| answer.redirect_query()[1].1.clone();
    assert_ne!(code(&first), code(&second));
    assert!(
        code(&first).len() > "code-1-".len() + 16,
        "{}",
        code(&first)
    );
    // Recorded like every request, but not counted as a token request.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.fetches_by(DEMO_CLIENT_ID), 0);
}

#[test]
fn refusal_redirects_with_access_denied() {
    let server = TestServer::start().unwrap();
    let answer = get(
        &server,
        &with_query(
            "/consent/deny",
            &[
                ("response_type", "code"),
                ("client_id", "any-app"),
                ("redirect_uri", REDIRECT_URI),
                ("state", "x y"),
            ],
        ),
    );
    assert_eq!(answer.status, 302);
    assert_eq!(
        answer.header("location"),
        Some(
            "http://127.0.0.1:9/callback?error=access_denied\
             &error_description=The+user+denied+the+request&state=x%20y"
        )
    );
}

#[test]
fn bad_consent_requests_get_a_400_that_names_the_problem() {
    let server = TestServer::start().unwrap();
    let challenge = challenge_of(VERIFIER);
    let good = [
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", REDIRECT_URI),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        good.iter().copied().filter(|(n, _)| *n != name).collect()
    };
    let replacing = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut parameters = without(name);
        parameters.push((name, value));
        parameters
    };
    let mut twice = good.to_vec();
    twice.push(("state", "t"));
    let cases = [
        (replacing("response_type", "token"), "response_type"),
        (without("response_type"), "response_type"),
        (without("client_id"), "client_id"),
        (replacing("client_id", ""), "client_id"),
        (without("redirect_uri"), "redirect_uri"),
        (replacing("redirect_uri", "/callback"), "redirect_uri"),
        (
            replacing("redirect_uri", "ftp://app.test/cb"),
            "redirect_uri",
        ),
        (
            replacing("redirect_uri", "https://app.test/cb#f"),
            "redirect_uri",
        ),
        (
            replacing("redirect_uri", "https://app.test/\r\nX: 1"),
            "redirect_uri",
        ),
        (without("state"), "state"),
        (twice, "state"),
        (
            replacing("code_challenge_method", "plain"),
            "code_challenge_method",
        ),
        (without("code_challenge_method"), "code_challenge_method"),
        (without("code_challenge"), "code_challenge"),
        (replacing("code_challenge", "too-short"), "code_challenge"),
        (
            replacing(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
            ),
            "code_challenge",
        ),
        (
            replacing(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            ),
            "code_challenge",
        ),
    ];
    for (parameters, named) in cases {
        for path in ["/consent", "/consent/deny"] {
            let answer = get(&server, &with_query(path, &parameters));
            assert_eq!(answer.status, 400, "{path} {parameters:?}: {}", answer.body);
            assert_eq!(answer.header("content-type"), Some("text/plain"));
            assert!(answer.header("location").is_none());
            assert!(
                answer.body.contains(named),
                "{parameters:?}: {}",
                answer.body
            );
            assert!(!answer.body.contains("code-"), "{}", answer.body);
        }
    }
}

#[test]
fn a_confidential_client_exchanges_its_code_with_the_verifier() {
    let server = TestServer::start().unwrap();
    let code = consent(&server, DEMO_CLIENT_ID, Some(&challenge_of(VERIFIER)));
    let answer = confidential_exchange(&server, &code, Some(VERIFIER));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.json_field("access_token").is_some());
    assert_eq!(answer.json_field("token_type").as_deref(), Some("Bearer"));
    assert!(
        answer.body.contains(r#""expires_in":900"#),
        "{}",
        answer.body
    );
    let refresh = answer.json_field("refresh_token").unwrap();
    assert!(refresh.starts_with("rt-consent-1-"), "{refresh}");
    assert_eq!(server.fetches_by(DEMO_CLIENT_ID), 1);
}

#[test]
fn the_rfc_example_verifier_works_end_to_end() {
    let server = TestServer::start().unwrap();
    let code = consent(&server, DEMO_CLIENT_ID, Some(RFC_CHALLENGE));
    let answer = confidential_exchange(&server, &code, Some(RFC_VERIFIER));
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn a_wrong_verifier_is_refused_without_being_quoted() {
    let server = TestServer::start().unwrap();
    let code = consent(&server, DEMO_CLIENT_ID, Some(&challenge_of(VERIFIER)));
    let wrong = "the-wrong-verifier-0123456789-0123456789-0123456789";
    let answer = confidential_exchange(&server, &code, Some(wrong));
    assert_refused(&answer, 400, "invalid_grant");
    assert_eq!(
        answer.json_field("error_description").as_deref(),
        Some("code_verifier does not match the code_challenge")
    );
    for secret in [wrong, &code, DEMO_CLIENT_SECRET] {
        assert!(!answer.body.contains(secret), "{}", answer.body);
    }
    let missing = confidential_exchange(&server, &code, None);
    assert_refused(&missing, 400, "invalid_request");
    assert_eq!(
        missing.json_field("error_description").as_deref(),
        Some("code_verifier is required")
    );
    let malformed = confidential_exchange(&server, &code, Some("short"));
    assert_refused(&malformed, 400, "invalid_request");
    // A refused exchange leaves the code unspent.
    let right = confidential_exchange(&server, &code, Some(VERIFIER));
    assert_eq!(right.status, 200, "{}", right.body);
}

#[test]
fn a_verifier_for_a_code_without_challenge_is_refused() {
    let server = TestServer::start().unwrap();
    let code = consent(&server, DEMO_CLIENT_ID, None);
    let answer = confidential_exchange(&server, &code, Some(VERIFIER));
    assert_refused(&answer, 400, "invalid_grant");
    assert!(!answer.body.contains(VERIFIER));
    // Without one, a plain authorization code exchange.
    let answer = confidential_exchange(&server, &code, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn a_public_client_needs_pkce() {
    let server = TestServer::start().unwrap();
    let public = |code: &str, verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        form.extend(verifier.map(|verifier| ("code_verifier", verifier)));
        post_token(&server, &form)
    };
    let plain = consent(&server, "public-app", None);
    assert_refused(&public(&plain, None), 401, "invalid_client");
    let with_pkce = consent(&server, "public-app", Some(&challenge_of(VERIFIER)));
    let answer = public(&with_pkce, Some(VERIFIER));
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A secret, when sent, must be the demo client's.
    let other = consent(&server, "public-app", Some(&challenge_of(VERIFIER)));
    let answer = post_token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("client_secret", "guess"),
            ("code", &other),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_refused(&answer, 401, "invalid_client");
    assert!(!answer.body.contains("guess") && !answer.body.contains(&other));
}

#[test]
fn the_client_and_redirect_uri_must_be_the_consents() {
    let server = TestServer::start().unwrap();
    let challenge = challenge_of(VERIFIER);
    let code = consent(&server, "another-app", Some(&challenge));
    let answer = confidential_exchange(&server, &code, Some(VERIFIER));
    assert_refused(&answer, 400, "invalid_grant");

    let code = consent(&server, DEMO_CLIENT_ID, Some(&challenge));
    for redirect_uri in [None, Some("http://127.0.0.1:9/callback/"), Some("")] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
        ];
        form.extend(redirect_uri.map(|uri| ("redirect_uri", uri)));
        assert_refused(&post_token(&server, &form), 400, "invalid_grant");
    }
}

#[test]
fn a_code_works_once() {
    let server = TestServer::start().unwrap();
    let code = consent(&server, DEMO_CLIENT_ID, Some(&challenge_of(VERIFIER)));
    let first = confidential_exchange(&server, &code, Some(VERIFIER));
    assert_eq!(first.status, 200, "{}", first.body);
    let second = confidential_exchange(&server, &code, Some(VERIFIER));
    assert_refused(&second, 400, "invalid_grant");
    assert!(!second.body.contains(&code), "{}", second.body);
}

#[test]
fn consent_refresh_tokens_rotate_strictly() {
    let server = TestServer::start().unwrap();
    let refresh = |client_id: &str, secret: Option<&str>, token: &str| {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ];
        form.extend(secret.map(|secret| ("client_secret", secret)));
        post_token(&server, &form)
    };
    let code = consent(&server, DEMO_CLIENT_ID, None);
    let first = confidential_exchange(&server, &code, None);
    let rt1 = first.json_field("refresh_token").unwrap();

    // Not without the secret: the lineage began without PKCE.
    assert_refused(&refresh(DEMO_CLIENT_ID, None, &rt1), 401, "invalid_client");
    let second = refresh(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET), &rt1);
    assert_eq!(second.status, 200, "{}", second.body);
    let rt2 = second.json_field("refresh_token").unwrap();
    assert!(rt2.starts_with("rt-consent-") && rt2 != rt1, "{rt2}");
    let again = refresh(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET), &rt1);
    assert_refused(&again, 400, "invalid_grant");
    assert!(!again.body.contains(&rt1));
    let third = refresh(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET), &rt2);
    assert_eq!(third.status, 200, "{}", third.body);

    // A lineage that began with PKCE may be refreshed by its public
    // client, and only by it.
    let code = consent(&server, "public-app", Some(&challenge_of(VERIFIER)));
    let first = post_token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    );
    let rt = first.json_field("refresh_token").unwrap();
    assert_refused(&refresh("other-app", None, &rt), 400, "invalid_grant");
    let next = refresh("public-app", None, &rt);
    assert_eq!(next.status, 200, "{}", next.body);
    assert_refused(&refresh("public-app", None, &rt), 400, "invalid_grant");
}

#[test]
fn the_demo_code_and_refresh_token_work_as_before() {
    let server = TestServer::start().unwrap();
    let demo = |grant_type: &str, field: &str, value: &str| {
        post_token(
            &server,
            &[
                ("grant_type", grant_type),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                (field, value),
            ],
        )
    };
    for _ in 0..2 {
        for answer in [
            demo("authorization_code", "code", DEMO_CODE),
            demo("refresh_token", "refresh_token", DEMO_REFRESH_TOKEN),
        ] {
            assert_eq!(answer.status, 200, "{}", answer.body);
            let refresh = answer.json_field("refresh_token");
            assert_eq!(refresh.as_deref(), Some(DEMO_REFRESH_TOKEN));
        }
    }
    // An unknown code that looks like a consent's is the demo endpoint's.
    let answer = confidential_exchange(&server, "code-1-00", None);
    assert_refused(&answer, 400, "invalid_grant");
}
