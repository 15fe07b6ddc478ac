//! [`RedisStoreBuilder`]: validated settings for a [`RedisStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use auth_core::AuthError;
use auth_core::secrecy::{ExposeSecret, SecretString};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client};

use crate::codec::Codec;
use crate::scripts::Scripts;
use crate::store::{Inner, RedisStore, Secrets};

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "auth";
/// Default time limit of one store operation.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Default time limit for opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time a store stays "unavailable" after a connection failure or
/// timeout before it tries Redis again.
pub const DEFAULT_OUTAGE_COOLDOWN: Duration = Duration::from_secs(1);

/// Builds a [`RedisStore`]; obtained from [`RedisStore::builder`].
///
/// Settings are checked by [`build`](Self::build), which also connects to
/// Redis (unless [`connect_lazily`](Self::connect_lazily) is set) so a wrong
/// address or password shows up at start-up.
#[must_use]
pub struct RedisStoreBuilder {
    url: SecretString,
    prefix: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    outage_cooldown: Duration,
    lazy: bool,
    codec: Codec,
    key_error: Option<String>,
    legacy_v1: bool,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &redact_url(self.url.expose_secret()))
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("outage_cooldown", &self.outage_cooldown)
            .field("lazy", &self.lazy)
            .field("encrypted", &self.codec.is_encrypted())
            .field("write_legacy_v1", &self.legacy_v1)
            .finish()
    }
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: SecretString) -> Self {
        Self {
            url,
            prefix: DEFAULT_PREFIX.to_owned(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            outage_cooldown: DEFAULT_OUTAGE_COOLDOWN,
            lazy: false,
            codec: Codec::Plain,
            key_error: None,
            legacy_v1: true,
        }
    }

    /// Prefix of every key this store writes (default `"auth"`): keys are
    /// `{prefix}:v2:{{cache key}}:session|generation|lock|failures|...` (see
    /// [`RedisStore`] for the layout). Use one prefix per application (or
    /// environment) sharing a Redis database. It must not contain spaces,
    /// control characters, `{` or `}` (which would move the Redis Cluster
    /// hash tag into the prefix).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Time limit of one store operation, including waiting for a
    /// reconnection (default 500 ms). When it passes, the operation fails
    /// with [`AuthError::Store`] and the client carries on with its
    /// in-process cache.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Time limit for opening a connection to Redis (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// After a connection failure or a timed-out operation, operations fail
    /// at once for this long instead of each waiting for the timeout
    /// (default 1 s; zero disables it). The connection is re-established in
    /// the background meanwhile.
    pub fn outage_cooldown(mut self, cooldown: Duration) -> Self {
        self.outage_cooldown = cooldown;
        self
    }

    /// Do not connect in [`build`](Self::build); connect on first use. For
    /// services that must start while Redis is unavailable (they run on
    /// their in-process cache until it is back).
    pub fn connect_lazily(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// Encrypts stored sessions (token and provider data) with
    /// XChaCha20-Poly1305 under this 32-byte key; every process sharing the
    /// sessions needs the same key. Values are bound to the account and
    /// generation they are stored for. The generation number stays readable
    /// beside the value (needed to fence saves and to remove or touch a
    /// session by generation).
    ///
    /// Requires the `encryption` feature.
    #[cfg(feature = "encryption")]
    pub fn encryption_key(mut self, key: &[u8; 32]) -> Self {
        use chacha20poly1305::KeyInit;
        self.codec = Codec::Encrypted(Box::new(chacha20poly1305::XChaCha20Poly1305::new(
            key.into(),
        )));
        self.key_error = None;
        self
    }

    /// Like [`encryption_key`](Self::encryption_key), from a slice, which
    /// must be exactly 32 bytes long ([`build`](Self::build) fails
    /// otherwise).
    ///
    /// Requires the `encryption` feature.
    #[cfg(feature = "encryption")]
    pub fn encryption_key_slice(self, key: &[u8]) -> Self {
        match <&[u8; 32]>::try_from(key) {
            Ok(key) => self.encryption_key(key),
            Err(_) => Self {
                key_error: Some(format!(
                    "the encryption key must be 32 bytes long, not {}",
                    key.len()
                )),
                ..self
            },
        }
    }

    /// Whether to stay compatible with processes of older versions, which
    /// use the v1 store format (`{prefix}:{cache key}:session` etc.), during
    /// a rolling deploy (default **on**).
    ///
    /// While on, this store also reads and writes the v1 keys: it saves
    /// sessions in both formats and adopts a v1 session newer than its own,
    /// takes the login lock only when the v1 lock is free too (and holds
    /// both), keeps the v1 generation counter in step, adds its failed
    /// logins to the v1 counter and counts the failures that old processes
    /// recorded there (without counting its own twice). See the crate
    /// documentation, "Store format and rolling deploys".
    ///
    /// Switch it off once no process of an older version remains: the store
    /// then touches only v2 keys (which all share the account's hash slot;
    /// the v1 keys do not, so it must be off before moving to Redis Cluster).
    /// Leftover v1 keys expire with their TTLs (a v1 session without a TTL
    /// or a v1 generation counter stays until deleted, and is then unused).
    pub fn write_legacy_v1(mut self, on: bool) -> Self {
        self.legacy_v1 = on;
        self
    }

    /// Checks the settings, connects (unless lazy) and returns the store.
    pub async fn build(self) -> Result<RedisStore, AuthError> {
        if let Some(error) = self.key_error {
            return Err(AuthError::config(error));
        }
        if self.prefix.is_empty()
            || self
                .prefix
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '{' || c == '}')
        {
            return Err(AuthError::config(
                "the Redis key prefix must be non-empty, without spaces, control characters, `{` or `}`",
            ));
        }
        for (name, value) in [
            ("op_timeout", self.op_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(AuthError::config(format!("{name} must be positive")));
            }
        }
        let secrets = Secrets::of_url(self.url.expose_secret());
        let client = Client::open(self.url.expose_secret()).map_err(|e| {
            AuthError::config(format!(
                "invalid Redis URL ({}); expected redis://[[user]:password@]host[:port][/db] or redis+unix:///path",
                secrets.scrub(&e.to_string())
            ))
        })?;

        if !self.lazy {
            check_connection(&client, self.connect_timeout, self.op_timeout, &secrets).await?;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.op_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_exponent_base(2.0)
            .set_number_of_retries(5);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| AuthError::Store(format!("redis: {}", secrets.scrub(&e.to_string()))))?;
        Ok(RedisStore {
            inner: Arc::new(Inner::new(
                connection,
                redact_url(self.url.expose_secret()),
                secrets,
                self.prefix,
                self.op_timeout,
                self.outage_cooldown,
                self.codec,
                Scripts::new(),
                self.legacy_v1,
            )),
        })
    }
}

/// Opens one connection and sends `PING`, so a wrong address or password is
/// reported by `build` (the connection manager would retry it silently).
async fn check_connection(
    client: &Client,
    connect_timeout: Duration,
    op_timeout: Duration,
    secrets: &Secrets,
) -> Result<(), AuthError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(op_timeout));
    let attempt = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    };
    match tokio::time::timeout(connect_timeout + op_timeout, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AuthError::Store(format!(
            "could not connect to Redis: {}",
            secrets.scrub(&e.to_string())
        ))),
        Err(_) => Err(AuthError::Store(format!(
            "could not connect to Redis within {} ms",
            (connect_timeout + op_timeout).as_millis()
        ))),
    }
}

/// The URL with its password (user-info password, or `pass`/`password`
/// query parameter) replaced by `[REDACTED]`; unparsable URLs are hidden
/// entirely.
pub(crate) fn redact_url(raw: &str) -> String {
    let Ok(mut url) = auth_core::url::Url::parse(raw) else {
        return "[unparsable URL]".to_owned();
    };
    if url.password().is_some() && url.set_password(Some("REDACTED")).is_err() {
        return "[URL]".to_owned();
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = matches!(k.to_ascii_lowercase().as_str(), "pass" | "password");
                let v = if secret {
                    "REDACTED".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("redis://user:hunter2@example.com:6380/2"),
            "redis://user:REDACTED@example.com:6380/2"
        );
        assert_eq!(
            redact_url("redis://:hunter2@127.0.0.1"),
            "redis://:REDACTED@127.0.0.1"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        let unix = redact_url("redis+unix:///tmp/r.sock?db=1&pass=hunter2");
        assert!(!unix.contains("hunter2") && unix.contains("db=1"), "{unix}");
        assert!(!redact_url("hunter2 not a url").contains("hunter2"));
    }

    #[tokio::test]
    async fn build_validates_settings_without_echoing_the_url() {
        let bad = |b: RedisStoreBuilder| async move { b.build().await.unwrap_err() };
        let url = || SecretString::from("redis://:pw-hunter2@127.0.0.1:1".to_owned());
        for err in [
            bad(RedisStoreBuilder::new(url()).prefix("")).await,
            bad(RedisStoreBuilder::new(url()).prefix("a b")).await,
            bad(RedisStoreBuilder::new(url()).prefix("a{b}")).await,
            bad(RedisStoreBuilder::new(url()).op_timeout(Duration::ZERO)).await,
            bad(RedisStoreBuilder::new(url()).connect_timeout(Duration::ZERO)).await,
        ] {
            assert!(matches!(err, AuthError::Config(_)), "{err:?}");
        }
        let err = bad(RedisStoreBuilder::new(SecretString::from(
            "http://:pw-hunter2@x/".to_owned(),
        )))
        .await;
        assert!(matches!(err, AuthError::Config(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("pw-hunter2"));
        let builder = RedisStoreBuilder::new(url());
        assert!(!format!("{builder:?}").contains("pw-hunter2"));
    }
}
