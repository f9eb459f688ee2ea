//! The token source: one cached token shared by threads, refreshed early,
//! one fetch at a time; against the test server, which counts requests.

mod support;

use std::ffi::c_void;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criteo_oauth::ffi::source::*;
use criteo_oauth::ffi::status::*;
use criteo_oauth::ffi::token::*;
use support::{Call, Client, Setup, Source, TestServer, assert_invalid_grant, demo_call, unix_now};

/// The `authorization_code` grant with `code`.
fn code_call(code: &'static str) -> Call<'static> {
    Call {
        grant_type: "authorization_code",
        code: Some(code),
        redirect_uri: Some("https://app.example/cb"),
        ..demo_call()
    }
}

fn source_for(server: &TestServer, scenario: &str, call: &Call) -> Source {
    let client = Client::new(&server.scenario_url(scenario));
    // The source keeps its own reference: the client handle may go first.
    Source::new(&client, call).unwrap()
}

#[test]
fn many_threads_share_one_fetch_per_expiry_window() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "lives-3", &demo_call());
    source.set_refresh_margin(1);
    let started = Instant::now();
    let run_for = Duration::from_secs(5);
    let gets = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..32 {
            scope.spawn(|| {
                let mut mine = 0;
                while mine < 10_000 || started.elapsed() < run_for {
                    let token = source.get().expect("every get succeeds");
                    assert!(
                        token.expires_at >= unix_now() - 1,
                        "an expired token was served"
                    );
                    mine += 1;
                }
                gets.fetch_add(mine, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let fetches = server.requests().len();
    // The token is due 2 s after each fetch: one fetch per 2 s window.
    let windows = (elapsed / 2.0).ceil() as usize;
    println!(
        "{} gets in {elapsed:.1} s, {fetches} fetches",
        gets.into_inner()
    );
    assert!(fetches >= 2, "the token was never refreshed");
    assert!(
        fetches <= windows + 1,
        "{fetches} fetches for {windows} windows"
    );
}

#[test]
fn a_slow_refresh_holds_up_neither_its_caller_nor_other_readers() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "slow-refresh-2000-expires-4", &demo_call());
    source.set_refresh_margin(3);
    let first = source.get().unwrap();
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(
        source.get().unwrap(),
        first,
        "due for refresh: the valid token, without waiting for the refresh"
    );
    std::thread::scope(|readers| {
        for _ in 0..8 {
            readers.spawn(|| {
                for _ in 0..100 {
                    let token = source.get().unwrap();
                    assert_eq!(
                        token.access_token, first.access_token,
                        "the old token is served while the refresh runs"
                    );
                }
            });
        }
    });
    // The refresh's request, sent from the library's thread.
    eventually(|| (server.requests().len() == 2).then_some(()));
    let refreshed = eventually(|| {
        let token = source.get().unwrap();
        (token != first).then_some(token)
    });
    assert_ne!(refreshed.access_token, first.access_token);
    assert_eq!(server.requests().len(), 2, "one refresh");
}

/// What `found` finds within 10 s of polling.
fn eventually<R>(mut found: impl FnMut() -> Option<R>) -> R {
    for _ in 0..1000 {
        if let Some(result) = found() {
            return result;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("not found within 10 s");
}

static SEEN_REFRESH_TOKENS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn remember_refresh_token(user_data: *mut c_void, token: *const criteo_token) {
    assert_eq!(user_data as usize, 42, "user_data is passed through");
    // SAFETY: the token is live for the duration of the callback.
    let refresh = unsafe { std::ffi::CStr::from_ptr(criteo_token_refresh_token(token)) };
    SEEN_REFRESH_TOKENS
        .lock()
        .unwrap()
        .push(refresh.to_str().unwrap().to_owned());
}

#[test]
fn an_authorization_code_is_used_once_then_refresh_tokens_rotate() {
    let server = TestServer::start().unwrap();
    let call = code_call("the-code");
    let source = source_for(&server, "rotate", &call);
    // SAFETY: a live source and a callback that is safe from any thread.
    let status = unsafe {
        criteo_token_source_set_refresh_callback(
            source.as_ptr(),
            Some(remember_refresh_token),
            42 as *mut c_void,
        )
    };
    assert_eq!(status, CRITEO_OK);
    assert_eq!(source.get().unwrap().refresh_token.as_deref(), Some("rt-1"));
    for _ in 0..3 {
        source.invalidate();
        source.get().unwrap();
    }
    let requests = server.requests();
    let fields = |i: usize, name: &str| requests[i].field(name);
    assert_eq!(requests.len(), 4);
    assert_eq!(
        fields(0, "grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(fields(0, "code").as_deref(), Some("the-code"));
    for (i, used) in ["rt-1", "rt-2", "rt-3"].iter().enumerate() {
        assert_eq!(
            fields(i + 1, "grant_type").as_deref(),
            Some("refresh_token")
        );
        assert_eq!(fields(i + 1, "refresh_token").as_deref(), Some(*used));
        assert_eq!(fields(i + 1, "code"), None, "the code is sent exactly once");
    }
    assert_eq!(
        *SEEN_REFRESH_TOKENS.lock().unwrap(),
        ["rt-1", "rt-2", "rt-3", "rt-4"]
    );
}

#[test]
fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let server = TestServer::start().unwrap();
    let call = Call {
        grant_type: "refresh_token",
        refresh_token: Some("rt-start"),
        ..demo_call()
    };
    let source = source_for(&server, "keep-refresh", &call);
    for _ in 0..3 {
        source.get().unwrap();
        source.invalidate();
    }
    let used: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.field("refresh_token").unwrap())
        .collect();
    assert_eq!(used, ["rt-start", "rt-start", "rt-start"]);
}

#[test]
fn a_failing_endpoint_is_not_stormed() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "503-always", &demo_call());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..32 {
            scope.spawn(|| {
                while started.elapsed() < Duration::from_secs(2) {
                    let error = source.get().unwrap_err();
                    assert_eq!(error.http_status, 503);
                }
            });
        }
    });
    // A fetch at 0 s, the next after 1 s, the one after that not before 3 s.
    let requests = server.requests().len();
    assert!((1..=3).contains(&requests), "{requests} requests in 2 s");
}

#[test]
fn retry_after_holds_back_the_next_fetch() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "503-retry-after-2", &demo_call());
    let first = source.get().unwrap_err();
    assert_eq!((first.http_status, first.retry_after), (503, 2));
    for _ in 0..100 {
        assert_eq!(source.get().unwrap_err(), first, "the same error, at once");
    }
    assert_eq!(server.requests().len(), 1);
    std::thread::sleep(Duration::from_millis(2_100));
    source.get().unwrap_err();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_failed_refresh_keeps_serving_the_valid_token() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "200-then-503-expires-3", &demo_call());
    source.set_refresh_margin(2);
    let first = source.get().unwrap();
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(
        source.get().unwrap(),
        first,
        "due for refresh: the valid token, refreshed in the background"
    );
    eventually(|| (server.requests().len() == 2).then_some(()));
    // Until the refresh has failed, and after, the valid token is served.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(source.get().unwrap(), first);
    assert_eq!(
        server.requests().len(),
        2,
        "no new attempt before the backoff has passed"
    );
    std::thread::sleep(Duration::from_millis(2_000));
    let error = source.get().unwrap_err();
    assert_eq!(
        error.status, CRITEO_ERR_HTTP_STATUS,
        "expired now, and the refresh failed: {}",
        error.message
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn invalidate_under_concurrency_causes_one_fetch() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "json", &demo_call());
    let first = source.get().unwrap();
    let barrier = Barrier::new(32);
    std::thread::scope(|scope| {
        for _ in 0..32 {
            scope.spawn(|| {
                barrier.wait();
                source.invalidate();
                barrier.wait();
                assert_ne!(source.get().unwrap().access_token, first.access_token);
            });
        }
    });
    assert_eq!(server.requests().len(), 2);
}

struct Reentrant {
    source: *const criteo_token_source,
    inner_status: Mutex<Option<criteo_status>>,
}

unsafe extern "C" fn get_again(user_data: *mut c_void, _token: *const criteo_token) {
    // SAFETY: user_data is the Reentrant the test registered, alive for the test.
    let reentrant = unsafe { &*(user_data as *const Reentrant) };
    let mut token = std::ptr::null_mut();
    // SAFETY: a live source and a writable out-parameter.
    let status =
        unsafe { criteo_token_source_get(reentrant.source, &mut token, std::ptr::null_mut()) };
    // SAFETY: the token came from the library; NULL is allowed.
    unsafe { criteo_token_free(token) };
    *reentrant.inner_status.lock().unwrap() = Some(status);
}

#[test]
fn the_callback_may_call_get_without_deadlock() {
    // "lives-0": the token is expired on arrival, so a get from the callback
    // that fetched again would recurse until the stack overflowed.
    for scenario in ["json", "lives-0"] {
        the_callback_gets_its_own_token(scenario);
    }
}

fn the_callback_gets_its_own_token(scenario: &str) {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, scenario, &demo_call());
    let reentrant = Reentrant {
        source: source.as_ptr(),
        inner_status: Mutex::new(None),
    };
    // SAFETY: reentrant outlives every get below.
    unsafe {
        criteo_token_source_set_refresh_callback(
            source.as_ptr(),
            Some(get_again),
            &reentrant as *const _ as *mut c_void,
        );
    }
    source.get().unwrap();
    assert_eq!(*reentrant.inner_status.lock().unwrap(), Some(CRITEO_OK));
    assert_eq!(
        server.requests().len(),
        1,
        "{scenario}: the inner get was answered with the token just fetched"
    );
    // SAFETY: a live source; NULL removes the callback.
    unsafe {
        criteo_token_source_set_refresh_callback(source.as_ptr(), None, std::ptr::null_mut())
    };
}

#[test]
fn a_token_outlives_its_source_and_the_source_outlives_its_client() {
    let server = TestServer::start().unwrap();
    let client = Setup::new(&server.url()).build().unwrap();
    let source = Source::new(&client, &demo_call()).unwrap();
    drop(client);
    let mut token = std::ptr::null_mut();
    // SAFETY: a live source and a writable out-parameter.
    assert_eq!(
        unsafe { criteo_token_source_get(source.as_ptr(), &mut token, std::ptr::null_mut()) },
        CRITEO_OK
    );
    drop(source);
    let view = support::take_token(token);
    assert_eq!(view.expires_in, 900);
}

#[test]
fn source_mistakes_are_invalid_arguments() {
    let client = Client::new("http://127.0.0.1:9");
    let error = Source::new(
        &client,
        &Call {
            client_secret: "",
            ..demo_call()
        },
    )
    .err()
    .unwrap();
    assert_eq!(error.status, CRITEO_ERR_INVALID_ARGUMENT);
    assert_eq!(error.message, "client_secret must not be empty");
    let error = Source::new(
        &client,
        &Call {
            grant_type: "authorization_code",
            ..demo_call()
        },
    )
    .err()
    .unwrap();
    assert_eq!(
        error.message,
        "code is required with grant_type authorization_code"
    );

    let source = Source::new(&client, &demo_call()).unwrap();
    let mut token = std::ptr::null_mut();
    let mut error = std::ptr::null_mut();
    // SAFETY: deliberately NULL arguments; everything else is live.
    unsafe {
        assert_eq!(
            criteo_token_source_set_refresh_margin(source.as_ptr(), 86_401),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            criteo_token_source_set_refresh_margin(std::ptr::null_mut(), 1),
            CRITEO_ERR_INVALID_ARGUMENT
        );
        let status = criteo_token_source_set_refresh_callback(
            std::ptr::null_mut(),
            None,
            std::ptr::null_mut(),
        );
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
        let status = criteo_token_source_get(std::ptr::null(), &mut token, &mut error);
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
        assert_eq!(
            support::take_error(error).message,
            "source must not be NULL"
        );
        let status =
            criteo_token_source_get(source.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
        let status = criteo_token_source_try_get(std::ptr::null(), &mut token, &mut error);
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
        assert_eq!(
            support::take_error(error).message,
            "source must not be NULL"
        );
        let status = criteo_token_source_try_get(
            source.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT);
        criteo_token_source_invalidate(std::ptr::null());
        criteo_token_source_free(std::ptr::null_mut());
    }
    assert!(token.is_null());
}

/// Gets from `threads` threads released at once; each returns its token's
/// access token and how long the get took.
fn gets_at_once(source: &Source, threads: usize) -> Vec<(Result<String, criteo_status>, Duration)> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let asked = Instant::now();
                    let got = source.get().map(|t| t.access_token).map_err(|e| e.status);
                    (got, asked.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn threads_waiting_for_a_fetch_share_its_token_even_if_already_expired() {
    let server = TestServer::start().unwrap();
    // A token with expires_in 0, half a second late; a 2 s limit per call.
    let client = Client::with_timeouts(&server.scenario_url("slow-500-lives-0"), 1_000, 2_000);
    let source = Source::new(&client, &demo_call()).unwrap();
    let outcomes = gets_at_once(&source, 64);
    let fetches = server.requests().len();
    assert!(
        fetches <= 2,
        "{fetches} fetches for 64 gets started together"
    );
    for (got, took) in &outcomes {
        assert!(got.is_ok(), "{got:?}");
        assert!(*took < Duration::from_secs(3), "a get took {took:?}");
    }
}

#[test]
fn a_huge_retry_after_neither_panics_nor_holds_up_waiters() {
    let server = TestServer::start().unwrap();
    let scenario = server.scenario_url("slow-300-503-retry-after-18446744073709551615");
    let client = Client::with_timeouts(&scenario, 1_000, 2_000);
    let source = Source::new(&client, &demo_call()).unwrap();
    for (got, took) in gets_at_once(&source, 8) {
        assert_eq!(got, Err(CRITEO_ERR_HTTP_STATUS), "not an internal error");
        assert!(took < Duration::from_secs(3), "a get took {took:?}");
    }
    // Later gets answer at once with the remembered error.
    assert_eq!(source.get().unwrap_err().status, CRITEO_ERR_HTTP_STATUS);
}

/// What the ordering test's callback sees.
struct CallbackLog {
    refresh_numbers: Mutex<Vec<u32>>,
    running: std::sync::atomic::AtomicBool,
    overlaps: std::sync::atomic::AtomicUsize,
}

unsafe extern "C" fn log_refresh_number(user_data: *mut c_void, token: *const criteo_token) {
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: user_data is the test's CallbackLog, alive while the source is.
    let log = unsafe { &*(user_data as *const CallbackLog) };
    if log.running.swap(true, SeqCst) {
        log.overlaps.fetch_add(1, SeqCst);
    }
    // SAFETY: the token is live for the duration of the callback.
    let refresh = unsafe { std::ffi::CStr::from_ptr(criteo_token_refresh_token(token)) };
    let number = refresh
        .to_str()
        .unwrap()
        .trim_start_matches("rt-")
        .parse()
        .unwrap();
    log.refresh_numbers.lock().unwrap().push(number);
    std::thread::yield_now();
    log.running.store(false, SeqCst);
}

#[test]
fn refresh_callbacks_come_one_at_a_time_in_the_order_of_the_fetches() {
    let server = TestServer::start().unwrap();
    let call = code_call("the-code");
    let source = source_for(&server, "rotate", &call);
    let log = CallbackLog {
        refresh_numbers: Mutex::new(Vec::new()),
        running: std::sync::atomic::AtomicBool::new(false),
        overlaps: std::sync::atomic::AtomicUsize::new(0),
    };
    // SAFETY: a live source; `log` outlives every get below.
    unsafe {
        criteo_token_source_set_refresh_callback(
            source.as_ptr(),
            Some(log_refresh_number),
            &log as *const CallbackLog as *mut c_void,
        );
    }
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                for _ in 0..60 {
                    // As after an API 401: the token is thrown away at once.
                    let _ = source.get();
                    source.invalidate();
                }
            });
        }
    });
    // SAFETY: a live source; NULL removes the callback.
    unsafe {
        criteo_token_source_set_refresh_callback(source.as_ptr(), None, std::ptr::null_mut())
    };
    let numbers = log.refresh_numbers.into_inner().unwrap();
    assert!(numbers.len() > 50, "only {} fetches", numbers.len());
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    assert_eq!(numbers, expected, "every rotated refresh token, in order");
    assert_eq!(log.overlaps.into_inner(), 0, "callbacks overlapped");
}

#[test]
fn a_spent_code_keeps_its_oauth_error_on_every_later_get() {
    let server = TestServer::start().unwrap();
    let call = code_call("already-used");
    let source = source_for(&server, "400-json", &call);
    let first = source.get().unwrap_err();
    // After the 1 s backoff, the answer comes from the source's memory.
    std::thread::sleep(Duration::from_millis(1_100));
    let later = source.get().unwrap_err();
    assert_eq!(
        server.requests().len(),
        1,
        "a spent code is never sent again"
    );
    assert_invalid_grant(&first);
    assert_invalid_grant(&later);
    assert!(
        later
            .message
            .starts_with("the authorization code was already sent"),
        "{}",
        later.message
    );
}

#[test]
fn server_numbers_of_any_size_are_read_without_wrapping() {
    let server = TestServer::start().unwrap();
    let huge = source_for(
        &server,
        "503-retry-after-99999999999999999999999",
        &demo_call(),
    );
    assert_eq!(huge.get().unwrap_err().retry_after, i64::MAX, "saturated");
    let day = source_for(&server, "503-retry-after-86400", &demo_call());
    assert_eq!(
        day.get().unwrap_err().retry_after,
        86_400,
        "as the server sent it"
    );
    for (lifetime, expires_in) in [
        ("lives-99999999999", 31_536_000),
        ("lives--5", 0),
        ("lives-2.9", 2),
    ] {
        let client = Client::new(&server.scenario_url(lifetime));
        assert_eq!(
            client.get(&demo_call()).unwrap().expires_in,
            expires_in,
            "{lifetime}"
        );
    }
}

unsafe extern "C" fn sleep_4_s(_user_data: *mut c_void, _token: *const criteo_token) {
    std::thread::sleep(Duration::from_secs(4));
}

/// While the callback runs (4 s here), a get from another thread is
/// answered at once with the token being announced, even one that came
/// expired, instead of waiting for the callback (a binding may run the
/// callback on a thread of its own that calls get).
#[test]
fn a_get_from_another_thread_while_the_callback_runs_is_answered_at_once() {
    let server = TestServer::start().unwrap();
    // Expired on arrival: nothing is served from the cache meanwhile.
    let client = Client::with_timeouts(&server.scenario_url("lives-0"), 1_000, 1_000);
    let source = Source::new(&client, &demo_call()).unwrap();
    // SAFETY: a live source and a callback that is safe from any thread.
    unsafe {
        criteo_token_source_set_refresh_callback(
            source.as_ptr(),
            Some(sleep_4_s),
            std::ptr::null_mut(),
        );
    }
    std::thread::scope(|scope| {
        let fetcher = scope.spawn(|| source.get());
        // The fetch is done in a few ms; its callback then runs 4 s.
        std::thread::sleep(Duration::from_millis(300));
        let asked = Instant::now();
        let token = source.get().unwrap();
        let waited = asked.elapsed();
        assert!(waited < Duration::from_secs(2), "waited {waited:?}");
        assert_eq!(
            token,
            fetcher.join().unwrap().unwrap(),
            "the announced token"
        );
        assert_eq!(server.requests().len(), 1, "no second fetch");
    });
}

#[test]
fn try_get_answers_what_get_would_without_fetching_or_waiting() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "slow-1500", &demo_call());
    assert_eq!(source.try_get().map(|t| t.is_some()), Ok(false));
    assert_eq!(server.requests().len(), 0, "try_get never fetches");
    std::thread::scope(|scope| {
        let fetcher = scope.spawn(|| source.get().unwrap());
        while server.requests().is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        assert_eq!(source.try_get().map(|t| t.is_some()), Ok(false));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "try_get waited for the fetch under way: {:?}",
            started.elapsed()
        );
        let fetched = fetcher.join().unwrap();
        assert_eq!(source.try_get(), Ok(Some(fetched)));
    });
    assert_eq!(server.requests().len(), 1);

    let failing = source_for(&server, "503-always", &demo_call());
    let error = failing.get().unwrap_err();
    let kept = failing.try_get().unwrap_err();
    assert_eq!((kept.status, kept.http_status), (error.status, 503));
    assert_eq!(kept.message, error.message);
    assert_eq!(
        server.requests().len(),
        2,
        "the kept error is answered at once"
    );
}

#[test]
fn get_within_waits_no_longer_than_asked_while_a_thread_of_its_own_fetches() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "slow-1500", &demo_call());
    let started = Instant::now();
    assert_eq!(source.get_within(100).map(|t| t.is_some()), Ok(false));
    let first_wait = started.elapsed();
    assert!(
        first_wait < Duration::from_millis(1_000),
        "waited {first_wait:?} when asked for 100 ms"
    );
    let shared = std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        if let Some(token) = source.get_within(50).unwrap() {
                            return token;
                        }
                    }
                })
            })
            .collect();
        let tokens: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(tokens.windows(2).all(|pair| pair[0] == pair[1]));
        tokens[0].clone()
    });
    assert_eq!(server.requests().len(), 1, "one fetch for every waiter");
    assert_eq!(source.get(), Ok(shared));
}

#[test]
fn a_fetch_nobody_waits_for_ends_and_is_cached() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "slow-500", &demo_call());
    assert_eq!(source.get_within(0).map(|t| t.is_some()), Ok(false));
    std::thread::sleep(Duration::from_millis(1_500));
    let cached = source
        .try_get()
        .unwrap()
        .expect("the fetch ended on its own");
    assert_eq!(source.get(), Ok(cached));
    assert_eq!(server.requests().len(), 1);

    // Freed while its fetch runs: the fetch keeps what it needs.
    let freed = source_for(&server, "slow-500", &demo_call());
    assert_eq!(freed.get_within(0).map(|t| t.is_some()), Ok(false));
    drop(freed);
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn get_within_reports_a_failed_fetch_to_its_waiters() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "slow-300-401-json", &demo_call());
    let error = loop {
        match source.get_within(50) {
            Ok(None) => continue,
            Ok(Some(token)) => panic!("a token from a 401: {token:?}"),
            Err(error) => break error,
        }
    };
    assert_eq!(
        (error.status, error.http_status),
        (CRITEO_ERR_UNAUTHORIZED, 401)
    );
    assert_eq!(server.requests().len(), 1);
}

/// `criteo_token_source_authorization` into a buffer of `capacity` bytes
/// filled with 0xAA: the status, the buffer, `*length_out`.
fn authorization(source: &Source, capacity: usize) -> (criteo_status, Vec<u8>, usize) {
    let mut buffer = vec![0xAA_u8; capacity];
    let mut length = usize::MAX;
    let pointer = if capacity == 0 {
        std::ptr::null_mut()
    } else {
        buffer.as_mut_ptr().cast()
    };
    // SAFETY: a live source, a buffer of `capacity` bytes, a writable length; no error wanted.
    let status = unsafe {
        criteo_token_source_authorization(
            source.as_ptr(),
            pointer,
            capacity,
            &mut length,
            std::ptr::null_mut(),
        )
    };
    (status, buffer, length)
}

#[test]
fn authorization_writes_the_header_value_of_the_token_get_would_give() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "json", &demo_call());
    let (status, buffer, length) = authorization(&source, 512);
    assert_eq!(status, CRITEO_OK);
    let token = source.get().unwrap();
    let expected = format!("Bearer {}", token.access_token);
    assert_eq!(length, expected.len());
    assert_eq!(&buffer[..=length], format!("{expected}\0").as_bytes());
    assert!(
        buffer[length + 1..].iter().all(|&b| b == 0xAA),
        "wrote past the NUL"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "the first call fetched; get used the cache"
    );

    let (status, buffer, length) = authorization(&source, expected.len() + 1);
    assert_eq!((status, length), (CRITEO_OK, expected.len()));
    assert_eq!(buffer, format!("{expected}\0").as_bytes());
    for too_small in [expected.len(), 1, 0] {
        let (status, buffer, length) = authorization(&source, too_small);
        assert_eq!(status, CRITEO_ERR_INVALID_ARGUMENT, "capacity {too_small}");
        assert_eq!(
            length,
            expected.len(),
            "the length needed, capacity {too_small}"
        );
        assert!(
            buffer.iter().all(|&b| b == 0xAA),
            "capacity {too_small}: the buffer was written"
        );
    }
    source.invalidate();
    let (status, buffer, length) = authorization(&source, 512);
    assert_eq!(status, CRITEO_OK);
    let renewed = String::from_utf8(buffer[..length].to_vec()).unwrap();
    assert_ne!(
        renewed, expected,
        "after invalidate, a new token is fetched"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn authorization_mistakes_and_failures_are_reported() {
    let server = TestServer::start().unwrap();
    let mut buffer = [0xAA_u8; 64];
    // One call with a 64-byte capacity: its status and error.
    let call = |source: *const criteo_token_source, buffer: *mut u8| {
        let mut error = std::ptr::null_mut();
        // SAFETY: source is NULL or live, buffer NULL or 64 writable bytes.
        let status = unsafe {
            criteo_token_source_authorization(
                source,
                buffer.cast(),
                64,
                std::ptr::null_mut(),
                &mut error,
            )
        };
        (status, support::take_error(error))
    };
    let failing = source_for(&server, "401-json", &demo_call());
    let (status, error) = call(failing.as_ptr(), buffer.as_mut_ptr());
    assert_eq!((status, error.http_status), (CRITEO_ERR_UNAUTHORIZED, 401));
    assert!(buffer.iter().all(|&b| b == 0xAA));

    let source = source_for(&server, "json", &demo_call());
    let (status, error) = call(std::ptr::null(), buffer.as_mut_ptr());
    assert_eq!(
        (status, error.message.as_str()),
        (CRITEO_ERR_INVALID_ARGUMENT, "source must not be NULL")
    );
    let (status, error) = call(source.as_ptr(), std::ptr::null_mut());
    assert_eq!(
        (status, error.message.as_str()),
        (CRITEO_ERR_INVALID_ARGUMENT, "buffer must not be NULL")
    );
}

#[test]
fn threads_reading_the_header_share_one_fetch() {
    let server = TestServer::start().unwrap();
    let source = source_for(&server, "slow-300", &demo_call());
    let values: Vec<String> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    let (status, buffer, length) = authorization(&source, 512);
                    assert_eq!(status, CRITEO_OK);
                    String::from_utf8(buffer[..length].to_vec()).unwrap()
                })
            })
            .collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(values.windows(2).all(|pair| pair[0] == pair[1]));
    assert!(values[0].starts_with("Bearer eyJ"));
    assert_eq!(server.requests().len(), 1);
}
