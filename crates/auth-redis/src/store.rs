//! [`RedisStore`]: the [`TokenStore`] implementation.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use auth_core::secrecy::SecretString;
use auth_core::{AuthError, FailureCount, LockToken, StoredSession, TokenStore};
use redis::aio::ConnectionManager;
use redis::{RedisError, RedisResult, Script, Value};
use tokio::time::Instant;

use crate::codec::Codec;
use crate::config::RedisStoreBuilder;

/// Saves a session hash (`gen`, `value`) with an optional TTL, replacing
/// whatever was there.
const SAVE: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'value', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
";

/// Deletes the session only if its generation is still ARGV[1] (or
/// unconditionally when ARGV[1] is empty).
const REMOVE: &str = r"
if ARGV[1] == '' then return redis.call('DEL', KEYS[1]) end
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// INCR, floored at the server clock in microseconds, so generations keep
/// growing even when Redis loses its data (a restart without persistence):
/// they would go backwards only with more than one login per microsecond.
const NEXT_GENERATION: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local g = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if g < now then
  redis.call('SET', KEYS[1], string.format('%d', now))
  g = now
end
return g
";

/// Releases the lock only if it still holds our token.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The failure count and the time left in its window.
const FAILURES: &str = r"
local c = redis.call('GET', KEYS[1])
if not c then return {0, -2} end
return {tonumber(c), redis.call('PTTL', KEYS[1])}
";

/// Counts a failure; the first one of a window starts the window.
const RECORD_FAILURE: &str = r"
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if c == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {c, ttl}
";

pub(crate) struct Scripts {
    save: Script,
    remove: Script,
    next_generation: Script,
    unlock: Script,
    failures: Script,
    record_failure: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            save: Script::new(SAVE),
            remove: Script::new(REMOVE),
            next_generation: Script::new(NEXT_GENERATION),
            unlock: Script::new(UNLOCK),
            failures: Script::new(FAILURES),
            record_failure: Script::new(RECORD_FAILURE),
        }
    }
}

/// Secret parts of the connection URL, scrubbed from every error message.
pub(crate) struct Secrets {
    needles: Vec<SecretString>,
}

impl Secrets {
    pub(crate) fn of_url(raw: &str) -> Self {
        use auth_core::secrecy::ExposeSecret as _;
        let mut needles = vec![SecretString::from(raw.to_owned())];
        if let Ok(url) = auth_core::url::Url::parse(raw) {
            if let Some(p) = url.password() {
                needles.push(SecretString::from(p.to_owned()));
                needles.push(SecretString::from(percent_decode(p)));
            }
            for (k, v) in url.query_pairs() {
                if matches!(k.to_ascii_lowercase().as_str(), "pass" | "password") {
                    needles.push(SecretString::from(v.into_owned()));
                }
            }
        }
        needles.retain(|n| !n.expose_secret().is_empty());
        // Longest first, so a password inside the URL is replaced as part of
        // the URL.
        needles.sort_by_key(|n| std::cmp::Reverse(n.expose_secret().len()));
        Self { needles }
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        use auth_core::secrecy::ExposeSecret as _;
        let mut out = text.to_owned();
        for needle in &self.needles {
            out = out.replace(needle.expose_secret(), "[REDACTED]");
        }
        out
    }
}

/// `%XX` sequences of a URL component decoded (invalid ones kept as is).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) struct Inner {
    connection: ConnectionManager,
    display_url: String,
    secrets: Secrets,
    prefix: String,
    op_timeout: Duration,
    outage_cooldown: Duration,
    codec: Codec,
    scripts: Scripts,
    /// Operations fail at once until this many milliseconds after `epoch`.
    unavailable_until: AtomicU64,
    epoch: Instant,
}

impl Inner {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        connection: ConnectionManager,
        display_url: String,
        secrets: Secrets,
        prefix: String,
        op_timeout: Duration,
        outage_cooldown: Duration,
        codec: Codec,
        scripts: Scripts,
    ) -> Self {
        Self {
            connection,
            display_url,
            secrets,
            prefix,
            op_timeout,
            outage_cooldown,
            codec,
            scripts,
            unavailable_until: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

/// A [`TokenStore`] on Redis: sessions, the login lock and failed-login
/// counts shared by every process that uses the same Redis and prefix.
///
/// Cheap to clone (clones share one auto-reconnecting multiplexed
/// connection). `Debug` shows the URL with its password redacted; errors
/// never contain the URL or password.
///
/// Layout, for the account whose
/// [`cache_key`](auth_core::Provider::cache_key) is `K`:
///
/// | key | type | content |
/// |---|---|---|
/// | `{prefix}:K:session` | hash | `gen` (generation, in clear), `value` (session JSON, or its ciphertext); TTL = the session's remaining lifetime |
/// | `{prefix}:K:generation` | string | last generation handed out |
/// | `{prefix}:K:lock` | string | random token of the login-lock holder; TTL = lock TTL |
/// | `{prefix}:K:failures` | string | failed logins in the window; TTL = rest of the window |
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.display_url)
            .field("prefix", &self.inner.prefix)
            .field("op_timeout", &self.inner.op_timeout)
            .field("encrypted", &self.inner.codec.is_encrypted())
            .finish_non_exhaustive()
    }
}

/// Which key of an account.
#[derive(Clone, Copy)]
enum Kind {
    Session,
    Generation,
    Lock,
    Failures,
}

impl RedisStore {
    /// A builder for a store on the Redis at `url`
    /// (`redis://[[user]:password@]host[:port][/db]` or
    /// `redis+unix:///path/to/socket[?db=N&pass=...]`). The URL is kept as a
    /// secret: it may carry a password.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(SecretString::from(url.into()))
    }

    /// A store with default settings, connected to `url`.
    pub async fn connect(url: impl Into<String>) -> Result<Self, AuthError> {
        Self::builder(url).build().await
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether stored sessions are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.inner.codec.is_encrypted()
    }

    /// The Redis key holding the session of the account `cache_key` (a hash
    /// with fields `gen` and `value`).
    pub fn session_key(&self, cache_key: &str) -> String {
        self.key(cache_key, Kind::Session)
    }

    /// Sends `PING`: whether Redis answers now (within the operation
    /// timeout). Useful for health checks.
    pub async fn ping(&self) -> Result<(), AuthError> {
        let mut conn = self.inner.connection.clone();
        self.run("ping", async move {
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }

    fn key(&self, cache_key: &str, kind: Kind) -> String {
        let suffix = match kind {
            Kind::Session => "session",
            Kind::Generation => "generation",
            Kind::Lock => "lock",
            Kind::Failures => "failures",
        };
        format!("{}:{cache_key}:{suffix}", self.inner.prefix)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_unavailable(&self) {
        if !self.inner.outage_cooldown.is_zero() {
            let until = self.now_ms().saturating_add(
                u64::try_from(self.inner.outage_cooldown.as_millis()).unwrap_or(u64::MAX),
            );
            self.inner
                .unavailable_until
                .fetch_max(until, Ordering::Relaxed);
        }
    }

    /// Runs one Redis operation with the timeout, the outage cool-down and
    /// secret-free error messages.
    async fn run<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, AuthError> {
        let until = self.inner.unavailable_until.load(Ordering::Relaxed);
        if until > self.now_ms() {
            return Err(AuthError::Store(format!(
                "redis {op} skipped: Redis was unreachable moments ago (retrying within {} ms)",
                until - self.now_ms().min(until)
            )));
        }
        match tokio::time::timeout(self.inner.op_timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                if is_outage(&error) {
                    self.mark_unavailable();
                }
                Err(self.error(op, &error))
            }
            Err(_) => {
                self.mark_unavailable();
                Err(AuthError::Store(format!(
                    "redis {op} timed out after {} ms",
                    self.inner.op_timeout.as_millis()
                )))
            }
        }
    }

    fn error(&self, op: &'static str, error: &RedisError) -> AuthError {
        AuthError::Store(format!(
            "redis {op} failed: {}",
            self.inner.secrets.scrub(&error.to_string())
        ))
    }
}

/// Whether an error means Redis is unreachable (rather than a bad reply).
fn is_outage(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64)
}

fn count_of(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn resets_in(pttl: i64) -> Option<Duration> {
    u64::try_from(pttl).ok().map(Duration::from_millis)
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError> {
        let mut conn = self.inner.connection.clone();
        let redis_key = self.key(key, Kind::Session);
        let (generation, value): (Option<String>, Option<Vec<u8>>) = self
            .run("load", async move {
                redis::cmd("HMGET")
                    .arg(&redis_key)
                    .arg("gen")
                    .arg("value")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let (Some(generation), Some(value)) = (generation, value) else {
            return Ok(None);
        };
        let generation: u64 = generation.parse().map_err(|_| {
            AuthError::Store("the stored session has an invalid generation field".to_owned())
        })?;
        let session = self.inner.codec.decode(key, generation, &value)?;
        if session.is_expired() {
            return Ok(None);
        }
        Ok(Some(session))
    }

    async fn save(
        &self,
        key: &str,
        session: &StoredSession,
        ttl: Option<Duration>,
    ) -> Result<(), AuthError> {
        let redis_key = self.key(key, Kind::Session);
        let mut conn = self.inner.connection.clone();
        if ttl.is_some_and(|t| t.as_millis() == 0) {
            // Already expired: nothing to keep, but it still replaces
            // whatever was stored.
            return self
                .run("save", async move {
                    redis::cmd("DEL")
                        .arg(&redis_key)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await;
        }
        let value = self.inner.codec.encode(key, session)?;
        let ttl_ms = ttl.map_or(0, millis);
        let generation = session.generation;
        let script = &self.inner.scripts.save;
        self.run("save", async move {
            script
                .key(&redis_key)
                .arg(generation)
                .arg(value)
                .arg(ttl_ms)
                .invoke_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError> {
        let redis_key = self.key(key, Kind::Session);
        let mut conn = self.inner.connection.clone();
        let script = &self.inner.scripts.remove;
        let generation = generation.map_or_else(String::new, |g| g.to_string());
        let removed: i64 = self
            .run("remove", async move {
                script
                    .key(&redis_key)
                    .arg(generation)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }

    async fn next_generation(&self, key: &str) -> Result<u64, AuthError> {
        let redis_key = self.key(key, Kind::Generation);
        let mut conn = self.inner.connection.clone();
        let script = &self.inner.scripts.next_generation;
        let generation: i64 = self
            .run("next_generation", async move {
                script.key(&redis_key).invoke_async(&mut conn).await
            })
            .await?;
        u64::try_from(generation)
            .map_err(|_| AuthError::Store("redis returned a negative generation".to_owned()))
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, AuthError> {
        let redis_key = self.key(key, Kind::Lock);
        let mut conn = self.inner.connection.clone();
        let token = format!(
            "{:08x}-{:016x}{:016x}",
            std::process::id(),
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let ttl_ms = millis(ttl);
        let value = token.clone();
        let reply: Value = self
            .run("try_lock", async move {
                redis::cmd("SET")
                    .arg(&redis_key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(match reply {
            Value::Nil => None,
            _ => Some(LockToken(token)),
        })
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError> {
        let redis_key = self.key(key, Kind::Lock);
        let mut conn = self.inner.connection.clone();
        let script = &self.inner.scripts.unlock;
        let token = token.0.clone();
        self.run("unlock", async move {
            script
                .key(&redis_key)
                .arg(token)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(|_| ())
    }

    async fn failures(&self, key: &str) -> Result<FailureCount, AuthError> {
        let redis_key = self.key(key, Kind::Failures);
        let mut conn = self.inner.connection.clone();
        let script = &self.inner.scripts.failures;
        let (count, pttl): (i64, i64) = self
            .run("failures", async move {
                script.key(&redis_key).invoke_async(&mut conn).await
            })
            .await?;
        if count <= 0 {
            return Ok(FailureCount::default());
        }
        Ok(FailureCount {
            count: count_of(count),
            resets_in: resets_in(pttl),
        })
    }

    async fn record_failure(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError> {
        let redis_key = self.key(key, Kind::Failures);
        let mut conn = self.inner.connection.clone();
        let script = &self.inner.scripts.record_failure;
        let window_ms = millis(window);
        let (count, pttl): (i64, i64) = self
            .run("record_failure", async move {
                script
                    .key(&redis_key)
                    .arg(window_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(FailureCount {
            count: count_of(count),
            resets_in: resets_in(pttl),
        })
    }

    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError> {
        let redis_key = self.key(key, Kind::Failures);
        let mut conn = self.inner.connection.clone();
        if ttl.as_millis() == 0 || count == 0 {
            return self
                .run("set_failures", async move {
                    redis::cmd("DEL")
                        .arg(&redis_key)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await;
        }
        let ttl_ms = millis(ttl);
        self.run("set_failures", async move {
            redis::cmd("SET")
                .arg(&redis_key)
                .arg(count)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn reset_failures(&self, key: &str) -> Result<(), AuthError> {
        let redis_key = self.key(key, Kind::Failures);
        let mut conn = self.inner.connection.clone();
        self.run("reset_failures", async move {
            redis::cmd("DEL")
                .arg(&redis_key)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_every_form_of_the_password() {
        let s = Secrets::of_url("redis://user:p%40ss-hunter2@h:1/0");
        let msg = s.scrub(
            "auth failed for redis://user:p%40ss-hunter2@h:1/0 with p@ss-hunter2 / p%40ss-hunter2",
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        let q = Secrets::of_url("redis+unix:///tmp/s?pass=qhunter2");
        assert!(!q.scrub("x qhunter2 y").contains("qhunter2"));
    }

    #[test]
    fn conversions() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(count_of(-3), 0);
        assert_eq!(count_of(i64::MAX), u32::MAX);
        assert_eq!(resets_in(-1), None);
        assert_eq!(resets_in(-2), None);
        assert_eq!(resets_in(1500), Some(Duration::from_millis(1500)));
    }
}
