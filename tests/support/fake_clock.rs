//! A clock that moves only when a test says, for a token source made with
//! `TokenSource::with_clock`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criteo_oauth::clock::{Clock, Moment};

pub struct FakeClock {
    /// The boot clock and the wall clock.
    now: Mutex<(Duration, SystemTime)>,
    boot_clock_id: String,
}

impl FakeClock {
    /// A clock of the boot named `boot_clock_id`, stopped an hour after
    /// that boot, on 2026-12-01.
    pub fn new(boot_clock_id: &str) -> FakeClock {
        FakeClock {
            now: Mutex::new((
                Duration::from_secs(3600),
                UNIX_EPOCH + Duration::from_secs(1_796_083_200),
            )),
            boot_clock_id: boot_clock_id.into(),
        }
    }

    /// Time passes, awake or suspended: both clocks move on.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        now.0 += by;
        now.1 += by;
    }

    /// Back to where the clock was before `advance(by)`, to ask what a
    /// source would do then.
    pub fn rewind(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        now.0 -= by;
        now.1 -= by;
    }

    /// Someone sets the date: the wall clock alone moves, by `seconds`.
    pub fn step_wall(&self, seconds: i64) {
        let mut now = self.now.lock().unwrap();
        let by = Duration::from_secs(seconds.unsigned_abs());
        now.1 = if seconds >= 0 { now.1 + by } else { now.1 - by };
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Moment {
        Moment::since_boot(self.now.lock().unwrap().0)
    }

    fn wall(&self) -> SystemTime {
        self.now.lock().unwrap().1
    }

    fn boot_clock_id(&self) -> String {
        self.boot_clock_id.clone()
    }
}
