//! Simulator of the Plaspy / ALTAGAMA GPS REST API authentication.
//!
//! # What it simulates
//!
//! * `POST /api/Auth/Token` with a JSON body `{"userName":..,"apiKey":..}`.
//!   Property names are matched case-insensitively, as ASP.NET Core's
//!   `System.Text.Json` web defaults do. A success is
//!   `{"success":true,"token":"<JWT>","expires":"<RFC 3339 UTC>"}`; a failure
//!   is `{"success":false,"error":"Invalid API key or username."}` (the text of
//!   the documentation, byte for byte).
//! * The token is JWT-shaped: three base64url parts, header
//!   `{"alg":"HS512","typ":"JWT"}` (what the documentation's example token
//!   starts with), a payload with `unique_name`, `jti`, `nbf`, `iat`, `exp`
//!   and `iss` claims, and a random 64-byte "signature".
//! * A protected endpoint, `GET /api/devices`, needing `Authorization: Bearer
//!   <token>` and answering the documented envelope (docs.plaspy.com,
//!   developers/rest_api/devices_api/get__api_devices; plaspy-dev/docs):
//!   `{"success":true,"apiUsage":<n>,"apiDailyUsage":<n>,"devices":[..]}`,
//!   each device with `id`, `name`, `description`, `min`, `tags`, `expires`.
//!   `apiUsage` counts the account's accepted calls, `apiDailyUsage` those of
//!   the current UTC day.
//! * Errors of API calls use the documented structure `{"success":false,
//!   "error":".."}` with the documented statuses (www.plaspy.com/Help/722
//!   "Rest API", "HTTP Status Code" and "Error handling"): `401` no valid
//!   token (with a `WWW-Authenticate: Bearer ..` header, as ASP.NET Core's
//!   JWT bearer handler sends), `403` no permission
//!   ([`PlaspySim::set_forbidden`]), `415` not JSON (on the token call), `429`
//!   too many requests ([`PlaspySimConfig::daily_limit`], with
//!   `Retry-After`), `503` unavailable ([`PlaspySim::set_maintenance`], with
//!   `Retry-After`, on every path including the token call).
//!
//! # Doc facts that are ambiguous, and how the simulator resolves them
//!
//! * **HTTP status of a failed login** is not documented:
//!   [`PlaspySimConfig::failure_status`] sets it, default `200` (the
//!   documentation shows the error body as "the response", and the `success`
//!   flag only makes sense if the status does not carry the outcome).
//! * **Format of `expires`** is only shown by one example
//!   (`2023-12-31T23:59:59Z`). [`PlaspySimConfig::expires_format`] chooses
//!   between that (default; the time is rounded down to the second), .NET's
//!   round-trip form with seven fraction digits, the same without the `Z`
//!   (a `DateTime` of unspecified kind), and no `expires` at all.
//! * **User name matching**: case-insensitive (ASP.NET Identity normalizes
//!   user names); the API key is compared exactly.
//! * **Bad requests**: a missing or non-JSON content type gives `415` with the
//!   documented error structure; malformed JSON or a missing/empty field
//!   gives `400` with a validation problem-details body, as ASP.NET Core
//!   with `[ApiController]` would (the `400` body is not documented).
//! * **Texts of the `error` field** are not documented (except the token
//!   call's `Invalid API key or username.`); the simulator's are short and
//!   paraphrase the status table.
//! * **Token validity** is checked against the simulator's own record of
//!   issued tokens (a real JWT is validated by signature and `exp`), so
//!   [`expire_all_sessions`](SimHandle::expire_all_sessions) can invalidate tokens early.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::SimError;
use crate::common::{Counters, HEX, ServerClock, SimHandle, SimState, random_token};

/// User name of the demo account of [`PlaspySimConfig::default`].
pub const DEMO_USERNAME: &str = "demo";
/// API key of the demo account.
pub const DEMO_API_KEY: &str = "9d1f6c3ab2e84f0c8e7a5b4c3d2e1f00";
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/api/Auth/Token";
/// Path of the protected endpoint.
pub const DEVICES_PATH: &str = "/api/devices";
/// The documented error text for wrong credentials.
pub const INVALID_CREDENTIALS_ERROR: &str = "Invalid API key or username.";

/// One API user.
#[derive(Debug, Clone)]
pub struct PlaspyAccount {
    /// User name (matched case-insensitively).
    pub user_name: String,
    /// API key (matched exactly).
    pub api_key: String,
}

/// How the simulator writes `expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExpiresFormat {
    /// `2023-12-31T23:59:59Z`, as in the documentation (rounded down to the
    /// second).
    #[default]
    UtcSeconds,
    /// `2023-12-31T23:59:59.1234567Z` (.NET round-trip format of a UTC
    /// `DateTime`).
    UtcFraction,
    /// `2023-12-31T23:59:59.1234567`: no zone suffix (a `DateTime` of
    /// unspecified kind), the time being UTC.
    NoZone,
    /// No `expires` property at all.
    Omitted,
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct PlaspySimConfig {
    /// Users that may obtain tokens.
    pub accounts: Vec<PlaspyAccount>,
    /// Token lifetime. Default: 24 hours.
    pub token_ttl: Duration,
    /// HTTP status of a `{"success":false}` answer. Default `200`.
    pub failure_status: u16,
    /// How `expires` is written. Default [`ExpiresFormat::UtcSeconds`].
    pub expires_format: ExpiresFormat,
    /// Whether the JWT payload carries an `exp` claim. Default `true`.
    pub jwt_exp_claim: bool,
    /// How far the simulated server's clock is ahead of real time (negative:
    /// behind). It dates the `Date` header, `expires` and the JWT claims.
    /// Default zero.
    pub clock_offset: chrono::Duration,
    /// Accepted API calls per account and UTC day; the next ones answer
    /// `429` with `Retry-After` (seconds to the next UTC midnight). Default
    /// `None` (no limit).
    pub daily_limit: Option<u64>,
}

impl Default for PlaspySimConfig {
    fn default() -> Self {
        Self {
            accounts: vec![PlaspyAccount {
                user_name: DEMO_USERNAME.to_owned(),
                api_key: DEMO_API_KEY.to_owned(),
            }],
            token_ttl: Duration::from_secs(24 * 3600),
            failure_status: 200,
            expires_format: ExpiresFormat::UtcSeconds,
            clock_offset: chrono::Duration::zero(),
            jwt_exp_claim: true,
            daily_limit: None,
        }
    }
}

#[derive(Debug)]
struct Issued {
    user_name: String,
    deadline: Instant,
    expires_at: DateTime<Utc>,
}

#[derive(Debug)]
struct PlaspyState {
    config: PlaspySimConfig,
    /// The accounts accepted now (changed by [`PlaspySim::set_api_key`]).
    accounts: Mutex<Vec<PlaspyAccount>>,
    failure_status: StatusCode,
    tokens: Mutex<HashMap<String, Issued>>,
    counters: Counters,
    usage: Mutex<HashMap<String, Usage>>,
    forbidden: AtomicBool,
    maintenance: Mutex<Option<Duration>>,
}

/// An account's API usage: all accepted calls, and those of one UTC day.
#[derive(Debug, Default)]
struct Usage {
    total: u64,
    day: Option<chrono::NaiveDate>,
    daily: u64,
}

impl PlaspyState {
    fn accounts(&self) -> std::sync::MutexGuard<'_, Vec<PlaspyAccount>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn maintenance(&self) -> Option<Duration> {
        *self.maintenance.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SimState for PlaspyState {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn expire_all_sessions(&self) {
        self.tokens().clear();
    }

    fn active_sessions(&self) -> usize {
        let now = Instant::now();
        self.tokens().values().filter(|t| t.deadline > now).count()
    }
}

/// A running Plaspy simulator. Stops when dropped.
///
/// Dereferences to [`SimHandle`]: [`base_url`](SimHandle::base_url) is
/// `http://127.0.0.1:<port>/`; [`counters`](SimHandle::counters) are keyed
/// by the configured user name;
/// [`expire_all_sessions`](SimHandle::expire_all_sessions) invalidates every
/// issued token; [`active_sessions`](SimHandle::active_sessions) counts the
/// tokens valid now.
#[derive(Debug)]
pub struct PlaspySim {
    sim: SimHandle,
    state: Arc<PlaspyState>,
}

impl Deref for PlaspySim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}

impl PlaspySim {
    /// Starts the simulator on an ephemeral loopback port.
    pub async fn start(mut config: PlaspySimConfig) -> Result<Self, SimError> {
        let failure_status = StatusCode::from_u16(config.failure_status)
            .map_err(|e| SimError::Config(format!("failure_status: {e}")))?;
        if config.accounts.is_empty() {
            return Err(SimError::Config(
                "the Plaspy simulator needs at least one account".into(),
            ));
        }
        let state = Arc::new(PlaspyState {
            // Moved out of the configuration: the live list is the only one.
            accounts: Mutex::new(std::mem::take(&mut config.accounts)),
            config,
            failure_status,
            tokens: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            usage: Mutex::new(HashMap::new()),
            forbidden: AtomicBool::new(false),
            maintenance: Mutex::new(None),
        });
        let router = Router::new()
            .route(TOKEN_PATH, post(token).fallback(method_not_allowed))
            .route(DEVICES_PATH, get(devices).fallback(method_not_allowed))
            .fallback(not_found)
            .with_state(Arc::clone(&state));
        let router = ServerClock::new(state.config.clock_offset).layer(router);
        let sim = SimHandle::start(router, "", Arc::clone(&state) as Arc<dyn SimState>).await?;
        Ok(Self { sim, state })
    }

    /// Changes an account's API key, as the user would in the web interface:
    /// later token requests need the new one; issued tokens stay valid.
    pub fn set_api_key(&self, user_name: &str, api_key: &str) {
        if let Some(account) = self
            .state
            .accounts()
            .iter_mut()
            .find(|a| a.user_name.eq_ignore_ascii_case(user_name))
        {
            account.api_key = api_key.to_owned();
        }
    }

    /// While set, API calls with a valid token answer `403` ("the user
    /// identified by the token does not have permissions").
    pub fn set_forbidden(&self, forbidden: bool) {
        self.state.forbidden.store(forbidden, Ordering::SeqCst);
    }

    /// While `Some(retry_after)`, every request (the token call included)
    /// answers `503` with `Retry-After` in whole seconds (rounded up).
    pub fn set_maintenance(&self, retry_after: Option<Duration>) {
        *self
            .state
            .maintenance
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = retry_after;
    }
}

fn trace_id() -> String {
    format!("00-{}-{}-00", random_token(32, HEX), random_token(16, HEX))
}

fn problem(status: StatusCode, title: &str, errors: Option<Value>) -> Response {
    let kind = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        StatusCode::METHOD_NOT_ALLOWED => "https://tools.ietf.org/html/rfc9110#section-15.5.6",
        StatusCode::NOT_FOUND => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    };
    let mut body = json!({
        "type": kind,
        "title": title,
        "status": status.as_u16(),
    });
    if let Some(errors) = errors {
        body["errors"] = errors;
    }
    body["traceId"] = Value::String(trace_id());
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/problem+json; charset=utf-8",
        )],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "Not Found", None)
}

async fn method_not_allowed() -> Response {
    problem(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None)
}

fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json"
        || mime == "text/json"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn json_text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Base64url without padding.
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn make_jwt(
    user_name: &str,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
    exp_claim: bool,
) -> String {
    let header = br#"{"alg":"HS512","typ":"JWT"}"#;
    let mut payload = json!({
        "unique_name": user_name,
        "jti": random_token(32, HEX),
        "nbf": issued.timestamp(),
        "iat": issued.timestamp(),
        "iss": "https://api.plaspy.com",
    });
    if exp_claim {
        payload["exp"] = Value::from(expires.timestamp());
    }
    let signature: Vec<u8> = (0..64).map(|_| fastrand::u8(..)).collect();
    format!(
        "{}.{}.{}",
        b64url(header),
        b64url(payload.to_string().as_bytes()),
        b64url(&signature)
    )
}

/// A property of a JSON object, found case-insensitively.
fn property<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The documented error structure, `{"success":false,"error":".."}`.
fn envelope_error(status: StatusCode, error: &str) -> Response {
    json_text(
        status,
        json!({"success": false, "error": error}).to_string(),
    )
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_secs(d: Duration) -> String {
    d.as_secs()
        .saturating_add(u64::from(d.subsec_nanos() > 0))
        .max(1)
        .to_string()
}

/// The `503` answer while the simulator is in maintenance.
fn unavailable(state: &PlaspyState) -> Option<Response> {
    let retry_after = state.maintenance()?;
    let mut response = envelope_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable (overload or scheduled maintenance).",
    );
    if let Ok(value) = http::HeaderValue::from_str(&retry_after_secs(retry_after)) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Some(response)
}

async fn token(State(state): State<Arc<PlaspyState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(response) = unavailable(&state) {
        return response;
    }
    if !json_content_type(&headers) {
        return envelope_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type: the server expects JSON.",
        );
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let message = if body.is_empty() {
                "A non-empty request body is required.".to_owned()
            } else {
                format!(
                    "'{}' is an invalid start of a value. LineNumber: {} | BytePositionInLine: {}.",
                    body.first().map(|b| char::from(*b)).unwrap_or(' '),
                    e.line().saturating_sub(1),
                    e.column().saturating_sub(1)
                )
            };
            return problem(
                StatusCode::BAD_REQUEST,
                "One or more validation errors occurred.",
                Some(json!({
                    "$": [message],
                    "request": ["The request field is required."],
                })),
            );
        }
    };
    let Some(object) = parsed.as_object() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "One or more validation errors occurred.",
            Some(json!({"$": ["The JSON value could not be converted to AuthRequest."]})),
        );
    };
    let text = |name: &str| {
        property(object, name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (user_name, api_key) = (text("userName"), text("apiKey"));
    let mut missing = serde_json::Map::new();
    if user_name.is_none() {
        missing.insert(
            "UserName".into(),
            json!(["The UserName field is required."]),
        );
    }
    if api_key.is_none() {
        missing.insert("ApiKey".into(), json!(["The ApiKey field is required."]));
    }
    let (Some(user_name), Some(api_key)) = (user_name, api_key) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "One or more validation errors occurred.",
            Some(Value::Object(missing)),
        );
    };
    let Some(account) = state
        .accounts()
        .iter()
        .find(|a| a.user_name.eq_ignore_ascii_case(user_name) && a.api_key == api_key)
        .cloned()
    else {
        state.counters.failed_login(user_name);
        return json_text(
            state.failure_status,
            format!(
                "{{\"success\":false,\"error\":{}}}",
                Value::from(INVALID_CREDENTIALS_ERROR)
            ),
        );
    };
    let ttl = state.config.token_ttl;
    let now = ServerClock::new(state.config.clock_offset).now();
    let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let jwt = make_jwt(
        &account.user_name,
        now,
        expires_at,
        state.config.jwt_exp_claim,
    );
    state.tokens().insert(
        jwt.clone(),
        Issued {
            user_name: account.user_name.clone(),
            deadline: Instant::now() + ttl,
            expires_at,
        },
    );
    state.counters.login(&account.user_name);
    // Seven fraction digits, .NET style (the last one always 0 here).
    let with_fraction = || {
        let micros = expires_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        format!("{micros}0")
    };
    let expires = match state.config.expires_format {
        ExpiresFormat::UtcSeconds => Some(
            DateTime::from_timestamp(expires_at.timestamp(), 0)
                .unwrap_or(expires_at)
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        ExpiresFormat::UtcFraction => Some(format!("{}Z", with_fraction())),
        ExpiresFormat::NoZone => Some(with_fraction()),
        ExpiresFormat::Omitted => None,
    };
    // Written by hand to keep the documented property order.
    let mut body = format!("{{\"success\":true,\"token\":{}", Value::from(jwt));
    if let Some(expires) = expires {
        body.push_str(&format!(",\"expires\":{}", Value::from(expires)));
    }
    body.push('}');
    json_text(StatusCode::OK, body)
}

fn unauthorized(www_authenticate: String) -> Response {
    let mut response = envelope_error(StatusCode::UNAUTHORIZED, "No valid token was provided.");
    if let Ok(value) = http::HeaderValue::from_str(&www_authenticate) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Counts an accepted call against the account's usage: `(apiUsage,
/// apiDailyUsage)`, or, past the daily limit, how long until the next UTC
/// day.
fn count_usage(state: &PlaspyState, user_name: &str) -> Result<(u64, u64), Duration> {
    let now = ServerClock::new(state.config.clock_offset).now();
    let today = now.date_naive();
    let mut usage = state.usage.lock().unwrap_or_else(|p| p.into_inner());
    let usage = usage.entry(user_name.to_owned()).or_default();
    if usage.day != Some(today) {
        usage.day = Some(today);
        usage.daily = 0;
    }
    if state
        .config
        .daily_limit
        .is_some_and(|limit| usage.daily >= limit)
    {
        let midnight = today
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        let wait = midnight
            .and_then(|m| (m - now).to_std().ok())
            .unwrap_or(Duration::from_secs(1));
        return Err(wait);
    }
    usage.total += 1;
    usage.daily += 1;
    Ok((usage.total, usage.daily))
}

async fn devices(State(state): State<Arc<PlaspyState>>, headers: HeaderMap) -> Response {
    if let Some(response) = unavailable(&state) {
        return response;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        });
    let Some(token) = bearer else {
        return unauthorized("Bearer".to_owned());
    };
    let user_name = {
        let mut tokens = state.tokens();
        match tokens.get(&token) {
            Some(issued) if issued.deadline > Instant::now() => issued.user_name.clone(),
            Some(issued) => {
                let msg = format!(
                    "Bearer error=\"invalid_token\", error_description=\"The token expired at '{}'\"",
                    issued.expires_at.format("%m/%d/%Y %H:%M:%S")
                );
                tokens.remove(&token);
                return unauthorized(msg);
            }
            None => {
                return unauthorized(
                    "Bearer error=\"invalid_token\", error_description=\"The signature is invalid\""
                        .to_owned(),
                );
            }
        }
    };
    if state.forbidden.load(Ordering::SeqCst) {
        return envelope_error(
            StatusCode::FORBIDDEN,
            "The user does not have permissions to make the request.",
        );
    }
    let (api_usage, api_daily_usage) = match count_usage(&state, &user_name) {
        Ok(usage) => usage,
        Err(wait) => {
            let mut response = envelope_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests: the daily API limit was reached.",
            );
            if let Ok(value) = http::HeaderValue::from_str(&retry_after_secs(wait)) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    };
    state.counters.call(&user_name);
    json_text(
        StatusCode::OK,
        json!({
            "success": true,
            "apiUsage": api_usage,
            "apiDailyUsage": api_daily_usage,
            "devices": [
                {
                    "id": "device1001",
                    "name": "Truck 01",
                    "description": "Delivery truck",
                    "min": "5215512345678",
                    "tags": {"fleet": "north"},
                    "expires": "2030-12-31T23:59:59Z",
                },
                {
                    "id": "device1002",
                    "name": "Van 07",
                    "description": "Service van",
                    "min": "5215587654321",
                    "tags": {},
                    "expires": "2030-12-31T23:59:59Z",
                },
            ],
        })
        .to_string(),
    )
}
