//! What went wrong: a kind (one per C status code), one readable line, and
//! whatever the server told us.

use std::fmt;

use zeroize::Zeroize;

/// The class of a failure. Each kind maps to one stable C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The caller passed something unusable.
    InvalidArgument,
    /// DNS, connect, reset, truncated answer, proxy failure.
    Transport,
    /// A configured time limit passed.
    Timeout,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// A 2xx answer that is no usable token.
    InvalidResponse,
    /// A non-2xx answer other than 400 and 401.
    HttpStatus,
    /// A bug: a panic caught at the C boundary.
    Internal,
    /// The endpoint answered 400.
    BadRequest,
    /// The endpoint answered 401.
    Unauthorized,
    /// The store shared by processes could not be used.
    Store,
}

/// The OAuth error fields of an answer (RFC 6749 §5.2), each sanitised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthError {
    pub code: Option<String>,
    pub description: Option<String>,
    pub uri: Option<String>,
}

/// A failure, as handed to the caller. Never holds a secret; its text is
/// still wiped on drop because it may quote what a server sent.
/// Boxed: errors travel in `Result`s, and a token source keeps a few.
#[derive(Debug, Clone)]
pub struct Error(Box<Details>);

#[derive(Debug, Clone)]
struct Details {
    kind: ErrorKind,
    message: String,
    http_status: Option<u16>,
    /// Boxed: most errors have none, and errors travel in `Result`s.
    oauth: Option<Box<OAuthError>>,
    retry_after_secs: Option<u64>,
}

const NO_OAUTH_ERROR: OAuthError = OAuthError {
    code: None,
    description: None,
    uri: None,
};

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Details {
            kind,
            message: message.into(),
            http_status: None,
            oauth: None,
            retry_after_secs: None,
        }))
    }

    /// What a caught panic becomes: an internal error carrying its text.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let text = if let Some(text) = payload.downcast_ref::<&str>() {
            text
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text
        } else {
            "panic"
        };
        Error::new(
            ErrorKind::Internal,
            format!("internal error (a bug in criteo-oauth): {text}"),
        )
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// The same error, told differently: status, HTTP status, OAuth error
    /// and `Retry-After` are kept.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    pub fn with_http_status(mut self, status: u16) -> Self {
        self.0.http_status = Some(status);
        self
    }

    pub fn with_oauth(mut self, oauth: OAuthError) -> Self {
        self.0.oauth = (oauth != NO_OAUTH_ERROR).then(|| Box::new(oauth));
        self
    }

    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.0.retry_after_secs = seconds;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// One readable line.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The HTTP status of the answer, when one came.
    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }

    pub fn oauth(&self) -> &OAuthError {
        self.0.oauth.as_deref().unwrap_or(&NO_OAUTH_ERROR)
    }

    /// Seconds the server asked us to wait (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.0.retry_after_secs
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

impl Drop for Details {
    fn drop(&mut self) {
        self.message.zeroize();
        if let Some(oauth) = &mut self.oauth {
            oauth.code.zeroize();
            oauth.description.zeroize();
            oauth.uri.zeroize();
        }
    }
}
