//! Time and a token source, on a clock the test moves: a refresh that no
//! caller waits for, a token never served once its lifetime has passed
//! (whatever the wall clock does), and refreshes spread over a fleet.
//! The server is real; only the clock is the test's.

mod support;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use criteo_oauth::source::TokenSource;
use criteo_oauth::{ClientConfig, ErrorKind, Token, TokenRequest, TokenRequestFields};
use support::TestServer;
use support::fake_clock::FakeClock;

/// Past the refresh instant of a 900 s token, whatever its source's jitter
/// (the margin is 225 s, shortened by up to 22.5 s).
const PAST_ANY_REFRESH: Duration = Duration::from_secs(698);
const LIFETIME: Duration = Duration::from_secs(900);

fn source_with(host: &str, client_id: &str, clock: &Arc<FakeClock>) -> Arc<TokenSource> {
    let mut config = ClientConfig::default();
    config.set_host(host).unwrap();
    // One request per fetch, so that the server counts fetches.
    config.set_max_retries(0).unwrap();
    let request = TokenRequest::new(&TokenRequestFields {
        grant_type: "client_credentials",
        client_id,
        client_secret: "secret",
        ..Default::default()
    })
    .unwrap();
    let clock: Arc<FakeClock> = Arc::clone(clock);
    Arc::new(TokenSource::with_clock(
        config.build().unwrap(),
        request,
        clock,
    ))
}

fn access_token(token: &Token) -> String {
    token.access_token().expose().to_owned()
}

/// A server, a stopped clock, and a source on both for `scenario` that has
/// fetched its first token (whose access token comes last).
fn started(
    scenario: &str,
    client_id: &str,
) -> (TestServer, Arc<FakeClock>, Arc<TokenSource>, String) {
    let server = TestServer::start().unwrap();
    let clock = Arc::new(FakeClock::new("boot"));
    let source = source_with(&server.scenario_url(scenario), client_id, &clock);
    let first = access_token(&source.get().unwrap());
    (server, clock, source, first)
}

/// Waits (on the real clock, at most 10 s) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

#[test]
fn a_get_when_the_refresh_falls_due_returns_at_once_and_the_library_refreshes() {
    let (server, clock, source, first) = started("held-refresh-expires-900", "due");
    let announced = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&announced);
    source.set_refresh_callback(Some(Box::new(move |token: &Arc<Token>| {
        let thread = thread::current().name().unwrap_or("?").to_owned();
        seen.lock().unwrap().push((access_token(token), thread));
    })));
    clock.advance(PAST_ANY_REFRESH);
    let at_refresh = access_token(&source.get().unwrap());
    assert_eq!(
        at_refresh, first,
        "the valid token, at once: the server holds the refresh's answer"
    );
    eventually("the refresh reaches the server", || {
        server.requests().len() == 2
    });
    assert_eq!(access_token(&source.get().unwrap()), first);
    server.release_held();
    eventually("the refreshed token is served", || {
        access_token(&source.get().unwrap()) != first
    });
    let announced = announced.lock().unwrap();
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(
        announced[0].1, "criteo-oauth fetch",
        "the callback of a background refresh runs on the library's thread"
    );
    assert_eq!(server.requests().len(), 2, "one refresh");
}

#[test]
fn sixty_four_threads_reading_during_a_background_refresh_never_wait() {
    let (server, clock, source, first) = started("held-refresh-expires-900", "readers");
    clock.advance(PAST_ANY_REFRESH);
    // This get starts the refresh, which cannot end before the readers do:
    // had any of them waited for it, it would be waiting still.
    assert_eq!(access_token(&source.get().unwrap()), first);
    thread::scope(|scope| {
        for reader in 0..64 {
            let (source, first) = (&source, &first);
            scope.spawn(move || {
                for _ in 0..200 {
                    let token = match reader % 3 {
                        0 => source.get().unwrap(),
                        1 => source.try_get().unwrap().unwrap(),
                        _ => source.cached().expect("served without a lock"),
                    };
                    assert_eq!(&access_token(&token), first);
                }
            });
        }
    });
    assert_eq!(server.requests().len(), 2, "one refresh for 12,800 gets");
    server.release_held();
    eventually("the refreshed token is served", || {
        access_token(&source.get().unwrap()) != first
    });
}

#[test]
fn a_failing_background_refresh_keeps_the_token_until_its_expiry_and_no_later() {
    let (server, clock, source, first) = started("200-then-503-expires-900", "failing");
    clock.advance(PAST_ANY_REFRESH);
    assert_eq!(access_token(&source.get().unwrap()), first);
    eventually("the refresh fails", || server.requests().len() == 2);
    // Each failure waits 1 s, 2 s, 4 s... (on the clock the source reads)
    // before the next get tries again, still serving the valid token.
    let mut waited = PAST_ANY_REFRESH;
    eventually("the refresh is tried again before expiry", || {
        clock.advance(Duration::from_secs(5));
        waited += Duration::from_secs(5);
        assert!(waited < LIFETIME, "no second try within the lifetime");
        assert_eq!(access_token(&source.get().unwrap()), first);
        server.requests().len() >= 3
    });
    clock.advance(LIFETIME - waited - Duration::from_millis(1));
    assert_eq!(
        access_token(&source.get().unwrap()),
        first,
        "a millisecond before expiry"
    );
    clock.advance(Duration::from_millis(1));
    assert!(source.cached().is_none(), "expired");
    if let Some(Ok(token)) = source.try_get() {
        panic!("try_get served {} after expiry", access_token(&token));
    }
    let error = source.get().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HttpStatus, "{error}");
}

#[test]
fn a_suspend_ends_the_token_and_a_wall_clock_step_changes_nothing() {
    let (server, clock, source, first) = started("lives-900", "suspend");
    for step in [3600, -3600, -7200, 3600] {
        clock.step_wall(step);
        assert_eq!(access_token(&source.get().unwrap()), first);
        assert_eq!(access_token(&source.cached().unwrap()), first);
    }
    assert_eq!(server.requests().len(), 1, "no fetch for a wall clock step");
    clock.advance(Duration::from_secs(3600));
    assert!(source.cached().is_none());
    assert!(source.try_get().is_none(), "a fetch is due");
    let after = access_token(&source.get().unwrap());
    assert_ne!(after, first, "the suspended token is dead");
    let within = source.get_within(Duration::ZERO).unwrap().unwrap();
    assert_eq!(access_token(&within), after);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn through_the_store_one_boot_goes_by_its_boot_clock_and_another_by_the_wall_clock() {
    let server = TestServer::start().unwrap();
    let store = std::env::temp_dir().join(format!("criteo-time-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let host = server.scenario_url("lives-900");
    let made_with = |clock: &Arc<FakeClock>| {
        let source = source_with(&host, "stored", clock);
        source.set_store(Some(store.to_str().unwrap())).unwrap();
        source
    };
    let writer_clock = Arc::new(FakeClock::new("boot-1"));
    let first = access_token(&made_with(&writer_clock).get().unwrap());

    let same_boot = Arc::new(FakeClock::new("boot-1"));
    same_boot.step_wall(-3600);
    assert_eq!(
        access_token(&made_with(&same_boot).get().unwrap()),
        first,
        "same boot, wall clock an hour back: the stored token is taken"
    );
    same_boot.step_wall(7200);
    assert_eq!(
        access_token(&made_with(&same_boot).get().unwrap()),
        first,
        "same boot, wall clock an hour ahead: still taken"
    );
    assert_eq!(server.requests().len(), 1);

    let next_boot = Arc::new(FakeClock::new("boot-2"));
    next_boot.advance(Duration::from_secs(600));
    assert_eq!(
        access_token(&made_with(&next_boot).get().unwrap()),
        first,
        "another boot, 600 s later by the wall clock: still valid"
    );
    assert_eq!(server.requests().len(), 1);
    next_boot.advance(Duration::from_secs(300));
    let fetched = access_token(&made_with(&next_boot).get().unwrap());
    assert_ne!(fetched, first, "another boot, 900 s later: expired");
    assert_eq!(server.requests().len(), 2);
    let _ = std::fs::remove_dir_all(&store);
}

/// When a source made on `clock` now would refresh its token: the first
/// moment its lock-free read no longer serves it, to the millisecond.
fn refresh_instant(source: &TokenSource, clock: &FakeClock) -> Duration {
    let (mut served, mut due) = (Duration::ZERO, LIFETIME);
    while due - served > Duration::from_millis(1) {
        let middle = served + (due - served) / 2;
        clock.advance(middle);
        let fresh = source.cached().is_some();
        clock.rewind(middle);
        if fresh {
            served = middle;
        } else {
            due = middle;
        }
    }
    due
}

#[test]
fn a_thousand_sources_made_at_once_spread_their_refreshes_over_the_jitter_window() {
    let server = TestServer::start().unwrap();
    let clock = Arc::new(FakeClock::new("boot"));
    let host = server.scenario_url("lives-900");
    let instants: Vec<f64> = (0..1000)
        .map(|_| {
            let source = source_with(&host, "fleet", &clock);
            source.get().unwrap();
            refresh_instant(&source, &clock).as_secs_f64()
        })
        .collect();
    // A 225 s margin, shortened by up to 22.5 s: from 675 s to 697.5 s.
    let (earliest, latest) = (675.0, 697.5);
    let mut bins = [0; 10];
    for instant in &instants {
        assert!(
            (earliest - 0.002..=latest + 0.002).contains(instant),
            "{instant}"
        );
        let bin = ((instant - earliest) / (latest - earliest) * 10.0) as usize;
        bins[bin.min(9)] += 1;
    }
    // 100 expected in each; fewer than 50 is more than five deviations off.
    assert!(bins.iter().all(|&count| count >= 50), "{bins:?}");
}

#[test]
fn a_token_that_dies_while_the_refresh_callback_runs_is_not_served() {
    let (server, clock, source, first) = started("lives-900", "dies");
    let during = Arc::new(Mutex::new(None));
    let (weak, seen, suspended) = (
        Arc::downgrade(&source),
        Arc::clone(&during),
        Arc::clone(&clock),
    );
    source.set_refresh_callback(Some(Box::new(move |_: &Arc<Token>| {
        let mut seen = seen.lock().unwrap();
        if seen.is_none() {
            // A suspend of an hour while the first call runs.
            suspended.advance(Duration::from_secs(3600));
            let source = weak.upgrade().expect("the source lives");
            *seen = Some(source.get().map(|token| access_token(&token)));
        }
    })));
    clock.advance(PAST_ANY_REFRESH);
    assert_eq!(access_token(&source.get().unwrap()), first);
    eventually("the callback has run", || during.lock().unwrap().is_some());
    let got = during.lock().unwrap().clone().unwrap();
    let error = got.expect_err("the token the callback was given died during it");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    // Until the callback has returned, gets fail as that one did.
    eventually("a new token once the callback has returned", || {
        source
            .get()
            .is_ok_and(|token| access_token(&token) != first)
    });
    assert_eq!(server.requests().len(), 3, "the refresh, then a new fetch");
}
