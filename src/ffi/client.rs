//! `criteo_client_builder` and `criteo_client`: configuration and the
//! shared connection pool.

use std::ffi::c_char;
use std::ptr;

use crate::client::{Client, ClientConfig};
use crate::error::Error;
use crate::ffi::error::criteo_error;
use crate::ffi::glue::{
    OutParam, blocking, borrow_handle_mut, borrow_str, free_handle, into_handle, run_fallible,
    run_infallible, take_handle,
};
use crate::ffi::status::criteo_status;
use crate::ffi::trace::TraceUser;

/// Collects settings for a `criteo_client`. Not thread-safe: one thread
/// sets it up, then `criteo_client_builder_build` consumes it.
pub struct criteo_client_builder {
    pub(super) config: ClientConfig,
    /// The first setting refused, so that `build` cannot quietly make a
    /// client with a default where the caller asked for something else.
    refused: Option<Error>,
    /// The trace callback's, handed to the client.
    pub(super) trace_user: Option<TraceUser>,
}

/// A configured client: an HTTP connection pool and its settings. Safe to
/// use from many threads at once.
pub struct criteo_client {
    client: Client,
    /// Keeps the trace callback open while the client lives.
    trace_user: Option<TraceUser>,
}

/// The client behind a `criteo_client *` argument, or the process-wide
/// default client for NULL (made on first use, which reads the trust store:
/// so inside [`blocking`]).
///
/// # Safety
/// `client` is NULL or a live `criteo_client`.
pub(crate) unsafe fn client_or_default<'a>(
    client: *const criteo_client,
) -> Result<&'a Client, Error> {
    // SAFETY: forwarded from this function's contract.
    match unsafe { client.as_ref() } {
        Some(client) => Ok(&client.client),
        None => blocking(Client::shared_default),
    }
}

/// Applies one setting, remembering a refusal for `build`.
///
/// # Safety
/// `builder` is NULL or a live `criteo_client_builder` used by one thread.
unsafe fn apply(
    builder: *mut criteo_client_builder,
    setting: impl FnOnce(&mut ClientConfig) -> Result<(), Error>,
) -> criteo_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { apply_to_builder(builder, |builder| setting(&mut builder.config)) }
}

/// [`apply`], for a setting that needs more of the builder than its
/// configuration.
///
/// # Safety
/// As for [`apply`].
pub(super) unsafe fn apply_to_builder(
    builder: *mut criteo_client_builder,
    setting: impl FnOnce(&mut criteo_client_builder) -> Result<(), Error>,
) -> criteo_status {
    run_fallible(None, || {
        // SAFETY: forwarded from this function's contract.
        let builder = unsafe { borrow_handle_mut(builder, "builder") }?;
        let result = setting(builder);
        if let Err(error) = &result {
            builder.refused.get_or_insert_with(|| error.clone());
        }
        result
    })
}

/// Another user of `client`'s trace callback, for a source made from it.
///
/// # Safety
/// `client` is NULL or a live `criteo_client`.
pub(super) unsafe fn trace_user_of(client: *const criteo_client) -> Option<TraceUser> {
    // SAFETY: forwarded from this function's contract.
    let client = unsafe { client.as_ref() }?;
    client.trace_user.as_ref().map(TraceUser::share)
}

/// Starts a client configuration with the defaults: host
/// `https://api.criteo.com`, the system's trust store, the proxy from the
/// environment, 10 s to connect, 30 s in all, 2 retries.
///
/// Returns a builder the caller owns: pass it to
/// `criteo_client_builder_build` (which consumes it) or
/// `criteo_client_builder_free`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn criteo_client_builder_new() -> *mut criteo_client_builder {
    run_infallible(ptr::null_mut(), || {
        into_handle(criteo_client_builder {
            config: ClientConfig::default(),
            refused: None,
            trace_user: None,
        })
    })
}

/// Sets the API's base URL, e.g. `"https://api.criteo.com"`. A path prefix
/// is kept: `"http://127.0.0.1:8080/mock"` posts to
/// `http://127.0.0.1:8080/mock/oauth2/token`. Plain `http://` is accepted
/// only for loopback hosts (127.0.0.0/8, ::1, `localhost` and names under
/// `.localhost`), so the secret never crosses a network in clear; the
/// `localhost` names always mean 127.0.0.1 and ::1, whatever the system's
/// resolver says. The string is copied.
///
/// The URL is read strictly: a port is 1 to 65535 in plain decimal digits
/// (no sign, no leading zero, not empty); a host is a name, a dotted-quad
/// IPv4 address or a bracketed IPv6 address (no zone ID), never
/// percent-encoded or in a shorthand such as `127.1`.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` for a NULL
/// argument or a URL that is not https (or http to loopback) with such a
/// host and no query, fragment or credentials. A refused setting also makes
/// `criteo_client_builder_build` fail, with the message saying why.
///
/// # Safety
/// `builder` is NULL or a live builder; `base_url` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_host(
    builder: *mut criteo_client_builder,
    base_url: *const c_char,
) -> criteo_status {
    // SAFETY: builder and base_url are as this function's contract says.
    unsafe {
        apply(builder, |config| {
            config.set_host(borrow_str(base_url, "base_url")?)
        })
    }
}

/// Sets where `criteo_consent_new` sends the user: the consent page, by
/// default `https://consent.criteo.com/request`; for a sandbox or a test.
/// Read as the host is (see `criteo_client_builder_set_host`): https, or
/// http to a loopback host, with a host and no query, fragment or
/// credentials. The string is copied.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` for a NULL
/// argument or a URL that is not so. A refused setting also makes
/// `criteo_client_builder_build` fail, with the message saying why.
///
/// # Safety
/// `builder` is NULL or a live builder; `url` is NULL or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_consent_url(
    builder: *mut criteo_client_builder,
    url: *const c_char,
) -> criteo_status {
    // SAFETY: builder and url are as this function's contract says.
    unsafe {
        apply(builder, |config| {
            config.set_consent_url(borrow_str(url, "url")?)
        })
    }
}

/// Sets the time limits, in milliseconds: `connect_ms` to establish a
/// connection, `total_ms` for the whole call: every attempt, the waits
/// between retries, and reading the answer (a server that sends one byte a
/// second is cut off). 0 keeps the default: 30 000 for `total_ms`, and for
/// `connect_ms` 10 000 or `total_ms` when that is smaller.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `builder` is
/// NULL or `connect_ms` exceeds `total_ms`. A refused setting also makes
/// `criteo_client_builder_build` fail.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_timeouts(
    builder: *mut criteo_client_builder,
    connect_ms: u32,
    total_ms: u32,
) -> criteo_status {
    // SAFETY: builder is as this function's contract says.
    unsafe { apply(builder, |config| config.set_timeouts(connect_ms, total_ms)) }
}

/// Sets how many times a failed call may be retried, from 0 to 10
/// (default 2). Retried: connections that could not be made, and answers
/// 429, 502, 503 and 504, waiting for `Retry-After` when the server sends
/// it and it fits in the total time limit (else the call returns at once,
/// with `criteo_error_retry_after` set), or else an exponential backoff
/// with full jitter. Never retried: 400, 401, other answers, a request
/// whose answer was lost after it was sent, and an `authorization_code`
/// request that reached the server (the code is single-use).
///
/// The token endpoint limits the application, not one token: a `429` with
/// `Retry-After` holds every request of that `client_id` on this client
/// (in this process) until then, at most 5 minutes. A request of that
/// client id meanwhile is not sent: it waits as for a retry when one is
/// left and the wait fits, or fails with `CRITEO_ERR_HTTP_STATUS`, HTTP
/// status 429 and `criteo_error_retry_after` set. So one 429 costs one
/// request, not one per token source.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `builder` is
/// NULL or `max_retries` exceeds 10. A refused setting also makes
/// `criteo_client_builder_build` fail.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_max_retries(
    builder: *mut criteo_client_builder,
    max_retries: u32,
) -> criteo_status {
    // SAFETY: builder is as this function's contract says.
    unsafe { apply(builder, |config| config.set_max_retries(max_retries)) }
}

/// Sets how many token requests the client sends at once, from 1 to 1024
/// (default 8): all its callers and token sources in a process together
/// (a child of `fork()` counts its own). A request beyond that waits for a
/// turn, within its own call's total time limit; one that waits past it
/// fails with `CRITEO_ERR_TIMEOUT`, never sent. A retry waits for a turn
/// again.
///
/// The limit also keeps a process with thousands of token sources that
/// are due at once from opening thousands of connections.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `builder` is
/// NULL or `max` is 0 or more than 1024. A refused setting also makes
/// `criteo_client_builder_build` fail.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_max_concurrent_requests(
    builder: *mut criteo_client_builder,
    max: u32,
) -> criteo_status {
    // SAFETY: builder is as this function's contract says.
    unsafe { apply(builder, |config| config.set_max_concurrent_requests(max)) }
}

/// Trusts exactly the certificates in the PEM bundle at `pem_path` (a
/// private CA, say), instead of the system's trust store. The file is read
/// now; the path is copied.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` for a NULL
/// argument or a file that is missing, unreadable, or holds no certificate
/// (the message gives the path and the reason). A refused setting also
/// makes `criteo_client_builder_build` fail.
///
/// # Safety
/// `builder` is NULL or a live builder; `pem_path` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_ca_file(
    builder: *mut criteo_client_builder,
    pem_path: *const c_char,
) -> criteo_status {
    // SAFETY: builder and pem_path are as this function's contract says.
    unsafe {
        apply(builder, |config| {
            let pem_path = borrow_str(pem_path, "pem_path")?;
            blocking(|| config.set_ca_file(pem_path))
        })
    }
}

/// Sends every request through an HTTP proxy with CONNECT:
/// `"http://[user:password@]host[:port]"` (no scheme means http, no port
/// 80). Overrides the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`);
/// `""` means a direct connection whatever the environment says. The
/// password never appears in a message. The string is copied. Host and
/// port are read as strictly as `criteo_client_builder_set_host` reads them.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` for a NULL
/// argument or a URL that is not an http:// proxy. A refused setting also
/// makes `criteo_client_builder_build` fail.
///
/// # Safety
/// `builder` is NULL or a live builder; `proxy_url` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_proxy(
    builder: *mut criteo_client_builder,
    proxy_url: *const c_char,
) -> criteo_status {
    // SAFETY: builder and proxy_url are as this function's contract says.
    unsafe {
        apply(builder, |config| {
            config.set_proxy(borrow_str(proxy_url, "proxy_url")?)
        })
    }
}

/// Names the calling program in the `User-Agent` header: `user_agent`
/// (e.g. `"my-app/1.2"`) comes first, followed by `criteo-oauth/<version>`.
/// The string is copied.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` for a NULL, empty
/// or non-printable-ASCII value or one over 256 bytes. A refused setting
/// also makes `criteo_client_builder_build` fail.
///
/// # Safety
/// `builder` is NULL or a live builder; `user_agent` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_set_user_agent(
    builder: *mut criteo_client_builder,
    user_agent: *const c_char,
) -> criteo_status {
    // SAFETY: builder and user_agent are as this function's contract says.
    unsafe {
        apply(builder, |config| {
            config.set_user_agent(borrow_str(user_agent, "user_agent")?)
        })
    }
}

/// Makes a client from the builder. The builder is always consumed, on
/// failure too: do not use or free it afterwards.
///
/// On success writes a new client to `*client_out`; the caller frees it
/// with `criteo_client_free`. On failure writes a `criteo_error` to
/// `*error_out` when `error_out` is not NULL.
///
/// Unless a proxy was set, the client reads `https_proxy` / `HTTPS_PROXY`
/// (`http_proxy` for an http host), `all_proxy` / `ALL_PROXY` and
/// `no_proxy` / `NO_PROXY` now, as curl does. Unless a CA file was set, an
/// https client reads the system's trust store (honouring `SSL_CERT_FILE`
/// and `SSL_CERT_DIR`) when it first connects, not now: a program that
/// finds its token in a store never reads it. A trust store that cannot
/// be read then fails that request with `CRITEO_ERR_TLS`, naming the
/// variable and the file (or saying the system has no certificates), and
/// is read again by the next one.
///
/// Returns `CRITEO_OK`; `CRITEO_ERR_INVALID_ARGUMENT` when `builder` or
/// `client_out` is NULL, a setting was refused earlier (the message says
/// which), or a proxy variable is malformed. Thread-safe for distinct
/// builders.
///
/// # Safety
/// `builder` is NULL or a live builder; `client_out` is NULL or writable;
/// `error_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_build(
    builder: *mut criteo_client_builder,
    client_out: *mut *mut criteo_client,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: the builder is handed over here whatever happens next, as documented.
        let builder = unsafe { take_handle(builder) };
        // SAFETY: client_out is NULL or writable, as documented.
        let client_out = unsafe { OutParam::required(client_out, "client_out") }?;
        let builder = builder.ok_or_else(|| Error::invalid_argument("builder must not be NULL"))?;
        if let Some(refused) = builder.refused {
            return Err(refused);
        }
        client_out.write(criteo_client {
            client: blocking(|| builder.config.build())?,
            trace_user: builder.trace_user,
        });
        Ok(())
    })
}

/// Frees a builder that was not built. NULL is a no-op.
///
/// # Safety
/// `builder` is NULL or a live builder, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_builder_free(builder: *mut criteo_client_builder) {
    // SAFETY: the caller hands over a live builder or NULL, as documented.
    run_infallible((), || unsafe { free_handle(builder) })
}

/// Frees a client and closes its idle connections. NULL is a no-op. No
/// call may be using the client at the time.
///
/// # Safety
/// `client` is NULL or a live client, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_client_free(client: *mut criteo_client) {
    // SAFETY: the caller hands over a live client or NULL, as documented.
    run_infallible((), || blocking(|| unsafe { free_handle(client) }))
}
