//! Counters and histograms on the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`; without it every call here is a no-op).
//! Install any `metrics` recorder (Prometheus, StatsD ...) to export them.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `auth_logins_total` | counter | `provider`, `outcome` (`success`, `failure`) |
//! | `auth_login_duration_seconds` | histogram | `provider`, `outcome` |
//! | `auth_refreshes_total` | counter | `provider` |
//! | `auth_relogins_total` | counter | `provider` |
//! | `auth_local_refusals_total` | counter | `provider`, `outcome` (`backing_off`, `locked_out`, `credentials_blocked`) |
//! | `auth_store_degradations_total` | counter | `provider` |
//! | `auth_registry_builds_total` | counter | `provider` |
//! | `auth_registry_hits_total` | counter | `provider` |
//! | `auth_registry_evictions_total` | counter | `provider`, `outcome` (`idle`, `bound`) |
//!
//! Labels are the provider and the outcome only, never an account: one
//! process may hold thousands of accounts, and a per-account label would
//! multiply every series by them.

use std::time::Duration;

use crate::AuthError;

/// A login that reached the provider (or timed out), and how long it took.
pub(crate) fn login(provider: &'static str, ok: bool, took: Duration) {
    let outcome = if ok { "success" } else { "failure" };
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("auth_logins_total", "provider" => provider, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("auth_login_duration_seconds", "provider" => provider, "outcome" => outcome)
            .record(took.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, outcome, took);
}

/// A login made ahead of expiry.
pub(crate) fn refresh(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_refreshes_total", "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

/// A login made because a session was rejected.
pub(crate) fn relogin(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_relogins_total", "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

/// A login the client refused itself (`error` is what the caller got).
pub(crate) fn local_refusal(provider: &'static str, error: &AuthError) {
    let outcome = match error {
        AuthError::BackingOff { .. } => "backing_off",
        AuthError::LockedOut { .. } => "locked_out",
        AuthError::CredentialsBlocked { .. } => "credentials_blocked",
        AuthError::StaleCredentials { .. } => "stale_credentials",
        _ => return,
    };
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_local_refusals_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, outcome);
}

/// The token store failed and the client went on without it.
pub(crate) fn store_degraded(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_store_degradations_total", "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

/// A client built by an [`AccountRegistry`](crate::AccountRegistry).
pub(crate) fn registry_build(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_registry_builds_total", "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

/// A registry call answered with a client the registry held.
pub(crate) fn registry_hit(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_registry_hits_total", "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

/// An account evicted from a registry: `idle`, or at the `bound`.
pub(crate) fn registry_eviction(provider: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_registry_evictions_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, outcome);
}
