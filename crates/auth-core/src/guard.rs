//! Failed-login accounting: exponential back-off with jitter, and a lockout
//! rule that stops before the provider would lock the account.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::AuthError;
use crate::store::{FailureCount, TokenStore};

/// Exponential back-off between failed logins: [`Default`] or
/// [`none`](Self::none), adjusted with setters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BackoffPolicy {
    /// Wait after the first failure. Default 500 ms.
    pub initial: Duration,
    /// Upper bound on the wait. Default 60 s.
    pub max: Duration,
    /// Growth factor per consecutive failure. Default 2.
    pub multiplier: f64,
    /// Random spread, as a fraction of the wait (0.2 = ±20 %). Default 0.2.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl BackoffPolicy {
    /// No back-off at all (for tests of other behaviour).
    pub fn none() -> Self {
        Self {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            multiplier: 1.0,
            jitter: 0.0,
        }
    }

    /// Sets [`initial`](Self::initial).
    #[must_use]
    pub const fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// Sets [`max`](Self::max).
    #[must_use]
    pub const fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets [`multiplier`](Self::multiplier).
    #[must_use]
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub const fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The wait after `failures` consecutive failures (0 for none).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 || self.initial.is_zero() {
            return Duration::ZERO;
        }
        let exp = self
            .multiplier
            .powi(failures.saturating_sub(1).min(30) as i32);
        let base = self.initial.as_secs_f64() * exp;
        let spread = 1.0 + self.jitter * (2.0 * fastrand::f64() - 1.0);
        Duration::from_secs_f64((base * spread).min(self.max.as_secs_f64()))
    }
}

impl BackoffPolicy {
    /// Checks that no delay computed from this policy can panic or run
    /// backwards.
    pub fn validate(&self) -> Result<(), AuthError> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(AuthError::config(format!(
                "back-off jitter must be between 0 and 1, not {}",
                self.jitter
            )));
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(AuthError::config(format!(
                "back-off multiplier must be a finite number of at least 1, not {}",
                self.multiplier
            )));
        }
        if self.initial > self.max {
            return Err(AuthError::config(
                "back-off initial delay must not exceed its maximum",
            ));
        }
        Ok(())
    }
}

/// "At most `max_failures` failed logins may reach the provider within any
/// `window`" (a sliding window: each failure counts for `window` from its own
/// time). Set it below the provider's own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockoutRule {
    /// Failed logins allowed within any window; the next attempt is refused
    /// locally with [`AuthError::LockedOut`].
    pub max_failures: u32,
    /// The sliding window.
    pub window: Duration,
}

impl LockoutRule {
    /// At most `max_failures` failed logins within any `window`.
    pub const fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
        }
    }

    /// Checks that the rule can be enforced.
    pub fn validate(&self) -> Result<(), AuthError> {
        if self.max_failures == 0 || self.window.is_zero() {
            return Err(AuthError::config(
                "a lockout rule needs at least one allowed failure and a positive window",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct GuardState {
    /// Consecutive failed logins (for back-off).
    login_failures: u32,
    /// Consecutive credential rejections.
    credential_streak: u32,
    /// Set once `credential_streak` reaches the budget.
    blocked: bool,
    rejection_streak: u32,
    not_before: Option<Instant>,
    last_error: Option<AuthError>,
    /// This process's own failed logins that count against the lockout rule.
    own_failures: VecDeque<Instant>,
    /// Of those, the ones not yet written to the store (it was unreachable).
    unrecorded: Vec<Instant>,
}

/// Decides whether a login may be attempted now.
///
/// * consecutive failed logins back off (honouring a provider's
///   `Retry-After`);
/// * consecutive sessions rejected before any request with them succeeded
///   back off too (a fair-usage safeguard: a provider that keeps answering
///   401 must not be met with a login per request);
/// * a [`LockoutRule`] is a budget of failed logins in a sliding window,
///   shared through the store; only failures that may have been processed
///   count ([`AuthError::counts_as_login_attempt`]);
/// * after the provider's budget of credential rejections in a row the
///   guard stops for good ([`AuthError::CredentialsBlocked`]) until
///   [`reset`](Self::reset);
/// * while the store is unreachable, a process spends at most one failure
///   per window on its own (written to the store when it returns), or none
///   at all with `fail_closed_when_store_down`.
#[derive(Debug)]
pub struct LoginGuard {
    provider: &'static str,
    backoff: BackoffPolicy,
    lockout: Option<LockoutRule>,
    credential_attempts: u32,
    fail_closed: bool,
    state: Mutex<GuardState>,
}

impl LoginGuard {
    /// A guard with the given policies, a budget of 3 credential rejections
    /// in a row (the rule's budget when there is a rule), failing open.
    pub fn new(
        provider: &'static str,
        backoff: BackoffPolicy,
        lockout: Option<LockoutRule>,
    ) -> Self {
        Self {
            provider,
            backoff,
            lockout,
            credential_attempts: lockout.map_or(3, |rule| rule.max_failures),
            fail_closed: false,
            state: Mutex::new(GuardState::default()),
        }
    }

    /// Credential rejections in a row before the guard stops for good.
    #[must_use]
    pub fn with_credential_attempts(mut self, attempts: u32) -> Self {
        self.credential_attempts = attempts.max(1);
        self
    }

    /// With a lockout rule: no login at all while the store is unreachable
    /// (for fleets larger than the rule's budget).
    #[must_use]
    pub fn with_fail_closed_when_store_down(mut self, fail_closed: bool) -> Self {
        self.fail_closed = fail_closed;
        self
    }

    /// The lockout rule in force.
    pub fn lockout_rule(&self) -> Option<LockoutRule> {
        self.lockout
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a login may go out now as far as this process knows (no
    /// back-off or block in force); the store is not asked.
    pub fn may_attempt_now(&self) -> bool {
        let state = self.state();
        !state.blocked && state.not_before.is_none_or(|t| Instant::now() >= t)
    }

    /// Checks whether a login may go out now. `store` holds the (possibly
    /// shared) failure window for the lockout rule.
    pub async fn check(&self, store: &dyn TokenStore, key: &str) -> Result<(), AuthError> {
        self.check_local()?;
        let Some(rule) = self.lockout else {
            return Ok(());
        };
        self.write_unrecorded(store, key, rule).await;
        let stored = match store.failures(key, rule.window).await {
            Ok(count) => count,
            Err(error) => return self.check_store_down(rule, &error),
        };
        // A store that lost its data (a Redis restart without persistence)
        // forgets failures; this process still counts its own.
        let count = self.own_failures(rule).max_by(stored);
        if count.count >= rule.max_failures {
            let retry_after = count.resets_in.unwrap_or(rule.window);
            tracing::warn!(
                provider = self.provider,
                failures = count.count,
                retry_after_s = retry_after.as_secs(),
                "login refused locally: the lockout budget is spent"
            );
            return Err(AuthError::LockedOut {
                provider: self.provider,
                retry_after,
            });
        }
        Ok(())
    }

    fn check_local(&self) -> Result<(), AuthError> {
        let state = self.state();
        if state.blocked {
            return Err(AuthError::CredentialsBlocked {
                provider: self.provider,
                failures: state.credential_streak,
            });
        }
        let Some(not_before) = state.not_before else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= not_before {
            return Ok(());
        }
        let retry_after = not_before - now;
        let last_error = state
            .last_error
            .clone()
            .unwrap_or(AuthError::SessionRejected {
                provider: self.provider,
                retried: true,
            });
        if let AuthError::LockedOut { .. } = last_error {
            return Err(AuthError::LockedOut {
                provider: self.provider,
                retry_after,
            });
        }
        Err(AuthError::BackingOff {
            provider: self.provider,
            retry_after,
            last_error: Box::new(last_error),
        })
    }

    /// This process's own counted failures within the rule's window.
    fn own_failures(&self, rule: LockoutRule) -> FailureCount {
        let now = Instant::now();
        let mut state = self.state();
        while state
            .own_failures
            .front()
            .is_some_and(|t| *t + rule.window <= now)
        {
            state.own_failures.pop_front();
        }
        FailureCount {
            count: u32::try_from(state.own_failures.len()).unwrap_or(u32::MAX),
            resets_in: state.own_failures.front().map(|t| (*t + rule.window) - now),
        }
    }

    /// The store is unreachable: this process may spend one failure per
    /// window on its own (so the rule holds for fleets up to its budget),
    /// or none when failing closed.
    fn check_store_down(&self, rule: LockoutRule, error: &AuthError) -> Result<(), AuthError> {
        if self.fail_closed {
            return Err(AuthError::Store(format!(
                "{error}; no login is attempted for an account with a lockout rule while the token store is unreachable (fail_closed_when_store_down)"
            )));
        }
        crate::metrics::store_degraded(self.provider);
        if self.own_failures(rule).count == 0 {
            tracing::warn!(provider = self.provider, %error, "token store unavailable; this process may spend one failed login of the window on its own");
            return Ok(());
        }
        let newest = self.state().own_failures.back().copied();
        let retry_after = newest.map_or(rule.window, |t| (t + rule.window) - Instant::now());
        tracing::warn!(
            provider = self.provider,
            %error,
            "token store unavailable and this process spent its one failed login of the window; login refused locally"
        );
        Err(AuthError::LockedOut {
            provider: self.provider,
            retry_after,
        })
    }

    /// Writes failures recorded while the store was unreachable.
    async fn write_unrecorded(&self, store: &dyn TokenStore, key: &str, rule: LockoutRule) {
        let pending = std::mem::take(&mut self.state().unrecorded);
        let mut left = Vec::new();
        for at in pending {
            let ago = Instant::now().saturating_duration_since(at);
            if ago >= rule.window {
                continue;
            }
            if store.record_failure(key, rule.window, ago).await.is_err() {
                left.push(at);
            }
        }
        if !left.is_empty() {
            self.state().unrecorded.extend(left);
        }
    }

    /// Records a failed login.
    pub async fn record_failure(&self, store: &dyn TokenStore, key: &str, error: &AuthError) {
        let counted = self.lockout.is_some() && error.counts_as_login_attempt();
        let now = Instant::now();
        let delay = {
            let mut state = self.state();
            state.login_failures = state.login_failures.saturating_add(1);
            let delay = self
                .backoff
                .delay(state.login_failures)
                .max(error.retry_after().unwrap_or(Duration::ZERO));
            state.not_before = Some(now + delay);
            state.last_error = Some(error.clone());
            if error.is_invalid_credentials() {
                state.credential_streak = state.credential_streak.saturating_add(1);
                if state.credential_streak >= self.credential_attempts {
                    state.blocked = true;
                    tracing::error!(
                        provider = self.provider,
                        failures = state.credential_streak,
                        "credentials rejected repeatedly; no more logins until the credentials are replaced or the client is reset"
                    );
                }
            }
            if counted {
                state.own_failures.push_back(now);
            }
            delay
        };
        tracing::debug!(
            provider = self.provider,
            delay_ms = delay.as_millis() as u64,
            "login failed; backing off"
        );
        let Some(rule) = self.lockout else { return };
        let result = match error {
            // The provider itself says the account is locked: mirror that.
            AuthError::LockedOut { retry_after, .. } => {
                store
                    .set_failures(key, rule.max_failures, *retry_after)
                    .await
            }
            _ if counted => store
                .record_failure(key, rule.window, Duration::ZERO)
                .await
                .map(|_| ()),
            _ => Ok(()),
        };
        if let Err(e) = result {
            crate::metrics::store_degraded(self.provider);
            tracing::warn!(provider = self.provider, error = %e, "could not record the failed login in the token store; it is kept here and written when the store returns");
            if counted {
                self.state().unrecorded.push(now);
            }
        }
    }

    /// Records a successful login. Failures in the lockout window stay
    /// counted: a success does not undo what the provider counted.
    pub fn record_success(&self) {
        let mut state = self.state();
        state.login_failures = 0;
        state.credential_streak = 0;
        state.last_error = None;
        // Keep a rejection back-off in force: it is lifted by a productive
        // session, not by a login.
        if state.rejection_streak < 2 {
            state.not_before = None;
        }
    }

    /// Lifts the block after repeated credential rejections and every
    /// back-off (after the credentials were fixed). Failures that count
    /// against the lockout rule stay counted.
    pub fn reset(&self) {
        let mut state = self.state();
        state.login_failures = 0;
        state.credential_streak = 0;
        state.blocked = false;
        state.rejection_streak = 0;
        state.not_before = None;
        state.last_error = None;
    }

    /// New secrets were configured (a credential rotation): the block after
    /// repeated credential rejections is lifted, and so is a back-off caused
    /// by a credential rejection. A back-off for any other cause (throttling,
    /// a provider's lockout) and every failure counted against the lockout
    /// rule stay in force: the provider counted them whatever the secret.
    pub fn credentials_replaced(&self) {
        let mut state = self.state();
        state.credential_streak = 0;
        state.blocked = false;
        if state
            .last_error
            .as_ref()
            .is_some_and(AuthError::is_invalid_credentials)
        {
            state.login_failures = 0;
            state.not_before = None;
            state.last_error = None;
        }
    }

    /// Records that a session was rejected before any request with it
    /// succeeded. The first such rejection allows an immediate re-login; each
    /// further one in a row backs off.
    pub fn record_unproductive_rejection(&self) {
        let mut state = self.state();
        state.rejection_streak = state.rejection_streak.saturating_add(1);
        if state.rejection_streak >= 2 {
            let delay = self.backoff.delay(state.rejection_streak - 1);
            state.not_before = Some(Instant::now() + delay);
            state.last_error = Some(AuthError::SessionRejected {
                provider: self.provider,
                retried: true,
            });
        }
    }

    /// Records that a request with a session succeeded: the provider accepts
    /// our sessions, so rejection back-off is lifted.
    pub fn record_productive(&self) {
        let mut state = self.state();
        if state.rejection_streak > 0 {
            state.rejection_streak = 0;
            if state.login_failures == 0 {
                state.not_before = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn bad() -> AuthError {
        AuthError::InvalidCredentials {
            provider: "t",
            message: "nope".into(),
            source: None,
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = BackoffPolicy {
            jitter: 0.0,
            ..BackoffPolicy::default()
        };
        assert_eq!(p.delay(0), Duration::ZERO);
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(2), Duration::from_secs(1));
        assert_eq!(p.delay(3), Duration::from_secs(2));
        assert_eq!(p.delay(40), Duration::from_secs(60));
        let j = BackoffPolicy::default();
        for _ in 0..100 {
            let d = j.delay(2);
            assert!(d >= Duration::from_millis(800) && d <= Duration::from_millis(1200));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_then_allow() {
        let store = MemoryStore::new();
        let g = LoginGuard::new(
            "t",
            BackoffPolicy {
                jitter: 0.0,
                ..Default::default()
            },
            None,
        );
        g.check(&store, "k").await.unwrap();
        g.record_failure(&store, "k", &bad()).await;
        let err = g.check(&store, "k").await.unwrap_err();
        assert!(matches!(err, AuthError::BackingOff { .. }), "{err:?}");
        assert!(err.to_string().contains("rejected the credentials"));
        tokio::time::advance(Duration::from_millis(501)).await;
        g.check(&store, "k").await.unwrap();
        g.record_failure(&store, "k", &bad()).await;
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(
            g.check(&store, "k").await.is_err(),
            "second failure waits 1 s"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        g.check(&store, "k").await.unwrap();
        g.record_success();
        g.check(&store, "k").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn lockout_rule_refuses_then_recovers() {
        let store = MemoryStore::new();
        let rule = LockoutRule {
            max_failures: 4,
            window: Duration::from_secs(900),
        };
        let g = LoginGuard::new("t", BackoffPolicy::none(), Some(rule));
        let server_error = AuthError::UnexpectedResponse {
            provider: "t",
            status: Some(500),
            detail: "boom".into(),
        };
        for _ in 0..4 {
            g.check(&store, "k").await.unwrap();
            g.record_failure(&store, "k", &server_error).await;
        }
        match g.check(&store, "k").await {
            Err(AuthError::LockedOut { retry_after, .. }) => {
                assert_eq!(retry_after, Duration::from_secs(900));
            }
            other => panic!("expected LockedOut, got {other:?}"),
        }
        tokio::time::advance(Duration::from_secs(901)).await;
        g.check(&store, "k").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_unproductive_rejections_back_off() {
        let store = MemoryStore::new();
        let g = LoginGuard::new(
            "t",
            BackoffPolicy {
                jitter: 0.0,
                ..Default::default()
            },
            None,
        );
        g.record_unproductive_rejection();
        g.check(&store, "k").await.unwrap();
        g.record_unproductive_rejection();
        assert!(g.check(&store, "k").await.is_err());
        g.record_success();
        assert!(
            g.check(&store, "k").await.is_err(),
            "a login alone does not lift it"
        );
        g.record_productive();
        g.check(&store, "k").await.unwrap();
    }
}
