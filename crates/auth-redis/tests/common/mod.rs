//! Shared test fixtures: a throw-away `redis-server`, a tiny token API
//! counting logins, and a provider for it.
#![allow(dead_code, unreachable_pub)]

pub mod procs;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::reqwest::{RequestBuilder, StatusCode};
use auth_core::secrecy::{ExposeSecret, SecretString};
use auth_core::url::Url;
use auth_core::{
    AuthError, Expiry, HttpClient, LockoutRule, NewSession, Provider, Session, async_trait,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::time::Instant;

// ---------------------------------------------------------------- redis

/// Where `redis-server` is, or `None` (after printing a notice) when it is
/// absent and `AUTH_REQUIRE_REDIS` is not set. Panics when it is absent and
/// required.
pub fn redis_binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("redis-server"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        );
    for candidate in candidates {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let required = std::env::var("AUTH_REQUIRE_REDIS")
        .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
    assert!(
        !required,
        "redis-server is not installed but AUTH_REQUIRE_REDIS is set (install it, e.g. `apt-get install redis-server`)"
    );
    // Written to the real stderr (not eprintln!, which libtest captures) so
    // the skip is visible in a normal `cargo test` run.
    let _ = writeln!(
        std::io::stderr(),
        "NOTICE: redis-server not found: skipping this Redis test (set AUTH_REQUIRE_REDIS=1 to fail instead)"
    );
    None
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A `redis-server` child on a loopback port, killed on drop.
pub struct RedisServer {
    binary: PathBuf,
    pub port: u16,
    password: Option<String>,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// Set when the port is a TLS port (`--port 0 --tls-port <port>`).
    tls: Option<Arc<TlsFiles>>,
    /// `user:password` of an ACL user put into the URL instead of the
    /// default user's password.
    acl_user: Option<(String, String)>,
}

impl RedisServer {
    /// Starts one, or `None` when the binary is absent (test skipped).
    pub fn start() -> Option<Self> {
        Self::start_with_password(None)
    }

    /// Starts one requiring `password`.
    pub fn start_with_password(password: Option<&str>) -> Option<Self> {
        Self::start_with(password, &[])
    }

    /// Starts one with extra `redis-server` arguments.
    pub fn start_with(password: Option<&str>, extra_args: &[&str]) -> Option<Self> {
        let binary = redis_binary()?;
        let mut server = Self {
            binary,
            port: free_port(),
            password: password.map(str::to_owned),
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            tls: None,
            acl_user: None,
        };
        server.spawn();
        Some(server)
    }

    /// Starts one that accepts only TLS (`--port 0 --tls-port <port>`),
    /// with a certificate for `127.0.0.1` and `localhost` issued by a CA
    /// generated here; with `client_auth`, it requires client certificates
    /// issued by that CA (mutual TLS).
    pub fn start_tls(client_auth: bool) -> Option<Self> {
        Self::start_tls_with(Arc::new(TlsFiles::generate()), client_auth, &[])
    }

    /// Starts one that accepts only TLS with the certificates of `tls` and
    /// extra `redis-server` arguments.
    pub fn start_tls_with(
        tls: Arc<TlsFiles>,
        client_auth: bool,
        extra_args: &[&str],
    ) -> Option<Self> {
        let binary = redis_binary()?;
        let mut args = vec![
            "--tls-cert-file".to_owned(),
            tls.path("server.pem"),
            "--tls-key-file".into(),
            tls.path("server.key"),
            "--tls-ca-cert-file".into(),
            tls.path("ca.pem"),
            "--tls-auth-clients".into(),
            if client_auth { "yes" } else { "no" }.into(),
        ];
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        let mut server = Self {
            binary,
            port: free_port(),
            password: None,
            extra_args: args,
            child: None,
            tls: Some(tls),
            acl_user: None,
        };
        server.spawn();
        Some(server)
    }

    /// Starts one whose default user has a password (`admin-pw`) and an ACL
    /// user `fleet-user` (password `fleet-pw`) allowed only what the store
    /// needs ([`ACL_STORE_RULES`]) on the keys `~{prefix}:*`. [`url`](Self::url)
    /// logs in as that user.
    pub fn start_acl(prefix: &str) -> Option<Self> {
        let mut server = Self::start_with_password(Some("admin-pw"))?;
        let rules =
            format!("on >fleet-pw resetkeys ~{prefix}:* resetchannels -@all {ACL_STORE_RULES}");
        let mut args = vec!["ACL", "SETUSER", "fleet-user"];
        args.extend(rules.split_whitespace());
        server.cli(&args);
        server.acl_user = Some(("fleet-user".into(), "fleet-pw".into()));
        Some(server)
    }

    /// The CA certificate (PEM) of a TLS server.
    pub fn ca_pem(&self) -> Option<String> {
        self.tls.as_ref().map(|t| t.ca_pem.clone())
    }

    /// A client certificate and key (PEM) issued by the TLS server's CA.
    pub fn client_identity(&self) -> (String, String) {
        let tls = self.tls.as_ref().expect("a TLS server");
        (tls.client_pem.clone(), tls.client_key.clone())
    }

    /// The URL of the default user (admin password) for an ACL server.
    pub fn admin_url(&self) -> String {
        let mut server_url = self.url_without_acl_user();
        if self.acl_user.is_some() {
            server_url = server_url.replacen("://", "://:admin-pw@", 1);
        }
        server_url
    }

    fn url_without_acl_user(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match (&self.password, &self.acl_user) {
            (Some(p), None) => format!("{scheme}://:{p}@127.0.0.1:{}/0", self.port),
            _ => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    pub fn url(&self) -> String {
        match &self.acl_user {
            Some((user, pass)) => {
                let scheme = if self.tls.is_some() {
                    "rediss"
                } else {
                    "redis"
                };
                format!("{scheme}://{user}:{pass}@127.0.0.1:{}/0", self.port)
            }
            None => self.url_without_acl_user(),
        }
    }

    /// How the store reaches this server (for the workers of the fleet
    /// tests).
    pub fn spec(&self) -> StoreSpec {
        StoreSpec {
            kind: "single",
            urls: vec![self.url()],
            ca_pem: self.ca_pem(),
            service: None,
        }
    }

    /// Runs `redis-cli` with `args` against this server (as the default
    /// user) and returns its output; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(redis_cli());
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(tls) = &self.tls {
            cmd.args(["--tls", "--cacert", &tls.path("ca.pem")]);
            cmd.args([
                "--cert",
                &tls.path("client.pem"),
                "--key",
                &tls.path("client.key"),
            ]);
        }
        if let Some(p) = &self.password {
            cmd.args(["--no-auth-warning", "-a", p]);
        }
        let out = cmd.args(args).output().expect("run redis-cli");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && !text.starts_with("ERR") && !text.starts_with("(error)"),
            "redis-cli {args:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(&self.binary);
        if self.tls.is_some() {
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()]);
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--logfile", ""]);
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        cmd.args(&self.extra_args);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        // Wait until it accepts connections.
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server (SIGKILL; its data is lost).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the store needs besides key access, as ACL rules: every command
/// its scripts call, `EVALSHA` and `SCRIPT LOAD` to run them, `PING`; on
/// Redis Cluster also `CLUSTER SLOTS` and `ASKING`. Kept in step with the
/// README ("ACL: the minimal permissions").
pub const ACL_STORE_RULES: &str = "+ping +evalsha +script|load +time +get +set +del +exists +incr +pexpire +pexpiretime +pttl +hget +hmget +hset +zadd +zcount +zrange +zrangebyscore +zremrangebyscore";
pub const ACL_CLUSTER_RULES: &str = "+cluster|slots +asking";

/// Where `redis-cli` is (beside `redis-server`); panics when absent (the
/// tests that need it run only when `redis-server` is there).
pub fn redis_cli() -> PathBuf {
    let server = redis_binary().expect("redis-server");
    let beside = server.with_file_name("redis-cli");
    if beside.is_file() {
        return beside;
    }
    PathBuf::from("redis-cli")
}

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "auth-redis-{what}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA, a server certificate (`127.0.0.1`, `localhost`) and a client
/// certificate issued by it, generated with rcgen, in a scratch directory.
pub struct TlsFiles {
    dir: TempDir,
    pub ca_pem: String,
    pub client_pem: String,
    pub client_key: String,
}

impl TlsFiles {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "auth-redis test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "redis");
        let (client_pem, client_key) = leaf(vec!["client".into()], "client");
        let dir = TempDir::new("tls");
        for (name, text) in [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server_pem),
            ("server.key", server_key),
            ("client.pem", client_pem.clone()),
            ("client.key", client_key.clone()),
        ] {
            std::fs::write(dir.0.join(name), text).unwrap();
        }
        Self {
            dir,
            ca_pem: ca_cert.pem(),
            client_pem,
            client_key,
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path(name)
    }
}

/// How a store reaches a Redis deployment, passed to worker processes in
/// environment variables.
#[derive(Clone, Debug)]
pub struct StoreSpec {
    /// `single`, `cluster` or `sentinel`.
    pub kind: &'static str,
    /// The server URL, the cluster's node URLs or the sentinels' URLs.
    pub urls: Vec<String>,
    /// CA certificate (PEM) for TLS.
    pub ca_pem: Option<String>,
    /// The Sentinel service name.
    pub service: Option<String>,
}

impl StoreSpec {
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("W_REDIS_KIND", self.kind.to_owned()),
            ("W_REDIS", self.urls.join(" ")),
        ];
        if let Some(ca) = &self.ca_pem {
            env.push(("W_REDIS_CA", ca.clone()));
        }
        if let Some(service) = &self.service {
            env.push(("W_REDIS_SERVICE", service.clone()));
        }
        env
    }

    pub fn from_env() -> Self {
        let kind = match std::env::var("W_REDIS_KIND").as_deref() {
            Ok("cluster") => "cluster",
            Ok("sentinel") => "sentinel",
            _ => "single",
        };
        Self {
            kind,
            urls: std::env::var("W_REDIS")
                .expect("W_REDIS")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            ca_pem: std::env::var("W_REDIS_CA").ok(),
            service: std::env::var("W_REDIS_SERVICE").ok(),
        }
    }

    /// A store builder for this deployment.
    pub fn builder(&self) -> auth_redis::RedisStoreBuilder {
        let builder = match self.kind {
            #[cfg(feature = "cluster")]
            "cluster" => auth_redis::RedisStore::cluster_builder(self.urls.clone()),
            #[cfg(feature = "sentinel")]
            "sentinel" => auth_redis::RedisStore::sentinel_builder(
                self.service.clone().expect("service"),
                self.urls.clone(),
            ),
            "single" => auth_redis::RedisStore::builder(self.urls[0].clone()),
            other => panic!("store kind {other} needs its feature"),
        };
        match &self.ca_pem {
            #[cfg(feature = "tls")]
            Some(ca) => builder.tls_root_certificates(ca.as_bytes()),
            #[cfg(not(feature = "tls"))]
            Some(_) => panic!("TLS needs the tls feature"),
            None => builder,
        }
    }
}

/// A raw connection for inspecting what the store wrote.
pub async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection")
}

// ---------------------------------------------------------------- token API

/// Counters of the token API.
#[derive(Debug, Default)]
pub struct ApiCounters {
    /// Successful logins.
    pub logins: AtomicU64,
    /// Failed logins (wrong password).
    pub failed_logins: AtomicU64,
    /// Login requests that arrived (any outcome, hung ones included).
    pub login_requests: AtomicU64,
    /// Accepted API calls.
    pub calls: AtomicU64,
    /// API calls refused with 401.
    pub rejected: AtomicU64,
}

#[derive(Debug)]
pub struct ApiState {
    pub counters: ApiCounters,
    password: String,
    lifetime_ms: AtomicU64,
    hang_logins: AtomicBool,
    tokens: Mutex<HashMap<String, Instant>>,
}

/// A tiny token API: `POST /login` with `{"user","password"}` answers
/// `{"token","expires_in_ms"}` (or 401), `GET /api` wants
/// `Authorization: Bearer <token>` (401 when unknown or expired).
pub struct TokenApi {
    pub state: Arc<ApiState>,
    pub base: Url,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenApi {
    pub async fn start(password: &str, lifetime: Duration) -> Self {
        let state = Arc::new(ApiState {
            counters: ApiCounters::default(),
            password: password.to_owned(),
            lifetime_ms: AtomicU64::new(lifetime.as_millis() as u64),
            hang_logins: AtomicBool::new(false),
            tokens: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/login", post(login))
            .route("/api", get(api))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            state,
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            task,
        }
    }

    pub fn logins(&self) -> u64 {
        self.state.counters.logins.load(Ordering::SeqCst)
    }

    pub fn failed_logins(&self) -> u64 {
        self.state.counters.failed_logins.load(Ordering::SeqCst)
    }

    pub fn login_requests(&self) -> u64 {
        self.state.counters.login_requests.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> u64 {
        self.state.counters.calls.load(Ordering::SeqCst)
    }

    pub fn rejected(&self) -> u64 {
        self.state.counters.rejected.load(Ordering::SeqCst)
    }

    /// Invalidates every token issued so far (the next calls get 401).
    pub fn revoke_all(&self) {
        self.state.tokens.lock().unwrap().clear();
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state
            .lifetime_ms
            .store(lifetime.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes logins hang (never answer) until turned off.
    pub fn set_hang_logins(&self, hang: bool) {
        self.state.hang_logins.store(hang, Ordering::SeqCst);
    }
}

#[derive(serde::Deserialize)]
struct LoginBody {
    user: String,
    password: String,
}

async fn login(
    State(state): State<Arc<ApiState>>,
    Json(body): Json<LoginBody>,
) -> (StatusCode, Json<serde_json::Value>) {
    state.counters.login_requests.fetch_add(1, Ordering::SeqCst);
    if state.hang_logins.load(Ordering::SeqCst) {
        while state.hang_logins.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A hung login never succeeds (its client is gone by now).
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": "timed out"})),
        );
    }
    if body.user.is_empty() || body.password != state.password {
        state.counters.failed_logins.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "invalid credentials"})),
        );
    }
    state.counters.logins.fetch_add(1, Ordering::SeqCst);
    let token = format!("tok-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let lifetime_ms = state.lifetime_ms.load(Ordering::SeqCst);
    // The server keeps tokens a little longer than it announces.
    let until = Instant::now() + Duration::from_millis(lifetime_ms + 500);
    state.tokens.lock().unwrap().insert(token.clone(), until);
    (
        StatusCode::OK,
        Json(serde_json::json!({"token": token, "expires_in_ms": lifetime_ms})),
    )
}

async fn api(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> StatusCode {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = state
        .tokens
        .lock()
        .unwrap()
        .get(token)
        .is_some_and(|until| *until > Instant::now());
    if valid {
        state.counters.calls.fetch_add(1, Ordering::SeqCst);
        StatusCode::OK
    } else {
        state.counters.rejected.fetch_add(1, Ordering::SeqCst);
        StatusCode::UNAUTHORIZED
    }
}

// ---------------------------------------------------------------- provider

/// A provider for [`TokenApi`].
#[derive(Debug)]
pub struct ApiProvider {
    pub base: Url,
    pub user: String,
    pub password: SecretString,
    pub lockout: Option<LockoutRule>,
    pub login_timeout: Duration,
}

impl ApiProvider {
    pub fn new(base: Url, password: &str) -> Self {
        Self {
            base,
            user: "fleet-user".to_owned(),
            password: SecretString::from(password.to_owned()),
            lockout: None,
            login_timeout: Duration::from_secs(5),
        }
    }

    pub fn api_request(&self, http: &HttpClient) -> RequestBuilder {
        http.client().get(self.base.join("api").unwrap())
    }
}

#[derive(serde::Deserialize)]
struct LoginReply {
    token: String,
    expires_in_ms: u64,
}

#[async_trait]
impl Provider for ApiProvider {
    type Data = ();

    fn name(&self) -> &'static str {
        "token-api"
    }

    fn cache_key(&self) -> String {
        format!("token-api:{}:{}", self.base, self.user)
    }

    fn base_url(&self) -> &Url {
        &self.base
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        let request = http.client().post(self.base.join("login").unwrap()).json(
            &serde_json::json!({"user": self.user, "password": self.password.expose_secret()}),
        );
        let response = http.send(self.name(), request).await?;
        let (status, body) = http.read_body(self.name(), response).await?;
        match status {
            StatusCode::OK => {
                let reply: LoginReply = auth_core::http::parse_json(
                    self.name(),
                    status,
                    &body,
                    "a login reply",
                    &[&self.password],
                )?;
                Ok(NewSession::new(
                    SecretString::from(reply.token),
                    Expiry::AfterIssue(Duration::from_millis(reply.expires_in_ms)),
                    (),
                ))
            }
            StatusCode::UNAUTHORIZED => Err(AuthError::InvalidCredentials {
                provider: self.name(),
                message: "invalid credentials".to_owned(),
                source: None,
            }),
            other => Err(AuthError::UnexpectedResponse {
                provider: self.name(),
                status: Some(other.as_u16()),
                detail: "unexpected login status".to_owned(),
            }),
        }
    }

    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }

    fn lockout_rule(&self) -> Option<LockoutRule> {
        self.lockout
    }

    fn login_timeout(&self) -> Duration {
        self.login_timeout
    }
}

// ---------------------------------------------------------------- cluster

/// A 3-node Redis Cluster (no replicas) on loopback ports, killed on drop.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: TempDir,
    acl: bool,
}

impl RedisCluster {
    /// Starts the nodes, creates the cluster with `redis-cli --cluster
    /// create` and waits until every node reports `cluster_state:ok`.
    /// With `acl_prefix`, the default user needs `admin-pw` and every node
    /// has the ACL user `fleet-user` limited to the store's rules on
    /// `~{prefix}:*` (ACL users are per node in a cluster).
    pub fn start(acl_prefix: Option<&str>) -> Option<Self> {
        Self::start_with(acl_prefix, None)
    }

    /// Like [`start`](Self::start); with `tls`, the nodes accept only TLS
    /// (client and cluster bus: `--tls-cluster yes`) with its certificates.
    pub fn start_with(acl_prefix: Option<&str>, tls: Option<Arc<TlsFiles>>) -> Option<Self> {
        redis_binary()?;
        let dir = TempDir::new("cluster");
        let mut nodes = Vec::new();
        for i in 0..3 {
            let conf = dir.path(&format!("nodes-{i}.conf"));
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
                "--cluster-node-timeout",
                "3000",
                "--dir",
                &dir.path(""),
            ];
            let password = acl_prefix.map(|_| "admin-pw");
            let mut node = match &tls {
                None => RedisServer::start_with(password, &args)?,
                Some(tls) => {
                    assert!(password.is_none(), "TLS cluster without ACL here");
                    let mut tls_args = args.to_vec();
                    tls_args.extend(["--tls-cluster", "yes"]);
                    RedisServer::start_tls_with(Arc::clone(tls), false, &tls_args)?
                }
            };
            if let Some(prefix) = acl_prefix {
                let rules = format!(
                    "on >fleet-pw resetkeys ~{prefix}:* resetchannels -@all {ACL_STORE_RULES} {ACL_CLUSTER_RULES}"
                );
                let mut args = vec!["ACL", "SETUSER", "fleet-user"];
                args.extend(rules.split_whitespace());
                node.cli(&args);
                node.acl_user = Some(("fleet-user".into(), "fleet-pw".into()));
            }
            nodes.push(node);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut cmd = Command::new(redis_cli());
        cmd.arg("--cluster").arg("create").args(&addrs);
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"]);
        if let Some(tls) = &tls {
            cmd.args(["--tls", "--cacert", &tls.path("ca.pem")]);
        }
        if acl_prefix.is_some() {
            cmd.args(["--no-auth-warning", "-a", "admin-pw"]);
        }
        let out = cmd.output().expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self {
            nodes,
            _dir: dir,
            acl: acl_prefix.is_some(),
        };
        cluster.wait_until_ok();
        Some(cluster)
    }

    /// Waits until every node reports `cluster_state:ok` and knows the
    /// three primaries.
    pub fn wait_until_ok(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info = node.cli(&["CLUSTER", "INFO"]);
                let slots_ok = node
                    .cli(&["CLUSTER", "SLOTS"])
                    .lines()
                    .filter(|l| l.trim() == "127.0.0.1")
                    .count()
                    >= 3;
                if info.contains("cluster_state:ok") && slots_ok {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the cluster did not become ok: {info}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The node URLs (as the ACL user when there is one).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    pub fn spec(&self) -> StoreSpec {
        StoreSpec {
            kind: "cluster",
            urls: self.urls(),
            ca_pem: self.nodes[0].ca_pem(),
            service: None,
        }
    }

    /// Whether the nodes have the ACL user.
    pub fn has_acl(&self) -> bool {
        self.acl
    }
}

// ---------------------------------------------------------------- sentinel

/// A primary, a replica and one `redis-server --sentinel` monitoring them
/// as `mymaster` (quorum 1), on loopback ports; killed on drop.
pub struct RedisSentinel {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

pub const SENTINEL_SERVICE: &str = "mymaster";

impl RedisSentinel {
    pub fn start() -> Option<Self> {
        Self::start_with_password(None)
    }

    /// Starts the set; with `password`, the primary and the replica
    /// require it (the sentinel does not).
    pub fn start_with_password(password: Option<&str>) -> Option<Self> {
        let binary = redis_binary()?;
        // Replication writes RDB files: into the scratch directory, not
        // the working directory.
        let dir = TempDir::new("sentinel");
        let mut auth = Vec::new();
        if let Some(p) = password {
            auth.extend(["--masterauth", p]);
        }
        let dir_path = dir.path("");
        let mut primary_args = vec!["--dir", &dir_path];
        primary_args.extend(&auth);
        let primary = RedisServer::start_with(password, &primary_args)?;
        let primary_port = primary.port.to_string();
        let mut replica_args = vec![
            "--dir",
            &dir_path,
            "--dbfilename",
            "replica.rdb",
            "--replicaof",
            "127.0.0.1",
            &primary_port,
        ];
        replica_args.extend(&auth);
        let replica = RedisServer::start_with(password, &replica_args)?;
        let port = free_port();
        let conf = dir.path("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {} 1\nsentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\nsentinel failover-timeout {SENTINEL_SERVICE} 5000\n{}",
                dir.path(""),
                primary.port,
                password
                    .map(|p| format!("sentinel auth-pass {SENTINEL_SERVICE} {p}\n"))
                    .unwrap_or_default()
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg(&conf)
            .args(["--sentinel", "--daemonize", "no", "--logfile", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        let sentinel = Self {
            primary,
            replica,
            port,
            child,
            _dir: dir,
        };
        // Wait until the sentinel names the primary and the replica is in
        // sync.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let named = sentinel
                .sentinel_cli(&["SENTINEL", "get-master-addr-by-name", SENTINEL_SERVICE])
                .contains(&sentinel.primary.port.to_string());
            let synced = sentinel
                .replica
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up");
            if named && synced {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the sentinel did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(sentinel)
    }

    /// Runs `redis-cli` against the sentinel (empty output if it is not
    /// up yet).
    pub fn sentinel_cli(&self, args: &[&str]) -> String {
        let out = Command::new(redis_cli())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn spec(&self) -> StoreSpec {
        StoreSpec {
            kind: "sentinel",
            urls: vec![self.url()],
            ca_pem: None,
            service: Some(SENTINEL_SERVICE.to_owned()),
        }
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The account key the store tests use.
pub const KEY: &str = "token-api:http://127.0.0.1:1/:acct";

/// A stored session of `generation` with `token`, valid 20 minutes after now.
pub fn stored(generation: u64, token: &str) -> auth_core::StoredSession {
    auth_core::StoredSession {
        token: SecretString::from(token.to_owned()),
        issued_at: chrono::Utc::now(),
        expiry: auth_core::Expiry::AfterIssue(Duration::from_secs(1200)),
        generation,
        data: serde_json::json!({"user_id": 42, "name": "fleet"}),
        expires_in: None,
        credentials: None,
    }
}
