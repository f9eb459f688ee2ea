//! `criteo_token_source_set_store(source, NULL)` reads `CRITEO_OAUTH_STORE`
//! (a Redis URL, or the default directory when it is empty or unset), and
//! a `rediss://` store of a client without a CA file trusts what
//! `SSL_CERT_FILE` names. The environment is shared by the whole process,
//! so this file holds one test that sets variables step by step.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use criteo_oauth::ffi::status::CRITEO_ERR_STORE;
use criteo_test_server::TestCa;
use support::redis::RedisServer;
use support::{Call, Client, Setup, Source, TestServer};

fn call(client_id: &str) -> Call<'_> {
    Call {
        grant_type: "client_credentials",
        client_id,
        client_secret: "secret",
        ..Call::default()
    }
}

fn set(name: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: this test binary runs a single test, so no other thread reads the environment.
    unsafe { std::env::set_var(name, value) };
}

fn unset(name: &str) {
    // SAFETY: as above.
    unsafe { std::env::remove_var(name) };
}

/// A source whose store is `set_store(NULL)`'s.
fn from_environment(client: &Client, client_id: &str) -> Source {
    let source = Source::new(client, &call(client_id)).unwrap();
    source.set_store(None).unwrap();
    source
}

/// A fresh directory of mode 0700, as `XDG_RUNTIME_DIR` is.
fn private_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("criteo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[test]
fn the_store_and_its_trust_come_from_the_environment() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let runtime = private_dir("runtime");
    let default_store = runtime.join("criteo-oauth");
    set("XDG_RUNTIME_DIR", &runtime);

    set("CRITEO_OAUTH_STORE", redis.url_prefix("from-env:"));
    let first = from_environment(&client, "env-redis");
    let second = from_environment(&client, "env-redis");
    let token = first.get().unwrap().access_token;
    assert_eq!(second.get().unwrap().access_token, token);
    assert_eq!(server.fetches_by("env-redis"), 1, "shared through Redis");
    assert_eq!(first.store_error(), None);
    let keys = redis.dump();
    assert!(
        !keys.is_empty() && keys.iter().all(|(key, _)| key.starts_with("from-env:{")),
        "{keys:?}"
    );
    assert_eq!(
        entries(&default_store),
        0,
        "nothing in the default directory"
    );

    for (value, client_id) in [(Some(""), "env-empty"), (None, "env-unset")] {
        match value {
            Some(value) => set("CRITEO_OAUTH_STORE", value),
            None => unset("CRITEO_OAUTH_STORE"),
        }
        let before = entries(&default_store);
        let first = from_environment(&client, client_id);
        let second = from_environment(&client, client_id);
        let token = first.get().unwrap().access_token;
        assert_eq!(second.get().unwrap().access_token, token, "{client_id}");
        assert_eq!(server.fetches_by(client_id), 1, "{client_id}: shared");
        assert!(
            entries(&default_store) > before,
            "{client_id}: a new lineage in {}",
            default_store.display()
        );
        assert_eq!(redis.dump().len(), keys.len(), "{client_id}: not in Redis");
    }

    let ca = TestCa::new();
    let Some(tls_redis) = RedisServer::start_tls(&ca) else {
        return;
    };
    set("SSL_CERT_FILE", ca.pem_path());
    unset("SSL_CERT_DIR");
    set("CRITEO_OAUTH_STORE", tls_redis.tls_url());
    let url = server.scenario_url("lives-900");
    let system_trust = Client::new(&url);
    let trusting = from_environment(&system_trust, "env-tls");
    trusting.get().unwrap();
    assert_eq!(
        trusting.store_error(),
        None,
        "SSL_CERT_FILE trusts the test CA"
    );
    assert!(!tls_redis.dump().is_empty());

    // The client's own CA file is all it trusts.
    let other_ca = TestCa::new();
    let own_ca_file = Setup {
        ca_file: other_ca.pem_path().to_str(),
        ..Setup::new(&url)
    };
    let own_ca_file = own_ca_file.build().unwrap();
    let refusing = from_environment(&own_ca_file, "env-tls-refused");
    refusing.get().unwrap();
    let error = refusing
        .store_error()
        .expect("the test CA is not the client's");
    assert_eq!(error.status, CRITEO_ERR_STORE, "{}", error.message);
    assert!(
        !error.message.contains(tls_redis.password()),
        "{}",
        error.message
    );
    let _ = std::fs::remove_dir_all(&runtime);
}
