//! [`Authenticated`]: the client users hold.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use reqwest::{RequestBuilder, Response};
use secrecy::ExposeSecret;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::AuthError;
use crate::builder::AuthenticatedBuilder;
use crate::flight::{self, FlightSlot, LoginResult};
use crate::gate::{RequestGate, RequestPermit, hold_until_read, rebuild};
use crate::guard::LoginGuard;
use crate::http::{HttpClient, read_body_capped};
use crate::provider::{Provider, Rejection};
use crate::redirect::{Route, send_authorized};
use crate::session::{Freshness, RefreshPolicy, Session};
use crate::store::TokenStore;

/// Counters of what a client did, for dashboards and tests.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) logins: AtomicU64,
    pub(crate) failed_logins: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) relogins: AtomicU64,
    pub(crate) rejections: AtomicU64,
    pub(crate) adopted: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) speculative_relogins: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) credentials_changed_elsewhere: AtomicU64,
    pub(crate) stale_credentials_refused: AtomicU64,
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Successful logins made by this client.
    pub logins: u64,
    /// Failed login attempts that reached the provider (or timed out).
    pub failed_logins: u64,
    /// Logins made ahead of expiry.
    pub refreshes: u64,
    /// Logins made because the provider rejected a session (or it was
    /// invalidated).
    pub relogins: u64,
    /// Responses that rejected a session.
    pub rejections: u64,
    /// Sessions taken from the shared store instead of logging in.
    pub adopted: u64,
    /// Requests sent through [`Authenticated::send`] (retries included).
    pub requests: u64,
    /// Logins made because an answer
    /// [`MaybeRejected`](crate::Rejection::MaybeRejected) a session.
    pub speculative_relogins: u64,
    /// Calls of [`rotate_credentials`](Authenticated::rotate_credentials).
    pub rotations: u64,
    /// Sessions adopted from the store that another process obtained with a
    /// different secret than this client's (its secret was rotated there).
    pub credentials_changed_elsewhere: u64,
    /// Logins not attempted because another process's login with this
    /// client's secret was rejected ([`AuthError::StaleCredentials`]).
    pub stale_credentials_refused: u64,
}

/// Why a login is being made, for counters and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Missing,
    Refresh,
    Rejected,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing_or_expired",
            Reason::Refresh => "refresh",
            Reason::Rejected => "rejected",
        }
    }
}

/// Timing settings of a client (validated by the builder).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) lock_poll: Duration,
    pub(crate) lock_lease: Duration,
    pub(crate) min_login_interval: Duration,
    pub(crate) speculative_interval: Duration,
}

/// How an answer was classified (see [`Rejection`]).
#[derive(Debug)]
pub(crate) enum Outcome {
    Accepted,
    Rejected,
    Maybe(String),
}

/// What to do with the first answer to a request.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Return it.
    Keep,
    /// Log in again and retry.
    Reject,
    /// Log in again and retry, speculatively: the answer had this code.
    Speculate(String),
}

pub(crate) struct Inner<P: Provider> {
    pub(crate) provider: P,
    pub(crate) http: HttpClient,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) key: String,
    pub(crate) cache: ArcSwapOption<Session<P::Data>>,
    pub(crate) flight: FlightSlot<P::Data>,
    pub(crate) flight_ids: AtomicU64,
    /// Generation of the last session invalidated after a rejection: a
    /// stored session of that generation (or older) is not adopted.
    pub(crate) rejected_generation: AtomicU64,
    /// The highest generation this client has held: its own numbering never
    /// goes below it.
    pub(crate) highest_generation: AtomicU64,
    /// Bumped by every logout: a flight started before it installs nothing.
    pub(crate) logout_epoch: AtomicU64,
    /// Orders a flight's install against a logout.
    pub(crate) install_lock: Mutex<()>,
    pub(crate) guard: LoginGuard,
    pub(crate) refresh: RefreshPolicy,
    pub(crate) timing: Timing,
    pub(crate) keep_alive: Mutex<Option<AbortHandle>>,
    pub(crate) counters: Counters,
    /// When the last speculative re-login was decided, and the generation
    /// of the session it replaces.
    pub(crate) last_speculative: Mutex<Option<(Instant, u64)>>,
    /// The per-session request limits, when there are any.
    pub(crate) gate: Option<RequestGate>,
    /// The last fingerprint seen on a stored session that differs from this
    /// client's (reported once, not at every adoption).
    pub(crate) foreign_credentials: Mutex<Option<String>>,
    /// The fingerprint of this client's own last rejected secret: its own
    /// retries are the guard's business, the store's record is for others.
    pub(crate) own_rejection: Mutex<Option<String>>,
}

impl<P: Provider> Inner<P> {
    pub(crate) fn new(
        provider: P,
        http: HttpClient,
        store: Arc<dyn TokenStore>,
        guard: LoginGuard,
        refresh: RefreshPolicy,
        timing: Timing,
        gate: Option<RequestGate>,
    ) -> Self {
        Self {
            key: provider.cache_key(),
            provider,
            http,
            store,
            cache: ArcSwapOption::empty(),
            flight: FlightSlot::default(),
            flight_ids: AtomicU64::new(0),
            rejected_generation: AtomicU64::new(0),
            highest_generation: AtomicU64::new(0),
            logout_epoch: AtomicU64::new(0),
            install_lock: Mutex::new(()),
            guard,
            refresh,
            timing,
            keep_alive: Mutex::new(None),
            counters: Counters::default(),
            last_speculative: Mutex::new(None),
            gate,
            foreign_credentials: Mutex::new(None),
            own_rejection: Mutex::new(None),
        }
    }

    /// The store's fingerprint of the provider's current secret, when both
    /// support them.
    pub(crate) fn credential_fingerprint(&self) -> Option<String> {
        let material = self.provider.credential_material()?;
        self.store
            .credential_fingerprint(&self.key, material.expose_secret())
    }
}

impl<P: Provider> Drop for Inner<P> {
    fn drop(&mut self) {
        if let Some(handle) = self.keep_alive.get_mut().ok().and_then(Option::take) {
            handle.abort();
        }
    }
}

/// An authenticated client for one account of one provider.
///
/// Cheap to clone; clones share the cached session, the single-flight login
/// and the counters.
///
/// * [`session`](Self::session) returns the cached session (a lock-free read)
///   and logs in only when there is none or it expired: however many tasks
///   ask at once, one login goes out, and its result (or error) is handed to
///   all of them. A session near its deadline is renewed in the background while
///   every caller keeps using it.
/// * [`send`](Self::send) authorizes a request, sends it and, when the
///   provider rejects the session, invalidates that session only, logs in
///   once and retries the request once.
///
/// Logins run in tasks of their own (a caller that stops waiting never
/// cancels one), so calls need a Tokio runtime.
pub struct Authenticated<P: Provider> {
    pub(crate) inner: Arc<Inner<P>>,
}

impl<P: Provider> Clone for Authenticated<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: Provider> fmt::Debug for Authenticated<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("provider", &self.inner.provider)
            .field("key", &self.inner.key)
            .field("session", &self.inner.cache.load().as_deref())
            .finish_non_exhaustive()
    }
}

impl<P: Provider> Authenticated<P> {
    /// A client with default settings.
    pub fn new(provider: P) -> Result<Self, AuthError> {
        Self::builder(provider).build()
    }

    /// A builder to adjust settings.
    pub fn builder(provider: P) -> AuthenticatedBuilder<P> {
        AuthenticatedBuilder::new(provider)
    }

    pub(crate) fn from_inner(inner: Inner<P>) -> Self {
        Self::from_arc(Arc::new(inner))
    }

    pub(crate) fn from_arc(inner: Arc<Inner<P>>) -> Self {
        Self { inner }
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.inner.provider
    }

    /// The HTTP client; build API requests with `http().client()`.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// How far ahead of expiry this client renews sessions.
    pub fn refresh_policy(&self) -> RefreshPolicy {
        self.inner.refresh
    }

    /// The cache key of this account (no secrets).
    pub fn cache_key(&self) -> &str {
        &self.inner.key
    }

    /// Counters of logins, rejections and requests so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            logins: c.logins.load(Ordering::Relaxed),
            failed_logins: c.failed_logins.load(Ordering::Relaxed),
            refreshes: c.refreshes.load(Ordering::Relaxed),
            relogins: c.relogins.load(Ordering::Relaxed),
            rejections: c.rejections.load(Ordering::Relaxed),
            adopted: c.adopted.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            speculative_relogins: c.speculative_relogins.load(Ordering::Relaxed),
            rotations: c.rotations.load(Ordering::Relaxed),
            credentials_changed_elsewhere: c.credentials_changed_elsewhere.load(Ordering::Relaxed),
            stale_credentials_refused: c.stale_credentials_refused.load(Ordering::Relaxed),
        }
    }

    /// The cached session, without logging in (it may be expired).
    pub fn cached(&self) -> Option<Arc<Session<P::Data>>> {
        self.inner.cache.load_full()
    }

    /// A valid session: the cached one, or a new login when there is none or
    /// it expired. Concurrent callers share one login. A session inside its
    /// refresh margin is returned at once while it is renewed in the
    /// background; if the renewal fails, it is used until it really expires.
    pub async fn session(&self) -> Result<Arc<Session<P::Data>>, AuthError> {
        let seen = {
            let cached = self.inner.cache.load();
            match cached.as_ref() {
                Some(session) => match session.freshness(Instant::now()) {
                    Freshness::Fresh => return Ok(Arc::clone(session)),
                    Freshness::RefreshDue => {
                        if self.inner.guard.may_attempt_now() {
                            flight::start_if_idle(
                                &self.inner,
                                session.generation(),
                                Reason::Refresh,
                            );
                        }
                        return Ok(Arc::clone(session));
                    }
                    Freshness::Expired => session.generation(),
                },
                None => 0,
            }
        };
        flight::join(&self.inner, seen, Reason::Missing).await
    }

    /// Authorizes `request` with a valid session and sends it. When the
    /// provider rejects the session, the session is invalidated, a new one is
    /// obtained (one login however many requests were rejected) and the
    /// request is retried once, if its body can be cloned.
    ///
    /// The request must be for the provider's origin (or one allowed with
    /// [`AuthenticatedBuilder::allow_origin`]); anything else is
    /// [`AuthError::ForeignOrigin`] before a byte is sent. Redirects are
    /// followed to the same origin only, authorized again there; a redirect
    /// to another origin is [`AuthError::Redirect`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, AuthError> {
        self.send_routed(request, Route::Api).await
    }

    /// Like [`send`](Self::send), for a request that carries credentials
    /// beyond the session (a key or token in its parameters): it always
    /// goes through this client's own HTTP client, never a client the
    /// application supplied, and follows no redirect (a 3xx is
    /// [`AuthError::Redirect`]).
    pub async fn send_credentials(&self, request: RequestBuilder) -> Result<Response, AuthError> {
        self.send_routed(request, Route::Own).await
    }

    async fn send_routed(
        &self,
        request: RequestBuilder,
        route: Route,
    ) -> Result<Response, AuthError> {
        // Method, host and path (never the query: it may carry a token) are
        // recorded when the request is built; status, session generation
        // and whether it logged in again, when the answer is in.
        let span = tracing::info_span!(
            "auth.send",
            provider = self.inner.provider.name(),
            method = tracing::field::Empty,
            host = tracing::field::Empty,
            path = tracing::field::Empty,
            status = tracing::field::Empty,
            generation = tracing::field::Empty,
            relogin = false,
        );
        let result = self
            .send_routed_in_span(request, route)
            .instrument(span.clone())
            .await;
        if let Ok(response) = &result {
            span.record("status", response.status().as_u16());
        }
        result
    }

    async fn send_routed_in_span(
        &self,
        request: RequestBuilder,
        route: Route,
    ) -> Result<Response, AuthError> {
        let (client, built) = request.build_split();
        let built = built.map_err(|e| AuthError::transport(self.inner.provider.name(), e))?;
        let span = tracing::Span::current();
        span.record("method", built.method().as_str());
        span.record("host", crate::redirect::host_text(built.url()));
        span.record("path", built.url().path());
        let request = RequestBuilder::from_parts(client, built);
        // One permit covers the request and its retry, which run in turn.
        let permit = self.permit().await;
        let session = self.session().await?;
        let retry = request.try_clone();
        tracing::Span::current().record("generation", session.generation());
        let (response, outcome) = self.send_with(&session, request, route).await?;
        let speculative = match self.judge(&session, outcome, retry.is_some()) {
            Verdict::Keep => return Ok(self.hand_over(response, permit)),
            Verdict::Reject => None,
            Verdict::Speculate(code) => Some(code),
        };
        self.reject(&session).await;
        let Some(mut retry) = retry else {
            return Err(AuthError::SessionRejected {
                provider: self.inner.provider.name(),
                retried: false,
            });
        };
        let mut rejected_generation = session.generation();
        let mut adopted_retry_left = true;
        loop {
            let fresh = self.session_after_rejection(rejected_generation).await?;
            tracing::Span::current()
                .record("relogin", true)
                .record("generation", fresh.generation());
            // A session adopted from the store may have been issued before
            // the provider revoked the one we held: if it is rejected too,
            // one more try with a session of a login made after that.
            let again = (adopted_retry_left && fresh.is_adopted())
                .then(|| retry.try_clone())
                .flatten();
            let (response, outcome) = self.send_with(&fresh, retry, route).await?;
            if !self.judge_retry(&fresh, outcome, speculative.as_deref()) {
                return Ok(self.hand_over(response, permit));
            }
            self.reject(&fresh).await;
            match again {
                Some(request) => {
                    retry = request;
                    rejected_generation = fresh.generation();
                    adopted_retry_left = false;
                }
                None => {
                    return Err(AuthError::SessionRejected {
                        provider: self.inner.provider.name(),
                        retried: true,
                    });
                }
            }
        }
    }

    /// Waits for this client's permit to send a request that uses the
    /// session (none is needed without request limits).
    pub(crate) async fn permit(&self) -> Option<RequestPermit> {
        match &self.inner.gate {
            Some(gate) => Some(gate.acquire().await),
            None => None,
        }
    }

    /// Hands `response` to the caller with `permit`: released now when the
    /// body was already read to classify the response, else when the
    /// caller reads or drops it.
    pub(crate) fn hand_over(&self, response: Response, permit: Option<RequestPermit>) -> Response {
        match permit {
            Some(permit) if !self.inner.provider.rejection_needs_body(response.status()) => {
                hold_until_read(response, permit)
            }
            _ => response,
        }
    }

    /// Runs `section` alone on the session: it starts once every request in
    /// flight has finished, and no other request of this client (or its
    /// clones) starts until it ends. Requests that `section` itself sends
    /// from this task pass; sections nest. For the provider calls that must
    /// run alone (Wialon reports, messages, render); a request `section`
    /// spawns onto another task and waits for would wait forever.
    ///
    /// Exclusion works through the [`RequestLimits`](crate::RequestLimits)
    /// gate: a client without request limits has none, and runs `section`
    /// as it is.
    pub async fn exclusive<F: std::future::Future>(&self, section: F) -> F::Output {
        match &self.inner.gate {
            Some(gate) => gate.exclusive(section).await,
            None => section.await,
        }
    }

    /// A session newer than the rejected generation: the one another task
    /// already obtained, or one new login shared by all who ask.
    pub(crate) async fn session_after_rejection(&self, rejected: u64) -> LoginResult<P::Data> {
        if let Some(current) = self.inner.cache.load_full()
            && current.generation() > rejected
            && !current.is_expired()
        {
            return Ok(current);
        }
        flight::join(&self.inner, rejected, Reason::Rejected).await
    }

    /// What to do with the first answer to a request made with `session`
    /// (`can_retry`: the request can be sent again). An accepted answer
    /// records a use. A "maybe rejected" answer leads to a speculative
    /// re-login when the request can be retried, `session` has not found its
    /// code to be an API error, and no speculative re-login was decided
    /// within the interval.
    pub(crate) fn judge(
        &self,
        session: &Session<P::Data>,
        outcome: Outcome,
        can_retry: bool,
    ) -> Verdict {
        match outcome {
            Outcome::Accepted => {
                self.record_use(session);
                Verdict::Keep
            }
            Outcome::Rejected => Verdict::Reject,
            Outcome::Maybe(code) => {
                if can_retry && !session.is_not_rejection(&code) && self.claim_speculative(session)
                {
                    Verdict::Speculate(code)
                } else {
                    self.record_use(session);
                    Verdict::Keep
                }
            }
        }
    }

    /// Whether the answer to a retry with `fresh` rejects it. A "maybe
    /// rejected" answer does not; when its code is the one that led to a
    /// speculative re-login, `fresh` stops taking that code for a rejection.
    pub(crate) fn judge_retry(
        &self,
        fresh: &Session<P::Data>,
        outcome: Outcome,
        speculative: Option<&str>,
    ) -> bool {
        match outcome {
            Outcome::Rejected => true,
            Outcome::Accepted => {
                self.record_use(fresh);
                false
            }
            Outcome::Maybe(code) => {
                if speculative == Some(code.as_str()) {
                    tracing::debug!(
                        provider = self.inner.provider.name(),
                        code = %code,
                        "a fresh session got the same error: an API error, not a rejection"
                    );
                    fresh.mark_not_rejection(&code);
                }
                self.record_use(fresh);
                false
            }
        }
    }

    /// Whether a "maybe rejected" answer to a request made with `session`
    /// may lead to a re-login: true when no speculative re-login was decided
    /// within the interval (this one is then recorded), or when the one
    /// decided was for this very session (the request joins that login).
    fn claim_speculative(&self, session: &Session<P::Data>) -> bool {
        let now = Instant::now();
        let mut last = self
            .inner
            .last_speculative
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match *last {
            Some((_, generation)) if generation == session.generation() => true,
            Some((at, _)) if now.duration_since(at) < self.inner.timing.speculative_interval => {
                false
            }
            _ => {
                *last = Some((now, session.generation()));
                tracing::debug!(
                    provider = self.inner.provider.name(),
                    generation = session.generation(),
                    "an error answer may mean the session expired: logging in again"
                );
                self.inner
                    .counters
                    .speculative_relogins
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    }

    /// Authorizes and sends one request with `session`; returns the response
    /// and how it was classified.
    pub(crate) async fn send_with(
        &self,
        session: &Session<P::Data>,
        request: RequestBuilder,
        route: Route,
    ) -> Result<(Response, Outcome), AuthError> {
        let provider = &self.inner.provider;
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = send_authorized(
            &self.inner.http,
            provider,
            session,
            request,
            route,
            self.inner.gate.as_ref(),
        )
        .await?;
        self.classify(response).await
    }

    /// Tells whether `response` rejects `session` (reading and re-wrapping the
    /// body when the provider needs it).
    pub(crate) async fn classify(
        &self,
        response: Response,
    ) -> Result<(Response, Outcome), AuthError> {
        let provider = &self.inner.provider;
        let status = response.status();
        let (response, rejected) = if provider.rejection_needs_body(status) {
            let url = response.url().clone();
            let (mut parts, ()) = http::Response::new(()).into_parts();
            parts.version = response.version();
            parts.headers = response.headers().clone();
            let (status, body) = read_body_capped(
                provider.name(),
                response,
                self.inner.http.settings().max_api_body,
            )
            .await?;
            let rejected = provider.rejection(status, &body);
            parts.status = status;
            (rebuild(parts, body.into(), url), rejected)
        } else {
            let rejected = provider.rejection(status, &[]);
            (response, rejected)
        };
        let outcome = match rejected {
            Rejection::Rejected => Outcome::Rejected,
            Rejection::MaybeRejected { code } => Outcome::Maybe(code),
            Rejection::NotRejected => Outcome::Accepted,
        };
        Ok((response, outcome))
    }

    /// Records that a request made with `session` was accepted: the
    /// provider accepts our sessions (lifting a rejection back-off), and an
    /// idle-expiring session slides its deadline, here and (at most once per
    /// quarter of the idle period) in the shared store, so that other
    /// processes keep adopting it. [`send`](Self::send) does this; call it
    /// when you send requests with the token yourself.
    pub fn record_use(&self, session: &Session<P::Data>) {
        session.touch();
        if session.mark_productive() {
            self.inner.guard.record_productive();
        }
        if let Some(idle) = session.store_touch_due()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let inner = Arc::clone(&self.inner);
            let generation = session.generation();
            runtime.spawn(async move {
                if let Err(error) = inner.store.touch(&inner.key, generation, idle).await {
                    tracing::debug!(%error, "could not extend the stored session's TTL");
                }
            });
        }
    }

    /// Lifts a stop after repeated credential rejections
    /// ([`AuthError::CredentialsBlocked`]) and any back-off in force, once
    /// the credentials have been fixed. Failed logins that count against a
    /// lockout rule stay counted: the provider still counts them.
    pub fn reset(&self) {
        self.inner.guard.reset();
    }

    /// Handles a rejection of `session` (counted once per session).
    pub(crate) async fn reject(&self, session: &Session<P::Data>) {
        self.inner
            .counters
            .rejections
            .fetch_add(1, Ordering::Relaxed);
        if session.mark_rejected() {
            // An adopted session rejected at once says nothing of our own
            // logins (another process's may predate a revocation).
            if !session.was_productive() && !session.is_adopted() {
                self.inner.guard.record_unproductive_rejection();
            }
            self.inner
                .rejected_generation
                .fetch_max(session.generation(), Ordering::Relaxed);
            self.invalidate(session).await;
        }
    }

    /// Drops `session` from the cache and the store, unless a newer session
    /// has replaced it already. The next call does not adopt it (or an
    /// older stored session) again: it logs in, or adopts a newer session.
    pub async fn invalidate(&self, session: &Session<P::Data>) {
        let generation = session.generation();
        self.inner
            .rejected_generation
            .fetch_max(generation, Ordering::Relaxed);
        let span = tracing::debug_span!(
            "auth.invalidate",
            provider = self.inner.provider.name(),
            generation
        );
        async {
            let current = self.inner.cache.load();
            if current
                .as_ref()
                .is_some_and(|s| s.generation() == generation)
            {
                let current = arc_swap::Guard::into_inner(current);
                self.inner.cache.compare_and_swap(&current, None);
            }
            if let Err(error) = self
                .inner
                .store
                .remove(&self.inner.key, Some(generation))
                .await
            {
                tracing::warn!(%error, "could not remove the session from the token store");
            }
        }
        .instrument(span)
        .await
    }

    /// Logs out on the provider (where it has a logout call) and forgets the
    /// session locally and in the store.
    ///
    /// Logout is final: a login in flight when it runs installs and stores
    /// nothing (its waiters get [`AuthError::LoggedOut`]).
    pub async fn logout(&self) -> Result<(), AuthError> {
        let session = {
            let _installing = self
                .inner
                .install_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.inner.logout_epoch.fetch_add(1, Ordering::SeqCst);
            self.inner.cache.swap(None)
        };
        let Some(session) = session else {
            return Ok(());
        };
        let span = tracing::info_span!(
            "auth.logout",
            provider = self.inner.provider.name(),
            generation = session.generation()
        );
        async {
            let result = {
                let _permit = self.permit().await;
                let _rate = match &self.inner.gate {
                    Some(gate) => Some(gate.pace().await),
                    None => None,
                };
                self.inner.provider.logout(&self.inner.http, &session).await
            };
            if let Err(error) = self
                .inner
                .store
                .remove(&self.inner.key, Some(session.generation()))
                .await
            {
                tracing::warn!(%error, "could not remove the session from the token store");
            }
            result
        }
        .instrument(span)
        .await
    }
}
