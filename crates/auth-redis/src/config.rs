//! [`RedisStoreBuilder`]: the settings of a [`RedisStore`](crate::RedisStore),
//! checked into [`Settings`] (the store is built from them in `store.rs`;
//! this module does not depend on it).

use std::fmt;
use std::time::Duration;

use auth_core::AuthError;
use auth_core::rotation::FingerprintKey;
use auth_core::secrecy::{ExposeSecret, SecretString};

use crate::codec::Codec;
use crate::connection::{Connector, Timeouts};
use crate::secrets::{Secrets, redact_url};

/// What the fleet secret's fingerprint key is derived for (a label, so the
/// same secret used elsewhere yields another key).
const FINGERPRINT_LABEL: &str = "auth-redis credential fingerprint v1";

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "auth";
/// Default time limit of one store operation.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Default time limit for opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time a store stays "unavailable" after a connection failure or
/// timeout before it tries Redis again.
pub const DEFAULT_OUTAGE_COOLDOWN: Duration = Duration::from_secs(1);

/// Builds a [`RedisStore`](crate::RedisStore); obtained from
/// [`RedisStore::builder`](crate::RedisStore::builder).
///
/// Settings are checked by [`build`](Self::build), which also connects to
/// Redis (unless [`connect_lazily`](Self::connect_lazily) is set) so a wrong
/// address or password shows up at start-up.
#[must_use]
pub struct RedisStoreBuilder {
    target: Target,
    prefix: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    outage_cooldown: Duration,
    lazy: bool,
    codec: Codec,
    key_error: Option<String>,
    /// `None`: the default of the target (on for one server, off on Cluster).
    legacy_v1: Option<bool>,
    #[cfg(feature = "tls")]
    tls: TlsFiles,
    /// Keys the credential fingerprints: from the fleet secret, else from
    /// the encryption key.
    fleet_fingerprints: Option<FingerprintKey>,
    encryption_fingerprints: Option<FingerprintKey>,
}

/// Which Redis deployment a store talks to.
pub(crate) enum Target {
    /// One server (or a proxy): its URL.
    Single(SecretString),
    /// Redis Cluster: the URLs of some of its nodes.
    #[cfg(feature = "cluster")]
    Cluster(Vec<SecretString>),
    /// The primary of a set monitored by Redis Sentinel.
    #[cfg(feature = "sentinel")]
    Sentinel {
        /// The name the sentinels know the primary by.
        service: String,
        /// URLs of (some of) the sentinels.
        sentinels: Vec<SecretString>,
        /// User name and password of the primary (not of the sentinels).
        username: Option<String>,
        password: Option<SecretString>,
        /// The primary's database number (`SELECT`).
        database: i64,
    },
}

impl Target {
    /// Every URL of the target.
    fn urls(&self) -> Vec<&SecretString> {
        match self {
            Target::Single(url) => vec![url],
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => nodes.iter().collect(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel { sentinels, .. } => sentinels.iter().collect(),
        }
    }

    /// The target with passwords redacted, for `Debug`.
    fn display(&self) -> String {
        #[cfg_attr(
            not(any(feature = "cluster", feature = "sentinel")),
            allow(unused_variables)
        )]
        let urls = || {
            self.urls()
                .into_iter()
                .map(|u| redact_url(u.expose_secret()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Target::Single(url) => redact_url(url.expose_secret()),
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => format!("cluster [{}]", urls()),
            #[cfg(feature = "sentinel")]
            Target::Sentinel { service, .. } => {
                format!("sentinel primary {service:?} via [{}]", urls())
            }
        }
    }

    /// The secrets of the target: URLs, their passwords, the primary's.
    fn secrets(&self) -> Secrets {
        let secrets = Secrets::of_urls(self.urls().into_iter().map(|u| u.expose_secret()));
        #[cfg(feature = "sentinel")]
        if let Target::Sentinel {
            password: Some(p), ..
        } = self
        {
            return secrets.with(p.expose_secret());
        }
        secrets
    }

    /// Whether this is a Redis Cluster.
    fn is_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        if matches!(self, Target::Cluster(_)) {
            return true;
        }
        false
    }
}

/// Certificates for `rediss://` connections.
#[cfg(feature = "tls")]
#[derive(Default)]
struct TlsFiles {
    /// PEM: the CA certificates that server certificates are checked
    /// against, instead of the platform's.
    roots: Option<Vec<u8>>,
    /// PEM: client certificate chain and private key (mutual TLS).
    client: Option<(Vec<u8>, auth_core::secrecy::SecretSlice<u8>)>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &self.target.display())
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("outage_cooldown", &self.outage_cooldown)
            .field("lazy", &self.lazy)
            .field("encrypted", &self.codec.is_encrypted())
            .field("write_legacy_v1", &self.legacy_v1)
            .field(
                "fingerprints",
                &(self.fleet_fingerprints.is_some() || self.encryption_fingerprints.is_some()),
            )
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: SecretString) -> Self {
        Self::for_target(Target::Single(url))
    }

    pub(crate) fn for_target(target: Target) -> Self {
        Self {
            target,
            prefix: DEFAULT_PREFIX.to_owned(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            outage_cooldown: DEFAULT_OUTAGE_COOLDOWN,
            lazy: false,
            codec: Codec::Plain,
            key_error: None,
            legacy_v1: None,
            #[cfg(feature = "tls")]
            tls: TlsFiles::default(),
            fleet_fingerprints: None,
            encryption_fingerprints: None,
        }
    }

    /// Prefix of every key this store writes (default `"auth"`): keys are
    /// `{prefix}:v2:{{cache key}}:session|generation|lock|failures|...` (see
    /// [`RedisStore`](crate::RedisStore) for the layout). Use one prefix per
    /// application (or environment) sharing a Redis database. It must not
    /// contain spaces, control characters, `{` or `}` (which would move the
    /// Redis Cluster hash tag into the prefix).
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
        self.encryption_fingerprints = FingerprintKey::derive(key, FINGERPRINT_LABEL).ok();
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

    /// The fleet secret: at least 32 random bytes, the same in every process
    /// sharing the store, never stored in Redis. It keys the fingerprints of
    /// account secrets (HMAC-SHA-256) that sessions are stored with, so that
    /// every process learns when an account's secret was rotated, and a
    /// secret the provider rejected is not tried again by the others (see
    /// `auth_core::rotation`). Without the key, a fingerprint read from
    /// Redis (or a backup) cannot be tested against guessed passwords.
    ///
    /// Without a fleet secret, the key is derived from the
    /// [`encryption_key`](Self::encryption_key) when there is one; with
    /// neither, the store keeps no fingerprints (processes then learn of a
    /// rotation from the provider's answers only). [`build`](Self::build)
    /// fails for a secret shorter than 32 bytes.
    pub fn fleet_secret(mut self, secret: &[u8]) -> Self {
        match FingerprintKey::derive(secret, FINGERPRINT_LABEL) {
            Ok(key) => self.fleet_fingerprints = Some(key),
            Err(error) => self.key_error = Some(format!("fleet_secret: {error}")),
        }
        self
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
    ///
    /// On Redis Cluster it is off by default, and [`build`](Self::build)
    /// refuses to switch it on: the scripts that touch v1 and v2 keys
    /// together would fail with `CROSSSLOT` (and older versions had no
    /// Cluster client, so no old process can share a Cluster anyway).
    pub fn write_legacy_v1(mut self, on: bool) -> Self {
        self.legacy_v1 = Some(on);
        self
    }

    /// Trust these CA certificates (PEM, one or more) for `rediss://`
    /// connections instead of the platform's root certificates: for a Redis
    /// whose certificate is issued by a private CA. The server's name (the
    /// URL's host) is still checked against its certificate.
    ///
    /// Requires the `tls` feature; [`build`](Self::build) fails if the
    /// PEM holds no certificate or the URL is not `rediss://`.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.roots = Some(pem.into());
        self
    }

    /// Present this client certificate (PEM chain) and private key (PEM)
    /// to the server: for Redis with `tls-auth-clients yes` (mutual TLS).
    /// The key is kept as a secret.
    ///
    /// Requires the `tls` feature; [`build`](Self::build) fails if either
    /// does not parse or the URL is not `rediss://`.
    #[cfg(feature = "tls")]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((certificate_pem.into(), key_pem.into().into()));
        self
    }

    /// The primary's user name (ACL user) and password, for a store built
    /// with [`RedisStore::sentinel_builder`](crate::RedisStore::sentinel_builder)
    /// (the sentinels' own credentials are in their URLs). Without it, the
    /// primary is used without authentication.
    ///
    /// Requires the `sentinel` feature; [`build`](Self::build) fails if the
    /// store is not a Sentinel one.
    #[cfg(feature = "sentinel")]
    pub fn primary_credentials(
        mut self,
        username: Option<&str>,
        password: impl Into<String>,
    ) -> Self {
        match &mut self.target {
            Target::Sentinel {
                username: u,
                password: p,
                ..
            } => {
                *u = username.map(str::to_owned);
                *p = Some(SecretString::from(password.into()));
            }
            _ => {
                self.key_error = Some(
                    "primary_credentials applies to stores built with RedisStore::sentinel_builder; put the credentials in the URL instead".to_owned(),
                );
            }
        }
        self
    }

    /// The database number (`SELECT`) on the primary of a store built with
    /// [`RedisStore::sentinel_builder`](crate::RedisStore::sentinel_builder).
    /// Default 0. A single server's database is in its URL
    /// (`redis://host:6379/3`); Redis Cluster has only database 0.
    ///
    /// Requires the `sentinel` feature; [`build`](Self::build) fails if the
    /// store is not a Sentinel one, or if `database` is negative.
    #[cfg(feature = "sentinel")]
    pub fn primary_database(mut self, database: i64) -> Self {
        match &mut self.target {
            Target::Sentinel { database: d, .. } if database >= 0 => *d = database,
            Target::Sentinel { .. } => {
                self.key_error = Some(format!(
                    "primary_database must be 0 or more, not {database}"
                ));
            }
            _ => {
                self.key_error = Some(
                    "primary_database applies to stores built with RedisStore::sentinel_builder; a single server's database goes in its URL (redis://host:6379/3)".to_owned(),
                );
            }
        }
        self
    }

    /// Checks the settings and opens the Redis client (which does not
    /// connect yet): what [`build`](Self::build) connects with.
    pub(crate) fn into_settings(self) -> Result<Settings, AuthError> {
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
        let legacy_v1 = match (self.legacy_v1, self.target.is_cluster()) {
            (Some(true), true) => {
                return Err(AuthError::config(
                    "write_legacy_v1(true) cannot work on Redis Cluster: the v1 keys are not in the account's hash slot (scripts would fail with CROSSSLOT); remove the setting (it is off by default on Cluster)",
                ));
            }
            (Some(on), _) => on,
            (None, cluster) => !cluster,
        };
        let secrets = self.target.secrets();
        let display_url = self.target.display();
        let connector = Connector::new(
            self.target,
            #[cfg(feature = "tls")]
            self.tls.roots,
            #[cfg(feature = "tls")]
            self.tls.client,
            Timeouts {
                connect: self.connect_timeout,
                response: self.op_timeout,
            },
            &secrets,
        )?;
        Ok(Settings {
            connector,
            display_url,
            secrets,
            prefix: self.prefix,
            op_timeout: self.op_timeout,
            connect_timeout: self.connect_timeout,
            outage_cooldown: self.outage_cooldown,
            lazy: self.lazy,
            codec: self.codec,
            legacy_v1,
            fingerprints: self.fleet_fingerprints.or(self.encryption_fingerprints),
        })
    }
}

/// The checked settings of a store, from
/// [`RedisStoreBuilder::into_settings`]: what the store is built from.
pub(crate) struct Settings {
    /// The Redis client (opened, not connected).
    pub(crate) connector: Connector,
    /// The URL with its password redacted, for `Debug`.
    pub(crate) display_url: String,
    /// The secret parts of the URL, scrubbed from errors.
    pub(crate) secrets: Secrets,
    /// Prefix of every key (checked).
    pub(crate) prefix: String,
    /// Time limit of one operation (positive).
    pub(crate) op_timeout: Duration,
    /// Time limit for opening a connection (positive).
    pub(crate) connect_timeout: Duration,
    /// How long operations fail at once after a connection failure.
    pub(crate) outage_cooldown: Duration,
    /// Whether to skip the connection check at build time.
    pub(crate) lazy: bool,
    /// The key of credential fingerprints, when there is one.
    pub(crate) fingerprints: Option<FingerprintKey>,
    /// How sessions are encoded (plain or encrypted).
    pub(crate) codec: Codec,
    /// Whether the v1 keys are read and written too.
    pub(crate) legacy_v1: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_without_echoing_the_url() {
        let bad = |b: RedisStoreBuilder| b.into_settings().err().expect("invalid settings");
        let url = || SecretString::from("redis://:pw-hunter2@127.0.0.1:1".to_owned());
        for err in [
            bad(RedisStoreBuilder::new(url()).prefix("")),
            bad(RedisStoreBuilder::new(url()).prefix("a b")),
            bad(RedisStoreBuilder::new(url()).prefix("a{b}")),
            bad(RedisStoreBuilder::new(url()).op_timeout(Duration::ZERO)),
            bad(RedisStoreBuilder::new(url()).connect_timeout(Duration::ZERO)),
        ] {
            assert!(matches!(err, AuthError::Config(_)), "{err:?}");
        }
        let err = bad(RedisStoreBuilder::new(SecretString::from(
            "http://:pw-hunter2@x/".to_owned(),
        )));
        assert!(matches!(err, AuthError::Config(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("pw-hunter2"));
        let builder = RedisStoreBuilder::new(url());
        assert!(!format!("{builder:?}").contains("pw-hunter2"));
        let Ok(settings) = RedisStoreBuilder::new(url()).into_settings() else {
            panic!("valid settings");
        };
        assert!(!settings.display_url.contains("pw-hunter2"));
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn cluster_refuses_the_v1_keys_and_redacts_every_node() {
        let nodes = || {
            Target::Cluster(vec![
                SecretString::from("redis://u:pw-hunter2@127.0.0.1:7001".to_owned()),
                SecretString::from("redis://u:pw-hunter2@127.0.0.1:7002".to_owned()),
            ])
        };
        let Ok(settings) = RedisStoreBuilder::for_target(nodes()).into_settings() else {
            panic!("valid cluster settings");
        };
        assert!(!settings.legacy_v1, "off by default on Cluster");
        assert!(!settings.display_url.contains("pw-hunter2"));
        assert!(settings.display_url.contains("7002"));
        let builder = RedisStoreBuilder::for_target(nodes()).write_legacy_v1(true);
        assert!(!format!("{builder:?}").contains("pw-hunter2"));
        let err = builder.into_settings().err().expect("refused");
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains("CROSSSLOT")),
            "{err:?}"
        );
        let Ok(off) = RedisStoreBuilder::for_target(nodes())
            .write_legacy_v1(false)
            .into_settings()
        else {
            panic!("v2 only is fine");
        };
        assert!(!off.legacy_v1);
        // One server keeps the rolling-deploy default.
        let Ok(single) =
            RedisStoreBuilder::new(SecretString::from("redis://h".to_owned())).into_settings()
        else {
            panic!("valid");
        };
        assert!(single.legacy_v1);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_files_need_rediss_and_pem() {
        let err = RedisStoreBuilder::new(SecretString::from("redis://127.0.0.1".to_owned()))
            .tls_root_certificates("-----BEGIN CERTIFICATE-----")
            .into_settings()
            .err()
            .expect("refused");
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains("rediss://")),
            "{err:?}"
        );
        let err = RedisStoreBuilder::new(SecretString::from("rediss://127.0.0.1".to_owned()))
            .tls_root_certificates("garbage")
            .into_settings()
            .err()
            .expect("refused");
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains("PEM")),
            "{err:?}"
        );
        let err = RedisStoreBuilder::new(SecretString::from("rediss://127.0.0.1".to_owned()))
            .tls_client_certificate("garbage", "secret-key-hunter2")
            .into_settings()
            .err()
            .expect("refused");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
    }

    #[cfg(feature = "sentinel")]
    #[test]
    fn primary_credentials_are_for_sentinel_stores_and_secret() {
        let err = RedisStoreBuilder::new(SecretString::from("redis://127.0.0.1".to_owned()))
            .primary_credentials(None, "pw")
            .into_settings()
            .err()
            .expect("refused");
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains("sentinel")),
            "{err:?}"
        );
        let builder = RedisStoreBuilder::for_target(Target::Sentinel {
            service: "mymaster".to_owned(),
            sentinels: vec![SecretString::from(
                "redis://:s-hunter2@127.0.0.1:26379".to_owned(),
            )],
            username: None,
            password: None,
            database: 0,
        })
        .primary_credentials(Some("fleet"), "p-hunter2");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let Ok(settings) = builder.into_settings() else {
            panic!("valid sentinel settings");
        };
        assert!(!settings.display_url.contains("hunter2"));
        assert!(
            settings
                .secrets
                .scrub("x p-hunter2 s-hunter2")
                .matches("hunter2")
                .count()
                == 0
        );
    }
}
