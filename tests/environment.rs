//! What the client reads from the environment: proxy variables (as curl
//! reads them) and the trust store's SSL_CERT_FILE. The environment is
//! shared by the whole process, so this file holds one test that sets and
//! clears variables step by step.

mod support;

use criteo_oauth::ffi::status::CRITEO_ERR_INVALID_ARGUMENT;
use criteo_test_server::{ConnectProxy, TestCa, Validity};
use support::{Setup, TestServer, demo_call, get_token};

const PROXY_VARIABLES: [&str; 7] = [
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

fn set_only(variables: &[(&str, &str)]) {
    for name in PROXY_VARIABLES {
        // SAFETY: this test binary runs a single test, so no other thread reads the environment.
        unsafe { std::env::remove_var(name) };
    }
    for (name, value) in variables {
        // SAFETY: as above.
        unsafe { std::env::set_var(name, value) };
    }
}

#[test]
fn proxy_variables_and_ssl_cert_file_are_honoured() {
    let plain = TestServer::start().unwrap();
    let ca = TestCa::new();
    let tls = TestServer::start_tls(ca.server_config(&["127.0.0.1"], Validity::Current)).unwrap();
    let proxy = ConnectProxy::start().unwrap();
    let tunnels_after = |setup: Setup| {
        let before = proxy.tunnels().len();
        setup.build().unwrap().get(&demo_call()).unwrap();
        proxy.tunnels().len() - before
    };
    let from_env = |host| Setup {
        proxy: None,
        ..Setup::new(host)
    };
    let with_ca = |host| Setup {
        ca_file: ca.pem_path().to_str(),
        ..from_env(host)
    };
    let (plain_url, tls_url) = (plain.url(), tls.url());

    set_only(&[]);
    assert_eq!(
        tunnels_after(from_env(&plain_url)),
        0,
        "no variable, no proxy"
    );

    set_only(&[("https_proxy", &proxy.url())]);
    assert_eq!(
        tunnels_after(with_ca(&tls_url)),
        1,
        "https_proxy for an https host"
    );
    assert_eq!(
        tunnels_after(from_env(&plain_url)),
        0,
        "https_proxy is not for http hosts"
    );

    set_only(&[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(tunnels_after(with_ca(&tls_url)), 1, "HTTPS_PROXY");

    set_only(&[("ALL_PROXY", &proxy.url())]);
    assert_eq!(tunnels_after(with_ca(&tls_url)), 1, "ALL_PROXY for https");
    assert_eq!(tunnels_after(from_env(&plain_url)), 1, "ALL_PROXY for http");

    set_only(&[("http_proxy", &proxy.url())]);
    assert_eq!(
        tunnels_after(from_env(&plain_url)),
        1,
        "http_proxy for an http host"
    );

    set_only(&[
        ("HTTPS_PROXY", &proxy.url()),
        ("NO_PROXY", "example.com, 127.0.0.1"),
    ]);
    assert_eq!(tunnels_after(with_ca(&tls_url)), 0, "NO_PROXY bypasses");
    set_only(&[("ALL_PROXY", &proxy.url()), ("no_proxy", "*")]);
    assert_eq!(
        tunnels_after(from_env(&plain_url)),
        0,
        "no_proxy=* bypasses"
    );

    set_only(&[("HTTPS_PROXY", "http://127.0.0.1:9"), ("NO_PROXY", "")]);
    let proxy_url = proxy.url();
    let explicit = Setup {
        proxy: Some(&proxy_url),
        ..with_ca(&tls_url)
    };
    assert_eq!(
        tunnels_after(explicit),
        1,
        "set_proxy wins over the environment"
    );
    set_only(&[("HTTPS_PROXY", &proxy.url())]);
    let direct = Setup {
        proxy: Some(""),
        ..with_ca(&tls_url)
    };
    assert_eq!(
        tunnels_after(direct),
        0,
        "set_proxy(\"\") ignores the environment"
    );

    set_only(&[("HTTPS_PROXY", "socks5://127.0.0.1:1080")]);
    let error = with_ca(&tls_url).build().err().unwrap();
    assert_eq!(
        error.message,
        "HTTPS_PROXY must be an http:// proxy (CONNECT); other kinds are not supported"
    );

    set_only(&[("HTTPS_PROXY", "http://alice:Zq9PW#x@proxy.corp:3128")]);
    let error = with_ca(&tls_url).build().err().unwrap();
    assert!(
        error
            .message
            .starts_with("HTTPS_PROXY has a user name or password")
            && !error.message.contains("Zq9"),
        "{}",
        error.message
    );

    // The system trust store, pointed at the test CA, trusts the server
    // without set_ca_file.
    set_only(&[]);
    assert!(
        from_env(&tls_url)
            .build()
            .unwrap()
            .get(&demo_call())
            .is_err(),
        "the test CA is not trusted by default"
    );
    // SAFETY: as above.
    unsafe { std::env::set_var("SSL_CERT_FILE", ca.pem_path()) };
    let token = from_env(&tls_url).build().unwrap().get(&demo_call());
    // SAFETY: as above.
    unsafe { std::env::remove_var("SSL_CERT_FILE") };
    assert!(token.is_ok(), "SSL_CERT_FILE is honoured: {token:?}");
    // One that holds no certificate (and no SSL_CERT_DIR) is named.
    let empty = std::env::temp_dir().join(format!("criteo-empty-{}.pem", std::process::id()));
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let dir = std::env::var_os("SSL_CERT_DIR");
    // SAFETY: as above.
    unsafe { std::env::set_var("SSL_CERT_FILE", &empty) };
    // SAFETY: as above.
    unsafe { std::env::remove_var("SSL_CERT_DIR") };
    // Read at the first connection, not when the client is built.
    let client = from_env(&tls_url)
        .build()
        .expect("built without reading the trust store");
    let refused = client.get(&demo_call()).err().map(|error| error.message);
    // A failure is not kept: the same client reads the store again.
    // SAFETY: as above.
    unsafe { std::env::set_var("SSL_CERT_FILE", ca.pem_path()) };
    let fixed = client.get(&demo_call());
    // SAFETY: as above.
    unsafe { std::env::remove_var("SSL_CERT_FILE") };
    assert!(fixed.is_ok(), "read again once fixed: {fixed:?}");
    if let Some(dir) = dir {
        // SAFETY: as above.
        unsafe { std::env::set_var("SSL_CERT_DIR", dir) };
    }
    std::fs::remove_file(&empty).unwrap();
    let named = format!(
        "SSL_CERT_FILE {}: holds no PEM certificate",
        empty.display()
    );
    assert_eq!(refused.as_deref(), Some(named.as_str()));

    // The default client (NULL): a failure to make it is not remembered.
    // The second try goes to a loopback proxy that refuses every tunnel,
    // so nothing leaves the machine.
    set_only(&[("HTTPS_PROXY", "socks5://127.0.0.1:1080")]);
    let error = get_token(std::ptr::null(), &demo_call()).unwrap_err();
    assert_eq!(
        error.status, CRITEO_ERR_INVALID_ARGUMENT,
        "{}",
        error.message
    );
    assert!(
        error.message.starts_with("HTTPS_PROXY must be"),
        "{}",
        error.message
    );
    let refusing = ConnectProxy::start_requiring(Some("never".into())).unwrap();
    set_only(&[("HTTPS_PROXY", &refusing.url())]);
    let error = get_token(std::ptr::null(), &demo_call()).unwrap_err();
    assert!(
        error.message.contains("the proxy refused the tunnel: 407"),
        "made on the second try, with the corrected variable: {}",
        error.message
    );
    assert_eq!(refusing.tunnels()[0].target, "api.criteo.com:443");
}
