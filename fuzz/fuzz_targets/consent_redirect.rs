//! The address a user's browser comes back to, as `criteo_consent_finish`
//! checks it before any request: arbitrary text, where `STATE` stands for
//! the consent's state (so that accepted answers are reachable). Never a
//! panic; a code only for an address that carries the consent's state
//! once and a code once; no message with the state or the verifier.
#![no_main]

use std::sync::OnceLock;

use criteo_oauth::{ClientConfig, Consent};
use libfuzzer_sys::fuzz_target;

fn consent() -> &'static Consent {
    static CONSENT: OnceLock<Consent> = OnceLock::new();
    CONSENT.get_or_init(|| {
        let client = ClientConfig::default().build().expect("the default client");
        Consent::new(&client, "fuzz client", "http://127.0.0.1:8080/cb?tenant=7")
            .expect("a consent")
    })
}

/// The values of `name` in the address's query.
fn values(url: &str, name: &str) -> Vec<String> {
    let url = url.split('#').next().unwrap_or_default();
    let query = url.split_once('?').map_or("", |(_, query)| query);
    form_urlencoded::parse(query.as_bytes())
        .filter(|(seen, _)| seen == name)
        .map(|(_, value)| value.into_owned())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let consent = consent();
    let (state, verifier) = (consent.state().expose(), consent.code_verifier().expose());
    let url = text.replace("STATE", state);
    match consent.code_from(&url) {
        Ok(code) => {
            assert_eq!(values(&url, "state"), [state], "{url}");
            assert_eq!(values(&url, "code"), [code.expose()], "{url}");
            assert!(values(&url, "error").is_empty(), "{url}");
        }
        Err(error) => {
            let message = error.message();
            assert!(
                !message.contains(state) && !message.contains(verifier),
                "{message}"
            );
            assert!(!message.contains(['\n', '\r']), "{message}");
        }
    }
});
