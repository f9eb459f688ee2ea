//! The consent step of the authorization-code flow with PKCE (RFC 7636):
//! the link that sends a user to Criteo's consent page, and the checks on
//! the URL the user's browser comes back to, before its code is exchanged.
//!
//! A consent holds two secrets, drawn from the system's random source: the
//! `state`, which ties the answer to this consent (RFC 6749 §10.12), and
//! the PKCE verifier, whose SHA-256 (the challenge) goes in the link, so
//! that only who holds the verifier can exchange the code.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::authority::parse_host_port;
use crate::client::Client;
use crate::error::{Error, ErrorKind, OAuthError};
use crate::request::{PkceExchangeFields, TokenRequest};
use crate::sanitize::Redactor;
use crate::secret::Secret;
use crate::token::{MAX_FIELD_CHARS, Token, describe_oauth};

/// 256 bits each for the state and the verifier: 43 characters of
/// base64url, RFC 7636's recommended verifier.
const RANDOM_BYTES: usize = 32;

/// RFC 3986's unreserved characters stay; everything else is
/// percent-encoded, so that a form decoder and a URL decoder read the
/// same values (a space is `%20`, never `+`).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One consent: its link, and the secrets its answer is checked with.
pub struct Consent {
    client_id: String,
    redirect_uri: String,
    state: Secret,
    code_verifier: Secret,
    url: String,
    /// Whether its code was sent: a code is single-use.
    finished: AtomicBool,
}

impl Consent {
    /// A consent for `client_id`, whose answer goes to `redirect_uri`, on
    /// `client`'s consent page.
    pub fn new(client: &Client, client_id: &str, redirect_uri: &str) -> Result<Self, Error> {
        check_client_id(client_id)?;
        check_redirect_uri(redirect_uri)?;
        let state = random_text()?;
        let code_verifier = random_text()?;
        let challenge = URL_SAFE_NO_PAD.encode(digest::digest(
            &digest::SHA256,
            code_verifier.expose().as_bytes(),
        ));
        let parameters = [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("state", state.expose()),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let query: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, ENCODED)))
            .collect();
        Ok(Consent {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            url: format!("{}?{}", client.consent_url(), query.join("&")),
            state,
            code_verifier,
            finished: AtomicBool::new(false),
        })
    }

    /// Where to send the user.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn state(&self) -> &Secret {
        &self.state
    }

    pub fn code_verifier(&self) -> &Secret {
        &self.code_verifier
    }

    /// Checks the URL the user's browser came back to, then exchanges its
    /// code, with the verifier (and `client_secret`, for a confidential
    /// client). Once a code was sent, whatever the answer, the consent is
    /// finished: a later call is refused without a request.
    pub fn finish(
        &self,
        client: &Client,
        client_secret: Option<&str>,
        redirect_url: &str,
    ) -> Result<Token, Error> {
        let code = self.code_from(redirect_url)?;
        let request = TokenRequest::pkce_exchange(&PkceExchangeFields {
            client_id: &self.client_id,
            client_secret,
            redirect_uri: &self.redirect_uri,
            code: code.expose(),
            code_verifier: self.code_verifier.expose(),
        })?;
        if self.finished.swap(true, Ordering::SeqCst) {
            return Err(Error::invalid_argument(
                "this consent was finished already (its code is single-use): make a new one; \
                 nothing was sent",
            ));
        }
        client.get_token(&request)
    }

    /// The code of `redirect_url`, once it is shown to answer this
    /// consent: the consent's redirect URI, each parameter once, this
    /// consent's state, no error.
    pub fn code_from(&self, redirect_url: &str) -> Result<Secret, Error> {
        let refused =
            |why: &str| Error::invalid_argument(format!("redirect_url {why}; nothing was sent"));
        if redirect_url.contains(char::is_control) {
            return Err(refused("contains a control character"));
        }
        let url = redirect_url.split('#').next().unwrap_or_default();
        let Some((base, query)) = url.split_once('?') else {
            return Err(refused("has no query, so no code"));
        };
        let redactor = self.redactor(query);
        let (expected_base, own_query) = split_query(&self.redirect_uri);
        if endpoint_of(base) != endpoint_of(expected_base) {
            return Err(refused(&format!(
                "goes to {}, not to the consent's redirect_uri {}",
                redactor.field(base, MAX_FIELD_CHARS),
                self.redirect_uri
            )));
        }
        let parameters = Parameters::parse(query).map_err(|name| {
            refused(&format!(
                "holds {} more than once",
                redactor.field(&name, MAX_FIELD_CHARS)
            ))
        })?;
        for (name, value) in form_urlencoded::parse(own_query.as_bytes()) {
            if parameters.get(&name) != Some(&*value) {
                return Err(refused(&format!(
                    "lacks the redirect_uri's own parameter {name}={value}"
                )));
            }
        }
        match parameters.get("state") {
            None => return Err(refused("has no state")),
            Some(state) if !same_secret(state, self.state.expose()) => {
                return Err(refused(
                    "carries another state than this consent's: it answers another consent, \
                     or was forged",
                ));
            }
            Some(_) => {}
        }
        if let Some(code) = parameters.get("error") {
            return Err(error_answer(code, &parameters, &redactor));
        }
        match parameters.get("code") {
            Some(code) if !code.is_empty() => Ok(Secret::new(code)),
            _ => Err(refused("has no code")),
        }
    }

    /// Keeps the consent's secrets, and every code `query` holds, out of
    /// what is quoted from a redirect URL.
    fn redactor(&self, query: &str) -> Redactor {
        let codes: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "code")
            .map(|(_, code)| code.into_owned())
            .collect();
        let secrets = [self.state.expose(), self.code_verifier.expose()];
        Redactor::new(secrets.into_iter().chain(codes.iter().map(String::as_str)))
    }
}

/// An `error` answer (RFC 6749 §4.1.2.1): the user refused, or Criteo did.
/// Its fields are server text, cleaned as such.
fn error_answer(code: &str, parameters: &Parameters, redactor: &Redactor) -> Error {
    let field = |name| {
        parameters
            .get(name)
            .map(|text| redactor.field(text, MAX_FIELD_CHARS))
    };
    let oauth = OAuthError {
        code: Some(redactor.field(code, MAX_FIELD_CHARS)),
        description: field("error_description"),
        uri: field("error_uri"),
    };
    let message = format!(
        "the consent was refused: {}; nothing was sent",
        describe_oauth(&oauth)
    );
    Error::new(ErrorKind::InvalidArgument, message).with_oauth(oauth)
}

/// A redirect URL's query, each parameter at most once.
/// Its values (the code, the state) are wiped when dropped.
struct Parameters(Vec<(String, Zeroizing<String>)>);

impl Parameters {
    /// Refuses, with its name, a parameter that comes twice: which of two
    /// codes or states would be the real one?
    fn parse(query: &str) -> Result<Self, String> {
        let mut parameters: Vec<(String, Zeroizing<String>)> = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if parameters.iter().any(|(seen, _)| *seen == name) {
                return Err(name.into_owned());
            }
            parameters.push((name.into_owned(), Zeroizing::new(value.into_owned())));
        }
        Ok(Parameters(parameters))
    }

    fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.0.iter().find(|(seen, _)| seen == name)?;
        Some(value)
    }
}

/// A URL's part before its query, and its query (empty without one).
fn split_query(url: &str) -> (&str, &str) {
    url.split_once('?').unwrap_or((url, ""))
}

/// Scheme and authority compared without case, an empty path as `/`.
fn endpoint_of(base: &str) -> String {
    let Some((scheme, rest)) = base.split_once(':') else {
        return base.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let Some(rest) = rest.strip_prefix("//") else {
        return format!("{scheme}:{rest}");
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    format!("{scheme}://{}{path}", authority.to_ascii_lowercase())
}

/// Equal, in a time that depends on the lengths alone.
fn same_secret(given: &str, kept: &str) -> bool {
    let (given, kept) = (given.as_bytes(), kept.as_bytes());
    let differences = given
        .iter()
        .zip(kept)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(differences) == 0 && given.len() == kept.len()
}

/// 256 random bits of the system's source, as base64url.
fn random_text() -> Result<Secret, Error> {
    let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
    SystemRandom::new().fill(&mut *bytes).map_err(|_| {
        Error::new(
            ErrorKind::Internal,
            "the system's random source (getrandom) failed",
        )
    })?;
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(*bytes)))
}

fn check_client_id(client_id: &str) -> Result<(), Error> {
    if client_id.is_empty() {
        return Err(Error::invalid_argument("client_id must not be empty"));
    }
    if let Some(position) = client_id.find(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "client_id contains a control character (at byte {position})"
        )));
    }
    Ok(())
}

/// Where a code may be sent (RFC 8252 §7): an `https://` URL, an
/// `http://` URL to a loopback host, or an app's own scheme in
/// reverse-domain form (`com.example.app:/callback`); no fragment (RFC
/// 6749 §3.1.2).
fn check_redirect_uri(uri: &str) -> Result<(), Error> {
    let invalid = |why: &str| Error::invalid_argument(format!("redirect_uri {why}"));
    if uri.contains(|c: char| c.is_control() || c == ' ') {
        return Err(invalid("contains a space or control character"));
    }
    if uri.contains('#') {
        return Err(invalid("must not have a fragment"));
    }
    let (scheme, rest) = uri.split_once(':').unwrap_or(("", ""));
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest
        .strip_prefix("//")
        .map(|rest| &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]);
    match (scheme.as_str(), authority) {
        ("https", Some(authority)) if !authority.is_empty() => {
            parse_host_port(authority, "redirect_uri").map(drop)
        }
        ("http", Some(authority)) if !authority.is_empty() => {
            match parse_host_port(authority, "redirect_uri")?.is_loopback() {
                true => Ok(()),
                false => Err(invalid(
                    "uses http:// for a host that is not loopback: the code would cross the \
                     network in clear; use https://",
                )),
            }
        }
        (scheme, _) if is_private_use_scheme(scheme) && !rest.is_empty() => Ok(()),
        _ => Err(invalid(
            "must be https://, http:// to a loopback host, or an app's own scheme in \
             reverse-domain form, such as com.example.app:/callback",
        )),
    }
}

/// An app's own scheme (RFC 8252 §7.1): a reverse domain name, so never
/// one of the web's (`javascript`, `data`, `file`).
fn is_private_use_scheme(scheme: &str) -> bool {
    scheme.contains('.')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientConfig;

    fn client() -> Client {
        let mut config = ClientConfig::default();
        config
            .set_consent_url("http://127.0.0.1:9/consent")
            .unwrap();
        config.build().unwrap()
    }

    fn consent(redirect_uri: &str) -> Consent {
        Consent::new(&client(), "my app", redirect_uri).unwrap()
    }

    fn answer(consent: &Consent, query: &str) -> String {
        format!(
            "http://127.0.0.1:8080/cb?{query}&state={}",
            consent.state().expose()
        )
    }

    #[test]
    fn the_link_carries_every_field_percent_encoded_and_the_s256_challenge() {
        let consent = consent("http://127.0.0.1:8080/cb?x=a&b=c+d");
        let (base, query) = consent.url().split_once('?').unwrap();
        assert_eq!(base, "http://127.0.0.1:9/consent");
        assert!(!query.contains('+') && !query.contains(' '), "{query}");
        let fields: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method"
            ]
        );
        assert_eq!(fields[1].1, "my app");
        assert_eq!(fields[2].1, "http://127.0.0.1:8080/cb?x=a&b=c+d");
        assert_eq!(fields[3].1, consent.state().expose());
        let verifier = consent.code_verifier().expose();
        assert_eq!(verifier.len(), 43);
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        assert_eq!(fields[4].1, challenge);
        assert_eq!(fields[5].1, "S256");
    }

    #[test]
    fn each_consent_has_its_own_secrets() {
        let (one, two) = (
            consent("com.example.app:/cb"),
            consent("com.example.app:/cb"),
        );
        assert_ne!(one.state().expose(), two.state().expose());
        assert_ne!(one.code_verifier().expose(), two.code_verifier().expose());
    }

    #[test]
    fn the_code_of_an_answer_to_this_consent() {
        let consent = consent("http://127.0.0.1:8080/cb");
        let code = consent.code_from(&answer(&consent, "code=a%2Bb")).unwrap();
        assert_eq!(code.expose(), "a+b");
        let upper = answer(&consent, "code=c").replace("http://127.0.0.1", "HTTP://127.0.0.1");
        assert_eq!(consent.code_from(&upper).unwrap().expose(), "c");
    }

    #[test]
    fn answers_that_are_not_this_consents_are_refused_without_their_secrets() {
        let consent = consent("http://127.0.0.1:8080/cb");
        let state = consent.state().expose().to_owned();
        let refused = |url: &str| consent.code_from(url).unwrap_err();
        let other_state = refused("http://127.0.0.1:8080/cb?code=c0de&state=forged");
        assert!(
            other_state.message().contains("another state"),
            "{}",
            other_state.message()
        );
        let no_state = refused("http://127.0.0.1:8080/cb?code=c0de");
        assert!(no_state.message().contains("has no state"));
        let twice = refused(&answer(&consent, "code=c0de&code=other"));
        assert!(twice.message().contains("holds code more than once"));
        let elsewhere = refused(&format!("http://evil.example/cb?code=c0de&state={state}"));
        assert!(
            elsewhere
                .message()
                .contains("goes to http://evil.example/cb")
        );
        let no_code = refused(&answer(&consent, "x=1"));
        assert!(no_code.message().contains("has no code"));
        for error in [other_state, no_state, twice, elsewhere, no_code] {
            assert_eq!(error.kind(), ErrorKind::InvalidArgument);
            assert!(!error.message().contains("c0de") && !error.message().contains(&state));
        }
    }

    #[test]
    fn an_error_answer_names_the_error_and_its_description_cleaned() {
        let consent = consent("http://127.0.0.1:8080/cb");
        let state = consent.state().expose().to_owned();
        let url = answer(
            &consent,
            &format!("error=access_denied&error_description=no%0Away+{state}"),
        );
        let error = consent.code_from(&url).unwrap_err();
        assert_eq!(error.oauth().code.as_deref(), Some("access_denied"));
        assert!(
            error
                .message()
                .starts_with("the consent was refused: access_denied: no way"),
            "{}",
            error.message()
        );
        assert!(!error.message().contains(&state) && !error.message().contains('\n'));
    }

    #[test]
    fn no_message_quotes_the_code_wherever_it_is_put() {
        let consent = consent("http://127.0.0.1:8080/cb");
        let state = consent.state().expose().to_owned();
        let code = "c0de-7f3a9b";
        for url in [
            format!(
                "http://127.0.0.1:8080/cb?code={code}&state={state}&error=server_error\
                 &error_description=code+{code}+was+not+delivered"
            ),
            format!("http://127.0.0.1:8080/{code}?code={code}&state={state}"),
            format!("http://127.0.0.1:8080/cb?{code}=1&{code}=2&code={code}&state={state}"),
        ] {
            let message = consent.code_from(&url).unwrap_err().message().to_owned();
            assert!(
                !message.contains(code) && !message.contains(&state),
                "{message}"
            );
        }
    }

    #[test]
    fn an_apps_own_scheme_is_compared_without_case() {
        let consent = consent("com.example.app:/cb");
        let state = consent.state().expose().to_owned();
        let url = format!("COM.EXAMPLE.APP:/cb?code=c&state={state}");
        assert_eq!(consent.code_from(&url).unwrap().expose(), "c");
    }

    #[test]
    fn the_redirect_uris_own_parameters_must_come_back() {
        let consent = consent("http://127.0.0.1:8080/cb?tenant=7");
        let state = consent.state().expose().to_owned();
        let with = format!("http://127.0.0.1:8080/cb?tenant=7&code=c&state={state}");
        assert_eq!(consent.code_from(&with).unwrap().expose(), "c");
        let without = format!("http://127.0.0.1:8080/cb?code=c&state={state}");
        assert!(consent.code_from(&without).is_err());
    }

    #[test]
    fn a_redirect_uri_is_https_loopback_http_or_an_apps_own_scheme() {
        for bad in [
            "",
            "/cb",
            "cb",
            "http",
            "http:",
            "http://x/cb#f",
            "1app:/cb",
            "a b:/c",
            "http://evil.example/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "https:///cb",
            "com.example.app:",
            "https://\"><x/",
        ] {
            assert!(Consent::new(&client(), "id", bad).is_err(), "{bad}");
        }
        for good in [
            "http://127.0.0.1:1/",
            "http://[::1]:8080/cb",
            "http://localhost:8080/cb",
            "com.example.app:/oauth2redirect",
            "https://app/cb?x=1",
            "HTTPS://app/cb",
        ] {
            assert!(Consent::new(&client(), "id", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(
            !same_secret("abc", "abd") && !same_secret("ab", "abc") && !same_secret("abc", "ab")
        );
    }
}
