//! Simulator of the CalAmp Telematics Cloud (CTC) login API.
//!
//! # What it simulates
//!
//! * `POST /connect/services/login?useAuthToken=true` with a
//!   `application/x-www-form-urlencoded` body `username=..&password=..` and the
//!   application key in the `calamp-services-app` header. A success is
//!   `200` with `Set-Cookie: authToken=<token>; Path=/; Expires=<http-date>;
//!   HttpOnly` and a small JSON user summary as the body.
//! * A protected endpoint, `GET /connect/results/events/device/{deviceId}/avl/latest`
//!   (the "latest AVL event of a device" call used by public CTC clients),
//!   answering `{"response":{"results":[{"avlEvent":{..}}]}}`. It needs the
//!   application key and the token, which is accepted as `Cookie:
//!   authToken=<t>`, as an `authToken: <t>` header or as `Authorization: Bearer
//!   <t>`.
//! * `POST` or `GET /connect/services/logout`, which invalidates the token.
//!
//! # Doc facts that are ambiguous, and how the simulator resolves them
//!
//! * **Error bodies** are not documented. Errors are JSON in the shape CTC
//!   uses for results: `{"response":{"errors":[{"code":"..","message":".."}]}}`.
//! * **Wrong credentials** answer `401` (the documented "log in again"
//!   status) with code `INVALID_CREDENTIALS`.
//! * **A missing or unknown application key** answers `403` with code
//!   `INVALID_APPLICATION_KEY`, on the login and on protected calls alike:
//!   `401` is reserved for "the token is not (or no longer) valid", because the
//!   docs make `401` the only re-login signal and a bad application key cannot
//!   be fixed by logging in again. (An old public Java client posted the login
//!   without the header; the simulator follows the documented requirement.)
//! * **A wrong content type** on the login answers `415`; missing `username` or
//!   `password` answers `400` with code `MISSING_PARAMETER`. Some public
//!   clients send the credentials as query parameters instead of in the body;
//!   the simulator accepts them there too (the body wins when both are given).
//! * **`useAuthToken=true`** is what public clients send; the simulator issues
//!   the `authToken` cookie with or without it.
//! * **Token lifetime** is not documented. [`CtcSimConfig::token_ttl`] sets it;
//!   `Some` adds an `Expires` attribute (an HTTP date, rounded down to the
//!   second so a client never believes in a longer life than the server
//!   grants), `None` issues tokens valid until logout or
//!   [`expire_all_sessions`](SimHandle::expire_all_sessions), without `Expires`.
//! * **Several token forms at once**: the first present of cookie, `authToken`
//!   header, bearer header is checked; an invalid one answers `401` even if
//!   another form would be valid.
//! * **Logout** (path unverified) accepts the token in the same forms. A
//!   logout with an unknown or expired token answers `401`; a successful one
//!   answers `200 {}` and clears the cookie (`Max-Age=0`). Since the path is
//!   not in the public record, [`CtcSimConfig::logout_route`] can make it
//!   answer `404` or `405` instead, as a server without that path would.
//! * **Login body**: only the `authToken` cookie of a successful login is
//!   documented (seed 000: "The response will include a cookie with an
//!   authorization token"), not the body. [`CtcSimConfig::login_body`] sends
//!   a JSON user summary (default), plain text, an HTML page or nothing.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode, Uri, header};
use serde_json::json;
use tokio::time::Instant;

use crate::SimError;
use crate::common::{ALNUM, Counters, ServerClock, SimHandle, SimState, random_token};

/// User name of the demo account of [`CtcSimConfig::default`].
pub const DEMO_USERNAME: &str = "demo.user@example.com";
/// Password of the demo account.
pub const DEMO_PASSWORD: &str = "Demo-Passw0rd!";
/// Application key accepted by the default configuration.
pub const DEMO_APP_KEY: &str = "3f8c2a8e-5b7d-4c1e-9a6f-0d2b4e6f8a1c";
/// A device id known to the demo account.
pub const DEMO_DEVICE_ID: &str = "4611686018427387904";
/// Path of the login endpoint.
pub const LOGIN_PATH: &str = "/connect/services/login";
/// Path of the logout endpoint.
pub const LOGOUT_PATH: &str = "/connect/services/logout";
/// Header carrying the application key.
pub const APP_KEY_HEADER: &str = "calamp-services-app";

/// Path of the protected endpoint for a device id.
pub fn avl_latest_path(device_id: &str) -> String {
    format!("/connect/results/events/device/{device_id}/avl/latest")
}

/// One API user.
#[derive(Debug, Clone)]
pub struct CtcAccount {
    /// Login name (compared exactly).
    pub username: String,
    /// Password.
    pub password: String,
    /// CTC account id reported in the login summary.
    pub account_id: u64,
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct CtcSimConfig {
    /// Users that may log in.
    pub accounts: Vec<CtcAccount>,
    /// Application keys accepted in `calamp-services-app`.
    pub app_keys: Vec<String>,
    /// Token lifetime. `Some` puts an `Expires` attribute on the cookie;
    /// `None` means valid until logout or [`expire_all_sessions`](SimHandle::expire_all_sessions).
    /// Default: 24 hours.
    pub token_ttl: Option<Duration>,
    /// How far the simulated server's clock is ahead of real time (negative:
    /// behind). It dates the `Date` header and the cookie's `Expires`.
    /// Default zero.
    pub clock_offset: chrono::Duration,
    /// The body of a successful login (the cookie is always set). Default
    /// [`LoginBody::Json`].
    pub login_body: LoginBody,
    /// How the logout path answers. Default [`LogoutRoute::Available`].
    pub logout_route: LogoutRoute,
}

/// The body of a successful login: undocumented, so every form is possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoginBody {
    /// A small JSON user summary, `application/json;charset=UTF-8`.
    #[default]
    Json,
    /// `text/plain` text.
    PlainText,
    /// A `text/html` page.
    Html,
    /// No body at all.
    Empty,
}

/// How `/connect/services/logout` answers (its path is unverified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogoutRoute {
    /// Logout works as described in the module docs.
    #[default]
    Available,
    /// The path does not exist: `404`, the token stays valid.
    NotFound,
    /// The path exists for other methods only: `405`, the token stays valid.
    MethodNotAllowed,
}

impl Default for CtcSimConfig {
    fn default() -> Self {
        Self {
            accounts: vec![CtcAccount {
                username: DEMO_USERNAME.to_owned(),
                password: DEMO_PASSWORD.to_owned(),
                account_id: 10_042,
            }],
            app_keys: vec![DEMO_APP_KEY.to_owned()],
            token_ttl: Some(Duration::from_secs(24 * 3600)),
            clock_offset: chrono::Duration::zero(),
            login_body: LoginBody::Json,
            logout_route: LogoutRoute::Available,
        }
    }
}

#[derive(Debug)]
struct Issued {
    username: String,
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct CtcState {
    config: CtcSimConfig,
    /// The accounts and application keys accepted now (changed by
    /// [`CtcSim::set_password`] and [`CtcSim::set_app_keys`]).
    accounts: Mutex<Vec<CtcAccount>>,
    app_keys: Mutex<Vec<String>>,
    tokens: Mutex<HashMap<String, Issued>>,
    counters: Counters,
    reject_all: AtomicBool,
    logouts: AtomicU64,
    rejected_calls: AtomicU64,
}

impl CtcState {
    fn accounts(&self) -> std::sync::MutexGuard<'_, Vec<CtcAccount>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn app_keys(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.app_keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SimState for CtcState {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn expire_all_sessions(&self) {
        self.tokens().clear();
    }

    fn active_sessions(&self) -> usize {
        let now = Instant::now();
        self.tokens()
            .values()
            .filter(|t| t.deadline.is_none_or(|d| d > now))
            .count()
    }
}

/// A running CTC simulator. Stops when dropped.
///
/// Dereferences to [`SimHandle`]: [`base_url`](SimHandle::base_url) is
/// `http://127.0.0.1:<port>/`; [`counters`](SimHandle::counters) are keyed
/// by username; [`expire_all_sessions`](SimHandle::expire_all_sessions)
/// invalidates every issued token (the next call with one answers `401`);
/// [`active_sessions`](SimHandle::active_sessions) counts the tokens valid
/// now.
#[derive(Debug)]
pub struct CtcSim {
    sim: SimHandle,
    state: Arc<CtcState>,
}

impl Deref for CtcSim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}

impl CtcSim {
    /// Starts the simulator on an ephemeral loopback port.
    pub async fn start(mut config: CtcSimConfig) -> Result<Self, SimError> {
        if config.accounts.is_empty() || config.app_keys.is_empty() {
            return Err(SimError::Config(
                "the CTC simulator needs at least one account and one application key".into(),
            ));
        }
        let state = Arc::new(CtcState {
            // Moved out of the configuration: the live lists are the only
            // ones, so nothing reads a stale copy.
            accounts: Mutex::new(std::mem::take(&mut config.accounts)),
            app_keys: Mutex::new(std::mem::take(&mut config.app_keys)),
            config,
            tokens: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            reject_all: AtomicBool::new(false),
            logouts: AtomicU64::new(0),
            rejected_calls: AtomicU64::new(0),
        });
        let clock = ServerClock::new(state.config.clock_offset);
        let router = Router::new()
            .route(LOGIN_PATH, post(login).fallback(method_not_allowed))
            .route(
                LOGOUT_PATH,
                get(logout).post(logout).fallback(method_not_allowed),
            )
            .route(
                "/connect/results/events/device/{device_id}/avl/latest",
                get(avl_latest).fallback(method_not_allowed),
            )
            .fallback(not_found)
            .with_state(Arc::clone(&state));
        let router = clock.layer(router);
        let sim = SimHandle::start(router, "", Arc::clone(&state) as Arc<dyn SimState>).await?;
        Ok(Self { sim, state })
    }

    /// Same as [`expire_all_sessions`](SimHandle::expire_all_sessions): the server
    /// revokes every token (as an administrator resetting the API user would).
    pub fn revoke_all(&self) {
        self.expire_all_sessions();
    }

    /// While set, every protected call answers `401`, even with a token just
    /// issued (a misbehaving server, to test the client's fair-usage guard).
    pub fn set_reject_all(&self, reject: bool) {
        self.state.reject_all.store(reject, Ordering::SeqCst);
    }

    /// Changes an account's password, as an administrator would: later
    /// logins need the new one; issued tokens stay valid.
    pub fn set_password(&self, username: &str, password: &str) {
        if let Some(account) = self
            .state
            .accounts()
            .iter_mut()
            .find(|a| a.username == username)
        {
            account.password = password.to_owned();
        }
    }

    /// Replaces the accepted application keys (a key rotation: list the old
    /// and the new key while clients move over, then only the new one).
    pub fn set_app_keys(&self, keys: &[&str]) {
        *self.state.app_keys() = keys.iter().map(|k| (*k).to_owned()).collect();
    }

    /// Successful logouts so far.
    pub fn logouts(&self) -> u64 {
        self.state.logouts.load(Ordering::SeqCst)
    }

    /// Protected calls answered `401` so far.
    pub fn rejected_calls(&self) -> u64 {
        self.state.rejected_calls.load(Ordering::SeqCst)
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!({"response": {"errors": [{"code": code, "message": message}]}}).to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "Resource not found")
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Request method not supported",
    )
}

/// The `403` answer when the application key is missing or unknown.
fn check_app_key(state: &CtcState, headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get(APP_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match key {
        Some(k) if state.app_keys().iter().any(|a| a == k) => None,
        Some(_) => Some(error(
            StatusCode::FORBIDDEN,
            "INVALID_APPLICATION_KEY",
            "The application key is not valid",
        )),
        None => Some(error(
            StatusCode::FORBIDDEN,
            "INVALID_APPLICATION_KEY",
            "The calamp-services-app header is required",
        )),
    }
}

fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn login(
    State(state): State<Arc<CtcState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = check_app_key(&state, &headers) {
        return response;
    }
    let mut params: HashMap<String, String> = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    if !body.is_empty() {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Content type must be application/x-www-form-urlencoded",
            );
        }
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
            Ok(pairs) => params.extend(pairs),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "The request body could not be read",
                );
            }
        }
    }
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            "username and password are required",
        );
    };
    let Some(account) = state
        .accounts()
        .iter()
        .find(|a| &a.username == username && &a.password == password)
        .cloned()
    else {
        state.counters.failed_login(username);
        return error(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid username or password",
        );
    };
    let token = random_token(48, ALNUM);
    let now = Instant::now();
    let ttl = state.config.token_ttl;
    state.tokens().insert(
        token.clone(),
        Issued {
            username: account.username.clone(),
            deadline: ttl.map(|t| now + t),
        },
    );
    state.counters.login(&account.username);
    let mut cookie = format!("authToken={token}; Path=/");
    if let Some(ttl) = ttl {
        let now = ServerClock::new(state.config.clock_offset).now();
        let at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        // Round down to the second: HTTP dates carry no fraction.
        let at = DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
        cookie.push_str("; Expires=");
        cookie.push_str(&http_date(at));
    }
    cookie.push_str("; HttpOnly");
    let (content_type, body) = match state.config.login_body {
        LoginBody::Json => (
            "application/json;charset=UTF-8",
            json!({
                "user": {
                    "username": account.username,
                    "accountId": account.account_id,
                    "status": "ACTIVE",
                },
                "authenticated": true,
            })
            .to_string(),
        ),
        LoginBody::PlainText => ("text/plain;charset=UTF-8", "Login successful".to_owned()),
        LoginBody::Html => (
            "text/html;charset=UTF-8",
            "<!DOCTYPE html><html><head><title>CalAmp</title></head><body>Login successful</body></html>"
                .to_owned(),
        ),
        LoginBody::Empty => ("text/plain;charset=UTF-8", String::new()),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::SET_COOKIE, cookie),
        ],
        body,
    )
        .into_response()
}

/// The token of a request: the first present of the `authToken` cookie, the
/// `authToken` header and a bearer `Authorization` header.
fn request_token(headers: &HeaderMap) -> Option<String> {
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "authToken")
        .map(|(_, value)| value.trim().trim_matches('"').to_owned());
    if from_cookie.is_some() {
        return from_cookie;
    }
    if let Some(v) = headers.get("authToken").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        })
}

/// The `401` answer to a missing, unknown or expired token.
fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "Authentication is required or the authToken is no longer valid",
    )
}

/// The token and the account owning it, or `None` when the request carries
/// no valid token.
fn authenticate(state: &CtcState, headers: &HeaderMap) -> Option<(String, String)> {
    let token = request_token(headers)?;
    let mut tokens = state.tokens();
    match tokens.get(&token) {
        Some(issued) if issued.deadline.is_none_or(|d| d > Instant::now()) => {
            Some((token.clone(), issued.username.clone()))
        }
        Some(_) => {
            tokens.remove(&token);
            None
        }
        None => None,
    }
}

async fn avl_latest(
    State(state): State<Arc<CtcState>>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = check_app_key(&state, &headers) {
        return response;
    }
    let username = match authenticate(&state, &headers) {
        Some((_, username)) if !state.reject_all.load(Ordering::SeqCst) => username,
        Some(_) | None => {
            state.rejected_calls.fetch_add(1, Ordering::SeqCst);
            return unauthorized();
        }
    };
    state.counters.call(&username);
    let body = json!({
        "response": {
            "results": [{
                "avlEvent": {
                    "deviceId": device_id,
                    "eventCode": 2,
                    "eventType": "IGNITION_ON",
                    "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "messageUuid": random_token(32, crate::common::HEX),
                    "address": {
                        "city": "Irvine",
                        "state": "CA",
                        "addressLatitude": 33.6846,
                        "addressLongitude": -117.8265,
                    },
                }
            }]
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

async fn logout(State(state): State<Arc<CtcState>>, headers: HeaderMap) -> Response {
    match state.config.logout_route {
        LogoutRoute::Available => {}
        LogoutRoute::NotFound => return not_found().await,
        LogoutRoute::MethodNotAllowed => return method_not_allowed().await,
    }
    if let Some(response) = check_app_key(&state, &headers) {
        return response;
    }
    match authenticate(&state, &headers) {
        Some((token, _)) => {
            state.tokens().remove(&token);
            state.logouts.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
                    (
                        header::SET_COOKIE,
                        "authToken=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                    ),
                ],
                "{}",
            )
                .into_response()
        }
        None => unauthorized(),
    }
}
