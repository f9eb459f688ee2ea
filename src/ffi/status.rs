//! Status codes: stable numbers, one per error kind.

use std::ffi::c_char;

use crate::error::ErrorKind;
use crate::ffi::glue::run_infallible;

/// The result of every fallible call: `CRITEO_OK` or one of the
/// `CRITEO_ERR_*` values below. The numbers never change.
pub type criteo_status = u32;

/// Success.
pub const CRITEO_OK: criteo_status = 0;
/// Bad input from the caller: a NULL required pointer, a string that is not
/// UTF-8 or holds a control character, an out-of-range value.
pub const CRITEO_ERR_INVALID_ARGUMENT: criteo_status = 1;
/// DNS, connect, reset, truncated answer, proxy failure.
pub const CRITEO_ERR_TRANSPORT: criteo_status = 2;
/// A configured time limit passed.
pub const CRITEO_ERR_TIMEOUT: criteo_status = 3;
/// TLS handshake or certificate verification failed.
pub const CRITEO_ERR_TLS: criteo_status = 4;
/// A 2xx answer that is no usable token (not JSON, no access_token, an
/// `error` field, too large).
pub const CRITEO_ERR_INVALID_RESPONSE: criteo_status = 5;
/// Any other non-2xx answer: 429, 5xx, 3xx (redirects are never followed).
pub const CRITEO_ERR_HTTP_STATUS: criteo_status = 6;
/// A bug in the library (a caught panic).
pub const CRITEO_ERR_INTERNAL: criteo_status = 7;
/// The store shared by processes could not be used (a full disk, a
/// read-only or removed directory): see `criteo_token_source_store_error`.
pub const CRITEO_ERR_STORE: criteo_status = 8;
/// The endpoint answered 400 (OAuthErrorModel).
pub const CRITEO_ERR_BAD_REQUEST: criteo_status = 400;
/// The endpoint answered 401 (OAuthErrorModel).
pub const CRITEO_ERR_UNAUTHORIZED: criteo_status = 401;

pub(crate) fn status_of(kind: ErrorKind) -> criteo_status {
    match kind {
        ErrorKind::InvalidArgument => CRITEO_ERR_INVALID_ARGUMENT,
        ErrorKind::Transport => CRITEO_ERR_TRANSPORT,
        ErrorKind::Timeout => CRITEO_ERR_TIMEOUT,
        ErrorKind::Tls => CRITEO_ERR_TLS,
        ErrorKind::InvalidResponse => CRITEO_ERR_INVALID_RESPONSE,
        ErrorKind::HttpStatus => CRITEO_ERR_HTTP_STATUS,
        ErrorKind::Internal => CRITEO_ERR_INTERNAL,
        ErrorKind::BadRequest => CRITEO_ERR_BAD_REQUEST,
        ErrorKind::Unauthorized => CRITEO_ERR_UNAUTHORIZED,
        ErrorKind::Store => CRITEO_ERR_STORE,
    }
}

/// The name of a status code, e.g. `"CRITEO_ERR_TIMEOUT"`, or
/// `"CRITEO_ERR_UNKNOWN"` for a value that is none of them.
///
/// Returns a static string: never NULL, never freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn criteo_status_str(status: u32) -> *const c_char {
    run_infallible(c"CRITEO_ERR_INTERNAL".as_ptr(), || {
        let name = match status {
            CRITEO_OK => c"CRITEO_OK",
            CRITEO_ERR_INVALID_ARGUMENT => c"CRITEO_ERR_INVALID_ARGUMENT",
            CRITEO_ERR_TRANSPORT => c"CRITEO_ERR_TRANSPORT",
            CRITEO_ERR_TIMEOUT => c"CRITEO_ERR_TIMEOUT",
            CRITEO_ERR_TLS => c"CRITEO_ERR_TLS",
            CRITEO_ERR_INVALID_RESPONSE => c"CRITEO_ERR_INVALID_RESPONSE",
            CRITEO_ERR_HTTP_STATUS => c"CRITEO_ERR_HTTP_STATUS",
            CRITEO_ERR_INTERNAL => c"CRITEO_ERR_INTERNAL",
            CRITEO_ERR_STORE => c"CRITEO_ERR_STORE",
            CRITEO_ERR_BAD_REQUEST => c"CRITEO_ERR_BAD_REQUEST",
            CRITEO_ERR_UNAUTHORIZED => c"CRITEO_ERR_UNAUTHORIZED",
            _ => c"CRITEO_ERR_UNKNOWN",
        };
        name.as_ptr()
    })
}
