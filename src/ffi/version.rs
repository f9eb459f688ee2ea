//! The library's version.

use std::ffi::c_char;

use crate::ffi::glue::run_infallible;

const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(version) => version,
    Err(_) => panic!("the crate version has no NUL"),
};

/// The version of the loaded library, e.g. `"0.1.0"`; compare with the
/// `CRITEO_OAUTH_VERSION_*` macros of the header you compiled against.
///
/// Returns a static string: never NULL, never freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn criteo_version() -> *const c_char {
    run_infallible(VERSION.as_ptr(), || VERSION.as_ptr())
}
