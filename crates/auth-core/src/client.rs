//! [`Authenticated`]: the client users hold.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::Utc;
use futures_util::future::{BoxFuture, FutureExt, Shared, WeakShared};
use reqwest::{RequestBuilder, Response};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::AuthError;
use crate::guard::{BackoffPolicy, LockoutRule, LoginGuard};
use crate::http::{HttpClient, HttpSettings, read_body_capped};
use crate::provider::Provider;
use crate::redirect::{Route, send_authorized};
use crate::session::{Freshness, NewSession, RefreshPolicy, Session, StoredSession};
use crate::store::{LockToken, MemoryStore, TokenStore};

type LoginResult<D> = Result<Arc<Session<D>>, AuthError>;
type LoginFlight<D> = Shared<BoxFuture<'static, LoginResult<D>>>;

struct Flight<D> {
    id: u64,
    future: WeakShared<BoxFuture<'static, LoginResult<D>>>,
}

/// Counters of what a client did, for dashboards and tests.
#[derive(Debug, Default)]
struct Counters {
    logins: AtomicU64,
    failed_logins: AtomicU64,
    refreshes: AtomicU64,
    relogins: AtomicU64,
    rejections: AtomicU64,
    adopted: AtomicU64,
    requests: AtomicU64,
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
    /// Logins made because the provider rejected a session.
    pub relogins: u64,
    /// Responses that rejected a session.
    pub rejections: u64,
    /// Sessions taken from the shared store instead of logging in.
    pub adopted: u64,
    /// Requests sent through [`Authenticated::send`] (retries included).
    pub requests: u64,
}

/// Why a login is being made, for counters and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Missing,
    Refresh,
    Rejected,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing_or_expired",
            Reason::Refresh => "refresh",
            Reason::Rejected => "rejected",
        }
    }
}

struct Inner<P: Provider> {
    provider: P,
    http: HttpClient,
    store: Arc<dyn TokenStore>,
    key: String,
    cache: ArcSwapOption<Session<P::Data>>,
    flight: Mutex<Option<Flight<P::Data>>>,
    flight_ids: AtomicU64,
    /// Generation of the last session invalidated after a rejection: a
    /// stored session of that generation (or older) is not adopted.
    rejected_generation: AtomicU64,
    guard: LoginGuard,
    refresh: RefreshPolicy,
    lock_poll: Duration,
    keep_alive: Mutex<Option<AbortHandle>>,
    counters: Counters,
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
///   all of them. A session near its deadline is renewed by one caller while
///   the others keep using it.
/// * [`send`](Self::send) authorizes a request, sends it and, when the
///   provider rejects the session, invalidates that session only, logs in
///   once and retries the request once.
pub struct Authenticated<P: Provider> {
    inner: Arc<Inner<P>>,
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

/// Builds an [`Authenticated`] client.
#[must_use]
pub struct AuthenticatedBuilder<P: Provider> {
    provider: P,
    settings: HttpSettings,
    client: Option<reqwest::Client>,
    store: Option<Arc<dyn TokenStore>>,
    refresh: RefreshPolicy,
    backoff: BackoffPolicy,
    lockout: Option<Option<LockoutRule>>,
    lock_poll: Duration,
    allowed_origins: Vec<url::Url>,
}

impl<P: Provider> fmt::Debug for AuthenticatedBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedBuilder")
            .field("provider", &self.provider)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<P: Provider> AuthenticatedBuilder<P> {
    /// Timeouts, body cap and transport policy. Ignored for the timeouts when
    /// [`http_client`](Self::http_client) is given.
    pub fn http_settings(mut self, settings: HttpSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Use this `reqwest::Client` for authorized calls (shares its
    /// connection pool and settings). Requests that carry credentials
    /// (login, logout, keep-alive, key and token management) still go
    /// through a client of our own that never follows redirects.
    ///
    /// The client must not follow redirects either: build it with
    /// `.redirect(reqwest::redirect::Policy::none())` (reqwest's default
    /// follows them, moving custom headers, query and body to the next hop).
    /// [`Authenticated::send`] follows same-origin redirects itself. reqwest
    /// cannot report a client's policy, so a response showing the client
    /// followed a redirect is refused with [`AuthError::Redirect`].
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Where sessions, the login lock and failure counts are kept. Default: a
    /// [`MemoryStore`] of this client's own. Share one store between clients,
    /// or use `auth-redis`, to share sessions.
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// How far ahead of expiry sessions are renewed.
    pub fn refresh_policy(mut self, refresh: RefreshPolicy) -> Self {
        self.refresh = refresh;
        self
    }

    /// Back-off after failed logins and repeated rejections.
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    /// Overrides the provider's lockout rule (`None` disables it). A rule
    /// stricter than the provider's is fine; a looser one is refused by
    /// [`build`](Self::build).
    pub fn lockout_rule(mut self, rule: Option<LockoutRule>) -> Self {
        self.lockout = Some(rule);
        self
    }

    /// Also authorize requests to `url`'s origin (scheme, host, port), besides
    /// the provider's own. By default a token goes only to its provider's
    /// origin; anything else is [`AuthError::ForeignOrigin`].
    pub fn allow_origin(mut self, url: url::Url) -> Self {
        self.allowed_origins.push(url);
        self
    }

    /// How often a task waiting for another process's login re-reads the
    /// store. Default 50 ms.
    pub fn lock_poll_interval(mut self, every: Duration) -> Self {
        self.lock_poll = every;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Authenticated<P>, AuthError> {
        let name = self.provider.name();
        let lockout = match (self.provider.lockout_rule(), self.lockout) {
            (provider_rule, None) => provider_rule,
            (Some(p), Some(None)) => {
                return Err(AuthError::config(format!(
                    "{name} locks accounts after failed logins; its lockout rule ({} failures per {} s) cannot be disabled",
                    p.max_failures,
                    p.window.as_secs()
                )));
            }
            (Some(p), Some(Some(r))) if r.max_failures > p.max_failures || r.window < p.window => {
                return Err(AuthError::config(format!(
                    "lockout rule for {name} must allow at most {} failures per {} s",
                    p.max_failures,
                    p.window.as_secs()
                )));
            }
            (_, Some(rule)) => rule,
        };
        if self.lock_poll.is_zero() {
            return Err(AuthError::config("lock_poll_interval must be positive"));
        }
        let http = match self.client {
            Some(client) => HttpClient::from_client(client, self.settings)?,
            None => HttpClient::new(self.settings)?,
        }
        .with_allowed_origins(self.allowed_origins)?;
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        Ok(Authenticated {
            inner: Arc::new(Inner {
                key: self.provider.cache_key(),
                guard: LoginGuard::new(name, self.backoff, lockout),
                provider: self.provider,
                http,
                store,
                cache: ArcSwapOption::empty(),
                flight: Mutex::new(None),
                flight_ids: AtomicU64::new(0),
                rejected_generation: AtomicU64::new(0),
                refresh: self.refresh,
                lock_poll: self.lock_poll,
                keep_alive: Mutex::new(None),
                counters: Counters::default(),
            }),
        })
    }
}

impl<P: Provider> Authenticated<P> {
    /// A client with default settings.
    pub fn new(provider: P) -> Result<Self, AuthError> {
        Self::builder(provider).build()
    }

    /// A builder to adjust settings.
    pub fn builder(provider: P) -> AuthenticatedBuilder<P> {
        AuthenticatedBuilder {
            provider,
            settings: HttpSettings::default(),
            client: None,
            store: None,
            refresh: RefreshPolicy::default(),
            backoff: BackoffPolicy::default(),
            lockout: None,
            lock_poll: Duration::from_millis(50),
            allowed_origins: Vec::new(),
        }
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.inner.provider
    }

    /// The HTTP client; build API requests with `http().client()`.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
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
        }
    }

    /// The cached session, without logging in (it may be expired).
    pub fn cached(&self) -> Option<Arc<Session<P::Data>>> {
        self.inner.cache.load_full()
    }

    /// A valid session: the cached one, or a new login when there is none or
    /// it expired. Concurrent callers share one login.
    pub async fn session(&self) -> Result<Arc<Session<P::Data>>, AuthError> {
        {
            let cached = self.inner.cache.load();
            if let Some(session) = cached.as_ref() {
                match session.freshness(Instant::now()) {
                    Freshness::Fresh => return Ok(Arc::clone(session)),
                    Freshness::RefreshDue => {
                        let current = Arc::clone(session);
                        drop(cached);
                        return Ok(self.refresh_ahead(current).await);
                    }
                    Freshness::Expired => {}
                }
            }
        }
        let seen = self
            .inner
            .cache
            .load()
            .as_ref()
            .map_or(0, |s| s.generation());
        self.join_flight(seen, Reason::Missing).await
    }

    /// One caller renews a session inside the refresh margin; the others (and
    /// this one, if the renewal fails) keep using the current session.
    async fn refresh_ahead(&self, current: Arc<Session<P::Data>>) -> Arc<Session<P::Data>> {
        let Some(flight) = self.start_flight_if_idle(current.generation(), Reason::Refresh) else {
            return current;
        };
        match flight.await {
            Ok(session) => session,
            Err(error) => {
                tracing::warn!(provider = self.inner.provider.name(), %error, "refresh ahead of expiry failed; using the current session");
                current
            }
        }
    }

    fn lock_flight(&self) -> std::sync::MutexGuard<'_, Option<Flight<P::Data>>> {
        self.inner.flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the login in flight, or starts one.
    async fn join_flight(&self, seen: u64, reason: Reason) -> LoginResult<P::Data> {
        let flight = {
            let mut slot = self.lock_flight();
            match slot.as_ref().and_then(|f| f.future.upgrade()) {
                Some(flight) => flight,
                None => self.start_flight(&mut slot, seen, reason),
            }
        };
        flight.await
    }

    /// Starts a login only if none is in flight.
    fn start_flight_if_idle(&self, seen: u64, reason: Reason) -> Option<LoginFlight<P::Data>> {
        let mut slot = self.lock_flight();
        if slot.as_ref().and_then(|f| f.future.upgrade()).is_some() {
            return None;
        }
        Some(self.start_flight(&mut slot, seen, reason))
    }

    /// Starts a login and records it (weakly) in the slot, so later callers
    /// join it while anyone still awaits it.
    fn start_flight(
        &self,
        slot: &mut Option<Flight<P::Data>>,
        seen: u64,
        reason: Reason,
    ) -> LoginFlight<P::Data> {
        let id = self.inner.flight_ids.fetch_add(1, Ordering::Relaxed) + 1;
        let inner = Arc::clone(&self.inner);
        let future: BoxFuture<'static, LoginResult<P::Data>> =
            Box::pin(async move { login_flight(inner, id, seen, reason).await });
        let flight = future.shared();
        *slot = Some(Flight {
            id,
            future: flight.downgrade().expect("a fresh Shared is not complete"),
        });
        flight
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
        let session = self.session().await?;
        let retry = request.try_clone();
        let (response, rejected) = self.send_with(&session, request, route).await?;
        if !rejected {
            return Ok(response);
        }
        self.reject(&session).await;
        let Some(retry) = retry else {
            return Err(AuthError::SessionRejected {
                provider: self.inner.provider.name(),
                retried: false,
            });
        };
        let fresh = self.session_after_rejection(session.generation()).await?;
        let (response, rejected) = self.send_with(&fresh, retry, route).await?;
        if rejected {
            self.reject(&fresh).await;
            return Err(AuthError::SessionRejected {
                provider: self.inner.provider.name(),
                retried: true,
            });
        }
        Ok(response)
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
        self.join_flight(rejected, Reason::Rejected).await
    }

    /// Authorizes and sends one request with `session`; returns the response
    /// and whether it rejects the session.
    async fn send_with(
        &self,
        session: &Session<P::Data>,
        request: RequestBuilder,
        route: Route,
    ) -> Result<(Response, bool), AuthError> {
        let provider = &self.inner.provider;
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = send_authorized(&self.inner.http, provider, session, request, route).await?;
        self.classify(session, response).await
    }

    /// Tells whether `response` rejects `session` (reading and re-wrapping the
    /// body when the provider needs it), and records a use when it does not.
    pub(crate) async fn classify(
        &self,
        session: &Session<P::Data>,
        response: Response,
    ) -> Result<(Response, bool), AuthError> {
        let provider = &self.inner.provider;
        let status = response.status();
        let (response, rejected) = if provider.rejection_needs_body(status) {
            let version = response.version();
            let headers = response.headers().clone();
            let (status, body) = read_body_capped(
                provider.name(),
                response,
                self.inner.http.settings().max_api_body,
            )
            .await?;
            let rejected = provider.is_rejected(status, &body);
            let mut rebuilt = http::Response::new(body);
            *rebuilt.status_mut() = status;
            *rebuilt.version_mut() = version;
            *rebuilt.headers_mut() = headers;
            (Response::from(rebuilt), rejected)
        } else {
            let rejected = provider.is_rejected(status, &[]);
            (response, rejected)
        };
        if !rejected {
            session.touch();
            if session.mark_productive() {
                self.inner.guard.record_productive();
            }
        }
        Ok((response, rejected))
    }

    /// Handles a rejection of `session` (counted once per session).
    pub(crate) async fn reject(&self, session: &Session<P::Data>) {
        self.inner
            .counters
            .rejections
            .fetch_add(1, Ordering::Relaxed);
        if session.mark_rejected() {
            if !session.was_productive() {
                self.inner.guard.record_unproductive_rejection();
            }
            self.inner
                .rejected_generation
                .fetch_max(session.generation(), Ordering::Relaxed);
            self.invalidate(session).await;
        }
    }

    /// Drops `session` from the cache and the store, unless a newer session
    /// has replaced it already.
    pub async fn invalidate(&self, session: &Session<P::Data>) {
        let generation = session.generation();
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
    pub async fn logout(&self) -> Result<(), AuthError> {
        let Some(session) = self.inner.cache.swap(None) else {
            return Ok(());
        };
        let span = tracing::info_span!(
            "auth.logout",
            provider = self.inner.provider.name(),
            generation = session.generation()
        );
        async {
            let result = self.inner.provider.logout(&self.inner.http, &session).await;
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

    /// Starts a background task that, every `every`, sends the provider's
    /// keep-alive request when the cached session has been idle for at least
    /// half of `every` (Wialon kills sessions idle for 5 minutes). The task
    /// stops when the last clone of this client is dropped; calling this
    /// again replaces it. Requires a Tokio runtime.
    pub fn spawn_keep_alive(&self, every: Duration) -> Result<(), AuthError> {
        if every.is_zero() {
            return Err(AuthError::config("keep-alive interval must be positive"));
        }
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(keep_alive_loop(weak, every));
        let old = self
            .inner
            .keep_alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
        Ok(())
    }
}

async fn keep_alive_loop<P: Provider>(weak: Weak<Inner<P>>, every: Duration) {
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let client = Authenticated { inner };
        let Some(session) = client.cached() else {
            continue;
        };
        if session.is_expired() || session.idle_for() < every / 2 {
            continue;
        }
        let Some(request) = client
            .inner
            .provider
            .keep_alive_request(&client.inner.http, &session)
        else {
            return;
        };
        match client.send_with(&session, request, Route::Own).await {
            Ok((_, false)) => {
                tracing::trace!(provider = client.inner.provider.name(), "keep-alive sent")
            }
            Ok((_, true)) => {
                tracing::debug!(
                    provider = client.inner.provider.name(),
                    "keep-alive found the session rejected"
                );
                client.reject(&session).await;
            }
            Err(error) => {
                tracing::warn!(provider = client.inner.provider.name(), %error, "keep-alive request failed");
            }
        }
    }
}

/// The body of one single-flight login.
async fn login_flight<P: Provider>(
    inner: Arc<Inner<P>>,
    id: u64,
    seen: u64,
    reason: Reason,
) -> LoginResult<P::Data> {
    let span = tracing::info_span!(
        "auth.login",
        provider = inner.provider.name(),
        key = %inner.key,
        reason = reason.as_str(),
        generation = tracing::field::Empty,
    );
    let result = obtain_session(&inner, seen, reason).instrument(span).await;
    let mut slot = inner.flight.lock().unwrap_or_else(|p| p.into_inner());
    if slot.as_ref().is_some_and(|f| f.id == id) {
        *slot = None;
    }
    result
}

async fn obtain_session<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
    reason: Reason,
) -> LoginResult<P::Data> {
    // Another flight may have replaced the session since the caller looked.
    if let Some(current) = inner.cache.load_full()
        && current.generation() > seen
        && !current.is_expired()
    {
        return Ok(current);
    }
    let name = inner.provider.name();
    inner.guard.check(inner.store.as_ref(), &inner.key).await?;

    let lock_ttl = inner.provider.login_timeout() + Duration::from_secs(5);
    let lock = match acquire_login_lock(inner, seen, lock_ttl).await? {
        LockOutcome::Adopted(session) => return Ok(session),
        LockOutcome::Held(lock) => lock,
    };
    // Check again under the lock: while this process waited, the holder may
    // have failed and brought a shared failure count to the lockout limit.
    if let Some(lock) = &lock
        && let Err(error) = inner.guard.check(inner.store.as_ref(), &inner.key).await
    {
        if let Err(unlock_error) = inner.store.unlock(&inner.key, lock).await {
            tracing::warn!(error = %unlock_error, "could not release the login lock; it expires by itself");
        }
        return Err(error);
    }

    let outcome = tokio::time::timeout(
        inner.provider.login_timeout(),
        inner.provider.login(&inner.http),
    )
    .await
    .unwrap_or(Err(AuthError::Timeout {
        provider: name,
        after: inner.provider.login_timeout(),
    }));
    let result = match outcome {
        Ok(new) => {
            let session = install(inner, new, reason).await;
            inner
                .guard
                .record_success(inner.store.as_ref(), &inner.key)
                .await;
            Ok(session)
        }
        Err(error) => {
            inner.counters.failed_logins.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "login failed");
            inner
                .guard
                .record_failure(inner.store.as_ref(), &inner.key, &error)
                .await;
            Err(error)
        }
    };
    if let Some(lock) = lock
        && let Err(error) = inner.store.unlock(&inner.key, &lock).await
    {
        tracing::warn!(%error, "could not release the login lock; it expires by itself");
    }
    result
}

enum LockOutcome<D> {
    Adopted(Arc<Session<D>>),
    /// The lock, or `None` when the store is unavailable (degraded mode:
    /// single flight in this process only).
    Held(Option<LockToken>),
}

/// Takes the store's login lock; while another process holds it, re-reads the
/// store for the session that process is obtaining.
async fn acquire_login_lock<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
    lock_ttl: Duration,
) -> Result<LockOutcome<P::Data>, AuthError> {
    let give_up = Instant::now() + lock_ttl * 2;
    loop {
        if let Some(session) = adopt_stored(inner, seen).await {
            return Ok(LockOutcome::Adopted(session));
        }
        match inner.store.try_lock(&inner.key, lock_ttl).await {
            Ok(Some(lock)) => {
                // Double-check: the previous holder may have saved a session
                // between our read and our lock.
                if let Some(session) = adopt_stored(inner, seen).await {
                    if let Err(error) = inner.store.unlock(&inner.key, &lock).await {
                        tracing::warn!(%error, "could not release the login lock");
                    }
                    return Ok(LockOutcome::Adopted(session));
                }
                return Ok(LockOutcome::Held(Some(lock)));
            }
            Ok(None) => {
                if Instant::now() >= give_up {
                    return Err(AuthError::Timeout {
                        provider: inner.provider.name(),
                        after: lock_ttl * 2,
                    });
                }
                tokio::time::sleep(inner.lock_poll).await;
            }
            Err(error) => {
                tracing::warn!(%error, "token store unavailable; logging in without the shared lock");
                return Ok(LockOutcome::Held(None));
            }
        }
    }
}

/// A session from the store that is newer than anything this process saw
/// rejected or expired, installed in the cache.
async fn adopt_stored<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
) -> Option<Arc<Session<P::Data>>> {
    let stored = match inner.store.load(&inner.key).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, "token store unavailable; not reading shared sessions");
            return None;
        }
    };
    let floor = seen.max(inner.rejected_generation.load(Ordering::Relaxed));
    if stored.generation <= floor || stored.is_expired() {
        return None;
    }
    let session = match session_from_stored(stored, &inner.refresh) {
        Ok(session) => Arc::new(session),
        Err(error) => {
            let error = crate::http::serde_error_without_values(&error);
            tracing::warn!(%error, "ignoring a stored session this version cannot read");
            return None;
        }
    };
    if session.freshness(Instant::now()) == Freshness::Expired {
        return None;
    }
    inner.cache.store(Some(Arc::clone(&session)));
    inner.counters.adopted.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        generation = session.generation(),
        "adopted a session from the token store"
    );
    Some(session)
}

fn session_from_stored<D: serde::de::DeserializeOwned>(
    stored: StoredSession,
    refresh: &RefreshPolicy,
) -> Result<Session<D>, serde_json::Error> {
    let data = serde_json::from_value(stored.data)?;
    Ok(Session::from_new(
        NewSession::new(stored.token, stored.expiry, data),
        stored.generation,
        stored.issued_at,
        refresh,
    ))
}

/// Caches a freshly issued session and saves it to the store.
async fn install<P: Provider>(
    inner: &Arc<Inner<P>>,
    new: NewSession<P::Data>,
    reason: Reason,
) -> Arc<Session<P::Data>> {
    let local_next = inner
        .cache
        .load()
        .as_ref()
        .map_or(0, |s| s.generation())
        .max(inner.rejected_generation.load(Ordering::Relaxed))
        + 1;
    let generation = match inner.store.next_generation(&inner.key).await {
        Ok(g) => g.max(local_next),
        Err(error) => {
            tracing::warn!(%error, "token store unavailable; numbering the session locally");
            local_next
        }
    };
    let session = Arc::new(Session::from_new(
        new,
        generation,
        Utc::now(),
        &inner.refresh,
    ));
    tracing::Span::current().record("generation", generation);
    inner.cache.store(Some(Arc::clone(&session)));
    let counters = &inner.counters;
    counters.logins.fetch_add(1, Ordering::Relaxed);
    match reason {
        Reason::Refresh => counters.refreshes.fetch_add(1, Ordering::Relaxed),
        Reason::Rejected => counters.relogins.fetch_add(1, Ordering::Relaxed),
        Reason::Missing => 0,
    };
    tracing::info!(generation, expiry = ?session.expiry(), "logged in");
    match session.to_stored() {
        Ok(stored) => {
            if let Err(error) = inner
                .store
                .save(&inner.key, &stored, session.store_ttl())
                .await
            {
                tracing::warn!(%error, "could not save the session to the token store");
            }
        }
        Err(error) => {
            let error = crate::http::serde_error_without_values(&error);
            tracing::warn!(%error, "could not serialize the session for the token store")
        }
    }
    session
}
