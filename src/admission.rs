//! Which token requests a client sends now. At most a set number at once
//! (thousands of sources due together must not open thousands of
//! connections, nor look like an attack to the server): the others wait
//! their turn, within their own time limits. And none for a client id
//! that the server answered `429 Too Many Requests` with a `Retry-After`:
//! the token endpoint limits the application that authenticates, not
//! one lineage, so one such answer holds every request of that client id
//! until then, rather than costing one request per lineage.
//!
//! Both are counted per process: a child of `fork()` starts with none
//! under way and none held (see [`PerProcess`]).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::process::{Owned, PerProcess};

/// Token requests a client runs at once by default.
pub(crate) const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 8;
/// The most that can be set.
pub(crate) const MAX_CONCURRENT_REQUESTS_LIMIT: u32 = 1024;
/// The longest hold a `Retry-After` puts on a client id.
const LONGEST_HOLD: Duration = Duration::from_secs(300);

pub(crate) struct Admission {
    limit: usize,
    current: PerProcess<Turns>,
}

#[derive(Default)]
struct Turns {
    state: Mutex<TurnState>,
    freed: Condvar,
}

#[derive(Default)]
struct TurnState {
    under_way: usize,
    /// Client ids held, until when.
    held: HashMap<String, Instant>,
}

/// Why a request may not be sent now.
pub(crate) enum Refused {
    /// Every turn stayed taken until the deadline.
    NoTurn { limit: usize },
    /// The server told this client id to wait this much longer.
    Held(Duration),
}

/// A request's turn, given back when dropped.
pub(crate) struct Turn {
    turns: Arc<Owned<Turns>>,
    /// Whether it had to wait for it.
    pub(crate) waited: bool,
}

impl Admission {
    pub(crate) fn new(limit: u32) -> Self {
        Admission {
            limit: limit as usize,
            current: PerProcess::new(Turns::default()),
        }
    }

    /// A turn for a request of `client_id`, waiting for one until
    /// `deadline`.
    pub(crate) fn enter(&self, client_id: &str, deadline: Instant) -> Result<Turn, Refused> {
        let turns = self.current.get(Turns::default);
        let mut state = turns.lock();
        let mut waited = false;
        loop {
            let now = Instant::now();
            if let Some(left) = state.held_for(client_id, now) {
                return Err(Refused::Held(left));
            }
            if state.under_way < self.limit {
                state.under_way += 1;
                drop(state);
                return Ok(Turn { turns, waited });
            }
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(Refused::NoTurn { limit: self.limit });
            }
            waited = true;
            state = turns
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Holds every request of `client_id` for `wait` (at most 5 minutes),
    /// as the server asked.
    pub(crate) fn hold(&self, client_id: &str, wait: Duration) {
        let until = Instant::now() + wait.min(LONGEST_HOLD);
        let turns = self.current.get(Turns::default);
        let mut state = turns.lock();
        let held = state.held.entry(client_id.to_owned()).or_insert(until);
        *held = (*held).max(until);
        drop(state);
        // Waiters of that client id are refused at once, not at their turn.
        turns.freed.notify_all();
    }
}

impl Turns {
    fn lock(&self) -> MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TurnState {
    /// How much longer `client_id` is held; holds that ended are dropped.
    fn held_for(&mut self, client_id: &str, now: Instant) -> Option<Duration> {
        self.held.retain(|_, until| *until > now);
        self.held.get(client_id).map(|until| *until - now)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // In a child of fork(), the turn was its parent's.
        if !self.turns.is_current() {
            return;
        }
        self.turns.lock().under_way -= 1;
        self.turns.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[test]
    fn no_more_than_the_limit_run_at_once_and_a_turn_given_back_is_taken() {
        let admission = Admission::new(2);
        let first = admission.enter("a", soon()).ok().unwrap();
        let _second = admission.enter("b", soon()).ok().unwrap();
        assert!(matches!(
            admission.enter("a", soon()),
            Err(Refused::NoTurn { limit: 2 })
        ));
        drop(first);
        assert!(admission.enter("c", soon()).is_ok());
    }

    #[test]
    fn a_hold_refuses_its_client_id_alone_until_it_ends() {
        let admission = Admission::new(8);
        admission.hold("limited", Duration::from_millis(100));
        assert!(matches!(
            admission.enter("limited", soon()),
            Err(Refused::Held(left)) if left <= Duration::from_millis(100)
        ));
        assert!(admission.enter("other", soon()).is_ok());
        std::thread::sleep(Duration::from_millis(120));
        assert!(admission.enter("limited", soon()).is_ok());
    }

    #[test]
    fn a_hold_is_never_longer_than_five_minutes() {
        let admission = Admission::new(8);
        admission.hold("limited", Duration::from_secs(u64::MAX / 4));
        match admission.enter("limited", soon()) {
            Err(Refused::Held(left)) => assert!(left <= LONGEST_HOLD),
            _ => panic!("not held"),
        }
    }
}
