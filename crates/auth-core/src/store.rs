//! Where sessions, the login lock and failed-login counts are kept.
//!
//! [`MemoryStore`] (the default) keeps them in this process.
//! `auth-redis` shares them across a fleet of processes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::AuthError;
use crate::session::StoredSession;

/// Proof of holding the login lock for a key; pass it back to
/// [`TokenStore::unlock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(pub String);

/// Failed logins counted in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureCount {
    /// Failures in the window.
    pub count: u32,
    /// Time until the window (and the count) resets, when it is running.
    pub resets_in: Option<Duration>,
}

/// Storage for sessions and login coordination, keyed by
/// [`Provider::cache_key`](crate::Provider::cache_key).
///
/// Implementations must be safe to call from many tasks at once. Errors are
/// reported as [`AuthError::Store`]; the client then degrades to its
/// in-process cache instead of failing the user's call.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The stored session, if any and not expired.
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError>;

    /// Stores a session, replacing any other; `ttl` bounds how long it is kept.
    async fn save(
        &self,
        key: &str,
        session: &StoredSession,
        ttl: Option<Duration>,
    ) -> Result<(), AuthError>;

    /// Removes the stored session; with `Some(g)`, only if its generation is
    /// still `g` (a rejection of an old token never removes a newer one).
    /// Returns whether something was removed.
    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError>;

    /// A generation number larger than any handed out before for `key`.
    async fn next_generation(&self, key: &str) -> Result<u64, AuthError>;

    /// Takes the login lock for `key` for at most `ttl`, or `None` when
    /// another holder has it.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, AuthError>;

    /// Releases the lock if `token` still holds it.
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError>;

    /// Failed logins in the current window.
    async fn failures(&self, key: &str) -> Result<FailureCount, AuthError>;

    /// Counts one failed login; the first failure starts a window of `window`.
    async fn record_failure(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError>;

    /// Sets the failure count outright for `ttl` (used when the provider
    /// reports a lockout).
    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError>;

    /// Clears the failure count (after a successful login).
    async fn reset_failures(&self, key: &str) -> Result<(), AuthError>;
}

#[derive(Default)]
struct MemoryState {
    sessions: HashMap<String, (StoredSession, Option<Instant>)>,
    locks: HashMap<String, (String, Instant)>,
    failures: HashMap<String, (u32, Instant)>,
    generations: HashMap<String, u64>,
    next_lock: u64,
}

/// An in-process [`TokenStore`]. Used by default.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
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
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        match state.sessions.get(key) {
            Some((_, Some(until))) if *until <= now => {
                state.sessions.remove(key);
                Ok(None)
            }
            Some((s, _)) if s.is_expired() => Ok(None),
            Some((s, _)) => Ok(Some(s.clone())),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        key: &str,
        session: &StoredSession,
        ttl: Option<Duration>,
    ) -> Result<(), AuthError> {
        let until = ttl.map(|t| Instant::now() + t);
        self.state()
            .sessions
            .insert(key.to_owned(), (session.clone(), until));
        Ok(())
    }

    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError> {
        let mut state = self.state();
        let matches = match (state.sessions.get(key), generation) {
            (Some(_), None) => true,
            (Some((s, _)), Some(g)) => s.generation == g,
            (None, _) => false,
        };
        if matches {
            state.sessions.remove(key);
        }
        Ok(matches)
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

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError> {
        let mut state = self.state();
        if state.locks.get(key).is_some_and(|(t, _)| *t == token.0) {
            state.locks.remove(key);
        }
        Ok(())
    }

    async fn failures(&self, key: &str) -> Result<FailureCount, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        match state.failures.get(key) {
            Some((count, until)) if *until > now => Ok(FailureCount {
                count: *count,
                resets_in: Some(*until - now),
            }),
            Some(_) => {
                state.failures.remove(key);
                Ok(FailureCount::default())
            }
            None => Ok(FailureCount::default()),
        }
    }

    async fn record_failure(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError> {
        let now = Instant::now();
        let mut state = self.state();
        let entry = state
            .failures
            .entry(key.to_owned())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(FailureCount {
            count: entry.0,
            resets_in: Some(entry.1 - now),
        })
    }

    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError> {
        self.state()
            .failures
            .insert(key.to_owned(), (count, Instant::now() + ttl));
        Ok(())
    }

    async fn reset_failures(&self, key: &str) -> Result<(), AuthError> {
        self.state().failures.remove(key);
        Ok(())
    }
}
