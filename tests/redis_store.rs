//! Token sources sharing their token through Redis (`redis://` and
//! `rediss://` stores), against a real `redis-server` and, for answers no
//! real server gives, the test server's `FakeRedis`. Two sources in one
//! process behave as two processes (or hosts) would, but for the one
//! connection per server they share: each has its own lock owner and
//! state.
//!
//! What is checked: every source of a lineage on one server and prefix
//! shares one token and one fetch, and the rotated refresh token; keys
//! have the documented shape and hold nothing readable; and every fault of
//! the server or of the network costs only the sharing: the get still
//! returns a token fetched from the token server within its time limit,
//! and `store_error` names the store and what happened, never the
//! password. `CRITEO_OAUTH_STORE` is tested in redis_store_env.rs (the
//! environment is the whole process's).
//!
//! Without `redis-server` the tests that need it say SKIP and pass
//! (`scripts/test-deps.sh` installs it); under `CI=true` they fail.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use criteo_oauth::ffi::status::*;
use criteo_test_server::{FakeRedis, FakeRedisMode, TestCa};
use support::redis::{RedisServer, free_port, percent_encode, random_hex};
use support::{Call, Client, ErrorView, Setup, Source, TestServer, Trace, status_name};

/// A client secret to look for in Redis and in messages.
const SECRET: &str = "client-secret-for-redis-4d7e1b";

/// The client's total time limit in the tests of faults.
const TOTAL_MS: u32 = 3_000;

/// How long a get may take whatever the store does: the client's time
/// limit and 2 s. Each store operation is bounded by 500 ms; this bound
/// is generous on purpose, to catch a get that hangs on the store, not
/// to measure it.
const GET_BOUND: Duration = Duration::from_millis(TOTAL_MS as u64 + 2_000);

/// The default key prefix.
const DEFAULT_PREFIX: &str = "criteo-oauth:";

fn call(client_id: &str) -> Call<'_> {
    Call {
        grant_type: "client_credentials",
        client_id,
        client_secret: SECRET,
        ..Call::default()
    }
}

/// A `refresh_token` lineage for the `strict-rotate` scenario, which
/// remembers the refresh tokens spent in the whole process: `start` must
/// be unique to the test.
fn refreshing<'a>(client_id: &'a str, start: &'a str) -> Call<'a> {
    Call {
        grant_type: "refresh_token",
        client_id,
        client_secret: SECRET,
        refresh_token: Some(start),
        ..Call::default()
    }
}

fn stored(client: &Client, call: &Call, store: &str) -> Source {
    let source = Source::new(client, call).unwrap();
    source.set_store(Some(store)).unwrap();
    source
}

/// A client of the named scenario whose total time limit is [`TOTAL_MS`].
fn limited_client(server: &TestServer, scenario: &str, trace: Option<&Trace>) -> Client {
    let url = server.scenario_url(scenario);
    let setup = Setup {
        total_ms: TOTAL_MS,
        trace,
        ..Setup::new(&url)
    };
    setup.build().unwrap()
}

/// A get that must return a token within [`GET_BOUND`].
fn timed_get(source: &Source, context: &str) -> String {
    let started = Instant::now();
    let got = source.get();
    let took = started.elapsed();
    assert!(got.is_ok(), "{context}: {got:?}");
    assert!(took < GET_BOUND, "{context}: the get took {took:?}");
    got.unwrap().access_token
}

/// The 32 hex digits of `key` when it is `<prefix>{<32 hex>}<suffix>`.
fn lineage_of<'k>(key: &'k str, prefix: &str, suffix: &str) -> Option<&'k str> {
    let tagged = key.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let hex = tagged.strip_prefix('{')?.strip_suffix('}')?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The record keys of database `db`, each checked to be
/// `<prefix>{<32 hex>}:record` (or the lock beside it, which is left out).
fn record_keys(redis: &RedisServer, db: u32, prefix: &str) -> Vec<String> {
    let mut records = Vec::new();
    for (key, _) in redis.dump_db(db) {
        if lineage_of(&key, prefix, ":record").is_some() {
            records.push(key);
        } else {
            assert!(
                lineage_of(&key, prefix, ":lock").is_some(),
                "key {key:?} is neither {prefix}{{<32 hex>}}:record nor :lock"
            );
        }
    }
    records
}

/// A record is a hash of `g`, the generation in decimal, and `r`, the
/// sealed record (at least as long as the token sealed in it). Returns
/// the generation and the sealed bytes.
fn read_record(redis: &RedisServer, key: &str, token: &str) -> (u64, Vec<u8>) {
    let mut fields = redis.hash(key);
    fields.sort();
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["g", "r"], "the fields of {key}");
    let generation = String::from_utf8(fields[0].1.clone()).unwrap();
    let generation = generation
        .parse()
        .unwrap_or_else(|_| panic!("g of {key} is {generation:?}, not decimal"));
    let sealed = fields[1].1.clone();
    assert!(
        sealed.len() > token.len(),
        "r of {key}: {} bytes",
        sealed.len()
    );
    (generation, sealed)
}

/// Whether `bytes` hold `{"` and a JSON member name, as a JSON object
/// would: 6 bytes that random (sealed) bytes all but never make.
fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|window| {
        window.starts_with(b"{\"")
            && window[2..5]
                .iter()
                .all(|b| b.is_ascii_lowercase() || *b == b'_')
    })
}

fn holds(bytes: &[u8], text: &str) -> bool {
    !text.is_empty()
        && bytes
            .windows(text.len())
            .any(|window| window == text.as_bytes())
}

/// Nothing in any key or value of database `db` is readable: not the
/// client secret, the Redis passwords, a token of the test server, a
/// refresh token of its scenarios, nor any of `also` (the tokens the test
/// got), nor JSON.
fn assert_nothing_readable(redis: &RedisServer, db: u32, also: &[&str]) {
    let dump = redis.dump_db(db);
    assert!(!dump.is_empty(), "nothing was stored");
    let always = [
        SECRET,
        redis.password(),
        "access_token",
        "refresh_token",
        "token_type",
        "Bearer",
        "eyJhbGci", // how every token of the test server starts
        "rt-start",
        "rt-strict",
    ];
    for (key, bytes) in &dump {
        for text in always.iter().chain(also) {
            assert!(!key.contains(text), "key {key:?} holds {text:?}");
            assert!(!holds(bytes, text), "{key} holds {text:?} readably");
        }
        assert!(!looks_like_json(bytes), "{key} holds JSON: {bytes:?}");
    }
}

/// `text` and how it would look percent-encoded.
fn with_encoded(hidden: &[&str]) -> Vec<String> {
    hidden
        .iter()
        .flat_map(|text| [text.to_string(), percent_encode(text)])
        .filter(|text| !text.is_empty())
        .collect()
}

/// None of `hidden` (passwords, user names), nor their percent-encoded
/// forms, in any field of `error` or in any trace message.
fn assert_hidden(context: &str, error: &ErrorView, trace: &Trace, hidden: &[&str]) {
    let fields = [
        Some(&error.message),
        error.code.as_ref(),
        error.description.as_ref(),
        error.uri.as_ref(),
    ];
    let traced: Vec<String> = trace.events().into_iter().map(|e| e.message).collect();
    for text in with_encoded(hidden) {
        for field in fields.iter().flatten() {
            assert!(!field.contains(&text), "{context}: {text:?} in {field:?}");
        }
        for message in &traced {
            assert!(
                !message.contains(&text),
                "{context}: {text:?} traced: {message:?}"
            );
        }
    }
}

/// The store error a source must have: status `CRITEO_ERR_STORE`, a
/// message naming `store` (`redis://host:port/db`) and saying what
/// happened, and none of `hidden`.
fn expect_store_error(
    context: &str,
    source: &Source,
    store: &str,
    trace: &Trace,
    hidden: &[&str],
) -> ErrorView {
    let error = source
        .store_error()
        .unwrap_or_else(|| panic!("{context}: no store error"));
    assert_eq!(
        status_name(error.status),
        status_name(CRITEO_ERR_STORE),
        "{context}: {}",
        error.message
    );
    assert!(
        error.message.contains(store),
        "{context}: {:?} does not name {store}",
        error.message
    );
    assert!(
        error.message.len() > store.len() + 5,
        "{context}: {:?} does not say what happened",
        error.message
    );
    assert_hidden(context, &error, trace, hidden);
    error
}

/// A store that fails as `store_url` does costs only the sharing: two
/// gets (the second after `invalidate`) each fetch from the token server
/// as a source without a store would, within [`GET_BOUND`], and leave a
/// store error naming `store` without any of `hidden`.
fn assert_fault_costs_only_sharing(
    context: &str,
    store_url: &str,
    store: &str,
    hidden: &[&str],
) -> ErrorView {
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "lives-900", Some(&trace));
    let client_id = format!("fault-{context}");
    let source = stored(&client, &call(&client_id), store_url);
    let first = timed_get(&source, &format!("{context}: first get"));
    source.invalidate();
    let second = timed_get(&source, &format!("{context}: get after invalidate"));
    assert_ne!(first, second, "{context}: the second get fetched anew");
    assert_eq!(server.fetches_by(&client_id), 2, "{context}");
    expect_store_error(context, &source, store, &trace, hidden)
}

/// A password that must be percent-encoded in a URL, with a random part
/// to look for.
fn awkward_password(random: &str) -> String {
    format!("pw/{random}@:%?")
}

/// `mode` of a fake Redis costs only the sharing; the store error holds
/// neither the password the fake echoes nor its random part.
fn assert_fake_redis_costs_only_sharing(mode: &str) -> ErrorView {
    let fake = FakeRedis::start(FakeRedisMode::parse(mode).unwrap()).unwrap();
    let random = random_hex(12);
    let password = awkward_password(&random);
    let url = format!(
        "redis://:{}@127.0.0.1:{}/0",
        percent_encode(&password),
        fake.port()
    );
    let store = format!("redis://127.0.0.1:{}/0", fake.port());
    let error = assert_fault_costs_only_sharing(mode, &url, &store, &[&password, &random]);
    assert!(fake.connections() >= 1, "{mode}: the store was never tried");
    if let Some(word) = mode.strip_prefix("error-") {
        let commands = fake.commands();
        assert!(
            commands.iter().any(|c| c == "AUTH" || c == "HELLO"),
            "{mode}: the password was never sent, so never echoed: {commands:?}"
        );
        assert!(
            error.message.contains(word),
            "{mode}: {:?} does not say what the server answered",
            error.message
        );
    }
    error
}

#[test]
fn sources_on_one_redis_share_one_token_and_one_fetch_and_lineages_stay_apart() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let first = stored(&client, &call("shared-a"), &redis.url());
    let second = stored(&client, &call("shared-a"), &redis.url());
    let other = stored(&client, &call("shared-b"), &redis.url());
    let token = first.get().unwrap().access_token;
    assert_eq!(second.get().unwrap().access_token, token);
    let other_token = other.get().unwrap().access_token;
    assert_ne!(other_token, token);
    assert_eq!(first.get().unwrap().access_token, token);
    assert_eq!(server.fetches_by("shared-a"), 1);
    assert_eq!(server.fetches_by("shared-b"), 1);
    for source in [&first, &second, &other] {
        assert_eq!(source.store_error(), None);
    }
    let records = record_keys(&redis, 0, DEFAULT_PREFIX);
    assert_eq!(records.len(), 2, "one record a lineage: {records:?}");
    assert_nothing_readable(&redis, 0, &[&token, &other_token, "shared-a", "shared-b"]);
}

#[test]
fn concurrent_gets_of_sources_on_one_redis_wait_for_one_fetch() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("slow-700"));
    let sources: Vec<Source> = (0..4)
        .map(|_| stored(&client, &call("waiters"), &redis.url()))
        .collect();
    let tokens: Vec<String> = thread::scope(|scope| {
        let gets: Vec<_> = sources
            .iter()
            .map(|source| scope.spawn(move || source.get().unwrap().access_token))
            .collect();
        gets.into_iter().map(|get| get.join().unwrap()).collect()
    });
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{tokens:?}");
    assert_eq!(server.fetches_by("waiters"), 1);
    assert_nothing_readable(&redis, 0, &[&tokens[0]]);
}

#[test]
fn each_fetch_writes_a_new_generation_of_the_sealed_record() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let source = stored(&client, &call("generations"), &redis.url_prefix("gen:"));
    let first = source.get().unwrap().access_token;
    let [key] = &record_keys(&redis, 0, "gen:")[..] else {
        panic!("one record: {:?}", redis.dump())
    };
    let (generation, sealed) = read_record(&redis, key, &first);
    source.invalidate();
    let second = source.get().unwrap().access_token;
    assert_ne!(second, first);
    assert_eq!(
        record_keys(&redis, 0, "gen:"),
        [key.as_str()],
        "the same lineage"
    );
    let (next_generation, next_sealed) = read_record(&redis, key, &second);
    assert!(
        next_generation > generation,
        "{next_generation} after {generation}"
    );
    assert_ne!(next_sealed, sealed);
    assert_nothing_readable(&redis, 0, &[&first, &second]);
}

/// The lock is `<prefix>{<same hex as the record>}:lock`, set for each
/// fetch with an owner of its own and a lease (PTTL) longer than the
/// fetch's time limit, so that it expires only after its holder has
/// given up.
#[test]
fn a_fetch_holds_a_lock_leased_for_longer_than_its_time_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let (fetch_ms, total_ms) = (1_000, 4_000);
    let client = Client::with_timeouts(&server.scenario_url("slow-1000"), 2_000, total_ms);
    let source = stored(&client, &call("lease"), &redis.url_prefix("lease:"));
    let mut owners = Vec::new();
    for fetch in 0..2 {
        source.invalidate();
        let (lock, owner, pttl) = thread::scope(|scope| {
            let get = scope.spawn(|| source.get().unwrap());
            let seen = watch_lock(&redis, "lease:", Duration::from_secs(5));
            get.join().unwrap();
            seen.unwrap_or_else(|| panic!("fetch {fetch}: no lock key seen during the fetch"))
        });
        let hex = lineage_of(&lock, "lease:", ":lock").unwrap();
        let records = record_keys(&redis, 0, "lease:");
        assert_eq!(records, [format!("lease:{{{hex}}}:record")], "{lock}");
        // Seen at most `fetch_ms` (and some polling) after it was set.
        assert!(
            pttl + fetch_ms + 500 > total_ms as i64,
            "fetch {fetch}: PTTL {pttl} ms, the time limit {total_ms} ms"
        );
        owners.push(owner);
    }
    assert_ne!(owners[0], owners[1], "each lock has an owner of its own");
    assert_eq!(server.fetches_by("lease"), 2);
}

/// The first lock key under `prefix` seen within `wait`: its name, its
/// value and its PTTL.
fn watch_lock(redis: &RedisServer, prefix: &str, wait: Duration) -> Option<(String, String, i64)> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let keys = redis.command(&["KEYS", &format!("{prefix}*:lock")]);
        if let Some(lock) = keys.lines().next() {
            let owner = redis.command(&["GET", lock]);
            let pttl: i64 = redis.command(&["PTTL", lock]).parse().unwrap();
            if !owner.is_empty() && pttl != -2 {
                assert!(pttl > 0, "{lock} has no expiry (PTTL {pttl})");
                return Some((lock.to_owned(), owner, pttl));
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A host that died (or stopped) holding the lock holds up the others'
/// fetch only until its lease lapses: they wait, then fetch once.
#[test]
fn a_lock_left_by_a_dead_host_holds_up_a_fetch_only_until_it_lapses() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = limited_client(&server, "lives-900", None);
    let source = stored(&client, &call("dead-holder"), &redis.url_prefix("dead:"));
    let first = source.get().unwrap().access_token;
    let [record] = &record_keys(&redis, 0, "dead:")[..] else {
        panic!("one record: {:?}", redis.dump())
    };
    let lock = record.replace(":record", ":lock");
    source.invalidate();
    redis.command(&["SET", &lock, "owner-of-a-host-that-died", "PX", "1500"]);
    let started = Instant::now();
    let second = timed_get(&source, "behind the lock of a dead host");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1_000),
        "fetched under another's lock, after {waited:?}"
    );
    assert_ne!(second, first);
    assert_eq!(server.fetches_by("dead-holder"), 2);
    assert_eq!(source.store_error(), None, "a held lock is no failure");
}

/// A URL that is not `redis://[[user]:password@]host[:port][/db][?prefix=P]`
/// is refused at once, and the message leaves its user info out.
#[test]
fn a_malformed_redis_url_is_refused_without_its_user_info() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let (user, password) = ("url-user-5b0c", format!("url-pw-{}", random_hex(8)));
    let userinfo = format!("{user}:{password}");
    for rest in [
        "127.0.0.1:99999/0",
        "127.0.0.1:6379/first",
        "/0",
        "127.0.0.1:6379/0#fragment",
        "127.0.0.1:6379/0 ?prefix=p",
    ] {
        for scheme in ["redis", "rediss"] {
            let url = format!("{scheme}://{userinfo}@{rest}");
            let source = Source::new(&client, &call("malformed")).unwrap();
            let error = source.set_store(Some(&url)).unwrap_err();
            assert_eq!(
                status_name(error.status),
                status_name(CRITEO_ERR_INVALID_ARGUMENT),
                "{url}: {}",
                error.message
            );
            assert!(
                !error.message.contains(&password) && !error.message.contains(user),
                "{url}: {}",
                error.message
            );
        }
    }
    assert_eq!(server.fetches_by("malformed"), 0);
}

#[test]
fn different_prefixes_keep_lineages_apart_and_one_prefix_shares() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let team_a = stored(&client, &call("prefixed"), &redis.url_prefix("team-a:"));
    let team_b = stored(&client, &call("prefixed"), &redis.url_prefix("team-b:"));
    let team_a_too = stored(&client, &call("prefixed"), &redis.url_prefix("team-a:"));
    let unprefixed = stored(&client, &call("prefixed"), &redis.url());
    let a = team_a.get().unwrap().access_token;
    let b = team_b.get().unwrap().access_token;
    assert_ne!(a, b, "another prefix, another token");
    assert_eq!(team_a_too.get().unwrap().access_token, a);
    assert_ne!(unprefixed.get().unwrap().access_token, a);
    assert_eq!(server.fetches_by("prefixed"), 3);
    for prefix in ["team-a:", "team-b:", DEFAULT_PREFIX] {
        let records: Vec<String> = redis
            .dump()
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| lineage_of(key, prefix, ":record").is_some())
            .collect();
        assert_eq!(records.len(), 1, "{prefix}: {records:?}");
    }
    assert_nothing_readable(&redis, 0, &[&a, &b]);
}

#[test]
fn the_database_number_of_the_url_is_the_database_used() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let first = stored(&client, &call("db5"), &redis.url_db(5));
    let second = stored(&client, &call("db5"), &redis.url_db(5));
    let token = first.get().unwrap().access_token;
    assert_eq!(second.get().unwrap().access_token, token);
    assert_eq!(server.fetches_by("db5"), 1);
    assert!(redis.dump_db(0).is_empty(), "nothing in database 0");
    assert_eq!(record_keys(&redis, 5, DEFAULT_PREFIX).len(), 1);
    assert_nothing_readable(&redis, 5, &[&token]);
}

/// A user limited by an ACL to the keys of its prefix can use the store
/// (nothing is touched outside the prefix), and its password, which has
/// characters a URL must percent-encode, is decoded.
#[test]
fn an_acl_user_limited_to_its_prefix_shares_its_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let url = redis.url_with("tenant-user-3f9a", "tenant-a:");
    let first = stored(&client, &call("acl"), &url);
    let second = stored(&client, &call("acl"), &url);
    let token = first.get().unwrap().access_token;
    assert_eq!(first.store_error(), None);
    assert_eq!(second.get().unwrap().access_token, token);
    assert_eq!(second.store_error(), None);
    assert_eq!(server.fetches_by("acl"), 1);
    assert_eq!(record_keys(&redis, 0, "tenant-a:").len(), 1);
    let password = redis.user_password("tenant-user-3f9a");
    assert_nothing_readable(&redis, 0, &[&token, &password, "tenant-user-3f9a"]);
}

/// A user whose ACL does not cover the URL's prefix gets NOPERM: a store
/// error, and the token all the same.
#[test]
fn an_acl_user_outside_its_prefix_is_a_store_error_and_still_gets_tokens() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let user = "fenced-user-8c2e";
    let url = redis
        .url_with(user, "tenant-b:")
        .replace("prefix=tenant-b:", "prefix=tenant-a:");
    let password = redis.user_password(user);
    let error = assert_fault_costs_only_sharing(
        "acl-outside",
        &url,
        &redis.store_name(),
        &[&password, user, redis.password()],
    );
    assert!(error.message.contains("NOPERM"), "{}", error.message);
}

#[test]
fn rediss_is_verified_with_the_clients_ca_file() {
    let ca = TestCa::new();
    let Some(redis) = RedisServer::start_tls(&ca) else {
        return;
    };
    let server = TestServer::start().unwrap();
    let url = server.scenario_url("lives-900");
    let trusting = Setup {
        ca_file: ca.pem_path().to_str(),
        ..Setup::new(&url)
    };
    let client = trusting.build().unwrap();
    let first = stored(&client, &call("tls"), &redis.tls_url());
    let second = stored(&client, &call("tls"), &redis.tls_url());
    let token = first.get().unwrap().access_token;
    assert_eq!(second.get().unwrap().access_token, token);
    assert_eq!(server.fetches_by("tls"), 1);
    assert_eq!(first.store_error(), None);
    assert_eq!(record_keys(&redis, 0, DEFAULT_PREFIX).len(), 1);
    assert_nothing_readable(&redis, 0, &[&token]);
}

/// A certificate from a CA the client does not trust (the client's CA
/// file names another) is refused: a store error, and tokens all the same.
#[test]
fn rediss_with_an_untrusted_certificate_is_a_store_error_and_still_gets_tokens() {
    let ca = TestCa::new();
    let Some(redis) = RedisServer::start_tls(&ca) else {
        return;
    };
    let other_ca = TestCa::new();
    let server = TestServer::start().unwrap();
    let url = server.scenario_url("lives-900");
    let trace = Trace::default();
    let untrusting = Setup {
        ca_file: other_ca.pem_path().to_str(),
        total_ms: TOTAL_MS,
        trace: Some(&trace),
        ..Setup::new(&url)
    };
    let client = untrusting.build().unwrap();
    let source = stored(&client, &call("untrusted"), &redis.tls_url());
    let first = timed_get(&source, "untrusted: first get");
    source.invalidate();
    assert_ne!(timed_get(&source, "untrusted: second get"), first);
    assert_eq!(server.fetches_by("untrusted"), 2);
    let store = format!("127.0.0.1:{}/0", redis.tls_port());
    expect_store_error("untrusted", &source, &store, &trace, &[redis.password()]);
    assert!(
        redis.dump().is_empty(),
        "nothing stored through a refused connection"
    );
}

/// `strict-rotate` answers invalid_grant to a refresh token presented
/// twice: sources that all see each token rejected cause one fetch a
/// round, each with the refresh token the last fetch left in Redis.
#[test]
fn a_rotating_refresh_token_is_never_presented_twice_by_sources_on_one_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("strict-rotate"));
    let lineage = refreshing("rotation", "rt-start-redis-rounds");
    let sources: Vec<Source> = (0..3)
        .map(|_| stored(&client, &lineage, &redis.url()))
        .collect();
    let rounds = 8;
    let mut seen = Vec::new();
    for round in 0..rounds {
        let old = sources[0].get().unwrap().access_token;
        for source in &sources {
            assert_eq!(source.get().unwrap().access_token, old, "round {round}");
        }
        let mut new = Vec::new();
        for source in &sources {
            source.reject(&old);
            let got = source.get();
            assert!(got.is_ok(), "round {round}: {got:?}");
            new.push(got.unwrap().access_token);
        }
        assert!(
            new.iter().all(|token| *token == new[0] && *token != old),
            "round {round}: {new:?}"
        );
        seen.push(old);
    }
    assert_eq!(server.fetches_by("rotation"), 1 + rounds);
    for source in &sources {
        assert_eq!(source.store_error(), None);
    }
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_nothing_readable(&redis, 0, &seen);
}

#[test]
fn threads_on_sources_on_one_redis_rejecting_one_token_cause_one_fetch_a_round() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("strict-rotate"));
    let lineage = refreshing("rotation-threads", "rt-start-redis-threads");
    let sources = [
        stored(&client, &lineage, &redis.url()),
        stored(&client, &lineage, &redis.url()),
    ];
    let rounds = 5;
    for round in 0..rounds {
        let old = sources[0].get().unwrap().access_token;
        assert_eq!(sources[1].get().unwrap().access_token, old, "round {round}");
        let barrier = std::sync::Barrier::new(8);
        thread::scope(|scope| {
            for i in 0..8 {
                let (source, barrier, old) = (&sources[i % 2], &barrier, &old);
                scope.spawn(move || {
                    barrier.wait();
                    source.reject(old);
                    let got = source.get();
                    assert!(got.is_ok(), "round {round}: {got:?}");
                    assert_ne!(&got.unwrap().access_token, old, "round {round}");
                });
            }
        });
    }
    assert_eq!(server.fetches_by("rotation-threads"), 1 + rounds);
}

/// A source made later, with the refresh token provisioned at the start
/// (spent since), takes the token and the rotated refresh token from
/// Redis instead.
#[test]
fn a_new_source_goes_on_with_the_lineage_stored_in_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("strict-rotate"));
    let lineage = refreshing("continued", "rt-start-redis-continued");
    let early = stored(&client, &lineage, &redis.url());
    early.get().unwrap();
    early.invalidate();
    let latest = early.get().unwrap().access_token;
    drop(early);
    let late = stored(&client, &lineage, &redis.url());
    assert_eq!(late.get().unwrap().access_token, latest, "the stored token");
    assert_eq!(server.fetches_by("continued"), 2, "no request for it");
    late.invalidate();
    let refreshed = late.get();
    assert!(
        refreshed.is_ok(),
        "the stored refresh token was used: {refreshed:?}"
    );
    assert_eq!(server.fetches_by("continued"), 3);
}

#[test]
fn redis_killed_mid_way_costs_only_the_sharing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "lives-900", Some(&trace));
    let sources = [
        stored(&client, &call("killed"), &redis.url()),
        stored(&client, &call("killed"), &redis.url()),
    ];
    let token = sources[0].get().unwrap().access_token;
    assert_eq!(sources[1].get().unwrap().access_token, token);
    redis.kill();
    for (i, source) in sources.iter().enumerate() {
        let context = format!("source {i} after the kill");
        assert_eq!(
            source.get().unwrap().access_token,
            token,
            "{context}: cached"
        );
        source.invalidate();
        assert_ne!(timed_get(source, &context), token);
        expect_store_error(
            &context,
            source,
            &redis.store_name(),
            &trace,
            &[redis.password()],
        );
    }
    assert_eq!(server.fetches_by("killed"), 3, "one each without the store");
}

/// Redis killed and started again empty: the source that kept the
/// rotated refresh token in memory writes the lineage back at its next
/// store use, its store error clears, and a new source goes on with the
/// lineage instead of presenting the spent refresh token it was made with.
#[test]
fn redis_restarted_empty_gets_the_lineage_written_back() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "strict-rotate", Some(&trace));
    let lineage = refreshing("restarted", "rt-start-redis-restarted");
    let source = stored(&client, &lineage, &redis.url());
    source.get().unwrap();
    redis.kill();
    source.invalidate();
    timed_get(&source, "while Redis is down");
    expect_store_error(
        "down",
        &source,
        &redis.store_name(),
        &trace,
        &[redis.password()],
    );
    redis.restart_empty();
    source.invalidate();
    let token = timed_get(&source, "after the restart");
    assert_eq!(
        source.store_error(),
        None,
        "cleared by a successful store use"
    );
    assert_eq!(
        record_keys(&redis, 0, DEFAULT_PREFIX).len(),
        1,
        "written back"
    );
    let fetches = server.fetches_by("restarted");
    let late = stored(&client, &lineage, &redis.url());
    assert_eq!(
        late.get().unwrap().access_token,
        token,
        "the written-back token"
    );
    assert_eq!(server.fetches_by("restarted"), fetches);
    late.invalidate();
    let refreshed = late.get();
    assert!(
        refreshed.is_ok(),
        "the written-back refresh token: {refreshed:?}"
    );
    assert_nothing_readable(&redis, 0, &[&token]);
}

/// Stops Redis (SIGSTOP: connections are accepted and nothing is
/// answered, as when it is blackholed or stalls), checks that a get of
/// `source` (which has used the store) costs only the sharing, and lets
/// Redis go on. The store error of the stop.
fn stall_once(redis: &RedisServer, source: &Source, trace: &Trace) -> ErrorView {
    redis.pause();
    source.invalidate();
    timed_get(source, "while Redis is stopped");
    let store = redis.store_name();
    let error = expect_store_error("stopped", source, &store, trace, &[redis.password()]);
    redis.resume();
    error
}

#[test]
fn a_stalled_redis_costs_only_the_sharing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "lives-900", Some(&trace));
    let source = stored(&client, &call("stalled"), &redis.url());
    source.get().unwrap();
    stall_once(&redis, &source, &trace);
    assert_eq!(server.fetches_by("stalled"), 2);
}

/// Once a stalled Redis goes on, it runs what it was sent meanwhile (a
/// SET NX of the lock whose answer came too late, say): that holds up no
/// get, the next store use clears the store error, and the lineage is
/// stored again.
#[test]
fn once_a_stalled_redis_goes_on_the_store_works_again_at_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "lives-900", Some(&trace));
    let source = stored(&client, &call("resumed"), &redis.url());
    source.get().unwrap();
    let error = stall_once(&redis, &source, &trace);
    source.invalidate();
    let started = Instant::now();
    let token = timed_get(&source, "after Redis went on");
    let took = started.elapsed();
    assert_eq!(
        source.store_error(),
        None,
        "the get after Redis went on took {took:?}; keys now: {:?}; the error of the stop: {:?}",
        redis.dump().iter().map(|(key, _)| key).collect::<Vec<_>>(),
        error.message
    );
    let fetches = server.fetches_by("resumed");
    let other = stored(&client, &call("resumed"), &redis.url());
    assert_eq!(other.get().unwrap().access_token, token, "stored again");
    assert_eq!(server.fetches_by("resumed"), fetches);
    assert_nothing_readable(&redis, 0, &[&token]);
}

/// Redis out of memory (`maxmemory` reached, no eviction) answers OOM to
/// writes and still answers reads; with room again, the store works.
#[test]
fn a_redis_out_of_memory_costs_only_the_sharing_until_it_has_room() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "lives-900", Some(&trace));
    let source = stored(&client, &call("oom"), &redis.url());
    source.get().unwrap();
    redis.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis.command(&["CONFIG", "SET", "maxmemory", "1"]);
    source.invalidate();
    timed_get(&source, "out of memory");
    let error = expect_store_error(
        "oom",
        &source,
        &redis.store_name(),
        &trace,
        &[redis.password()],
    );
    assert!(error.message.contains("OOM"), "{}", error.message);
    redis.command(&["CONFIG", "SET", "maxmemory", "0"]);
    source.invalidate();
    let token = timed_get(&source, "with room again");
    assert_eq!(source.store_error(), None);
    let other = stored(&client, &call("oom"), &redis.url());
    assert_eq!(other.get().unwrap().access_token, token, "stored again");
    assert_nothing_readable(&redis, 0, &[&token]);
}

/// A Redis that became a read-only replica (of a master that is gone)
/// answers READONLY to writes.
#[test]
fn a_read_only_replica_costs_only_the_sharing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let trace = Trace::default();
    let client = limited_client(&server, "lives-900", Some(&trace));
    let source = stored(&client, &call("replica"), &redis.url());
    source.get().unwrap();
    redis.command(&["REPLICAOF", "127.0.0.1", &free_port().to_string()]);
    source.invalidate();
    timed_get(&source, "read-only replica");
    let error = expect_store_error(
        "replica",
        &source,
        &redis.store_name(),
        &trace,
        &[redis.password()],
    );
    assert!(error.message.contains("READONLY"), "{}", error.message);
    redis.command(&["REPLICAOF", "NO", "ONE"]);
    source.invalidate();
    let token = timed_get(&source, "a master again");
    assert_eq!(source.store_error(), None);
    assert_nothing_readable(&redis, 0, &[&token]);
}

#[test]
fn a_wrong_redis_password_costs_only_the_sharing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let random = random_hex(12);
    let wrong = awkward_password(&random);
    let url = format!(
        "redis://:{}@127.0.0.1:{}/0",
        percent_encode(&wrong),
        redis.port()
    );
    let hidden = [wrong.as_str(), &random, redis.password()];
    let error = assert_fault_costs_only_sharing("wrongpass", &url, &redis.store_name(), &hidden);
    assert!(error.message.contains("WRONGPASS"), "{}", error.message);
}

#[test]
fn no_redis_password_where_one_is_required_costs_only_the_sharing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}/0", redis.port());
    let error =
        assert_fault_costs_only_sharing("noauth", &url, &redis.store_name(), &[redis.password()]);
    assert!(error.message.contains("NOAUTH"), "{}", error.message);
}

#[test]
fn nothing_listening_on_the_redis_port_costs_only_the_sharing() {
    let port = free_port();
    let random = random_hex(12);
    let url = format!("redis://:{random}@127.0.0.1:{port}/0");
    let store = format!("redis://127.0.0.1:{port}/0");
    assert_fault_costs_only_sharing("refused", &url, &store, &[&random]);
}

#[test]
fn garbage_from_redis_costs_only_the_sharing() {
    assert_fake_redis_costs_only_sharing("garbage");
}

#[test]
fn a_huge_bulk_string_from_redis_costs_only_the_sharing() {
    assert_fake_redis_costs_only_sharing("huge-bulk");
}

#[test]
fn redis_answering_one_byte_a_second_costs_only_the_sharing() {
    assert_fake_redis_costs_only_sharing("one-byte-a-second");
}

#[test]
fn a_silent_redis_costs_only_the_sharing() {
    assert_fake_redis_costs_only_sharing("silent");
}

#[test]
fn redis_closing_mid_answer_costs_only_the_sharing() {
    assert_fake_redis_costs_only_sharing("close-mid-answer");
}

/// Each error a Redis may answer, its text quoting the password it was
/// sent: the store error says which error, and never the password.
#[test]
fn redis_errors_that_echo_the_password_cost_only_the_sharing() {
    for word in ["NOAUTH", "WRONGPASS", "READONLY", "OOM", "LOADING"] {
        assert_fake_redis_costs_only_sharing(&format!("error-{word}"));
    }
}

/// The one record key of database 0 under the default prefix.
fn the_record_key(redis: &RedisServer) -> String {
    let keys = record_keys(redis, 0, DEFAULT_PREFIX);
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].clone()
}

/// Puts `record` (a hash's fields and values, as `hash` gave them) back
/// in place of what `key` holds.
fn put_back(redis: &RedisServer, key: &str, record: &[(String, Vec<u8>)]) {
    redis.command(&["DEL", key]);
    for (field, value) in record {
        let words: [&[u8]; 4] = [b"HSET", key.as_bytes(), field.as_bytes(), value];
        redis.try_command(&words).unwrap();
    }
}

#[test]
fn a_record_put_back_from_an_older_copy_does_not_take_a_hosts_newer_refresh_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("strict-rotate"));
    let lineage = refreshing("rolled-back", "rt-start-redis-rolled-back");
    let host = stored(&client, &lineage, &redis.url());
    let first = host.get().unwrap().access_token;
    let key = the_record_key(&redis);
    // What a replica that missed the later writes, or a restored copy,
    // holds: the record of the first token and its (since spent) refresh
    // token.
    let old_copy = redis.hash(&key);
    for _ in 0..2 {
        let token = host.get().unwrap().access_token;
        host.reject(&token);
        assert!(host.get().is_ok());
    }
    put_back(&redis, &key, &old_copy);
    let token = host.get().unwrap().access_token;
    host.reject(&token);
    let after = host.get();
    assert!(
        after.is_ok(),
        "the host presented the old copy's spent refresh token: {after:?}"
    );
    let newest = after.unwrap().access_token;
    assert_ne!(newest, first);
    // Written back: a new host goes on from it, without a fetch.
    let fetches = server.fetches_by("rolled-back");
    let newcomer = stored(&client, &lineage, &redis.url());
    assert_eq!(newcomer.get().unwrap().access_token, newest);
    newcomer.reject(&newest);
    assert!(
        newcomer.get().is_ok(),
        "the record written back is the live lineage"
    );
    assert_eq!(server.fetches_by("rolled-back"), fetches + 1);
    assert_nothing_readable(&redis, 0, &[&first, &newest]);
}

#[test]
fn a_host_that_starts_over_on_an_emptied_redis_takes_nothing_from_a_host_with_the_live_lineage() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("strict-rotate"));
    let lineage = refreshing("emptied", "rt-start-redis-emptied");
    let live = stored(&client, &lineage, &redis.url());
    let token = live.get().unwrap().access_token;
    live.reject(&token);
    assert!(live.get().is_ok());
    redis.command(&["FLUSHALL"]);
    // A host that starts now can present only the provisioned refresh
    // token, which the server revoked: refused, as no client can help.
    let latecomer = stored(&client, &lineage, &redis.url());
    let refused = latecomer.get().unwrap_err();
    assert_eq!(
        refused.code.as_deref(),
        Some("invalid_grant"),
        "{refused:?}"
    );
    // The host with the live lineage goes on, and writes it back.
    for round in 0..3 {
        let token = live.get().unwrap().access_token;
        live.reject(&token);
        let got = live.get();
        assert!(
            got.is_ok(),
            "round {round}: the live host took the refused state: {got:?}"
        );
    }
    let newest = live.get().unwrap().access_token;
    let newcomer = stored(&client, &lineage, &redis.url());
    assert_eq!(newcomer.get().unwrap().access_token, newest);
}

#[test]
fn a_lock_left_with_no_expiry_is_given_the_lease_and_lapses() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let client = limited_client(&server, "lives-900", None);
    let source = stored(&client, &call("stuck-lock"), &redis.url());
    assert!(source.get().is_ok());
    let key = the_record_key(&redis);
    let lock = key.replace(":record", ":lock");
    redis.command(&["SET", &lock, "left-by-hand"]);
    assert_eq!(redis.command(&["PTTL", &lock]), "-1");
    source.invalidate();
    let started = Instant::now();
    let waited = source.get();
    assert!(started.elapsed() < GET_BOUND, "{:?}", started.elapsed());
    assert_eq!(waited.unwrap_err().status, CRITEO_ERR_TIMEOUT);
    let pttl: i64 = redis.command(&["PTTL", &lock]).parse().unwrap();
    assert!(pttl > 0, "the lock still has no expiry: {pttl}");
    thread::sleep(Duration::from_millis(pttl as u64 + 50));
    assert!(source.get().is_ok(), "the lock did not lapse");
}

#[test]
fn a_redis_error_that_begins_with_the_password_in_capitals_shows_none_of_it() {
    let fake = FakeRedis::start(FakeRedisMode::EchoPassword).unwrap();
    let random = random_hex(12).to_uppercase();
    let password = format!("HUNTER_TWO_{random}");
    let url = format!("redis://:{password}@127.0.0.1:{}/0", fake.port());
    let store = format!("redis://127.0.0.1:{}/0", fake.port());
    let secrets = [password.as_str(), random.as_str(), "HUNTER_TWO"];
    assert_fault_costs_only_sharing("echo-password", &url, &store, &secrets);
    assert!(
        fake.commands().iter().any(|c| c == "AUTH"),
        "the password was never sent, so never echoed"
    );
}

/// The clocks of a host of its own: the system's boot clock, and the
/// system's wall clock set `wall_ahead_s` seconds ahead (behind when
/// negative), as a host whose clock is off.
struct HostClock {
    id: &'static str,
    wall_ahead_s: i64,
}

impl criteo_oauth::clock::Clock for HostClock {
    fn now(&self) -> criteo_oauth::clock::Moment {
        criteo_oauth::clock::SystemClock.now()
    }

    fn wall(&self) -> std::time::SystemTime {
        let by = Duration::from_secs(self.wall_ahead_s.unsigned_abs());
        match self.wall_ahead_s >= 0 {
            true => std::time::SystemTime::now() + by,
            false => std::time::SystemTime::now() - by,
        }
    }

    fn boot_clock_id(&self) -> String {
        self.id.to_owned()
    }
}

/// A source of `host`'s own, for `client_id` on `url`, sharing `store`.
fn host_source(
    url: &str,
    client_id: &str,
    store: &str,
    host: HostClock,
) -> std::sync::Arc<criteo_oauth::source::TokenSource> {
    let mut config = criteo_oauth::ClientConfig::default();
    config.set_host(url).unwrap();
    config.set_max_retries(0).unwrap();
    let request = criteo_oauth::TokenRequest::new(&criteo_oauth::TokenRequestFields {
        grant_type: "client_credentials",
        client_id,
        client_secret: SECRET,
        ..Default::default()
    })
    .unwrap();
    let source = criteo_oauth::source::TokenSource::with_clock(
        config.build().unwrap(),
        request,
        std::sync::Arc::new(host),
    );
    source.set_store(Some(store)).unwrap();
    std::sync::Arc::new(source)
}

#[test]
fn hosts_whose_wall_clocks_are_a_minute_apart_share_one_token_on_redis_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let url = server.scenario_url("lives-60");
    let token = |host: HostClock| {
        let source = host_source(&url, "skewed", &redis.url(), host);
        let token = source.get().unwrap().access_token().expose().to_owned();
        assert!(source.store_error().is_none(), "{:?}", source.store_error());
        token
    };
    let first = token(HostClock {
        id: "host-on-time",
        wall_ahead_s: 0,
    });
    // On their own wall clocks, the token would come from 60 s in the
    // future (not taken), or be 60 s old (expired): each would fetch.
    let behind = token(HostClock {
        id: "host-behind",
        wall_ahead_s: -60,
    });
    let ahead = token(HostClock {
        id: "host-ahead",
        wall_ahead_s: 60,
    });
    assert_eq!(
        (behind.as_str(), ahead.as_str()),
        (first.as_str(), first.as_str())
    );
    assert_eq!(server.fetches_by("skewed"), 1);
}

#[test]
fn a_host_cut_off_from_redis_and_the_server_keeps_no_stale_refresh_token_over_the_stores() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = TestServer::start().unwrap();
    let url = server.scenario_url("strict-rotate");
    let lineage = refreshing("cut-off", "rt-start-redis-cut-off");
    let a_client = Client::new(&url);
    // B reaches the token server only through a proxy that is not there:
    // while Redis is stopped too, its fetch fails and holds nothing new.
    let b_client = Setup {
        proxy: Some("http://127.0.0.1:1"),
        ..Setup::new(&url)
    }
    .build()
    .unwrap();
    let a = stored(&a_client, &lineage, &redis.url());
    let b = stored(&b_client, &lineage, &redis.url());
    let first = a.get().unwrap().access_token;
    assert_eq!(b.get().unwrap().access_token, first);
    redis.pause();
    b.reject(&first);
    assert!(b.get().is_err(), "B reaches neither Redis nor the server");
    redis.resume();
    a.reject(&first);
    let second = a.get().unwrap().access_token;
    // B's own failure holds it back a second; then it takes A's lineage.
    thread::sleep(Duration::from_millis(1_100));
    assert_eq!(b.get().unwrap().access_token, second);
    a.reject(&second);
    let third = a.get();
    assert!(
        third.is_ok(),
        "B wrote its stale refresh token over A's: {third:?}"
    );
    let newcomer = stored(&a_client, &lineage, &redis.url());
    assert_eq!(
        newcomer.get().unwrap().access_token,
        third.unwrap().access_token
    );
}

#[test]
fn a_redis_that_refuses_time_is_not_used_and_says_so() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let password = random_hex(8);
    redis.command(&[
        "ACL",
        "SETUSER",
        "no-clock",
        "on",
        &format!(">{password}"),
        "~*",
        "+@all",
        "-time",
    ]);
    let url = format!("redis://no-clock:{password}@127.0.0.1:{}/0", redis.port());
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.scenario_url("lives-900"));
    let first = stored(&client, &call("no-clock"), &url);
    let second = stored(&client, &call("no-clock"), &url);
    assert!(first.get().is_ok());
    assert!(second.get().is_ok());
    assert_eq!(
        server.fetches_by("no-clock"),
        2,
        "a store read on no clock was used"
    );
    let error = first.store_error().expect("the store's failure reported");
    assert!(error.message.contains("NOPERM"), "{}", error.message);
    assert!(!error.message.contains(&password), "{}", error.message);
}
