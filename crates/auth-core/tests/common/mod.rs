//! A scriptable fake provider for the lifecycle tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::reqwest::{RequestBuilder, StatusCode};
use auth_core::rotation::{RotateCredentials, SecretCell, credential_material};
use auth_core::url::Url;
use auth_core::{
    AuthError, Expiry, HttpClient, LockoutRule, NewSession, Provider, RefreshPolicy, Rejection,
    RequestLimits, Session, async_trait,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// What the next logins do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Succeed,
    WrongCredentials,
    /// The login code panics.
    Panic,
    /// HTTP 503: the server did not process the login.
    Unavailable,
    /// HTTP 500: the server may have processed the login.
    ServerError,
    /// HTTP 429 with a Retry-After of 2 s.
    Throttled,
    /// Connection refused (a real connect attempt to a closed loopback port).
    ConnectRefused,
}

#[derive(Debug)]
pub struct Fake {
    /// Logins started (reached the "server").
    pub started: AtomicU64,
    /// Logins that returned a session.
    pub completed: AtomicU64,
    pub delay: Duration,
    pub expiry: Expiry,
    pub mode: Mutex<Mode>,
    pub lockout: Option<LockoutRule>,
    pub keep_alive_url: Option<String>,
    /// Per-session request limits the fake declares.
    pub limits: Option<RequestLimits>,
    /// The refresh policy the fake declares (`None`: the trait's default).
    pub refresh: Option<RefreshPolicy>,
    /// The provider's base URL: tokens go to its origin only.
    pub base: Url,
}

impl Fake {
    pub fn new(expiry: Expiry, delay: Duration) -> Self {
        Self {
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            delay,
            expiry,
            mode: Mutex::new(Mode::Succeed),
            lockout: None,
            keep_alive_url: None,
            limits: None,
            refresh: None,
            base: Url::parse("http://127.0.0.1/").unwrap(),
        }
    }

    /// The same fake, with the base URL of a test server.
    pub fn at(mut self, base: &str) -> Self {
        self.base = Url::parse(base).unwrap();
        self
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
}

pub const PASSWORD: &str = "p@ss-w0rd-secret";

#[async_trait]
impl Provider for Fake {
    type Data = u64;

    fn name(&self) -> &'static str {
        "fake"
    }

    fn cache_key(&self) -> String {
        "fake:http://127.0.0.1:acct".into()
    }

    fn base_url(&self) -> &Url {
        &self.base
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<u64>, AuthError> {
        let mode = *self.mode.lock().unwrap();
        if mode == Mode::ConnectRefused {
            let closed = closed_port();
            return match http.client().get(closed).send().await {
                Ok(_) => panic!("nothing listens on the closed port"),
                Err(e) => Err(AuthError::transport("fake", e)),
            };
        }
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        match mode {
            Mode::ConnectRefused => unreachable!(),
            Mode::Panic => panic!("the provider's login code panicked"),
            Mode::Unavailable | Mode::ServerError => Err(AuthError::UnexpectedResponse {
                provider: "fake",
                status: Some(if mode == Mode::Unavailable { 503 } else { 500 }),
                detail: "server error".into(),
            }),
            Mode::Throttled => Err(AuthError::Throttled {
                provider: "fake",
                retry_after: Some(Duration::from_secs(2)),
            }),
            Mode::Succeed => {
                let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(NewSession::new(
                    SecretString::from(format!("tok-{n}")),
                    self.expiry,
                    n,
                ))
            }
            Mode::WrongCredentials => Err(AuthError::InvalidCredentials {
                provider: "fake",
                message: "wrong password".into(),
                source: None,
            }),
        }
    }

    fn authorize(&self, session: &Session<u64>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }

    fn keep_alive_request(
        &self,
        http: &HttpClient,
        _session: &Session<u64>,
    ) -> Option<RequestBuilder> {
        self.keep_alive_url.as_ref().map(|u| http.client().get(u))
    }

    /// 401 rejects the session; 418 maybe does (code "418").
    fn rejection(&self, status: StatusCode, _body: &[u8]) -> Rejection {
        match status.as_u16() {
            401 => Rejection::Rejected,
            418 => Rejection::MaybeRejected { code: "418".into() },
            _ => Rejection::NotRejected,
        }
    }

    fn lockout_rule(&self) -> Option<LockoutRule> {
        self.lockout
    }

    fn request_limits(&self) -> Option<RequestLimits> {
        self.limits
    }

    fn refresh_policy(&self) -> RefreshPolicy {
        self.refresh.unwrap_or_default()
    }
}

/// A loopback URL on which nothing listens.
pub fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/login")
}

/// A `MakeWriter` capturing everything the subscriber writes.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A password service for the rotation and registry tests: the password of
/// each account (an account without one accepts any), the logins made and
/// refused, and how long a login takes.
#[derive(Debug, Default)]
pub struct Service {
    passwords: Mutex<HashMap<String, String>>,
    logins: AtomicU64,
    rejected: AtomicU64,
    delay: Duration,
}

impl Service {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A service whose logins take `delay`.
    pub fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            ..Self::default()
        })
    }

    pub fn set_password(&self, account: &str, password: &str) {
        self.passwords
            .lock()
            .unwrap()
            .insert(account.to_owned(), password.to_owned());
    }

    /// Successful logins.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::SeqCst)
    }

    /// Logins refused for a wrong password.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::SeqCst)
    }
}

/// An account of [`Service`] whose password is rotatable.
#[derive(Debug)]
pub struct Acct {
    service: Arc<Service>,
    name: String,
    password: SecretCell<SecretString>,
    pub lockout: Option<LockoutRule>,
    base: Url,
}

impl Acct {
    pub fn new(service: &Arc<Service>, name: &str, password: &str) -> Self {
        Self {
            service: Arc::clone(service),
            name: name.to_owned(),
            password: SecretCell::new(SecretString::from(password.to_owned())),
            lockout: None,
            base: Url::parse("http://127.0.0.1/").unwrap(),
        }
    }
}

#[async_trait]
impl Provider for Acct {
    type Data = ();

    fn name(&self) -> &'static str {
        "acct"
    }

    fn cache_key(&self) -> String {
        format!("acct|http://127.0.0.1/|{}", self.name)
    }

    fn base_url(&self) -> &Url {
        &self.base
    }

    async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        let password = self.password.current();
        tokio::time::sleep(self.service.delay).await;
        let expected = self
            .service
            .passwords
            .lock()
            .unwrap()
            .get(&self.name)
            .cloned();
        if expected
            .as_deref()
            .is_some_and(|p| p != password.expose_secret())
        {
            self.service.rejected.fetch_add(1, Ordering::SeqCst);
            return Err(AuthError::InvalidCredentials {
                provider: "acct",
                message: "wrong password".into(),
                source: None,
            });
        }
        let n = self.service.logins.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(NewSession::new(
            SecretString::from(format!("tok-{n}")),
            Expiry::UntilRejected,
            (),
        ))
    }

    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }

    fn lockout_rule(&self) -> Option<LockoutRule> {
        self.lockout
    }

    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        Some(credential_material(&[&self.password.current()]))
    }
}

impl RotateCredentials for Acct {
    type Secrets = SecretString;

    fn replace_secrets(&self, password: SecretString) -> Result<(), AuthError> {
        if password.expose_secret().is_empty() {
            return Err(AuthError::Config("the new password is empty".into()));
        }
        self.password.replace(password);
        Ok(())
    }

    fn current_secrets(&self) -> SecretString {
        (*self.password.current()).clone()
    }
}
