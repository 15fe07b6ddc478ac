//! [`RequestLimits`]: the per-session request limits a provider's service
//! enforces, as the client honours them.

use std::time::Duration;

use crate::AuthError;

/// How many requests one session may have in flight and start per window.
///
/// A provider declares its service's limits with
/// [`Provider::request_limits`](crate::Provider::request_limits) (Wialon: 9
/// in flight and 9 per second, below the service's 10); override them with
/// [`AuthenticatedBuilder::request_limits`](crate::AuthenticatedBuilder::request_limits).
/// Every request that uses the session ([`send`](crate::Authenticated::send),
/// the middleware, keep-alive, logout) takes a permit first: requests beyond
/// the limits wait their turn, in order, instead of being refused by the
/// service. A permit is held until the response body is read or dropped.
///
/// ```
/// use std::time::Duration;
/// use auth_core::RequestLimits;
///
/// let wialon = RequestLimits::new()
///     .max_in_flight(9)
///     .max_requests(9, Duration::from_secs(1));
/// // Three processes share one session through a store: each takes a third.
/// let share = wialon.shared_by(3);
/// assert_eq!(share.in_flight(), Some(3));
/// assert_eq!(share.rate(), Some((3, Duration::from_secs(1))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestLimits {
    in_flight: Option<u32>,
    rate: Option<(u32, Duration)>,
}

impl RequestLimits {
    /// No limit at all (add some with the methods below).
    pub const fn new() -> Self {
        Self {
            in_flight: None,
            rate: None,
        }
    }

    /// At most `max` requests of the session in flight at once.
    pub const fn max_in_flight(mut self, max: u32) -> Self {
        self.in_flight = Some(max);
        self
    }

    /// At most `max` requests in any `window`, wherever the window falls.
    /// A request counts from when it is sent until one window after its
    /// answer came: the service counts arrivals, which lie between the two,
    /// so it never sees more than `max` in a window however the network
    /// delays requests. The rate achieved is `max` per window plus response
    /// time.
    pub const fn max_requests(mut self, max: u32, window: Duration) -> Self {
        self.rate = Some((max, window));
        self
    }

    /// This process's share when `processes` processes use one session
    /// (through a shared store): each limit divided by `processes`,
    /// rounded down, at least 1. `0` counts as 1.
    pub fn shared_by(self, processes: u32) -> Self {
        let processes = processes.max(1);
        let share = |n: u32| (n / processes).max(1);
        Self {
            in_flight: self.in_flight.map(share),
            rate: self.rate.map(|(n, window)| (share(n), window)),
        }
    }

    /// The most requests in flight at once, if limited.
    pub const fn in_flight(&self) -> Option<u32> {
        self.in_flight
    }

    /// The most requests started per window, and the window, if limited.
    pub const fn rate(&self) -> Option<(u32, Duration)> {
        self.rate
    }

    /// Checks that the limits let requests through: at least one in
    /// flight, a positive count per positive window. Builders call it.
    pub fn validate(&self) -> Result<(), AuthError> {
        if self.in_flight == Some(0) {
            return Err(AuthError::config(
                "request limits: at least one request must be allowed in flight",
            ));
        }
        if let Some((max, window)) = self.rate
            && (max == 0 || window.is_zero())
        {
            return Err(AuthError::config(
                "request limits: the rate needs a positive count and a positive window",
            ));
        }
        Ok(())
    }
}
