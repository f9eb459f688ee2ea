//! A token source: one cached token shared by threads, refreshed before it
//! expires, one fetch at a time.
//!
//! The state lives behind one mutex that is never held during network I/O:
//! a fetch marks the state "fetching", drops the lock, talks to the server,
//! then takes the lock again to install the result. Readers with a valid
//! token never wait for a fetch; readers without one wait on a condition
//! variable for the fetch under way and share its result.
//!
//! The common case, a token that is not yet due for refresh, takes no lock
//! at all: it is published in an `ArcSwap` that readers load lock-free.
//! Every change to it is made under the mutex, with the state it mirrors.
//!
//! What threads can rely on:
//! - Every way out of a fetch (a token, an error, a caught panic) wakes the
//!   threads waiting for it, and they share its result, even a token that
//!   was already due or expired when it came: one get causes at most one
//!   fetch.
//! - The refresh callback runs before the fetch counts as done, so calls
//!   never overlap and come in the order the tokens were fetched. A get
//!   made while it runs, from any thread, is answered with the token it
//!   was given. After [`TokenSource::close`], it never runs again.
//! - After `fork()`, the child leaves the parent's lock alone (another
//!   thread may have held it) and starts from a copy of the state kept
//!   outside the lock (see [`PerProcess`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::process::{Owned, PerProcess, QuietPanics};
use crate::request::TokenRequest;
use crate::retry::server_wait;
use crate::token::Token;

mod callback;

use callback::Callbacks;
pub use callback::RefreshCallback;

/// A token that comes without `expires_in` is taken to live this long (the
/// lifetime Criteo documents).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(900);
/// The default refresh margin is the smaller of this and half the lifetime.
const MAX_DEFAULT_MARGIN: Duration = Duration::from_secs(60);
/// After a failed fetch, wait this long before the next, doubling up to
/// [`MAX_FAILURE_BACKOFF`], unless the server said `Retry-After` (honoured
/// up to [`crate::retry::MAX_SERVER_WAIT`]).
const FIRST_FAILURE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(30);
/// A thread waiting for another's fetch gives up after the client's total
/// time limit and this much more.
const WAIT_SLACK: Duration = Duration::from_secs(1);

/// What a source caches and hands out, made once per fetched token and
/// shared by every get (the C layer caches its C strings this way).
pub trait CachedToken: Send + Sync + 'static {
    fn from_token(token: &Token) -> Self;
}

impl CachedToken for Token {
    fn from_token(token: &Token) -> Self {
        token.clone()
    }
}

/// A valid token whenever asked, from any number of threads.
pub struct TokenSource<T: CachedToken = Token> {
    client: Client,
    /// The cached token while it needs no refresh; `None` otherwise.
    fresh: ArcSwapOption<Fresh<T>>,
    /// The lock, and the state it guards, of the process using the source.
    locked: PerProcess<Locked<T>>,
    /// The state as of its last change, kept outside the lock: a child of
    /// `fork()` starts again from it.
    saved: ArcSwap<Saved<T>>,
    on_refresh: Callbacks<T>,
}

struct Locked<T> {
    state: Mutex<State<T>>,
    fetch_done: Condvar,
}

struct State<T> {
    current: Option<Current<T>>,
    next_request: NextRequest,
    margin: Option<Duration>,
    fetching: bool,
    failure: Option<Failure>,
    /// How many fetches have finished, and the last one's result, which
    /// the threads that waited for it take.
    fetches_done: u64,
    last_result: Option<Result<Arc<T>, Error>>,
    /// The token being handed to the refresh callback.
    announcing: Option<Arc<T>>,
}

/// What a child of `fork()` carries over.
struct Saved<T> {
    current: Option<Current<T>>,
    next_request: NextRequest,
    margin: Option<Duration>,
}

/// A token that needs no refresh before `until`.
struct Fresh<T> {
    token: Arc<T>,
    until: Instant,
}

/// The cached token and when it arrived (on the monotonic clock).
struct Current<T> {
    token: Arc<T>,
    received: Instant,
    lifetime: Duration,
}

/// What the next fetch sends.
#[derive(Clone)]
enum NextRequest {
    /// May be sent again and again (client credentials, a refresh token).
    Reusable(TokenRequest),
    /// May be sent once (an authorization code).
    SingleUse(TokenRequest),
    /// Nothing left to send: the code was used and no refresh token came.
    Spent(Error),
}

/// The last failed fetch, and when the next may start.
struct Failure {
    error: Error,
    not_before: Instant,
    backoff: Duration,
}

/// What a `get` does, decided under the lock.
enum Plan<T> {
    Serve(Arc<T>),
    Fail(Error),
    Wait,
    Fetch(TokenRequest),
}

impl<T: CachedToken> TokenSource<T> {
    /// A source that fetches with `client`, starting from `request`. Nothing
    /// is fetched until the first [`get`](Self::get).
    pub fn new(client: Client, request: TokenRequest) -> Self {
        let next_request = if request.is_single_use() {
            NextRequest::SingleUse(request)
        } else {
            NextRequest::Reusable(request)
        };
        let saved = Saved {
            current: None,
            next_request,
            margin: None,
        };
        TokenSource {
            client,
            fresh: ArcSwapOption::empty(),
            locked: PerProcess::new(Locked::from(&saved)),
            saved: ArcSwap::from_pointee(saved),
            on_refresh: Callbacks::new(),
        }
    }

    /// Refresh this long before expiry, instead of the default (the smaller
    /// of 60 s and half the token's lifetime).
    pub fn set_refresh_margin(&self, margin: Duration) {
        let locked = self.locked();
        let mut state = locked.lock();
        state.margin = Some(margin);
        self.publish(&state);
    }

    /// Called after every successful fetch, one call at a time, in the
    /// order of the fetches; it may persist a rotated refresh token, call
    /// [`get`](Self::get) (which answers, on any thread, with the token it
    /// was given) or [`invalidate`](Self::invalidate).
    pub fn set_refresh_callback(&self, callback: Option<Box<RefreshCallback<T>>>) {
        self.on_refresh.set(callback);
    }

    /// The source's owner is done with it: the refresh callback never runs
    /// again once this returns. Waits for a call under way on another
    /// thread; a fetch under way goes on, and caches its token.
    pub fn close(&self) {
        self.on_refresh.close();
    }

    /// Forgets the cached token (the API said 401): the next get fetches.
    pub fn invalidate(&self) {
        let locked = self.locked();
        let mut state = locked.lock();
        state.current = None;
        self.publish(&state);
    }

    /// The cached token while it needs no refresh, without taking a lock,
    /// waiting or fetching.
    pub fn cached(&self) -> Option<Arc<T>> {
        self.read_cached(Arc::clone)
    }

    /// Runs `read` on the cached token while it needs no refresh, without
    /// taking a lock, waiting, fetching, or touching a reference count that
    /// threads share (`arc-swap` lends the token through a slot of the
    /// calling thread's own): the path of a read from many threads at once.
    pub fn read_cached<R>(&self, read: impl FnOnce(&Arc<T>) -> R) -> Option<R> {
        let fresh = self.fresh.load();
        let fresh = fresh
            .as_ref()
            .filter(|fresh| Instant::now() < fresh.until)?;
        Some(read(&fresh.token))
    }

    /// What [`get`](Self::get) would answer without fetching or waiting
    /// for a fetch: `None` when it would have to do either. For callers
    /// that wait in their own runtime (the Go and Ruby bindings).
    pub fn try_get(&self) -> Option<Result<Arc<T>, Error>> {
        if let Some(token) = self.cached() {
            return Some(Ok(token));
        }
        let locked = self.locked();
        let state = locked.lock();
        match state.plan(Instant::now()) {
            Plan::Serve(token) => Some(Ok(token)),
            Plan::Fail(error) => Some(Err(error)),
            Plan::Wait | Plan::Fetch(_) => None,
        }
    }

    /// A valid token: the cached one, or a new one when it is due.
    pub fn get(&self) -> Result<Arc<T>, Error> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let locked = self.locked();
        let mut state = locked.lock();
        match state.plan(Instant::now()) {
            Plan::Serve(token) => Ok(token),
            Plan::Fail(error) => Err(error),
            Plan::Wait => {
                let limit = self.client.total_timeout() + WAIT_SLACK;
                let awaited = state.fetches_done;
                self.wait_for_fetch(&locked, state, awaited, limit)
                    .unwrap_or_else(|| {
                        Err(Error::new(
                            ErrorKind::Timeout,
                            "timed out waiting for another thread's fetch of a token",
                        ))
                    })
            }
            Plan::Fetch(request) => {
                state.fetching = true;
                drop(state);
                self.fetch(&locked, request)
            }
        }
    }

    /// As [`get`](Self::get), for callers that must stay responsive while
    /// a fetch runs: the fetch runs on a thread of its own, and this waits
    /// at most `wait` for its result. `None` means it is still under way;
    /// ask again to go on waiting. A fetch nobody waits for any more still
    /// ends within the client's time limits, and its token is cached.
    pub fn get_within(self: &Arc<Self>, wait: Duration) -> Option<Result<Arc<T>, Error>> {
        if let Some(token) = self.cached() {
            return Some(Ok(token));
        }
        let locked = self.locked();
        let mut state = locked.lock();
        let awaited = state.fetches_done;
        match state.plan(Instant::now()) {
            Plan::Serve(token) => return Some(Ok(token)),
            Plan::Fail(error) => return Some(Err(error)),
            Plan::Wait => {}
            Plan::Fetch(request) => {
                state.fetching = true;
                drop(state);
                if let Err(error) = self.fetch_on_a_thread(Arc::clone(&locked), request) {
                    // The fetch never started: it ends as a failed one.
                    return Some(finish_fetch(&locked, locked.lock(), Err(error)));
                }
                state = locked.lock();
            }
        }
        self.wait_for_fetch(&locked, state, awaited, wait)
    }

    /// Starts [`fetch`](Self::fetch) on a new thread.
    fn fetch_on_a_thread(
        self: &Arc<Self>,
        locked: Arc<Owned<Locked<T>>>,
        request: TokenRequest,
    ) -> Result<(), Error> {
        let source = Arc::clone(self);
        thread::Builder::new()
            .name("criteo-oauth fetch".into())
            .spawn(move || {
                let _quiet = QuietPanics::enter();
                let _ = source.fetch(&locked, request);
            })
            .map(drop)
            .map_err(|error| {
                Error::new(
                    ErrorKind::Transport,
                    format!(
                        "could not start a thread for the fetch ({error}): the process may be \
                         at its limit of threads (ulimit -u)"
                    ),
                )
            })
    }

    /// Waits at most `limit` for the fetch under way to end, and takes its
    /// result (`awaited` is how many fetches had ended before it); `None`
    /// when it is still under way.
    fn wait_for_fetch(
        &self,
        locked: &Locked<T>,
        mut state: MutexGuard<'_, State<T>>,
        awaited: u64,
        limit: Duration,
    ) -> Option<Result<Arc<T>, Error>> {
        let deadline = later(Instant::now(), limit);
        while state.fetches_done == awaited {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = locked
                .fetch_done
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Some(state.last_result.clone().unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::Internal,
                "a fetch ended without a result",
            ))
        }))
    }

    /// One fetch, with the lock released while it talks to the server and
    /// while the refresh callback runs.
    fn fetch(&self, locked: &Locked<T>, request: TokenRequest) -> Result<Arc<T>, Error> {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.client.get_token(&request)))
            .unwrap_or_else(|panic| Err(Error::from_panic(&*panic)));
        let mut state = locked.lock();
        let result = match outcome {
            Ok(token) => Ok(state.install(&token, started)),
            Err(error) => state.record_failure(error, Instant::now()),
        };
        self.publish(&state);
        if let Ok(token) = &result {
            state.announcing = Some(Arc::clone(token));
            drop(state);
            self.on_refresh.announce(token);
            state = locked.lock();
            state.announcing = None;
        }
        finish_fetch(locked, state, result)
    }

    /// Mirrors the state's cached token into `fresh`, for lock-free reads,
    /// and the state into `saved`, for a child of `fork()`. Called with the
    /// state locked, after every change to it.
    fn publish(&self, state: &State<T>) {
        let fresh = state.current.as_ref().map(|current| {
            Arc::new(Fresh {
                token: Arc::clone(&current.token),
                until: current.refresh_at(state.margin),
            })
        });
        self.fresh.store(fresh);
        self.saved.store(Arc::new(Saved {
            current: state.current.clone(),
            next_request: state.next_request.clone(),
            margin: state.margin,
        }));
    }

    /// The lock of this process: after a `fork()`, a new one holding the
    /// last saved state.
    fn locked(&self) -> Arc<Owned<Locked<T>>> {
        self.locked.get(|| Locked::from(&**self.saved.load()))
    }
}

impl<T> Locked<T> {
    fn from(saved: &Saved<T>) -> Self {
        Locked {
            state: Mutex::new(State {
                current: saved.current.clone(),
                next_request: saved.next_request.clone(),
                margin: saved.margin,
                fetching: false,
                failure: None,
                fetches_done: 0,
                last_result: None,
                announcing: None,
            }),
            fetch_done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic elsewhere cannot leave the state half-changed: every
        // change is a plain assignment made under the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the fetch under way done with `result`, which every thread waiting
/// for it then takes.
fn finish_fetch<T>(
    locked: &Locked<T>,
    mut state: MutexGuard<'_, State<T>>,
    result: Result<Arc<T>, Error>,
) -> Result<Arc<T>, Error> {
    state.fetching = false;
    state.fetches_done += 1;
    state.last_result = Some(result.clone());
    drop(state);
    locked.fetch_done.notify_all();
    result
}

/// `now + wait`, or as late as the clock can say when that overflows
/// (a server may send any `Retry-After`).
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

impl<T> State<T> {
    fn plan(&self, now: Instant) -> Plan<T> {
        // What the threads waiting for this fetch will be given, even when
        // the token came already expired: a get from the callback (whichever
        // thread a binding runs it on) must not wait for the callback itself.
        if let Some(token) = &self.announcing {
            return Plan::Serve(Arc::clone(token));
        }
        if let Some(current) = self.current.as_ref().filter(|c| now < c.expires_at()) {
            let due = now >= current.refresh_at(self.margin);
            return match &self.next_request {
                NextRequest::Reusable(request) | NextRequest::SingleUse(request)
                    if due && !self.fetching && !self.backing_off(now) =>
                {
                    Plan::Fetch(request.clone())
                }
                _ => Plan::Serve(Arc::clone(&current.token)),
            };
        }
        if let Some(failure) = self.failure.as_ref().filter(|f| now < f.not_before) {
            return Plan::Fail(failure.error.clone());
        }
        if self.fetching {
            return Plan::Wait;
        }
        match &self.next_request {
            NextRequest::Reusable(request) | NextRequest::SingleUse(request) => {
                Plan::Fetch(request.clone())
            }
            NextRequest::Spent(error) => Plan::Fail(error.clone()),
        }
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|failure| now < failure.not_before)
    }

    /// Caches a new token, and moves on to its refresh token when the grant
    /// is renewed that way (keeping the old one when none came).
    fn install(&mut self, token: &Token, requested_at: Instant) -> Arc<T>
    where
        T: CachedToken,
    {
        let renewal = match &self.next_request {
            NextRequest::Reusable(request) | NextRequest::SingleUse(request)
                if request.renews_with_refresh_token() =>
            {
                match token.refresh_token() {
                    Some(refresh_token) => {
                        Some(NextRequest::Reusable(request.refresh_with(refresh_token)))
                    }
                    None if request.is_single_use() => Some(NextRequest::Spent(Error::new(
                        ErrorKind::InvalidResponse,
                        "the authorization_code grant gave no refresh_token, so the token cannot be \
                         renewed: a new authorization code is needed",
                    ))),
                    None => None,
                }
            }
            _ => None,
        };
        if let Some(renewal) = renewal {
            self.next_request = renewal;
        }
        let cached = Arc::new(T::from_token(token));
        self.current = Some(Current {
            token: Arc::clone(&cached),
            received: requested_at,
            lifetime: token
                .expires_in()
                .map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s.into())),
        });
        self.failure = None;
        cached
    }

    /// Remembers a failed fetch and when to try again. A valid cached token
    /// is still served; without one the caller gets the error.
    fn record_failure(&mut self, error: Error, now: Instant) -> Result<Arc<T>, Error> {
        let backoff = match &self.failure {
            Some(previous) => (previous.backoff * 2).min(MAX_FAILURE_BACKOFF),
            None => FIRST_FAILURE_BACKOFF,
        };
        let wait = error.retry_after_secs().map_or(backoff, server_wait);
        if let NextRequest::SingleUse(_) = self.next_request {
            // Every later get says why, with the server's status and OAuth
            // error (`invalid_grant`, say) intact.
            let message = format!(
                "the authorization code was already sent and is single-use; its request failed: {error}"
            );
            self.next_request = NextRequest::Spent(error.clone().with_message(message));
        }
        self.failure = Some(Failure {
            error: error.clone(),
            not_before: later(now, wait),
            backoff,
        });
        match self
            .current
            .as_ref()
            .filter(|current| now < current.expires_at())
        {
            Some(current) => Ok(Arc::clone(&current.token)),
            None => Err(error),
        }
    }
}

// Not derived: that would ask for `T: Clone`, and only the `Arc` is cloned.
impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Current {
            token: Arc::clone(&self.token),
            received: self.received,
            lifetime: self.lifetime,
        }
    }
}

impl<T> Current<T> {
    fn expires_at(&self) -> Instant {
        later(self.received, self.lifetime)
    }

    fn refresh_at(&self, margin: Option<Duration>) -> Instant {
        let margin = margin.unwrap_or_else(|| MAX_DEFAULT_MARGIN.min(self.lifetime / 2));
        later(self.received, self.lifetime.saturating_sub(margin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TokenRequestFields;
    use crate::sanitize::Redactor;
    use crate::token::parse_token;

    fn request(grant_type: &str) -> TokenRequest {
        TokenRequest::new(&TokenRequestFields {
            grant_type,
            client_id: "id",
            client_secret: "secret",
            code: Some("code"),
            refresh_token: Some("rt-0"),
            ..Default::default()
        })
        .unwrap()
    }

    fn token(json: &str) -> Token {
        parse_token(json.as_bytes(), "200 OK", &Redactor::new([])).unwrap()
    }

    fn state(grant_type: &str) -> State<Token> {
        let request = request(grant_type);
        State {
            next_request: if request.is_single_use() {
                NextRequest::SingleUse(request)
            } else {
                NextRequest::Reusable(request)
            },
            current: None,
            margin: None,
            fetching: false,
            failure: None,
            fetches_done: 0,
            last_result: None,
            announcing: None,
        }
    }

    fn next_body(state: &State<Token>) -> String {
        match &state.next_request {
            NextRequest::Reusable(r) | NextRequest::SingleUse(r) => r.form_body().to_string(),
            NextRequest::Spent(e) => format!("spent: {}", e.message()),
        }
    }

    fn plan_name<T>(plan: Plan<T>) -> &'static str {
        match plan {
            Plan::Serve(_) => "serve",
            Plan::Fail(_) => "fail",
            Plan::Wait => "wait",
            Plan::Fetch(_) => "fetch",
        }
    }

    #[test]
    fn default_margin_is_the_smaller_of_60_s_and_half_the_lifetime() {
        let now = Instant::now();
        let current = |seconds| Current {
            token: Arc::new(()),
            received: now,
            lifetime: Duration::from_secs(seconds),
        };
        assert_eq!(
            current(900).refresh_at(None),
            now + Duration::from_secs(840)
        );
        assert_eq!(current(10).refresh_at(None), now + Duration::from_secs(5));
        assert_eq!(
            current(10).refresh_at(Some(Duration::from_secs(1))),
            now + Duration::from_secs(9)
        );
        assert_eq!(current(10).refresh_at(Some(Duration::from_secs(99))), now);
    }

    #[test]
    fn plans_over_a_token_lifetime() {
        let mut state = state("client_credentials");
        let start = Instant::now();
        assert_eq!(plan_name(state.plan(start)), "fetch", "nothing cached");
        state.fetching = true;
        assert_eq!(
            plan_name(state.plan(start)),
            "wait",
            "nothing cached, a fetch under way"
        );
        state.fetching = false;
        state.install(&token(r#"{"access_token":"a","expires_in":100}"#), start);
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(plan_name(state.plan(at(10))), "serve", "fresh");
        assert_eq!(
            plan_name(state.plan(at(60))),
            "fetch",
            "within the margin (50 s)"
        );
        state.fetching = true;
        assert_eq!(
            plan_name(state.plan(at(60))),
            "serve",
            "due, but someone is fetching"
        );
        state.fetching = false;
        let served = state.record_failure(Error::new(ErrorKind::HttpStatus, "503"), at(60));
        assert!(
            served.is_ok(),
            "a failed refresh still serves the valid token"
        );
        assert_eq!(plan_name(state.plan(at(60))), "serve", "backing off");
        assert_eq!(plan_name(state.plan(at(61))), "fetch", "backoff (1 s) over");
        assert_eq!(plan_name(state.plan(at(100))), "fetch", "expired");
        let served = state.record_failure(Error::new(ErrorKind::HttpStatus, "503"), at(100));
        assert!(served.is_err(), "expired: the error is returned");
        assert_eq!(
            plan_name(state.plan(at(101))),
            "fail",
            "no valid token, backing off (2 s)"
        );
        assert_eq!(plan_name(state.plan(at(102))), "fetch");
    }

    #[test]
    fn failure_backoff_doubles_to_30_s_or_follows_retry_after() {
        let mut state = state("client_credentials");
        let now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..7 {
            let _ = state.record_failure(Error::new(ErrorKind::Transport, "down"), now);
            waits.push(state.failure.as_ref().unwrap().not_before - now);
        }
        let seconds: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30]);
        let limited = Error::new(ErrorKind::HttpStatus, "429").with_retry_after(Some(7));
        let _ = state.record_failure(limited, now);
        assert_eq!(
            state.failure.as_ref().unwrap().not_before - now,
            Duration::from_secs(7)
        );
        state.install(&token(r#"{"access_token":"a"}"#), now);
        assert!(state.failure.is_none(), "a success clears the backoff");
    }

    #[test]
    fn any_retry_after_is_capped_and_a_valid_token_is_still_served() {
        let mut state = state("client_credentials");
        let now = Instant::now();
        state.install(&token(r#"{"access_token":"a","expires_in":100}"#), now);
        let huge = Error::new(ErrorKind::HttpStatus, "503").with_retry_after(Some(u64::MAX));
        let at = now + Duration::from_secs(90);
        let served = state.record_failure(huge, at);
        assert!(served.is_ok(), "the valid token is served, no panic");
        assert_eq!(
            state.failure.as_ref().unwrap().not_before,
            at + crate::retry::MAX_SERVER_WAIT
        );
    }

    #[test]
    fn a_spent_code_keeps_the_servers_answer() {
        let mut state = state("authorization_code");
        let now = Instant::now();
        let refused = Error::new(ErrorKind::BadRequest, "400 Bad Request: invalid_grant")
            .with_http_status(400)
            .with_oauth(crate::error::OAuthError {
                code: Some("invalid_grant".into()),
                ..Default::default()
            });
        let _ = state.record_failure(refused, now);
        let Plan::Fail(later) = state.plan(now + Duration::from_secs(60)) else {
            panic!("a spent code fails");
        };
        assert_eq!(later.kind(), ErrorKind::BadRequest);
        assert_eq!(later.http_status(), Some(400));
        assert_eq!(later.oauth().code.as_deref(), Some("invalid_grant"));
        assert!(
            later
                .message()
                .starts_with("the authorization code was already sent")
        );
    }

    #[test]
    fn grants_move_to_the_latest_refresh_token() {
        let now = Instant::now();
        let mut code = state("authorization_code");
        code.install(
            &token(r#"{"access_token":"a","refresh_token":"rt-1"}"#),
            now,
        );
        assert_eq!(
            next_body(&code),
            "grant_type=refresh_token&client_id=id&client_secret=secret&refresh_token=rt-1"
        );
        code.install(&token(r#"{"access_token":"b"}"#), now);
        assert!(
            next_body(&code).ends_with("refresh_token=rt-1"),
            "kept when none came"
        );

        let mut no_refresh = state("authorization_code");
        no_refresh.install(&token(r#"{"access_token":"a"}"#), now);
        assert!(
            next_body(&no_refresh)
                .starts_with("spent: the authorization_code grant gave no refresh_token")
        );

        let mut failed = state("authorization_code");
        let _ = failed.record_failure(
            Error::new(ErrorKind::BadRequest, "400 Bad Request: invalid_grant"),
            now,
        );
        assert!(next_body(&failed).starts_with("spent: the authorization code was already sent"));

        let mut credentials = state("client_credentials");
        let before = next_body(&credentials);
        credentials.install(
            &token(r#"{"access_token":"a","refresh_token":"rt-1"}"#),
            now,
        );
        assert_eq!(
            next_body(&credentials),
            before,
            "client credentials are simply sent again"
        );
    }
}
