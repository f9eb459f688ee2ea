//! `criteo_get_token`: `OAuthApi.get_token` for C.

use std::ffi::c_char;

use crate::error::Error;
use crate::ffi::client::{client_or_default, criteo_client};
use crate::ffi::error::criteo_error;
use crate::ffi::glue::{OutParam, blocking, borrow_optional_str, borrow_str, run_fallible};
use crate::ffi::status::criteo_status;
use crate::ffi::token::criteo_token;
use crate::request::{PkceExchangeFields, TokenRequest, TokenRequestFields};

/// Asks the token endpoint for an access token: `POST {host}/oauth2/token`
/// with the fields below as a form, in this order. Blocks until the answer
/// is read, retrying as the client's `max_retries` allows, all within the
/// client's total time limit; redirects are never followed.
///
/// - `client`: a client from `criteo_client_builder_build`, or NULL for
///   the process-wide default client for `https://api.criteo.com` (made
///   on first use and reused; when making it fails, as without system
///   certificates, the next call tries again).
/// - `grant_type`, `client_id`, `client_secret`: required, not empty.
/// - `redirect_uri`, `code`, `refresh_token`: NULL when not sent. The
///   `authorization_code` grant needs `code`; `refresh_token` needs
///   `refresh_token`.
///
/// Every string is copied; none may hold a control character or exceed
/// 64 KiB. On success writes a new token to `*token_out`, which the caller
/// frees with `criteo_token_free`. On failure writes a `criteo_error` to
/// `*error_out` when `error_out` is not NULL; its message never contains
/// the secret, the code or the refresh token.
///
/// Returns `CRITEO_OK`; `CRITEO_ERR_INVALID_ARGUMENT` for a bad argument
/// (the message names it); `CRITEO_ERR_BAD_REQUEST` / `CRITEO_ERR_UNAUTHORIZED`
/// when the endpoint answered 400 / 401; `CRITEO_ERR_HTTP_STATUS` for any
/// other non-2xx answer; `CRITEO_ERR_INVALID_RESPONSE` for a 2xx answer
/// that is no usable token; `CRITEO_ERR_TRANSPORT`, `CRITEO_ERR_TIMEOUT`,
/// `CRITEO_ERR_TLS` when no complete answer came (`CRITEO_ERR_TRANSPORT`
/// too when the thread that looks a host name up cannot be started).
///
/// Thread-safe: many threads may call it at once, on one client or on
/// several. Fork-safe: in a child after `fork()`, a client (the default one
/// included) opens connections of its own and never uses its parent's.
/// Cancellation: a `pthread_cancel` that arrives during the call is held
/// off until it returns, then takes effect at the caller's next
/// cancellation point; the call itself completes (within its time limit).
///
/// # Safety
/// `client` is NULL or a live client; each string is NULL or
/// NUL-terminated; `token_out` and `error_out` are NULL or writable.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_get_token(
    client: *const criteo_client,
    grant_type: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    redirect_uri: *const c_char,
    code: *const c_char,
    refresh_token: *const c_char,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: token_out is NULL or writable, as documented.
        let token_out = unsafe { OutParam::required(token_out, "token_out") }?;
        // SAFETY: each string is NULL or NUL-terminated, as documented.
        let request = unsafe {
            borrow_request([
                grant_type,
                client_id,
                client_secret,
                redirect_uri,
                code,
                refresh_token,
            ])
        }?;
        // SAFETY: client is NULL or a live client, as documented.
        let client = unsafe { client_or_default(client) }?;
        let token = blocking(|| client.get_token(&request))?;
        token_out.write_token(&token);
        Ok(())
    })
}

/// Exchanges an authorization code with its PKCE verifier (RFC 7636), for
/// an app that made the consent elsewhere (`criteo_consent_new` in another
/// request of a web app, or on another host) and kept the verifier: posts
/// `grant_type=authorization_code`, `client_id`, `client_secret` (only
/// when not NULL), `redirect_uri`, `code` and `code_verifier`, once and
/// never retried (a code is single-use), within the client's time limit.
///
/// - `client`: a client, or NULL for the process-wide default client.
/// - `client_id`, `redirect_uri` (the consent's, exactly), `code`:
///   required, not empty.
/// - `client_secret`: the app's secret, or NULL for a public client.
/// - `code_verifier`: 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
///
/// Every string is copied; none may hold a control character or exceed 64
/// KiB. On success writes a token the caller frees with
/// `criteo_token_free` to `*token_out`. No message or trace event holds
/// the secret, the code or the verifier.
///
/// Returns what `criteo_get_token` returns; `CRITEO_ERR_BAD_REQUEST` with
/// `invalid_grant` when the code was used or expired, or the verifier does
/// not match the consent's challenge. Thread-safe and fork-safe as
/// `criteo_get_token`.
///
/// # Safety
/// `client` is NULL or a live client; each string is NULL or
/// NUL-terminated; `token_out` and `error_out` are NULL or writable.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_get_token_pkce(
    client: *const criteo_client,
    client_id: *const c_char,
    client_secret: *const c_char,
    redirect_uri: *const c_char,
    code: *const c_char,
    code_verifier: *const c_char,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: token_out is NULL or writable, as documented.
        let token_out = unsafe { OutParam::required(token_out, "token_out") }?;
        // SAFETY: each string is NULL or NUL-terminated, as documented.
        let request = unsafe {
            TokenRequest::pkce_exchange(&PkceExchangeFields {
                client_id: borrow_str(client_id, "client_id")?,
                client_secret: borrow_optional_str(client_secret, "client_secret")?,
                redirect_uri: borrow_str(redirect_uri, "redirect_uri")?,
                code: borrow_str(code, "code")?,
                code_verifier: borrow_str(code_verifier, "code_verifier")?,
            })
        }?;
        // SAFETY: client is NULL or a live client, as documented.
        let client = unsafe { client_or_default(client) }?;
        let token = blocking(|| client.get_token(&request))?;
        token_out.write_token(&token);
        Ok(())
    })
}

/// The six request strings of `criteo_get_token` and
/// `criteo_token_source_new`, in that order, checked into a request.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string.
pub(crate) unsafe fn borrow_request(fields: [*const c_char; 6]) -> Result<TokenRequest, Error> {
    let [
        grant_type,
        client_id,
        client_secret,
        redirect_uri,
        code,
        refresh_token,
    ] = fields;
    // SAFETY: forwarded from this function's contract.
    let fields = unsafe {
        TokenRequestFields {
            grant_type: borrow_str(grant_type, "grant_type")?,
            client_id: borrow_str(client_id, "client_id")?,
            client_secret: borrow_str(client_secret, "client_secret")?,
            redirect_uri: borrow_optional_str(redirect_uri, "redirect_uri")?,
            code: borrow_optional_str(code, "code")?,
            refresh_token: borrow_optional_str(refresh_token, "refresh_token")?,
        }
    };
    TokenRequest::new(&fields)
}
