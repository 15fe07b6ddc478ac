//! [`RedisStore`]: the [`TokenStore`] implementation.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use auth_core::rotation::FingerprintKey;
use auth_core::secrecy::SecretString;
use auth_core::{AuthError, FailureCount, LockToken, StoredSession, TokenStore};
use redis::{ErrorKind, RedisError, RedisResult, Script, ServerErrorKind};
use tokio::time::Instant;

use crate::codec::Codec;
use crate::config::{RedisStoreBuilder, Settings};
use crate::connection::{Connection, Timeouts};
use crate::scripts::Scripts;
use crate::secrets::Secrets;

/// The store format version written into every key name.
pub const FORMAT_VERSION: &str = "v2";

/// Failures older than this are dropped, whatever window a caller asks for
/// (no provider counts failed logins over more than a day); the failure set
/// of an account expires this long after its last failure.
pub const FAILURE_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// TTL of the generation counter, refreshed by each new generation. Losing
/// the counter is harmless: generations are floored at the Redis clock.
pub const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

struct Inner {
    connection: Connection,
    display_url: String,
    secrets: Secrets,
    prefix: String,
    op_timeout: Duration,
    outage_cooldown: Duration,
    codec: Codec,
    scripts: Scripts,
    /// Whether the v1 keys are read and written too (rolling deploys).
    legacy_v1: bool,
    /// The key of credential fingerprints (none: the store keeps none).
    fingerprints: Option<FingerprintKey>,
    /// Operations fail at once until this many milliseconds after `epoch`.
    unavailable_until: AtomicU64,
    epoch: Instant,
}

impl Inner {
    fn new(connection: Connection, settings: Settings) -> Self {
        Self {
            connection,
            display_url: settings.display_url,
            secrets: settings.secrets,
            prefix: settings.prefix,
            op_timeout: settings.op_timeout,
            outage_cooldown: settings.outage_cooldown,
            codec: settings.codec,
            scripts: Scripts::new(),
            legacy_v1: settings.legacy_v1,
            fingerprints: settings.fingerprints,
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
/// Every operation is one Lua script (atomic), and every time it computes
/// is taken from the Redis clock (`TIME`, `PTTL`), never from this
/// process's clock.
///
/// # Key layout (store format v2)
///
/// For the account whose [`cache_key`](auth_core::Provider::cache_key) is
/// `K`, with `T` = `K` with `%`, `{` and `}` percent-encoded (so the Redis
/// Cluster hash tag `{T}` is the whole account key and all keys of one
/// account share a hash slot):
///
/// | key | type | content | expires |
/// |---|---|---|---|
/// | `{prefix}:v2:{T}:session` | hash | `gen` (generation, in clear), `value` (session JSON, or its ciphertext) | with the session's TTL |
/// | `{prefix}:v2:{T}:generation` | string | last generation handed out | 30 days after the last one ([`GENERATION_TTL`]) |
/// | `{prefix}:v2:{T}:lock` | string | random token of the login-lock holder | with the lock's lease |
/// | `{prefix}:v2:{T}:failures` | sorted set | one member (random id) per failed login, score = its time (ms, Redis clock) | 24 h after the last failure ([`FAILURE_HORIZON`]); older members are trimmed |
/// | `{prefix}:v2:{T}:pinned` | sorted set | member `<id>:<count>` per provider lockout ([`set_failures`](TokenStore::set_failures)), score = when it stops counting (ms) | with the last lockout |
/// | `{prefix}:v2:{T}:rejected` | string | keyed fingerprint of the last secret the provider rejected ([`record_rejected_credentials`](TokenStore::record_rejected_credentials); only with a [`fleet_secret`](RedisStoreBuilder::fleet_secret) or encryption key) | 24 h after it was recorded |
/// | `{prefix}:v2:{T}:v1mirror` | hash | `exp`, `n`: failures this store added to the v1 counter in its current window (only with [`write_legacy_v1`](RedisStoreBuilder::write_legacy_v1)) | with the v1 counter |
///
/// While [`write_legacy_v1`](RedisStoreBuilder::write_legacy_v1) is on (the
/// default), the store also reads and writes the v1 keys of older versions
/// (`{prefix}:K:session`, `:generation`, `:lock`, `:failures`) so that a
/// fleet running both versions during a rolling deploy still logs in once
/// and keeps one failure budget; see the crate documentation ("Store format
/// and rolling deploys").
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.display_url)
            .field("prefix", &self.inner.prefix)
            .field("op_timeout", &self.inner.op_timeout)
            .field("encrypted", &self.inner.codec.is_encrypted())
            .field("write_legacy_v1", &self.inner.legacy_v1)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// Checks the settings, connects (unless lazy) and returns the store.
    pub async fn build(self) -> Result<RedisStore, AuthError> {
        RedisStore::open(self.into_settings()?).await
    }
}

/// Which key of an account.
#[derive(Clone, Copy)]
enum Kind {
    Session,
    Generation,
    Lock,
    Failures,
    Pinned,
    V1Mirror,
    Rejected,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Generation => "generation",
            Kind::Lock => "lock",
            Kind::Failures => "failures",
            Kind::Pinned => "pinned",
            Kind::V1Mirror => "v1mirror",
            Kind::Rejected => "rejected",
        }
    }
}

/// The cache key as a Redis Cluster hash tag body: `%`, `{` and `}`
/// percent-encoded, so the tag is the whole account key and distinct cache
/// keys stay distinct.
fn hash_tag(cache_key: &str) -> String {
    let mut out = String::with_capacity(cache_key.len());
    for c in cache_key.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

impl RedisStore {
    /// A builder for a store on the Redis at `url`
    /// (`redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://...` for TLS with the `tls` feature, or
    /// `redis+unix:///path/to/socket[?db=N&pass=...]`). The URL is kept as a
    /// secret: it may carry a password. For Redis Cluster and Sentinel, see
    /// `cluster_builder` and `sentinel_builder` (features `cluster`,
    /// `sentinel`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(SecretString::from(url.into()))
    }

    /// A store with default settings, connected to `url`.
    pub async fn connect(url: impl Into<String>) -> Result<Self, AuthError> {
        Self::builder(url).build().await
    }

    /// A builder for a store on Redis Cluster, given the URLs of some of
    /// its nodes (`redis://[[user]:password@]host:port`, or `rediss://` with
    /// the `tls` feature; all with the same credentials and TLS mode). The
    /// client learns the other nodes and the slot map from them and follows
    /// resharding and failovers.
    ///
    /// Every key of an account shares one hash slot, so every operation is
    /// one script on one node. [`write_legacy_v1`](RedisStoreBuilder::write_legacy_v1)
    /// is off (and cannot be switched on). Requires the `cluster` feature.
    #[cfg(feature = "cluster")]
    pub fn cluster_builder<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreBuilder::for_target(crate::config::Target::Cluster(
            nodes
                .into_iter()
                .map(|n| SecretString::from(n.into()))
                .collect(),
        ))
    }

    /// A builder for a store on the primary that Redis Sentinel designates
    /// for `service` (the name in `sentinel monitor <service> ...`), given
    /// the URLs of some sentinels (`redis://[[user]:password@]host:port`,
    /// with the sentinels' own credentials; `rediss://` with the `tls`
    /// feature makes both the sentinel and the primary connections TLS).
    /// The primary's credentials are set with
    /// [`primary_credentials`](RedisStoreBuilder::primary_credentials).
    ///
    /// The store asks the sentinels for the primary, keeps one connection
    /// to it and asks again after a connection failure, a `READONLY`,
    /// `MASTERDOWN` or `LOADING` reply, and at most once a second while in
    /// use, so it follows a failover within about a second. Requires the
    /// `sentinel` feature.
    #[cfg(feature = "sentinel")]
    pub fn sentinel_builder<I, S>(service: impl Into<String>, sentinels: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreBuilder::for_target(crate::config::Target::Sentinel {
            service: service.into(),
            sentinels: sentinels
                .into_iter()
                .map(|n| SecretString::from(n.into()))
                .collect(),
            username: None,
            password: None,
            database: 0,
        })
    }

    /// The store of checked `settings`: connects first unless they are lazy.
    async fn open(settings: Settings) -> Result<Self, AuthError> {
        let timeouts = Timeouts {
            connect: settings.connect_timeout,
            response: settings.op_timeout,
        };
        let connection = settings
            .connector
            .connect(timeouts, settings.lazy, &settings.secrets)
            .await?;
        Ok(Self {
            inner: Arc::new(Inner::new(connection, settings)),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether stored sessions are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.inner.codec.is_encrypted()
    }

    /// Whether the v1 keys of older versions are read and written too (see
    /// [`RedisStoreBuilder::write_legacy_v1`]).
    pub fn writes_legacy_v1(&self) -> bool {
        self.inner.legacy_v1
    }

    /// The Redis key holding the session of the account `cache_key` (a hash
    /// with fields `gen` and `value`): `{prefix}:v2:{K}:session`, with `{`,
    /// `}` and `%` in the cache key percent-encoded.
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
        format!(
            "{}:{FORMAT_VERSION}:{{{}}}:{}",
            self.inner.prefix,
            hash_tag(cache_key),
            kind.suffix()
        )
    }

    /// The key of `kind` in the v1 format of older versions.
    fn legacy_key(cache_key: &str, prefix: &str, kind: Kind) -> String {
        format!("{prefix}:{cache_key}:{}", kind.suffix())
    }

    /// The v2 keys of `kinds`, followed by the v1 keys of `legacy` while
    /// [`write_legacy_v1`](RedisStoreBuilder::write_legacy_v1) is on.
    fn keys(&self, cache_key: &str, kinds: &[Kind], legacy: &[Kind]) -> Vec<String> {
        let mut keys: Vec<String> = kinds.iter().map(|k| self.key(cache_key, *k)).collect();
        if self.inner.legacy_v1 {
            keys.extend(
                legacy
                    .iter()
                    .map(|k| Self::legacy_key(cache_key, &self.inner.prefix, *k)),
            );
        }
        keys
    }

    /// The failure keys: failures and pinned, then (with the v1 keys) the v1
    /// counter and the v1 mirror, in the order the failure scripts expect.
    fn failure_keys(&self, cache_key: &str) -> Vec<String> {
        let mut keys = vec![
            self.key(cache_key, Kind::Failures),
            self.key(cache_key, Kind::Pinned),
        ];
        if self.inner.legacy_v1 {
            keys.push(Self::legacy_key(
                cache_key,
                &self.inner.prefix,
                Kind::Failures,
            ));
            keys.push(self.key(cache_key, Kind::V1Mirror));
        }
        keys
    }

    /// Runs `script` on `keys` with `args`.
    async fn invoke<T: redis::FromRedisValue + Send + 'static>(
        &self,
        op: &'static str,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
    ) -> Result<T, AuthError> {
        let mut conn = self.inner.connection.clone();
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        self.run(op, async move { invocation.invoke_async(&mut conn).await })
            .await
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
        let hint = if error.kind() == ErrorKind::Server(ServerErrorKind::CrossSlot) {
            " (on Redis Cluster, build the store with write_legacy_v1(false): the v1 keys are not in the account's hash slot)"
        } else {
            ""
        };
        AuthError::Store(format!(
            "redis {op} failed: {}{hint}",
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

/// A number as a script argument.
fn arg(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// A random member id / lock token.
fn random_id() -> String {
    format!(
        "{:08x}-{:016x}{:016x}",
        std::process::id(),
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

/// `(count, ms until it drops or -1)` as returned by the failure scripts.
fn failure_count((count, resets): (i64, i64)) -> FailureCount {
    if count <= 0 {
        return FailureCount::default();
    }
    FailureCount {
        count: count_of(count),
        resets_in: resets_in(resets),
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError> {
        let keys = self.keys(key, &[Kind::Session], &[Kind::Session]);
        let reply: Option<(String, Vec<u8>, i64)> = self
            .invoke("load", &self.inner.scripts.load, keys, Vec::new())
            .await?;
        let Some((generation, value, pttl)) = reply else {
            return Ok(None);
        };
        let generation: u64 = generation.parse().map_err(|_| {
            AuthError::Store("the stored session has an invalid generation field".to_owned())
        })?;
        let mut session = self.inner.codec.decode(key, generation, &value)?;
        session.expires_in = resets_in(pttl);
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
    ) -> Result<bool, AuthError> {
        let keys = self.keys(key, &[Kind::Session], &[Kind::Session]);
        // -1: no TTL; 0: already expired (it still replaces an older one).
        let ttl_ms: i64 = match ttl {
            None => -1,
            Some(t) if t.as_millis() == 0 => 0,
            Some(t) => i64::try_from(millis(t)).unwrap_or(i64::MAX),
        };
        let value = self.inner.codec.encode(key, session)?;
        let saved: i64 = self
            .invoke(
                "save",
                &self.inner.scripts.save,
                keys,
                vec![arg(session.generation), value, arg(ttl_ms)],
            )
            .await?;
        Ok(saved > 0)
    }

    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError> {
        let keys = self.keys(key, &[Kind::Session], &[Kind::Session]);
        let generation = generation.map_or_else(Vec::new, arg);
        let removed: i64 = self
            .invoke("remove", &self.inner.scripts.remove, keys, vec![generation])
            .await?;
        Ok(removed > 0)
    }

    async fn touch(&self, key: &str, generation: u64, ttl: Duration) -> Result<bool, AuthError> {
        let keys = self.keys(key, &[Kind::Session], &[Kind::Session]);
        let touched: i64 = self
            .invoke(
                "touch",
                &self.inner.scripts.touch,
                keys,
                vec![arg(generation), arg(millis(ttl))],
            )
            .await?;
        Ok(touched > 0)
    }

    async fn next_generation(&self, key: &str) -> Result<u64, AuthError> {
        let keys = self.keys(key, &[Kind::Generation], &[Kind::Generation]);
        let generation: i64 = self
            .invoke(
                "next_generation",
                &self.inner.scripts.next_generation,
                keys,
                vec![arg(millis(GENERATION_TTL))],
            )
            .await?;
        u64::try_from(generation)
            .map_err(|_| AuthError::Store("redis returned a negative generation".to_owned()))
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, AuthError> {
        let keys = self.keys(key, &[Kind::Lock], &[Kind::Lock]);
        let token = random_id();
        let taken: i64 = self
            .invoke(
                "try_lock",
                &self.inner.scripts.try_lock,
                keys,
                vec![token.clone().into_bytes(), arg(millis(ttl))],
            )
            .await?;
        Ok((taken > 0).then_some(LockToken(token)))
    }

    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, AuthError> {
        let keys = self.keys(key, &[Kind::Lock], &[Kind::Lock]);
        let extended: i64 = self
            .invoke(
                "extend_lock",
                &self.inner.scripts.extend_lock,
                keys,
                vec![token.0.clone().into_bytes(), arg(millis(ttl))],
            )
            .await?;
        Ok(extended > 0)
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError> {
        let keys = self.keys(key, &[Kind::Lock], &[Kind::Lock]);
        self.invoke::<i64>(
            "unlock",
            &self.inner.scripts.unlock,
            keys,
            vec![token.0.clone().into_bytes()],
        )
        .await
        .map(|_| ())
    }

    async fn failures(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError> {
        let keys = self.failure_keys(key);
        let reply: (i64, i64) = self
            .invoke(
                "failures",
                &self.inner.scripts.failures,
                keys,
                vec![arg(millis(window))],
            )
            .await?;
        Ok(failure_count(reply))
    }

    async fn record_failure(
        &self,
        key: &str,
        window: Duration,
        ago: Duration,
    ) -> Result<FailureCount, AuthError> {
        let keys = self.failure_keys(key);
        let ago_ms = u64::try_from(ago.as_millis())
            .unwrap_or(u64::MAX)
            .min(millis(FAILURE_HORIZON));
        let reply: (i64, i64) = self
            .invoke(
                "record_failure",
                &self.inner.scripts.record_failure,
                keys,
                vec![
                    arg(millis(window)),
                    arg(ago_ms),
                    random_id().into_bytes(),
                    arg(millis(FAILURE_HORIZON)),
                ],
            )
            .await?;
        Ok(failure_count(reply))
    }

    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError> {
        if count == 0 || ttl.as_millis() == 0 {
            return Ok(());
        }
        let keys = self.failure_keys(key);
        self.invoke::<i64>(
            "set_failures",
            &self.inner.scripts.set_failures,
            keys,
            vec![arg(count), arg(millis(ttl)), random_id().into_bytes()],
        )
        .await
        .map(|_| ())
    }

    async fn reset_failures(&self, key: &str) -> Result<(), AuthError> {
        let keys = self.failure_keys(key);
        self.invoke::<i64>(
            "reset_failures",
            &self.inner.scripts.reset_failures,
            keys,
            Vec::new(),
        )
        .await
        .map(|_| ())
    }
    fn credential_fingerprint(&self, key: &str, material: &[u8]) -> Option<String> {
        let fingerprints = self.inner.fingerprints.as_ref()?;
        Some(fingerprints.fingerprint(key, material))
    }

    async fn rejected_credentials(&self, key: &str) -> Result<Option<String>, AuthError> {
        if self.inner.fingerprints.is_none() {
            return Ok(None);
        }
        self.invoke(
            "rejected_credentials",
            &self.inner.scripts.get,
            vec![self.key(key, Kind::Rejected)],
            Vec::new(),
        )
        .await
    }

    async fn record_rejected_credentials(
        &self,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<(), AuthError> {
        self.invoke::<i64>(
            "record_rejected_credentials",
            &self.inner.scripts.set_px,
            vec![self.key(key, Kind::Rejected)],
            vec![fingerprint.as_bytes().to_vec(), arg(millis(ttl))],
        )
        .await
        .map(|_| ())
    }

    async fn clear_rejected_credentials(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> Result<(), AuthError> {
        self.invoke::<i64>(
            "clear_rejected_credentials",
            &self.inner.scripts.delete_if_equal,
            vec![self.key(key, Kind::Rejected)],
            vec![fingerprint.as_bytes().to_vec()],
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tag_is_the_whole_cache_key() {
        assert_eq!(hash_tag("plain:key/1"), "plain:key/1");
        assert_eq!(hash_tag("a{b}c"), "a%7Bb%7Dc");
        // Injective: an escaped-looking key stays distinct.
        assert_eq!(hash_tag("a%7Bb"), "a%257Bb");
        assert_ne!(hash_tag("a{b"), hash_tag("a%7Bb"));
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
