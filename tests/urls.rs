//! Host and proxy URLs, through the C API, read at least as strictly as
//! curl reads them: a URL curl refuses is refused here, and where curl
//! guesses (a leading zero, an empty port, `127.1`, a percent-encoded
//! host) the library refuses too, naming the argument, rather than send a
//! secret somewhere the caller did not write.

mod support;

use std::ffi::CString;
use std::ptr;

use criteo_oauth::ffi::client::*;
use criteo_oauth::ffi::status::*;
use support::{ErrorView, Setup, take_error};

/// What curl 7.88 does with a URL: `Refuses` it (exit 3, "URL using bad or
/// illegal format"), or `Reads` it and goes on to connect.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Curl {
    Refuses,
    Reads,
}
use Curl::*;

/// (base URL, curl's verdict, whether the library takes it).
const HOSTS: &[(&str, Curl, bool)] = &[
    ("http://127.0.0.1:1", Reads, true),
    ("http://127.0.0.1:65535", Reads, true),
    ("http://[::1]:8080", Reads, true),
    ("http://[::1]", Reads, true),
    ("http://localhost:8080", Reads, true),
    ("https://api.criteo.com:443", Reads, true),
    ("https://api.criteo.com.", Reads, true),
    ("http://127.0.0.1:65536", Refuses, false),
    ("http://127.0.0.1:65616", Refuses, false),
    ("http://127.0.0.1:70000", Refuses, false),
    ("https://127.0.0.1:70000", Refuses, false),
    ("http://127.0.0.1:99999", Refuses, false),
    ("http://[::1]:99999", Refuses, false),
    ("http://127.0.0.1:+80", Refuses, false),
    ("http://127.0.0.1:-1", Refuses, false),
    ("http://127.0.0.1:0x50", Refuses, false),
    ("http://127.0.0.1:80:80", Refuses, false),
    ("http://127.0.0.1:\u{668}\u{660}", Refuses, false),
    ("http://[::1", Refuses, false),
    ("http://::1", Refuses, false),
    // Where curl guesses, the library does not.
    ("http://127.0.0.1:0", Reads, false),
    ("http://127.0.0.1:0080", Reads, false),
    ("http://127.0.0.1:00000000080", Reads, false),
    ("http://127.0.0.1:", Reads, false),
    ("http://127.0.0.1:/", Reads, false),
    ("http://[fe80::1%25lo]:1", Reads, false),
    ("http://u:p@127.0.0.1:1", Reads, false),
    ("http://@127.0.0.1:1", Reads, false),
    ("http://%6cocalhost:1", Reads, false),
    ("http://127.1", Reads, false),
    ("http://0x7f000001", Reads, false),
    ("http://2130706433", Reads, false),
    ("http://127.0.0.1.", Reads, false),
    ("http://localhost.", Reads, false),
];

fn set_host(url: &str) -> Result<(), ErrorView> {
    let builder = criteo_client_builder_new();
    let url = CString::new(url).unwrap();
    let mut error = ptr::null_mut();
    let mut client = ptr::null_mut();
    // SAFETY: a live builder, consumed by build; valid out-pointers.
    unsafe {
        let status = criteo_client_builder_set_host(builder, url.as_ptr());
        let built = criteo_client_builder_build(builder, &mut client, &mut error);
        criteo_client_free(client);
        match (status, built) {
            (CRITEO_OK, CRITEO_OK) => Ok(()),
            (CRITEO_OK, _) => panic!("set_host took it but build failed: {:?}", take_error(error)),
            _ => Err(take_error(error)),
        }
    }
}

#[test]
fn host_urls_at_least_as_strict_as_curl() {
    for &(url, curl, accepted) in HOSTS {
        assert!(!(curl == Refuses && accepted), "{url}: curl refuses it");
        match set_host(url) {
            Ok(()) => assert!(accepted, "{url} was accepted"),
            Err(error) => {
                assert!(!accepted, "{url} was refused: {}", error.message);
                assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT, "{url}");
                assert!(
                    error.message.starts_with("base_url "),
                    "{url}: the message names the argument: {}",
                    error.message
                );
            }
        }
    }
}

#[test]
fn refusals_say_what_is_wrong() {
    let message = |url| set_host(url).unwrap_err().message;
    assert_eq!(
        message("http://127.0.0.1:65616"),
        "base_url has an invalid port \"65616\" (expected a number from 1 to 65535, \
         in plain decimal digits)"
    );
    assert_eq!(
        message("http://127.1"),
        "base_url has a host (127.1) that is not a valid IPv4 address \
         (write it as four decimal numbers, e.g. 127.0.0.1)"
    );
    assert_eq!(
        message("http://%6cocalhost:1"),
        "base_url is not a valid URL (expected e.g. https://api.criteo.com)"
    );
    assert!(message("http://localhost.").contains("not loopback"));
}

#[test]
fn proxy_urls_are_read_as_strictly() {
    for (proxy, accepted) in [
        ("http://127.0.0.1:3128", true),
        ("http://user:pw@127.0.0.1:3128", true),
        ("127.0.0.1:3128", true),
        ("http://127.0.0.1:99999", false),
        ("http://user:pw@127.0.0.1:99999", false),
        ("http://127.0.0.1:65536", false),
        ("http://127.0.0.1:+3128", false),
        ("http://127.0.0.1:03128", false),
        ("http://%3127.0.0.1:3128", false),
    ] {
        let built = Setup {
            proxy: Some(proxy),
            ..Setup::new("https://api.criteo.com")
        }
        .build();
        match built {
            Ok(_) => assert!(accepted, "{proxy} was accepted"),
            Err(error) => {
                assert!(!accepted, "{proxy} was refused: {}", error.message);
                assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT);
                assert!(error.message.starts_with("proxy_url "), "{}", error.message);
                assert!(!error.message.contains("pw"), "{}", error.message);
            }
        }
    }
}
