//! The response handling: status, headers and body of an answer, as text:
//! "<status>\n<Retry-After or empty>\n<Location or empty>\n<body>".
//! It must never panic, and whatever comes out must be clean: a usable
//! token, or a one-line message without the request's secret.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-client-secret-0123";

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
            assert!(!message.contains(SECRET), "{message:?}");
            assert!(message.chars().count() < 2_000, "an unbounded message");
            let oauth = error.oauth();
            for field in [&oauth.code, &oauth.description, &oauth.uri]
                .into_iter()
                .flatten()
            {
                assert!(!field.contains(char::is_control) && !field.contains(SECRET));
            }
        }
    }
});
