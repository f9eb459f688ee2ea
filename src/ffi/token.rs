//! `criteo_token`: an access token, owned by the caller.

use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::ffi::glue::{OutParam, free_shared_handle, read_handle, run_infallible, to_c_string};
use crate::secret::Secret;
use crate::source::CachedToken;
use crate::token::Token;

/// An access token (AccessTokenModel), its fields made ready for C once.
/// A `criteo_token *` is a shared handle (an `Arc`): the copies a token
/// source hands out share one token, whose secrets are wiped when the last
/// copy is freed with `criteo_token_free`.
// The access token is held once, inside its `Authorization` value: a
// process that caches thousands of tokens holds each once.
pub struct criteo_token {
    /// `"Bearer <access_token>"`: the access token is its tail.
    authorization: Zeroizing<CString>,
    token_type: CString,
    refresh_token: Option<Zeroizing<CString>>,
    expires_in: Option<u32>,
    expires_at: Option<i64>,
}

/// What comes before the access token in its `Authorization` value.
const BEARER: &str = "Bearer ";

impl criteo_token {
    /// `"Bearer <access_token>"`, without its NUL.
    pub(crate) fn authorization_bytes(&self) -> &[u8] {
        self.authorization.as_bytes()
    }

    /// The access token, NUL-terminated: the tail of its `Authorization`
    /// value.
    fn access_token_c(&self) -> &CStr {
        let tail = &self.authorization.as_bytes_with_nul()[BEARER.len()..];
        CStr::from_bytes_with_nul(tail).expect("the tail of a C string")
    }
}

impl CachedToken for criteo_token {
    fn from_token(token: &Token) -> Self {
        let secret = |text: &str| Zeroizing::new(to_c_string(text));
        let authorization = token.authorization();
        debug_assert!(authorization.expose().starts_with(BEARER));
        criteo_token {
            authorization: secret(authorization.expose()),
            token_type: to_c_string(token.token_type()),
            refresh_token: token.refresh_token().map(|t| secret(t.expose())),
            expires_in: token.expires_in(),
            expires_at: token.expires_at(),
        }
    }

    fn to_token(&self) -> Token {
        let text = |c: &CStr| c.to_str().unwrap_or_default().to_owned();
        Token::from_checked_parts(
            Secret::new(CachedToken::access_token(self)),
            text(&self.token_type),
            self.refresh_token.as_deref().map(|t| Secret::new(text(t))),
            self.expires_in,
            self.expires_at,
        )
    }

    fn access_token(&self) -> &str {
        // Made from a `&str`: valid UTF-8.
        self.access_token_c().to_str().unwrap_or_default()
    }
}

impl OutParam<criteo_token> {
    /// Hands a token that a call made to the caller, who frees it with
    /// `criteo_token_free`.
    pub(crate) fn write_token(self, token: &Token) {
        self.write_shared(Arc::new(criteo_token::from_token(token)));
    }
}

/// The access token itself. Borrowed from `token`: valid until
/// `criteo_token_free(token)`. NULL only if `token` is NULL. A token may be
/// read from one thread at a time.
///
/// # Safety
/// `token` is NULL or a live `criteo_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_access_token(token: *const criteo_token) -> *const c_char {
    // SAFETY: token is NULL or live, as documented.
    unsafe { read_handle(token, ptr::null(), |t| t.access_token_c().as_ptr()) }
}

/// The token type as the server sent it (`"Bearer"`, or `"bearer"`; any
/// other type is refused when the token arrives). Borrowed from `token`.
/// NULL only if `token` is NULL.
///
/// # Safety
/// `token` is NULL or a live `criteo_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_token_type(token: *const criteo_token) -> *const c_char {
    // SAFETY: token is NULL or live, as documented.
    unsafe { read_handle(token, ptr::null(), |t| t.token_type.as_ptr()) }
}

/// The refresh token, or NULL when the answer had none (absent or `null`,
/// as for `client_credentials`) or `token` is NULL. Borrowed from `token`.
///
/// # Safety
/// `token` is NULL or a live `criteo_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_refresh_token(token: *const criteo_token) -> *const c_char {
    // SAFETY: token is NULL or live, as documented.
    unsafe {
        read_handle(token, ptr::null(), |t| {
            t.refresh_token.as_ref().map_or(ptr::null(), |r| r.as_ptr())
        })
    }
}

/// The lifetime in seconds as the server sent it (900 on Criteo's API), or
/// -1 when it sent none (or `token` is NULL). Read tolerantly: zero or a
/// negative number is 0 (expired on arrival), a fraction is rounded down,
/// and anything over a year (31536000) is a year.
///
/// # Safety
/// `token` is NULL or a live `criteo_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_expires_in(token: *const criteo_token) -> i64 {
    // SAFETY: token is NULL or live, as documented.
    unsafe { read_handle(token, -1, |t| t.expires_in.map_or(-1, i64::from)) }
}

/// When the token expires, in Unix seconds, computed from `expires_in` on
/// receipt; -1 when unknown (or `token` is NULL).
///
/// # Safety
/// `token` is NULL or a live `criteo_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_expires_at(token: *const criteo_token) -> i64 {
    // SAFETY: token is NULL or live, as documented.
    unsafe { read_handle(token, -1, |t| t.expires_at.unwrap_or(-1)) }
}

/// `"Bearer <access_token>"`, ready for an `Authorization` header. Borrowed
/// from `token`. NULL only if `token` is NULL.
///
/// # Safety
/// `token` is NULL or a live `criteo_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_authorization(token: *const criteo_token) -> *const c_char {
    // SAFETY: token is NULL or live, as documented.
    unsafe { read_handle(token, ptr::null(), |t| t.authorization.as_ptr()) }
}

/// Frees a token. NULL is a no-op. Strings borrowed from it are invalid
/// afterwards. Its secrets are overwritten with zeros, at once or, for a
/// copy from a token source, when the source no longer holds the token.
///
/// # Safety
/// `token` is NULL or a live `criteo_token`, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_free(token: *mut criteo_token) {
    // SAFETY: the caller hands over a live token or NULL, as documented.
    run_infallible((), || unsafe { free_shared_handle(token) })
}
