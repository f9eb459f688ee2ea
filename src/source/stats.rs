//! Counters of a token source's fetches, for `criteo_token_source_stat`.
//! Only the fetch path writes them: the cached get and the header read
//! stay free of writes that threads share.

use std::sync::atomic::{AtomicU64, Ordering};

/// What can be counted. The numbers are the C API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Stat {
    /// Requests for a token this source made (each one fetch, its retries
    /// inside it).
    Fetches = 1,
    /// Those that failed.
    FetchFailures = 2,
    /// Fetches avoided: another process had stored a token that was not
    /// due (read under the store's lock).
    StoreHits = 3,
}

impl Stat {
    pub fn from_number(number: u32) -> Option<Stat> {
        [Stat::Fetches, Stat::FetchFailures, Stat::StoreHits]
            .into_iter()
            .find(|stat| *stat as u32 == number)
    }
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    fetches: AtomicU64,
    fetch_failures: AtomicU64,
    store_hits: AtomicU64,
}

impl Stats {
    pub(super) fn count(&self, stat: Stat) {
        self.counter(stat).fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn get(&self, stat: Stat) -> u64 {
        self.counter(stat).load(Ordering::Relaxed)
    }

    fn counter(&self, stat: Stat) -> &AtomicU64 {
        match stat {
            Stat::Fetches => &self.fetches,
            Stat::FetchFailures => &self.fetch_failures,
            Stat::StoreHits => &self.store_hits,
        }
    }
}
