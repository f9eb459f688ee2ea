//! Calls the C ABI the way a C program does, and copies what comes back
//! into plain Rust values for assertions.
#![allow(dead_code)] // each test file uses its own part of this module

pub mod fake_clock;
pub mod redis;
pub mod trace;

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use criteo_oauth::ffi::client::*;
use criteo_oauth::ffi::error::*;
use criteo_oauth::ffi::get_token::{criteo_get_token, criteo_get_token_pkce};
use criteo_oauth::ffi::source::*;
use criteo_oauth::ffi::status::*;
use criteo_oauth::ffi::token::*;

#[allow(unused_imports)] // not every test file starts an in-process server
pub use criteo_test_server::TestServer;
pub use trace::Trace;

/// A token, read through every accessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub access_token: String,
    pub token_type: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub expires_at: i64,
    pub authorization: String,
}

/// An error, read through every accessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorView {
    pub status: criteo_status,
    pub http_status: u16,
    pub code: Option<String>,
    pub description: Option<String>,
    pub uri: Option<String>,
    pub message: String,
    pub retry_after: i64,
}

/// The arguments of `criteo_get_token`, as Rust text.
pub type Call<'a> = criteo_oauth::TokenRequestFields<'a>;

/// `client_credentials` with the test server's demo client.
pub fn demo_call() -> Call<'static> {
    Call {
        grant_type: "client_credentials",
        client_id: criteo_test_server::DEMO_CLIENT_ID,
        client_secret: criteo_test_server::DEMO_CLIENT_SECRET,
        ..Call::default()
    }
}

/// Checks the OAuth error of the test server's `400-json` answer, every field.
pub fn assert_invalid_grant(error: &ErrorView) {
    assert_eq!(error.status, CRITEO_ERR_BAD_REQUEST, "{}", error.message);
    assert_eq!(error.http_status, 400);
    assert_eq!(error.code.as_deref(), Some("invalid_grant"));
    assert_eq!(
        error.description.as_deref(),
        Some("The authorization code has expired")
    );
    assert_eq!(
        error.uri.as_deref(),
        Some("https://developers.criteo.com/oauth")
    );
}

/// Owns a `criteo_client` and frees it on drop.
pub struct Client(*mut criteo_client);

// SAFETY: criteo_client is documented as safe to share between threads.
unsafe impl Send for Client {}
// SAFETY: as above.
unsafe impl Sync for Client {}

/// Client settings for a test; `build` goes through every builder call.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    pub host: &'a str,
    pub connect_ms: u32,
    pub total_ms: u32,
    pub max_retries: u32,
    /// Token requests at once; `None`: the default.
    pub max_concurrent_requests: Option<u32>,
    pub ca_file: Option<&'a str>,
    /// `None`: from the environment.
    pub proxy: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Where the trace callback puts its events; `None`: no callback.
    pub trace: Option<&'a Trace>,
}

impl<'a> Setup<'a> {
    /// Generous time limits, no retries (so each test sees one attempt),
    /// and no proxy whatever the environment of the test run says.
    pub fn new(host: &'a str) -> Self {
        Setup {
            host,
            connect_ms: 2_000,
            total_ms: 10_000,
            max_retries: 0,
            max_concurrent_requests: None,
            ca_file: None,
            proxy: Some(""),
            user_agent: None,
            trace: None,
        }
    }

    pub fn build(&self) -> Result<Client, ErrorView> {
        let text = |s: &str| CString::new(s).unwrap();
        let mut client = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: valid pointers throughout; the builder is consumed by build.
        unsafe {
            let builder = criteo_client_builder_new();
            criteo_client_builder_set_host(builder, text(self.host).as_ptr());
            criteo_client_builder_set_timeouts(builder, self.connect_ms, self.total_ms);
            criteo_client_builder_set_max_retries(builder, self.max_retries);
            if let Some(max) = self.max_concurrent_requests {
                criteo_client_builder_set_max_concurrent_requests(builder, max);
            }
            if let Some(path) = self.ca_file {
                criteo_client_builder_set_ca_file(builder, text(path).as_ptr());
            }
            if let Some(proxy) = self.proxy {
                criteo_client_builder_set_proxy(builder, text(proxy).as_ptr());
            }
            if let Some(user_agent) = self.user_agent {
                criteo_client_builder_set_user_agent(builder, text(user_agent).as_ptr());
            }
            if let Some(trace) = self.trace {
                let user_data = trace as *const Trace as *mut std::ffi::c_void;
                criteo_oauth::ffi::trace::criteo_client_builder_set_trace(
                    builder,
                    Some(trace::collect),
                    user_data,
                );
            }
            match criteo_client_builder_build(builder, &mut client, &mut error) {
                CRITEO_OK => Ok(Client(client)),
                _ => Err(take_error(error)),
            }
        }
    }
}

impl Client {
    /// A client for `host` with [`Setup::new`]'s settings.
    pub fn new(host: &str) -> Client {
        Setup::new(host).build().unwrap()
    }

    pub fn with_timeouts(host: &str, connect_ms: u32, total_ms: u32) -> Client {
        Setup {
            connect_ms,
            total_ms,
            ..Setup::new(host)
        }
        .build()
        .unwrap()
    }

    pub fn as_ptr(&self) -> *const criteo_client {
        self.0
    }

    pub fn get(&self, call: &Call) -> Result<TokenView, ErrorView> {
        get_token(self.0, call)
    }

    /// `criteo_get_token_pkce`: the code exchanged with `code_verifier`,
    /// with `call`'s client id, secret, redirect URI and code.
    pub fn get_pkce(&self, call: &Call, code_verifier: &str) -> Result<TokenView, ErrorView> {
        let text = |s: &str| CString::new(s).unwrap();
        let (client_id, client_secret) = (text(call.client_id), text(call.client_secret));
        let redirect_uri = text(call.redirect_uri.unwrap_or_default());
        let (code, verifier) = (text(call.code.unwrap_or_default()), text(code_verifier));
        let mut token = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: a live client, NUL-terminated strings, writable out-parameters.
        let status = unsafe {
            criteo_get_token_pkce(
                self.0,
                client_id.as_ptr(),
                client_secret.as_ptr(),
                redirect_uri.as_ptr(),
                code.as_ptr(),
                verifier.as_ptr(),
                &mut token,
                &mut error,
            )
        };
        outcome(status, token, error)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: the pointer came from criteo_client_builder_build and is freed once.
        unsafe { criteo_client_free(self.0) }
    }
}

/// Runs `body` with the six strings of `call` as C pointers.
fn with_c_fields<R>(call: &Call, body: impl FnOnce([*const c_char; 6]) -> R) -> R {
    let text = |s: &str| CString::new(s).unwrap();
    let optional = |s: Option<&str>| s.map(text);
    let (grant_type, client_id, client_secret) = (
        text(call.grant_type),
        text(call.client_id),
        text(call.client_secret),
    );
    let (redirect_uri, code, refresh_token) = (
        optional(call.redirect_uri),
        optional(call.code),
        optional(call.refresh_token),
    );
    let as_ptr = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    body([
        grant_type.as_ptr(),
        client_id.as_ptr(),
        client_secret.as_ptr(),
        as_ptr(&redirect_uri),
        as_ptr(&code),
        as_ptr(&refresh_token),
    ])
}

/// `criteo_get_token` on `client` (NULL: the default client).
pub fn get_token(client: *const criteo_client, call: &Call) -> Result<TokenView, ErrorView> {
    with_c_fields(call, |fields| raw_get_token(client, fields))
}

/// `criteo_get_token` with arbitrary pointers for the six strings.
pub fn raw_get_token(
    client: *const criteo_client,
    fields: [*const c_char; 6],
) -> Result<TokenView, ErrorView> {
    let mut token = ptr::null_mut();
    let mut error = ptr::null_mut();
    let [
        grant_type,
        client_id,
        client_secret,
        redirect_uri,
        code,
        refresh_token,
    ] = fields;
    // SAFETY: every pointer is NULL or a live NUL-terminated string.
    let status = unsafe {
        criteo_get_token(
            client,
            grant_type,
            client_id,
            client_secret,
            redirect_uri,
            code,
            refresh_token,
            &mut token,
            &mut error,
        )
    };
    outcome(status, token, error)
}

/// Checks the conventions of a call that makes a token, and reads what came back.
pub fn outcome(
    status: criteo_status,
    token: *mut criteo_token,
    error: *mut criteo_error,
) -> Result<TokenView, ErrorView> {
    if status == CRITEO_OK {
        assert!(error.is_null(), "error_out is written only on failure");
        Ok(take_token(token))
    } else {
        assert!(token.is_null(), "token_out is written only on success");
        let view = take_error(error);
        assert_eq!(view.status, status, "the error carries the returned status");
        Err(view)
    }
}

/// Owns a `criteo_token_source` and frees it on drop.
pub struct Source(*mut criteo_token_source);

// SAFETY: criteo_token_source is documented as safe to share between threads.
unsafe impl Send for Source {}
// SAFETY: as above.
unsafe impl Sync for Source {}

impl Source {
    pub fn new(client: &Client, call: &Call) -> Result<Source, ErrorView> {
        let mut source = ptr::null_mut();
        let mut error = ptr::null_mut();
        let status = with_c_fields(call, |[g, i, s, r, c, t]| {
            // SAFETY: live strings, a live client, writable out-parameters.
            unsafe {
                criteo_token_source_new(client.as_ptr(), g, i, s, r, c, t, &mut source, &mut error)
            }
        });
        match status {
            CRITEO_OK => Ok(Source(source)),
            _ => Err(take_error(error)),
        }
    }

    pub fn as_ptr(&self) -> *mut criteo_token_source {
        self.0
    }

    pub fn get(&self) -> Result<TokenView, ErrorView> {
        let mut token = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: a live source and writable out-parameters.
        let status = unsafe { criteo_token_source_get(self.0, &mut token, &mut error) };
        outcome(status, token, error)
    }

    /// `criteo_token_source_try_get`: `Ok(None)` when a fetch is needed.
    pub fn try_get(&self) -> Result<Option<TokenView>, ErrorView> {
        let mut token = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: a live source and writable out-parameters.
        let status = unsafe { criteo_token_source_try_get(self.0, &mut token, &mut error) };
        match (status, token.is_null()) {
            (CRITEO_OK, true) => Ok(None),
            _ => outcome(status, token, error).map(Some),
        }
    }

    /// `criteo_token_source_get_within`: `Ok(None)` while the fetch runs.
    pub fn get_within(&self, wait_ms: u32) -> Result<Option<TokenView>, ErrorView> {
        let mut token = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: a live source and writable out-parameters.
        let status =
            unsafe { criteo_token_source_get_within(self.0, wait_ms, &mut token, &mut error) };
        match (status, token.is_null()) {
            (CRITEO_OK, true) => Ok(None),
            _ => outcome(status, token, error).map(Some),
        }
    }

    pub fn invalidate(&self) {
        // SAFETY: a live source.
        unsafe { criteo_token_source_invalidate(self.0) }
    }

    /// `criteo_token_source_set_store`; `None`: the default directory.
    pub fn set_store(&self, directory: Option<&str>) -> Result<(), ErrorView> {
        let directory = directory.map(|d| CString::new(d).unwrap());
        let mut error = ptr::null_mut();
        let path = directory.as_ref().map_or(ptr::null(), |d| d.as_ptr());
        // SAFETY: a live source, a NUL-terminated string or NULL, a writable out-parameter.
        match unsafe { criteo_token_source_set_store(self.0, path, &mut error) } {
            CRITEO_OK => Ok(()),
            _ => Err(take_error(error)),
        }
    }

    /// `criteo_token_source_store_error`: `None` when the store works.
    pub fn store_error(&self) -> Option<ErrorView> {
        let mut error = ptr::null_mut();
        // SAFETY: a live source and a writable out-parameter.
        match unsafe { criteo_token_source_store_error(self.0, &mut error) } {
            CRITEO_OK => None,
            _ => Some(take_error(error)),
        }
    }

    pub fn reject(&self, access_token: &str) {
        let access_token = CString::new(access_token).unwrap();
        // SAFETY: a live source and a NUL-terminated string.
        unsafe { criteo_token_source_reject(self.0, access_token.as_ptr()) }
    }

    pub fn set_refresh_margin(&self, seconds: u32) {
        // SAFETY: a live source.
        assert_eq!(
            unsafe { criteo_token_source_set_refresh_margin(self.0, seconds) },
            CRITEO_OK
        );
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        // SAFETY: the pointer came from criteo_token_source_new and is freed once.
        unsafe { criteo_token_source_free(self.0) }
    }
}

fn owned(text: *const c_char) -> Option<String> {
    // SAFETY: accessors return NULL or a NUL-terminated string borrowed from a live object.
    (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) }.to_str().unwrap().to_owned())
}

/// Reads every accessor of a token, then frees it.
pub fn take_token(token: *mut criteo_token) -> TokenView {
    assert!(!token.is_null());
    // SAFETY: a live token from the library, freed exactly once at the end.
    unsafe {
        let view = TokenView {
            access_token: owned(criteo_token_access_token(token)).unwrap(),
            token_type: owned(criteo_token_token_type(token)).unwrap(),
            refresh_token: owned(criteo_token_refresh_token(token)),
            expires_in: criteo_token_expires_in(token),
            expires_at: criteo_token_expires_at(token),
            authorization: owned(criteo_token_authorization(token)).unwrap(),
        };
        criteo_token_free(token);
        view
    }
}

/// Reads every accessor of an error, then frees it.
pub fn take_error(error: *mut criteo_error) -> ErrorView {
    assert!(!error.is_null(), "a failed call writes error_out");
    // SAFETY: a live error from the library, freed exactly once at the end.
    unsafe {
        let view = ErrorView {
            status: criteo_error_status(error),
            http_status: criteo_error_http_status(error),
            code: owned(criteo_error_code(error)),
            description: owned(criteo_error_description(error)),
            uri: owned(criteo_error_uri(error)),
            message: owned(criteo_error_message(error)).unwrap(),
            retry_after: criteo_error_retry_after(error),
        };
        criteo_error_free(error);
        view
    }
}

/// One demo call through a fresh client for the named scenario.
pub fn scenario(server: &TestServer, name: &str) -> Result<TokenView, ErrorView> {
    Client::new(&server.scenario_url(name)).get(&demo_call())
}

/// The error the named scenario must give, checked to have `status`.
pub fn expect_error(server: &TestServer, name: &str, status: criteo_status) -> ErrorView {
    let error = scenario(server, name).expect_err(name);
    assert_eq!(
        status_name(error.status),
        status_name(status),
        "{name}: {}",
        error.message
    );
    error
}

/// The error the named scenario's answer must give, checked to have
/// `status` and to name the URL that answered; its message is what
/// follows "answered ".
pub fn expect_answer(server: &TestServer, name: &str, status: criteo_status) -> ErrorView {
    let mut error = expect_error(server, name, status);
    error.message = after_answered(&error.message, &server.scenario_url(name));
    error
}

/// What a message says after "POST {host}/oauth2/token answered ",
/// checked to start so.
pub fn after_answered(message: &str, host: &str) -> String {
    let prefix = format!("POST {host}/oauth2/token answered ");
    match message.strip_prefix(&prefix) {
        Some(rest) => rest.to_owned(),
        None => panic!("{message:?} does not start with {prefix:?}"),
    }
}

/// The name of a status, for readable assertion failures.
pub fn status_name(status: criteo_status) -> String {
    owned(criteo_status_str(status)).unwrap()
}

/// The test server as a separate process (`criteo-test-server`, built by
/// `cargo build --workspace`), for tests that measure this process alone.
pub struct ServerProcess {
    child: std::process::Child,
    pub url: String,
}

impl ServerProcess {
    pub fn start() -> ServerProcess {
        use std::io::BufRead;
        let path = std::env::var("CRITEO_TEST_SERVER").unwrap_or_else(|_| {
            format!(
                "{}/target/debug/criteo-test-server",
                env!("CARGO_MANIFEST_DIR")
            )
        });
        let mut child = std::process::Command::new(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {path} (run `cargo build --workspace` first): {e}")
            });
        let mut url = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        ServerProcess {
            child,
            url: url.trim().to_owned(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
