//! [`AuthenticatedBuilder`]: every policy is checked at `build()`, so no
//! configuration can panic inside a login.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::AuthError;
use crate::client::{Authenticated, Inner};
use crate::gate::RequestGate;
use crate::guard::{BackoffPolicy, LockoutRule, LoginGuard};
use crate::http::{HttpClient, HttpSettings};
use crate::limits::RequestLimits;
use crate::provider::Provider;
use crate::session::RefreshPolicy;
use crate::store::{MemoryStore, TokenStore};

/// Default for [`AuthenticatedBuilder::min_login_interval`].
pub const DEFAULT_MIN_LOGIN_INTERVAL: Duration = Duration::from_secs(5);
/// Default for [`AuthenticatedBuilder::lock_lease`].
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(10);

/// Default for [`AuthenticatedBuilder::speculative_relogin_interval`].
pub const DEFAULT_SPECULATIVE_RELOGIN_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Builds an [`Authenticated`] client.
#[must_use]
pub struct AuthenticatedBuilder<P: Provider> {
    provider: P,
    settings: HttpSettings,
    client: Option<reqwest::Client>,
    shared_http: Option<HttpClient>,
    store: Option<Arc<dyn TokenStore>>,
    refresh: Option<RefreshPolicy>,
    backoff: BackoffPolicy,
    lockout: Option<Option<LockoutRule>>,
    lock_poll: Duration,
    lock_lease: Duration,
    min_login_interval: Duration,
    speculative_interval: Duration,
    fail_closed: bool,
    allowed_origins: Vec<url::Url>,
    limits: Option<Option<RequestLimits>>,
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
    pub(crate) fn new(provider: P) -> Self {
        Self {
            provider,
            settings: HttpSettings::default(),
            client: None,
            shared_http: None,
            store: None,
            refresh: None,
            backoff: BackoffPolicy::default(),
            lockout: None,
            lock_poll: Duration::from_millis(50),
            lock_lease: DEFAULT_LOCK_LEASE,
            min_login_interval: DEFAULT_MIN_LOGIN_INTERVAL,
            speculative_interval: DEFAULT_SPECULATIVE_RELOGIN_INTERVAL,
            fail_closed: false,
            allowed_origins: Vec::new(),
            limits: None,
        }
    }

    /// Timeouts, body cap and transport policy. Ignored for the timeouts when
    /// [`http_client`](Self::http_client) is given. Replaces an
    /// [`http`](Self::http) given before.
    pub fn http_settings(mut self, settings: HttpSettings) -> Self {
        self.settings = settings;
        self.shared_http = None;
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
    ///
    /// Replaces an [`http`](Self::http) given before.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self.shared_http = None;
        self
    }

    /// Use this [`HttpClient`], both its clients (the one for requests that
    /// carry credentials and the one for calls), instead of building them:
    /// for the clients of many accounts (see
    /// [`AccountRegistry`](crate::AccountRegistry)), one `HttpClient` built
    /// once with [`HttpClient::new`] and cloned into each shares one
    /// connection pool and one TLS setup instead of one per account.
    /// Replaces [`http_settings`](Self::http_settings) and
    /// [`http_client`](Self::http_client) given before (the last of these
    /// calls wins). The client holds no cookies or other per-account state,
    /// so sharing it between accounts is safe.
    pub fn http(mut self, http: HttpClient) -> Self {
        self.shared_http = Some(http);
        self.client = None;
        self
    }

    /// Where sessions, the login lock and failure counts are kept. Default: a
    /// [`MemoryStore`] of this client's own. Share one store between clients,
    /// or use `auth-redis`, to share sessions.
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// How far ahead of expiry sessions are renewed. Default: the
    /// provider's ([`Provider::refresh_policy`]).
    pub fn refresh_policy(mut self, refresh: RefreshPolicy) -> Self {
        self.refresh = Some(refresh);
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

    /// The lease of the store's login lock. The process logging in extends
    /// it every third of the lease while its login runs, so a slow login
    /// never lets a second one start in parallel, and a process that dies
    /// mid-login holds others up for at most one lease. Default 10 s.
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.lock_lease = lease;
        self
    }

    /// The shortest time a session is used before the next login, whatever
    /// lifetime the provider states (a provider announcing tokens that
    /// expire at once would otherwise get a login per call). A rejection
    /// still allows an immediate re-login. Default 5 s; a warning names the
    /// provider's lifetime when it is below this floor.
    pub fn min_login_interval(mut self, floor: Duration) -> Self {
        self.min_login_interval = floor;
        self
    }

    /// The shortest time between two logins made because an answer
    /// [`MaybeRejected`](crate::Rejection::MaybeRejected) the session: a
    /// second such answer sooner is returned as it is, without a login.
    /// Must be positive. Default 10 minutes.
    pub fn speculative_relogin_interval(mut self, every: Duration) -> Self {
        self.speculative_interval = every;
        self
    }

    /// For an account with a lockout rule: make no login attempt while the
    /// token store is unreachable. Off by default: then each process spends
    /// at most one failed login per window on its own while the store is
    /// down, which keeps the provider's budget for fleets of up to that many
    /// processes (4 for Electa). Turn it on for larger fleets.
    pub fn fail_closed_when_store_down(mut self, fail_closed: bool) -> Self {
        self.fail_closed = fail_closed;
        self
    }

    /// Overrides the provider's per-session request limits
    /// ([`Provider::request_limits`]); `None` removes them (the service then
    /// refuses what exceeds its own). When several processes share one
    /// session through a store, give each its share:
    /// `provider_limits.shared_by(processes)`.
    pub fn request_limits(mut self, limits: Option<RequestLimits>) -> Self {
        self.limits = Some(limits);
        self
    }

    fn lockout(&self) -> Result<Option<LockoutRule>, AuthError> {
        let name = self.provider.name();
        let rule = match (self.provider.lockout_rule(), self.lockout) {
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
        if let Some(rule) = rule {
            rule.validate()?;
        }
        Ok(rule)
    }

    /// Builds the client, after checking every policy.
    pub fn build(self) -> Result<Authenticated<P>, AuthError> {
        let lockout = self.lockout()?;
        self.backoff.validate()?;
        if self.lock_poll.is_zero() {
            return Err(AuthError::config("lock_poll_interval must be positive"));
        }
        if self.speculative_interval.is_zero() {
            return Err(AuthError::config(
                "speculative_relogin_interval must be positive",
            ));
        }
        if self.lock_lease.is_zero() {
            return Err(AuthError::config("lock_lease must be positive"));
        }
        let limits = self
            .limits
            .unwrap_or_else(|| self.provider.request_limits());
        if let Some(limits) = &limits {
            limits.validate()?;
        }
        let credential_attempts = match lockout {
            Some(rule) => self.provider.credential_attempts().min(rule.max_failures),
            None => self.provider.credential_attempts(),
        };
        let http = match (self.shared_http, self.client) {
            (Some(shared), _) => shared,
            (None, Some(client)) => HttpClient::from_client(client, self.settings)?,
            (None, None) => HttpClient::new(self.settings)?,
        }
        .with_allowed_origins(self.allowed_origins)?;
        // One switch for plain HTTP: `HttpSettings::allow_insecure_http`.
        http.check_base_url(self.provider.base_url())?;
        let refresh = self
            .refresh
            .unwrap_or_else(|| self.provider.refresh_policy());
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let guard = LoginGuard::new(self.provider.name(), self.backoff, lockout)
            .with_credential_attempts(credential_attempts)
            .with_fail_closed_when_store_down(self.fail_closed);
        Ok(Authenticated::from_inner(Inner::new(
            self.provider,
            http,
            store,
            guard,
            refresh,
            crate::client::Timing {
                lock_poll: self.lock_poll,
                lock_lease: self.lock_lease,
                min_login_interval: self.min_login_interval,
                speculative_interval: self.speculative_interval,
            },
            limits.map(RequestGate::new),
        )))
    }
}
