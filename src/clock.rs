//! Time, as a token source reads it: one small abstraction, so that the
//! source's logic can be run on a clock a test moves at will.
//!
//! A token lives for a while after it was received. That while is measured
//! on the boot clock (`CLOCK_BOOTTIME`), which counts the time a machine
//! spends suspended (the monotonic clock, Rust's `Instant`, stops then) and
//! is never moved by NTP or by someone setting the date (the wall clock
//! is). So a suspend never keeps a dead token, and a wall clock stepped
//! either way neither keeps a dead token nor drops a good one.
//!
//! Every process of one boot shares the boot clock, so the store that
//! processes share keeps its moments on it, with the wall clock beside them
//! for a process of another boot (see [`Stamp`]).

use std::ops::{Add, Sub};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::descriptors::read_regular_file;
use crate::process::{PerProcess, made_once};

/// A moment on the boot clock: the time since the machine booted,
/// suspended time included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(Duration);

impl Moment {
    /// The moment `since_boot` after the boot.
    pub fn since_boot(since_boot: Duration) -> Moment {
        Moment(since_boot)
    }

    /// The moment `ms` milliseconds after the boot; a moment before the
    /// boot is as good as its start: long gone.
    fn from_millis(ms: i64) -> Moment {
        Moment(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }

    /// How long after `earlier` this is (zero when it is not after).
    pub fn saturating_since(self, earlier: Moment) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// Saturates at the boot.
impl Sub<Duration> for Moment {
    type Output = Moment;

    fn sub(self, ago: Duration) -> Moment {
        Moment(self.0.saturating_sub(ago))
    }
}

/// Saturates: a server may ask for any wait.
impl Add<Duration> for Moment {
    type Output = Moment;

    fn add(self, wait: Duration) -> Moment {
        Moment(self.0.saturating_add(wait))
    }
}

/// What a token source reads the time from: the system's clocks, or a
/// clock a test moves.
pub trait Clock: Send + Sync + 'static {
    /// Now on the boot clock.
    fn now(&self) -> Moment;
    /// Now on the wall clock.
    fn wall(&self) -> SystemTime;
    /// Which boot clock [`now`](Self::now) reads: equal for every process
    /// whose boot clock reads the same, empty when unknown.
    fn boot_clock_id(&self) -> String;
    /// Which boot of which machine [`now`](Self::now) counts from, whatever
    /// the time namespace: the first word of
    /// [`boot_clock_id`](Self::boot_clock_id), which a clock may know
    /// sooner than the whole.
    fn boot_id(&self) -> String {
        let id = self.boot_clock_id();
        id.split(' ').next().unwrap_or_default().to_owned()
    }
}

/// A clock whose wall clock is set to another's: a store's, so that the
/// hosts sharing it stamp moments on one wall clock, whatever theirs say.
pub(crate) struct ShiftedWall {
    clock: Arc<dyn Clock>,
    /// How far the other wall clock is ahead of this one's, in ms.
    ahead_ms: i64,
}

impl ShiftedWall {
    pub(crate) fn new(clock: Arc<dyn Clock>, ahead_ms: i64) -> ShiftedWall {
        ShiftedWall { clock, ahead_ms }
    }
}

impl Clock for ShiftedWall {
    fn now(&self) -> Moment {
        self.clock.now()
    }

    fn wall(&self) -> SystemTime {
        let by = Duration::from_millis(self.ahead_ms.unsigned_abs());
        let wall = self.clock.wall();
        match self.ahead_ms >= 0 {
            true => wall.checked_add(by),
            false => wall.checked_sub(by),
        }
        .unwrap_or(wall)
    }

    fn boot_clock_id(&self) -> String {
        self.clock.boot_clock_id()
    }

    fn boot_id(&self) -> String {
        self.clock.boot_id()
    }
}

/// How far `other` is ahead of `clock`'s wall clock, in ms, read as the
/// middle of `read_other`, which reads it.
pub(crate) fn wall_offset_ms(
    clock: &dyn Clock,
    read_other: impl FnOnce() -> Option<SystemTime>,
) -> Option<i64> {
    let before = unix_ms(clock.wall());
    let other = unix_ms(read_other()?);
    let after = unix_ms(clock.wall());
    Some(other - (before + (after - before) / 2))
}

/// The system's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    /// Read through the C library, not rustix: rustix finds the vDSO by
    /// parsing it, which crashes under valgrind.
    fn now(&self) -> Moment {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec to write to; CLOCK_BOOTTIME
        // exists on every Linux the library supports (2.6.39 and later).
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
        let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
        let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
        Moment(Duration::new(seconds, nanos))
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    /// The boot's id and how far this process's time namespace moves the
    /// boot clock.
    /// The offset, not the namespace's inode number: the kernel reuses
    /// that number once a namespace is gone, for one that may be shifted
    /// otherwise, while two namespaces with one offset read one clock.
    ///
    /// Read once per process: a process's own time namespace stays the
    /// same for its life (short of `setns(2)`), and a child of `fork()`,
    /// which may be in another, reads it again. When the library does not
    /// hear of forks (it was not called through the C interface), it is
    /// read each time.
    fn boot_clock_id(&self) -> String {
        type Known = OnceLock<String>;
        static KNOWN: OnceLock<PerProcess<Known>> = OnceLock::new();
        if crate::process::forks_begun().is_none() {
            return read_boot_clock_id();
        }
        let known = made_once(&KNOWN, || PerProcess::new(Known::new())).get(Known::new);
        if let Some(id) = known.get() {
            return id.clone();
        }
        let id = read_boot_clock_id();
        // Unknown (between an unshare and the next fork, say): asked again.
        if !id.is_empty() {
            let _ = known.set(id.clone());
        }
        id
    }

    /// Read once per process, without the time namespace's files.
    fn boot_id(&self) -> String {
        boot_id().to_owned()
    }
}

fn read_boot_clock_id() -> String {
    let boot_id = boot_id();
    if boot_id.is_empty() {
        return String::new();
    }
    match boot_clock_offset() {
        Some(offset) => format!("{boot_id} {offset}"),
        None => String::new(),
    }
}

/// The `boottime` offset of this process's time namespace (`"boottime 0
/// 0"` when the kernel has none), or `None` when it cannot be told.
/// `/proc/self/timens_offsets` shows the offsets of the namespace this
/// process's *children* get, which is its own except between an
/// `unshare(CLONE_NEWTIME)` and the next `fork()`: then it is unknown.
fn boot_clock_offset() -> Option<String> {
    let own = match std::fs::read_link("/proc/self/ns/time") {
        Ok(own) => own,
        // No time namespaces in this kernel: one boot clock for all.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Some("boottime 0 0".to_owned());
        }
        Err(_) => return None,
    };
    if std::fs::read_link("/proc/self/ns/time_for_children").ok()? != own {
        return None;
    }
    let offsets = read_regular_file(Path::new("/proc/self/timens_offsets"), 4096).ok()?;
    let offsets = String::from_utf8(offsets).ok()?;
    let line = offsets.lines().find(|line| line.starts_with("boottime"))?;
    Some(line.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// This boot's id, read once per process.
fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    made_once(&BOOT_ID, || {
        read_regular_file(Path::new("/proc/sys/kernel/random/boot_id"), 64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(|text| text.trim().to_owned())
            .unwrap_or_default()
    })
    .as_str()
}

/// A deadline `wait` from now, for a timeout of this process (on the
/// monotonic clock), or as late as that clock can say when it overflows.
pub(crate) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

/// How far apart the wall clocks of the hosts sharing a store may be: a
/// token that another host (or boot) stored is taken as received this much
/// earlier than its stamp says.
pub(crate) const WALL_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// How far a machine's wall clock may move against its boot clock (NTP's
/// steps, someone setting the date) before a stamp of the same boot is
/// no longer read as of this boot clock without asking its time namespace.
const SAME_CLOCK_TOLERANCE: Duration = Duration::from_secs(1);

/// A moment as every process of the machine can read it back: on the boot
/// clock, with the clock it was read from, and on the wall clock, for a
/// process whose boot clock is another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// Which boot clock this is (empty when unknown).
    clock_id: String,
    /// Milliseconds on that clock.
    since_boot_ms: i64,
    /// Milliseconds since 1970 on the wall clock.
    unix_ms: i64,
}

impl Stamp {
    /// When it was, on the wall clock of whoever stamped it.
    pub(crate) fn wall(&self) -> SystemTime {
        let since_epoch = Duration::from_millis(u64::try_from(self.unix_ms).unwrap_or(0));
        UNIX_EPOCH.checked_add(since_epoch).unwrap_or(UNIX_EPOCH)
    }

    /// `moment`, of `clock`.
    pub(crate) fn of(moment: Moment, clock: &dyn Clock) -> Stamp {
        let since_boot_ms = millis(moment.0);
        let ago_ms = millis(clock.now().0).saturating_sub(since_boot_ms);
        Stamp {
            clock_id: clock.boot_clock_id(),
            since_boot_ms,
            unix_ms: unix_ms(clock.wall()).saturating_sub(ago_ms),
        }
    }

    /// The same moment on `clock`: exactly, on the same boot clock; else
    /// through the wall clocks (another boot, another host), as early as
    /// that reading allows.
    pub(crate) fn to_moment(&self, clock: &dyn Clock) -> Moment {
        let since_boot_ms = match self.is_of(clock) {
            true => self.since_boot_ms,
            false => {
                let ahead_ms = self.unix_ms.saturating_sub(unix_ms(clock.wall()));
                millis(clock.now().0).saturating_add(ahead_ms)
            }
        };
        Moment::from_millis(since_boot_ms)
    }

    /// The same moment on `clock`, for a moment that has passed (when a
    /// token arrived): read through the wall clocks, it is taken as
    /// [`WALL_CLOCK_SKEW`] earlier still, so that a token from a host whose
    /// wall clock is ahead by up to that much is never kept past its
    /// expiry. `None` when it reads as later than now on the same clock,
    /// or more than the skew later through the wall clocks: no record
    /// written on a clock in step holds such a moment.
    pub(crate) fn to_past_moment(&self, clock: &dyn Clock) -> Option<Moment> {
        let now_ms = millis(clock.now().0);
        let since_boot_ms = match self.is_of(clock) {
            true => self.since_boot_ms,
            false => {
                let ago_ms = unix_ms(clock.wall())
                    .saturating_sub(self.unix_ms)
                    .saturating_add(millis(WALL_CLOCK_SKEW));
                if ago_ms < 0 {
                    return None;
                }
                now_ms.saturating_sub(ago_ms)
            }
        };
        (since_boot_ms <= now_ms).then(|| Moment::from_millis(since_boot_ms))
    }

    /// Whether this stamp's boot clock is `clock`'s. Of the same boot, a
    /// stamp whose two readings still agree with the clock's (the wall
    /// clock moved by less than [`SAME_CLOCK_TOLERANCE`] against the boot
    /// clock since) is read on the boot clock without asking which time
    /// namespace each was read in: were they two, the boot clock's reading
    /// would be no further from the truth than the wall clock's, by that
    /// tolerance. This spares a process's first get from the store the
    /// reading of its namespace's offsets from `/proc`.
    fn is_of(&self, clock: &dyn Clock) -> bool {
        let boot_id = self.clock_id.split(' ').next().unwrap_or_default();
        if boot_id.is_empty() || boot_id != clock.boot_id() {
            return false;
        }
        let stamped_apart = self.unix_ms.saturating_sub(self.since_boot_ms);
        let apart_now = unix_ms(clock.wall()).saturating_sub(millis(clock.now().0));
        let moved_ms = stamped_apart.saturating_sub(apart_now).saturating_abs();
        moved_ms <= millis(SAME_CLOCK_TOLERANCE) || self.clock_id == clock.boot_clock_id()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn unix_ms(wall: SystemTime) -> i64 {
    match wall.duration_since(UNIX_EPOCH) {
        Ok(since) => millis(since),
        Err(before) => -millis(before.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A clock that moves only when told.
    struct Stopped {
        now: Mutex<(Moment, SystemTime)>,
        id: &'static str,
    }

    impl Clock for Stopped {
        fn now(&self) -> Moment {
            self.now.lock().unwrap().0
        }
        fn wall(&self) -> SystemTime {
            self.now.lock().unwrap().1
        }
        fn boot_clock_id(&self) -> String {
            self.id.into()
        }
    }

    fn stopped(id: &'static str, since_boot: u64, unix: u64) -> Stopped {
        Stopped {
            now: Mutex::new((
                Moment::since_boot(Duration::from_secs(since_boot)),
                UNIX_EPOCH + Duration::from_secs(unix),
            )),
            id,
        }
    }

    fn at(seconds: u64) -> Moment {
        Moment::since_boot(Duration::from_secs(seconds))
    }

    #[test]
    fn the_system_boot_clock_is_named_and_runs() {
        let first = SystemClock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(SystemClock.now() > first);
        assert!(!boot_id().is_empty(), "Linux tells its boot id");
    }

    #[test]
    fn a_stamp_of_the_same_boot_reads_back_exactly_whatever_the_wall_clock_did() {
        let clock = stopped("boot-a", 1_000, 1_700_000_000);
        let stamp = Stamp::of(at(900), &clock);
        clock.now.lock().unwrap().1 -= Duration::from_secs(3600);
        assert_eq!(stamp.to_moment(&clock), at(900));
        assert_eq!(stamp.to_past_moment(&clock), Some(at(900)));
    }

    /// Another time namespace of the same boot: its boot clock reads 100 s
    /// ahead of this one's, and its stamps go by the wall clock here.
    #[test]
    fn a_stamp_of_another_time_namespace_goes_by_the_wall_clock() {
        let shifted = stopped("boot-a boottime 100 0", 1_100, 1_700_000_000);
        let stamp = Stamp::of(at(1_000), &shifted);
        let here = stopped("boot-a boottime 0 0", 1_000, 1_700_000_000);
        assert_eq!(
            stamp.to_moment(&here),
            at(900),
            "100 s ago on the wall clock"
        );
        assert_eq!(stamp.to_past_moment(&here), Some(at(895)), "and the skew");
        let in_it = stopped("boot-a boottime 100 0", 1_100, 1_700_003_600);
        assert_eq!(
            stamp.to_moment(&in_it),
            at(1_000),
            "in that namespace, exactly, though the wall clock moved an hour"
        );
    }

    /// Two readings that agree are read on the boot clock without asking
    /// which namespace it is: when the namespaces differ by as much as the
    /// wall clock moved (here 0.5 s), that reading is off by no more than
    /// the wall clock's.
    #[test]
    fn a_stamp_whose_readings_agree_is_read_on_the_boot_clock() {
        let shifted = stopped("boot-a boottime 100 0", 1_100, 1_700_000_000);
        let stamp = Stamp::of(at(1_000), &shifted);
        let here = Stopped {
            now: Mutex::new((
                Moment::since_boot(Duration::from_millis(1_099_500)),
                UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            )),
            id: "boot-a boottime 0 500000000",
        };
        assert_eq!(stamp.to_moment(&here), at(1_000));
        let wall_reading = Moment::since_boot(Duration::from_millis(999_500));
        assert!(at(1_000).saturating_since(wall_reading) <= SAME_CLOCK_TOLERANCE);
    }

    #[test]
    fn a_past_stamp_of_another_boot_or_host_goes_by_the_wall_clock_less_the_skew() {
        let before = stopped("boot-a", 5_000, 1_700_000_000);
        let stamp = Stamp::of(at(4_940), &before);
        let after = stopped("boot-b", 100, 1_700_000_030);
        assert_eq!(
            stamp.to_past_moment(&after),
            Some(at(5)),
            "60 s before the old wall clock's now, so 90 s before the new one's, and 5 s more"
        );
        let long_after = stopped("boot-b", 100, 1_700_100_000);
        assert_eq!(
            stamp.to_past_moment(&long_after),
            Some(at(0)),
            "before this boot"
        );
        let a_little_behind = stopped("host-b", 100, 1_699_999_937);
        assert_eq!(
            stamp.to_past_moment(&a_little_behind),
            Some(at(98)),
            "a host 3 s behind takes it as 2 s old"
        );
        let far_behind = stopped("host-b", 100, 1_699_999_900);
        assert_eq!(
            stamp.to_past_moment(&far_behind),
            None,
            "40 s ahead of this clock"
        );
    }

    #[test]
    fn a_moment_to_come_of_another_host_keeps_its_distance_on_the_wall_clock() {
        let writer = stopped("host-a", 5_000, 1_700_000_000);
        let not_before = Stamp::of(at(5_030), &writer);
        let reader = stopped("host-b", 100, 1_700_000_010);
        assert_eq!(not_before.to_moment(&reader), at(120));
        let gone = stopped("host-b", 100, 1_700_100_000);
        assert_eq!(not_before.to_moment(&gone), at(0));
    }

    #[test]
    fn a_stamp_of_this_clock_from_the_future_is_no_past_moment() {
        let clock = stopped("boot-a", 1_000, 1_700_000_000);
        let stamp = Stamp::of(at(4_600), &clock);
        assert_eq!(
            stamp.to_moment(&clock),
            at(4_600),
            "a deadline may be ahead"
        );
        assert_eq!(
            stamp.to_past_moment(&clock),
            None,
            "a token cannot arrive ahead"
        );
        let now = Stamp::of(at(1_000), &clock);
        assert_eq!(now.to_past_moment(&clock), Some(at(1_000)));
    }

    #[test]
    fn hosts_whose_wall_clocks_differ_read_a_stamp_alike_on_a_stores_clock() {
        let store_then = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let writer: Arc<dyn Clock> = Arc::new(stopped("host-a", 1_000, 1_700_000_045));
        let ahead_ms = wall_offset_ms(&*writer, || Some(store_then)).unwrap();
        assert_eq!(ahead_ms, -45_000);
        let stamp = Stamp::of(at(1_000), &ShiftedWall::new(writer, ahead_ms));
        // 30 s later, on a host 20 s behind the store.
        let reader: Arc<dyn Clock> = Arc::new(stopped("host-b", 5_000, 1_700_000_010));
        let store_now = store_then + Duration::from_secs(30);
        let ahead_ms = wall_offset_ms(&*reader, || Some(store_now)).unwrap();
        let on_the_store = ShiftedWall::new(reader, ahead_ms);
        assert_eq!(
            stamp.to_past_moment(&on_the_store),
            Some(at(5_000 - 30 - 5)),
            "30 s old by the store's clock, and the skew allowed"
        );
    }

    /// Two time namespaces that got the same inode number, one after the
    /// other, read different boot clocks: the id tells them by offset.
    #[test]
    fn the_clock_id_names_the_boot_clock_offset_not_the_namespace_number() {
        let id = SystemClock.boot_clock_id();
        assert!(id.starts_with(boot_id()), "{id}");
        assert!(id.contains(" boottime "), "{id}");
        assert!(!id.contains("time:["), "{id}");
    }

    #[test]
    fn moments_saturate() {
        assert_eq!(at(5) + Duration::MAX, Moment::since_boot(Duration::MAX));
        assert_eq!(at(5).saturating_since(at(9)), Duration::ZERO);
        assert_eq!(at(9).saturating_since(at(5)), Duration::from_secs(4));
    }
}
