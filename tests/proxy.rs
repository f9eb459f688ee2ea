//! An explicitly set CONNECT proxy.

mod support;

use criteo_oauth::ffi::status::*;
use criteo_test_server::{ConnectProxy, TestCa, Validity};
use support::{Setup, TestServer, demo_call};

/// A client for `server` that goes through the proxy at `proxy_url`.
fn through(proxy_url: &str, server: &TestServer) -> support::Client {
    Setup {
        proxy: Some(proxy_url),
        ..Setup::new(&server.url())
    }
    .build()
    .unwrap()
}

#[test]
fn requests_go_through_the_proxy_with_its_credentials() {
    let server = TestServer::start().unwrap();
    let proxy = ConnectProxy::start().unwrap();
    let proxy_url = proxy.url().replace("http://", "http://alice:s3cret@");
    let client = through(&proxy_url, &server);
    client.get(&demo_call()).unwrap();
    client.get(&demo_call()).unwrap();
    let tunnels = proxy.tunnels();
    assert_eq!(tunnels.len(), 1, "one tunnel, reused: {tunnels:?}");
    assert_eq!(
        tunnels[0].target,
        server.url().trim_start_matches("http://")
    );
    assert_eq!(
        tunnels[0].authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );
    assert_eq!(server.requests().len(), 2);
}

/// A TLS server, a CONNECT proxy, and a client for `path` on that server
/// through the proxy (the CA and the server live as long as the client
/// needs them: they are returned too).
fn tls_behind_a_proxy(path: &str) -> (TestCa, TestServer, ConnectProxy, support::Client) {
    let ca = TestCa::new();
    let server =
        TestServer::start_tls(ca.server_config(&["127.0.0.1"], Validity::Current)).unwrap();
    let proxy = ConnectProxy::start().unwrap();
    let (proxy_url, url) = (proxy.url(), format!("{}{path}", server.url()));
    let client = Setup {
        proxy: Some(&proxy_url),
        ca_file: ca.pem_path().to_str(),
        ..Setup::new(&url)
    }
    .build()
    .unwrap();
    (ca, server, proxy, client)
}

#[test]
fn tls_goes_through_the_tunnel() {
    let (_ca, _server, proxy, client) = tls_behind_a_proxy("");
    client.get(&demo_call()).unwrap();
    assert_eq!(proxy.tunnels().len(), 1);
}

/// The TLS records in the tunnel reach the TLS layer byte for byte, however
/// many there are and whatever bytes they hold (the unfolding of folded
/// header lines, for the server's answer, once rewrote the `\r\n ` that
/// ciphertext holds by chance: "cannot decrypt peer's message"); a folded
/// header inside the tunnel is unfolded all the same.
#[test]
fn tls_records_pass_the_tunnel_untouched_and_folds_inside_are_unfolded() {
    for scenario in ["exact-limit", "long-token", "obs-fold"] {
        let (_ca, _server, _proxy, client) = tls_behind_a_proxy(&format!("/scenario/{scenario}"));
        for round in 0..5 {
            let got = client.get(&demo_call());
            assert!(got.is_ok(), "{scenario}, round {round}: {got:?}");
        }
    }
}

#[test]
fn an_unreachable_proxy_is_a_transport_error_naming_it_without_its_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = TestServer::start().unwrap();
    let proxy_url = format!("http://bob:hunter2@127.0.0.1:{port}");
    let client = through(&proxy_url, &server);
    let error = client.get(&demo_call()).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_TRANSPORT);
    assert!(
        error
            .message
            .ends_with(&format!("(via proxy http://bob@127.0.0.1:{port})")),
        "{}",
        error.message
    );
    assert!(!error.message.contains("hunter2"), "{}", error.message);
    assert!(server.requests().is_empty());
}

#[test]
fn unusable_proxy_urls_are_refused() {
    for (url, message) in [
        (
            "socks5://127.0.0.1:1080",
            "proxy_url must be an http:// proxy (CONNECT); other kinds are not supported",
        ),
        (
            "http://proxy:3128/path",
            "proxy_url must not have a path, query or fragment",
        ),
    ] {
        let error = Setup {
            proxy: Some(url),
            ..Setup::new("https://api.criteo.com")
        }
        .build()
        .err()
        .unwrap();
        assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT);
        assert_eq!(error.message, message);
    }
}

/// A '#', '?', '/' or '@' in a password, in every position: the URL is
/// refused or used, and no message or shown URL holds a piece of it.
#[test]
fn a_password_with_url_delimiters_never_appears_in_a_message() {
    for password in [
        "Zq9PW#x", "#Zq9PWx", "Zq9PWx#", "Zq9?PWx", "Zq9/PWx", "Zq9@PWx", "@Zq9PWx",
    ] {
        for url in [
            format!("http://alice:{password}@proxy.corp:3128"),
            format!("alice:{password}@127.0.0.1:1"),
            format!("http://alice:{password}@proxy.corp:3128/x"),
        ] {
            let outcome = Setup {
                proxy: Some(&url),
                ..Setup::new("https://api.criteo.com")
            }
            .build();
            let Err(error) = outcome else {
                continue;
            };
            assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT);
            let core: String = password
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            for piece in [&core[..3], &core[2..5], &core[3..]] {
                assert!(!error.message.contains(piece), "{url}: {}", error.message);
            }
        }
    }
}

#[test]
fn a_proxy_that_refuses_the_credentials_says_so() {
    let server = TestServer::start().unwrap();
    let proxy = ConnectProxy::start_requiring(Some("Basic YWxpY2U6czNjcmV0".into())).unwrap();
    let proxy_url = proxy
        .url()
        .replace("http://", "http://alice:wrong-password@");
    let client = through(&proxy_url, &server);
    let error = client.get(&demo_call()).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_TRANSPORT);
    assert!(
        error.message.contains(
            "failed: the proxy refused the tunnel: 407 Proxy Authentication Required \
             (check the proxy credentials)"
        ),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains("wrong-password"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("407/407"), "{}", error.message);
    assert_eq!(server.requests().len(), 0);
}

/// A hostile proxy knows its password and may echo it, decoded, in what
/// it answers (here it plays the token server after the tunnel opens):
/// the password is redacted like any secret.
#[test]
fn a_proxy_that_echoes_its_password_gets_it_redacted() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxy = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        line.clear();
        while reader.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
        let body = r#"{"error":"invalid_client","error_description":"proxy pw Hun#ter2pw HUN#TER2PW Hun%23ter2pw"}"#;
        let answer = format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).unwrap();
    });
    let client = Setup {
        proxy: Some(&format!("http://bob:Hun%23ter2pw@127.0.0.1:{port}")),
        max_retries: 0,
        ..Setup::new("http://127.0.0.1:9")
    }
    .build()
    .unwrap();
    let error = client.get(&demo_call()).unwrap_err();
    proxy.join().unwrap();
    assert_eq!(error.status, CRITEO_ERR_UNAUTHORIZED, "{}", error.message);
    for text in [Some(&error.message), error.description.as_ref()]
        .into_iter()
        .flatten()
    {
        assert!(!text.to_lowercase().contains("ter2pw"), "{text}");
    }
}
