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
    // The hint names what a shell user can set as well as the C call.
    assert!(
        message.contains("SSL_CERT_FILE") && message.contains("SSL_CERT_DIR"),
        "{message}"
    );
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

/// One rule for a trust file, whatever the order of its blocks: a block
/// without its END line, or an END without its BEGIN, refuses the whole
/// file naming it; a good certificate beside a broken block never makes it
/// pass. Blocks of other kinds and text between blocks are passed over.
#[test]
fn a_broken_pem_block_refuses_the_file_before_or_after_a_good_certificate() {
    let ca = TestCa::new();
    let good = std::fs::read_to_string(ca.pem_path()).unwrap();
    let unended = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n";
    let unbegun = "MIIBAAAA\n-----END CERTIFICATE-----\n";
    let bad_base64 = "-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n";
    let path =
        std::env::temp_dir().join(format!("criteo-oauth-pem-order-{}.pem", std::process::id()));
    let outcome = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Setup {
            ca_file: path.to_str(),
            ..Setup::new("https://api.criteo.com")
        }
        .build()
        .err()
        .map(|error| error.message)
    };
    for broken in [unended, unbegun, bad_base64] {
        for text in [format!("{good}{broken}"), format!("{broken}{good}")] {
            let refused = outcome(&text).unwrap_or_else(|| panic!("accepted: {text}"));
            let prefix = format!("ca_file {}: not a valid PEM file", path.display());
            assert!(refused.starts_with(&prefix), "{refused}");
        }
    }
    // An indented marker is text, as the parser reads it: its END then
    // closes nothing.
    let indented = good.replacen("-----BEGIN", "  -----BEGIN", 1);
    assert!(outcome(&indented).is_some_and(|message| message.contains("line ")));
    // Lines the parser ends with a lone \r, and a marker with more after
    // its label, are read as the parser reads them.
    for broken in [
        "x\r-----BEGIN CERTIFICATE-----\nAAAA\n",
        "-----BEGIN CERTIFICATE- ----\nAAAA\n",
    ] {
        let refused = outcome(&format!("{broken}{good}"));
        assert!(
            refused.is_some_and(|message| message.contains("line ")),
            "{broken:?}"
        );
    }
    assert_eq!(
        outcome(&good.replace('\n', "\r")),
        None,
        "a valid file of lone \\r"
    );
    let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_eq!(outcome(&format!("# a comment\n{key}{good}")), None);
    assert_eq!(outcome(&format!("{good}\ntrailing text\n{key}")), None);
    std::fs::remove_file(&path).unwrap();
}

/// Like nginx on a plain-HTTP port: whatever comes, a 400 in plain text.
#[test]
fn https_to_a_plain_http_server_says_so() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let https_url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut connection in listener.incoming().flatten() {
            let _ = connection.read(&mut [0; 1024]);
            let _ = connection.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\nBad Request",
            );
        }
    });
    let ca = TestCa::new();
    let message = tls_failure(Setup {
        ca_file: ca.pem_path().to_str(),
        ..Setup::new(&https_url)
    });
    assert!(
        message.contains("the server did not answer with TLS: it looks like plain HTTP"),
        "{message}"
    );
}

/// A server whose only certificate has a P-521 key, which rustls with ring
/// cannot verify: OpenSSL's `s_server`, with a CA and key made now.
#[test]
fn a_server_key_of_an_unsupported_type_is_named() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(std::env::var("CI").is_err(), "CI must install openssl");
        eprintln!("SKIP: openssl is not installed (CI installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("criteo-p521-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        &path("key.pem"),
        "-out",
        &path("cert.pem"),
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .args(["-cert", &path("cert.pem"), "-key", &path("key.pem")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let url = format!("https://127.0.0.1:{port}");
    let ca_file = path("cert.pem");
    let message = tls_failure(Setup {
        ca_file: Some(&ca_file),
        ..Setup::new(&url)
    });
    server.kill().unwrap();
    let _ = server.wait();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(message.contains("not P-521 or RSA-PSS"), "{message}");
}
