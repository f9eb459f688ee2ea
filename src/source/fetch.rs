//! A fetch and the threads waiting for it. One fetch at a time per
//! process: it marks the state "fetching", drops the lock, and under the
//! store's lock (shared by processes) reads what another process left,
//! asks the server only when that will not do, writes the answer back,
//! then takes the state's lock again to install it. Threads with no valid
//! token wait on a condition variable for that fetch and share its result.
//! A refresh of a token that is still valid runs on a thread of the
//! library's, so that no caller waits for it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::plan::{CachedToken, Current, Lineage, Margin, Plan};
use super::shared::{Guard, Record, SharedStore, Unlocked, Written};
use super::{Announced, Locked, Stat, State, TokenSource};
use crate::clock::{Clock, Moment, deadline_after};
use crate::error::{Error, ErrorKind};
use crate::process::{Owned, QuietPanics};
use crate::request::TokenRequest;
use crate::secret::Secret;
use crate::threads;
use crate::trace::{self, EventKind};

/// A thread waiting for another's fetch gives up after the client's total
/// time limit and this much more (twice that with a store, where the
/// fetch may first wait as long for another process).
const WAIT_SLACK: Duration = Duration::from_secs(1);

/// How a fetch ended.
struct Exchanged<T> {
    /// The lineage to install; `None` when it is to stay as it is.
    lineage: Option<Lineage<T>>,
    result: Result<Arc<T>, Error>,
    /// Whether a new token came from the server now (and so is announced).
    fetched: bool,
    /// What the store said: `None` when it was not used.
    store: Option<Result<(), Error>>,
    /// Whether the store was given the lineage as installed.
    saved: bool,
}

impl<T: CachedToken> TokenSource<T> {
    /// Starts the fetch that `state`'s plan calls for on a thread of the
    /// library's. When no thread can be started, the fetch ends at once
    /// with what `not_started` makes of that error (the threads that came
    /// to wait for it meanwhile take it), which is returned.
    pub(super) fn fetch_in_background(
        self: &Arc<Self>,
        locked: &Arc<Owned<Locked<T>>>,
        state: MutexGuard<'_, State<T>>,
        not_started: impl FnOnce(Error) -> Result<Arc<T>, Error>,
    ) -> Option<Result<Arc<T>, Error>> {
        self.start_fetch(state);
        let error = self.fetch_on_a_thread(locked).err()?;
        Some(self.finish_fetch(locked, locked.lock(), not_started(error)))
    }

    /// Marks a fetch under way, for the other threads, and unlocks.
    pub(super) fn start_fetch(&self, mut state: MutexGuard<'_, State<T>>) {
        state.fetching = true;
        self.publish(&state);
    }

    /// How long a thread waits for another's fetch.
    pub(super) fn wait_limit(&self) -> Duration {
        let one_fetch = self.client.total_timeout() + WAIT_SLACK;
        match self.store.load().as_ref() {
            Some(_) => one_fetch * 2,
            None => one_fetch,
        }
    }

    /// Starts [`fetch`](Self::fetch) on a worker thread of the library's,
    /// which keeps the source alive until it ends.
    pub(super) fn fetch_on_a_thread(
        self: &Arc<Self>,
        locked: &Arc<Owned<Locked<T>>>,
    ) -> Result<(), Error> {
        let (source, on) = (Arc::clone(self), Arc::clone(locked));
        let fetch = move || {
            let _quiet = QuietPanics::enter();
            let _ = source.fetch(&on);
        };
        // The process began to exit while the fetch waited for a worker.
        let (source, on) = (Arc::clone(self), Arc::clone(locked));
        let not_run = move |error| {
            let _ = source.finish_fetch(&on, on.lock(), Err(no_thread(&error)));
        };
        // Cut off by the process's exit, a fetch of these grants may lose
        // a refresh token the server has rotated, or a code it has spent.
        let started = match self.first_request.renews_with_refresh_token() {
            true => threads::run_awaited(self.wait_limit(), fetch, not_run),
            false => threads::run_in_background(fetch),
        };
        started.map_err(|error| no_thread(&error))
    }

    /// Waits at most `limit` for the fetch under way to end, and takes its
    /// result (`awaited` is how many fetches had ended before it); `None`
    /// when it is still under way.
    pub(super) fn wait_for_fetch(
        &self,
        locked: &Locked<T>,
        mut state: MutexGuard<'_, State<T>>,
        awaited: u64,
        limit: Duration,
    ) -> Option<Result<Arc<T>, Error>> {
        let deadline = deadline_after(limit);
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

    /// One fetch, with the lock released while it talks to the store and
    /// the server, and while the refresh callback runs.
    ///
    /// The store's lock is held until the result is installed: a child
    /// of a `fork()` that comes before then waits for it, and finds the
    /// result in the store; one that comes later starts from it.
    pub(super) fn fetch(&self, locked: &Owned<Locked<T>>) -> Result<Arc<T>, Error> {
        let store = self.store.load_full();
        let exchange = || self.exchange(locked, store.as_deref());
        let (exchanged, store_lock) = catch_unwind(AssertUnwindSafe(exchange))
            .unwrap_or_else(|panic| (Exchanged::failed(Error::from_panic(&*panic)), None));
        let fetched = exchanged.fetched;
        let mut state = locked.lock();
        let result = state.take(exchanged, self.clock.now());
        self.publish(&state);
        if let (true, Ok(token)) = (fetched, &result) {
            let now = self.clock.now();
            let dies_at = state.lineage.valid_at(now).map(Current::expires_at);
            state.announcing = Some(Announced {
                token: Arc::clone(token),
                dies_at,
            });
            drop(state);
            // Before the callback, which may get (and fetch) again.
            drop(store_lock);
            self.on_refresh.announce(token);
            if !locked.is_current() {
                // The callback forked, and this is the child: the lock is
                // the parent's, which another thread may have held.
                return result;
            }
            state = locked.lock();
            let announced = state.announcing.take();
            let outlived = announced.and_then(|announced| announced.outlived(self.clock.now()));
            let result = outlived.map_or(result, Err);
            return self.finish_fetch(locked, state, result);
        }
        let result = self.finish_fetch(locked, state, result);
        drop(store_lock);
        result
    }

    /// Marks the fetch under way done with `result`, which every thread
    /// waiting for it then takes.
    pub(super) fn finish_fetch(
        &self,
        locked: &Locked<T>,
        mut state: MutexGuard<'_, State<T>>,
        result: Result<Arc<T>, Error>,
    ) -> Result<Arc<T>, Error> {
        state.fetching = false;
        state.fetches_done += 1;
        state.dropped = false;
        state.last_result = Some(result.clone());
        self.publish(&state);
        drop(state);
        locked.fetch_done.notify_all();
        result
    }

    /// The fetch itself, under the store's lock: the record another
    /// process left is read first, the server asked only when that will
    /// not do, and its answer written back. Gives the lock back, still
    /// held, when it was taken.
    fn exchange<'s>(
        &self,
        locked: &Locked<T>,
        store: Option<&'s SharedStore>,
    ) -> (Exchanged<T>, Option<Guard<'s>>) {
        let deadline = deadline_after(self.client.total_timeout() + WAIT_SLACK);
        let mut store_outcome = None;
        let mut guard = match store.map(|store| store.lock(deadline)) {
            None => None,
            Some(Ok(guard)) => Some(guard),
            Some(Err(Unlocked::TimedOut)) => {
                let message = format!(
                    "timed out waiting for another process's fetch of a token (it holds the \
                     lock of {})",
                    store.map(SharedStore::describe).unwrap_or_default()
                );
                return (
                    Exchanged::failed(Error::new(ErrorKind::Timeout, message)),
                    None,
                );
            }
            Some(Err(Unlocked::Unusable(error))) => {
                store_outcome = Some(Err(error));
                None
            }
        };
        // The moments stored are stamped on the store's wall clock, when
        // it has one (hosts share it).
        let clock = match guard.as_mut().map(|guard| guard.clock(&self.clock)) {
            Some(Ok(clock)) => clock,
            Some(Err(error)) => {
                // Without its clock, the store is not used for this fetch.
                guard = None;
                store_outcome = Some(Err(error));
                Arc::clone(&self.clock)
            }
            None => Arc::clone(&self.clock),
        };
        let (mut lineage, margin, rejected, unsaved, why, caller_waits) = {
            let state = locked.lock();
            let lineage = state.lineage.clone();
            let caller_waits = lineage.valid_at(self.clock.now()).is_none();
            let why = match (state.dropped, state.fetches_done) {
                (true, _) => "the token was invalidated or rejected",
                (false, 0) => "no token yet",
                (false, _) => "the token expired",
            };
            (
                lineage,
                state.margin,
                state.rejected.clone(),
                state.unsaved,
                why,
                caller_waits,
            )
        };
        // Whether the lineage is, at this point, what the store holds: a
        // store that could not be locked has all it had.
        let mut saved = store.is_none() || !unsaved;
        // A record that could not be read or opened: reported even when the
        // write that replaces it succeeds.
        let mut read_failure = None;
        if let Some(guard) = &mut guard {
            saved = match self.catch_up(guard, &mut lineage, unsaved, &*clock) {
                Ok(saved) => saved,
                Err(error) => {
                    read_failure = Some(error);
                    !unsaved
                }
            };
            lineage.drop_if(rejected.as_ref());
        }
        let mut refresh_left = false;
        let plan = match lineage.plan(self.clock.now(), margin, false) {
            // A caller with no valid token waits for this fetch: a valid
            // token from the store is given at once, due or not, and its
            // refresh left to a later get, in the background.
            Plan::Refresh(_, token) if caller_waits => {
                refresh_left = true;
                Plan::Serve(token)
            }
            plan => plan,
        };
        let span = self.client.trace_span(match &plan {
            Plan::Fetch(request) | Plan::Refresh(request, _) => request,
            _ => &self.first_request,
        });
        let (result, fetched) = match plan {
            Plan::Serve(token) => {
                if guard.is_some() {
                    self.stats.count(Stat::StoreHits);
                    trace::emit(span.as_ref(), EventKind::Fetch, || {
                        match refresh_left {
                            false => "not needed: another process stored a token that is not due",
                            true => {
                                "not needed now: another process stored a token that is due but \
                                 valid; a later get refreshes it"
                            }
                        }
                        .into()
                    });
                }
                (Ok(token), false)
            }
            Plan::Fail(error) => (Err(error), false),
            Plan::Wait => unreachable!("no fetch of this process is under way but this one"),
            // A named lineage that neither this source nor the store
            // started: nothing to send.
            Plan::Fetch(request) if let Some(error) = request.unsendable() => (Err(error), false),
            Plan::Fetch(request) | Plan::Refresh(request, _) => {
                trace::emit(span.as_ref(), EventKind::Fetch, || {
                    let why = match lineage.valid_at(self.clock.now()) {
                        Some(_) => "the token is due for refresh",
                        None => why,
                    };
                    format!("asking the server: {why}")
                });
                let (result, fetched) =
                    self.ask_server(&mut lineage, &request, guard.as_mut(), &*clock);
                trace::emit(span.as_ref(), EventKind::Fetch, || {
                    match (&result, fetched) {
                        (Ok(_), true) => "a token from the server".to_owned(),
                        (Ok(_), false) => "refused as used, but another host had stored a newer \
                                       token meanwhile: that one"
                            .to_owned(),
                        (Err(error), _) => format!("failed: {}", error.message()),
                    }
                });
                (result, fetched)
            }
        };
        let new_token = fetched && lineage.failure.is_none();
        let result = if new_token {
            result
        } else {
            // A caller may have rejected the token while this fetch ran.
            lineage.withdraw(locked.lock().rejected.as_ref(), result)
        };
        if new_token && guard.is_none() {
            // A token fetched without the store (its lock failed): the
            // store lacks it until a later fetch writes it.
            saved = store.is_none();
        }
        let locked_store = guard.is_some();
        // What the store lacks: a new token, or what an earlier write lost.
        // A failed write of anything else (a failure) loses nothing.
        let holds_news = new_token || !saved;
        if let Some(held) = guard.as_mut().filter(|_| fetched || !saved) {
            let written = match write_record(held, &mut lineage, &*clock) {
                Ok(Written::Superseded) => {
                    guard = None;
                    self.write_over_newer(&mut lineage)
                }
                written => written.map(drop),
            };
            saved = written.is_ok() || !holds_news;
            store_outcome = Some(written);
        } else if locked_store && store_outcome.is_none() {
            store_outcome = Some(Ok(()));
        }
        if let Some(error) = read_failure {
            store_outcome = Some(store_outcome.unwrap_or(Ok(())).and(Err(error)));
        }
        let exchanged = Exchanged {
            fetched: new_token && result.is_ok(),
            lineage: Some(lineage),
            result,
            store: store_outcome,
            saved,
        };
        (exchanged, guard)
    }

    /// Brings `lineage`, this process's copy (which holds what the store
    /// lost when `unsaved`), up to the store's record; says whether it is
    /// then what the store holds.
    fn catch_up(
        &self,
        guard: &mut Guard<'_>,
        lineage: &mut Lineage<T>,
        unsaved: bool,
        clock: &dyn Clock,
    ) -> Result<bool, Error> {
        let Some(record) = guard.read()? else {
            // A store that lost the record this copy was read or written
            // as gets it back.
            return Ok(!unsaved && lineage.serial == 0);
        };
        let stored = record.into_lineage(&self.first_request, clock);
        if stored.serial < lineage.serial {
            // A store that went back (restored from a copy, emptied and
            // written again by a process that started over, a replica that
            // missed writes): nothing of it is newer than ours, which stays
            // and is written back.
            return Ok(false);
        }
        if unsaved {
            // Ours holds what the store lost (a refresh token rotated when
            // a write failed): it stays, with a newer token from the store
            // if there is one.
            lineage.absorb(stored);
            return Ok(false);
        }
        lineage.adopt(stored);
        Ok(true)
    }

    /// Asks the server for a token with `request`, and installs the
    /// answer in `lineage`; says whether the server gave a token. A
    /// refresh refused as `invalid_grant` reads the store again first:
    /// another host, which took the lock after this one's lease ran out,
    /// may have used the refresh token and stored what came of it. Its
    /// token is then taken, or its refresh token sent, once.
    fn ask_server(
        &self,
        lineage: &mut Lineage<T>,
        request: &TokenRequest,
        mut guard: Option<&mut Guard<'_>>,
        clock: &dyn Clock,
    ) -> (Result<Arc<T>, Error>, bool) {
        let mut request = request.clone();
        let mut reread = false;
        loop {
            // A token's lifetime counts from before it was asked for.
            let started = self.clock.now();
            self.stats.count(Stat::Fetches);
            let error = match self.client.get_token(&request) {
                Ok(token) => return (Ok(lineage.install(&token, started)), true),
                Err(error) => error,
            };
            self.stats.count(Stat::FetchFailures);
            let moved_on = match (error.oauth().code.as_deref(), guard.as_deref_mut()) {
                (Some("invalid_grant"), Some(guard)) if !reread => {
                    reread = true;
                    self.moved_on(guard, &request, lineage, clock)
                }
                _ => None,
            };
            let Some(stored) = moved_on else {
                return (lineage.record_failure(error, self.clock.now()), true);
            };
            lineage.adopt(stored);
            match lineage.plan(self.clock.now(), Margin::Fixed(Duration::ZERO), false) {
                Plan::Serve(token) | Plan::Refresh(_, token) => return (Ok(token), false),
                Plan::Fetch(next) => request = next,
                Plan::Fail(error) => return (Err(error), false),
                Plan::Wait => unreachable!("no fetch of this process is under way but this one"),
            }
        }
    }

    /// The lineage the store holds, when it moved on from `ours`, which
    /// sent `sent`: not older, with a token valid now or another refresh
    /// token.
    fn moved_on(
        &self,
        guard: &mut Guard<'_>,
        sent: &TokenRequest,
        ours: &Lineage<T>,
        clock: &dyn Clock,
    ) -> Option<Lineage<T>> {
        let stored = guard.read().ok()??;
        let stored: Lineage<T> = stored.into_lineage(&self.first_request, clock);
        if stored.serial < ours.serial {
            return None;
        }
        let sent = sent.refresh_token().map(Secret::expose);
        let next = stored.next_request.refresh_token().map(Secret::expose);
        let valid = stored.valid_at(self.clock.now()).is_some();
        (valid || (next.is_some() && next != sent)).then_some(stored)
    }

    /// After a write refused because another host wrote since this one
    /// read (its lease ran out meanwhile): takes the lock again, and
    /// writes this lineage over the newer record, with any newer token of
    /// that record. This one holds what the server last gave: with a
    /// server that revokes a refresh token once used, the other host's
    /// refresh failed, and this refresh token is the lineage's only one.
    fn write_over_newer(&self, lineage: &mut Lineage<T>) -> Result<(), Error> {
        let Some(store) = self.store.load_full() else {
            return Ok(());
        };
        let deadline = deadline_after(self.client.total_timeout() + WAIT_SLACK);
        let mut guard = match store.lock(deadline) {
            Ok(guard) => guard,
            Err(Unlocked::Unusable(error)) => return Err(error),
            Err(Unlocked::TimedOut) => return Err(superseded(&store)),
        };
        let clock = guard.clock(&self.clock)?;
        if let Some(record) = guard.read().ok().flatten() {
            lineage.absorb(record.into_lineage(&self.first_request, &*clock));
        }
        match write_record(&mut guard, lineage, &*clock)? {
            Written::Done => Ok(()),
            Written::Superseded => Err(superseded(&store)),
        }
    }
}

/// Why a fetch did not run on a thread of the library's.
fn no_thread(error: &std::io::Error) -> Error {
    let hint = match error.kind() {
        std::io::ErrorKind::WouldBlock => {
            ": the process may be at its limit of threads (ulimit -u)"
        }
        _ => "",
    };
    Error::new(
        ErrorKind::Transport,
        format!("could not start a thread for the fetch ({error}){hint}"),
    )
}

/// Writes `lineage` as the store's next record; its serial counts the
/// write only once it is made.
fn write_record<T: CachedToken>(
    guard: &mut Guard<'_>,
    lineage: &mut Lineage<T>,
    clock: &dyn Clock,
) -> Result<Written, Error> {
    lineage.serial += 1;
    let written = guard.write(&Record::of(lineage, guard.key(), clock));
    match written {
        Ok(Written::Done) => lineage.starts_over = false,
        _ => lineage.serial -= 1,
    }
    written
}

fn superseded(store: &SharedStore) -> Error {
    Error::new(
        ErrorKind::Store,
        format!(
            "cannot write the token store {}: another host wrote it each time after this \
             one read it; this lineage is kept in memory, and written at the next fetch",
            store.describe()
        ),
    )
}

/// Drops the store's token if it is `access_token`, when the store's lock
/// is free (its holder is fetching, and replaces the token anyway).
/// `None` when nothing was tried.
pub(super) fn reject_in_store(
    store: &SharedStore,
    access_token: &str,
) -> Option<Result<(), Error>> {
    let mut guard = match store.try_lock() {
        Ok(Some(guard)) => guard,
        Ok(None) => return None,
        Err(error) => return Some(Err(error)),
    };
    Some(match guard.read() {
        Ok(Some(mut record)) if record.holds(access_token) => {
            record.drop_token();
            // Superseded, the record holds another token already.
            guard.write(&record).map(drop)
        }
        Ok(_) => Ok(()),
        Err(error) => Err(error),
    })
}

impl<T> Exchanged<T> {
    /// A fetch that failed with `error` before it had a lineage to give.
    fn failed(error: Error) -> Self {
        Exchanged {
            lineage: None,
            result: Err(error),
            fetched: false,
            store: None,
            saved: false,
        }
    }
}

impl<T: CachedToken> State<T> {
    /// Installs what a fetch ended with, at `now`.
    fn take(&mut self, exchanged: Exchanged<T>, now: Moment) -> Result<Arc<T>, Error> {
        if let Some(outcome) = exchanged.store {
            self.note_store(outcome);
        }
        match exchanged.lineage {
            Some(lineage) => {
                self.lineage = lineage;
                self.unsaved = !exchanged.saved;
                if exchanged.fetched {
                    exchanged.result
                } else {
                    self.lineage
                        .withdraw(self.rejected.as_ref(), exchanged.result)
                }
            }
            None => match exchanged.result {
                Err(error) if error.kind() == ErrorKind::Internal => {
                    self.lineage.record_failure(error, now)
                }
                other => other,
            },
        }
    }

    pub(super) fn note_store(&mut self, outcome: Result<(), Error>) {
        self.store_error = outcome.err();
    }
}
