//! `criteo_consent`: the consent step of the authorization-code flow with
//! PKCE, for C. A boxed handle: one owner, freed with
//! `criteo_consent_free`.

use std::ffi::{CString, c_char};
use std::ptr;

use zeroize::Zeroizing;

use crate::consent::Consent;
use crate::ffi::client::{client_or_default, criteo_client};
use crate::ffi::error::criteo_error;
use crate::ffi::glue::{
    OutParam, blocking, borrow_handle, borrow_optional_str, borrow_str, free_handle, read_handle,
    run_fallible, run_infallible, to_c_string,
};
use crate::ffi::status::criteo_status;
use crate::ffi::token::criteo_token;

/// A consent: the link to Criteo's consent page, and the `state` and PKCE
/// verifier its answer is checked and exchanged with.
pub struct criteo_consent {
    consent: Consent,
    url: CString,
    state: Zeroizing<CString>,
    code_verifier: Zeroizing<CString>,
}

/// Starts a consent (OAuth2 authorization code with PKCE, RFC 7636): draws
/// a `state` and a PKCE verifier from the system's random source (256 bits
/// each, 43 characters of base64url) and makes the link that sends the
/// user to the consent page: `client`'s consent URL (by default
/// `https://consent.criteo.com/request`; see
/// `criteo_client_builder_set_consent_url`) with `response_type=code`,
/// `client_id`, `redirect_uri`, `state`, `code_challenge` (the verifier's
/// SHA-256 in base64url) and `code_challenge_method=S256`, in that order,
/// each percent-encoded (every byte but `A-Z a-z 0-9 - . _ ~`).
///
/// - `client`: a client, or NULL for the process-wide default client.
/// - `client_id`: the app's client id; not empty, no control character.
/// - `redirect_uri`: where Criteo sends the user back, as registered for
///   the app: an `https://` URL, an `http://` URL to a loopback host
///   (`127.0.0.1:PORT`, `[::1]`, `localhost`), or an app's own scheme in
///   reverse-domain form (`com.example.app:/callback`, RFC 8252 §7.1);
///   with no fragment, space or control character.
///
/// Sends nothing. On success writes a consent the caller owns to
/// `*consent_out` (free it with `criteo_consent_free`); it keeps the state
/// and verifier, which are secrets: an app that finishes the consent in
/// another process keeps them in its own session store, never in a URL or
/// a log.
///
/// Returns `CRITEO_OK`; `CRITEO_ERR_INVALID_ARGUMENT` for a NULL or bad
/// argument (the message names it); `CRITEO_ERR_INTERNAL` if the system's
/// random source fails. Thread-safe; a consent may be read from several
/// threads at once. Fork-safe: a child may use its parent's consent; each
/// process then holds a copy, so when both finish it both send the code,
/// and the server refuses the second (a code is single-use).
///
/// # Safety
/// `client` is NULL or a live client; the strings are NULL or
/// NUL-terminated; `consent_out` and `error_out` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_consent_new(
    client: *const criteo_client,
    client_id: *const c_char,
    redirect_uri: *const c_char,
    consent_out: *mut *mut criteo_consent,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: consent_out is NULL or writable, as documented.
        let consent_out = unsafe { OutParam::required(consent_out, "consent_out") }?;
        // SAFETY: the strings are NULL or NUL-terminated, as documented.
        let (client_id, redirect_uri) = unsafe {
            (
                borrow_str(client_id, "client_id")?,
                borrow_str(redirect_uri, "redirect_uri")?,
            )
        };
        // SAFETY: client is NULL or a live client, as documented.
        let client = unsafe { client_or_default(client) }?;
        let consent = Consent::new(client, client_id, redirect_uri)?;
        consent_out.write(criteo_consent {
            url: to_c_string(consent.url()),
            state: Zeroizing::new(to_c_string(consent.state().expose())),
            code_verifier: Zeroizing::new(to_c_string(consent.code_verifier().expose())),
            consent,
        });
        Ok(())
    })
}

/// The link to send the user to (open it in a browser). Borrowed from
/// `consent`: valid until `criteo_consent_free`. NULL only if `consent` is
/// NULL. It holds the state, not the verifier.
///
/// # Safety
/// `consent` is NULL or a live consent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_consent_url(consent: *const criteo_consent) -> *const c_char {
    // SAFETY: consent is NULL or live, as documented.
    unsafe { read_handle(consent, ptr::null(), |c| c.url.as_ptr()) }
}

/// The consent's `state` (43 characters of base64url), for an app that
/// keeps it in its session to check the answer itself. A secret. Borrowed
/// from `consent`; NULL only if `consent` is NULL.
///
/// # Safety
/// `consent` is NULL or a live consent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_consent_state(consent: *const criteo_consent) -> *const c_char {
    // SAFETY: consent is NULL or live, as documented.
    unsafe { read_handle(consent, ptr::null(), |c| c.state.as_ptr()) }
}

/// The consent's PKCE verifier (43 characters of base64url), for an app
/// that exchanges the code elsewhere with `criteo_get_token_pkce`. A
/// secret: whoever holds it and the code can get the tokens. Borrowed from
/// `consent`; NULL only if `consent` is NULL.
///
/// # Safety
/// `consent` is NULL or a live consent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_consent_code_verifier(
    consent: *const criteo_consent,
) -> *const c_char {
    // SAFETY: consent is NULL or live, as documented.
    unsafe { read_handle(consent, ptr::null(), |c| c.code_verifier.as_ptr()) }
}

/// Finishes a consent with the URL the user's browser came back to
/// (`redirect_url`, as the browser shows it; a fragment is ignored), then
/// exchanges its code for a token.
///
/// Refused with `CRITEO_ERR_INVALID_ARGUMENT` before any request is sent:
/// a URL that goes elsewhere than the consent's `redirect_uri` (scheme and
/// host compared without case) or lacks that URI's own query parameters;
/// any parameter given twice; a missing `state` or one that differs from
/// the consent's (compared in constant time); an `error` answer (RFC 6749
/// §4.1.2.1: the message names the error and its description, cleaned as
/// any server text, and `criteo_error_code` gives the error, such
/// as `access_denied`); a missing or empty `code`; a consent already
/// finished (in this process). No message holds the code, the state or
/// the verifier.
///
/// Then posts, once and never retried (a code is single-use),
/// `grant_type=authorization_code`, `client_id`, `client_secret` (only
/// when not NULL), `redirect_uri`, `code` and `code_verifier` to the
/// token endpoint of `client` (NULL: the default client), within its time
/// limit. From then on the consent is finished, whatever the answer. The
/// token's refresh token starts a `refresh_token` token source (see
/// `criteo_token_source_new`).
///
/// - `client_secret`: the app's secret, or NULL for a public client (one
///   that cannot keep a secret; the server allows it only with PKCE).
///
/// On success writes a token the caller frees with `criteo_token_free` to
/// `*token_out`. Returns `CRITEO_OK`, `CRITEO_ERR_INVALID_ARGUMENT` as
/// above, and otherwise what `criteo_get_token` returns (`400
/// invalid_grant`: the code was used, expired, or the verifier does not
/// match). Thread-safe: of calls at once on one consent, one sends its
/// code and the others are refused. Fork-safe as `criteo_get_token`.
///
/// # Safety
/// `client` is NULL or a live client; `consent` is NULL or a live consent;
/// the strings are NULL or NUL-terminated; `token_out` and `error_out` are
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_consent_finish(
    client: *const criteo_client,
    consent: *const criteo_consent,
    client_secret: *const c_char,
    redirect_url: *const c_char,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: token_out is NULL or writable, as documented.
        let token_out = unsafe { OutParam::required(token_out, "token_out") }?;
        // SAFETY: consent is NULL or live, as documented.
        let consent = unsafe { borrow_handle(consent, "consent") }?;
        // SAFETY: the strings are NULL or NUL-terminated, as documented.
        let (client_secret, redirect_url) = unsafe {
            (
                borrow_optional_str(client_secret, "client_secret")?,
                borrow_str(redirect_url, "redirect_url")?,
            )
        };
        // SAFETY: client is NULL or a live client, as documented.
        let client = unsafe { client_or_default(client) }?;
        let token = blocking(|| consent.consent.finish(client, client_secret, redirect_url))?;
        token_out.write_token(&token);
        Ok(())
    })
}

/// Frees a consent, overwriting its state and verifier with zeros. NULL is
/// a no-op. Strings borrowed from it are invalid afterwards.
///
/// # Safety
/// `consent` is NULL or a live consent, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_consent_free(consent: *mut criteo_consent) {
    // SAFETY: the caller hands over a live consent or NULL, as documented.
    run_infallible((), || unsafe { free_handle(consent) })
}
