//! What an answer from the token endpoint means: a token, or an error that
//! says why in one line.

use std::time::SystemTime;

use ureq::http::StatusCode;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, OAuthError};
use crate::retry::parse_retry_after;
use crate::sanitize::Redactor;
use crate::token::{MAX_FIELD_CHARS, OAuthErrorBody, Token, describe_oauth, parse_token};

/// The largest body we read. Token answers are well under 10 KiB.
pub(crate) const MAX_BODY_BYTES: u64 = 1 << 20;
/// Longest piece of a non-JSON body quoted in a message.
const EXCERPT_CHARS: usize = 160;

/// The body of an answer, read up to [`MAX_BODY_BYTES`].
pub(crate) enum AnswerBody {
    Complete(Zeroizing<Vec<u8>>),
    /// Not read, and why: "larger than 1048576 bytes", say. May quote a
    /// header, so it is redacted like any server text.
    Unreadable(String),
}

/// An HTTP answer, with the headers that matter to us.
pub(crate) struct Answer<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub location: Option<&'a str>,
    pub body: AnswerBody,
}

impl Answer<'_> {
    /// For the trace: the status line, the body's size, `Retry-After`
    /// (never the body, which holds the token).
    pub(crate) fn describe(&self) -> String {
        let body = match &self.body {
            AnswerBody::Complete(bytes) => format!("{} bytes", bytes.len()),
            AnswerBody::Unreadable(why) => format!("a body {why}"),
        };
        // Only where it means something: a 2xx could use the header to
        // carry what no event may show.
        let retry_after = self
            .retry_after
            .filter(|_| !(200..300).contains(&self.status))
            .map_or(String::new(), |value| format!(", Retry-After: {value}"));
        format!("{}, {body}{retry_after}", status_line(self.status))
    }
}

/// Turns an answer into a token or an error. `redactor` holds the secrets
/// of the request, which no message may repeat.
pub(crate) fn interpret(answer: &Answer, redactor: &Redactor) -> Result<Token, Error> {
    let status_line = status_line(answer.status);
    let outcome = match (&answer.body, (200..300).contains(&answer.status)) {
        (AnswerBody::Complete(body), true) => parse_token(body, &status_line, redactor),
        (AnswerBody::Unreadable(why), true) => Err(Error::new(
            ErrorKind::InvalidResponse,
            format!(
                "{status_line} is not a usable token: the body is {}",
                redactor.field(why, MAX_FIELD_CHARS)
            ),
        )),
        (_, false) => Err(error_answer(answer, &status_line, redactor)),
    };
    outcome.map_err(|error| error.with_http_status(answer.status))
}

/// 400 and 401 are OAuth errors; anything else is an HTTP status error,
/// with `Retry-After` when the server sent one.
fn error_answer(answer: &Answer, status_line: &str, redactor: &Redactor) -> Error {
    let kind = match answer.status {
        400 => ErrorKind::BadRequest,
        401 => ErrorKind::Unauthorized,
        _ => ErrorKind::HttpStatus,
    };
    let (oauth, body_detail) = match &answer.body {
        AnswerBody::Complete(body) => describe_error_body(body, redactor),
        AnswerBody::Unreadable(why) => (
            OAuthError::default(),
            format!("the body is {}", redactor.field(why, MAX_FIELD_CHARS)),
        ),
    };
    let retry_after = answer
        .retry_after
        .and_then(|value| parse_retry_after(value, SystemTime::now()));
    let mut message = status_line.to_owned();
    if let Some(location) = answer
        .location
        .filter(|_| (300..400).contains(&answer.status))
    {
        let location = redactor.field(location, MAX_FIELD_CHARS);
        message.push_str(&format!(": redirect to {location} not followed"));
    }
    message.push_str(&format!(": {body_detail}"));
    if let Some(seconds) = retry_after {
        message.push_str(&format!(" (retry after {seconds} s)"));
    }
    Error::new(kind, message)
        .with_oauth(oauth)
        .with_retry_after(retry_after)
}

/// The OAuth fields of an error body when it is OAuthErrorModel JSON;
/// otherwise a short excerpt of whatever it is.
fn describe_error_body(body: &[u8], redactor: &Redactor) -> (OAuthError, String) {
    let oauth = OAuthErrorBody::parse(body)
        .map(|parsed| parsed.sanitised(redactor))
        .unwrap_or_default();
    let described = describe_oauth(&oauth);
    if !described.is_empty() {
        return (oauth, described);
    }
    let excerpt = redactor
        .excerpt(body, EXCERPT_CHARS)
        .unwrap_or_else(|| "empty body".into());
    (oauth, excerpt)
}

/// "401 Unauthorized", or just "599" for a code with no standard reason.
fn status_line(status: u16) -> String {
    match StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_shows_retry_after_only_on_an_answer_that_is_not_2xx() {
        let answer = |status| Answer {
            status,
            retry_after: Some("7"),
            location: None,
            body: AnswerBody::Complete(Zeroizing::new(b"{}".to_vec())),
        };
        assert_eq!(
            answer(503).describe(),
            "503 Service Unavailable, 2 bytes, Retry-After: 7"
        );
        assert_eq!(answer(200).describe(), "200 OK, 2 bytes");
    }

    fn answer(status: u16, body: &str) -> Answer<'static> {
        Answer {
            status,
            retry_after: None,
            location: None,
            body: AnswerBody::Complete(Zeroizing::new(body.as_bytes().to_vec())),
        }
    }

    fn outcome(answer: &Answer) -> Result<Token, Error> {
        interpret(answer, &Redactor::new(["the-secret"]))
    }

    fn error_of(answer: &Answer) -> Error {
        outcome(answer).unwrap_err()
    }

    #[test]
    fn a_token_with_every_field() {
        let token = outcome(&answer(
            200,
            r#"{"access_token":"abc.def","token_type":"Bearer","refresh_token":"rt","expires_in":900,"scope":"x"}"#,
        ))
        .unwrap();
        assert_eq!(token.access_token().expose(), "abc.def");
        assert_eq!(token.token_type(), "Bearer");
        assert_eq!(token.refresh_token().map(|t| t.expose()), Some("rt"));
        assert_eq!(token.expires_in(), Some(900));
        let expected_at = unix_now_for_test() + 900;
        assert!((expected_at - token.expires_at().unwrap()).abs() <= 2);
        assert_eq!(token.authorization().expose(), "Bearer abc.def");
        let debug = format!("{token:?}");
        assert!(
            !debug.contains("abc.def") && !debug.contains("\"rt\""),
            "{debug}"
        );
    }

    fn unix_now_for_test() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn expires_in_as_string_absent_or_null() {
        let token = outcome(&answer(200, r#"{"access_token":"a","expires_in":"299"}"#)).unwrap();
        assert_eq!(token.expires_in(), Some(299));
        assert_eq!(token.token_type(), "Bearer");
        let token = outcome(&answer(200, r#"{"access_token":"a","refresh_token":null}"#)).unwrap();
        assert_eq!(token.expires_in(), None);
        assert_eq!(token.expires_at(), None);
        assert!(token.refresh_token().is_none());
    }

    #[test]
    fn expires_in_of_any_size_is_read_and_bounded() {
        let cases = [
            ("0", 0),
            ("-1", 0),
            ("-99999999999999999999999", 0),
            ("1.9", 1),
            ("\"299.5\"", 299),
            ("2147483648", crate::token::MAX_EXPIRES_IN),
            ("99999999999999999999999999", crate::token::MAX_EXPIRES_IN),
            ("1e300", crate::token::MAX_EXPIRES_IN),
            ("1e400", crate::token::MAX_EXPIRES_IN),
            ("-1e400", 0),
            ("\"1e400\"", crate::token::MAX_EXPIRES_IN),
            ("\" -1e400 \"", 0),
            ("1E3", 1000),
            ("31536000", 31_536_000),
        ];
        for (value, seconds) in cases {
            let body = format!(r#"{{"access_token":"a","expires_in":{value}}}"#);
            let token = outcome(&answer(200, &body)).unwrap();
            assert_eq!(token.expires_in(), Some(seconds), "{value}");
        }
    }

    #[test]
    fn unusable_expires_in_is_refused() {
        for value in [
            "\"soon\"", "{}", "[1]", "true", "\"inf\"", "\"NaN\"", "\"\"", "\"1e\"", "\"-\"",
        ] {
            let body = format!(r#"{{"access_token":"a","expires_in":{value}}}"#);
            let error = error_of(&answer(200, &body));
            assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{value}");
            assert!(
                error.message().contains("expires_in"),
                "{}",
                error.message()
            );
        }
    }

    #[test]
    fn what_other_fields_hold_is_never_read() {
        let token = outcome(&answer(
            200,
            r#"{"access_token":"a","scope":1e400,"x":[-1e999,{"y":1e400}]}"#,
        ))
        .unwrap();
        assert_eq!(token.access_token().expose(), "a");
    }

    #[test]
    fn a_field_sent_twice_is_named() {
        let error = error_of(&answer(200, r#"{"access_token":"a","access_token":"b"}"#));
        assert_eq!(
            error.message(),
            "200 OK is not a usable token: the field access_token appears twice (line 1 column 34)"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let token = outcome(&answer(200, "\u{feff}{\"access_token\":\"a\"}")).unwrap();
        assert_eq!(token.access_token().expose(), "a");
        let error = error_of(&answer(401, "\u{feff}{\"error\":\"invalid_client\"}"));
        assert_eq!(error.oauth().code.as_deref(), Some("invalid_client"));
    }

    #[test]
    fn empty_refresh_token_and_empty_error_count_as_absent() {
        let token = outcome(&answer(
            200,
            r#"{"access_token":"a","refresh_token":"","error":""}"#,
        ))
        .unwrap();
        assert!(token.refresh_token().is_none());
        let error = error_of(&answer(400, r#"{"error":"","error_description":"bad"}"#));
        assert_eq!(error.oauth().code, None);
        assert_eq!(error.message(), "400 Bad Request: bad");
        let error = error_of(&answer(
            200,
            r#"{"access_token":"a","refresh_token":"r\n"}"#,
        ));
        assert_eq!(
            error.message(),
            "200 OK is not a usable token: refresh_token has control characters"
        );
    }

    #[test]
    fn lowercase_bearer_is_accepted_and_other_types_refused() {
        let token = outcome(&answer(
            200,
            r#"{"access_token":"a","token_type":"BEARER"}"#,
        ))
        .unwrap();
        assert_eq!(token.token_type(), "BEARER");
        for (token_type, shown) in [
            ("Bearer ", r#""Bearer ""#),
            (" bearer", r#"" bearer""#),
            ("Bearer\\n", r#""Bearer\n""#),
        ] {
            let body = format!(r#"{{"access_token":"a","token_type":"{token_type}"}}"#);
            assert_eq!(
                error_of(&answer(200, &body)).message(),
                format!("200 OK is not a usable token: token_type is {shown}, not Bearer")
            );
        }
        let token = outcome(&answer(
            200,
            r#"{"access_token":"a","token_type":"bearer"}"#,
        ))
        .unwrap();
        assert_eq!(token.token_type(), "bearer");
        let error = error_of(&answer(200, r#"{"access_token":"a","token_type":"mac"}"#));
        assert_eq!(
            error.message(),
            "200 OK is not a usable token: token_type is \"mac\", not Bearer"
        );
    }

    #[test]
    fn unusable_2xx_bodies() {
        let cases = [
            ("", "200 OK is not a usable token: the body is empty"),
            (
                "<html><p>Welcome</p></html>",
                "200 OK is not a usable token: not JSON: Welcome",
            ),
            ("{}", "200 OK is not a usable token: no access_token"),
            (
                r#"{"access_token":""}"#,
                "200 OK is not a usable token: access_token is empty",
            ),
            (
                r#"{"access_token":"a b"}"#,
                "200 OK is not a usable token: access_token has characters that cannot go in an HTTP header",
            ),
            (
                r#"{"access_token":"the-token","token_type":5}"#,
                "200 OK is not a usable token: a field has the wrong type (line 1 column 42)",
            ),
            (
                r#"{"access_token":"the-tok"#,
                "200 OK is not a usable token: malformed JSON: EOF while parsing a string at line 1 column 24",
            ),
        ];
        for (body, message) in cases {
            let error = error_of(&answer(200, body));
            assert_eq!(error.kind(), ErrorKind::InvalidResponse);
            assert_eq!(error.message(), message);
        }
    }

    #[test]
    fn deep_nesting_is_read_without_exhausting_the_stack() {
        // A field we do not read is skipped without recursion.
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        let body = format!(r#"{{"access_token":"a","x":{deep}}}"#);
        assert!(outcome(&answer(200, &body)).is_ok());
        let body = format!(r#"{{"access_token":"a","x":{}"#, "[".repeat(1_000_000));
        let error = error_of(&answer(200, &body));
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
        assert!(
            error.message().contains("malformed JSON: EOF"),
            "{}",
            error.message()
        );
        let body = format!(r#"{{"access_token":"a","expires_in":{deep}}}"#);
        assert!(
            error_of(&answer(200, &body))
                .message()
                .ends_with("expires_in is not a number of seconds")
        );
        let error = error_of(&answer(200, &"[".repeat(1_000_000)));
        assert_eq!(
            error.message(),
            "200 OK is not a usable token: the body is JSON but not an object"
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut bad = answer(200, "");
        bad.body = AnswerBody::Complete(Zeroizing::new(b"{\"access_token\":\"\xff\"}".to_vec()));
        assert_eq!(
            error_of(&bad).message(),
            "200 OK is not a usable token: the body is not valid UTF-8 (at byte 17)"
        );
    }

    #[test]
    fn an_error_field_in_a_2xx_is_an_error() {
        let error = error_of(&answer(
            200,
            r#"{"error":"invalid_grant","error_description":"expired"}"#,
        ));
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
        assert_eq!(error.oauth().code.as_deref(), Some("invalid_grant"));
        assert_eq!(
            error.message(),
            "200 OK is not a usable token: invalid_grant: expired"
        );
    }

    #[test]
    fn oauth_401_reads_like_the_contract() {
        let error = error_of(&answer(
            401,
            r#"{"error":"invalid_client","error_description":"client_id doesn't exist or the client_secret is invalid","error_uri":"https://x/y"}"#,
        ));
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(error.http_status(), Some(401));
        assert_eq!(
            error.message(),
            "401 Unauthorized: invalid_client: client_id doesn't exist or the client_secret is invalid"
        );
        assert_eq!(error.oauth().uri.as_deref(), Some("https://x/y"));
    }

    #[test]
    fn non_json_and_empty_error_bodies() {
        let error = error_of(&answer(400, "<h1>Bad\r\nrequest</h1>"));
        assert_eq!(error.kind(), ErrorKind::BadRequest);
        assert_eq!(error.message(), "400 Bad Request: Bad request");
        assert_eq!(error.oauth(), &OAuthError::default());
        assert_eq!(
            error_of(&answer(401, "")).message(),
            "401 Unauthorized: empty body"
        );
    }

    #[test]
    fn other_statuses_carry_retry_after_and_redirect_target() {
        let mut limited = answer(429, "slow down");
        limited.retry_after = Some(" 7 ");
        let error = error_of(&limited);
        assert_eq!(error.kind(), ErrorKind::HttpStatus);
        assert_eq!(error.retry_after_secs(), Some(7));
        assert_eq!(
            error.message(),
            "429 Too Many Requests: slow down (retry after 7 s)"
        );

        let mut moved = answer(302, "");
        moved.location = Some("https://elsewhere/oauth2/token");
        assert_eq!(
            error_of(&moved).message(),
            "302 Found: redirect to https://elsewhere/oauth2/token not followed: empty body"
        );
        assert_eq!(error_of(&answer(599, "x")).message(), "599: x");
    }

    #[test]
    fn echoed_secrets_are_redacted() {
        let error = error_of(&answer(
            401,
            r#"{"error":"invalid_client","error_description":"bad secret the-secret"}"#,
        ));
        assert_eq!(
            error.message(),
            "401 Unauthorized: invalid_client: bad secret [redacted]"
        );
        let error = error_of(&answer(500, "client_secret=the-secret"));
        assert_eq!(
            error.message(),
            "500 Internal Server Error: client_secret=[redacted]"
        );
    }

    #[test]
    fn a_secret_in_an_unusable_token_type_is_redacted() {
        // Found by the `answer` fuzz target.
        let error = error_of(&answer(
            200,
            r#"{"access_token":"a","token_type":"bethe-secret"}"#,
        ));
        assert_eq!(
            error.message(),
            "200 OK is not a usable token: token_type is \"be[redacted]\", not Bearer"
        );
    }

    #[test]
    fn too_large_bodies() {
        let mut huge = answer(200, "");
        huge.body = AnswerBody::Unreadable(format!("larger than {MAX_BODY_BYTES} bytes"));
        assert_eq!(
            error_of(&huge).message(),
            "200 OK is not a usable token: the body is larger than 1048576 bytes"
        );
        huge.status = 503;
        assert_eq!(
            error_of(&huge).message(),
            "503 Service Unavailable: the body is larger than 1048576 bytes"
        );
    }
}
