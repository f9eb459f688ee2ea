//! Every answer the server can give. `/oauth2/token` acts like Criteo's
//! endpoint for one demo client; `/scenario/<name>/oauth2/token` gives the
//! named answer whatever the request.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::http::{Action, Framing, RecordedRequest, Reply};

pub const DEMO_CLIENT_ID: &str = "demo-client";
pub const DEMO_CLIENT_SECRET: &str = "demo-secret";
/// The authorization code the demo endpoint accepts.
pub const DEMO_CODE: &str = "demo-code";
/// The refresh token the demo endpoint accepts (and hands out).
pub const DEMO_REFRESH_TOKEN: &str = "demo-refresh";

/// The body cap of the client: scenarios test both sides of it.
const ONE_MIB: usize = 1 << 20;

/// The answer to `GET /count/<client_id>`: how many token requests that
/// client has made, as a decimal number.
pub(crate) fn count_answer(count: usize) -> Action {
    typed(200, "text/plain", &count.to_string())
}

/// The answer to a request. `sequence` numbers all requests from 1, so
/// each token differs; `hit` numbers the requests to this same target, so
/// a scenario can answer differently the second time.
pub(crate) fn respond(request: &RecordedRequest, sequence: usize, hit: usize) -> Action {
    let Some(prefix) = request.target.strip_suffix("/oauth2/token") else {
        return json(404, r#"{"error":"not_found"}"#);
    };
    if request.method != "POST" {
        return json(
            405,
            r#"{"error":"invalid_request","error_description":"POST only"}"#,
        );
    }
    match prefix.strip_prefix("/scenario/") {
        Some(name) => scenario(name, request, sequence, hit),
        None if prefix.is_empty() => demo_endpoint(request, sequence),
        None => json(404, r#"{"error":"not_found"}"#),
    }
}

/// Criteo's endpoint as documented, for the demo credentials.
fn demo_endpoint(request: &RecordedRequest, sequence: usize) -> Action {
    let field = |name| request.field(name);
    if field("client_id").as_deref() != Some(DEMO_CLIENT_ID)
        || field("client_secret").as_deref() != Some(DEMO_CLIENT_SECRET)
    {
        return json(
            401,
            r#"{"error":"invalid_client","error_description":"client_id doesn't exist or the client_secret is invalid"}"#,
        );
    }
    let granted = match field("grant_type").as_deref() {
        Some("client_credentials") => Ok(false),
        Some("authorization_code") if field("code").as_deref() == Some(DEMO_CODE) => Ok(true),
        Some("refresh_token") if field("refresh_token").as_deref() == Some(DEMO_REFRESH_TOKEN) => {
            Ok(true)
        }
        Some("authorization_code" | "refresh_token") => Err("invalid_grant"),
        _ => Err("unsupported_grant_type"),
    };
    match granted {
        Ok(with_refresh) => {
            let refresh = if with_refresh {
                format!(r#""{DEMO_REFRESH_TOKEN}""#)
            } else {
                "null".into()
            };
            json(
                200,
                &format!(
                    r#"{{"access_token":"{}","token_type":"Bearer","refresh_token":{refresh},"expires_in":900}}"#,
                    access_token(sequence)
                ),
            )
        }
        Err(code) => json(
            400,
            &format!(r#"{{"error":"{code}","error_description":"the grant was refused"}}"#),
        ),
    }
}

/// A JWT-shaped token, different for each request.
pub fn access_token(sequence: usize) -> String {
    format!("eyJhbGciOiJIUzI1NiJ9.eyJzZXEiOiJ{sequence}In0.c2lnbmF0dXJl-_{sequence}")
}

fn scenario(name: &str, request: &RecordedRequest, sequence: usize, hit: usize) -> Action {
    let token = access_token(sequence);
    let token_json =
        |extra: &str| format!(r#"{{"access_token":"{token}","token_type":"Bearer"{extra}}}"#);
    if let Some(action) = parameterised(name, request, hit, &token) {
        return action;
    }
    if let Some(millis) = name.strip_prefix("slow-").and_then(|ms| ms.parse().ok()) {
        return Action::Slow(
            Duration::from_millis(millis),
            reply(200, "application/json", token_json(r#","expires_in":900"#)),
        );
    }
    // `slow-<ms>-<scenario>`: that scenario's answer, `ms` late.
    if let Some((millis, inner)) = name
        .strip_prefix("slow-")
        .and_then(|rest| rest.split_once('-'))
        .and_then(|(ms, inner)| Some((ms.parse().ok()?, inner)))
        && let Action::Reply(reply) = scenario(inner, request, sequence, hit)
    {
        return Action::Slow(Duration::from_millis(millis), reply);
    }
    match name {
        // Good answers, in every shape the endpoint may use.
        "json" => json(
            200,
            &token_json(r#","refresh_token":null,"expires_in":900"#),
        ),
        "text-json" => typed(200, "text/json", &token_json(r#","expires_in":900"#)),
        // An access token of 3000 characters and more.
        "long-token" => json(
            200,
            &format!(
                r#"{{"access_token":"{token}{}","token_type":"Bearer","expires_in":900}}"#,
                "x".repeat(3000)
            ),
        ),
        "text-plain" => typed(
            200,
            "text/plain; charset=utf-8",
            &token_json(r#","expires_in":900"#),
        ),
        "no-content-type" => Action::Reply(Reply {
            headers: vec![],
            ..reply(200, "", token_json(""))
        }),
        "with-refresh" => json(
            200,
            &token_json(r#","refresh_token":"rt-rotated-1","expires_in":900"#),
        ),
        "expires-string" => json(200, &token_json(r#","expires_in":"299""#)),
        "no-expires" => json(200, &token_json("")),
        "lowercase-bearer" => json(
            200,
            &format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":900}}"#),
        ),
        "extra-fields" => json(
            200,
            &token_json(
                r#","expires_in":900,"scope":"all","nested":{"a":[1,2,{"b":null}]},"x":1.5e3"#,
            ),
        ),
        "chunked" => framed(token_json(r#","expires_in":900"#), Framing::Chunked, vec![]),
        // A pooled connection that goes bad while idle, 50 ms after its answer.
        "late-bytes" => Action::ThenLater {
            reply: reply(200, "application/json", token_json(r#","expires_in":900"#)),
            after: Duration::from_millis(50),
            late: Some(
                b"HTTP/1.1 200 OK\r\nContent-Length: 62\r\n\r\n{\"access_token\":\"STALE-late\",\"token_type\":\"Bearer\",\"expires_in\":9}"
                    .to_vec(),
            ),
        },
        "idle-close" => Action::ThenLater {
            reply: reply(200, "application/json", token_json(r#","expires_in":900"#)),
            after: Duration::from_millis(50),
            late: None,
        },
        "close" => framed(
            token_json(r#","expires_in":900"#),
            Framing::ContentLength,
            vec![("Connection", "close")],
        ),
        "close-delimited" => framed(
            token_json(r#","expires_in":900"#),
            Framing::CloseDelimited,
            vec![],
        ),
        "exact-limit" => json(200, &pad_to(&token_json(""), ONE_MIB)),
        // Answers to retry: first "not now", then a token.
        "503-then-200" if hit == 1 => typed(503, "text/plain", "try again"),
        "429-after-1-then-200" if hit == 1 => with_retry_after(429, "1"),
        "503-then-200" | "429-after-1-then-200" => json(200, &token_json(r#","expires_in":900"#)),
        "503-always" => typed(503, "text/plain", "try again"),
        "429-after-100" => with_retry_after(429, "100"),
        "dribble" => Action::Dribble,
        // OAuth errors.
        "400-json" => json(
            400,
            r#"{"error":"invalid_grant","error_description":"The authorization code has expired","error_uri":"https://developers.criteo.com/oauth"}"#,
        ),
        "401-json" => json(
            401,
            r#"{"error":"invalid_client","error_description":"client_id doesn't exist or the client_secret is invalid"}"#,
        ),
        "401-html" => typed(
            401,
            "text/html",
            "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body><center><h1>401 Authorization Required</h1></center><hr><center>nginx</center></body>\r\n</html>\r\n",
        ),
        "401-empty" => typed(401, "text/plain", ""),
        "401-echo" => typed(
            401,
            "text/html",
            &format!(
                "<p>Rejected: {}</p>",
                String::from_utf8_lossy(&request.body)
            ),
        ),
        // The same echo, decoded, then upper- and lower-cased.
        "401-echo-upper" | "401-echo-lower" => {
            let decoded: String = request
                .form()
                .iter()
                .map(|(name, value)| format!("{name}={value} "))
                .collect();
            let echo = format!("{} {decoded}", String::from_utf8_lossy(&request.body));
            let echo = match name {
                "401-echo-upper" => echo.to_uppercase(),
                _ => echo.to_lowercase(),
            };
            typed(401, "text/plain", &format!("Rejected: {echo}"))
        }
        // Other statuses.
        "302" => Action::Reply(Reply {
            headers: vec![(
                "Location".into(),
                "https://attacker.example/oauth2/token".into(),
            )],
            ..reply(302, "", String::new())
        }),
        "429" => Action::Reply(Reply {
            headers: vec![
                ("Retry-After".into(), "7".into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            ..reply(429, "", "rate limit exceeded".into())
        }),
        "500" => typed(500, "text/html", "<h1>Internal Server Error</h1>"),
        "503" => typed(503, "application/json", r#"{"message":"maintenance"}"#),
        // 2xx that is no usable token.
        "not-json" => typed(
            200,
            "text/html",
            "<html><body>Welcome to the portal</body></html>",
        ),
        "invalid-utf8" => Action::Reply(reply_bytes(
            200,
            b"{\"access_token\":\"ab\xff\xfe\"}".to_vec(),
        )),
        "deep-nesting" => json(
            200,
            &format!(r#"{{"access_token":"a","padding":{}"#, "[".repeat(200_000)),
        ),
        "no-token" => json(200, r#"{"token_type":"Bearer","expires_in":900}"#),
        "empty-token" => json(200, r#"{"access_token":"","token_type":"Bearer"}"#),
        "error-in-200" => json(
            200,
            r#"{"error":"invalid_grant","error_description":"code already used"}"#,
        ),
        "control-in-token" => json(
            200,
            r#"{"access_token":"abc\r\nX-Injected: 1","token_type":"Bearer"}"#,
        ),
        "over-limit" => json(200, &pad_to(&token_json(""), ONE_MIB + 1)),
        "huge" => Action::Stream {
            total: 200 << 20,
            chunked: false,
        },
        "huge-chunked" => Action::Stream {
            total: 200 << 20,
            chunked: true,
        },
        // For stress: the answer the client_id asks for.
        "mixed" => match request.field("client_id").as_deref() {
            Some("unauthorized") => json(
                401,
                r#"{"error":"invalid_client","error_description":"no such client"}"#,
            ),
            Some("error") => typed(500, "text/plain", "internal error"),
            Some("slow") => Action::Slow(
                Duration::from_secs(3),
                reply(200, "application/json", token_json("")),
            ),
            _ => json(200, &token_json(r#","expires_in":900"#)),
        },
        // Hostile answers, byte for byte.
        "huge-header-line" => raw(
            format!(
                "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\n{{}}",
                "a".repeat(1 << 20)
            ),
            true,
        ),
        "many-headers" => raw(
            format!(
                "HTTP/1.1 200 OK\r\n{}Content-Length: 2\r\n\r\n{{}}",
                "X-H: v\r\n".repeat(100_000)
            ),
            true,
        ),
        "100-continue" => {
            let body = token_json(r#","expires_in":900"#);
            raw(
                format!(
                    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
                false,
            )
        }
        "http10-close" => raw(
            format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
                token_json(r#","expires_in":900"#)
            ),
            true,
        ),
        "gzip" => Action::Raw {
            bytes: gzip_answer(),
            close: false,
        },
        // A header continued on the next line (obs-fold, RFC 9112 §5.2).
        "obs-fold" => {
            let body = token_json(r#","expires_in":900"#);
            raw(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Note: first\r\n \
                     second\r\n\tthird\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
                true,
            )
        }
        // 100 bytes of the head, then the rest of it and the body, 32 KiB
        // (the client's input buffer) in one write, on a connection kept
        // open.
        "head-in-two" => {
            let head = |length: usize| {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: {}\r\nContent-Length: {length:05}\r\n\r\n",
                    "p".repeat(60)
                )
            };
            let length = 100 + 32 * 1024 - head(0).len();
            let body = pad_to(&token_json(r#","expires_in":900"#), length);
            let answer = format!("{}{body}", head(length)).into_bytes();
            let (first, rest) = answer.split_at(100);
            Action::InTwo {
                first: first.to_vec(),
                rest: rest.to_vec(),
            }
        }
        // A 503 whose Retry-After value is on a folded line.
        "obs-fold-503" => raw(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After:\r\n 7\r\nContent-Type: text/plain;\r\n\tcharset=utf-8\r\nContent-Length: 4\r\n\r\ndown"
                .into(),
            true,
        ),
        "garbage-status" => raw("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n".into(), true),
        "two-answers" => {
            let body = token_json(r#","expires_in":900"#);
            let stale =
                r#"{"access_token":"STALE-second-answer","token_type":"Bearer","expires_in":900}"#;
            raw(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}\
                 HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{stale}",
                    body.len(),
                    stale.len()
                ),
                false,
            )
        }
        // No complete answer.
        // For processes that must not get each other's tokens: the token
        // names the client that asked.
        "whoami" => {
            let client_id = request.field("client_id").unwrap_or_default();
            let client_id: String = client_id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            json(
                200,
                &format!(
                    r#"{{"access_token":"tok-{client_id}","token_type":"Bearer","expires_in":900}}"#
                ),
            )
        }
        "reset" => Action::Reset,
        "close-early" => Action::CloseSilently,
        "truncated" => Action::Truncated,
        _ => json(404, r#"{"error":"unknown_scenario"}"#),
    }
}

/// Scenarios with numbers or state in them, for token sources:
/// - `lives-<s>`: a token living `s` seconds;
/// - `slow-refresh-<ms>-expires-<s>`: the same, every answer after the first `ms` late;
/// - `held-refresh-expires-<s>`: the same, every answer after the first held
///   until the test lets them go (`TestServer::release_held`);
/// - `200-then-503-expires-<s>`: one such token, then 503s;
/// - `503-retry-after-<s>`: always 503 with `Retry-After: s` (any text);
/// - `503-retry-after-date-<s>`: the same, as the HTTP date `s` seconds on;
/// - `rotate`: a new refresh token each time: `rt-1` for a code, `rt-<n+1>` for `rt-<n>`;
/// - `keep-refresh`: `rt-1` for a code, no refresh token for a refresh;
/// - `echo-base64-<status>`: see [`base64_echo`];
/// - `strict-rotate`: as a server that revokes a refresh token once used
///   (Authlib, RFC 6749 §10.4): any code or unused refresh token gets a new
///   refresh token, unique to this process; one presented twice gets 400
///   `invalid_grant`.
fn parameterised(name: &str, request: &RecordedRequest, hit: usize, token: &str) -> Option<Action> {
    let expiring = |seconds: &str| {
        json(
            200,
            &format!(
                r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{seconds}}}"#
            ),
        )
    };
    if let Some(seconds) = name.strip_prefix("lives-") {
        return Some(expiring(seconds));
    }
    if let Some(rest) = name.strip_prefix("slow-refresh-") {
        let (millis, seconds) = rest.split_once("-expires-")?;
        let Action::Reply(reply) = expiring(seconds) else {
            return None;
        };
        return Some(match hit {
            1 => Action::Reply(reply),
            _ => Action::Slow(Duration::from_millis(millis.parse().ok()?), reply),
        });
    }
    if let Some(seconds) = name.strip_prefix("held-refresh-expires-") {
        return Some(match (hit, expiring(seconds)) {
            (1, reply) => reply,
            (_, Action::Reply(reply)) => Action::Held(reply),
            (_, other) => other,
        });
    }
    if let Some(seconds) = name.strip_prefix("200-then-503-expires-") {
        return Some(if hit == 1 {
            expiring(seconds)
        } else {
            typed(503, "text/plain", "down")
        });
    }
    if let Some(seconds) = name.strip_prefix("503-retry-after-date-") {
        let at = SystemTime::now() + Duration::from_secs(seconds.parse().ok()?);
        return Some(with_retry_after(503, &httpdate::fmt_http_date(at)));
    }
    if let Some(seconds) = name.strip_prefix("503-retry-after-") {
        return Some(with_retry_after(503, seconds));
    }
    if let Some(status) = name.strip_prefix("echo-base64-") {
        return Some(base64_echo(status.parse().ok()?, request));
    }
    if name == "strict-rotate" {
        return Some(strict_rotation(request, token));
    }
    let next_refresh = match (name, request.field("grant_type").as_deref()) {
        ("rotate" | "keep-refresh", Some("authorization_code")) => Some("rt-1".to_owned()),
        ("rotate", Some("refresh_token")) => {
            let n: usize = request
                .field("refresh_token")?
                .strip_prefix("rt-")?
                .parse()
                .ok()?;
            Some(format!("rt-{}", n + 1))
        }
        ("keep-refresh", Some("refresh_token")) => None,
        _ => return None,
    };
    let refresh = next_refresh.map_or(String::new(), |rt| format!(r#","refresh_token":"{rt}""#));
    Some(json(
        200,
        &format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":900{refresh}}}"#),
    ))
}

/// The refresh tokens `strict-rotate` has seen, in any server of this
/// process, and the number of the last one it gave.
static SPENT_REFRESH_TOKENS: Mutex<Option<HashSet<String>>> = Mutex::new(None);
static ISSUED_REFRESH_TOKENS: AtomicUsize = AtomicUsize::new(0);

fn strict_rotation(request: &RecordedRequest, token: &str) -> Action {
    if request.field("grant_type").as_deref() == Some("refresh_token") {
        let presented = request.field("refresh_token").unwrap_or_default();
        let mut spent = SPENT_REFRESH_TOKENS.lock().unwrap();
        if !spent.get_or_insert_default().insert(presented) {
            return json(
                400,
                r#"{"error":"invalid_grant","error_description":"refresh token already used"}"#,
            );
        }
    }
    let issued = ISSUED_REFRESH_TOKENS.fetch_add(1, Ordering::SeqCst) + 1;
    json(
        200,
        &format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":900,"refresh_token":"rt-strict-{}-{issued}"}}"#,
            std::process::id()
        ),
    )
}

fn raw(text: String, close: bool) -> Action {
    Action::Raw {
        bytes: text.into_bytes(),
        close,
    }
}

/// A 200 whose body is `{"access_token":"gz","token_type":"Bearer"}`
/// compressed with gzip, which the client never asked for.
fn gzip_answer() -> Vec<u8> {
    const GZIPPED: [u8; 58] = [
        31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 171, 86, 74, 76, 78, 78, 45, 46, 142, 47, 201, 207, 78,
        205, 83, 178, 82, 74, 175, 82, 210, 81, 2, 115, 226, 75, 42, 11, 82, 129, 34, 78, 169, 137,
        69, 169, 69, 74, 181, 0, 101, 152, 104, 220, 43, 0, 0, 0,
    ];
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        GZIPPED.len()
    );
    [head.as_bytes(), &GZIPPED].concat()
}

fn with_retry_after(status: u16, seconds: &str) -> Action {
    Action::Reply(Reply {
        headers: vec![
            ("Retry-After".into(), seconds.into()),
            ("Content-Type".into(), "text/plain".into()),
        ],
        ..reply(status, "", "rate limit exceeded".into())
    })
}

/// `json_text` followed by spaces, `size` bytes in all.
fn pad_to(json_text: &str, size: usize) -> String {
    format!("{json_text}{}", " ".repeat(size - json_text.len()))
}

fn reply(status: u16, content_type: &str, body: String) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), content_type.into())],
        body: body.into_bytes(),
        framing: Framing::ContentLength,
    }
}

fn reply_bytes(status: u16, body: Vec<u8>) -> Reply {
    Reply {
        body,
        ..reply(status, "application/json", String::new())
    }
}

fn typed(status: u16, content_type: &str, body: &str) -> Action {
    Action::Reply(reply(status, content_type, body.into()))
}

fn json(status: u16, body: &str) -> Action {
    typed(status, "application/json", body)
}

fn framed(body: String, framing: Framing, extra: Vec<(&str, &str)>) -> Action {
    let mut reply = reply(200, "application/json", body);
    reply.framing = framing;
    reply
        .headers
        .extend(extra.into_iter().map(|(n, v)| (n.into(), v.into())));
    Action::Reply(reply)
}

/// An answer of `status` that carries the request body base64-encoded in
/// every header it has and as its own body: a server that echoes what it
/// was sent in a form that percent-decoding does not undo.
fn base64_echo(status: u16, request: &RecordedRequest) -> Action {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let echo = STANDARD.encode(&request.body);
    let location = format!(
        "https://elsewhere.test/cb?b={}",
        URL_SAFE_NO_PAD.encode(&request.body)
    );
    Action::Reply(Reply {
        headers: vec![
            ("Content-Type".into(), "text/plain".into()),
            ("Location".into(), location),
            ("Retry-After".into(), echo.clone()),
            ("WWW-Authenticate".into(), format!("Basic realm=\"{echo}\"")),
            ("X-Echo".into(), echo.clone()),
        ],
        ..reply(status, "", echo)
    })
}
