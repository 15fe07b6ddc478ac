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
        };
        server.spawn();
        Some(server)
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
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
