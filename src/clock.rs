//! Moments that several processes agree on, for the store they share.
//!
//! A process's own deadlines are on the monotonic clock (`Instant`), which
//! another process cannot read back. A [`Stamp`] records a moment on the
//! clock every process of one boot shares and that counts suspended time
//! (`CLOCK_BOOTTIME`), with the clock it was read from: the kernel's
//! `boot_id`, and the time namespace (whose processes may see that clock
//! shifted); and on the wall clock, for a process of another boot or
//! namespace.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::descriptors::read_regular_file;

/// A moment, as every process of the machine can read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// Which `CLOCK_BOOTTIME` this is: the boot and the time namespace
    /// (empty when unknown).
    clock_id: String,
    /// Milliseconds since that boot, suspended time included.
    since_boot_ms: i64,
    /// Milliseconds since 1970 on the wall clock.
    unix_ms: i64,
}

impl Stamp {
    /// The moment `instant` of this process's monotonic clock.
    pub(crate) fn of(instant: Instant) -> Stamp {
        let now = Instant::now();
        let offset = match now.checked_duration_since(instant) {
            Some(ago) => -millis(ago),
            None => millis(instant - now),
        };
        Stamp {
            clock_id: clock_id(),
            since_boot_ms: since_boot_ms().saturating_add(offset),
            unix_ms: unix_ms().saturating_add(offset),
        }
    }

    /// The same moment on this process's monotonic clock; `None` when it
    /// cannot be told (a stamp of another boot from a wall clock that has
    /// moved back since, or beyond what `Instant` can hold).
    pub(crate) fn to_instant(&self) -> Option<Instant> {
        let same_clock = !self.clock_id.is_empty() && self.clock_id == clock_id();
        let ago_ms = if same_clock {
            since_boot_ms().checked_sub(self.since_boot_ms)?
        } else {
            unix_ms()
                .checked_sub(self.unix_ms)
                .filter(|ago| *ago >= 0)?
        };
        let now = Instant::now();
        let magnitude = Duration::from_millis(ago_ms.unsigned_abs());
        if ago_ms >= 0 {
            now.checked_sub(magnitude)
        } else {
            now.checked_add(magnitude)
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Read through the C library, not rustix: rustix finds the vDSO by
/// parsing it, which crashes under valgrind.
fn since_boot_ms() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to; CLOCK_BOOTTIME exists
    // on every Linux the library supports (2.6.39 and later).
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
    now.tv_sec.saturating_mul(1000) + now.tv_nsec / 1_000_000
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// This process's `CLOCK_BOOTTIME`: the boot's id and the time namespace
/// (read each time: a child of `fork()` may be in another namespace), or
/// empty when the boot's id is unknown.
fn clock_id() -> String {
    let boot_id = boot_id();
    if boot_id.is_empty() {
        return String::new();
    }
    let namespace = std::fs::read_link("/proc/self/ns/time")
        .map(|link| link.display().to_string())
        .unwrap_or_default();
    format!("{boot_id} {namespace}")
}

/// This boot's id, read once per process.
fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(|| {
        read_regular_file(Path::new("/proc/sys/kernel/random/boot_id"), 64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(|text| text.trim().to_owned())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_the_same_instant() {
        let then = Instant::now() - Duration::from_secs(5);
        let stamp = Stamp::of(then);
        let back = stamp.to_instant().unwrap();
        let error = back.max(then) - back.min(then);
        assert!(error < Duration::from_millis(5), "{error:?}");
        assert!(!boot_id().is_empty(), "Linux tells its boot id");
        assert!(clock_id().contains(" time:["), "{}", clock_id());
    }

    #[test]
    fn a_stamp_of_another_boot_goes_by_the_wall_clock() {
        let mut stamp = Stamp::of(Instant::now());
        stamp.clock_id = "another boot".into();
        stamp.since_boot_ms = 0;
        stamp.unix_ms -= 60_000;
        let ago = Instant::now() - stamp.to_instant().unwrap();
        assert!((59..=61).contains(&ago.as_secs()), "{ago:?}");
        stamp.unix_ms += 3_600_000;
        assert_eq!(
            stamp.to_instant(),
            None,
            "a wall clock moved back tells nothing"
        );
    }
}
