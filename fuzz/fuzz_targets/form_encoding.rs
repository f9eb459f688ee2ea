//! The form encoder: for any fields the request accepts, decoding the body
//! gives back exactly those fields, in the documented order.
//! Input: the six fields separated by NUL bytes; an empty optional field
//! means "not given".
#![no_main]

use criteo_oauth::{TokenRequest, TokenRequestFields};
use libfuzzer_sys::fuzz_target;

fn optional(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

const NAMES: [&str; 6] = [
    "grant_type",
    "client_id",
    "client_secret",
    "redirect_uri",
    "code",
    "refresh_token",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or_default();
    let (grant_type, client_id, client_secret) = (next(), next(), next());
    let (redirect_uri, code, refresh_token) =
        (optional(next()), optional(next()), optional(next()));
    let fields = TokenRequestFields {
        grant_type,
        client_id,
        client_secret,
        redirect_uri,
        code,
        refresh_token,
    };
    let Ok(request) = TokenRequest::new(&fields) else {
        return;
    };
    let body = request.form_body();
    assert!(
        body.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*-._+%=&".contains(&b)),
        "not WHATWG form encoding: {:?}",
        body.as_str()
    );
    let decoded: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let values = [
        Some(grant_type),
        Some(client_id),
        Some(client_secret),
        redirect_uri,
        code,
        refresh_token,
    ];
    let expected: Vec<(String, String)> = NAMES
        .iter()
        .zip(values)
        .filter_map(|(name, value)| Some((name.to_string(), value?.to_string())))
        .collect();
    assert_eq!(decoded, expected);
});
