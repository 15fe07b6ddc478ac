//! Sessions: a secret token, when it was issued, how it expires, and the
//! provider's data that came with it.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// How a session's token stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Expiry {
    /// At a wall-clock time the provider stated (Plaspy `expires`, a CTC
    /// cookie's `Expires`).
    At(DateTime<Utc>),
    /// A fixed time after issue (Electa: 20 minutes).
    AfterIssue(Duration),
    /// After this long without a request (Wialon: 5 minutes, cielo24: 1 hour).
    /// Every call made with the session slides the deadline.
    Idle(Duration),
    /// Until the provider rejects it (CTC cookie without `Expires`).
    UntilRejected,
}

/// What a provider's login returns; the client turns it into a [`Session`].
#[derive(Debug)]
pub struct NewSession<D> {
    /// The secret token.
    pub token: SecretString,
    /// How the token expires.
    pub expiry: Expiry,
    /// Provider data that came with the login (user info, session ids ...).
    pub data: D,
    /// The server's clock when it answered (its `Date` header). With an
    /// [`Expiry::At`], the lifetime is measured on the server's clock
    /// (`expires - server_date`), so a local clock that disagrees with the
    /// server's neither renews late nor throws tokens away early.
    pub server_date: Option<DateTime<Utc>>,
}

impl<D> NewSession<D> {
    /// A new session with the given token, expiry and data.
    pub fn new(token: SecretString, expiry: Expiry, data: D) -> Self {
        Self {
            token,
            expiry,
            data,
            server_date: None,
        }
    }

    /// The server's clock when it answered, e.g. from
    /// [`http::server_date`](crate::http::server_date).
    #[must_use]
    pub fn with_server_date(mut self, server_date: Option<DateTime<Utc>>) -> Self {
        self.server_date = server_date;
        self
    }

    /// The lifetime the provider granted, measured on the server's clock when
    /// its `Date` is known. `None` for sessions without a fixed deadline.
    pub fn lifetime(&self) -> Option<Duration> {
        match self.expiry {
            Expiry::At(at) => {
                let reference = self.server_date.unwrap_or_else(Utc::now);
                Some((at - reference).to_std().unwrap_or(Duration::ZERO))
            }
            Expiry::AfterIssue(d) => Some(d),
            Expiry::Idle(_) | Expiry::UntilRejected => None,
        }
    }
}

/// Where a session stands on its way to expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Valid and not due for refresh.
    Fresh,
    /// Valid, but inside the refresh margin: one caller should renew it.
    RefreshDue,
    /// Expired (or about to, within the safety margin): do not use.
    Expired,
}

/// An authenticated session.
///
/// `Debug` shows the token as `[REDACTED]`; there is no `Display`. Use
/// [`Session::token`] and `secrecy::ExposeSecret` where the provider's API
/// needs the token in a request.
pub struct Session<D> {
    token: SecretString,
    issued_at: DateTime<Utc>,
    expiry: Expiry,
    data: D,
    generation: u64,
    /// Instant the session was created in this process (tokio's clock, so
    /// paused-time tests control it).
    created: Instant,
    /// Hard deadline for `At` and `AfterIssue`.
    deadline: Option<Instant>,
    /// When to start refreshing (deadline minus margin and jitter).
    refresh_at: Option<Instant>,
    /// Treat the session as expired this long before its deadline.
    safety: Duration,
    /// For `Idle`: nanoseconds after `created` of the last use.
    last_used: AtomicU64,
    /// For `Idle`: nanoseconds after `created` of the last time the store's
    /// copy had its TTL extended.
    last_store_touch: AtomicU64,
    /// Set once a request made with this session was accepted.
    productive: AtomicBool,
    /// Set when the provider first rejected this session.
    rejected: AtomicBool,
    /// Taken from the store rather than obtained by a login of this client.
    adopted: bool,
    /// Codes of "maybe rejected" answers that this session also got right
    /// after the login that made it: API errors, not rejections, until the
    /// next login.
    not_rejections: Mutex<Vec<String>>,
    /// The store's fingerprint of the secret that logged in, when known.
    pub(crate) credentials: Option<String>,
}

impl<D: fmt::Debug> fmt::Debug for Session<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &"[REDACTED]")
            .field("issued_at", &self.issued_at)
            .field("expiry", &self.expiry)
            .field("generation", &self.generation)
            .field("data", &self.data)
            .finish()
    }
}

/// Safety margin: a session this close to its deadline counts as expired, so
/// a request does not leave with a token that dies in flight. Short-lived
/// sessions use a tenth of their lifetime instead.
const EXPIRY_SAFETY: Duration = Duration::from_secs(1);

/// Longest lifetime taken literally; longer ones (`Duration::MAX` as "never")
/// are capped so deadline arithmetic cannot overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `base + d`, with `d` capped at [`MAX_LIFETIME`].
fn add_capped(base: Instant, d: Duration) -> Instant {
    base.checked_add(d.min(MAX_LIFETIME)).unwrap_or(base)
}

fn safety_for(lifetime: Duration) -> Duration {
    EXPIRY_SAFETY.min(lifetime / 10)
}

/// How far ahead of expiry a session is renewed.
///
/// ```
/// use std::time::Duration;
/// use auth_core::RefreshPolicy;
/// let policy = RefreshPolicy::new(Duration::from_secs(120), Duration::from_secs(30));
/// assert_eq!(policy.margin, Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// Renew this long before the deadline. Default 60 s.
    pub margin: Duration,
    /// Add up to this much random extra margin, so a fleet does not renew in
    /// lock step. Default 15 s.
    pub jitter: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            jitter: Duration::from_secs(15),
        }
    }
}

impl RefreshPolicy {
    /// Renew `margin` before the deadline, plus up to `jitter` at random.
    pub const fn new(margin: Duration, jitter: Duration) -> Self {
        Self { margin, jitter }
    }

    /// Sets [`margin`](Self::margin).
    #[must_use]
    pub const fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub const fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The instant to start refreshing a session living from `start` to
    /// `deadline`. Never more than half the lifetime before the deadline, so
    /// short-lived tokens are still used before being renewed.
    fn refresh_at(&self, start: Instant, deadline: Instant) -> Instant {
        let lifetime = deadline.saturating_duration_since(start);
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.jitter.mul_f64(fastrand::f64())
        };
        let lead = (self.margin + jitter).min(lifetime / 2);
        deadline - lead
    }
}

impl<D> Session<D> {
    /// A session issued now, valid for `lifetime` (at least `floor`); see
    /// [`NewSession::lifetime`].
    pub(crate) fn from_new(
        new: NewSession<D>,
        generation: u64,
        refresh: &RefreshPolicy,
        floor: Duration,
    ) -> Self {
        let lifetime = new.lifetime().map(|l| l.max(floor));
        Self::build(
            new.token,
            new.expiry,
            new.data,
            generation,
            Utc::now(),
            lifetime,
            refresh,
        )
    }

    /// A session another process stored. Its time left is taken from the
    /// store's clock when the store reports it, so the writer's wall clock
    /// does not matter.
    pub(crate) fn from_stored(stored: StoredSession, data: D, refresh: &RefreshPolicy) -> Self {
        let left = match (stored.expiry, stored.expires_in) {
            (Expiry::At(_) | Expiry::AfterIssue(_), Some(left)) => Some(left),
            (Expiry::At(at), None) => Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO)),
            (Expiry::AfterIssue(d), None) => {
                let age = (Utc::now() - stored.issued_at)
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                Some(d.saturating_sub(age))
            }
            (Expiry::Idle(_) | Expiry::UntilRejected, _) => None,
        };
        let credentials = stored.credentials;
        let mut session = Self::build(
            stored.token,
            stored.expiry,
            data,
            stored.generation,
            stored.issued_at,
            left,
            refresh,
        );
        session.adopted = true;
        session.credentials = credentials;
        // An idle session expires `idle` after its last use: start the local
        // count where the store's TTL says the session stands.
        if let (Expiry::Idle(idle), Some(left)) = (stored.expiry, stored.expires_in) {
            let used_ago = idle.saturating_sub(left).min(MAX_LIFETIME);
            if let Some(created) = session.created.checked_sub(used_ago) {
                session.created = created;
                session.last_store_touch = AtomicU64::new(0);
            }
        }
        session
    }

    fn build(
        token: SecretString,
        expiry: Expiry,
        data: D,
        generation: u64,
        issued_at: DateTime<Utc>,
        left: Option<Duration>,
        refresh: &RefreshPolicy,
    ) -> Self {
        let now = Instant::now();
        let deadline = left.map(|left| add_capped(now, left));
        let safety = match (expiry, left) {
            (Expiry::Idle(idle), _) => safety_for(idle),
            (_, Some(left)) => safety_for(left),
            _ => Duration::ZERO,
        };
        Self {
            safety,
            token,
            issued_at,
            expiry,
            data,
            generation,
            created: now,
            deadline,
            refresh_at: deadline.map(|d| refresh.refresh_at(now, d)),
            last_used: AtomicU64::new(0),
            last_store_touch: AtomicU64::new(0),
            productive: AtomicBool::new(false),
            rejected: AtomicBool::new(false),
            adopted: false,
            not_rejections: Mutex::new(Vec::new()),
            credentials: None,
        }
    }

    /// Whether the session was taken from the shared store (another
    /// process's login) rather than obtained by this client's own login.
    pub fn is_adopted(&self) -> bool {
        self.adopted
    }

    /// The secret token.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// When the provider issued the token.
    pub fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }

    /// How the token expires.
    pub fn expiry(&self) -> Expiry {
        self.expiry
    }

    /// Provider data from the login.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Generation number: each login gets a larger one, so a rejection of an
    /// old token never discards a newer session.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Time left before the session expires, if it has a deadline (for
    /// `Idle`, counted from the last use).
    pub fn expires_in(&self) -> Option<Duration> {
        self.deadline_now()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the session is past its deadline (with a 1 s safety margin).
    pub fn is_expired(&self) -> bool {
        self.freshness(Instant::now()) == Freshness::Expired
    }

    fn deadline_now(&self) -> Option<Instant> {
        match self.expiry {
            Expiry::Idle(idle) => Some(add_capped(
                self.created + Duration::from_nanos(self.last_used.load(Ordering::Relaxed)),
                idle,
            )),
            _ => self.deadline,
        }
    }

    /// Where the session stands at `now`.
    pub fn freshness(&self, now: Instant) -> Freshness {
        match self.deadline_now() {
            None => Freshness::Fresh,
            Some(deadline) if add_capped(now, self.safety) >= deadline => Freshness::Expired,
            Some(_) => match self.refresh_at {
                Some(at) if now >= at => Freshness::RefreshDue,
                _ => Freshness::Fresh,
            },
        }
    }

    /// Records a use (slides an `Idle` deadline).
    pub fn touch(&self) {
        if let Expiry::Idle(_) = self.expiry {
            let nanos = self.nanos_since_created();
            // Avoid a store (and cache-line traffic) when nothing changed by
            // more than a millisecond.
            if nanos.saturating_sub(self.last_used.load(Ordering::Relaxed)) > 1_000_000 {
                self.last_used.fetch_max(nanos, Ordering::Relaxed);
            }
        }
    }

    fn nanos_since_created(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.created)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64
    }

    /// For an `Idle` session: the idle period, when the shared store's copy
    /// is due to have its TTL extended (at most once per quarter of the idle
    /// period, claimed by one caller). `None` otherwise.
    pub(crate) fn store_touch_due(&self) -> Option<Duration> {
        let Expiry::Idle(idle) = self.expiry else {
            return None;
        };
        let now = self.nanos_since_created();
        let last = self.last_store_touch.load(Ordering::Relaxed);
        let quarter = u64::try_from((idle / 4).as_nanos()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) < quarter {
            return None;
        }
        self.last_store_touch
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| idle)
    }

    /// Time since the last use (or creation).
    pub fn idle_for(&self) -> Duration {
        Instant::now()
            .saturating_duration_since(self.created)
            .saturating_sub(Duration::from_nanos(self.last_used.load(Ordering::Relaxed)))
    }

    /// Marks that a request made with this session was accepted. Returns true
    /// the first time.
    pub(crate) fn mark_productive(&self) -> bool {
        !self.productive.load(Ordering::Relaxed) && !self.productive.swap(true, Ordering::Relaxed)
    }

    /// Marks the session rejected. Returns true the first time only, so a
    /// storm of rejections of one session is handled once.
    pub(crate) fn mark_rejected(&self) -> bool {
        !self.rejected.swap(true, Ordering::Relaxed)
    }

    /// Records that answers with `code` are API errors for this session,
    /// not rejections.
    pub(crate) fn mark_not_rejection(&self, code: &str) {
        let mut codes = self
            .not_rejections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !codes.iter().any(|c| c == code) {
            codes.push(code.to_owned());
        }
    }

    /// Whether answers with `code` were found to be API errors for this
    /// session.
    pub(crate) fn is_not_rejection(&self, code: &str) -> bool {
        self.not_rejections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|c| c == code)
    }

    pub(crate) fn was_productive(&self) -> bool {
        self.productive.load(Ordering::Relaxed)
    }

    /// Time-to-live for storing this session in a shared store.
    /// `Idle` sessions are kept for one idle period: a process that finds
    /// none logs in, which is what the provider would demand anyway.
    pub(crate) fn store_ttl(&self) -> Option<Duration> {
        match self.expiry {
            Expiry::Idle(idle) => Some(idle),
            _ => self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now())),
        }
    }
}

impl<D: Serialize> Session<D> {
    pub(crate) fn to_stored(&self) -> Result<StoredSession, serde_json::Error> {
        Ok(StoredSession {
            token: self.token.clone(),
            issued_at: self.issued_at,
            expiry: self.expiry,
            generation: self.generation,
            data: serde_json::to_value(&self.data)?,
            expires_in: None,
            credentials: self.credentials.clone(),
        })
    }
}

/// The serializable form of a session, as a [`TokenStore`](crate::TokenStore)
/// keeps it. The token is a secret: `Debug` redacts it and it is serialized
/// only when the store writes it (use an encrypting store for untrusted
/// storage).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    /// The secret token.
    #[serde(serialize_with = "serialize_secret")]
    pub token: SecretString,
    /// When the provider issued it.
    pub issued_at: DateTime<Utc>,
    /// How it expires.
    pub expiry: Expiry,
    /// Its generation number.
    pub generation: u64,
    /// Provider data, as JSON.
    pub data: serde_json::Value,
    /// Time the session had left when it was loaded, by the store's own
    /// clock (its TTL), when the store keeps one. Set by
    /// [`TokenStore::load`](crate::TokenStore::load); never stored. A reader
    /// prefers it to `expiry` and `issued_at`, which depend on the wall clock
    /// of the process that wrote them.
    #[serde(skip)]
    pub expires_in: Option<Duration>,
    /// The store's fingerprint of the secret that logged in
    /// ([`TokenStore::credential_fingerprint`](crate::TokenStore::credential_fingerprint)),
    /// when the store keeps them. Absent in sessions written by versions
    /// before it (they are read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
}

fn serialize_secret<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

impl fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSession")
            .field("token", &"[REDACTED]")
            .field("issued_at", &self.issued_at)
            .field("expiry", &self.expiry)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl StoredSession {
    /// Whether the stored session is already past its deadline: by the
    /// store's clock when [`expires_in`](Self::expires_in) is known, else by
    /// this process's wall clock (`Idle` and `UntilRejected` sessions are
    /// judged by the store's TTL alone).
    pub fn is_expired(&self) -> bool {
        if let Some(left) = self.expires_in {
            let safety = match self.expiry {
                Expiry::Idle(idle) => safety_for(idle),
                _ => Duration::ZERO,
            };
            return left <= safety;
        }
        let deadline = match self.expiry {
            Expiry::At(at) => at,
            Expiry::AfterIssue(d) => match chrono::Duration::from_std(d) {
                Ok(d) => match self.issued_at.checked_add_signed(d) {
                    Some(deadline) => deadline,
                    None => return false,
                },
                Err(_) => return false,
            },
            Expiry::Idle(_) | Expiry::UntilRejected => return false,
        };
        // The same safety margin as a live session of this lifetime.
        let lifetime = (deadline - self.issued_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let safety = chrono::Duration::from_std(safety_for(lifetime)).unwrap_or_default();
        deadline <= Utc::now() + safety
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expiry: Expiry) -> Session<()> {
        Session::from_new(
            NewSession::new(SecretString::from("tok-secret"), expiry, ()),
            1,
            &RefreshPolicy {
                margin: Duration::from_secs(60),
                jitter: Duration::ZERO,
            },
            Duration::ZERO,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn after_issue_refresh_then_expire() {
        let s = session(Expiry::AfterIssue(Duration::from_secs(1200)));
        assert_eq!(s.freshness(Instant::now()), Freshness::Fresh);
        tokio::time::advance(Duration::from_secs(1141)).await;
        assert_eq!(s.freshness(Instant::now()), Freshness::RefreshDue);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(s.freshness(Instant::now()), Freshness::Expired);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_slides_with_use() {
        let s = session(Expiry::Idle(Duration::from_secs(300)));
        tokio::time::advance(Duration::from_secs(250)).await;
        s.touch();
        tokio::time::advance(Duration::from_secs(250)).await;
        assert!(!s.is_expired());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(s.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn short_lifetimes_refresh_at_half() {
        let s = session(Expiry::AfterIssue(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(s.freshness(Instant::now()), Freshness::Fresh);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(s.freshness(Instant::now()), Freshness::RefreshDue);
    }

    #[tokio::test(start_paused = true)]
    async fn huge_lifetimes_do_not_overflow() {
        for expiry in [
            Expiry::AfterIssue(Duration::MAX),
            Expiry::Idle(Duration::MAX),
            Expiry::At(DateTime::<Utc>::MAX_UTC),
        ] {
            let s = session(expiry);
            s.touch();
            assert_eq!(s.freshness(Instant::now()), Freshness::Fresh, "{expiry:?}");
            assert!(s.expires_in().is_some());
            assert!(!s.to_stored().unwrap().is_expired());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lifetimes_are_measured_on_the_server_clock() {
        // The server's clock runs 2 hours ahead and issues 1-hour tokens.
        let server_now = Utc::now() + chrono::Duration::hours(2);
        let new = NewSession::new(
            SecretString::from("tok"),
            Expiry::At(server_now + chrono::Duration::hours(1)),
            (),
        )
        .with_server_date(Some(server_now));
        assert_eq!(new.lifetime(), Some(Duration::from_secs(3600)));
        let s = Session::from_new(
            new,
            1,
            &RefreshPolicy {
                margin: Duration::from_secs(60),
                jitter: Duration::ZERO,
            },
            Duration::ZERO,
        );
        let left = s.expires_in().unwrap();
        assert!(left > Duration::from_secs(3590) && left <= Duration::from_secs(3600));
        tokio::time::advance(Duration::from_secs(3541)).await;
        assert_eq!(s.freshness(Instant::now()), Freshness::RefreshDue);
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_keeps_zero_lifetimes_usable() {
        let s = Session::from_new(
            NewSession::new(
                SecretString::from("tok"),
                Expiry::AfterIssue(Duration::ZERO),
                (),
            ),
            1,
            &RefreshPolicy::default(),
            Duration::from_secs(5),
        );
        assert_ne!(s.freshness(Instant::now()), Freshness::Expired);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(s.freshness(Instant::now()), Freshness::Expired);
    }

    #[test]
    fn debug_redacts() {
        let s = session(Expiry::UntilRejected);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("tok-secret"), "{dbg}");
        let stored = s.to_stored().unwrap();
        assert!(!format!("{stored:?}").contains("tok-secret"));
        // The store itself does get the token.
        assert!(
            serde_json::to_string(&stored)
                .unwrap()
                .contains("tok-secret")
        );
    }
}
