//! What a get does now, decided from the state of a lineage alone: serve
//! the cached token, serve it and refresh it in the background, fail at
//! once, wait for the fetch under way, or fetch. No lock, no clock, no I/O
//! here: every moment is passed in.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Moment;
use crate::error::{Error, ErrorKind};
use crate::request::TokenRequest;
use crate::retry::server_wait;
use crate::secret::Secret;
use crate::token::Token;

/// A token that comes without `expires_in` is taken to live this long (the
/// lifetime Criteo documents).
pub(super) const DEFAULT_LIFETIME: Duration = Duration::from_secs(900);
/// The default refresh margin is a quarter of the lifetime, within these
/// bounds, and never more than half the lifetime.
const MIN_DEFAULT_MARGIN: Duration = Duration::from_secs(30);
const MAX_DEFAULT_MARGIN: Duration = Duration::from_secs(300);
/// Each source shortens the default margin by up to this fraction of it,
/// drawn at random when the source is made, so that a fleet of processes
/// started together spreads its fetches.
const MAX_JITTER: f64 = 0.1;
/// After a failed fetch, wait this long before the next, doubling up to
/// [`MAX_FAILURE_BACKOFF`], unless the server said `Retry-After` (honoured
/// up to [`crate::retry::MAX_SERVER_WAIT`]).
const FIRST_FAILURE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(30);

/// What a source caches and hands out, made once per fetched token and
/// shared by every get (the C layer caches its C strings this way).
///
/// A source keeps one copy of its token, in this form: whatever else it
/// needs (the store's record, telling tokens apart) is read from it.
pub trait CachedToken: Send + Sync + 'static {
    fn from_token(token: &Token) -> Self;
    /// The token's fields again, for the store's record.
    fn to_token(&self) -> Token;
    fn access_token(&self) -> &str;
}

impl CachedToken for Token {
    fn from_token(token: &Token) -> Self {
        token.clone()
    }

    fn to_token(&self) -> Token {
        self.clone()
    }

    fn access_token(&self) -> &str {
        Token::access_token(self).expose()
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
    /// Whether this copy starts the lineage over (a named lineage given a
    /// token): until the store has it, nothing of the store's is taken.
    pub(super) starts_over: bool,
}

/// The cached token and when it arrived.
pub(super) struct Current<T> {
    pub(super) token: Arc<T>,
    pub(super) received: Moment,
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
    pub(super) not_before: Moment,
    pub(super) backoff: Duration,
}

impl Failure {
    /// Whether the server said it of the lineage (an error answer: 4xx or
    /// 5xx, with or without `Retry-After`), so that every process sharing
    /// the lineage waits too. Any other failure is the process's own (its
    /// network, proxy, trust store, time limits, a 2xx or 3xx it could not
    /// use, which a proxy or portal of its own may have sent) and holds up
    /// no other process.
    pub(super) fn is_the_lineages(&self) -> bool {
        self.error.http_status().is_some_and(|status| status >= 400)
    }
}

/// How long before its expiry a token is refreshed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Margin {
    /// The default for the token's lifetime, shortened by `jitter` (a
    /// fraction below [`MAX_JITTER`]) of itself.
    Default { jitter: f64 },
    /// Exactly this, whatever the lifetime.
    Fixed(Duration),
}

/// What a `get` does.
pub(super) enum Plan<T> {
    Serve(Arc<T>),
    /// Serve this valid token, and refresh it without making the caller
    /// wait.
    Refresh(TokenRequest, Arc<T>),
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

    /// The refresh token the next fetch sends, if it sends one.
    pub(super) fn refresh_token(&self) -> Option<&Secret> {
        self.sendable()?.refresh_token()
    }

    /// What may be sent, if anything.
    fn sendable(&self) -> Option<&TokenRequest> {
        match self {
            NextRequest::Reusable(request) | NextRequest::SingleUse(request) => Some(request),
            NextRequest::Spent(_) => None,
        }
    }
}

impl Margin {
    /// The default, with `unit` (from 0 to 1) of the largest jitter.
    pub(super) fn jittered(unit: f64) -> Margin {
        Margin::Default {
            jitter: unit.clamp(0.0, 1.0) * MAX_JITTER,
        }
    }

    /// The margin for a token living `lifetime`.
    pub(super) fn for_lifetime(self, lifetime: Duration) -> Duration {
        match self {
            Margin::Fixed(margin) => margin,
            Margin::Default { jitter } => {
                let margin = (lifetime / 4)
                    .clamp(MIN_DEFAULT_MARGIN, MAX_DEFAULT_MARGIN)
                    .min(lifetime / 2);
                margin.saturating_sub(margin.mul_f64(jitter))
            }
        }
    }
}

impl<T: CachedToken> Lineage<T> {
    pub(super) fn new(request: TokenRequest) -> Self {
        Lineage {
            current: None,
            next_request: NextRequest::first(request),
            failure: None,
            serial: 0,
            starts_over: false,
        }
    }

    /// The plan at `now`, with the given refresh margin, while another
    /// fetch of this process is under way or not.
    pub(super) fn plan(&self, now: Moment, margin: Margin, fetching: bool) -> Plan<T> {
        if let Some(current) = self.valid_at(now) {
            let token = Arc::clone(&current.token);
            let due = now >= current.refresh_at(margin) && !fetching && !self.backing_off(now);
            return match self.next_request.sendable() {
                Some(request) if due => Plan::Refresh(request.clone(), token),
                _ => Plan::Serve(token),
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

    /// Until when [`plan`](Self::plan), asked at `now`, would go on
    /// serving the cached token and doing nothing else; `None` when it
    /// would not even now.
    pub(super) fn serves_until(
        &self,
        now: Moment,
        margin: Margin,
        fetching: bool,
    ) -> Option<Moment> {
        let current = self.valid_at(now)?;
        let expires_at = current.expires_at();
        if fetching || self.next_request.sendable().is_none() {
            return Some(expires_at);
        }
        let refresh_at = current.refresh_at(margin);
        Some(match self.failure.as_ref().filter(|f| now < f.not_before) {
            Some(failure) => failure.not_before.max(refresh_at).min(expires_at),
            None => refresh_at,
        })
    }

    pub(super) fn valid_at(&self, now: Moment) -> Option<&Current<T>> {
        self.current.as_ref().filter(|c| now < c.expires_at())
    }

    fn backing_off(&self, now: Moment) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|failure| now < failure.not_before)
    }

    /// Caches a new token received at `received`, and moves on to its
    /// refresh token when the grant is renewed that way (keeping the old
    /// one when none came).
    pub(super) fn install(&mut self, token: &Token, received: Moment) -> Arc<T>
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
    pub(super) fn record_failure(&mut self, error: Error, now: Moment) -> Result<Arc<T>, Error> {
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
            not_before: now + wait,
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

    /// After a fetch that gave no new token and ended with `result`, drops
    /// the cached token if it is `rejected`, and says what the fetch gives
    /// then: a dropped token is given to no one, the failure that kept it
    /// is given instead.
    pub(super) fn withdraw(
        &mut self,
        rejected: Option<&Secret>,
        result: Result<Arc<T>, Error>,
    ) -> Result<Arc<T>, Error> {
        let dropped = rejected.is_some_and(|rejected| self.reject(Some(rejected.expose())));
        match (result, &self.failure) {
            (Ok(_), Some(failure)) if dropped => Err(failure.error.clone()),
            (result, _) => result,
        }
    }

    /// Becomes `stored`, the store's copy, keeping this process's own
    /// failure (see [`Failure::is_the_lineages`]), which the store never
    /// holds, unless the store holds a failure of the lineage.
    pub(super) fn adopt(&mut self, stored: Lineage<T>) {
        let own_failure = self.failure.take().filter(|f| !f.is_the_lineages());
        *self = stored;
        if self.failure.is_none() {
            self.failure = own_failure;
        }
    }

    /// Takes from `stored`, the store's copy, a token newer than this
    /// copy's, and nothing else: this copy holds what the store missed.
    /// A copy that starts the lineage over takes nothing but the serial
    /// to write over.
    pub(super) fn absorb(&mut self, stored: Lineage<T>) {
        self.serial = self.serial.max(stored.serial);
        if self.starts_over {
            return;
        }
        let newer = match (&self.current, &stored.current) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(ours), Some(theirs)) => theirs.received > ours.received,
        };
        if newer {
            self.current = stored.current;
        }
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
            starts_over: self.starts_over,
        }
    }
}

impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Current {
            token: Arc::clone(&self.token),
            received: self.received,
            lifetime: self.lifetime,
        }
    }
}

impl<T: CachedToken> Current<T> {
    pub(super) fn access_token(&self) -> &str {
        self.token.access_token()
    }
}

impl<T> Current<T> {
    pub(super) fn new(token: &Token, received: Moment) -> Self
    where
        T: CachedToken,
    {
        Current {
            token: Arc::new(T::from_token(token)),
            received,
            lifetime: token
                .expires_in()
                .map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s.into())),
        }
    }

    pub(super) fn expires_at(&self) -> Moment {
        self.received + self.lifetime
    }

    pub(super) fn refresh_at(&self, margin: Margin) -> Moment {
        let margin = margin.for_lifetime(self.lifetime);
        self.received + self.lifetime.saturating_sub(margin)
    }
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
            Plan::Refresh(..) => "serve and refresh",
            Plan::Fail(_) => "fail",
            Plan::Wait => "wait",
            Plan::Fetch(_) => "fetch",
        }
    }

    /// The moment `seconds` after an arbitrary start.
    fn at(seconds: u64) -> Moment {
        Moment::since_boot(Duration::from_secs(1000 + seconds))
    }

    const NO_JITTER: Margin = Margin::Default { jitter: 0.0 };

    #[test]
    fn the_default_margin_is_a_quarter_of_the_lifetime_from_30_s_to_5_min_at_most_half() {
        let margin = |lifetime| {
            NO_JITTER
                .for_lifetime(Duration::from_secs(lifetime))
                .as_secs_f64()
        };
        assert_eq!(margin(900), 225.0, "Criteo's tokens");
        assert_eq!(margin(3600), 300.0);
        assert_eq!(margin(100), 30.0);
        assert_eq!(margin(40), 20.0, "half the lifetime");
        assert_eq!(margin(4), 2.0);
        let fixed = Margin::Fixed(Duration::from_secs(7));
        assert_eq!(fixed.for_lifetime(Duration::from_secs(900)).as_secs(), 7);
        assert_eq!(fixed, Margin::Fixed(Duration::from_secs(7)), "no jitter");
    }

    #[test]
    fn the_jitter_shortens_the_margin_by_up_to_a_tenth() {
        let lifetime = Duration::from_secs(900);
        let most = Margin::jittered(1.0).for_lifetime(lifetime);
        assert_eq!(most, Duration::from_millis(202_500));
        assert_eq!(Margin::jittered(0.0).for_lifetime(lifetime).as_secs(), 225);
        assert_eq!(
            Margin::jittered(0.5).for_lifetime(lifetime),
            Duration::from_millis(213_750)
        );
        assert_eq!(Margin::jittered(7.0), Margin::jittered(1.0), "clamped");
    }

    #[test]
    fn refresh_at_is_the_lifetime_less_the_margin() {
        let current = |seconds| {
            let mut current =
                Current::<Token>::new(&token(r#"{"access_token":"a","expires_in":1}"#), at(0));
            current.lifetime = Duration::from_secs(seconds);
            current
        };
        assert_eq!(current(900).refresh_at(NO_JITTER), at(675));
        assert_eq!(current(10).refresh_at(NO_JITTER), at(5));
        let fixed = |seconds| Margin::Fixed(Duration::from_secs(seconds));
        assert_eq!(current(10).refresh_at(fixed(1)), at(9));
        assert_eq!(current(10).refresh_at(fixed(99)), at(0));
    }

    #[test]
    fn plans_over_a_token_lifetime() {
        let mut lineage = lineage("client_credentials");
        let plan = |lineage: &Lineage<Token>, moment, fetching| {
            plan_name(lineage.plan(moment, NO_JITTER, fetching))
        };
        assert_eq!(plan(&lineage, at(0), false), "fetch", "nothing cached");
        assert_eq!(
            plan(&lineage, at(0), true),
            "wait",
            "nothing cached, a fetch under way"
        );
        lineage.install(&token(r#"{"access_token":"a","expires_in":100}"#), at(0));
        assert_eq!(plan(&lineage, at(10), false), "serve", "fresh");
        assert_eq!(
            plan(&lineage, at(70), false),
            "serve and refresh",
            "within the margin (30 s)"
        );
        assert_eq!(
            plan(&lineage, at(70), true),
            "serve",
            "due, but someone is fetching"
        );
        let served = lineage.record_failure(Error::new(ErrorKind::HttpStatus, "503"), at(70));
        assert!(
            served.is_ok(),
            "a failed refresh still serves the valid token"
        );
        assert_eq!(plan(&lineage, at(70), false), "serve", "backing off");
        assert_eq!(
            plan(&lineage, at(71), false),
            "serve and refresh",
            "backoff (1 s) over"
        );
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
    fn a_token_is_served_without_a_look_at_the_state_until_something_is_to_be_done() {
        let mut lineage = lineage("client_credentials");
        let until = |lineage: &Lineage<Token>, moment, fetching| {
            lineage.serves_until(moment, NO_JITTER, fetching)
        };
        assert_eq!(until(&lineage, at(0), false), None, "nothing cached");
        lineage.install(&token(r#"{"access_token":"a","expires_in":100}"#), at(0));
        assert_eq!(until(&lineage, at(0), false), Some(at(70)), "the refresh");
        assert_eq!(
            until(&lineage, at(70), true),
            Some(at(100)),
            "a refresh under way: the expiry"
        );
        let _ = lineage.record_failure(Error::new(ErrorKind::HttpStatus, "503"), at(80));
        assert_eq!(until(&lineage, at(80), false), Some(at(81)), "the backoff");
        let limited = Error::new(ErrorKind::HttpStatus, "429").with_retry_after(Some(60));
        let _ = lineage.record_failure(limited, at(81));
        assert_eq!(
            until(&lineage, at(81), false),
            Some(at(100)),
            "a wait past the expiry: the expiry"
        );
        assert_eq!(until(&lineage, at(100), false), None, "expired");
        let mut spent = self::lineage("authorization_code");
        spent.install(&token(r#"{"access_token":"a","expires_in":100}"#), at(0));
        assert_eq!(
            until(&spent, at(0), false),
            Some(at(100)),
            "nothing to refresh with: the expiry"
        );
    }

    /// How long after `now` the last failure lets the next fetch start.
    fn wait_after(lineage: &Lineage<Token>, now: Moment) -> Duration {
        lineage
            .failure
            .as_ref()
            .unwrap()
            .not_before
            .saturating_since(now)
    }

    #[test]
    fn failure_backoff_doubles_to_30_s_or_follows_retry_after() {
        let mut lineage = lineage("client_credentials");
        let now = at(0);
        let mut waits = Vec::new();
        for _ in 0..7 {
            let _ = lineage.record_failure(Error::new(ErrorKind::Transport, "down"), now);
            waits.push(wait_after(&lineage, now));
        }
        let seconds: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30]);
        let limited = Error::new(ErrorKind::HttpStatus, "429").with_retry_after(Some(7));
        let _ = lineage.record_failure(limited, now);
        assert_eq!(wait_after(&lineage, now), Duration::from_secs(7));
        lineage.install(&token(r#"{"access_token":"a"}"#), now);
        assert!(lineage.failure.is_none(), "a success clears the backoff");
    }

    #[test]
    fn any_retry_after_is_capped_and_a_valid_token_is_still_served() {
        let mut lineage = lineage("client_credentials");
        let now = at(0);
        lineage.install(&token(r#"{"access_token":"a","expires_in":100}"#), now);
        let huge = Error::new(ErrorKind::HttpStatus, "503").with_retry_after(Some(u64::MAX));
        let moment = now + Duration::from_secs(90);
        let served = lineage.record_failure(huge, moment);
        assert!(served.is_ok(), "the valid token is served, no panic");
        assert_eq!(
            lineage.failure.as_ref().unwrap().not_before,
            moment + crate::retry::MAX_SERVER_WAIT
        );
    }

    #[test]
    fn the_stores_copy_keeps_this_processs_own_failure_and_only_that() {
        let own = Error::new(ErrorKind::Transport, "connection refused (via proxy)");
        let said = Error::new(ErrorKind::HttpStatus, "503").with_http_status(503);
        let failed = |error: &Error| {
            let mut lineage = lineage("client_credentials");
            let _ = lineage.record_failure(error.clone(), at(0));
            lineage
        };
        let message = |lineage: &Lineage<Token>| {
            let failure = lineage.failure.as_ref();
            failure.map(|failure| failure.error.message().to_owned())
        };
        let mut ours = failed(&own);
        ours.adopt(lineage("client_credentials"));
        assert_eq!(message(&ours).as_deref(), Some(own.message()), "kept");
        let mut ours = failed(&own);
        ours.adopt(failed(&said));
        assert_eq!(message(&ours).as_deref(), Some("503"), "the lineage's wins");
        let mut ours = failed(&said);
        ours.adopt(lineage("client_credentials"));
        assert_eq!(message(&ours), None, "the store's word on the lineage");
        assert!(!failed(&own).failure.unwrap().is_the_lineages());
        assert!(failed(&said).failure.unwrap().is_the_lineages());
    }

    #[test]
    fn a_spent_code_keeps_the_servers_answer() {
        let mut lineage = lineage("authorization_code");
        let now = at(0);
        let refused = Error::new(ErrorKind::BadRequest, "400 Bad Request: invalid_grant")
            .with_http_status(400)
            .with_oauth(crate::error::OAuthError {
                code: Some("invalid_grant".into()),
                ..Default::default()
            });
        let _ = lineage.record_failure(refused, now);
        let Plan::Fail(later) = lineage.plan(now + Duration::from_secs(60), NO_JITTER, false)
        else {
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
        let now = at(0);
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
        let now = at(0);
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
