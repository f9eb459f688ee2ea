//! `criteo_token_source`: a cached token shared by threads.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::error::Error;
use crate::ffi::client::{client_or_default, criteo_client, trace_user_of};
use crate::ffi::error::criteo_error;
use crate::ffi::get_token::borrow_request;
use crate::ffi::glue::{
    OutParam, blocking, borrow_handle, borrow_optional_str, borrow_str, free_handle, run_fallible,
    run_infallible, write_text,
};
use crate::ffi::status::criteo_status;
use crate::ffi::token::criteo_token;
use crate::ffi::trace::TraceUser;
use crate::request::TokenRequest;
use crate::source::{CachedToken, TokenSource};

/// The longest refresh margin accepted, in seconds (a day).
const MAX_REFRESH_MARGIN_SECS: u32 = 86_400;

/// A source of valid tokens for one set of credentials: caches the token,
/// refreshes it before expiry, one fetch at a time. Safe to use from many
/// threads at once.
pub struct criteo_token_source {
    /// Shared with a fetch running on a thread of its own (see
    /// `criteo_token_source_get_within`), which may outlive the handle.
    pub(super) source: Arc<TokenSource<criteo_token>>,
    /// Keeps its client's trace callback open while the source lives.
    _trace_user: Option<TraceUser>,
}

/// The refresh callback never runs once the handle is freed, even for a
/// fetch that outlives it (see `criteo_token_source_get_within`).
impl Drop for criteo_token_source {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// Called after each successful fetch with the new token, which is
/// borrowed for the duration of the call (copy what you keep).
pub type criteo_refresh_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, token: *const criteo_token)>;

/// A C callback and its pointer, callable from whichever thread fetched.
struct CallbackFromC {
    function: unsafe extern "C" fn(*mut c_void, *const criteo_token),
    user_data: *mut c_void,
}

// SAFETY: the header tells the caller the callback may run on any thread
// that calls criteo_token_source_get, with this user_data.
unsafe impl Send for CallbackFromC {}
// SAFETY: as above.
unsafe impl Sync for CallbackFromC {}

impl CallbackFromC {
    fn call(&self, token: &Arc<criteo_token>) {
        // SAFETY: the caller registered a function that takes this user_data
        // and a token valid for the duration of the call.
        unsafe { (self.function)(self.user_data, Arc::as_ptr(token)) }
    }
}

/// Borrows a source argument.
///
/// # Safety
/// `source` is NULL or a live `criteo_token_source`.
unsafe fn borrow_source<'a>(
    source: *const criteo_token_source,
) -> Result<&'a Arc<TokenSource<criteo_token>>, Error> {
    // SAFETY: forwarded from this function's contract.
    unsafe { borrow_handle(source, "source") }.map(|s| &s.source)
}

/// What the functions that get a token from a source share: checks the
/// arguments, runs `answer` inside the panic boundary, and writes the token
/// it gives, or NULL when it gives none yet.
///
/// # Safety
/// `source` is NULL or a live source; `token_out` and `error_out` are NULL
/// or writable.
unsafe fn answer_with_token(
    source: *const criteo_token_source,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
    answer: impl FnOnce(&Arc<TokenSource<criteo_token>>) -> Result<Option<Arc<criteo_token>>, Error>,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: token_out is NULL or writable, as documented.
        let token_out = unsafe { OutParam::required(token_out, "token_out") }?;
        // SAFETY: source is NULL or a live source, as documented.
        let source = unsafe { borrow_source(source) }?;
        match answer(source)? {
            Some(token) => token_out.write_shared(token),
            None => token_out.write_null(),
        }
        Ok(())
    })
}

/// Makes a token source for one set of credentials. Nothing is fetched
/// until the first `criteo_token_source_get`.
///
/// The source is shared with the children it will have: after `fork()`,
/// the parent and every child share one cached token, one fetch at a time
/// and the latest rotated refresh token, through a slot of an anonymous
/// file (close-on-exec) that a process makes once for all its sources:
/// one descriptor, whatever their number. To share it with other programs
/// too, see `criteo_token_source_set_store`.
///
/// A process may hold any number of sources: their refreshes in the
/// background run on at most 16 worker threads per process, and their
/// requests at most as many at once as the client allows
/// (`criteo_client_builder_set_max_concurrent_requests`). An idle source
/// with a cached token takes about 1.6 KB plus the token.
///
/// - `client`: the client to fetch with, or NULL for the default client.
///   The source keeps its own reference: the client may be freed first.
/// - The six strings are those of `criteo_get_token`, checked the same way
///   and copied. `client_credentials` fetches again each time;
///   `authorization_code` sends the code exactly once, then renews with the
///   latest refresh token; `refresh_token` starts from the one given.
///
/// On success writes a new source to `*source_out`; free it with
/// `criteo_token_source_free`. On failure writes a `criteo_error` to
/// `*error_out` when it is not NULL.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` for a bad argument
/// (the message names it). Thread-safe.
///
/// # Safety
/// `client` is NULL or a live client; each string is NULL or
/// NUL-terminated; `source_out` and `error_out` are NULL or writable.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_new(
    client: *const criteo_client,
    grant_type: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    redirect_uri: *const c_char,
    code: *const c_char,
    refresh_token: *const c_char,
    source_out: *mut *mut criteo_token_source,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: source_out is NULL or writable, as documented.
        let source_out = unsafe { OutParam::required(source_out, "source_out") }?;
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
        let source = unsafe { source_on(client, |client| Ok(TokenSource::new(client, request))) }?;
        source_out.write(source);
        Ok(())
    })
}

/// Makes a token source for a *named* lineage: the `refresh_token`
/// lineage that `name` names for `client_id` (and `client_secret`, host)
/// in the source's store, rather than one that a code or a refresh token
/// starts. A program that works for many accounts names each account's
/// lineage (`"customer-42"`), and finds it again in the store after a
/// restart without keeping any refresh token itself; `criteo-token login`
/// names its lineage `criteo-token`.
///
/// - `token`: a token to start the lineage from (from
///   `criteo_consent_finish`, `criteo_get_token_pkce`, or the
///   `authorization_code` grant), which must hold a refresh token; it is
///   copied. The source serves it while it is valid (its age read from
///   its expiry) and then renews it with its refresh token, rotating as
///   any source does. When the source is given a store
///   (`criteo_token_source_set_store`), that call writes it there at once,
///   replacing whatever the store held under the name: the lineage starts
///   over from this token. NULL: the lineage is taken from the store; a
///   get while the store holds nothing under the name fails with
///   `CRITEO_ERR_STORE` ("no token is stored under the name ...") while
///   `criteo_token_source_store_error` reports no failure, and sends
///   nothing.
/// - `client`, `client_id`, `client_secret` as for
///   `criteo_token_source_new` (the secret is required: it keys and seals
///   the store's record).
/// - `name`: not empty, no control character, at most 64 KiB.
///
/// On success writes a new source to `*source_out`; free it with
/// `criteo_token_source_free`. Returns `CRITEO_OK`, or
/// `CRITEO_ERR_INVALID_ARGUMENT` for a bad argument or a token without a
/// refresh token. Thread-safe; fork-safe as any source.
///
/// # Safety
/// `client` is NULL or a live client; `token` is NULL or a live token;
/// each string is NULL or NUL-terminated; `source_out` and `error_out` are
/// NULL or writable.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_new_named(
    client: *const criteo_client,
    client_id: *const c_char,
    client_secret: *const c_char,
    name: *const c_char,
    token: *const criteo_token,
    source_out: *mut *mut criteo_token_source,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: source_out is NULL or writable, as documented.
        let source_out = unsafe { OutParam::required(source_out, "source_out") }?;
        // SAFETY: each string is NULL or NUL-terminated, as documented.
        let request = unsafe {
            TokenRequest::named(
                borrow_str(client_id, "client_id")?,
                borrow_str(client_secret, "client_secret")?,
                borrow_str(name, "name")?,
            )
        }?;
        // SAFETY: token is NULL or a live token, as documented.
        let start = unsafe { token.as_ref() }.map(CachedToken::to_token);
        // SAFETY: client is NULL or a live client, as documented.
        let source = unsafe {
            source_on(client, |client| {
                TokenSource::named(client, request, start.as_ref())
            })
        }?;
        source_out.write(source);
        Ok(())
    })
}

/// A source that `make` makes on `client` (NULL: the default client),
/// keeping the client's trace callback open while the source lives.
///
/// # Safety
/// `client` is NULL or a live client.
unsafe fn source_on(
    client: *const criteo_client,
    make: impl FnOnce(Client) -> Result<TokenSource<criteo_token>, Error>,
) -> Result<criteo_token_source, Error> {
    // SAFETY: forwarded from this function's contract.
    let source = make(unsafe { client_or_default(client) }?.clone())?;
    Ok(criteo_token_source {
        source: Arc::new(source),
        // SAFETY: forwarded from this function's contract.
        _trace_user: unsafe { trace_user_of(client) },
    })
}

/// Sets how long before expiry the token is refreshed, in seconds (0 to
/// 86400), exactly. The default is a quarter of the token's lifetime, at
/// least 30 s and at most 300 s, and never more than half the lifetime
/// (225 s for a 900 s token), shortened by a random fraction of up to 10 %
/// drawn when the source is made, so that processes started together
/// spread their refreshes. A token without `expires_in` is taken to live
/// 900 s.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `source` is
/// NULL or `seconds` exceeds 86400. Thread-safe.
///
/// # Safety
/// `source` is NULL or a live source.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_set_refresh_margin(
    source: *mut criteo_token_source,
    seconds: u32,
) -> criteo_status {
    run_fallible(None, || {
        // SAFETY: source is NULL or a live source, as documented.
        let source = unsafe { borrow_source(source) }?;
        if seconds > MAX_REFRESH_MARGIN_SECS {
            return Err(Error::invalid_argument(format!(
                "seconds ({seconds}) must be at most {MAX_REFRESH_MARGIN_SECS}"
            )));
        }
        source.set_refresh_margin(Duration::from_secs(seconds.into()));
        Ok(())
    })
}

/// Registers `on_refresh`, called after every successful fetch with the
/// new token (borrowed for the call), e.g. to persist a rotated refresh
/// token. It runs on the thread that fetched: the library's own thread
/// (named "criteo-oauth fetch") for a refresh made in the background and
/// for a fetch of `criteo_token_source_get_within`; the caller's thread
/// for a fetch that a caller with no valid token waits for. It runs outside
/// any lock of the source,
/// before that fetch counts as done: calls for one source never overlap,
/// and come in the order the tokens were
/// fetched (never an older token after a newer one). Threads waiting for
/// that fetch wait for the callback too. While it runs, every get of the
/// source, from any thread (a binding may run the callback on a thread of
/// its own), is answered with the token it was given, without a new fetch,
/// even when that token came already expired; once a token that came valid
/// dies while the callback runs (a callback slower than its lifetime, a
/// suspend meanwhile), those gets fail with `CRITEO_ERR_TIMEOUT` instead,
/// and so does the fetch the callback belongs to. It may call
/// `criteo_token_source_invalidate`; it must not free the source. It must
/// return normally: a C++ exception that escapes it aborts the process
/// (the library is C to it), and a `longjmp` out of it is undefined
/// behaviour (the source stays locked in its fetch). Once
/// `criteo_token_source_free` has returned, it is never called again.
/// `user_data` is passed through; it must be usable from any thread. NULL
/// `on_refresh` removes the callback.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `source` is
/// NULL. Thread-safe.
///
/// # Safety
/// `source` is NULL or a live source; `on_refresh` is NULL or a function
/// safe to call with `user_data` from any thread while the source lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_set_refresh_callback(
    source: *mut criteo_token_source,
    on_refresh: criteo_refresh_callback,
    user_data: *mut c_void,
) -> criteo_status {
    run_fallible(None, || {
        // SAFETY: source is NULL or a live source, as documented.
        let source = unsafe { borrow_source(source) }?;
        let callback = on_refresh.map(|function| {
            let from_c = CallbackFromC {
                function,
                user_data,
            };
            Box::new(move |token: &Arc<criteo_token>| from_c.call(token)) as Box<_>
        });
        source.set_refresh_callback(callback);
        Ok(())
    })
}

/// Writes a valid token to `*token_out`: the cached one, or a new one when
/// there is none. A token is valid while the time since it was received,
/// on a clock that counts the time the machine was suspended and that
/// setting the date does not move (`CLOCK_BOOTTIME`), is within its
/// lifetime: a token is never served past its expiry, even after a
/// suspend. Once the cached token is within the refresh margin of expiry,
/// the call returns it at once and starts its refresh on a thread of the
/// library's own (if no thread can be started, it refreshes on the
/// caller's thread instead). Only one fetch runs at a time: while it runs,
/// callers whose cached token is still valid get it at once; the others
/// wait for that fetch and share its result, whatever it is (a token, even
/// one already expired when it came, or an error): one get causes at most
/// one fetch. A fetch first
/// waits for another process's fetch of the same lineage (the store's
/// lock) at most the client's total time limit and 1 s, then takes at
/// most that limit itself, so no get waits longer than twice the total
/// time limit and 2 s. Under the store's lock, a token another process
/// stored is taken instead of fetching when it is not due, and also when
/// it is due but valid and the caller had no valid token (its refresh is
/// then left to a later get, in the background). If a refresh fails
/// while the cached token is valid, that token is still served and the
/// next get after a wait (1 s, doubling to 30 s, or the server's
/// `Retry-After`, up to 5 minutes) starts another refresh. With no valid token, the
/// error is returned, and the same error, with every detail of the
/// original, is returned at once, without asking the server, until that
/// wait has passed.
///
/// The token is the caller's to free with `criteo_token_free`; it stays
/// valid after the source is freed. On failure writes a `criteo_error` to
/// `*error_out` when it is not NULL.
///
/// Returns `CRITEO_OK`, `CRITEO_ERR_INVALID_ARGUMENT` when `source` or
/// `token_out` is NULL, `CRITEO_ERR_TIMEOUT` when the fetch it waited for
/// outlasted the limit, or any status of `criteo_get_token`. Thread-safe,
/// usable in a child after `fork()`, and deferring `pthread_cancel` as
/// `criteo_get_token` does.
///
/// # Safety
/// `source` is NULL or a live source; `token_out` and `error_out` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_get(
    source: *const criteo_token_source,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        answer_with_token(source, token_out, error_out, |source| {
            match source.cached() {
                Some(token) => Ok(Some(token)),
                None => blocking(|| source.get()).map(Some),
            }
        })
    }
}

/// The non-blocking form of `criteo_token_source_get`, for callers that
/// wait in their own runtime (an event loop, goroutines, Ruby threads): it
/// answers what `criteo_token_source_get` would answer at once, and never
/// fetches, never waits for a fetch or for the refresh callback. It may
/// wait for the source's lock, which no thread holds during network I/O.
///
/// On `CRITEO_OK`, `*token_out` is a valid token (the caller's to free
/// with `criteo_token_free`), or NULL when a fetch is due or under way:
/// then call `criteo_token_source_get`, which fetches or waits for that
/// fetch. A token due for refresh is written, and its refresh started on a
/// thread of the library's own, as `criteo_token_source_get` does (NULL
/// when no thread could be started, so that `criteo_token_source_get`
/// refreshes). When `criteo_token_source_get` would fail at once (a failed
/// fetch whose wait has not passed, a spent authorization code), returns
/// that error and writes it to `*error_out` when it is not NULL.
///
/// Returns `CRITEO_OK`, `CRITEO_ERR_INVALID_ARGUMENT` when `source` or
/// `token_out` is NULL, or the status of the kept error. Thread-safe and
/// usable in a child after `fork()`; not a cancellation point.
///
/// # Safety
/// `source` is NULL or a live source; `token_out` and `error_out` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_try_get(
    source: *const criteo_token_source,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        answer_with_token(source, token_out, error_out, |source| {
            source.try_get().transpose()
        })
    }
}

/// As `criteo_token_source_get`, for callers that must stay responsive
/// while a fetch runs (an interpreter that handles interrupts between
/// calls, an event loop): a fetch runs on a worker thread of the
/// library's own (at most 16 per process; a fetch waits in line for one),
/// and this call waits at most `wait_ms` milliseconds (0: not at all) for
/// its result. Call it again to go on waiting. A token due for refresh is
/// written at once, its refresh started as `criteo_token_source_get` does
/// (when no thread can be started, the next call tries again). A fetch
/// nobody waits for any more still ends within the client's time limits,
/// and its token is cached; it keeps the source's state alive until then,
/// so the source may be freed meanwhile, and the library stays loaded
/// (`dlclose` leaves it mapped once it has started a thread). The refresh
/// callback of such a fetch runs on the library's thread.
///
/// On `CRITEO_OK`, `*token_out` is a valid token (the caller's to free with
/// `criteo_token_free`), or NULL when the fetch is still under way. On
/// failure writes a `criteo_error` to `*error_out` when it is not NULL.
///
/// Returns `CRITEO_OK`, `CRITEO_ERR_INVALID_ARGUMENT` when `source` or
/// `token_out` is NULL, `CRITEO_ERR_TRANSPORT` when no thread could be
/// started (`ulimit -u`), or any status of `criteo_token_source_get`.
/// Thread-safe, usable in a child after `fork()`, and deferring
/// `pthread_cancel` as `criteo_get_token` does.
///
/// # Safety
/// `source` is NULL or a live source; `token_out` and `error_out` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_get_within(
    source: *const criteo_token_source,
    wait_ms: u32,
    token_out: *mut *mut criteo_token,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    let wait = Duration::from_millis(wait_ms.into());
    // SAFETY: forwarded from this function's contract.
    unsafe {
        answer_with_token(source, token_out, error_out, |source| {
            blocking(|| source.get_within(wait)).transpose()
        })
    }
}

/// Writes the `Authorization` header value of a valid token (`"Bearer
/// eyJ..."`, NUL-terminated) into `buffer`, getting the token exactly as
/// `criteo_token_source_get` would: the cached one (whose refresh it
/// starts in the background when due), or a new one when there is no valid
/// one (then it fetches or waits, as that function does). The hot path
/// for programs that build their own requests: a cached token is copied
/// out without a lock, an allocation, or a reference count that threads
/// share, so the cost per call does not grow with the number of threads.
///
/// `buffer` receives at most `capacity` bytes. `*length_out`, when
/// `length_out` is not NULL, receives the value's length without the NUL.
/// When `capacity` is too small (it must be that length + 1), the call
/// returns `CRITEO_ERR_INVALID_ARGUMENT` with `*length_out` set to the
/// length and `buffer` left untouched: `buffer` may be NULL with
/// `capacity` 0 to ask for the length. On failure writes a `criteo_error`
/// to `*error_out` when it is not NULL. The value is a secret: wipe your
/// copy when done with it.
///
/// Returns `CRITEO_OK`, `CRITEO_ERR_INVALID_ARGUMENT` when `source` is
/// NULL, `buffer` is NULL with a non-zero `capacity`, or `capacity` is too
/// small, or any status of `criteo_token_source_get`. Thread-safe, usable
/// in a child after `fork()`, and deferring `pthread_cancel` when it
/// fetches or waits, as `criteo_token_source_get` does.
///
/// # Safety
/// `source` is NULL or a live source; `buffer` is NULL or writable for
/// `capacity` bytes; `length_out` and `error_out` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_authorization(
    source: *const criteo_token_source,
    buffer: *mut c_char,
    capacity: usize,
    length_out: *mut usize,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: source is NULL or a live source, as documented.
        let source = unsafe { borrow_source(source) }?;
        // SAFETY: buffer, capacity and length_out as documented.
        let copy_out = |token: &Arc<criteo_token>| unsafe {
            write_text(token.authorization_bytes(), buffer, capacity, length_out)
        };
        match source.read_cached(copy_out) {
            Some(written) => written,
            None => copy_out(&blocking(|| source.get())?),
        }
    })
}

/// Drops the cached token, whichever it is: the next
/// `criteo_token_source_get` fetches a new one (one fetch for all
/// threads), unless another process has stored a newer one. After an API
/// 401, prefer `criteo_token_source_reject`, which drops the token only
/// if it is still the one the 401 answered. With a store, the token is
/// dropped there too, as `criteo_token_source_reject` does. NULL is a
/// no-op. Thread-safe; never waits for a fetch.
///
/// # Safety
/// `source` is NULL or a live source.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_invalidate(source: *const criteo_token_source) {
    run_infallible((), || {
        // SAFETY: source is NULL or a live source, as documented.
        if let Ok(source) = unsafe { borrow_source(source) } {
            source.invalidate();
        }
    })
}

/// Shares the source's token with every source of the same lineage that
/// uses the same store: one cached token and one fetch at a time for all
/// of them, and a rotated refresh token that none loses. The lineage is
/// the host, the grant, `client_id` and `client_secret`, and for the
/// `authorization_code` and `refresh_token` grants the code or refresh
/// token the source was made with: a source with another secret never
/// finds the token, and a refresh token provisioned anew starts a lineage
/// of its own.
///
/// `place` names the store:
/// - a directory, shared by the processes of this user on this host. It
///   is created (mode 0700) when it does not exist, and refused when it is
///   a symbolic link, is not owned by the effective user, or is open to
///   group or others. Its files are mode 0600. A store on a network file
///   system (NFS) is not supported.
/// - `redis://[[user]:password@]host[:port][/db][?prefix=P]`, or
///   `rediss://` for TLS (verified with this source's client's CA file,
///   else `SSL_CERT_FILE`/`SSL_CERT_DIR`, else the system's store): a
///   Redis server (or any server of its protocol, such as Valkey) shared
///   by the hosts of a fleet. The user and password are percent-decoded;
///   `AUTH` sends the password alone or the user and password. Keys
///   start with `P` (default `criteo-oauth:`), so that an ACL user can be
///   limited to them. The password is never in a message or trace.
/// - NULL: what `$CRITEO_OAUTH_STORE` names when it is set and not empty,
///   else the default directory: `$XDG_RUNTIME_DIR/criteo-oauth` when
///   `XDG_RUNTIME_DIR` names an existing directory by an absolute path,
///   else `/tmp/criteo-oauth-<uid>`.
///
/// The string is copied. Records are sealed (AES-256-GCM, under a key
/// derived from the client secret and the lineage) and named by a keyed
/// hash: whoever reads the store without the client secret learns no
/// token and cannot forge one. A record that does not open is taken as
/// absent, replaced, and reported by `criteo_token_source_store_error`.
///
/// A fetch holds the store's lock from before it asks the server until
/// the new token and refresh token are written; under it, a token another
/// process or host stored is taken instead when it is not due (or due but
/// valid, for a get that has no token). Another process waits for the
/// lock at most the client's total time limit and 1 s (then
/// `CRITEO_ERR_TIMEOUT`, without a fetch). A failure the server states
/// about the lineage (a 4xx or 5xx answer) and its `Retry-After` are
/// shared the same way; a process's own failure (its connection, proxy,
/// trust store or time limits) holds up no other process. In a directory
/// the lock belongs to the process that took it: a process killed while
/// it holds it, or a child of `fork()`, holds up no other. On Redis the
/// lock is a lease of the client's total time limit and 2 s: a host that
/// dies or stops holds the others up until it lapses, and a write is made
/// only over the record its writer read, so a host that wakes after its
/// lease never puts an older lineage over a newer one. A refresh refused
/// with `invalid_grant` reads the store again before it fails (another
/// host may have rotated the refresh token). Across hosts, what is stored
/// is stamped on Redis's clock (`TIME`, read under each lock; a store
/// whose clock cannot be read is not used for that fetch), whatever the
/// hosts' own clocks say, and a token stored by another host is taken as
/// received 5 s earlier than its stamp says. A lock try that Redis runs
/// after its sender gave up takes nothing. A host that finds a record older than the one it last read or
/// wrote (a store restored, emptied, or a replica behind) keeps its own
/// lineage and writes it back.
///
/// A directory stays small: the files of a lineage whose record no longer
/// serves (its token expired and it holds no refresh token, or the server
/// refused its refresh token) are removed an hour later by a sweep that a
/// lock of the directory starts at most every 10 minutes, on a worker
/// thread; a lineage holding a live refresh token is kept.
///
/// When the store cannot be used (a full disk, a read-only directory;
/// Redis down, slow, refusing the password, answering garbage), gets
/// still fetch and return tokens, each store operation on Redis taking at
/// most 500 ms; `criteo_token_source_store_error` tells why, and a rotated
/// refresh token is kept in memory and written at the next fetch once the
/// store works again. Without this call, a source is shared only with
/// the children it has after `fork()`.
///
/// A source of `criteo_token_source_new_named` started from a token writes
/// it into the store now (taking the lineage's lock, waiting for another
/// holder within the client's time limit), replacing what the store held
/// under that name; when that fails, `criteo_token_source_store_error`
/// says why and the token is written at the next fetch.
///
/// Returns `CRITEO_OK`, or `CRITEO_ERR_INVALID_ARGUMENT` when `source` is
/// NULL, `place` is empty or not UTF-8, the directory or URL is refused
/// (the message says why, without the URL's user info), or the source has
/// already been used by a get or already has a store; `CRITEO_ERR_TLS`
/// when `rediss://` needs the system's trust store and it cannot be read.
/// Nothing is connected to here (but for a named lineage's first token,
/// as above): a Redis server that is down is found at the first fetch. Call it once, before
/// the first get; not thread-safe with gets on the same source. Sources
/// on Redis share one connection per server in each process; a child of
/// `fork()` makes its own and never uses its parent's.
///
/// # Safety
/// `source` is NULL or a live source; `place` is NULL or NUL-terminated;
/// `error_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_set_store(
    source: *mut criteo_token_source,
    place: *const c_char,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: source is NULL or a live source, as documented.
        let source = unsafe { borrow_source(source) }?;
        // SAFETY: place is NULL or NUL-terminated, as documented.
        let place = unsafe { borrow_optional_str(place, "store") }?;
        if place == Some("") {
            return Err(Error::invalid_argument("store must not be empty"));
        }
        source.set_store(place)
    })
}

/// Tells whether the source's store is working: `CRITEO_OK` when its last
/// operation succeeded (or nothing has gone wrong yet), else the failure
/// of that operation, such as a write to a full disk, which is written to
/// `*error_out` when it is not NULL. A store failure never fails a get:
/// the fetched token is returned all the same, but until the store works
/// again other processes do not see it.
///
/// Returns `CRITEO_OK`, `CRITEO_ERR_STORE`, or `CRITEO_ERR_INVALID_ARGUMENT`
/// when `source` is NULL. Thread-safe.
///
/// # Safety
/// `source` is NULL or a live source; `error_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_store_error(
    source: *const criteo_token_source,
    error_out: *mut *mut criteo_error,
) -> criteo_status {
    // SAFETY: error_out is NULL or writable, as documented.
    let error_out = unsafe { OutParam::optional(error_out) };
    run_fallible(error_out, || {
        // SAFETY: source is NULL or a live source, as documented.
        let source = unsafe { borrow_source(source) }?;
        source.store_error().map_or(Ok(()), Err)
    })
}

/// Drops the cached token if it is still `access_token`, for when the API
/// answered 401 to it: the next `criteo_token_source_get` fetches a new
/// one, unless another thread or process already has. Of N threads or
/// processes that saw a 401 for the same token, the first causes one
/// fetch and the others reuse its token; a late 401 for a token already
/// replaced drops nothing. With a store, the token is dropped there too
/// (when its lock is free; a fetch that holds it replaces the token
/// anyway), and this source never takes that token back from the store.
/// NULL `source` or `access_token` is a no-op. Thread-safe; never waits
/// for a fetch (on Redis it makes up to four round trips, each within
/// 500 ms).
///
/// # Safety
/// `source` is NULL or a live source; `access_token` is NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_reject(
    source: *const criteo_token_source,
    access_token: *const c_char,
) {
    run_infallible((), || {
        // SAFETY: source is NULL or a live source, as documented.
        let Ok(source) = (unsafe { borrow_source(source) }) else {
            return;
        };
        // SAFETY: access_token is NULL or NUL-terminated, as documented.
        if let Ok(access_token) = unsafe { borrow_str(access_token, "access_token") } {
            source.reject(access_token);
        }
    })
}

/// Frees a source: its cached token, its copy of the credentials (wiped
/// with zeros) and its reference to the client. NULL is a no-op. No call
/// may be using the source at the time; tokens it handed out stay valid. A
/// fetch on the library's thread (a refresh in the background, a fetch of
/// `criteo_token_source_get_within`) goes on, without being waited for,
/// and what it holds is freed when it ends. The refresh callback is never
/// called once this returns: if it is running on the library's thread,
/// this waits for it to return, so the
/// program may release the callback's `user_data` right after. Not thread-safe
/// with other calls on the same source; fork-safe.
///
/// # Safety
/// `source` is NULL or a live source, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn criteo_token_source_free(source: *mut criteo_token_source) {
    // SAFETY: the caller hands over a live source or NULL, as documented.
    run_infallible((), || blocking(|| unsafe { free_handle(source) }))
}
