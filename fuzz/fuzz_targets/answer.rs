//! The response handling: status, headers and body of an answer, as text:
//! "<status>\n<Retry-After or empty>\n<Location or empty>\n<body>".
//! It must never panic, and whatever comes out must be clean: a usable
//! token, or a one-line message without the request's secret in any of
//! the encodings the redactor promises to catch.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use libfuzzer_sys::fuzz_target;

/// Characters that every encoding treats differently: space, `~`, `*`,
/// `/`, `+`, `&`, `<`, a quote and a non-ASCII letter.
const SECRET: &str = "fuzz secret~*/+&<\"é-0123";

/// The secret as a server may echo it, worked out here independently of
/// the library: raw, form and RFC 3986 percent-encoding (both cases of
/// hex), JSON `\u` escapes, HTML character references, base64.
fn forbidden() -> &'static [String] {
    static FORMS: OnceLock<Vec<String>> = OnceLock::new();
    FORMS.get_or_init(|| {
        let each = |escape: &dyn Fn(char) -> String| SECRET.chars().map(escape).collect::<String>();
        let percent = |upper: bool| {
            SECRET
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        char::from(b).to_string()
                    }
                    _ if upper => format!("%{b:02X}"),
                    _ => format!("%{b:02x}"),
                })
                .collect::<String>()
        };
        vec![
            SECRET.to_owned(),
            form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            percent(true),
            percent(false),
            each(&|c| {
                c.encode_utf16(&mut [0; 2])
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }),
            each(&|c| format!("&#{};", c as u32)),
            each(&|c| format!("&#x{:X};", c as u32)),
            STANDARD.encode(SECRET),
            URL_SAFE.encode(SECRET),
        ]
    })
}

fn assert_clean(text: &str) {
    for form in forbidden() {
        assert!(!text.contains(form.as_str()), "{form:?} in {text:?}");
    }
}

fn header(part: Option<&[u8]>) -> Option<&str> {
    part.and_then(|p| std::str::from_utf8(p).ok())
        .filter(|p| !p.is_empty())
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let status = parts
        .next()
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.trim().parse::<u16>().ok());
    let Some(status) = status.filter(|s| (100..=999).contains(s)) else {
        return;
    };
    let retry_after = header(parts.next());
    let location = header(parts.next());
    let body = parts.next().unwrap_or_default();
    match criteo_oauth::fuzzing::interpret_answer(status, retry_after, location, body, &[SECRET]) {
        Ok(token) => {
            let access_token = token.access_token().expose();
            assert!(!access_token.is_empty() && access_token.bytes().all(|b| b.is_ascii_graphic()));
            assert!(!token.token_type().contains(char::is_control));
        }
        Err(error) => {
            let message = error.message();
            assert!(!message.contains(char::is_control), "{message:?}");
            assert_clean(message);
            assert!(message.chars().count() < 2_000, "an unbounded message");
            let oauth = error.oauth();
            for field in [&oauth.code, &oauth.description, &oauth.uri]
                .into_iter()
                .flatten()
            {
                assert!(!field.contains(char::is_control));
                assert_clean(field);
            }
        }
    }
});
