//! The connection of a store: one server (auto-reconnecting), a Redis
//! Cluster, or the primary that Redis Sentinel designates. [`Connection`] is
//! one type for all of them, so every operation and script of the store runs
//! unchanged on each.

use std::time::Duration;

use auth_core::AuthError;
use auth_core::secrecy::ExposeSecret as _;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, Value};

use crate::config::Target;
use crate::secrets::Secrets;

/// PEM client certificate chain and private key (mutual TLS).
#[cfg(feature = "tls")]
pub(crate) type ClientCertificate = (Vec<u8>, auth_core::secrecy::SecretSlice<u8>);

/// What a store connects with: a checked, unconnected client.
#[allow(
    clippy::large_enum_variant,
    reason = "one per store, built once; never copied around"
)]
pub(crate) enum Connector {
    Single(Client),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster::ClusterClient),
    #[cfg(feature = "sentinel")]
    Sentinel(std::sync::Arc<sentinel::Link>),
}

/// The shared connection of a store (cheap to clone).
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server: an auto-reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// Redis Cluster: routes each command (each script, by its keys, which
    /// share one hash slot) to the node of its slot; follows resharding.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
    /// The primary named by the sentinels, asked again after a failure.
    #[cfg(feature = "sentinel")]
    Sentinel(std::sync::Arc<sentinel::Link>),
}

/// Time limits of a connection.
#[derive(Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) response: Duration,
}

fn invalid_url(secrets: &Secrets, error: &redis::RedisError) -> AuthError {
    AuthError::config(format!(
        "invalid Redis URL ({}); expected redis://[[user]:password@]host[:port][/db], rediss://... (feature tls) or redis+unix:///path",
        secrets.scrub(&error.to_string())
    ))
}

impl Connector {
    /// Checks `target` (and the TLS files) and opens its client, which does
    /// not connect yet.
    pub(crate) fn new(
        target: Target,
        #[cfg(feature = "tls")] tls_roots: Option<Vec<u8>>,
        #[cfg(feature = "tls")] tls_client: Option<ClientCertificate>,
        #[cfg_attr(not(feature = "sentinel"), allow(unused_variables))] timeouts: Timeouts,
        secrets: &Secrets,
    ) -> Result<Self, AuthError> {
        #[cfg(feature = "tls")]
        let certificates = tls::certificates(&target, tls_roots, tls_client)?;
        #[cfg(feature = "tls")]
        if target_uses_tls(&target) {
            tls::ensure_crypto_provider();
        }
        match target {
            Target::Single(url) => {
                #[cfg(feature = "tls")]
                if let Some(certificates) = certificates {
                    return Client::build_with_tls(url.expose_secret(), certificates)
                        .map(Self::Single)
                        .map_err(|e| invalid_url(secrets, &e));
                }
                Client::open(url.expose_secret())
                    .map(Self::Single)
                    .map_err(|e| invalid_url(secrets, &e))
            }
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(AuthError::config(
                        "a Redis Cluster store needs the URL of at least one node",
                    ));
                }
                let builder =
                    redis::cluster::ClusterClient::builder(nodes.iter().map(|n| n.expose_secret()));
                #[cfg(feature = "tls")]
                let builder = match certificates {
                    Some(certificates) => builder.certs(certificates),
                    None => builder,
                };
                builder.build().map(Self::Cluster).map_err(|e| {
                    AuthError::config(format!(
                        "invalid Redis Cluster nodes ({}): give redis:// or rediss:// URLs of nodes, all with the same credentials and TLS mode",
                        secrets.scrub(&e.to_string())
                    ))
                })
            }
            #[cfg(feature = "sentinel")]
            Target::Sentinel {
                service,
                sentinels,
                username,
                password,
                database,
            } => sentinel::client(
                &service,
                &sentinels,
                username.as_deref(),
                password.as_ref(),
                database,
                #[cfg(feature = "tls")]
                certificates,
                secrets,
            )
            .map(|c| Self::Sentinel(std::sync::Arc::new(sentinel::Link::new(c, timeouts)))),
        }
    }

    /// The connection: checked with `PING` now unless `lazy` (so a wrong
    /// address or password is reported by `build`), else connected on first
    /// use.
    pub(crate) async fn connect(
        &self,
        timeouts: Timeouts,
        lazy: bool,
        secrets: &Secrets,
    ) -> Result<Connection, AuthError> {
        let connection = match self {
            Connector::Single(client) => {
                if !lazy {
                    check(timeouts, secrets, async {
                        let config = AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(timeouts.connect))
                            .set_response_timeout(Some(timeouts.response));
                        let mut conn = client
                            .get_multiplexed_async_connection_with_config(&config)
                            .await?;
                        redis::cmd("PING").query_async::<()>(&mut conn).await
                    })
                    .await?;
                }
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_response_timeout(Some(timeouts.response))
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1))
                    .set_exponent_base(2.0)
                    .set_number_of_retries(5);
                let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map_err(|e| {
                        AuthError::Store(format!("redis: {}", secrets.scrub(&e.to_string())))
                    })?;
                Connection::Single(manager)
            }
            #[cfg(feature = "cluster")]
            Connector::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(timeouts.connect)
                    .set_response_timeout(timeouts.response);
                if lazy {
                    Connection::Cluster(client.get_pending_async_connection_with_config(config))
                } else {
                    let connection = check(timeouts, secrets, async {
                        let mut conn = client.get_async_connection_with_config(config).await?;
                        redis::cmd("PING").query_async::<()>(&mut conn).await?;
                        Ok::<_, redis::RedisError>(conn)
                    })
                    .await?;
                    Connection::Cluster(connection)
                }
            }
            #[cfg(feature = "sentinel")]
            Connector::Sentinel(link) => {
                let link = std::sync::Arc::clone(link);
                if !lazy {
                    let mut conn = Connection::Sentinel(std::sync::Arc::clone(&link));
                    check(timeouts, secrets, async move {
                        redis::cmd("PING").query_async::<()>(&mut conn).await
                    })
                    .await?;
                }
                Connection::Sentinel(link)
            }
        };
        Ok(connection)
    }
}

/// Runs the connection check `attempt` within the connect and response
/// timeouts, with secret-free errors.
async fn check<T>(
    timeouts: Timeouts,
    secrets: &Secrets,
    attempt: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, AuthError> {
    let limit = timeouts.connect + timeouts.response;
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(AuthError::Store(format!(
            "could not connect to Redis: {}",
            secrets.scrub(&e.to_string())
        ))),
        Err(_) => Err(AuthError::Store(format!(
            "could not connect to Redis within {} ms",
            limit.as_millis()
        ))),
    }
}

#[cfg(feature = "tls")]
fn target_uses_tls(target: &Target) -> bool {
    let tls = |url: &auth_core::secrecy::SecretString| {
        url.expose_secret()
            .get(..9)
            .is_some_and(|s| s.eq_ignore_ascii_case("rediss://"))
    };
    match target {
        Target::Single(url) => tls(url),
        #[cfg(feature = "cluster")]
        Target::Cluster(nodes) => nodes.iter().any(tls),
        #[cfg(feature = "sentinel")]
        Target::Sentinel { sentinels, .. } => sentinels.iter().any(tls),
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => c.req_packed_command(cmd),
            #[cfg(feature = "sentinel")]
            Connection::Sentinel(link) => Box::pin(link.command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "sentinel")]
            Connection::Sentinel(link) => Box::pin(link.commands(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => c.get_db(),
            #[cfg(feature = "sentinel")]
            Connection::Sentinel(_) => 0,
        }
    }
}

#[cfg(feature = "tls")]
mod tls {
    use auth_core::AuthError;
    use auth_core::secrecy::ExposeSecret as _;
    use redis::{ClientTlsConfig, TlsCertificates};
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::{ClientCertificate, Target, target_uses_tls};

    /// The certificates for redis, checked (`None`: the platform's roots,
    /// no client certificate).
    pub(super) fn certificates(
        target: &Target,
        roots: Option<Vec<u8>>,
        client: Option<ClientCertificate>,
    ) -> Result<Option<TlsCertificates>, AuthError> {
        if roots.is_none() && client.is_none() {
            return Ok(None);
        }
        if !target_uses_tls(target) {
            return Err(AuthError::config(
                "TLS certificates are set but the Redis URL is not rediss://: use rediss://host:port (Redis's tls-port)",
            ));
        }
        if let Some(pem) = &roots {
            let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
            match parsed {
                Ok(certs) if !certs.is_empty() => {}
                _ => {
                    return Err(AuthError::config(
                        "tls_root_certificates: expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
                    ));
                }
            }
        }
        let client_tls = match client {
            None => None,
            Some((chain, key)) => {
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&chain).collect();
                if !certs.is_ok_and(|c| !c.is_empty()) {
                    return Err(AuthError::config(
                        "tls_client_certificate: expected the client certificate chain in PEM (-----BEGIN CERTIFICATE-----)",
                    ));
                }
                if PrivateKeyDer::from_pem_slice(key.expose_secret()).is_err() {
                    return Err(AuthError::config(
                        "tls_client_certificate: expected the private key in PEM (PKCS#8, PKCS#1 or SEC1)",
                    ));
                }
                Some(ClientTlsConfig {
                    client_cert: chain,
                    client_key: key.expose_secret().to_vec(),
                })
            }
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert: roots,
        }))
    }

    /// rustls needs a process-wide crypto provider; it picks one by itself
    /// only when exactly one is compiled in. When none is installed, install
    /// aws-lc-rs (the one this workspace's HTTP client already uses), so a
    /// build with several providers does not panic on connect.
    pub(super) fn ensure_crypto_provider() {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // An error means another thread installed one meanwhile: fine.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
    }
}

#[cfg(feature = "sentinel")]
mod sentinel {
    use std::sync::{Mutex, PoisonError};
    use std::time::{Duration, Instant};

    use auth_core::AuthError;
    use auth_core::secrecy::{ExposeSecret as _, SecretString};
    use redis::aio::{ConnectionLike as _, MultiplexedConnection};
    use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
    use redis::{
        AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo as _, Pipeline,
        RedisError, RedisResult, ServerErrorKind, TlsMode, Value,
    };

    use super::Timeouts;
    use crate::secrets::Secrets;

    /// The sentinel client for the primary `service`.
    pub(super) fn client(
        service: &str,
        sentinels: &[SecretString],
        username: Option<&str>,
        password: Option<&SecretString>,
        database: i64,
        #[cfg(feature = "tls")] certificates: Option<redis::TlsCertificates>,
        secrets: &Secrets,
    ) -> Result<SentinelClient, AuthError> {
        let invalid = |e: &RedisError| {
            AuthError::config(format!(
                "invalid Redis Sentinel settings ({}): give the sentinels' redis:// or rediss:// URLs (host:port of each sentinel, with the sentinels' credentials if any) and the primary's name",
                secrets.scrub(&e.to_string())
            ))
        };
        if service.is_empty() || sentinels.is_empty() {
            return Err(AuthError::config(
                "a Redis Sentinel store needs the primary's name and the URL of at least one sentinel",
            ));
        }
        let mut addrs = Vec::new();
        let mut sentinel_auth = None;
        let mut tls = None;
        for url in sentinels {
            let info = url
                .expose_secret()
                .into_connection_info()
                .map_err(|e| invalid(&e))?;
            if sentinel_auth.is_none() {
                let r = info.redis_settings();
                sentinel_auth = Some((
                    r.username().map(str::to_owned),
                    r.password().map(str::to_owned),
                ));
            }
            if let ConnectionAddr::TcpTls { .. } = info.addr() {
                tls = Some(TlsMode::Secure);
            }
            addrs.push(info.addr().clone());
        }
        let mut builder = SentinelClientBuilder::new(addrs, service, SentinelServerType::Master)
            .map_err(|e| invalid(&e))?;
        if let Some((user, pass)) = sentinel_auth {
            if let Some(user) = user {
                builder = builder.set_client_to_sentinel_username(user);
            }
            if let Some(pass) = pass {
                builder = builder.set_client_to_sentinel_password(pass);
            }
        }
        builder = builder.set_client_to_redis_db(database);
        if let Some(user) = username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(pass) = password {
            builder = builder.set_client_to_redis_password(pass.expose_secret());
        }
        if let Some(mode) = tls {
            builder = builder
                .set_client_to_sentinel_tls_mode(mode)
                .set_client_to_redis_tls_mode(mode);
        }
        #[cfg(feature = "tls")]
        if let Some(certificates) = certificates {
            builder = builder
                .set_client_to_sentinel_certificates(certificates.clone())
                .set_client_to_redis_certificates(certificates);
        }
        builder.build().map_err(|e| invalid(&e))
    }

    /// The primary through the sentinels: asks them which server is the
    /// primary, keeps a multiplexed connection to it, and asks again after a
    /// connection failure or a reply showing the server is no longer the
    /// primary (`READONLY`, `MASTERDOWN`, `LOADING`), and at most every
    /// [`RECHECK`] while in use (so a switch is noticed even while the old
    /// primary still accepts writes).
    pub(crate) struct Link {
        sentinel: tokio::sync::Mutex<SentinelClient>,
        primary: Mutex<Option<Primary>>,
        config: AsyncConnectionConfig,
    }

    /// How often a store in use asks the sentinels whether the primary
    /// changed.
    const RECHECK: Duration = Duration::from_secs(1);

    #[derive(Clone)]
    struct Primary {
        addr: ConnectionAddr,
        conn: MultiplexedConnection,
        checked: Instant,
    }

    impl Link {
        pub(super) fn new(client: SentinelClient, timeouts: Timeouts) -> Self {
            Self {
                sentinel: tokio::sync::Mutex::new(client),
                primary: Mutex::new(None),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_response_timeout(Some(timeouts.response)),
            }
        }

        fn current(&self) -> Option<Primary> {
            self.primary
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }

        fn set(&self, primary: Option<Primary>) {
            *self.primary.lock().unwrap_or_else(PoisonError::into_inner) = primary;
        }

        async fn connection(&self) -> RedisResult<MultiplexedConnection> {
            let cached = self.current();
            if let Some(p) = &cached
                && p.checked.elapsed() < RECHECK
            {
                return Ok(p.conn.clone());
            }
            // One task asks the sentinels; the others keep using the
            // current primary meanwhile (or wait when there is none).
            let mut sentinel = match (&cached, self.sentinel.try_lock()) {
                (_, Ok(guard)) => guard,
                (Some(p), Err(_)) => return Ok(p.conn.clone()),
                (None, Err(_)) => self.sentinel.lock().await,
            };
            let cached = self.current();
            if let Some(p) = &cached
                && p.checked.elapsed() < RECHECK
            {
                return Ok(p.conn.clone());
            }
            let client = sentinel.async_get_client().await?;
            let addr = client.get_connection_info().addr().clone();
            if let Some(mut p) = cached
                && p.addr == addr
            {
                p.checked = Instant::now();
                let conn = p.conn.clone();
                self.set(Some(p));
                return Ok(conn);
            }
            let conn = client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await?;
            self.set(Some(Primary {
                addr,
                conn: conn.clone(),
                checked: Instant::now(),
            }));
            Ok(conn)
        }

        fn check<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
            if let Err(e) = &result {
                let stale = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                    || matches!(
                        e.kind(),
                        ErrorKind::Server(
                            ServerErrorKind::ReadOnly
                                | ServerErrorKind::MasterDown
                                | ServerErrorKind::BusyLoading
                        )
                    );
                if stale {
                    self.set(None);
                }
            }
            result
        }

        pub(super) async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
            let result = match self.connection().await {
                Ok(mut conn) => conn.req_packed_command(cmd).await,
                Err(e) => Err(e),
            };
            self.check(result)
        }

        pub(super) async fn commands(
            &self,
            pipeline: &Pipeline,
            offset: usize,
            count: usize,
        ) -> RedisResult<Vec<Value>> {
            let result = match self.connection().await {
                Ok(mut conn) => conn.req_packed_commands(pipeline, offset, count).await,
                Err(e) => Err(e),
            };
            self.check(result)
        }
    }
}
