//! Failed-login accounting: exponential back-off with jitter, and a lockout
//! rule that stops before the provider would lock the account.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::AuthError;
use crate::store::TokenStore;

/// Exponential back-off between failed logins.
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// "After `max_failures` failed logins within `window`, stop trying until the
/// window ends." Set it below the provider's own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutRule {
    /// Failed logins allowed within the window; the next attempt is refused
    /// locally with [`AuthError::LockedOut`].
    pub max_failures: u32,
    /// The window, counted from the first failure.
    pub window: Duration,
}

#[derive(Debug, Default)]
struct GuardState {
    login_failures: u32,
    rejection_streak: u32,
    not_before: Option<Instant>,
    last_error: Option<AuthError>,
}

/// Decides whether a login may be attempted now.
///
/// Two things make it wait: consecutive failed logins, and consecutive
/// sessions that were rejected before any request with them succeeded (a
/// fair-usage safeguard: a provider that keeps answering 401 must not be met
/// with a login per request).
#[derive(Debug)]
pub struct LoginGuard {
    provider: &'static str,
    backoff: BackoffPolicy,
    lockout: Option<LockoutRule>,
    state: Mutex<GuardState>,
}

impl LoginGuard {
    /// A guard with the given policies.
    pub fn new(
        provider: &'static str,
        backoff: BackoffPolicy,
        lockout: Option<LockoutRule>,
    ) -> Self {
        Self {
            provider,
            backoff,
            lockout,
            state: Mutex::new(GuardState::default()),
        }
    }

    /// The lockout rule in force.
    pub fn lockout_rule(&self) -> Option<LockoutRule> {
        self.lockout
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks whether a login may go out now. `store` holds the (possibly
    /// shared) failure count for the lockout rule; a store error is logged
    /// and the local count is used instead.
    pub async fn check(&self, store: &dyn TokenStore, key: &str) -> Result<(), AuthError> {
        {
            let state = self.state();
            if let Some(not_before) = state.not_before {
                let now = Instant::now();
                if now < not_before {
                    let retry_after = not_before - now;
                    let last_error =
                        state
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
                    return Err(AuthError::BackingOff {
                        provider: self.provider,
                        retry_after,
                        last_error: Box::new(last_error),
                    });
                }
            }
        }
        if let Some(rule) = self.lockout {
            let count = match store.failures(key, rule.window).await {
                Ok(count) => count,
                Err(e) => {
                    tracing::warn!(provider = self.provider, error = %e, "token store unavailable; using the local failure count");
                    let state = self.state();
                    crate::store::FailureCount {
                        count: state.login_failures,
                        resets_in: None,
                    }
                }
            };
            if count.count >= rule.max_failures {
                let retry_after = count.resets_in.unwrap_or(rule.window);
                tracing::warn!(
                    provider = self.provider,
                    failures = count.count,
                    retry_after_s = retry_after.as_secs(),
                    "login refused locally: the lockout limit is reached"
                );
                return Err(AuthError::LockedOut {
                    provider: self.provider,
                    retry_after,
                });
            }
        }
        Ok(())
    }

    /// Records a failed login.
    pub async fn record_failure(&self, store: &dyn TokenStore, key: &str, error: &AuthError) {
        let delay = {
            let mut state = self.state();
            state.login_failures = state.login_failures.saturating_add(1);
            let mut delay = self.backoff.delay(state.login_failures);
            if let AuthError::LockedOut { retry_after, .. } = error {
                delay = delay.max(*retry_after);
            }
            state.not_before = Some(Instant::now() + delay);
            state.last_error = Some(error.clone());
            delay
        };
        tracing::debug!(
            provider = self.provider,
            delay_ms = delay.as_millis() as u64,
            "login failed; backing off"
        );
        if let Some(rule) = self.lockout {
            let result = match error {
                // The provider itself says the account is locked: mirror that.
                AuthError::LockedOut { retry_after, .. } => {
                    store
                        .set_failures(key, rule.max_failures, *retry_after)
                        .await
                }
                // A request that never reached the server cannot count there.
                AuthError::Transport { source, .. } if source.is_connect() => Ok(()),
                _ => store
                    .record_failure(key, rule.window, Duration::ZERO)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = result {
                tracing::warn!(provider = self.provider, error = %e, "could not record the failed login in the token store");
            }
        }
    }

    /// Records a successful login.
    pub async fn record_success(&self, store: &dyn TokenStore, key: &str) {
        let had_failures = {
            let mut state = self.state();
            let had = state.login_failures > 0;
            state.login_failures = 0;
            state.last_error = None;
            // Keep a rejection back-off in force: it is lifted by a
            // productive session, not by a login.
            if state.rejection_streak < 2 {
                state.not_before = None;
            }
            had
        };
        if had_failures
            && self.lockout.is_some()
            && let Err(e) = store.reset_failures(key).await
        {
            tracing::warn!(provider = self.provider, error = %e, "could not reset the failure count in the token store");
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
        g.record_success(&store, "k").await;
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
        for _ in 0..4 {
            g.check(&store, "k").await.unwrap();
            g.record_failure(&store, "k", &bad()).await;
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
        g.record_success(&store, "k").await;
        assert!(
            g.check(&store, "k").await.is_err(),
            "a login alone does not lift it"
        );
        g.record_productive();
        g.check(&store, "k").await.unwrap();
    }
}
