//! What `criteo-test-server --help` says: the endpoints, the demo
//! credentials, and every scenario with one line on what it answers. A
//! test checks that every scenario the server knows is listed here.

use crate::fake_redis;
use crate::scenarios::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_CODE, DEMO_REFRESH_TOKEN};

/// Every scenario (`/scenario/<name>/oauth2/token`), with what it answers.
/// `<s>`, `<ms>` and `<status>` stand for numbers of seconds, milliseconds
/// and an HTTP status.
pub const SCENARIOS: &[(&str, &str)] = &[
    // Good answers, in every shape the endpoint may use.
    ("json", "200, a token for 900 s and \"refresh_token\": null"),
    ("text-json", "200, the token as text/json"),
    ("text-plain", "200, the token as text/plain"),
    ("no-content-type", "200, the token without a Content-Type"),
    ("long-token", "200, an access token of over 3000 characters"),
    ("with-refresh", "200, a token and a refresh token"),
    ("expires-string", "200, expires_in as the string \"299\""),
    ("no-expires", "200, a token without expires_in"),
    ("lowercase-bearer", "200, token_type \"bearer\""),
    (
        "extra-fields",
        "200, a token among unknown and nested fields",
    ),
    ("chunked", "200, the token in chunked transfer encoding"),
    (
        "close",
        "200, then the connection closed (Connection: close)",
    ),
    (
        "close-delimited",
        "200, a body ended by closing the connection",
    ),
    ("http10-close", "an HTTP/1.0 answer ended by closing"),
    ("100-continue", "100 Continue, then 200 and the token"),
    ("exact-limit", "200, a body of exactly 1 MiB"),
    ("lives-<s>", "200, a token that expires in <s> seconds"),
    ("slow-<ms>", "200 and a token, <ms> milliseconds late"),
    (
        "slow-<ms>-<scenario>",
        "that scenario's answer, <ms> milliseconds late",
    ),
    ("whoami", "200, a token that names the client_id that asked"),
    // Tokens that change with each refresh.
    (
        "rotate",
        "authorization_code gives rt-1; refresh_token rt-N gives rt-N+1",
    ),
    (
        "keep-refresh",
        "authorization_code gives rt-1; a refresh gives no new refresh token",
    ),
    (
        "strict-rotate",
        "rotates refresh tokens and answers 400 invalid_grant to one used twice",
    ),
    (
        "slow-refresh-<ms>-expires-<s>",
        "a token for <s> s; each later answer <ms> ms late",
    ),
    (
        "held-refresh-expires-<s>",
        "a token for <s> s; later answers held until the Rust test API releases them",
    ),
    (
        "200-then-503-expires-<s>",
        "a token for <s> s, then 503 to every request",
    ),
    // Errors the endpoint may give.
    (
        "400-json",
        "400 invalid_grant with a description and an error_uri",
    ),
    ("401-json", "401 invalid_client, as the endpoint words it"),
    ("401-html", "401 with an nginx HTML page"),
    ("401-empty", "401 with an empty body"),
    ("401-echo", "401 whose HTML quotes the whole request body"),
    (
        "echo-base64-<status>",
        "that status, the request body base64-encoded in every header and the body",
    ),
    (
        "401-echo-upper",
        "401 quoting the request body and its decoded fields, upper-cased",
    ),
    (
        "401-echo-lower",
        "401 quoting the request body and its decoded fields, lower-cased",
    ),
    ("302", "302 to https://attacker.example/oauth2/token"),
    ("429", "429 with Retry-After: 7"),
    ("429-after-100", "429 with Retry-After: 100"),
    ("429-after-1-then-200", "429 with Retry-After: 1, then 200"),
    ("500", "500 with an HTML body"),
    ("503", "503 with a JSON body"),
    ("503-always", "503 to every request"),
    ("503-then-200", "503 the first time, then 200"),
    ("503-retry-after-<s>", "503 with Retry-After: <s>"),
    (
        "503-retry-after-date-<s>",
        "503 with Retry-After: the HTTP date <s> seconds ahead",
    ),
    (
        "mixed",
        "by client_id: unauthorized 401, error 500, slow 200 late, else 200",
    ),
    // Bad answers.
    ("not-json", "200, an HTML page"),
    ("invalid-utf8", "200, a body that is not UTF-8"),
    (
        "deep-nesting",
        "200, JSON that opens 200 000 arrays and never closes them",
    ),
    ("no-token", "200, JSON without access_token"),
    ("empty-token", "200, an empty access_token"),
    ("error-in-200", "200 with an OAuth error in the body"),
    (
        "control-in-token",
        "200, an access_token with a control character",
    ),
    ("over-limit", "200, a body of 1 MiB and one byte"),
    ("huge", "200, a body of 200 MiB with its length declared"),
    ("huge-chunked", "200, a chunked body of 200 MiB"),
    ("huge-header-line", "a header line of 1 MiB"),
    ("many-headers", "100 000 header lines"),
    ("gzip", "200, a gzip body nobody asked for"),
    (
        "obs-fold",
        "200, a header folded onto the next lines (obs-fold)",
    ),
    (
        "obs-fold-503",
        "503 whose Retry-After: 7 is folded onto the next line",
    ),
    (
        "head-in-two",
        "200: 100 bytes of the head, then the rest and a 32 KiB body at once",
    ),
    ("garbage-status", "an SSH banner instead of HTTP"),
    ("two-answers", "two answers to one request"),
    ("dribble", "the answer, one byte a second"),
    (
        "late-bytes",
        "200, then unasked bytes on the idle connection",
    ),
    ("idle-close", "200, then the idle connection closed"),
    ("reset", "the connection reset"),
    ("close-early", "the connection closed before any answer"),
    ("truncated", "an answer cut off before its declared length"),
];

/// The usage line, for `--help` and for a wrong argument.
pub const USAGE: &str = "usage: criteo-test-server [--tls CA_FILE [--tls-name NAME]...] [--proxy] [ADDRESS]\n\
    \x20      criteo-test-server --fake-redis MODE";

/// The whole `--help` text.
pub fn help() -> String {
    let mut text = format!(
        "{USAGE}\n\
         \n\
         A scripted OAuth2 token server for tests: it listens on ADDRESS (default\n\
         127.0.0.1:0, a free port) and prints its URL on the first line; with --proxy,\n\
         a CONNECT proxy's URL on the second. It runs until killed.\n\
         \n\
         \x20 --tls CA_FILE    serve https, with a certificate for 127.0.0.1 and localhost\n\
         \x20                  from a CA made now and written to CA_FILE\n\
         \x20 --tls-name NAME  one more name the certificate is for\n\
         \x20 --proxy          also run a CONNECT proxy\n\
         \x20 --fake-redis MODE  run a fake Redis server instead, on 127.0.0.1 and a free\n\
         \x20                    port that it prints; it reads RESP commands and\n\
         \x20                    answers them as MODE says (the modes are listed last)\n\
         \n\
         POST URL/oauth2/token acts as Criteo's endpoint for client_id {DEMO_CLIENT_ID},\n\
         client_secret {DEMO_CLIENT_SECRET} (401 invalid_client otherwise), for the grants\n\
         client_credentials, authorization_code (code {DEMO_CODE}) and refresh_token\n\
         (refresh_token {DEMO_REFRESH_TOKEN}); each token it gives differs.\n\
         \n\
         GET URL/consent?response_type=code&client_id=C&redirect_uri=R&state=S plays\n\
         Criteo's consent step for a user who approves: 302 to R?code=CODE&state=S\n\
         (&code=... if R has a query; values percent-encoded, %20 for a space), a new\n\
         code each time. For PKCE add code_challenge=X&code_challenge_method=S256\n\
         (S256 only; X is 43 characters of base64url). GET URL/consent/deny?... with\n\
         the same parameters plays a user who refuses: 302 to R?error=access_denied\n\
         &error_description=The+user+denied+the+request&state=S. A bad request gets\n\
         400 text/plain naming the problem: client_id, redirect_uri or state missing\n\
         or empty, a parameter twice, R not an absolute http(s) URL, response_type not\n\
         code, a method other than S256 (or one without X), X malformed.\n\
         POST URL/oauth2/token exchanges such a code (grant_type=authorization_code):\n\
         \x20 - with client_secret, the client must be {DEMO_CLIENT_ID}/{DEMO_CLIENT_SECRET}; without,\n\
         \x20   any client_id if the code has a challenge; else 401 invalid_client;\n\
         \x20 - client_id and redirect_uri must be the consent's: else 400 invalid_grant;\n\
         \x20 - a challenge needs code_verifier (else 400 invalid_request) whose S256 is\n\
         \x20   X (else 400 invalid_grant); a code without one takes none (400\n\
         \x20   invalid_grant); no error quotes the verifier, code or secret;\n\
         \x20 - a code works once (then 400 invalid_grant); a refused try does not use it.\n\
         The token (expires_in 900) comes with a refresh token rt-consent-N-HEX that\n\
         rotates strictly: it works once (then 400 invalid_grant), for the same client\n\
         under the same rules, and its refresh gives the next one.\n\
         \n\
         GET URL/count/CLIENT_ID answers how many token requests that client made.\n\
         POST URL/scenario/NAME/oauth2/token gives the named answer to any request:\n\
         \n"
    );
    let width = SCENARIOS
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, what) in SCENARIOS {
        text.push_str(&format!("  {name:width$}  {what}\n"));
    }
    text.push_str("\nThe modes of --fake-redis:\n\n");
    let width = fake_redis::MODES
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, what) in fake_redis::MODES {
        text.push_str(&format!("  {name:width$}  {what}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::SCENARIOS;

    /// The names the server's source matches on: the `"name" =>` arms and
    /// the `strip_prefix("name-")` and `name == "..."` tests.
    fn names_in_the_source() -> Vec<String> {
        let source = include_str!("scenarios.rs");
        let mut names = Vec::new();
        for line in source.lines().map(str::trim) {
            let arms = line.split(" =>").next().unwrap_or("");
            if line.contains(" =>") && arms.starts_with('"') {
                let arms = arms.split(" if ").next().unwrap_or("");
                names.extend(
                    arms.split(" | ")
                        .map(|arm| arm.trim_matches('"').to_owned()),
                );
            }
            for marker in ["name.strip_prefix(\"", "name == \""] {
                if let Some(rest) = line.split(marker).nth(1) {
                    names.push(rest.split('"').next().unwrap_or("").to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn every_scenario_is_listed() {
        let names = names_in_the_source();
        assert!(names.len() > 50, "{names:?}");
        for name in names {
            let listed = SCENARIOS
                .iter()
                .any(|(listed, _)| listed.starts_with(name.as_str()));
            assert!(listed, "scenario {name:?} is missing from --help");
        }
    }

    #[test]
    fn every_listed_scenario_exists() {
        let names = names_in_the_source();
        let tuple_arms = ["rotate", "keep-refresh"];
        for (listed, _) in SCENARIOS {
            let known = match listed.split_once('<') {
                Some((prefix, _)) => names.iter().any(|name| name == prefix),
                None => names.iter().any(|name| name == listed) || tuple_arms.contains(listed),
            };
            assert!(
                known,
                "--help lists {listed:?}, which the server does not know"
            );
        }
    }
}
