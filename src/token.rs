//! The access token (AccessTokenModel) and how a 2xx body becomes one.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, OAuthError};
use crate::sanitize::Redactor;
use crate::secret::Secret;

/// The `token_type` assumed when the server leaves it out.
const DEFAULT_TOKEN_TYPE: &str = "Bearer";
/// Longest OAuth error text kept from a server answer.
pub(crate) const MAX_FIELD_CHARS: usize = 300;

/// A usable access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    access_token: Secret,
    token_type: String,
    refresh_token: Option<Secret>,
    expires_in: Option<u32>,
    expires_at: Option<i64>,
}

impl Token {
    pub fn access_token(&self) -> &Secret {
        &self.access_token
    }

    /// As the server sent it (`Bearer`, or `bearer`).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    pub fn refresh_token(&self) -> Option<&Secret> {
        self.refresh_token.as_ref()
    }

    /// Lifetime in seconds, as sent.
    pub fn expires_in(&self) -> Option<u32> {
        self.expires_in
    }

    /// Unix time of expiry, computed when the answer arrived.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The value for an `Authorization` header: `Bearer <access_token>`.
    pub fn authorization(&self) -> Secret {
        Secret::new(format!("Bearer {}", self.access_token.expose()))
    }
}

/// The fields we read from a 2xx body; everything else is ignored.
#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<Secret>,
    token_type: Option<String>,
    refresh_token: Option<Secret>,
    expires_in: Option<Value>,
    #[serde(flatten)]
    error: OAuthErrorBody,
}

/// The OAuthErrorModel fields, as found in 400/401 bodies (and sometimes,
/// wrongly, in a 2xx one).
#[derive(Deserialize, Default)]
pub(crate) struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
}

impl OAuthErrorBody {
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    pub(crate) fn sanitised(&self, redactor: &Redactor) -> OAuthError {
        let clean = |field: &Option<String>| {
            field
                .as_deref()
                .map(|text| redactor.field(text, MAX_FIELD_CHARS))
        };
        OAuthError {
            code: clean(&self.error),
            description: clean(&self.error_description),
            uri: clean(&self.error_uri),
        }
    }
}

/// Reads the body of a 2xx answer. `status_line` (e.g. "200 OK") starts
/// every error message.
pub(crate) fn parse_token(
    body: &[u8],
    status_line: &str,
    redactor: &Redactor,
) -> Result<Token, Error> {
    let invalid = |what: String| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("{status_line} is not a usable token: {what}"),
        )
    };
    let text = std::str::from_utf8(body).map_err(|e| {
        invalid(format!(
            "the body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let parsed: TokenBody =
        serde_json::from_str(text).map_err(|e| invalid(json_problem(&e, body, redactor)))?;
    if parsed.error.error.is_some() {
        let oauth = parsed.error.sanitised(redactor);
        return Err(invalid(describe_oauth(&oauth)).with_oauth(oauth));
    }
    let access_token = parsed
        .access_token
        .ok_or_else(|| invalid("no access_token".into()))?;
    check_access_token(access_token.expose()).map_err(invalid)?;
    let token_type = check_token_type(parsed.token_type, redactor).map_err(invalid)?;
    let refresh_token = check_refresh_token(parsed.refresh_token).map_err(invalid)?;
    let expires_in = parse_expires_in(parsed.expires_in.as_ref()).map_err(invalid)?;
    Ok(Token {
        access_token,
        token_type,
        refresh_token,
        expires_in,
        expires_at: expires_in.map(|seconds| unix_now() + i64::from(seconds)),
    })
}

/// "invalid_grant: the code has expired", or whichever parts are present.
pub(crate) fn describe_oauth(oauth: &OAuthError) -> String {
    let parts: Vec<&str> = [&oauth.code, &oauth.description]
        .into_iter()
        .filter_map(|part| part.as_deref())
        .collect();
    parts.join(": ")
}

/// What is wrong with a body that did not parse as a token. serde_json's
/// type errors quote the value they met, which may be the token itself, so
/// those are reported by position only; syntax errors quote nothing. A
/// body that is not even trying to be JSON (an HTML page) is quoted, short
/// and sanitised.
fn json_problem(error: &serde_json::Error, body: &[u8], redactor: &Redactor) -> String {
    let first = body.trim_ascii_start().first().copied();
    match first {
        None => "the body is empty".into(),
        Some(b'{') if error.is_data() => format!(
            "a field has the wrong type (line {} column {})",
            error.line(),
            error.column()
        ),
        _ if error.is_data() => "the body is JSON but not an object".into(),
        Some(b'{' | b'[') => format!("malformed JSON: {error}"),
        Some(_) => match redactor.excerpt(body, 80) {
            Some(excerpt) => format!("not JSON: {excerpt}"),
            None => "not JSON".into(),
        },
    }
}

/// The token goes into `Authorization: Bearer <token>`, so it must be
/// visible ASCII with no space (RFC 6750 b64token is narrower still).
fn check_access_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("access_token is empty".into());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("access_token has characters that cannot go in an HTTP header".into());
    }
    Ok(())
}

fn check_token_type(token_type: Option<String>, redactor: &Redactor) -> Result<String, String> {
    let token_type = token_type.unwrap_or_else(|| DEFAULT_TOKEN_TYPE.into());
    if !token_type.eq_ignore_ascii_case(DEFAULT_TOKEN_TYPE) {
        let shown = redactor.field(&token_type, 40);
        return Err(format!("token_type is \"{shown}\", not Bearer"));
    }
    Ok(token_type)
}

fn check_refresh_token(refresh_token: Option<Secret>) -> Result<Option<Secret>, String> {
    match refresh_token {
        Some(token) if token.expose().is_empty() || token.expose().contains(char::is_control) => {
            Err("refresh_token is empty or has control characters".into())
        }
        other => Ok(other),
    }
}

/// A number of any size, or (as one of Criteo's own mocks sends it) a
/// numeric string: zero or less means expired on arrival, a fraction is
/// rounded down, and anything over [`MAX_EXPIRES_IN`] is taken as that.
fn parse_expires_in(value: Option<&Value>) -> Result<Option<u32>, String> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let seconds = seconds
        .filter(|seconds| seconds.is_finite())
        .ok_or("expires_in is not a number of seconds")?;
    // `as` saturates: a negative number is 0, a huge one u32::MAX.
    Ok(Some((seconds.floor() as u32).min(MAX_EXPIRES_IN)))
}

/// The longest lifetime believed: a year.
pub(crate) const MAX_EXPIRES_IN: u32 = 365 * 24 * 3600;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
