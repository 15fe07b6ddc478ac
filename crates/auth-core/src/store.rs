//! Where sessions, the login lock and failed-login records are kept.
//!
//! [`MemoryStore`] (the default) keeps them in this process.
//! `auth-redis` shares them across a fleet of processes.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::AuthError;
use crate::rotation::FingerprintKey;
use crate::session::StoredSession;

/// Proof of holding the login lock for a key; pass it back to
/// [`TokenStore::extend_lock`] and [`TokenStore::unlock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(pub String);

/// Failed logins within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureCount {
    /// Failures whose time lies within the window.
    pub count: u32,
    /// Time until the oldest of them leaves the window (and the count drops
    /// by one), when there is any.
    pub resets_in: Option<Duration>,
}

impl FailureCount {
    /// The larger of two counts of the same window (with its reset time).
    #[must_use]
    pub fn max_by(self, other: FailureCount) -> FailureCount {
        if other.count > self.count {
            other
        } else {
            self
        }
    }
}

/// Storage for sessions and login coordination, keyed by
/// [`Provider::cache_key`](crate::Provider::cache_key).
///
/// The contract every store keeps, so that the engine's promises hold
/// whatever the store is:
///
/// * **Fenced saves**: a session is saved only when no session of a higher
///   generation is stored (`save(g10)` then `save(g9)` keeps g10).
/// * **The store's clock**: [`TokenStore::load`] reports the time a session
///   has left by the store's own clock ([`StoredSession::expires_in`]), so a
///   process never judges a stored session by the wall clock of the process
///   that wrote it.
/// * **Leases**: the login lock has a time-to-live and is extended by its
///   holder while the login runs ([`TokenStore::extend_lock`]).
/// * **Sliding failure windows**: each failed login is kept with its own
///   time; [`TokenStore::failures`] counts those within the window. A
///   success does not erase them.
/// * Everything expires: sessions with their TTL, locks with their lease,
///   failures with their window, and whatever else a store keeps per account.
///
/// Implementations must be safe to call from many tasks at once, and must
/// keep this contract. Errors
/// are reported as [`AuthError::Store`]; the client then degrades to its
/// in-process cache (and, for accounts with a lockout rule, to a stricter
/// local budget) instead of failing the user's call.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The stored session, if any and not expired, with
    /// [`StoredSession::expires_in`] set to the time it has left by the
    /// store's clock (its TTL), when it has one.
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError>;

    /// Stores a session unless a session of a higher generation is stored
    /// (fencing: a slow process never replaces a newer session with an older
    /// one); `ttl` bounds how long it is kept. Returns whether it was saved.
    async fn save(
        &self,
        key: &str,
        session: &StoredSession,
        ttl: Option<Duration>,
    ) -> Result<bool, AuthError>;

    /// Removes the stored session; with `Some(g)`, only if its generation is
    /// still `g` (a rejection of an old token never removes a newer one).
    /// Returns whether something was removed.
    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError>;

    /// Sets the stored session's TTL to `ttl` if its generation is still
    /// `generation` (an idle-expiring session that is in use stays shared).
    /// Returns whether it did.
    async fn touch(&self, key: &str, generation: u64, ttl: Duration) -> Result<bool, AuthError>;

    /// A generation number larger than any handed out before for `key`.
    async fn next_generation(&self, key: &str) -> Result<u64, AuthError>;

    /// Takes the login lock for `key` for at most `ttl`, or `None` when
    /// another holder has it.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, AuthError>;

    /// Extends the lock's lease to `ttl` from now if `token` still holds it.
    /// Returns whether it does.
    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, AuthError>;

    /// Releases the lock if `token` still holds it.
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError>;

    /// Failed logins within the last `window`.
    async fn failures(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError>;

    /// Records one failed login that happened `ago` before now (zero for one
    /// that just happened; more for one recorded late, after a store outage)
    /// and returns the failures within the last `window`. Failures older than
    /// `window` may be discarded.
    async fn record_failure(
        &self,
        key: &str,
        window: Duration,
        ago: Duration,
    ) -> Result<FailureCount, AuthError>;

    /// Records that the provider itself locked the account: `count` failures
    /// that stay counted for `ttl` (from now), whatever window is asked.
    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError>;

    /// Forgets every failed login of `key` (an operator's reset, or rotated
    /// credentials; never a successful login).
    async fn reset_failures(&self, key: &str) -> Result<(), AuthError>;

    /// The fingerprint of an account's secret fields (`material`, see
    /// [`credential_material`](crate::rotation::credential_material)), as
    /// this store keeps and compares it: a keyed hash
    /// ([`FingerprintKey`](crate::rotation::FingerprintKey)) whose key the
    /// store's readers do not have, never a plain hash of a secret. Sessions
    /// are saved with the fingerprint of the secret that logged in, so every
    /// process sharing the store learns that the secret changed.
    ///
    /// `None` (the default): this store keeps no fingerprints, and
    /// processes learn of a rotation only from the provider's answers.
    fn credential_fingerprint(&self, key: &str, material: &[u8]) -> Option<String> {
        let _ = (key, material);
        None
    }

    /// The fingerprint of the secret whose login the provider rejected last,
    /// while the record lasts.
    async fn rejected_credentials(&self, key: &str) -> Result<Option<String>, AuthError> {
        let _ = key;
        Ok(None)
    }

    /// Records that the provider rejected a login with the secret of
    /// `fingerprint`, for `ttl`: other processes holding the same secret
    /// then do not try it.
    async fn record_rejected_credentials(
        &self,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<(), AuthError> {
        let _ = (key, fingerprint, ttl);
        Ok(())
    }

    /// Forgets the rejection of `fingerprint`, and only of that one (a
    /// process was given this secret anew).
    async fn clear_rejected_credentials(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> Result<(), AuthError> {
        let _ = (key, fingerprint);
        Ok(())
    }
}

struct StoredEntry {
    session: StoredSession,
    until: Option<Instant>,
}

#[derive(Default)]
struct MemoryState {
    sessions: HashMap<String, StoredEntry>,
    locks: HashMap<String, (String, Instant)>,
    /// Per key, the instants at which recorded failures stop counting: the
    /// failure's time plus its window (or the end of a provider lockout).
    failures: HashMap<String, FailureLog>,
    generations: HashMap<String, u64>,
    /// Per key, the fingerprint of the last rejected secret and until when
    /// it is remembered.
    rejected: HashMap<String, (String, Instant)>,
    next_lock: u64,
    ops_since_sweep: u32,
}

/// Failure times of one account, oldest first.
#[derive(Default)]
struct FailureLog {
    /// When each failure happened.
    at: VecDeque<Instant>,
    /// Provider lockouts: `count` failures counted until the instant.
    pinned: Vec<(u32, Instant)>,
}

impl FailureLog {
    /// Drops what no window of at most `horizon` can count any more.
    fn prune(&mut self, now: Instant, horizon: Duration) {
        while self.at.front().is_some_and(|t| *t + horizon <= now) {
            self.at.pop_front();
        }
        self.pinned.retain(|(_, until)| *until > now);
    }

    fn count(&self, now: Instant, window: Duration) -> FailureCount {
        let in_window = self.at.iter().filter(|t| **t + window > now);
        let mut count = 0u32;
        let mut resets_at: Option<Instant> = None;
        for t in in_window {
            count = count.saturating_add(1);
            let leaves = *t + window;
            resets_at = Some(resets_at.map_or(leaves, |r| r.min(leaves)));
        }
        for (n, until) in self.pinned.iter().filter(|(_, u)| *u > now) {
            count = count.saturating_add(*n);
            resets_at = Some(resets_at.map_or(*until, |r| r.min(*until)));
        }
        FailureCount {
            count,
            resets_in: resets_at.map(|r| r - now),
        }
    }

    fn is_empty(&self) -> bool {
        self.at.is_empty() && self.pinned.is_empty()
    }
}

/// Failures older than this are dropped whatever window a caller asks for
/// (no provider counts failures over more than a day).
const FAILURE_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// Every this many operations, entries of accounts with nothing left
/// (expired sessions, locks and failures) are swept away.
const SWEEP_EVERY: u32 = 1024;

impl MemoryState {
    fn maybe_sweep(&mut self, now: Instant) {
        self.ops_since_sweep += 1;
        if self.ops_since_sweep < SWEEP_EVERY {
            return;
        }
        self.ops_since_sweep = 0;
        self.sessions
            .retain(|_, e| e.until.is_none_or(|until| until > now));
        self.locks.retain(|_, (_, until)| *until > now);
        self.rejected.retain(|_, (_, until)| *until > now);
        self.failures.retain(|_, log| {
            log.prune(now, FAILURE_HORIZON);
            !log.is_empty()
        });
        let MemoryState {
            sessions,
            locks,
            failures,
            generations,
            ..
        } = self;
        // A generation counter alone guards nothing: the engine numbers
        // sessions above any generation it has seen.
        generations.retain(|k, _| {
            sessions.contains_key(k) || locks.contains_key(k) || failures.contains_key(k)
        });
    }
}

/// An in-process [`TokenStore`]. Used by default.
///
/// Its clock is Tokio's (so paused-time tests control it). Entries expire as
/// the [`TokenStore`] contract says and are swept away as operations go by, so a
/// process that sees many accounts come and go does not grow without bound.
pub struct MemoryStore {
    state: Mutex<MemoryState>,
    /// Fingerprints never leave this process, so a key of its own is enough.
    fingerprints: FingerprintKey,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            fingerprints: FingerprintKey::random(),
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // (every update is a single insert/remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many accounts have an entry of any kind (for tests of pruning).
    pub fn entries(&self) -> usize {
        let state = self.state();
        let mut keys: std::collections::HashSet<&String> = state.sessions.keys().collect();
        keys.extend(state.locks.keys());
        keys.extend(state.failures.keys());
        keys.extend(state.generations.keys());
        keys.extend(state.rejected.keys());
        keys.len()
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        state.maybe_sweep(now);
        match state.sessions.get(key) {
            Some(StoredEntry {
                until: Some(until), ..
            }) if *until <= now => {
                state.sessions.remove(key);
                Ok(None)
            }
            Some(entry) => {
                let mut session = entry.session.clone();
                session.expires_in = entry.until.map(|until| until - now);
                Ok(Some(session))
            }
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        key: &str,
        session: &StoredSession,
        ttl: Option<Duration>,
    ) -> Result<bool, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        state.maybe_sweep(now);
        if let Some(current) = state.sessions.get(key)
            && current.until.is_none_or(|until| until > now)
            && current.session.generation > session.generation
        {
            return Ok(false);
        }
        let mut session = session.clone();
        session.expires_in = None;
        let until = ttl.map(|t| now + t);
        state
            .sessions
            .insert(key.to_owned(), StoredEntry { session, until });
        Ok(true)
    }

    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError> {
        let mut state = self.state();
        let matches = match (state.sessions.get(key), generation) {
            (Some(_), None) => true,
            (Some(e), Some(g)) => e.session.generation == g,
            (None, _) => false,
        };
        if matches {
            state.sessions.remove(key);
        }
        Ok(matches)
    }

    async fn touch(&self, key: &str, generation: u64, ttl: Duration) -> Result<bool, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        match state.sessions.get_mut(key) {
            Some(entry)
                if entry.session.generation == generation
                    && entry.until.is_none_or(|until| until > now) =>
            {
                entry.until = Some(now + ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn next_generation(&self, key: &str) -> Result<u64, AuthError> {
        let mut state = self.state();
        let g = state.generations.entry(key.to_owned()).or_insert(0);
        *g += 1;
        Ok(*g)
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        state.maybe_sweep(now);
        if let Some((_, until)) = state.locks.get(key)
            && *until > now
        {
            return Ok(None);
        }
        state.next_lock += 1;
        let token = format!("lock-{}", state.next_lock);
        state
            .locks
            .insert(key.to_owned(), (token.clone(), now + ttl));
        Ok(Some(LockToken(token)))
    }

    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        match state.locks.get_mut(key) {
            Some((held, until)) if *held == token.0 && *until > now => {
                *until = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError> {
        let mut state = self.state();
        if state.locks.get(key).is_some_and(|(t, _)| *t == token.0) {
            state.locks.remove(key);
        }
        Ok(())
    }

    async fn failures(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        state.maybe_sweep(now);
        Ok(state
            .failures
            .get(key)
            .map(|log| log.count(now, window))
            .unwrap_or_default())
    }

    async fn record_failure(
        &self,
        key: &str,
        window: Duration,
        ago: Duration,
    ) -> Result<FailureCount, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        state.maybe_sweep(now);
        let log = state.failures.entry(key.to_owned()).or_default();
        let at = now.checked_sub(ago).unwrap_or(now);
        // Keep the log ordered: a late record may be older than the newest.
        let position = log.at.partition_point(|t| *t <= at);
        log.at.insert(position, at);
        log.prune(now, FAILURE_HORIZON);
        Ok(log.count(now, window))
    }

    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError> {
        let now = Instant::now();
        if count == 0 || ttl.is_zero() {
            return Ok(());
        }
        self.state()
            .failures
            .entry(key.to_owned())
            .or_default()
            .pinned
            .push((count, now + ttl));
        Ok(())
    }

    async fn reset_failures(&self, key: &str) -> Result<(), AuthError> {
        self.state().failures.remove(key);
        Ok(())
    }

    fn credential_fingerprint(&self, key: &str, material: &[u8]) -> Option<String> {
        Some(self.fingerprints.fingerprint(key, material))
    }

    async fn rejected_credentials(&self, key: &str) -> Result<Option<String>, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        state.maybe_sweep(now);
        Ok(match state.rejected.get(key) {
            Some((fingerprint, until)) if *until > now => Some(fingerprint.clone()),
            _ => None,
        })
    }

    async fn record_rejected_credentials(
        &self,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<(), AuthError> {
        let until = Instant::now() + ttl;
        self.state()
            .rejected
            .insert(key.to_owned(), (fingerprint.to_owned(), until));
        Ok(())
    }

    async fn clear_rejected_credentials(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> Result<(), AuthError> {
        let mut state = self.state();
        if state
            .rejected
            .get(key)
            .is_some_and(|(f, _)| f == fingerprint)
        {
            state.rejected.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Expiry;
    use chrono::Utc;
    use secrecy::SecretString;

    fn stored(generation: u64) -> StoredSession {
        StoredSession {
            token: SecretString::from(format!("tok-{generation}")),
            issued_at: Utc::now(),
            expiry: Expiry::UntilRejected,
            generation,
            data: serde_json::Value::Null,
            expires_in: None,
            credentials: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn saves_are_fenced_by_generation() {
        let store = MemoryStore::new();
        assert!(store.save("k", &stored(10), None).await.unwrap());
        assert!(!store.save("k", &stored(9), None).await.unwrap());
        assert_eq!(store.load("k").await.unwrap().unwrap().generation, 10);
        assert!(store.save("k", &stored(11), None).await.unwrap());
        assert_eq!(store.load("k").await.unwrap().unwrap().generation, 11);
        // An expired newer session fences nothing.
        store
            .save("e", &stored(5), Some(Duration::from_secs(1)))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(store.save("e", &stored(4), None).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn load_reports_time_left_by_the_store_clock() {
        let store = MemoryStore::new();
        store
            .save("k", &stored(1), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        let left = store.load("k").await.unwrap().unwrap().expires_in.unwrap();
        assert_eq!(left, Duration::from_secs(40));
        assert!(store.touch("k", 1, Duration::from_secs(60)).await.unwrap());
        assert!(!store.touch("k", 2, Duration::from_secs(60)).await.unwrap());
        let left = store.load("k").await.unwrap().unwrap().expires_in.unwrap();
        assert_eq!(left, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(store.load("k").await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn lock_lease_is_owner_checked() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(1);
        let a = store.try_lock("k", ttl).await.unwrap().unwrap();
        assert!(store.try_lock("k", ttl).await.unwrap().is_none());
        tokio::time::advance(Duration::from_millis(800)).await;
        assert!(store.extend_lock("k", &a, ttl).await.unwrap());
        tokio::time::advance(Duration::from_millis(800)).await;
        assert!(
            store.try_lock("k", ttl).await.unwrap().is_none(),
            "extended"
        );
        tokio::time::advance(Duration::from_millis(300)).await;
        let b = store.try_lock("k", ttl).await.unwrap().unwrap();
        assert!(!store.extend_lock("k", &a, ttl).await.unwrap(), "lost");
        store.unlock("k", &a).await.unwrap();
        assert!(store.try_lock("k", ttl).await.unwrap().is_none(), "b holds");
        store.unlock("k", &b).await.unwrap();
        assert!(store.try_lock("k", ttl).await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_slide() {
        let store = MemoryStore::new();
        let window = Duration::from_secs(900);
        for _ in 0..3 {
            store
                .record_failure("k", window, Duration::ZERO)
                .await
                .unwrap();
            tokio::time::advance(Duration::from_secs(300)).await;
        }
        // At 900 s the first failure (at 0 s) has left the window.
        let count = store.failures("k", window).await.unwrap();
        assert_eq!(count.count, 2);
        assert_eq!(count.resets_in, Some(Duration::from_secs(300)));
        let c = store
            .record_failure("k", window, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(c.count, 3);
        // A fixed window from the first failure would have reset here; the
        // sliding one still counts the failures of the last 15 minutes.
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(store.failures("k", window).await.unwrap().count, 3);
        // A late record is placed at its own time.
        let c = store
            .record_failure("k", window, Duration::from_secs(800))
            .await
            .unwrap();
        assert_eq!(c.count, 4);
        assert_eq!(c.resets_in, Some(Duration::from_secs(1)));
        store
            .set_failures("k", 4, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.failures("k", window).await.unwrap().count, 8);
        store.reset_failures("k").await.unwrap();
        assert_eq!(store.failures("k", window).await.unwrap().count, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_of_gone_accounts_are_swept() {
        let store = MemoryStore::new();
        for i in 0..2000 {
            let key = format!("account-{i}");
            store.next_generation(&key).await.unwrap();
            store
                .save(&key, &stored(1), Some(Duration::from_secs(1)))
                .await
                .unwrap();
            let lock = store.try_lock(&key, Duration::from_secs(1)).await.unwrap();
            assert!(lock.is_some());
            store
                .record_failure(&key, Duration::from_secs(1), Duration::ZERO)
                .await
                .unwrap();
        }
        assert_eq!(store.entries(), 2000);
        tokio::time::advance(FAILURE_HORIZON + Duration::from_secs(1)).await;
        for _ in 0..SWEEP_EVERY {
            store
                .failures("other", Duration::from_secs(1))
                .await
                .unwrap();
        }
        assert_eq!(store.entries(), 0);
    }
}
