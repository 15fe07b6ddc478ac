//! Per-session request limits of the Wialon simulator.
//!
//! The public record (docs.wialon.com "Limitations"; sdk.wialon.com
//! `remoteapi/apiref/limits/limits`): during one session the service
//! processes no more than 10 API requests at the same time and no more than
//! 10 `avl_evts` requests in 10 seconds. The errors table
//! (sdk.wialon.com `remoteapi/apiref/errors/errors`) documents code 10
//! "reached limit of concurrent requests" and code 1003 with the reason
//! `LIMIT api_concurrent`; which of the two a refused request gets is not
//! stated, so the reply is configurable.
//!
//! py-aiowialon also limits itself to 10 requests per second per session;
//! that is a client-side choice, not a documented server limit, so the
//! simulator's per-second limit is off by default.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

/// Reason of the 1003 reply for the concurrent-request limit (errors table,
/// "1003 reason 2").
pub const API_CONCURRENT_REASON: &str = "LIMIT api_concurrent";

/// What a request refused by a session limit is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitReply {
    /// `{"error":10}` ("reached limit of concurrent requests").
    Error10,
    /// `{"error":1003,"reason":<reason>}`.
    Error1003(String),
}

impl LimitReply {
    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            Self::Error10 => json!({"error": 10}),
            Self::Error1003(reason) => json!({"error": 1003, "reason": reason}),
        }
    }
}

/// Per-session (`sid`) limits. [`Default`] follows the public record;
/// [`SessionLimits::off`] disables every limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLimits {
    /// `ajax.html` requests of one session in progress at once. Default
    /// `Some(10)` (documented).
    pub max_concurrent_per_session: Option<usize>,
    /// `ajax.html` requests of one session started in any one-second
    /// window. Default `None` (py-aiowialon's own 10/s is not a documented
    /// server limit).
    pub max_requests_per_second_per_session: Option<usize>,
    /// `avl_evts` requests of one session in any 10-second window. Default
    /// `Some(10)` (documented).
    pub max_avl_evts_per_10s: Option<usize>,
    /// The answer when the concurrent limit is exceeded. Default
    /// `{"error":1003,"reason":"LIMIT api_concurrent"}`.
    pub concurrent_reply: LimitReply,
    /// The answer when a rate limit is exceeded. Default `{"error":10}`.
    pub rate_reply: LimitReply,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_concurrent_per_session: Some(10),
            max_requests_per_second_per_session: None,
            max_avl_evts_per_10s: Some(10),
            concurrent_reply: LimitReply::Error1003(API_CONCURRENT_REASON.to_owned()),
            rate_reply: LimitReply::Error10,
        }
    }
}

impl SessionLimits {
    /// No limit at all.
    pub fn off() -> Self {
        Self {
            max_concurrent_per_session: None,
            max_requests_per_second_per_session: None,
            max_avl_evts_per_10s: None,
            ..Self::default()
        }
    }
}

#[derive(Debug, Default)]
struct PerSession {
    in_flight: usize,
    recent: VecDeque<Instant>,
    recent_evts: VecDeque<Instant>,
}

/// Bookkeeping entries kept before stale ones are pruned.
const PRUNE_ABOVE: usize = 1024;

impl PerSession {
    /// Nothing in progress and nothing counted in a window.
    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.recent.is_empty() && self.recent_evts.is_empty()
    }

    /// Whether the entry still matters: a request in progress, or a request
    /// within the longest window (10 s).
    fn is_live(&self, now: Instant) -> bool {
        let window = Duration::from_secs(10);
        self.in_flight > 0
            || self
                .recent
                .iter()
                .chain(&self.recent_evts)
                .any(|t| now.saturating_duration_since(*t) < window)
    }
}

/// Drops the entries of sessions that no longer count against any limit.
fn prune(sessions: &mut HashMap<String, PerSession>) {
    if sessions.len() > PRUNE_ABOVE {
        let now = Instant::now();
        sessions.retain(|_, s| s.is_live(now));
    }
}

/// Limit bookkeeping, per `sid`.
#[derive(Debug)]
pub(super) struct Limiter {
    limits: Mutex<SessionLimits>,
    sessions: Arc<Mutex<HashMap<String, PerSession>>>,
    refused: Mutex<u64>,
}

/// A request slot; frees itself when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    sessions: Arc<Mutex<HashMap<String, PerSession>>>,
    sid: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sessions.get_mut(&self.sid) {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.is_idle() {
                sessions.remove(&self.sid);
            }
        }
    }
}

/// Counts the instants of `window` ending now; admits one more if below
/// `max`.
fn admit(recent: &mut VecDeque<Instant>, max: Option<usize>, window: Duration) -> bool {
    let Some(max) = max else { return true };
    let now = Instant::now();
    while recent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        recent.pop_front();
    }
    if recent.len() >= max {
        return false;
    }
    recent.push_back(now);
    true
}

impl Limiter {
    pub(super) fn new(limits: SessionLimits) -> Self {
        Self {
            limits: Mutex::new(limits),
            sessions: Arc::new(Mutex::new(HashMap::new())),
            refused: Mutex::new(0),
        }
    }

    pub(super) fn set(&self, limits: SessionLimits) {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
    }

    /// `ajax.html` requests in progress, over all sessions.
    pub(super) fn in_flight(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|s| s.in_flight)
            .sum()
    }

    pub(super) fn refused(&self) -> u64 {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, reply: &LimitReply) -> Value {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        reply.body()
    }

    /// Admits an `ajax.html` request of session `sid`: a slot held until
    /// the answer is ready, or the refusal to send.
    pub(super) fn enter(&self, sid: &str) -> Result<Slot, Value> {
        let limits = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut sessions);
        let s = sessions.entry(sid.to_owned()).or_default();
        if limits
            .max_concurrent_per_session
            .is_some_and(|max| s.in_flight >= max)
        {
            drop(sessions);
            return Err(self.refuse(&limits.concurrent_reply));
        }
        if !admit(
            &mut s.recent,
            limits.max_requests_per_second_per_session,
            Duration::from_secs(1),
        ) {
            drop(sessions);
            return Err(self.refuse(&limits.rate_reply));
        }
        s.in_flight += 1;
        Ok(Slot {
            sessions: Arc::clone(&self.sessions),
            sid: sid.to_owned(),
        })
    }

    /// Admits an `avl_evts` request of session `sid`.
    pub(super) fn enter_avl_evts(&self, sid: &str) -> Result<(), Value> {
        let limits = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut sessions);
        let s = sessions.entry(sid.to_owned()).or_default();
        if admit(
            &mut s.recent_evts,
            limits.max_avl_evts_per_10s,
            Duration::from_secs(10),
        ) {
            Ok(())
        } else {
            drop(sessions);
            Err(self.refuse(&limits.rate_reply))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_of_finished_sessions_is_dropped() {
        let limiter = Limiter::new(SessionLimits::default());
        drop(limiter.enter("a").unwrap());
        // No window is counted for ajax.html by default: nothing is kept.
        assert!(limiter.sessions.lock().unwrap().is_empty());
        // avl_evts is counted for 10 s; stale entries go once there are many.
        limiter.enter_avl_evts("b").unwrap();
        assert_eq!(limiter.sessions.lock().unwrap().len(), 1);
        let mut sessions = limiter.sessions.lock().unwrap();
        for i in 0..=PRUNE_ABOVE {
            sessions.insert(format!("old{i}"), PerSession::default());
        }
        prune(&mut sessions);
        assert_eq!(sessions.len(), 1, "only the live entry stays");
        assert!(sessions.contains_key("b"));
    }
}
