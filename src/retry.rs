//! When a failed attempt is made again, and how long to wait first.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use crate::error::Error;

/// The first backoff step; each later one doubles, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait a server's `Retry-After` can impose, on the client's
/// retries and on a token source's next fetch: a server that says "a day"
/// (or 2^62 seconds) is asked again after this.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(300);

/// How long to wait when the server said `Retry-After: seconds`.
pub(crate) fn server_wait(seconds: u64) -> Duration {
    Duration::from_secs(seconds).min(MAX_SERVER_WAIT)
}

/// A failed attempt, with what the retry decision needs to know.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: Error,
    /// True when the request surely never reached the server (no
    /// connection was made), so sending it again cannot do harm.
    pub nothing_sent: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            nothing_sent: false,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    GiveUp,
    RetryAfter(Duration),
}

/// The retry rules. `retries_done` counts retries made so far; `single_use`
/// is true for a request that must never reach the server twice (an
/// `authorization_code` grant); `remaining` is the time left in the call.
///
/// Retried: requests that never left (connection failures), and answers
/// that say "not now" (429, 502, 503, 504), unless single-use. The wait is
/// the server's `Retry-After` when it sent one, else exponential backoff
/// with full jitter; a wait that would not fit in `remaining` gives up.
pub(crate) fn next_step(
    failure: &Failure,
    retries_done: u32,
    max_retries: u32,
    single_use: bool,
    remaining: Duration,
) -> Next {
    let server_said_not_now = matches!(failure.error.http_status(), Some(429 | 502 | 503 | 504));
    let retryable = failure.nothing_sent || (server_said_not_now && !single_use);
    if !retryable || retries_done >= max_retries {
        return Next::GiveUp;
    }
    let wait = match failure.error.retry_after_secs() {
        Some(seconds) => server_wait(seconds),
        None => backoff(retries_done),
    };
    if wait >= remaining {
        return Next::GiveUp;
    }
    Next::RetryAfter(wait)
}

/// Full jitter: a random wait between zero and the exponential step.
fn backoff(retries_done: u32) -> Duration {
    let step = BASE_BACKOFF
        .saturating_mul(1 << retries_done.min(16))
        .min(MAX_BACKOFF);
    step.mul_f64(random_fraction())
}

/// A number in [0, 1). Jitter needs spread, not secrecy: std's randomly
/// keyed hasher gives it without another dependency.
fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish() >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as seconds from `now`: delta-seconds (saturated at
/// `u64::MAX`, never wrapped), or an HTTP date (a date already past means 0).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse().unwrap_or(u64::MAX));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let wait = date.duration_since(now).unwrap_or(Duration::ZERO);
    // Round up: waiting a fraction less than asked is not honouring it.
    Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const PLENTY: Duration = Duration::from_secs(30);

    fn answered(status: u16, retry_after: Option<u64>) -> Failure {
        Error::new(ErrorKind::HttpStatus, "x")
            .with_http_status(status)
            .with_retry_after(retry_after)
            .into()
    }

    fn unsent() -> Failure {
        Failure {
            error: Error::new(ErrorKind::Transport, "refused"),
            nothing_sent: true,
        }
    }

    #[test]
    fn retried_statuses_and_unsent_requests() {
        for status in [429, 502, 503, 504] {
            assert_ne!(
                next_step(&answered(status, None), 0, 2, false, PLENTY),
                Next::GiveUp,
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 500, 501, 302] {
            assert_eq!(
                next_step(&answered(status, None), 0, 2, false, PLENTY),
                Next::GiveUp,
                "{status}"
            );
        }
        assert_ne!(next_step(&unsent(), 0, 2, false, PLENTY), Next::GiveUp);
        let lost_answer = Failure::from(Error::new(ErrorKind::Transport, "reset"));
        assert_eq!(next_step(&lost_answer, 0, 2, false, PLENTY), Next::GiveUp);
    }

    #[test]
    fn single_use_requests_are_retried_only_when_never_sent() {
        assert_eq!(
            next_step(&answered(503, None), 0, 2, true, PLENTY),
            Next::GiveUp
        );
        assert_ne!(next_step(&unsent(), 0, 2, true, PLENTY), Next::GiveUp);
    }

    #[test]
    fn retries_stop_at_the_limit() {
        assert_ne!(next_step(&unsent(), 1, 2, false, PLENTY), Next::GiveUp);
        assert_eq!(next_step(&unsent(), 2, 2, false, PLENTY), Next::GiveUp);
        assert_eq!(next_step(&unsent(), 0, 0, false, PLENTY), Next::GiveUp);
    }

    #[test]
    fn retry_after_is_honoured_only_when_it_fits() {
        assert_eq!(
            next_step(&answered(429, Some(1)), 0, 2, false, PLENTY),
            Next::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            next_step(&answered(429, Some(31)), 0, 2, false, PLENTY),
            Next::GiveUp
        );
    }

    #[test]
    fn a_server_wait_is_capped() {
        assert_eq!(server_wait(7), Duration::from_secs(7));
        assert_eq!(server_wait(86_400), MAX_SERVER_WAIT);
        assert_eq!(server_wait(u64::MAX), MAX_SERVER_WAIT);
        let forever = answered(503, Some(u64::MAX));
        assert_eq!(
            next_step(&forever, 0, 2, false, Duration::from_secs(3600)),
            Next::RetryAfter(MAX_SERVER_WAIT)
        );
    }

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for retries_done in 0..20 {
            let step = BASE_BACKOFF
                .saturating_mul(1 << retries_done.min(16))
                .min(MAX_BACKOFF);
            for _ in 0..50 {
                assert!(backoff(retries_done) <= step);
            }
        }
        let waits: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(waits.len() > 10, "waits should differ: {waits:?}");
    }

    #[test]
    fn retry_after_as_seconds_or_http_date() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after(" 7 ", now), Some(7));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        let seconds = parse_retry_after(&later, now).unwrap();
        assert!((119..=121).contains(&seconds), "{seconds}");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("18446744073709551616000", now),
            Some(u64::MAX),
            "saturated"
        );
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
