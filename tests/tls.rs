//! TLS: a token server with a certificate from a CA made at test time.

mod support;

use criteo_oauth::ffi::status::*;
use criteo_test_server::{TestCa, Validity};
use support::{Setup, TestServer, demo_call, status_name};

fn tls_server(ca: &TestCa, names: &[&str], validity: Validity) -> TestServer {
    TestServer::start_tls(ca.server_config(names, validity)).unwrap()
}

#[test]
fn a_token_over_tls_with_the_ca_file() {
    let ca = TestCa::new();
    let server = tls_server(&ca, &["127.0.0.1"], Validity::Current);
    let ca_file = ca.pem_path().to_str().unwrap();
    let client = Setup {
        ca_file: Some(ca_file),
        ..Setup::new(&server.url())
    }
    .build()
    .unwrap();
    for _ in 0..3 {
        assert_eq!(client.get(&demo_call()).unwrap().token_type, "Bearer");
    }
    assert_eq!(server.connections(), 1, "the TLS connection is reused");
}

fn tls_failure(setup: Setup) -> String {
    let error = setup.build().unwrap().get(&demo_call()).unwrap_err();
    assert_eq!(
        status_name(error.status),
        status_name(CRITEO_ERR_TLS),
        "{}",
        error.message
    );
    assert_eq!(error.http_status, 0);
    error.message
}

#[test]
fn an_unknown_ca_is_a_tls_error() {
    let ca = TestCa::new();
    let server = tls_server(&ca, &["127.0.0.1"], Validity::Current);
    // The system's trust store does not hold this CA.
    let message = tls_failure(Setup::new(&server.url()));
    assert!(message.contains("UnknownIssuer"), "{message}");
    // Nor does another CA's bundle.
    let other = TestCa::new();
    let message = tls_failure(Setup {
        ca_file: other.pem_path().to_str(),
        ..Setup::new(&server.url())
    });
    assert!(
        message.contains("UnknownIssuer") || message.contains("BadSignature"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn a_name_mismatch_is_a_tls_error() {
    let ca = TestCa::new();
    let server = tls_server(&ca, &["other.example"], Validity::Current);
    let message = tls_failure(Setup {
        ca_file: ca.pem_path().to_str(),
        ..Setup::new(&server.url())
    });
    assert!(message.contains("not valid for name"), "{message}");
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    let ca = TestCa::new();
    let server = tls_server(&ca, &["127.0.0.1"], Validity::Expired);
    let message = tls_failure(Setup {
        ca_file: ca.pem_path().to_str(),
        ..Setup::new(&server.url())
    });
    assert!(message.contains("expired"), "{message}");
}

#[test]
fn unusable_ca_files_are_refused_naming_the_path() {
    let missing = "/nonexistent/criteo-ca.pem";
    let error = Setup {
        ca_file: Some(missing),
        ..Setup::new("https://api.criteo.com")
    }
    .build()
    .err()
    .unwrap();
    assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT);
    assert!(
        error
            .message
            .starts_with("ca_file /nonexistent/criteo-ca.pem: cannot read it"),
        "{}",
        error.message
    );

    let not_pem =
        std::env::temp_dir().join(format!("criteo-oauth-not-pem-{}.pem", std::process::id()));
    std::fs::write(&not_pem, "hello\n").unwrap();
    let path = not_pem.to_str().unwrap();
    let error = Setup {
        ca_file: Some(path),
        ..Setup::new("https://api.criteo.com")
    }
    .build()
    .err()
    .unwrap();
    assert_eq!(
        error.message,
        format!("ca_file {path}: holds no PEM certificate")
    );
    std::fs::remove_file(&not_pem).unwrap();
}
