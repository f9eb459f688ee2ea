//! A token source: one cached token shared by threads, and by processes,
//! refreshed before it expires, one fetch at a time, without making
//! callers that hold a valid token wait.
//!
//! Three rooms: [`plan`] decides what a get does (serve, serve and refresh
//! in the background, fail, wait, fetch) from the state and the time
//! alone; [`fetch`] runs a fetch and its waiters; [`shared`] is the store
//! that processes share, which a fetch holds locked from before it asks
//! the server until its result is written. This module holds the state
//! and the getters that act on the plan. Time is read from a [`Clock`].
//!
//! The state lives behind one mutex that is never held during network
//! I/O. The common case, a token that needs nothing done, takes no lock at
//! all: it is published in an `ArcSwap` with the moment until which it
//! may be served so, and readers load it lock-free. Every change to it is
//! made under the mutex, with the state it mirrors.
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
//!   outside the lock (see [`PerProcess`]); parent and child then share
//!   the source's store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use ring::rand::{SecureRandom, SystemRandom};

use crate::client::Client;
use crate::clock::{Clock, Moment, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::process::{Owned, PerProcess};
use crate::request::TokenRequest;
use crate::secret::Secret;
use crate::threads;
use crate::token::Token;

mod callback;
mod fetch;
mod plan;
pub(crate) mod shared;
mod stats;

use callback::Callbacks;
pub use callback::RefreshCallback;
use fetch::reject_in_store;
pub use plan::CachedToken;
use plan::{Lineage, Margin, Plan};
use shared::SharedStore;
pub use stats::Stat;
use stats::Stats;

/// A valid token whenever asked, from any number of threads and processes.
pub struct TokenSource<T: CachedToken = crate::token::Token> {
    client: Client,
    clock: Arc<dyn Clock>,
    /// What the source was made with: a record of the store is read back
    /// against it.
    first_request: TokenRequest,
    /// The cached token while a get needs nothing else done (see
    /// [`Lineage::serves_until`]); `None` otherwise.
    fresh: ArcSwapOption<Fresh<T>>,
    /// The lock, and the state it guards, of the process using the source.
    locked: PerProcess<Locked<T>>,
    /// The state as of its last change, kept outside the lock: a child of
    /// `fork()` starts again from it.
    saved: ArcSwap<Saved<T>>,
    /// Where processes share the lineage: the anonymous store made with
    /// the source, or the one [`set_store`](Self::set_store) named.
    store: ArcSwapOption<SharedStore>,
    /// Whether a get has been made, and whether a store has been named:
    /// [`set_store`](Self::set_store) comes once, before any get.
    got: AtomicBool,
    store_named: AtomicBool,
    on_refresh: Callbacks<T>,
    /// Counted by the fetch path only; a child of `fork()` starts from
    /// its parent's counts.
    stats: Stats,
}

struct Locked<T> {
    state: Mutex<State<T>>,
    fetch_done: Condvar,
}

struct State<T> {
    lineage: Lineage<T>,
    margin: Margin,
    /// The last token a caller rejected: never taken back from the store.
    rejected: Option<Secret>,
    /// Whether the lineage holds what the store could not be given (a
    /// write failed): then it is newer than a record of the same serial.
    unsaved: bool,
    /// The last store operation's failure, cleared by its next success.
    store_error: Option<Error>,
    fetching: bool,
    /// How many fetches have finished, and the last one's result, which
    /// the threads that waited for it take.
    fetches_done: u64,
    /// Whether `invalidate` or `reject` dropped the token since the last
    /// fetch: why the next one starts, for the trace.
    dropped: bool,
    last_result: Option<Result<Arc<T>, Error>>,
    /// The token being handed to the refresh callback.
    announcing: Option<Announced<T>>,
}

/// The token a refresh callback is given, while it runs.
struct Announced<T> {
    token: Arc<T>,
    /// When it dies; `None` for a token that came already expired, which
    /// the threads waiting for its fetch share all the same.
    dies_at: Option<Moment>,
}

/// What a child of `fork()` carries over.
struct Saved<T> {
    lineage: Lineage<T>,
    margin: Margin,
    rejected: Option<Secret>,
    unsaved: bool,
}

/// A token every get may be served, without a look at the state, before
/// `until`.
struct Fresh<T> {
    token: Arc<T>,
    until: Moment,
}

impl<T: CachedToken> TokenSource<T> {
    /// A source that fetches with `client`, starting from `request`. Nothing
    /// is fetched until the first [`get`](Self::get). The source comes with
    /// an anonymous store, so that after `fork()` the children and the
    /// parent share its token (when the system cannot make one, each
    /// process fetches its own).
    pub fn new(client: Client, request: TokenRequest) -> Self {
        Self::with_clock(client, request, Arc::new(SystemClock))
    }

    /// As [`new`](Self::new), reading the time from `clock` (a test's).
    pub fn with_clock(client: Client, request: TokenRequest, clock: Arc<dyn Clock>) -> Self {
        // Its store for children is used only once one may exist.
        crate::process::watch_for_fork();
        let saved = Saved {
            lineage: Lineage::new(request.clone()),
            margin: Margin::jittered(random_unit()),
            rejected: None,
            unsaved: false,
        };
        let store = SharedStore::anonymous(client.token_url(), &request);
        TokenSource {
            fresh: ArcSwapOption::empty(),
            locked: PerProcess::new(Locked::from(&saved)),
            saved: ArcSwap::from_pointee(saved),
            store: ArcSwapOption::new(store.map(Arc::new)),
            got: AtomicBool::new(false),
            store_named: AtomicBool::new(false),
            on_refresh: Callbacks::new(),
            stats: Stats::default(),
            client,
            clock,
            first_request: request,
        }
    }

    /// A source of the lineage that `request` names (see
    /// [`TokenRequest::named`]): started from `start` when given (which
    /// then replaces, once the source has a store, what the store holds
    /// under that name), else found in its store.
    pub fn named(
        client: Client,
        request: TokenRequest,
        start: Option<&Token>,
    ) -> Result<Self, Error> {
        let source = Self::new(client, request);
        if let Some(token) = start {
            source.start_from(token)?;
        }
        Ok(source)
    }

    /// Takes `token`, received before now by as much as its expiry says,
    /// as the lineage's: served while valid, then renewed with its refresh
    /// token; the store lacks it until [`set_store`](Self::set_store).
    fn start_from(&self, token: &Token) -> Result<(), Error> {
        if token.refresh_token().is_none() {
            return Err(Error::invalid_argument(
                "token has no refresh token: a lineage could not renew it",
            ));
        }
        let now = self.clock.now();
        let locked = self.locked();
        let mut state = locked.lock();
        let received = now - token.age(self.clock.wall());
        state.lineage.install(token, received);
        state.lineage.starts_over = true;
        state.unsaved = true;
        self.publish(&state);
        Ok(())
    }

    /// Shares the token with every source of the same lineage, in any
    /// process or host, that uses the store `place` names: a directory of
    /// this user's, or a `redis://` or `rediss://` URL (`None`:
    /// `$CRITEO_OAUTH_STORE` when it is set and not empty, else the
    /// default directory). Once per source, before its first get.
    pub fn set_store(&self, place: Option<&str>) -> Result<(), Error> {
        if self.got.load(Ordering::Acquire) {
            return Err(Error::invalid_argument(
                "the store must be set before the source's first get",
            ));
        }
        let store = SharedStore::named(place, &self.client, &self.first_request)?;
        if self.store_named.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid_argument(
                "the store may be set only once per source",
            ));
        }
        self.store.store(Some(Arc::new(store)));
        self.save_started_lineage();
        Ok(())
    }

    /// Writes a lineage that [`named`](Self::named) started into the
    /// store, at once: another process may look for it before this one's
    /// first get. A failure is the store's error (see
    /// [`store_error`](Self::store_error)).
    fn save_started_lineage(&self) {
        let locked = self.locked();
        let state = locked.lock();
        if !state.unsaved {
            return;
        }
        self.start_fetch(state);
        let _ = self.fetch(&locked);
    }

    /// The failure of the last operation on the store (a write to a full
    /// disk, say), until one succeeds; the token was served all the same.
    pub fn store_error(&self) -> Option<Error> {
        self.locked().lock().store_error.clone()
    }

    /// How many times this source did `stat` (see [`Stat`]).
    pub fn stat(&self, stat: Stat) -> u64 {
        self.stats.get(stat)
    }

    /// Refresh exactly this long before expiry, instead of the default (a
    /// quarter of the token's lifetime, from 30 s to 5 minutes and at most
    /// half the lifetime, shortened by a jitter of up to a tenth).
    pub fn set_refresh_margin(&self, margin: Duration) {
        let locked = self.locked();
        let mut state = locked.lock();
        state.margin = Margin::Fixed(margin);
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

    /// Forgets the cached token, whichever it is: the next get fetches,
    /// unless another process has stored a newer one.
    pub fn invalidate(&self) {
        self.drop_token(None);
    }

    /// Forgets the cached token if it is `access_token` (the API answered
    /// 401 to it), here and in the store: of many callers that saw the
    /// same 401, the first causes one fetch and the others none.
    pub fn reject(&self, access_token: &str) {
        self.drop_token(Some(access_token));
    }

    fn drop_token(&self, access_token: Option<&str>) {
        let locked = self.locked();
        let mut state = locked.lock();
        let rejected = match access_token {
            Some(token) => Some(Secret::new(token)),
            None => state
                .lineage
                .current
                .as_ref()
                .map(|current| Secret::new(current.access_token())),
        };
        if state.lineage.reject(access_token) {
            state.dropped = true;
        }
        if rejected.is_some() {
            state.rejected.clone_from(&rejected);
        }
        self.publish(&state);
        drop(state);
        if let (Some(store), Some(rejected)) = (self.store.load_full(), rejected) {
            let outcome = reject_in_store(&store, rejected.expose());
            if let Some(outcome) = outcome {
                locked.lock().note_store(outcome);
            }
        }
    }

    /// The cached token while a get needs nothing else done (it is valid,
    /// and not due for a refresh that nobody has started), without taking
    /// a lock, waiting or fetching.
    pub fn cached(&self) -> Option<Arc<T>> {
        self.read_cached(Arc::clone)
    }

    /// Runs `read` on the token [`cached`](Self::cached) gives, without
    /// taking a lock, waiting, fetching, or touching a reference count that
    /// threads share (`arc-swap` lends the token through a slot of the
    /// calling thread's own): the path of a read from many threads at once.
    pub fn read_cached<R>(&self, read: impl FnOnce(&Arc<T>) -> R) -> Option<R> {
        let fresh = self.fresh.load();
        let fresh = fresh
            .as_ref()
            .filter(|fresh| self.clock.now() < fresh.until)?;
        self.note_got();
        Some(read(&fresh.token))
    }

    /// A get was made: [`set_store`](Self::set_store) comes too late now.
    /// Written once: every get reads it, from any thread.
    fn note_got(&self) {
        if !self.got.load(Ordering::Relaxed) {
            self.got.store(true, Ordering::Release);
        }
    }

    /// What [`get`](Self::get) would answer without fetching or waiting
    /// for a fetch: `None` when it would have to do either. For callers
    /// that wait in their own runtime (the Go and Ruby bindings). A token
    /// due for refresh is served, and its refresh started on a thread of
    /// the library's (`None` when no thread could be started: then `get`
    /// refreshes on the caller's thread).
    pub fn try_get(self: &Arc<Self>) -> Option<Result<Arc<T>, Error>> {
        if let Some(token) = self.cached() {
            return Some(Ok(token));
        }
        self.note_got();
        let locked = self.locked();
        let state = locked.lock();
        match state.plan(self.clock.now()) {
            Plan::Serve(token) => Some(Ok(token)),
            // Not started: the caller's `get` refreshes.
            Plan::Refresh(_, token) => {
                let not_started =
                    self.fetch_in_background(&locked, state, |_| Ok(Arc::clone(&token)));
                not_started.is_none().then_some(Ok(token))
            }
            Plan::Fail(error) => Some(Err(error)),
            Plan::Wait | Plan::Fetch(_) => None,
        }
    }

    /// A valid token: the cached one, or a new one when there is none. A
    /// token due for refresh is returned at once, and refreshed on a thread
    /// of the library's own (on the caller's thread when no thread can be
    /// started).
    pub fn get(self: &Arc<Self>) -> Result<Arc<T>, Error> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        self.note_got();
        let locked = self.locked();
        let state = locked.lock();
        match state.plan(self.clock.now()) {
            Plan::Serve(token) => Ok(token),
            Plan::Refresh(_, token) => {
                self.start_fetch(state);
                match self.fetch_on_a_thread(&locked) {
                    Ok(()) => Ok(token),
                    // The process is ending on another thread, which would
                    // not wait for a refresh here (cut off, it could lose a
                    // rotated refresh token): the valid token will do.
                    Err(_) if threads::exiting_elsewhere() => {
                        self.finish_fetch(&locked, locked.lock(), Ok(token))
                    }
                    // No thread: the caller refreshes, as it would wait
                    // for its thread's fetch anyway.
                    Err(_) => self.fetch(&locked),
                }
            }
            Plan::Fail(error) => Err(error),
            Plan::Wait => {
                let awaited = state.fetches_done;
                self.wait_for_fetch(&locked, state, awaited, self.wait_limit())
                    .unwrap_or_else(|| {
                        Err(Error::new(
                            ErrorKind::Timeout,
                            "timed out waiting for another thread's fetch of a token",
                        ))
                    })
            }
            Plan::Fetch(_) => {
                self.start_fetch(state);
                self.fetch(&locked)
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
        self.note_got();
        let locked = self.locked();
        let mut state = locked.lock();
        let awaited = state.fetches_done;
        match state.plan(self.clock.now()) {
            Plan::Serve(token) => return Some(Ok(token)),
            // Not started: a later call tries again.
            Plan::Refresh(_, token) => {
                let _ = self.fetch_in_background(&locked, state, |_| Ok(Arc::clone(&token)));
                return Some(Ok(token));
            }
            Plan::Fail(error) => return Some(Err(error)),
            Plan::Wait => {}
            Plan::Fetch(_) => {
                if let Some(not_started) = self.fetch_in_background(&locked, state, Err) {
                    return Some(not_started);
                }
                state = locked.lock();
            }
        }
        self.wait_for_fetch(&locked, state, awaited, wait)
    }

    /// Mirrors the state's cached token into `fresh`, for lock-free reads,
    /// and the state into `saved`, for a child of `fork()`. Called with the
    /// state locked, after every change to it.
    fn publish(&self, state: &State<T>) {
        let now = self.clock.now();
        let lineage = &state.lineage;
        let until = lineage.serves_until(now, state.margin, state.fetching);
        let fresh = lineage.valid_at(now).zip(until).map(|(current, until)| {
            Arc::new(Fresh {
                token: Arc::clone(&current.token),
                until,
            })
        });
        self.fresh.store(fresh);
        self.saved.store(Arc::new(Saved {
            lineage: state.lineage.clone(),
            margin: state.margin,
            rejected: state.rejected.clone(),
            unsaved: state.unsaved,
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
                lineage: saved.lineage.clone(),
                margin: saved.margin,
                rejected: saved.rejected.clone(),
                unsaved: saved.unsaved,
                store_error: None,
                fetching: false,
                fetches_done: 0,
                dropped: false,
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

impl<T: CachedToken> State<T> {
    fn plan(&self, now: Moment) -> Plan<T> {
        // While the callback runs, no get waits: one from the callback
        // (whichever thread a binding runs it on) would wait for itself.
        if let Some(announced) = &self.announcing {
            return match announced.outlived(now) {
                Some(error) => Plan::Fail(error),
                None => Plan::Serve(Arc::clone(&announced.token)),
            };
        }
        self.lineage.plan(now, self.margin, self.fetching)
    }
}

impl<T> Announced<T> {
    /// The error for a token that has died since the callback was given it
    /// (a callback slower than the token's lifetime, a suspend meanwhile).
    fn outlived(&self, now: Moment) -> Option<Error> {
        self.dies_at.filter(|dies_at| now >= *dies_at).map(|_| {
            Error::new(
                ErrorKind::Timeout,
                "the token expired while the refresh callback ran: get again for a new one",
            )
        })
    }
}

/// A number from 0 to 1 that no other process draws alike (0 when the
/// system gives no randomness: the margin is then not spread).
fn random_unit() -> f64 {
    let mut bytes = [0; 4];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}
