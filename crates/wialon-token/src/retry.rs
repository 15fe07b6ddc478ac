//! Back-off for requests refused by a per-session limit (Wialon error 10
//! "reached limit of concurrent requests" and 1003 "only one request is
//! allowed at the moment"): the request was not executed, so
//! [`WialonClientExt::call`](crate::WialonClientExt::call) waits and sends it
//! again, and callers queue instead of failing.

use std::time::Duration;

/// How [`WialonClientExt::call`](crate::WialonClientExt::call) retries a request
/// refused by a per-session limit (10, 1003).
///
/// Retry `n` (from 0) waits a random time between half and all of
/// `initial * 2^n`; after `max_retries` retries the refusal is returned
/// (an [`AuthError::Api`](crate::AuthError::Api) with `retryable` set).
///
/// ```
/// use std::time::Duration;
/// use wialon_token::LimitRetry;
/// let retry = LimitRetry::default();
/// assert_eq!(retry.max_retries, 3);
/// assert_eq!(retry.initial, Duration::from_millis(100));
/// assert!(retry.delay(2) <= Duration::from_millis(400));
/// assert!(retry.delay(2) >= Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRetry {
    /// Retries after the first refusal (0 disables retrying).
    pub max_retries: u32,
    /// The first back-off; it doubles with each retry.
    pub initial: Duration,
}

impl Default for LimitRetry {
    /// 3 retries, from 100 ms (at most 100 + 200 + 400 ms of waiting).
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial: Duration::from_millis(100),
        }
    }
}

impl LimitRetry {
    /// No retry: a refusal is returned at once.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            initial: Duration::ZERO,
        }
    }

    /// The wait before retry `n` (from 0): uniformly random in
    /// `[d/2, d]`, `d = initial * 2^n` (jitter spreads a burst's retries).
    pub fn delay(&self, n: u32) -> Duration {
        let full = self.initial.saturating_mul(1u32 << n.min(16));
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(fastrand::u64(0..=spread))
    }
}
