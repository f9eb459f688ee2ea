//! Input validation of C strings: arbitrary bytes (any encoding, any
//! length, control characters) given to every function that takes a
//! string (those that would send a request, with arguments that pass, are
//! left out). Each must answer CRITEO_OK or CRITEO_ERR_INVALID_ARGUMENT with a
//! message naming the argument, and never crash.
//! Input: up to six strings separated by NUL bytes.
#![no_main]

use std::ffi::{CStr, CString};
use std::ptr;

use criteo_oauth::ffi::client::*;
use criteo_oauth::ffi::consent::*;
use criteo_oauth::ffi::error::*;
use criteo_oauth::ffi::source::*;
use criteo_oauth::ffi::status::*;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "grant_type",
    "client_id",
    "client_secret",
    "redirect_uri",
    "code",
    "refresh_token",
];

/// Checks the status and, on failure, that the message names an argument.
fn check(status: criteo_status, error: *mut criteo_error, names: &[&str]) {
    assert!(
        status == CRITEO_OK || status == CRITEO_ERR_INVALID_ARGUMENT,
        "status {status}"
    );
    if error.is_null() {
        return;
    }
    // SAFETY: a live error from the library, freed once.
    let message = unsafe { CStr::from_ptr(criteo_error_message(error)) }
        .to_str()
        .unwrap()
        .to_owned();
    unsafe { criteo_error_free(error) };
    assert!(
        names.iter().any(|name| message.starts_with(name)),
        "{message:?} names no argument"
    );
}

fuzz_target!(|data: &[u8]| {
    let strings: Vec<CString> = data
        .split(|&b| b == 0)
        .take(6)
        .map(|s| CString::new(s).unwrap())
        .collect();
    let pointer = |i: usize| strings.get(i).map_or(ptr::null(), |s| s.as_ptr());
    let client = {
        let builder = criteo_client_builder_new();
        let mut client = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: a live builder and NUL-terminated strings or NULL.
        unsafe {
            criteo_client_builder_set_user_agent(builder, pointer(3));
            criteo_client_builder_set_proxy(builder, pointer(4));
            criteo_client_builder_set_host(builder, pointer(5));
            let status = criteo_client_builder_build(builder, &mut client, &mut error);
            check(
                status,
                error,
                &[
                    "base_url",
                    "proxy_url",
                    "user_agent",
                    "HTTPS_PROXY",
                    "https_proxy",
                    "ALL_PROXY",
                    "all_proxy",
                    "http_proxy",
                ],
            );
        }
        client
    };
    let mut source = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: a client or NULL, strings or NULL, writable out-parameters.
    unsafe {
        let status = criteo_token_source_new(
            client,
            pointer(0),
            pointer(1),
            pointer(2),
            pointer(3),
            pointer(4),
            pointer(5),
            &mut source,
            &mut error,
        );
        let prefixes: Vec<&str> = NAMES
            .iter()
            .copied()
            .chain(["code is required", "refresh_token is required"])
            .collect();
        check(status, error, &prefixes);
        criteo_token_source_free(source);
    }
    // The consent's and the named lineage's strings (nothing is sent).
    let mut consent = ptr::null_mut();
    let mut source = ptr::null_mut();
    // SAFETY: a client or NULL, strings or NULL, writable out-parameters.
    unsafe {
        let mut error = ptr::null_mut();
        let status = criteo_consent_new(client, pointer(1), pointer(3), &mut consent, &mut error);
        check(status, error, &["client_id", "redirect_uri"]);
        criteo_consent_free(consent);
        let mut error = ptr::null_mut();
        let status = criteo_token_source_new_named(
            client,
            pointer(1),
            pointer(2),
            pointer(0),
            ptr::null(),
            &mut source,
            &mut error,
        );
        check(status, error, &["client_id", "client_secret", "name"]);
        criteo_token_source_free(source);
        let builder = criteo_client_builder_new();
        criteo_client_builder_set_consent_url(builder, pointer(0));
        let mut other = ptr::null_mut();
        let mut error = ptr::null_mut();
        let status = criteo_client_builder_build(builder, &mut other, &mut error);
        check(
            status,
            error,
            &[
                "consent_url",
                "url",
                "HTTPS_PROXY",
                "https_proxy",
                "ALL_PROXY",
                "all_proxy",
            ],
        );
        criteo_client_free(other);
        criteo_client_free(client);
    }
});
