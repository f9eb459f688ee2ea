//! Criteo's consent step, for the authorization code grant (RFC 6749
//! §4.1) with PKCE (RFC 7636), and what the token endpoint then checks.
//!
//! For real, a user's browser goes to Criteo's consent page, the user
//! approves or refuses, and Criteo sends the browser back to the
//! application's redirect URI with a code (or an error). Here nobody
//! clicks: `GET /consent?...` plays a user who approves and
//! `GET /consent/deny?...` one who refuses; both answer with the 302 the
//! browser would follow.
//!
//! The codes handed out are remembered, so that `POST /oauth2/token` can
//! check what a real endpoint checks when one is exchanged: who the client
//! is, that the code was issued to it for this redirect URI, the PKCE
//! verifier, and that the code is used once. The refresh tokens given for
//! such codes rotate strictly, as Criteo's do: each works once.
//!
//! Every other request, the demo code and refresh token included, is left
//! to `scenarios.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use ring::rand::{SecureRandom, SystemRandom};

use crate::http::{Action, Framing, RecordedRequest, Reply};
use crate::scenarios::{self, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

/// What the refusing user's redirect says, already form-encoded.
const DENIED: &str = "error=access_denied&error_description=The+user+denied+the+request";

/// What the server remembers of the consents it gave. One per server,
/// shared by its connections: a code handed out on one connection is
/// exchanged on another.
#[derive(Default)]
pub(crate) struct Consents {
    ledger: Mutex<Ledger>,
}

#[derive(Default)]
struct Ledger {
    /// Every code handed out, spent or not, so that a second use is
    /// recognised and refused instead of passed on as unknown.
    codes: HashMap<String, Grant>,
    /// Every refresh token given for such a code or its refreshes, the
    /// same way.
    refresh_tokens: HashMap<String, Lineage>,
    codes_issued: usize,
    refresh_tokens_issued: usize,
}

/// An approved consent, which its code stands for.
struct Grant {
    client_id: String,
    redirect_uri: String,
    /// The S256 code_challenge; `None` for a consent without PKCE.
    challenge: Option<String>,
    used: bool,
}

/// What a refresh token given after a consent stands for.
struct Lineage {
    client_id: String,
    /// Whether the lineage began with a PKCE code: a client without a
    /// secret may then go on refreshing, as it could exchange the code.
    with_pkce: bool,
    used: bool,
}

/// The answer to the consent step, or to a token request for a code or
/// refresh token it led to; `None` leaves the request to the scenarios.
pub(crate) fn respond(
    request: &RecordedRequest,
    sequence: usize,
    consents: &Consents,
) -> Option<Action> {
    if request.method == "POST" && request.target == "/oauth2/token" {
        return token_request(request, sequence, consents);
    }
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let approves = match path {
        "/consent" => true,
        "/consent/deny" => false,
        _ => return None,
    };
    if request.method != "GET" {
        return Some(text(405, "the consent step takes GET only"));
    }
    Some(match consent_request(query) {
        Ok(consent) if approves => approve(&consent, consents),
        Ok(consent) => redirect(&consent, DENIED),
        // A redirect URI that fails its checks must not be redirected to
        // (RFC 6749 §4.1.2.1); the others could be, but a 400 that names
        // the problem is what a test wants to read.
        Err(problem) => text(400, &problem),
    })
}

// The consent step.

/// A consent request that passed every check.
struct ConsentRequest {
    client_id: String,
    redirect_uri: String,
    state: String,
    challenge: Option<String>,
}

/// Reads and checks the query of `/consent` or `/consent/deny`. The error
/// is the text of the 400: it names the problem and quotes no value.
fn consent_request(query: &str) -> Result<ConsentRequest, String> {
    let parameters = Parameters::parse(query.as_bytes())?;
    if parameters.get("response_type") != Some("code") {
        return Err("response_type must be code".into());
    }
    let client_id = parameters.required("client_id")?;
    let redirect_uri = parameters.required("redirect_uri")?;
    if !is_absolute_http_url(redirect_uri) {
        return Err("redirect_uri must be an absolute http or https URL without a fragment".into());
    }
    // RFC 6749 only recommends state; this server requires it, as it is
    // the app's defence against cross-site request forgery (§10.12) and
    // a client library must never leave it out.
    let state = parameters.required("state")?;
    Ok(ConsentRequest {
        client_id: client_id.into(),
        redirect_uri: redirect_uri.into(),
        state: state.into(),
        challenge: pkce_challenge(&parameters)?,
    })
}

/// Whether `uri` is an absolute http or https URL with a host and without
/// a fragment (RFC 6749 §3.1.2), and nothing a Location header cannot
/// carry as is: no space, control or non-ASCII character.
fn is_absolute_http_url(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return false;
    };
    let host_length = rest.find(['/', '?']).unwrap_or(rest.len());
    host_length > 0 && !uri.contains('#') && uri.bytes().all(|byte| byte.is_ascii_graphic())
}

/// The consent's code_challenge, or `None` for a consent without PKCE.
/// Only S256 is taken: `plain` (RFC 7636 §4.2) shows the verifier to
/// whoever sees the consent's URL, and a challenge without a method means
/// plain (§4.3).
fn pkce_challenge(parameters: &Parameters) -> Result<Option<String>, String> {
    let method = parameters.get("code_challenge_method");
    let Some(challenge) = parameters.get("code_challenge") else {
        return match method {
            None => Ok(None),
            Some(_) => Err("code_challenge_method was given without a code_challenge".into()),
        };
    };
    if method != Some("S256") {
        return Err("code_challenge_method must be S256".into());
    }
    // What S256 gives: a SHA-256 digest in base64url without padding.
    let base64url = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
    if challenge.len() != 43 || !challenge.bytes().all(base64url) {
        return Err("code_challenge must be 43 characters of base64url without padding".into());
    }
    Ok(Some(challenge.into()))
}

/// The approving user: a fresh code, remembered, sent back with the state.
fn approve(consent: &ConsentRequest, consents: &Consents) -> Action {
    let code = consents.ledger.lock().unwrap().issue_code(consent);
    let code = format!("code={}", encode(&code));
    redirect(consent, &code)
}

impl Ledger {
    /// A code nobody can guess (RFC 6749 §10.10), numbered so that a
    /// reader of a test's log can tell codes apart.
    fn issue_code(&mut self, consent: &ConsentRequest) -> String {
        self.codes_issued += 1;
        let code = format!("code-{}-{}", self.codes_issued, random_hex());
        let grant = Grant {
            client_id: consent.client_id.clone(),
            redirect_uri: consent.redirect_uri.clone(),
            challenge: consent.challenge.clone(),
            used: false,
        };
        self.codes.insert(code.clone(), grant);
        code
    }
}

/// The 302 back to the application: its redirect URI with `answer` and
/// the state added to the query it may already have.
fn redirect(consent: &ConsentRequest, answer: &str) -> Action {
    let separator = if consent.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!(
        "{}{separator}{answer}&state={}",
        consent.redirect_uri,
        encode(&consent.state)
    );
    Action::Reply(Reply {
        status: 302,
        headers: vec![
            ("Location".into(), location),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: Vec::new(),
        framing: Framing::ContentLength,
    })
}

/// Everything but RFC 3986's unreserved characters.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value for a query, encoded so that it decodes to itself whether its
/// reader takes `+` for a space (form decoding) or not (plain percent
/// decoding): a space becomes `%20`.
fn encode(value: &str) -> String {
    utf8_percent_encode(value, RESERVED).to_string()
}

// The token endpoint, for what the consent step gave.

/// A token request for a code the consent step gave, or for a refresh
/// token given after one; `None` for any other, which the demo endpoint
/// answers as before.
fn token_request(
    request: &RecordedRequest,
    sequence: usize,
    consents: &Consents,
) -> Option<Action> {
    // One lock for the whole decision: two requests racing with the same
    // code cannot both be the first.
    let mut ledger = consents.ledger.lock().unwrap();
    let remembered = match request.field("grant_type").as_deref() {
        Some("authorization_code") => request
            .field("code")
            .is_some_and(|code| ledger.codes.contains_key(&code)),
        Some("refresh_token") => request
            .field("refresh_token")
            .is_some_and(|token| ledger.refresh_tokens.contains_key(&token)),
        _ => false,
    };
    if !remembered {
        return None;
    }
    let form = match Parameters::parse(&request.body) {
        Ok(form) => form,
        Err(problem) => return Some(refuse(400, "invalid_request", &problem)),
    };
    let answer = match form.get("grant_type") {
        Some("authorization_code") => exchange_code(&form, &mut ledger, sequence),
        _ => refresh(&form, &mut ledger, sequence),
    };
    Some(answer.unwrap_or_else(|refusal| refusal))
}

/// `grant_type=authorization_code`: RFC 6749 §4.1.3's checks, then PKCE's
/// (RFC 7636 §4.6). A refused request leaves the code unspent: only a
/// successful exchange uses it up.
fn exchange_code(
    form: &Parameters,
    ledger: &mut Ledger,
    sequence: usize,
) -> Result<Action, Action> {
    let code = form.get("code").unwrap_or_default();
    let Some(grant) = ledger.codes.get_mut(code) else {
        return Err(refuse(400, "invalid_grant", "unknown code"));
    };
    let client_id = authenticate(form, grant.challenge.is_some())?;
    if client_id != grant.client_id {
        return Err(refuse(
            400,
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    match form.get("redirect_uri") {
        None => return Err(refuse(400, "invalid_grant", "redirect_uri is required")),
        Some(uri) if uri != grant.redirect_uri => {
            return Err(refuse(
                400,
                "invalid_grant",
                "redirect_uri differs from the consent's",
            ));
        }
        Some(_) => {}
    }
    if grant.used {
        // RFC 6749 §4.1.2 would also revoke what the first use gave;
        // refusing is enough for a test server.
        return Err(refuse(
            400,
            "invalid_grant",
            "the code has already been used",
        ));
    }
    check_verifier(form.get("code_verifier"), grant.challenge.as_deref())?;
    grant.used = true;
    let lineage = Lineage {
        client_id: grant.client_id.clone(),
        with_pkce: grant.challenge.is_some(),
        used: false,
    };
    Ok(ledger.tokens(lineage, sequence))
}

/// `grant_type=refresh_token` in a consent's lineage, with strict
/// rotation as at Criteo: a refresh token works once, and each refresh
/// gives the next one.
fn refresh(form: &Parameters, ledger: &mut Ledger, sequence: usize) -> Result<Action, Action> {
    let token = form.get("refresh_token").unwrap_or_default();
    let Some(lineage) = ledger.refresh_tokens.get_mut(token) else {
        return Err(refuse(400, "invalid_grant", "unknown refresh token"));
    };
    let client_id = authenticate(form, lineage.with_pkce)?;
    if client_id != lineage.client_id {
        return Err(refuse(
            400,
            "invalid_grant",
            "the refresh token was issued to another client",
        ));
    }
    if lineage.used {
        return Err(refuse(
            400,
            "invalid_grant",
            "the refresh token has already been used",
        ));
    }
    lineage.used = true;
    let next = Lineage {
        client_id: lineage.client_id.clone(),
        with_pkce: lineage.with_pkce,
        used: false,
    };
    Ok(ledger.tokens(next, sequence))
}

/// The client_id of a client that proved who it is (RFC 6749 §2.3): one
/// with a secret must be the demo client. One without a secret (a public
/// client, §2.1) is taken at its word only when its grant began with a
/// code_challenge, as then only the app that made the verifier can use it.
fn authenticate(form: &Parameters, public_allowed: bool) -> Result<&str, Action> {
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(DEMO_CLIENT_ID), Some(DEMO_CLIENT_SECRET)) => Ok(DEMO_CLIENT_ID),
        (None, None) => Err(refuse(401, "invalid_client", "client_id is required")),
        (Some(client_id), None) if public_allowed => Ok(client_id),
        (Some(_), None) => Err(refuse(
            401,
            "invalid_client",
            "a client without a client_secret needs a grant that began with a code_challenge",
        )),
        _ => Err(refuse(
            401,
            "invalid_client",
            "client_id doesn't exist or the client_secret is invalid",
        )),
    }
}

/// RFC 7636 §4.6: a code issued with a challenge needs the verifier that
/// hashes to it, and one issued without takes none (a verifier there
/// means the client believes in a PKCE the consent never had). No
/// description quotes the verifier: it is the code's other half.
fn check_verifier(verifier: Option<&str>, challenge: Option<&str>) -> Result<(), Action> {
    let Some(challenge) = challenge else {
        return match verifier {
            None => Ok(()),
            Some(_) => Err(refuse(
                400,
                "invalid_grant",
                "code_verifier was sent for a code issued without a code_challenge",
            )),
        };
    };
    let Some(verifier) = verifier else {
        return Err(refuse(400, "invalid_request", "code_verifier is required"));
    };
    if !is_verifier_shaped(verifier) {
        return Err(refuse(
            400,
            "invalid_request",
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    if s256_challenge(verifier) != challenge {
        return Err(refuse(
            400,
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        ));
    }
    Ok(())
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier_shaped(verifier: &str) -> bool {
    let unreserved = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(unreserved)
}

/// RFC 7636 §4.2's S256: BASE64URL-NOPAD(SHA256(ASCII(verifier))), the
/// code_challenge for `verifier`.
pub fn s256_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl Ledger {
    /// A token answer whose refresh token is the next of `lineage`,
    /// remembered so that it can be used, once.
    fn tokens(&mut self, lineage: Lineage, sequence: usize) -> Action {
        self.refresh_tokens_issued += 1;
        let refresh_token = format!("rt-consent-{}-{}", self.refresh_tokens_issued, random_hex());
        self.refresh_tokens.insert(refresh_token.clone(), lineage);
        json(
            200,
            &format!(
                r#"{{"access_token":"{}","token_type":"Bearer","refresh_token":"{refresh_token}","expires_in":900}}"#,
                scenarios::access_token(sequence)
            ),
        )
    }
}

// What every part above shares.

/// A request's parameters, from a query or a form body. Each may be sent
/// once at most, and one sent empty counts as not sent (RFC 6749 §3.1,
/// §3.2).
struct Parameters(Vec<(String, String)>);

/// The parameters this server reads. A duplicated one is named in the
/// refusal; any other is not, as its name could be anything, a secret
/// pasted in the wrong place included.
const KNOWN_PARAMETERS: &[&str] = &[
    "response_type",
    "client_id",
    "client_secret",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
];

impl Parameters {
    fn parse(encoded: &[u8]) -> Result<Parameters, String> {
        let mut parameters: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(encoded) {
            if parameters.iter().any(|(seen, _)| *seen == name) {
                return Err(
                    match KNOWN_PARAMETERS.iter().find(|known| **known == name) {
                        Some(known) => format!("the parameter {known} is sent more than once"),
                        None => "a parameter is sent more than once".into(),
                    },
                );
            }
            parameters.push((name.into_owned(), value.into_owned()));
        }
        Ok(Parameters(parameters))
    }

    /// The parameter's value, unless it is absent or empty.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(sent, value)| sent == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("{name} is required"))
    }
}

/// 128 random bits in hex.
fn random_hex() -> String {
    let mut bytes = [0; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An OAuth error (RFC 6749 §5.2). `description` is always this file's
/// own text, so it needs no JSON escaping and quotes nothing the client
/// sent.
fn refuse(status: u16, error: &str, description: &str) -> Action {
    json(
        status,
        &format!(r#"{{"error":"{error}","error_description":"{description}"}}"#),
    )
}

/// A token endpoint's answer, which no cache may keep (RFC 6749 §5.1).
fn json(status: u16, body: &str) -> Action {
    Action::Reply(Reply {
        status,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: body.as_bytes().to_vec(),
        framing: Framing::ContentLength,
    })
}

fn text(status: u16, body: &str) -> Action {
    Action::Reply(Reply {
        status,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: format!("{body}\n").into_bytes(),
        framing: Framing::ContentLength,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_is_rfc_7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn only_absolute_http_urls_are_redirect_uris() {
        for good in [
            "http://127.0.0.1:8080/cb",
            "https://app.example/cb?x=1",
            "HTTPS://app.example",
            "http://[::1]:1/",
        ] {
            assert!(is_absolute_http_url(good), "{good}");
        }
        for bad in [
            "/cb",
            "app.example/cb",
            "ftp://app.example/",
            "http:///cb",
            "https://",
            "https://app.example/cb#part",
            "https://app.example/c b",
            "https://app.example/cb\r\nX-Injected: 1",
            "https://app.example/é",
            "javascript:alert(1)",
        ] {
            assert!(!is_absolute_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn encoded_values_decode_to_themselves_either_way() {
        let value = "a b+c&d=e/é~._-";
        let encoded = encode(value);
        assert!(
            !encoded.contains('+') && !encoded.contains(' '),
            "{encoded}"
        );
        let percent = percent_encoding::percent_decode_str(&encoded).decode_utf8();
        assert_eq!(percent.unwrap(), value);
        let form = format!("v={encoded}");
        let (_, decoded) = form_urlencoded::parse(form.as_bytes()).next().unwrap();
        assert_eq!(decoded, value);
    }

    #[test]
    fn verifiers_have_rfc_7636_shape() {
        assert!(is_verifier_shaped(&"a".repeat(43)));
        assert!(is_verifier_shaped(&"-._~Z9".repeat(22)[..128]));
        assert!(!is_verifier_shaped(&"a".repeat(42)));
        assert!(!is_verifier_shaped(&"a".repeat(129)));
        assert!(!is_verifier_shaped(&format!("{}+", "a".repeat(43))));
    }
}
