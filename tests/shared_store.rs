//! Token sources sharing a store directory, within one process (two
//! sources on one store behave as two processes would: each has its own
//! lock descriptor and state). Processes proper, `fork()` and faults are
//! tested by tests/c/shared.c.

mod support;

use std::path::{Path, PathBuf};

use criteo_oauth::ffi::status::*;
use support::{Call, Client, Setup, Source, TestServer};

/// A fresh store directory under the system's temporary directory.
fn store_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("criteo-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn call(client_id: &'static str) -> Call<'static> {
    Call {
        grant_type: "client_credentials",
        client_id,
        client_secret: "secret",
        ..Call::default()
    }
}

fn stored_source(client: &Client, call: &Call, store: &Path) -> Source {
    let source = Source::new(client, call).unwrap();
    source.set_store(Some(store.to_str().unwrap())).unwrap();
    source
}

#[test]
fn sources_on_one_store_share_one_fetch_and_lineages_stay_apart() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let store = store_dir("share");
    let first = stored_source(&client, &call("a"), &store);
    let second = stored_source(&client, &call("a"), &store);
    let other = stored_source(&client, &call("b"), &store);
    let token = first.get().unwrap().access_token;
    assert_eq!(second.get().unwrap().access_token, token);
    assert_ne!(other.get().unwrap().access_token, token);
    assert_eq!(first.get().unwrap().access_token, token);
    assert_eq!(server.fetches_by("a"), 1);
    assert_eq!(server.fetches_by("b"), 1);
    assert!(first.store_error().is_none());
}

#[test]
fn one_401_seen_by_every_source_causes_one_fetch_and_a_late_401_drops_nothing() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let store = store_dir("reject");
    let sources: Vec<Source> = (0..4)
        .map(|_| stored_source(&client, &call("r"), &store))
        .collect();
    let old = sources[0].get().unwrap().access_token;
    for source in &sources {
        assert_eq!(source.get().unwrap().access_token, old);
    }
    for source in &sources {
        source.reject(&old);
    }
    let new = sources[0].get().unwrap().access_token;
    assert_ne!(new, old);
    for source in &sources {
        assert_eq!(source.get().unwrap().access_token, new);
        source.reject(&old);
        assert_eq!(
            source.get().unwrap().access_token,
            new,
            "a late 401 for the old token"
        );
    }
    assert_eq!(server.fetches_by("r"), 2);
}

#[test]
fn a_refresh_token_that_rotates_is_never_presented_twice() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("strict-rotate"));
    let store = store_dir("rotate");
    let refreshing = Call {
        grant_type: "refresh_token",
        client_id: "rotation",
        client_secret: "secret",
        refresh_token: Some("rt-start-shared-store"),
        ..Call::default()
    };
    let sources: Vec<Source> = (0..3)
        .map(|_| stored_source(&client, &refreshing, &store))
        .collect();
    for round in 0..10 {
        for source in &sources {
            source.invalidate();
            let got = source.get();
            assert!(got.is_ok(), "round {round}: {got:?}");
        }
    }
    // Each round, the three invalidate the same token: one fetch a round.
    assert_eq!(server.fetches_by("rotation"), 10);
}

#[test]
fn a_failing_server_is_asked_once_by_all_the_sources_of_a_store() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("503-retry-after-30"));
    let store = store_dir("backoff");
    let sources: Vec<Source> = (0..4)
        .map(|_| stored_source(&client, &call("down"), &store))
        .collect();
    for source in &sources {
        let error = source.get().unwrap_err();
        assert_eq!(error.status, CRITEO_ERR_HTTP_STATUS, "{}", error.message);
        assert_eq!(error.retry_after, 30, "the server's Retry-After, shared");
    }
    // The client itself retries a 503 (max_retries); one source's fetch is
    // all the server saw.
    let one_fetch = server.fetches_by("down");
    for source in &sources {
        assert!(source.get().is_err());
    }
    assert_eq!(server.fetches_by("down"), one_fetch);
    assert!(one_fetch <= 3, "{one_fetch}");
}

/// Process A of a lineage fails on its own side: through a proxy only it
/// uses, with a time limit only it set. Process B, set up well, against a
/// healthy server, gets a token with a request of its own at once, never
/// A's error; A still backs off on its own (its next get fails at once,
/// without a request).
#[test]
fn one_process_failing_on_its_own_side_holds_up_no_other() {
    let server = TestServer::start().unwrap();
    let url = server.scenario_url("slow-300");
    let store = store_dir("own-failure");
    let dead_proxy = Setup {
        proxy: Some("http://127.0.0.1:1"),
        ..Setup::new(&url)
    };
    let impatient = Setup {
        connect_ms: 50,
        total_ms: 50,
        ..Setup::new(&url)
    };
    let healthy = Client::new(&url);
    for (broken, id, says) in [
        (dead_proxy, "own-proxy", "via proxy"),
        (impatient, "own-limit", "timed out"),
    ] {
        let broken = broken.build().unwrap();
        let a = stored_source(&broken, &call(id), &store);
        let b = stored_source(&healthy, &call(id), &store);
        let own = a.get().unwrap_err();
        assert!(own.message.contains(says), "{}", own.message);
        let before = server.fetches_by(id);
        let token = b.get();
        assert!(token.is_ok(), "{id}: B got {token:?}");
        assert_eq!(server.fetches_by(id), before + 1, "{id}: B asked itself");
        assert_eq!(
            a.get().unwrap_err().message,
            own.message,
            "{id}: A backs off"
        );
        assert_eq!(server.fetches_by(id), before + 1, "{id}: without a request");
        assert!(b.store_error().is_none() && a.store_error().is_none());
    }
}

/// A new process finds a token in the store that is due for refresh but
/// valid: its first get returns it without a request (a caller with no
/// token waits for nothing), and a later get refreshes it in the
/// background.
#[test]
fn a_stored_token_due_but_valid_is_given_at_once_and_refreshed_later() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("slow-refresh-500-expires-900"));
    let store = store_dir("due");
    let first = stored_source(&client, &call("due"), &store);
    let token = first.get().unwrap().access_token;
    let late = stored_source(&client, &call("due"), &store);
    late.set_refresh_margin(900);
    assert_eq!(late.get().unwrap().access_token, token, "the stored token");
    assert_eq!(server.fetches_by("due"), 1, "no request for it");
    assert_eq!(
        late.get().unwrap().access_token,
        token,
        "while it refreshes"
    );
    let refreshed = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        late.get().unwrap().access_token != token
    });
    assert!(refreshed, "refreshed in the background");
}

#[test]
fn the_store_is_set_once_before_the_first_get() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let store = store_dir("once");
    let source = stored_source(&client, &call("once"), &store);
    let twice = source.set_store(Some(store.to_str().unwrap())).unwrap_err();
    assert_eq!(twice.status, CRITEO_ERR_INVALID_ARGUMENT);
    assert_eq!(twice.message, "the store may be set only once per source");
    let used = Source::new(&client, &call("once")).unwrap();
    used.get().unwrap();
    let late = used.set_store(Some(store.to_str().unwrap())).unwrap_err();
    assert_eq!(
        late.message,
        "the store must be set before the source's first get"
    );
    let empty = Source::new(&client, &call("once")).unwrap();
    assert_eq!(
        empty.set_store(Some("")).unwrap_err().message,
        "store must not be empty"
    );
}

#[test]
fn a_token_rejected_while_its_refresh_fails_is_not_served_again() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("slow-1500-200-then-503-expires-20"));
    let source = Source::new(&client, &call("late-reject")).unwrap();
    let first = source.get().unwrap().access_token;
    source.set_refresh_margin(19);
    assert_eq!(
        source.get().unwrap().access_token,
        first,
        "due: the valid token, refreshed in the background"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    source.reject(&first);
    match source.get() {
        Ok(token) => assert_ne!(token.access_token, first, "the rejected token came back"),
        Err(error) => assert_eq!(error.status, CRITEO_ERR_HTTP_STATUS, "{}", error.message),
    }
}

#[test]
fn sixteen_threads_on_two_sources_rejecting_one_token_cause_one_fetch() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let store = store_dir("concurrent-reject");
    let sources = [
        stored_source(&client, &call("cr"), &store),
        stored_source(&client, &call("cr"), &store),
    ];
    let old = sources[0].get().unwrap().access_token;
    assert_eq!(sources[1].get().unwrap().access_token, old);
    let barrier = std::sync::Barrier::new(16);
    std::thread::scope(|scope| {
        for i in 0..16 {
            let (source, barrier, old) = (&sources[i % 2], &barrier, &old);
            scope.spawn(move || {
                barrier.wait();
                source.reject(old);
                assert_ne!(&source.get().unwrap().access_token, old);
            });
        }
    });
    assert_eq!(server.fetches_by("cr"), 2);
}

#[test]
fn every_spelling_of_the_store_path_shares_one_fetch() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("slow-500"));
    let parent = store_dir("spellings");
    std::fs::create_dir_all(&parent).unwrap();
    let link = parent.with_extension("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&parent, &link).unwrap();
    let plain = parent.join("store");
    let spellings = [
        plain.clone(),
        PathBuf::from(format!("{}/", plain.display())),
        link.join("store"),
        parent
            .join("..")
            .join(parent.file_name().unwrap())
            .join("store"),
    ];
    let sources: Vec<Source> = spellings
        .iter()
        .map(|path| stored_source(&client, &call("spelled"), path))
        .collect();
    std::thread::scope(|scope| {
        for source in &sources {
            scope.spawn(move || source.get().unwrap());
        }
    });
    assert_eq!(server.fetches_by("spelled"), 1);
    std::fs::remove_file(&link).unwrap();
}
