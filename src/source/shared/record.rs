//! What a store holds for one lineage, as JSON with a format version, and
//! how it is taken from and given to a source's own copy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::{Clock, Stamp};
use crate::error::{Error, ErrorKind, OAuthError};
use crate::request::TokenRequest;
use crate::secret::Secret;
use crate::source::plan::{CachedToken, Current, Failure, Lineage, NextRequest};
use crate::token::restored_token;

/// The most a record may hold: a token and a refresh token of the largest
/// answer the client accepts, with room to spare. A larger file is none.
pub(super) const MAX_RECORD_BYTES: u64 = 4 << 20;

/// The longest a failure holds a lineage back: the longest `Retry-After`
/// honoured (longer than any backoff of its own).
const LONGEST_WAIT: Duration = crate::retry::MAX_SERVER_WAIT;

/// Changes whenever the format does: a record of another version is
/// ignored, and replaced by the next write.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::source) struct Record {
    format: u32,
    /// The lineage's whole key: a record copied under another lineage's
    /// name is not taken.
    lineage: String,
    serial: u64,
    token: Option<StoredToken>,
    next: StoredNext,
    failure: Option<StoredFailure>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken {
    access_token: Secret,
    token_type: String,
    refresh_token: Option<Secret>,
    expires_in: Option<u32>,
    expires_at: Option<i64>,
    received: Stamp,
    lifetime_ms: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredNext {
    /// What the sources were made with.
    First,
    RefreshToken(Secret),
    Spent(StoredError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredFailure {
    error: StoredError,
    not_before: Stamp,
    backoff_ms: u64,
}

/// An error as a source keeps it: already redacted, so no secret.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredError {
    kind: ErrorKind,
    message: String,
    http_status: Option<u16>,
    oauth_error: Option<String>,
    oauth_description: Option<String>,
    oauth_uri: Option<String>,
    retry_after_secs: Option<u64>,
}

impl Record {
    /// `lineage`, whose moments are of `clock`, as the store keeps it.
    pub(in crate::source) fn of<T: CachedToken>(
        lineage: &Lineage<T>,
        key: &str,
        clock: &dyn Clock,
    ) -> Record {
        Record {
            format: FORMAT,
            lineage: key.to_owned(),
            serial: lineage.serial,
            token: lineage
                .current
                .as_ref()
                .map(|current| StoredToken::of(current, clock)),
            next: match &lineage.next_request {
                NextRequest::Reusable(request) if request.renews_with_refresh_token() => request
                    .refresh_token()
                    .map_or(StoredNext::First, |rt| StoredNext::RefreshToken(rt.clone())),
                NextRequest::Reusable(_) | NextRequest::SingleUse(_) => StoredNext::First,
                NextRequest::Spent(error) => StoredNext::Spent(StoredError::of(error)),
            },
            // A process's own failure is not the other processes' concern.
            failure: lineage
                .failure
                .as_ref()
                .filter(|failure| failure.is_the_lineages())
                .map(|failure| StoredFailure {
                    error: StoredError::of(&failure.error),
                    not_before: Stamp::of(failure.not_before, clock),
                    backoff_ms: millis(failure.backoff),
                }),
        }
    }

    /// When the record stops being of use to anyone (on the wall clock of
    /// whoever wrote it): once its token has expired, unless it holds a
    /// refresh token the server has not refused, which may be the
    /// lineage's only one (`None`: kept). Without the record, a source of
    /// the lineage then does as well with what it was made with.
    pub(in crate::source) fn useless_after(&self) -> Option<SystemTime> {
        let refused = self
            .failure
            .as_ref()
            .is_some_and(|failure| failure.error.oauth_error.as_deref() == Some("invalid_grant"));
        if matches!(self.next, StoredNext::RefreshToken(_)) && !refused {
            return None;
        }
        let expiry = self.token.as_ref().map(|token| {
            let lifetime = Duration::from_millis(token.lifetime_ms);
            token
                .received
                .wall()
                .checked_add(lifetime)
                .unwrap_or(UNIX_EPOCH)
        });
        Some(expiry.unwrap_or(UNIX_EPOCH))
    }

    /// The record in `bytes`, when they hold one of this format for the
    /// lineage `key`; anything else (truncated, corrupt, foreign) is none.
    pub(in crate::source) fn parse(bytes: &[u8], key: &str) -> Option<Record> {
        let record: Record = serde_json::from_slice(bytes).ok()?;
        (record.format == FORMAT && record.lineage == key).then_some(record)
    }

    pub(in crate::source) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
        // Writing plain data into a vector cannot fail.
        let _ = serde_json::to_writer(&mut *bytes, self);
        bytes
    }

    /// Whether the record's token is `access_token`.
    pub(in crate::source) fn holds(&self, access_token: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|token| token.access_token.expose() == access_token)
    }

    pub(in crate::source) fn drop_token(&mut self) {
        self.token = None;
        self.serial += 1;
    }

    /// The lineage this record describes, for sources made with `first`
    /// that read the time from `clock`. What cannot be read back (a token
    /// from a clock that moved back across a boot, a malformed token)
    /// counts as absent.
    pub(in crate::source) fn into_lineage<T: CachedToken>(
        self,
        first: &TokenRequest,
        clock: &dyn Clock,
    ) -> Lineage<T> {
        let next_request = match self.next {
            StoredNext::First => NextRequest::first(first.clone()),
            StoredNext::RefreshToken(rt) if first.renews_with_refresh_token() => {
                NextRequest::Reusable(first.refresh_with(&rt))
            }
            StoredNext::RefreshToken(_) => NextRequest::first(first.clone()),
            StoredNext::Spent(error) => NextRequest::Spent(error.into_error()),
        };
        Lineage {
            current: self.token.and_then(|token| token.into_current(clock)),
            next_request,
            failure: self.failure.map(|failure| Failure {
                // No process waits longer than it would itself, whatever
                // the stamp says (a clock that stepped, a record altered).
                not_before: failure
                    .not_before
                    .to_moment(clock)
                    .min(clock.now() + LONGEST_WAIT),
                backoff: Duration::from_millis(failure.backoff_ms),
                error: failure.error.into_error(),
            }),
            serial: self.serial,
            starts_over: false,
        }
    }
}

impl StoredToken {
    fn of<T: CachedToken>(current: &Current<T>, clock: &dyn Clock) -> StoredToken {
        let token = current.token.to_token();
        StoredToken {
            access_token: token.access_token().clone(),
            token_type: token.token_type().to_owned(),
            refresh_token: token.refresh_token().cloned(),
            expires_in: token.expires_in(),
            expires_at: token.expires_at(),
            received: Stamp::of(current.received, clock),
            lifetime_ms: millis(current.lifetime),
        }
    }

    fn into_current<T: CachedToken>(self, clock: &dyn Clock) -> Option<Current<T>> {
        let received = self.received.to_past_moment(clock)?;
        let token = restored_token(
            self.access_token,
            self.token_type,
            self.refresh_token,
            self.expires_in,
            self.expires_at,
        )?;
        let mut current = Current::new(&token, received);
        current.lifetime = Duration::from_millis(self.lifetime_ms);
        Some(current)
    }
}

impl StoredError {
    fn of(error: &Error) -> StoredError {
        let oauth = error.oauth();
        StoredError {
            kind: error.kind(),
            message: error.message().to_owned(),
            http_status: error.http_status(),
            oauth_error: oauth.code.clone(),
            oauth_description: oauth.description.clone(),
            oauth_uri: oauth.uri.clone(),
            retry_after_secs: error.retry_after_secs(),
        }
    }

    fn into_error(self) -> Error {
        let mut error = Error::new(self.kind, self.message)
            .with_oauth(OAuthError {
                code: self.oauth_error,
                description: self.oauth_description,
                uri: self.oauth_uri,
            })
            .with_retry_after(self.retry_after_secs);
        if let Some(status) = self.http_status {
            error = error.with_http_status(status);
        }
        error
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// For the `store_record` fuzz target: reads `bytes` as a record of lineage
/// `key` for sources made with `first`; a record that is read writes out
/// as one that reads back the same.
#[cfg(fuzzing)]
pub fn read_back(bytes: &[u8], key: &str, first: &TokenRequest) -> bool {
    let Some(record) = Record::parse(bytes, key) else {
        return false;
    };
    let written = record.to_bytes();
    let clock = crate::clock::SystemClock;
    let lineage: Lineage<crate::token::Token> = record.into_lineage(first, &clock);
    let again = Record::parse(&written, key).expect("a written record reads back");
    assert_eq!(again.serial, lineage.serial);
    let rewritten = Record::of(&lineage, key, &clock).to_bytes();
    assert!(Record::parse(&rewritten, key).is_some());
    true
}
