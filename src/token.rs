//! The access token (AccessTokenModel) and how a 2xx body becomes one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::value::RawValue;

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

    /// How long ago it arrived, as far as its expiry tells at `now` on the
    /// wall clock: from none to its whole lifetime.
    pub fn age(&self, now: SystemTime) -> Duration {
        let (Some(lifetime), Some(expires_at)) = (self.expires_in, self.expires_at) else {
            return Duration::ZERO;
        };
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let left = expires_at.saturating_sub(i64::try_from(now).unwrap_or(i64::MAX));
        let age = i64::from(lifetime)
            .saturating_sub(left)
            .clamp(0, i64::from(lifetime));
        Duration::from_secs(age.unsigned_abs())
    }

    /// A token of fields that were checked when it arrived (kept in
    /// another form meanwhile).
    pub(crate) fn from_checked_parts(
        access_token: Secret,
        token_type: String,
        refresh_token: Option<Secret>,
        expires_in: Option<u32>,
        expires_at: Option<i64>,
    ) -> Token {
        Token {
            access_token,
            token_type,
            refresh_token,
            expires_in,
            expires_at,
        }
    }

    /// The value for an `Authorization` header: `Bearer <access_token>`.
    pub fn authorization(&self) -> Secret {
        Secret::new(format!("Bearer {}", self.access_token.expose()))
    }
}

/// The fields we read from a 2xx body; everything else is skipped without
/// being read (so a number of any size there is no error), and a field
/// that appears twice is refused.
#[derive(Deserialize)]
struct TokenBody<'a> {
    access_token: Option<Secret>,
    token_type: Option<String>,
    refresh_token: Option<Secret>,
    /// Read by [`parse_expires_in`], from its JSON text: serde_json cannot
    /// hold a number such as `1e400` as a value.
    #[serde(borrow)]
    expires_in: Option<&'a RawValue>,
    error: Option<String>,
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
        serde_json::from_slice(without_bom(body)).ok()
    }

    /// The fields as one clean line each; an empty field counts as absent.
    pub(crate) fn sanitised(&self, redactor: &Redactor) -> OAuthError {
        let clean = |field: &Option<String>| {
            field
                .as_deref()
                .filter(|text| !text.trim().is_empty())
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
    let body = without_bom(body);
    let text = std::str::from_utf8(body).map_err(|e| {
        invalid(format!(
            "the body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let parsed: TokenBody =
        serde_json::from_str(text).map_err(|e| invalid(json_problem(&e, body, redactor)))?;
    if parsed
        .error
        .as_deref()
        .is_some_and(|code| !code.trim().is_empty())
    {
        // Read again for the description and URI, which only matter here.
        let oauth = OAuthErrorBody::parse(body)
            .unwrap_or_default()
            .sanitised(redactor);
        return Err(invalid(describe_oauth(&oauth)).with_oauth(oauth));
    }
    let access_token = parsed
        .access_token
        .ok_or_else(|| invalid("no access_token".into()))?;
    check_access_token(access_token.expose()).map_err(invalid)?;
    let token_type = check_token_type(parsed.token_type, redactor).map_err(invalid)?;
    let refresh_token = check_refresh_token(parsed.refresh_token).map_err(invalid)?;
    let expires_in = parse_expires_in(parsed.expires_in).map_err(invalid)?;
    Ok(Token {
        access_token,
        token_type,
        refresh_token,
        expires_in,
        expires_at: expires_in.map(|seconds| unix_now() + i64::from(seconds)),
    })
}

/// A token read back from the store that processes share, checked as an
/// answer would be: a file is no more trusted than a server.
pub(crate) fn restored_token(
    access_token: Secret,
    token_type: String,
    refresh_token: Option<Secret>,
    expires_in: Option<u32>,
    expires_at: Option<i64>,
) -> Option<Token> {
    check_access_token(access_token.expose()).ok()?;
    let token_type = check_token_type(Some(token_type), &Redactor::new([])).ok()?;
    let refresh_token = check_refresh_token(refresh_token).ok()?;
    Some(Token {
        access_token,
        token_type,
        refresh_token,
        expires_in: expires_in.map(|seconds| seconds.min(MAX_EXPIRES_IN)),
        expires_at,
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
    // serde names the field (one of ours, never the server's text).
    let duplicate = error.to_string();
    let duplicate = duplicate
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next());
    match first {
        None => "the body is empty".into(),
        Some(b'{') if let Some(field) = duplicate => format!(
            "the field {field} appears twice (line {} column {})",
            error.line(),
            error.column()
        ),
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

/// `Bearer` in any letter case (RFC 6749 §5.1: the type is case
/// insensitive), and nothing else: not even white space around it.
fn check_token_type(token_type: Option<String>, redactor: &Redactor) -> Result<String, String> {
    let token_type = token_type.unwrap_or_else(|| DEFAULT_TOKEN_TYPE.into());
    if !token_type.eq_ignore_ascii_case(DEFAULT_TOKEN_TYPE) {
        // Quoted with its spaces and control characters escaped, so the
        // message shows exactly what differs.
        let quoted = format!("{:?}", redactor.redact(&token_type));
        let shown = redactor.field(&quoted, 48);
        return Err(format!("token_type is {shown}, not Bearer"));
    }
    Ok(token_type)
}

/// An empty `refresh_token` is read as none; one with control characters
/// could never be sent back, so the answer is refused.
fn check_refresh_token(refresh_token: Option<Secret>) -> Result<Option<Secret>, String> {
    match refresh_token {
        Some(token) if token.expose().is_empty() => Ok(None),
        Some(token) if token.expose().contains(char::is_control) => {
            Err("refresh_token has control characters".into())
        }
        other => Ok(other),
    }
}

/// A number of any size, or (as one of Criteo's own mocks sends it) a
/// numeric string: zero or less means expired on arrival, a fraction is
/// rounded down, and anything over [`MAX_EXPIRES_IN`] (`1e400` included)
/// is taken as that.
fn parse_expires_in(value: Option<&RawValue>) -> Result<Option<u32>, String> {
    let text = match value.map(RawValue::get) {
        None | Some("null") => return Ok(None),
        Some(text) => text,
    };
    let number = match serde_json::from_str::<&str>(text) {
        Ok(quoted) => quoted.trim(),
        Err(_) => text,
    };
    let looks_numeric = number
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && number.bytes().any(|b| b.is_ascii_digit());
    let seconds = number
        .parse::<f64>()
        .ok()
        .filter(|seconds| looks_numeric && !seconds.is_nan())
        .ok_or("expires_in is not a number of seconds")?;
    // `as` saturates: a negative number is 0, a huge one u32::MAX.
    Ok(Some((seconds.floor() as u32).min(MAX_EXPIRES_IN)))
}

/// The body without a leading UTF-8 byte-order mark, which RFC 8259 lets
/// a reader ignore.
fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body)
}

/// The longest lifetime believed: a year.
pub(crate) const MAX_EXPIRES_IN: u32 = 365 * 24 * 3600;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
