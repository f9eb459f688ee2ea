//! `criteo_error`: the detail of a failed call, owned by the caller.

use std::ffi::{CString, c_char};
use std::ptr;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::ffi::glue::{free_handle, read_handle, run_infallible, to_c_string};
use crate::ffi::status::{CRITEO_ERR_INVALID_ARGUMENT, criteo_status, status_of};

/// The detail of a failed call. Made by the library, handed out through an
/// `error_out` argument, freed by the caller with `criteo_error_free`.
pub struct criteo_error {
    status: criteo_status,
    http_status: u16,
    retry_after: i64,
    message: Zeroizing<CString>,
    code: Option<Zeroizing<CString>>,
    description: Option<Zeroizing<CString>>,
    uri: Option<Zeroizing<CString>>,
}

impl From<&Error> for criteo_error {
    fn from(error: &Error) -> Self {
        let optional =
            |text: &Option<String>| text.as_deref().map(|t| Zeroizing::new(to_c_string(t)));
        criteo_error {
            status: status_of(error.kind()),
            http_status: error.http_status().unwrap_or(0),
            retry_after: error
                .retry_after_secs()
                .map_or(-1, |seconds| i64::try_from(seconds).unwrap_or(i64::MAX)),
            message: Zeroizing::new(to_c_string(error.message())),
            code: optional(&error.oauth().code),
            description: optional(&error.oauth().description),
            uri: optional(&error.oauth().uri),
        }
    }
}

fn optional_ptr(text: &Option<Zeroizing<CString>>) -> *const c_char {
    text.as_ref().map_or(ptr::null(), |text| text.as_ptr())
}

/// The status code of the failed call (the same value the call returned);
/// `CRITEO_ERR_INVALID_ARGUMENT` if `error` is NULL. Thread-safe for
/// distinct errors.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_status(error: *const criteo_error) -> criteo_status {
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, CRITEO_ERR_INVALID_ARGUMENT, |e| e.status) }
}

/// The HTTP status of the answer, or 0 when no answer came (or `error` is
/// NULL).
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_http_status(error: *const criteo_error) -> u16 {
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, 0, |e| e.http_status) }
}

/// The OAuth `error` code of the answer, e.g. `"invalid_client"`; NULL when
/// the answer had none (or `error` is NULL). Borrowed from `error`: valid
/// until `criteo_error_free(error)`.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_code(error: *const criteo_error) -> *const c_char {
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, ptr::null(), |e| optional_ptr(&e.code)) }
}

/// The OAuth `error_description` of the answer, sanitised to one line; NULL
/// when none (or `error` is NULL). Borrowed from `error`.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_description(error: *const criteo_error) -> *const c_char {
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, ptr::null(), |e| optional_ptr(&e.description)) }
}

/// The OAuth `error_uri` of the answer; NULL when none (or `error` is
/// NULL). Borrowed from `error`.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_uri(error: *const criteo_error) -> *const c_char {
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, ptr::null(), |e| optional_ptr(&e.uri)) }
}

/// One readable line saying what failed, e.g. `POST
/// https://api.criteo.com/oauth2/token answered 401 Unauthorized:
/// invalid_client: client_id doesn't exist or the client_secret is invalid`.
/// An answer names the URL that answered, a failure to connect every
/// address tried. Never NULL (a NULL `error` gives a static line saying so); never holds a
/// secret. Borrowed from `error`.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_message(error: *const criteo_error) -> *const c_char {
    let null_error = c"no error detail (criteo_error_message was given NULL)".as_ptr();
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, null_error, |e| e.message.as_ptr()) }
}

/// Seconds the server asked to wait before trying again (`Retry-After`, as
/// seconds or an HTTP date), as it sent them, saturated at `INT64_MAX`; or
/// -1 when it did not say (or `error` is NULL). The library itself waits
/// at most 5 minutes, whatever the server says.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_retry_after(error: *const criteo_error) -> i64 {
    // SAFETY: error is NULL or live, as documented.
    unsafe { read_handle(error, -1, |e| e.retry_after) }
}

/// Frees an error and wipes its text. NULL is a no-op. Strings borrowed
/// from it are invalid afterwards.
///
/// # Safety
/// `error` is NULL or a live `criteo_error`, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_error_free(error: *mut criteo_error) {
    // SAFETY: the caller hands over a live error or NULL, as documented.
    run_infallible((), || unsafe { free_handle(error) })
}
