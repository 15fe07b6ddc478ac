//! cielo24 API simulator: `account/login`, `account/logout`,
//! `account/generate_api_key`, `account/remove_api_key` and `job/list`.
//!
//! # What it simulates
//!
//! * `GET /api/account/login?v=1` with `username` plus `password` or
//!   `securekey` as query parameters, or the headers `x-auth-user` plus
//!   `x-auth-password` (what the seed's table, the cielo24/Docs repo and all
//!   five SDKs in Cielo24/SampleCode send; `x-auth-key`, shown by one example
//!   request on the login page, is accepted too) or `x-auth-securekey`.
//!   Success: `200 {"ApiToken":"<32 hex>"}`.
//! * `POST /api/account/login?v=1` with a JSON body `{"username":..,
//!   "password":..}` or `{"username":..,"securekey":..}`, the form of the
//!   vendor's OpenAPI description (cielo24/cielo24-openapi, `cielo24.yml`,
//!   `LoginBody`). Credentials in the body win over query parameters and
//!   headers. A body that is not a JSON object answers `400
//!   MISSING_PARAMETER` unless the credentials are found elsewhere.
//!   [`Cielo24SimConfig::token_field`] chooses the reply's field name:
//!   `ApiToken` (the seed, default) or `api_token` (the OpenAPI
//!   `LoginResponse`).
//! * Errors use cielo24's error format: HTTP 400 with
//!   `{"ErrorType":"<TYPE>","ErrorComment":"<text>"}` and
//!   `Content-Type: application/json`.
//! * Tokens expire after [`Cielo24SimConfig::idle_timeout`] without use
//!   (1 hour by default); every accepted call slides the deadline.
//! * Protected calls take `v` and `api_token` as query parameters:
//!   `GET /api/job/list` (job list JSON), `GET /api/account/logout` (204,
//!   invalidates the token), `GET /api/account/generate_api_key`
//!   (`[&force_new=true][&account_id=<username>]` -> `{"ApiKey":"<32 hex>"}`,
//!   a secure key usable for login), `GET /api/account/remove_api_key`
//!   (`&api_securekey=<key>` -> 204).
//!
//! # Ambiguities in the public docs and how this simulator resolves them
//!
//! * **Password header.** The login page's table, the Docs repo and the
//!   SDKs name `x-auth-password`, while one example request on the login
//!   page sends `x-auth-key`. Both are accepted.
//! * **Both password and secure key given.** The docs say "either"; the
//!   simulator accepts the login when either one is valid.
//! * **Unsupported `v`.** Undocumented. The simulator answers
//!   `INVALID_OPTION` ("Unsupported API version"). A missing `v` is
//!   `MISSING_PARAMETER`.
//! * **Wrong secure key.** The public SDK test suites expect
//!   `ACCOUNT_UNPRIVILEGED` when logging in with a removed secure key; the
//!   simulator answers that for any secure key that is not one of the
//!   account's keys. A wrong password or an unknown user is `LOGIN_INVALID`.
//! * **Unprivileged accounts.** An account with `privileged: false` may log
//!   in and list jobs but gets `ACCOUNT_UNPRIVILEGED` from
//!   `generate_api_key` and `remove_api_key` (operations that need the
//!   account's full rights).
//! * **Invalid or expired token.** cielo24 reports every error with HTTP 400
//!   and the error format, so an unknown, logged-out or expired `api_token`
//!   answers HTTP 400 `BAD_API_TOKEN`; a missing `api_token` answers
//!   `MISSING_PARAMETER`.
//! * **`force_new` values.** The Python SDK sends `True`/`False`; `true`,
//!   `1` and `yes` (any case) count as true.
//! * **Error comments.** The exact `ErrorComment` texts are not documented;
//!   the simulator's texts are plausible, short and never echo a secret.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use tokio::time::Instant;

use crate::SimError;
use crate::common::{Counters, HEX, SimHandle, SimState, random_token};

/// Username of the default demo account.
pub const DEMO_USERNAME: &str = "api_demo";
/// Password of the default demo account.
pub const DEMO_PASSWORD: &str = "demo-password-1";
/// A secure key of the default demo account (the docs' example key).
pub const DEMO_SECURE_KEY: &str = "968a8b637a5040159424872fffdb895b";
/// Username of a second default account without full privileges.
pub const UNPRIVILEGED_USERNAME: &str = "api_viewer";
/// Password of the unprivileged default account.
pub const UNPRIVILEGED_PASSWORD: &str = "viewer-password-1";

/// The API version the simulator supports.
pub const API_VERSION: &str = "1";

/// An account known to the simulator.
#[derive(Debug, Clone)]
pub struct Cielo24Account {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Secure keys (as from `generate_api_key`) that may replace the password.
    pub secure_keys: Vec<String>,
    /// Whether the account may manage API keys; `false` answers
    /// `ACCOUNT_UNPRIVILEGED` there.
    pub privileged: bool,
    /// Names of the jobs `job/list` returns.
    pub jobs: Vec<String>,
}

impl Cielo24Account {
    /// A privileged account with a password, no secure key and one job.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            secure_keys: Vec::new(),
            privileged: true,
            jobs: vec!["Lecture 1".to_owned()],
        }
    }
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct Cielo24SimConfig {
    /// Known accounts.
    pub accounts: Vec<Cielo24Account>,
    /// A token dies after this long without an accepted call. Default 1 hour.
    pub idle_timeout: Duration,
    /// The field name of the token in the login reply. Default
    /// [`TokenField::ApiToken`].
    pub token_field: TokenField,
}

/// The field name of the token in the login reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenField {
    /// `{"ApiToken": ..}`, as the seed and the cielo24/Docs repo show.
    #[default]
    ApiToken,
    /// `{"api_token": ..}`, as cielo24/cielo24-openapi's `LoginResponse`
    /// names it.
    SnakeCase,
}

impl Default for Cielo24SimConfig {
    /// [`DEMO_USERNAME`] / [`DEMO_PASSWORD`] with secure key
    /// [`DEMO_SECURE_KEY`] and two jobs, plus [`UNPRIVILEGED_USERNAME`] /
    /// [`UNPRIVILEGED_PASSWORD`] (not privileged); idle timeout 1 hour.
    fn default() -> Self {
        let mut demo = Cielo24Account::new(DEMO_USERNAME, DEMO_PASSWORD);
        demo.secure_keys.push(DEMO_SECURE_KEY.to_owned());
        demo.jobs = vec!["Lecture 1".to_owned(), "Board meeting".to_owned()];
        let mut viewer = Cielo24Account::new(UNPRIVILEGED_USERNAME, UNPRIVILEGED_PASSWORD);
        viewer.privileged = false;
        Self {
            accounts: vec![demo, viewer],
            idle_timeout: Duration::from_secs(3600),
            token_field: TokenField::ApiToken,
        }
    }
}

#[derive(Debug)]
struct TokenState {
    username: String,
    last_used: Instant,
}

#[derive(Debug)]
struct Db {
    accounts: HashMap<String, Cielo24Account>,
    tokens: HashMap<String, TokenState>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<Db>,
    idle_timeout: Duration,
    token_field: TokenField,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Db> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SimState for Shared {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn expire_all_sessions(&self) {
        self.lock().tokens.clear();
    }

    fn active_sessions(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .tokens
            .values()
            .filter(|t| now.duration_since(t.last_used) < self.idle_timeout)
            .count()
    }
}

/// A running cielo24 simulator. Stops when dropped.
///
/// Dereferences to [`SimHandle`]: [`base_url`](SimHandle::base_url) is
/// `http://127.0.0.1:<port>/`; [`counters`](SimHandle::counters) are keyed
/// by username and count logins, failed logins and accepted protected calls
/// (`job/list`, `generate_api_key`, `remove_api_key`, `logout`);
/// [`expire_all_sessions`](SimHandle::expire_all_sessions) invalidates every
/// issued token (later calls get `BAD_API_TOKEN`);
/// [`active_sessions`](SimHandle::active_sessions) counts the tokens that are
/// issued and not idle-expired.
#[derive(Debug)]
pub struct Cielo24Sim {
    sim: SimHandle,
    shared: Arc<Shared>,
}

impl Deref for Cielo24Sim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}

impl Cielo24Sim {
    /// Starts the simulator on an ephemeral loopback port.
    pub async fn start(config: Cielo24SimConfig) -> Result<Self, SimError> {
        if config.idle_timeout.is_zero() {
            return Err(SimError::Config("idle_timeout must be positive".into()));
        }
        let mut accounts = HashMap::new();
        for account in config.accounts {
            if account.username.is_empty() {
                return Err(SimError::Config(
                    "account username must not be empty".into(),
                ));
            }
            accounts.insert(account.username.clone(), account);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(Db {
                accounts,
                tokens: HashMap::new(),
            }),
            idle_timeout: config.idle_timeout,
            token_field: config.token_field,
            counters: Counters::default(),
        });
        let router = Router::new()
            .route("/api/account/login", get(login).post(login))
            .route("/api/account/logout", get(logout))
            .route("/api/account/generate_api_key", get(generate_api_key))
            .route("/api/account/remove_api_key", get(remove_api_key))
            .route("/api/job/list", get(job_list))
            .with_state(Arc::clone(&shared));
        let sim = SimHandle::start(router, "", Arc::clone(&shared) as Arc<dyn SimState>).await?;
        Ok(Self { sim, shared })
    }

    /// The secure keys of `username` (empty for an unknown user).
    pub fn secure_keys(&self, username: &str) -> Vec<String> {
        self.shared
            .lock()
            .accounts
            .get(username)
            .map(|a| a.secure_keys.clone())
            .unwrap_or_default()
    }

    /// Changes an account's password (later logins need the new one; issued
    /// tokens stay valid).
    pub fn set_password(&self, username: &str, password: &str) {
        if let Some(account) = self.shared.lock().accounts.get_mut(username) {
            account.password = password.to_owned();
        }
    }
}

/// Error types the simulator answers with.
const LOGIN_INVALID: &str = "LOGIN_INVALID";
const ACCOUNT_UNPRIVILEGED: &str = "ACCOUNT_UNPRIVILEGED";
const BAD_API_TOKEN: &str = "BAD_API_TOKEN";
const MISSING_PARAMETER: &str = "MISSING_PARAMETER";
const INVALID_OPTION: &str = "INVALID_OPTION";
const ITEM_NOT_FOUND: &str = "ITEM_NOT_FOUND";

/// An error reply not yet rendered: (ErrorType, ErrorComment).
type Reject = (&'static str, &'static str);

fn reject((kind, comment): Reject) -> Response {
    error(kind, comment)
}

fn error(kind: &str, comment: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "ErrorType": kind, "ErrorComment": comment }).to_string(),
    )
        .into_response()
}

fn ok_json(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// Query parameters, first value wins.
fn params(query: Option<String>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(q) = query
        && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&q)
    {
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
    }
    map
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|v| !v.is_empty())
}

/// Checks `v`: `Err(response)` when missing or unsupported.
fn check_version(p: &HashMap<String, String>) -> Result<(), Reject> {
    match p.get("v").map(String::as_str) {
        None | Some("") => Err((MISSING_PARAMETER, "Missing required parameter: v")),
        Some(API_VERSION) => Ok(()),
        Some(_) => Err((INVALID_OPTION, "Unsupported API version")),
    }
}

/// A text field of a `POST` login's JSON body.
fn body_field(body: &Option<serde_json::Value>, name: &str) -> Option<String> {
    body.as_ref()?
        .get(name)?
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn login(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let p = params(query);
    if let Err(r) = check_version(&p) {
        return reject(r);
    }
    // The POST form's JSON body (cielo24-openapi `LoginBody`); a GET has none.
    let body: Option<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .filter(serde_json::Value::is_object);
    let username = body_field(&body, "username").or_else(|| {
        p.get("username")
            .cloned()
            .filter(|u| !u.is_empty())
            .or_else(|| header_str(&headers, "x-auth-user"))
    });
    let password = body_field(&body, "password").or_else(|| {
        p.get("password")
            .cloned()
            .filter(|v| !v.is_empty())
            .or_else(|| header_str(&headers, "x-auth-password"))
            .or_else(|| header_str(&headers, "x-auth-key"))
    });
    let securekey = body_field(&body, "securekey").or_else(|| {
        p.get("securekey")
            .cloned()
            .filter(|v| !v.is_empty())
            .or_else(|| header_str(&headers, "x-auth-securekey"))
    });
    let Some(username) = username else {
        shared.counters.failed_login("");
        return error(MISSING_PARAMETER, "Missing required parameter: username");
    };
    if password.is_none() && securekey.is_none() {
        shared.counters.failed_login(&username);
        return error(
            MISSING_PARAMETER,
            "Missing required parameter: password or securekey",
        );
    }
    let mut state = shared.lock();
    let Some(account) = state.accounts.get(&username) else {
        drop(state);
        shared.counters.failed_login(&username);
        return error(LOGIN_INVALID, "Invalid username or password");
    };
    let password_ok = password.as_deref() == Some(account.password.as_str());
    let key_ok = securekey.as_deref().is_some_and(|k| {
        account
            .secure_keys
            .iter()
            .any(|s| s.eq_ignore_ascii_case(k))
    });
    if !password_ok && !key_ok {
        drop(state);
        shared.counters.failed_login(&username);
        return if password.is_some() {
            error(LOGIN_INVALID, "Invalid username or password")
        } else {
            error(
                ACCOUNT_UNPRIVILEGED,
                "The secure key is not valid for this account",
            )
        };
    }
    let token = random_token(32, HEX);
    state.tokens.insert(
        token.clone(),
        TokenState {
            username: username.clone(),
            last_used: Instant::now(),
        },
    );
    drop(state);
    shared.counters.login(&username);
    match shared.token_field {
        TokenField::ApiToken => ok_json(json!({ "ApiToken": token })),
        TokenField::SnakeCase => ok_json(json!({ "api_token": token })),
    }
}

/// Validates `v` and `api_token`, slides the token's idle deadline, and
/// returns the account name.
fn authenticate(shared: &Shared, p: &HashMap<String, String>) -> Result<String, Reject> {
    check_version(p)?;
    let token = match p.get("api_token") {
        Some(t) if !t.is_empty() => t,
        _ => {
            return Err((MISSING_PARAMETER, "Missing required parameter: api_token"));
        }
    };
    let mut state = shared.lock();
    let now = Instant::now();
    let live = match state.tokens.get_mut(token) {
        Some(t) if now.duration_since(t.last_used) < shared.idle_timeout => {
            t.last_used = now;
            Some(t.username.clone())
        }
        Some(_) => None,
        None => return Err((BAD_API_TOKEN, "Invalid or expired API token")),
    };
    match live {
        Some(user) => Ok(user),
        None => {
            state.tokens.remove(token);
            Err((BAD_API_TOKEN, "Invalid or expired API token"))
        }
    }
}

async fn logout(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let p = params(query);
    let user = match authenticate(&shared, &p) {
        Ok(user) => user,
        Err(r) => return reject(r),
    };
    if let Some(token) = p.get("api_token") {
        shared.lock().tokens.remove(token);
    }
    shared.counters.call(&user);
    StatusCode::NO_CONTENT.into_response()
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Checks the caller may manage keys of the account named by `account_id`.
fn key_owner(state: &Db, user: &str, p: &HashMap<String, String>) -> Result<String, Reject> {
    let target = p
        .get("account_id")
        .filter(|a| !a.is_empty())
        .map_or(user, String::as_str);
    if target != user {
        return Err((
            ACCOUNT_UNPRIVILEGED,
            "Not allowed to manage keys of another account",
        ));
    }
    match state.accounts.get(target) {
        Some(a) if a.privileged => Ok(target.to_owned()),
        Some(_) => Err((
            ACCOUNT_UNPRIVILEGED,
            "This account is not privileged to manage API keys",
        )),
        None => Err((ITEM_NOT_FOUND, "Account not found")),
    }
}

async fn generate_api_key(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = params(query);
    let user = match authenticate(&shared, &p) {
        Ok(user) => user,
        Err(r) => return reject(r),
    };
    let force_new = truthy(p.get("force_new"));
    let mut state = shared.lock();
    let owner = match key_owner(&state, &user, &p) {
        Ok(owner) => owner,
        Err(r) => return reject(r),
    };
    let Some(account) = state.accounts.get_mut(&owner) else {
        return error(ITEM_NOT_FOUND, "Account not found");
    };
    let key = match account.secure_keys.first() {
        Some(existing) if !force_new => existing.clone(),
        _ => {
            let key = random_token(32, HEX);
            account.secure_keys.push(key.clone());
            key
        }
    };
    drop(state);
    shared.counters.call(&user);
    ok_json(json!({ "ApiKey": key }))
}

async fn remove_api_key(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let p = params(query);
    let user = match authenticate(&shared, &p) {
        Ok(user) => user,
        Err(r) => return reject(r),
    };
    let Some(key) = p.get("api_securekey").filter(|k| !k.is_empty()) else {
        return error(
            MISSING_PARAMETER,
            "Missing required parameter: api_securekey",
        );
    };
    let mut state = shared.lock();
    let owner = match key_owner(&state, &user, &HashMap::new()) {
        Ok(owner) => owner,
        Err(r) => return reject(r),
    };
    let Some(account) = state.accounts.get_mut(&owner) else {
        return error(ITEM_NOT_FOUND, "Account not found");
    };
    let before = account.secure_keys.len();
    account.secure_keys.retain(|k| !k.eq_ignore_ascii_case(key));
    if account.secure_keys.len() == before {
        return error(ITEM_NOT_FOUND, "Secure key not found");
    }
    drop(state);
    shared.counters.call(&user);
    StatusCode::NO_CONTENT.into_response()
}

async fn job_list(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let p = params(query);
    let user = match authenticate(&shared, &p) {
        Ok(user) => user,
        Err(r) => return reject(r),
    };
    let jobs: Vec<String> = shared
        .lock()
        .accounts
        .get(&user)
        .map(|a| a.jobs.clone())
        .unwrap_or_default();
    shared.counters.call(&user);
    let active: Vec<serde_json::Value> = jobs
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "JobId": format!("{:032x}", i as u128 + 0x5ee_d000),
                "JobName": name,
                "Username": user,
                "JobStatus": "Complete",
                "Fidelity": "MECHANICAL",
                "TargetLanguage": "en",
            })
        })
        .collect();
    ok_json(json!({ "Username": user, "ActiveJobs": active }))
}
