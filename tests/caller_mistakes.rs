//! Every mistake a C caller can make gives CRITEO_ERR_INVALID_ARGUMENT with
//! a message naming the argument, before anything is sent.

mod support;

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use criteo_oauth::ffi::client::*;
use criteo_oauth::ffi::error::*;
use criteo_oauth::ffi::get_token::criteo_get_token;
use criteo_oauth::ffi::status::*;
use criteo_oauth::ffi::token::*;
use criteo_oauth::ffi::version::criteo_version;
use support::{
    Call, Client, ErrorView, TestServer, TokenView, demo_call, raw_get_token, take_error,
};

const NAMES: [&str; 6] = [
    "grant_type",
    "client_id",
    "client_secret",
    "redirect_uri",
    "code",
    "refresh_token",
];

/// Valid strings for all six fields, one of which the test replaces.
fn valid_fields() -> Vec<CString> {
    [
        "client_credentials",
        "demo-client",
        "demo-secret",
        "https://app.example/cb",
        "c",
        "r",
    ]
    .into_iter()
    .map(|s| CString::new(s).unwrap())
    .collect()
}

fn call_with(
    client: &Client,
    replace: usize,
    value: *const c_char,
) -> Result<TokenView, ErrorView> {
    let fields = valid_fields();
    let mut pointers: [*const c_char; 6] = std::array::from_fn(|i| fields[i].as_ptr());
    pointers[replace] = value;
    raw_get_token(client.as_ptr(), pointers)
}

fn fail_with(client: &Client, replace: usize, value: *const c_char) -> ErrorView {
    call_with(client, replace, value).expect_err("the call must fail")
}

fn assert_invalid(error: &ErrorView, message: &str) {
    assert_eq!(
        error.status, CRITEO_ERR_INVALID_ARGUMENT,
        "{}",
        error.message
    );
    assert_eq!(error.message, message);
    assert_eq!(error.http_status, 0);
}

#[test]
fn null_required_strings() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    for (index, name) in NAMES.iter().enumerate().take(3) {
        assert_invalid(
            &fail_with(&client, index, ptr::null()),
            &format!("{name} must not be NULL"),
        );
    }
    assert!(server.requests().is_empty());
}

#[test]
fn invalid_utf8_control_characters_and_absurd_lengths_in_every_string() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let not_utf8 = CString::new(vec![b'o', b'k', 0xC3, 0x28]).unwrap();
    let with_newline = CString::new("ab\ncd").unwrap();
    let with_escape = CString::new("ab\u{1b}[0m").unwrap();
    let with_delete = CString::new("ab\u{7f}").unwrap();
    let too_long = CString::new("x".repeat(64 * 1024 + 1)).unwrap();
    let longest = CString::new("x".repeat(64 * 1024)).unwrap();
    for (index, name) in NAMES.iter().enumerate() {
        assert_invalid(
            &fail_with(&client, index, not_utf8.as_ptr()),
            &format!("{name} is not valid UTF-8 (at byte 2)"),
        );
        for control in [&with_newline, &with_escape, &with_delete] {
            assert_invalid(
                &fail_with(&client, index, control.as_ptr()),
                &format!("{name} contains a control character (at byte 2)"),
            );
        }
        assert_invalid(
            &fail_with(&client, index, too_long.as_ptr()),
            &format!("{name} is longer than 65536 bytes"),
        );
        // The limit itself is accepted: the call goes out (and the demo
        // endpoint says what it thinks of it).
        if let Err(error) = call_with(&client, index, longest.as_ptr()) {
            assert_ne!(
                error.status, CRITEO_ERR_INVALID_ARGUMENT,
                "{name}: {}",
                error.message
            );
        }
    }
    assert_eq!(
        server.requests().len(),
        NAMES.len(),
        "only the longest-allowed calls went out"
    );
}

#[test]
fn empty_strings_and_incomplete_grants() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let empty = CString::new("").unwrap();
    for (index, name) in NAMES.iter().enumerate() {
        assert_invalid(
            &fail_with(&client, index, empty.as_ptr()),
            &format!("{name} must not be empty"),
        );
    }
    let call = Call {
        grant_type: "authorization_code",
        ..demo_call()
    };
    assert_invalid(
        &client.get(&call).unwrap_err(),
        "code is required with grant_type authorization_code",
    );
    let call = Call {
        grant_type: "refresh_token",
        ..demo_call()
    };
    assert_invalid(
        &client.get(&call).unwrap_err(),
        "refresh_token is required with grant_type refresh_token",
    );
    assert!(server.requests().is_empty());
}

#[test]
fn null_token_out_is_refused_and_null_error_out_allowed() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let fields = valid_fields();
    let mut error = ptr::null_mut();
    // SAFETY: valid strings; token_out deliberately NULL.
    let status = unsafe {
        criteo_get_token(
            client.as_ptr(),
            fields[0].as_ptr(),
            fields[1].as_ptr(),
            fields[2].as_ptr(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
            &mut error,
        )
    };
    assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
    assert_eq!(take_error(error).message, "token_out must not be NULL");
    assert!(server.requests().is_empty());

    let wrong_secret = CString::new("wrong").unwrap();
    let mut token = ptr::null_mut();
    // SAFETY: valid strings and token_out; error_out deliberately NULL.
    let status = unsafe {
        criteo_get_token(
            client.as_ptr(),
            fields[0].as_ptr(),
            fields[1].as_ptr(),
            wrong_secret.as_ptr(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
            &mut token,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, CRITEO_ERR_UNAUTHORIZED);
    assert!(token.is_null());
}

#[test]
fn the_default_client_checks_arguments_before_going_anywhere() {
    let error = support::get_token(
        ptr::null(),
        &Call {
            client_id: "",
            ..demo_call()
        },
    )
    .unwrap_err();
    assert_invalid(&error, "client_id must not be empty");
}

fn build(builder: *mut criteo_client_builder) -> Result<Client, ErrorView> {
    let mut client = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: builder is live or NULL and consumed here.
    match unsafe { criteo_client_builder_build(builder, &mut client, &mut error) } {
        CRITEO_OK => {
            // SAFETY: a live client from build.
            unsafe { criteo_client_free(client) };
            Ok(Client::new("http://127.0.0.1:9"))
        }
        _ => Err(take_error(error)),
    }
}

#[test]
fn builder_refuses_bad_settings_and_then_refuses_to_build() {
    let cases: [(&str, &str); 5] = [
        (
            "",
            "base_url is not a valid URL (expected e.g. https://api.criteo.com)",
        ),
        (
            "ftp://api.criteo.com",
            "base_url must start with https:// or http://",
        ),
        (
            "https://u:p@api.criteo.com",
            "base_url must not carry credentials",
        ),
        (
            "https://api.criteo.com?x",
            "base_url must not have a query or fragment",
        ),
        (
            "https://api.criteo.com/\t",
            "base_url contains a space or control character",
        ),
    ];
    for (url, message) in cases {
        let url = CString::new(url).unwrap();
        let builder = criteo_client_builder_new();
        // SAFETY: a live builder and a valid string.
        assert_eq!(
            unsafe { criteo_client_builder_set_host(builder, url.as_ptr()) },
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_invalid(
            &build(builder)
                .err()
                .expect("build fails after a refused setting"),
            message,
        );
    }

    let builder = criteo_client_builder_new();
    // SAFETY: a live builder.
    unsafe {
        assert_eq!(
            criteo_client_builder_set_timeouts(builder, 5_000, 1_000),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            criteo_client_builder_set_max_retries(builder, 11),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            criteo_client_builder_set_host(builder, ptr::null()),
            CRITEO_ERR_INVALID_ARGUMENT
        );
    }
    let error = build(builder).err().unwrap();
    assert_invalid(
        &error,
        "connect_ms (5000 ms) must not exceed total_ms (1000 ms)",
    );
}

#[test]
fn builder_null_arguments() {
    let host = CString::new("https://api.criteo.com").unwrap();
    // SAFETY: deliberately NULL builders and out-parameters.
    unsafe {
        assert_eq!(
            criteo_client_builder_set_host(ptr::null_mut(), host.as_ptr()),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            criteo_client_builder_set_timeouts(ptr::null_mut(), 1, 1),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            criteo_client_builder_set_max_retries(ptr::null_mut(), 1),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            criteo_client_builder_set_max_concurrent_requests(ptr::null_mut(), 1),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_invalid(
            &build(ptr::null_mut()).err().unwrap(),
            "builder must not be NULL",
        );

        let mut error = ptr::null_mut();
        let status =
            criteo_client_builder_build(criteo_client_builder_new(), ptr::null_mut(), &mut error);
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
        assert_eq!(take_error(error).message, "client_out must not be NULL");
    }
    assert!(build(criteo_client_builder_new()).is_ok(), "defaults build");
}

#[test]
fn max_concurrent_requests_is_from_1_to_1024() {
    for (max, accepted) in [(0, false), (1, true), (1024, true), (1025, false)] {
        let builder = criteo_client_builder_new();
        // SAFETY: a live builder, consumed by build.
        let status = unsafe { criteo_client_builder_set_max_concurrent_requests(builder, max) };
        let built = build(builder);
        assert_eq!((status == CRITEO_OK, built.is_ok()), (accepted, accepted));
        if let Err(error) = built {
            assert_invalid(
                &error,
                &format!("max_concurrent_requests ({max}) must be from 1 to 1024"),
            );
        }
    }
}

#[test]
fn every_free_accepts_null_and_every_accessor_survives_null() {
    // SAFETY: NULL is documented as accepted everywhere below.
    unsafe {
        criteo_token_free(ptr::null_mut());
        criteo_error_free(ptr::null_mut());
        criteo_client_free(ptr::null_mut());
        criteo_client_builder_free(ptr::null_mut());
        assert!(criteo_token_access_token(ptr::null()).is_null());
        assert!(criteo_token_token_type(ptr::null()).is_null());
        assert!(criteo_token_refresh_token(ptr::null()).is_null());
        assert!(criteo_token_authorization(ptr::null()).is_null());
        assert_eq!(criteo_token_expires_in(ptr::null()), -1);
        assert_eq!(criteo_token_expires_at(ptr::null()), -1);
        assert_eq!(
            criteo_error_status(ptr::null()),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(criteo_error_http_status(ptr::null()), 0);
        assert!(criteo_error_code(ptr::null()).is_null());
        assert!(criteo_error_description(ptr::null()).is_null());
        assert!(criteo_error_uri(ptr::null()).is_null());
        assert_eq!(criteo_error_retry_after(ptr::null()), -1);
        assert!(
            !CStr::from_ptr(criteo_error_message(ptr::null()))
                .to_bytes()
                .is_empty()
        );
    }
    // Freeing a builder that was never built must not crash.
    // SAFETY: a live builder, freed once.
    unsafe { criteo_client_builder_free(criteo_client_builder_new()) };
}

#[test]
fn status_names_and_version() {
    let name = |status| support::status_name(status);
    let all = [
        (CRITEO_OK, 0, "CRITEO_OK"),
        (
            CRITEO_ERR_INVALID_ARGUMENT,
            1,
            "CRITEO_ERR_INVALID_ARGUMENT",
        ),
        (CRITEO_ERR_TRANSPORT, 2, "CRITEO_ERR_TRANSPORT"),
        (CRITEO_ERR_TIMEOUT, 3, "CRITEO_ERR_TIMEOUT"),
        (CRITEO_ERR_TLS, 4, "CRITEO_ERR_TLS"),
        (
            CRITEO_ERR_INVALID_RESPONSE,
            5,
            "CRITEO_ERR_INVALID_RESPONSE",
        ),
        (CRITEO_ERR_HTTP_STATUS, 6, "CRITEO_ERR_HTTP_STATUS"),
        (CRITEO_ERR_INTERNAL, 7, "CRITEO_ERR_INTERNAL"),
        (CRITEO_ERR_STORE, 8, "CRITEO_ERR_STORE"),
        (CRITEO_ERR_BAD_REQUEST, 400, "CRITEO_ERR_BAD_REQUEST"),
        (CRITEO_ERR_UNAUTHORIZED, 401, "CRITEO_ERR_UNAUTHORIZED"),
    ];
    for (constant, value, text) in all {
        assert_eq!(constant, value, "{text} keeps its number");
        assert_eq!(name(constant), text);
    }
    assert_eq!(name(9), "CRITEO_ERR_UNKNOWN");
    assert_eq!(name(u32::MAX), "CRITEO_ERR_UNKNOWN");
    // SAFETY: a static string.
    let version = unsafe { CStr::from_ptr(criteo_version()) }
        .to_str()
        .unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}
