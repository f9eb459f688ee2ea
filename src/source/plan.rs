//! What a get does now, decided from the state of a lineage alone: serve
//! the cached token, fail at once, wait for the fetch under way, or fetch.
//! No lock, no clock, no I/O here: every moment is passed in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::request::TokenRequest;
use crate::retry::server_wait;
use crate::secret::Secret;
use crate::token::Token;

/// A token that comes without `expires_in` is taken to live this long (the
/// lifetime Criteo documents).
pub(super) const DEFAULT_LIFETIME: Duration = Duration::from_secs(900);
/// The default refresh margin is the smaller of this and half the lifetime.
const MAX_DEFAULT_MARGIN: Duration = Duration::from_secs(60);
/// After a failed fetch, wait this long before the next, doubling up to
/// [`MAX_FAILURE_BACKOFF`], unless the server said `Retry-After` (honoured
/// up to [`crate::retry::MAX_SERVER_WAIT`]).
const FIRST_FAILURE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(30);

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

/// Everything that the processes sharing one set of credentials agree on:
/// the token, what the next fetch sends, and the last failure.
pub(super) struct Lineage<T> {
    pub(super) current: Option<Current<T>>,
    pub(super) next_request: NextRequest,
    pub(super) failure: Option<Failure>,
    /// The serial of the store's record this copy was last read from or
    /// written as (records count their changes).
    pub(super) serial: u64,
}

/// The cached token and when it arrived (on the monotonic clock).
pub(super) struct Current<T> {
    pub(super) token: Arc<T>,
    /// The token as fetched, for the store and for telling tokens apart.
    pub(super) fetched: Arc<Token>,
    pub(super) received: Instant,
    pub(super) lifetime: Duration,
}

/// What the next fetch sends.
#[derive(Clone)]
pub(super) enum NextRequest {
    /// May be sent again and again (client credentials, a refresh token).
    Reusable(TokenRequest),
    /// May be sent once (an authorization code).
    SingleUse(TokenRequest),
    /// Nothing left to send: the code was used and no refresh token came.
    Spent(Error),
}

/// The last failed fetch, and when the next may start.
#[derive(Clone)]
pub(super) struct Failure {
    pub(super) error: Error,
    pub(super) not_before: Instant,
    pub(super) backoff: Duration,
}

/// What a `get` does.
pub(super) enum Plan<T> {
    Serve(Arc<T>),
    Fail(Error),
    Wait,
    Fetch(TokenRequest),
}

impl NextRequest {
    pub(super) fn first(request: TokenRequest) -> Self {
        if request.is_single_use() {
            NextRequest::SingleUse(request)
        } else {
            NextRequest::Reusable(request)
        }
    }
}

impl<T> Lineage<T> {
    pub(super) fn new(request: TokenRequest) -> Self {
        Lineage {
            current: None,
            next_request: NextRequest::first(request),
            failure: None,
            serial: 0,
        }
    }

    /// The plan at `now`, with the given refresh margin, while another
    /// fetch of this process is under way or not.
    pub(super) fn plan(&self, now: Instant, margin: Option<Duration>, fetching: bool) -> Plan<T> {
        if let Some(current) = self.valid_at(now) {
            let due = now >= current.refresh_at(margin);
            return match &self.next_request {
                NextRequest::Reusable(request) | NextRequest::SingleUse(request)
                    if due && !fetching && !self.backing_off(now) =>
                {
                    Plan::Fetch(request.clone())
                }
                _ => Plan::Serve(Arc::clone(&current.token)),
            };
        }
        if let Some(failure) = self.failure.as_ref().filter(|f| now < f.not_before) {
            return Plan::Fail(failure.error.clone());
        }
        if fetching {
            return Plan::Wait;
        }
        match &self.next_request {
            NextRequest::Reusable(request) | NextRequest::SingleUse(request) => {
                Plan::Fetch(request.clone())
            }
            NextRequest::Spent(error) => Plan::Fail(error.clone()),
        }
    }

    pub(super) fn valid_at(&self, now: Instant) -> Option<&Current<T>> {
        self.current.as_ref().filter(|c| now < c.expires_at())
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|failure| now < failure.not_before)
    }

    /// Caches a new token received at `received`, and moves on to its
    /// refresh token when the grant is renewed that way (keeping the old
    /// one when none came).
    pub(super) fn install(&mut self, token: &Token, received: Instant) -> Arc<T>
    where
        T: CachedToken,
    {
        if let Some(renewal) = self.renewal(token) {
            self.next_request = renewal;
        }
        let current = Current::new(token, received);
        let cached = Arc::clone(&current.token);
        self.current = Some(current);
        self.failure = None;
        cached
    }

    fn renewal(&self, token: &Token) -> Option<NextRequest> {
        let (NextRequest::Reusable(request) | NextRequest::SingleUse(request)) = &self.next_request
        else {
            return None;
        };
        if !request.renews_with_refresh_token() {
            return None;
        }
        match token.refresh_token() {
            Some(refresh_token) => Some(NextRequest::Reusable(request.refresh_with(refresh_token))),
            None if request.is_single_use() => Some(NextRequest::Spent(Error::new(
                ErrorKind::InvalidResponse,
                "the authorization_code grant gave no refresh_token, so the token cannot be \
                 renewed: a new authorization code is needed",
            ))),
            None => None,
        }
    }

    /// Remembers a failed fetch and when to try again. A valid cached token
    /// is still served; without one the caller gets the error.
    pub(super) fn record_failure(&mut self, error: Error, now: Instant) -> Result<Arc<T>, Error> {
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
        match self.valid_at(now) {
            Some(current) => Ok(Arc::clone(&current.token)),
            None => Err(error),
        }
    }

    /// Drops the cached token if it is `rejected`.
    pub(super) fn drop_if(&mut self, rejected: Option<&Secret>) {
        if let Some(rejected) = rejected {
            self.reject(Some(rejected.expose()));
        }
    }

    /// Takes from `stored`, the store's copy, a token newer than this
    /// copy's, and nothing else: this copy holds what the store missed.
    pub(super) fn absorb(&mut self, stored: Lineage<T>) {
        let newer = match (&self.current, &stored.current) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(ours), Some(theirs)) => theirs.received > ours.received,
        };
        if newer {
            self.current = stored.current;
        }
        self.serial = self.serial.max(stored.serial);
    }

    /// Drops the cached token when it is `access_token` (any token when
    /// `None`); says whether one was dropped.
    pub(super) fn reject(&mut self, access_token: Option<&str>) -> bool {
        let matches = self.current.as_ref().is_some_and(|current| {
            access_token.is_none_or(|rejected| current.access_token() == rejected)
        });
        if matches {
            self.current = None;
        }
        matches
    }
}

// Not derived: that would ask for `T: Clone`, and only the `Arc`s are cloned.
impl<T> Clone for Lineage<T> {
    fn clone(&self) -> Self {
        Lineage {
            current: self.current.clone(),
            next_request: self.next_request.clone(),
            failure: self.failure.clone(),
            serial: self.serial,
        }
    }
}

impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Current {
            token: Arc::clone(&self.token),
            fetched: Arc::clone(&self.fetched),
            received: self.received,
            lifetime: self.lifetime,
        }
    }
}

impl<T> Current<T> {
    pub(super) fn new(token: &Token, received: Instant) -> Self
    where
        T: CachedToken,
    {
        Current {
            token: Arc::new(T::from_token(token)),
            fetched: Arc::new(token.clone()),
            received,
            lifetime: token
                .expires_in()
                .map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s.into())),
        }
    }

    pub(super) fn access_token(&self) -> &str {
        self.fetched.access_token().expose()
    }

    pub(super) fn expires_at(&self) -> Instant {
        later(self.received, self.lifetime)
    }

    pub(super) fn refresh_at(&self, margin: Option<Duration>) -> Instant {
        let margin = margin.unwrap_or_else(|| MAX_DEFAULT_MARGIN.min(self.lifetime / 2));
        later(self.received, self.lifetime.saturating_sub(margin))
    }
}

/// `now + wait`, or as late as the clock can say when that overflows
/// (a server may send any `Retry-After`).
pub(super) fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
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

    fn lineage(grant_type: &str) -> Lineage<Token> {
        Lineage::new(request(grant_type))
    }

    fn next_body(lineage: &Lineage<Token>) -> String {
        match &lineage.next_request {
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
        let current = |seconds| {
            let mut current =
                Current::<Token>::new(&token(r#"{"access_token":"a","expires_in":1}"#), now);
            current.lifetime = Duration::from_secs(seconds);
            current
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
        let mut lineage = lineage("client_credentials");
        let start = Instant::now();
        let plan =
            |lineage: &Lineage<Token>, at, fetching| plan_name(lineage.plan(at, None, fetching));
        assert_eq!(plan(&lineage, start, false), "fetch", "nothing cached");
        assert_eq!(
            plan(&lineage, start, true),
            "wait",
            "nothing cached, a fetch under way"
        );
        lineage.install(&token(r#"{"access_token":"a","expires_in":100}"#), start);
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(plan(&lineage, at(10), false), "serve", "fresh");
        assert_eq!(
            plan(&lineage, at(60), false),
            "fetch",
            "within the margin (50 s)"
        );
        assert_eq!(
            plan(&lineage, at(60), true),
            "serve",
            "due, but someone is fetching"
        );
        let served = lineage.record_failure(Error::new(ErrorKind::HttpStatus, "503"), at(60));
        assert!(
            served.is_ok(),
            "a failed refresh still serves the valid token"
        );
        assert_eq!(plan(&lineage, at(60), false), "serve", "backing off");
        assert_eq!(plan(&lineage, at(61), false), "fetch", "backoff (1 s) over");
        assert_eq!(plan(&lineage, at(100), false), "fetch", "expired");
        let served = lineage.record_failure(Error::new(ErrorKind::HttpStatus, "503"), at(100));
        assert!(served.is_err(), "expired: the error is returned");
        assert_eq!(
            plan(&lineage, at(101), false),
            "fail",
            "no valid token, backing off (2 s)"
        );
        assert_eq!(plan(&lineage, at(102), false), "fetch");
    }

    #[test]
    fn failure_backoff_doubles_to_30_s_or_follows_retry_after() {
        let mut lineage = lineage("client_credentials");
        let now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..7 {
            let _ = lineage.record_failure(Error::new(ErrorKind::Transport, "down"), now);
            waits.push(lineage.failure.as_ref().unwrap().not_before - now);
        }
        let seconds: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30]);
        let limited = Error::new(ErrorKind::HttpStatus, "429").with_retry_after(Some(7));
        let _ = lineage.record_failure(limited, now);
        assert_eq!(
            lineage.failure.as_ref().unwrap().not_before - now,
            Duration::from_secs(7)
        );
        lineage.install(&token(r#"{"access_token":"a"}"#), now);
        assert!(lineage.failure.is_none(), "a success clears the backoff");
    }

    #[test]
    fn any_retry_after_is_capped_and_a_valid_token_is_still_served() {
        let mut lineage = lineage("client_credentials");
        let now = Instant::now();
        lineage.install(&token(r#"{"access_token":"a","expires_in":100}"#), now);
        let huge = Error::new(ErrorKind::HttpStatus, "503").with_retry_after(Some(u64::MAX));
        let at = now + Duration::from_secs(90);
        let served = lineage.record_failure(huge, at);
        assert!(served.is_ok(), "the valid token is served, no panic");
        assert_eq!(
            lineage.failure.as_ref().unwrap().not_before,
            at + crate::retry::MAX_SERVER_WAIT
        );
    }

    #[test]
    fn a_spent_code_keeps_the_servers_answer() {
        let mut lineage = lineage("authorization_code");
        let now = Instant::now();
        let refused = Error::new(ErrorKind::BadRequest, "400 Bad Request: invalid_grant")
            .with_http_status(400)
            .with_oauth(crate::error::OAuthError {
                code: Some("invalid_grant".into()),
                ..Default::default()
            });
        let _ = lineage.record_failure(refused, now);
        let Plan::Fail(later) = lineage.plan(now + Duration::from_secs(60), None, false) else {
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
        let mut code = lineage("authorization_code");
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

        let mut no_refresh = lineage("authorization_code");
        no_refresh.install(&token(r#"{"access_token":"a"}"#), now);
        assert!(
            next_body(&no_refresh)
                .starts_with("spent: the authorization_code grant gave no refresh_token")
        );

        let mut failed = lineage("authorization_code");
        let _ = failed.record_failure(
            Error::new(ErrorKind::BadRequest, "400 Bad Request: invalid_grant"),
            now,
        );
        assert!(next_body(&failed).starts_with("spent: the authorization code was already sent"));

        let mut credentials = lineage("client_credentials");
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

    #[test]
    fn reject_drops_only_the_token_named() {
        let now = Instant::now();
        let mut lineage = lineage("client_credentials");
        lineage.install(&token(r#"{"access_token":"new"}"#), now);
        assert!(
            !lineage.reject(Some("old")),
            "a late 401 for an older token"
        );
        assert!(lineage.current.is_some());
        assert!(lineage.reject(Some("new")));
        assert!(lineage.current.is_none());
        lineage.install(&token(r#"{"access_token":"x"}"#), now);
        assert!(lineage.reject(None), "invalidate drops whatever is cached");
    }
}
