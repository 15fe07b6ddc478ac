//! Wialon Remote API simulator: `token/login`, sessions that die when idle,
//! `avl_evts` keep-alive, `core/search_items`, `core/logout`, and token
//! management with `token/list` and `token/update`.
//!
//! # Endpoints
//!
//! * `GET|POST {base}wialon/ajax.html` with `svc`, `params` (JSON text) and
//!   `sid`, each taken from the form body (`application/x-www-form-urlencoded`
//!   or a body without content type) or from the query string; a body field
//!   wins over a query field of the same name, so `svc` in the query and the
//!   rest in the body works.
//! * `GET|POST {base}avl_evts?sid=` (the `sid` may also be in a form body):
//!   keeps the session alive and answers `{"tm":<now>,"events":[..]}` with
//!   the events queued for that session since its last `avl_evts`
//!   ([`WialonSim::push_event`]), clearing the queue.
//!
//! Every answer is HTTP 200 with `Content-Type: application/json` exactly
//! (real servers do so, and public clients compare the header verbatim);
//! errors are `{"error":N}` (`{"error":1003,"reason":...}` for 1003).
//!
//! # Services
//!
//! | `svc` | needs `sid` | answer |
//! |---|---|---|
//! | `token/login` | no (`sid` absent, empty, `None` or anything: ignored) | the login object below |
//! | `core/search_items` | yes | `{"searchSpec":..,"dataFlags":..,"totalItemsCount":N,"indexFrom":0,"indexTo":N,"items":[..]}` |
//! | `core/logout` | yes | `{"error":0}`, the session is gone |
//! | `token/list` | yes | array of the account's tokens |
//! | `token/update` | yes | `callMode` `create`/`update` -> the token object; `delete` -> `{}` |
//! | `core/batch` | yes | `params` `[{"svc":..,"params":{..}},..]` or `{"params":[..],"flags":0/1}` -> array of results (`{"error":N}` for a failed one; with `flags` 1 the commands after a failure answer 10) |
//!
//! # Login response and the `fl` flags
//!
//! `eid` (32 hex characters), `au` and `tm` are always present; the other
//! blocks follow the flags (`fl` absent means `0x3`, basic and user info, the
//! same default as the `wialon-token` client; a negative `fl` means every
//! flag):
//!
//! | flag | adds |
//! |---|---|
//! | `0x1` basic | `gis_sid`, `host`, `hw_gw_ip`, `pi`, `wsdk_version`, `classes`, `features.unlim`, `user{nm,cls,id}` |
//! | `0x2` user | `user{crt,bact,fl,hm,uacl,mu,ct,ld,pfl,ap,mapps,mappsmax,ftp}` (and `nm`,`cls`,`id`) |
//! | `0x4` token | `token`: escaped JSON of `{app,ct,at,dur,fl,p,items}`, at the top level (the seed) and inside `user` (help.wialon.com's "Login and logout" example) |
//! | any `user` block | `user.th`: the 72-character token itself, echoed as the public example shows (clients must drop it) |
//! | `0x8` items | `items`: the account's units `[{nm,cls,id}]` |
//! | `0x10` billing | `features.svcs` (service name -> 0/1) |
//! | `0x20` custom properties | `user.prp` |
//! | `0x40` URLs | `base_url`, `video_service_url`, `api_url` |
//!
//! # Errors
//!
//! | condition | answer |
//! |---|---|
//! | unknown `svc` (or none) | `{"error":2}` |
//! | `params` missing where required, not JSON, not an object, or wrong field types | `{"error":4}` |
//! | login: `token` missing or not 72 characters | `{"error":4}` |
//! | login: 72 characters but unknown, deleted or past `at + dur` | `{"error":8}` |
//! | login: token not activated yet (`at` in the future) | `{"error":7}` |
//! | login: `operateAs` names a user the account does not have | `{"error":8}` |
//! | `sid` missing, unknown, logged out or idle too long | `{"error":1}` |
//! | `token/update` `update`/`delete` of a token the account does not own | `{"error":7}` |
//!
//! Per-session limits ([`SessionLimits`], on by default, from the public
//! record): more than 10 `ajax.html` requests of one session in progress at
//! once answer `{"error":1003,"reason":"LIMIT api_concurrent"}`; more than
//! 10 `avl_evts` of one session in 10 seconds answer `{"error":10}`; an
//! optional per-second limit (off by default) answers `{"error":10}`.
//! [`WialonSimConfig::call_latency`] makes requests overlap.
//!
//! Errors 9, 1003 "only one request is allowed at the moment", 1011 ... are
//! not produced by the simulated logic; [`WialonSim::inject_error`] makes
//! the next requests answer them.
//!
//! # Doc facts that are ambiguous, and how this simulator resolves them
//!
//! * Unknown versus malformed token: real servers answer 4 for a token that
//!   is not 72 characters and 8 for a well-formed unknown one; so does this
//!   simulator. Expired and deleted tokens also give 8.
//! * "Non-activated" token: a token whose activation time `at` is in the
//!   future; it gives 7 (access denied). `at = 0` at creation means "now".
//! * `fl` is documented as required but public clients omit it: absent means
//!   basic and user info (`0x3`). Which block each flag adds is not
//!   documented beyond its name: see the table above.
//! * `unlim` and `svcs` values are documented as booleans described as 0/1;
//!   the simulator sends 0/1 integers, as real servers do.
//! * `operateAs` naming an unknown user: 8 (invalid user name).
//! * The session is killed after 5 minutes without requests (configurable);
//!   any request carrying the `sid` (an `avl_evts` keep-alive, a failing
//!   call) slides it. An expired session answers 1 (1011 is only injected).
//! * `token/update` `delete` answers `{}`; token management is allowed to
//!   any session of the owning account (real servers also check the token's
//!   access flags).
//! * Failed logins with an unknown token are counted under the account name
//!   [`UNKNOWN_ACCOUNT`].
//!
//! Counters: `logins`/`failed_logins` per account (the token owner's user
//! name), `calls` for every accepted call with a `sid` other than the
//! keep-alive, which is counted separately ([`WialonSim::keep_alives`]).

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use url::Url;

use crate::SimError;
use crate::common::{self, Counters, HEX, SimHandle, random_token};

mod batch;
mod limits;

use limits::Limiter;
pub use limits::{API_CONCURRENT_REASON, LimitReply, SessionLimits};

/// User name of the demo account.
pub const DEMO_USER: &str = "wialon_demo";
/// User id of the demo account.
pub const DEMO_USER_ID: i64 = 20_030_001;
/// A 72-character, activated, unlimited token of the demo account.
pub const DEMO_TOKEN: &str =
    "5dce19710a5e26ab8b7b8986cb3c49e58C291791B7F0A7AEB8AFBFCEED7DC03BC48FF5F8";
/// A 72-character token of the demo account that is not activated yet
/// (activation time far in the future): logging in with it answers error 7.
pub const DEMO_INACTIVE_TOKEN: &str =
    "0000000000aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeeffffffff1234";
/// A sub-user of the demo account, usable as `operateAs`.
pub const DEMO_SUBUSER: &str = "wialon_demo_operator";
/// Account name under which failed logins with an unknown token are counted.
pub const UNKNOWN_ACCOUNT: &str = "?";
/// Length of a Wialon token.
pub const TOKEN_LEN: usize = 72;
/// Default idle time after which a session is killed (5 minutes).
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(300);

/// Superclass ids announced in `classes`.
const CLASS_USER: i64 = 1;
const CLASS_UNIT: i64 = 2;

/// A token known to the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimToken {
    /// The 72-character token (`h` in `token/list`).
    pub token: String,
    /// Application name (`app`).
    pub app: String,
    /// Activation time (`at`); `None` means "when created". A time in the
    /// future makes the token non-activated (login answers 7).
    pub activated_at: Option<DateTime<Utc>>,
    /// Duration of validity from activation (`dur`); `None` means unlimited.
    pub duration: Option<Duration>,
    /// Access flags (`fl`), `-1` for full access.
    pub access_flags: i64,
    /// Custom parameters (`p`, JSON text).
    pub params: String,
    /// Items the token is limited to (`items`).
    pub items: Vec<i64>,
}

impl SimToken {
    /// An activated, unlimited, full-access token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            app: "Wialon Hosting".to_owned(),
            activated_at: None,
            duration: None,
            access_flags: -1,
            params: "{}".to_owned(),
            items: Vec::new(),
        }
    }

    /// A token that activates only at `at` (login before that answers 7).
    pub fn activating_at(mut self, at: DateTime<Utc>) -> Self {
        self.activated_at = Some(at);
        self
    }

    /// A token valid for `duration` after activation.
    pub fn lasting(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }
}

/// An account (a Wialon user owning tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAccount {
    /// User name (`au`, `user.nm`); counters are kept under it.
    pub name: String,
    /// User id.
    pub id: i64,
    /// Sub-users that `operateAs` may name.
    pub subusers: Vec<String>,
    /// Unit names, returned by `core/search_items` and the `items` block.
    pub units: Vec<String>,
    /// Tokens of this account.
    pub tokens: Vec<SimToken>,
}

impl SimAccount {
    /// An account with one activated token and no sub-users or units.
    pub fn new(name: impl Into<String>, id: i64, token: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            id,
            subusers: Vec::new(),
            units: Vec::new(),
            tokens: vec![SimToken::new(token)],
        }
    }
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct WialonSimConfig {
    /// Accounts and their tokens.
    pub accounts: Vec<SimAccount>,
    /// Idle time after which a session is killed. Default 5 minutes.
    pub session_idle: Duration,
    /// `wsdk_version` announced at login.
    pub wsdk_version: String,
    /// Per-session request limits (see [`SessionLimits`]); the default
    /// follows the public record, [`SessionLimits::off`] disables them.
    pub limits: SessionLimits,
    /// How long each `ajax.html` request of a session takes to answer
    /// (while it holds one of the session's concurrent slots). Default zero.
    pub call_latency: Duration,
}

impl Default for WialonSimConfig {
    /// The demo account [`DEMO_USER`] with [`DEMO_TOKEN`] (activated) and
    /// [`DEMO_INACTIVE_TOKEN`] (activating in 2100), sub-user
    /// [`DEMO_SUBUSER`], three units; sessions idle out after 5 minutes.
    fn default() -> Self {
        let inactive_at = DateTime::<Utc>::from_timestamp(4_102_444_800, 0).unwrap_or_default();
        Self {
            accounts: vec![SimAccount {
                name: DEMO_USER.to_owned(),
                id: DEMO_USER_ID,
                subusers: vec![DEMO_SUBUSER.to_owned()],
                units: vec![
                    "Truck 01".to_owned(),
                    "Truck 02".to_owned(),
                    "Van 07".to_owned(),
                ],
                tokens: vec![
                    SimToken::new(DEMO_TOKEN),
                    SimToken::new(DEMO_INACTIVE_TOKEN).activating_at(inactive_at),
                ],
            }],
            session_idle: DEFAULT_SESSION_IDLE,
            wsdk_version: "1.51".to_owned(),
            limits: SessionLimits::default(),
            call_latency: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone)]
struct AccountState {
    name: String,
    id: i64,
    subusers: Vec<String>,
    units: Vec<String>,
}

#[derive(Debug, Clone)]
struct TokenState {
    owner: String,
    app: String,
    /// Creation time, unix seconds.
    ct: i64,
    /// Activation time, unix seconds.
    at: i64,
    /// Duration in seconds, 0 = unlimited.
    dur: i64,
    fl: i64,
    p: String,
    items: Vec<i64>,
    /// Last login, unix seconds (0 = never).
    ll: i64,
}

impl TokenState {
    fn to_json(&self, h: &str) -> Value {
        json!({
            "h": h,
            "app": self.app,
            "ct": self.ct,
            "at": self.at,
            "dur": self.dur,
            "fl": self.fl,
            "p": self.p,
            "items": self.items,
            "ll": self.ll,
        })
    }
}

#[derive(Debug, Clone)]
struct SessionState {
    account: String,
    user: String,
    user_id: i64,
    token: String,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Data {
    accounts: HashMap<String, AccountState>,
    tokens: HashMap<String, TokenState>,
    sessions: HashMap<String, SessionState>,
}

#[derive(Debug)]
struct SimState {
    data: Mutex<Data>,
    idle: Mutex<Duration>,
    wsdk_version: String,
    counters: Counters,
    keep_alives: Mutex<HashMap<String, u64>>,
    injected: Mutex<VecDeque<i64>>,
    limiter: Limiter,
    call_latency: Mutex<Duration>,
    /// Events queued per session (`sid`), returned and cleared by `avl_evts`.
    events: Mutex<HashMap<String, Vec<Value>>>,
}

impl SimState {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle(&self) -> Duration {
        *self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl common::SimState for SimState {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn expire_all_sessions(&self) {
        self.data().sessions.clear();
    }

    /// Expired sessions are purged first.
    fn active_sessions(&self) -> usize {
        let idle = self.idle();
        let mut data = self.data();
        let now = Instant::now();
        data.sessions
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < idle);
        data.sessions.len()
    }
}

/// A running Wialon simulator. Stops when dropped.
///
/// Dereferences to [`SimHandle`]: [`base_url`](SimHandle::base_url) is the
/// Wialon host (`http://127.0.0.1:<port>/`); [`counters`](SimHandle::counters)
/// are keyed by the token owner's user name;
/// [`expire_all_sessions`](SimHandle::expire_all_sessions) kills every
/// session (the next call with any `sid` answers error 1);
/// [`active_sessions`](SimHandle::active_sessions) counts the sessions alive
/// now (purging the expired ones).
#[derive(Debug)]
pub struct WialonSim {
    sim: SimHandle,
    state: Arc<SimState>,
}

impl Deref for WialonSim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}

fn now_unix() -> i64 {
    Utc::now().timestamp()
}

fn json_response(value: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn error_response(code: i64) -> Response {
    let body = if code == 1003 {
        json!({"error": code, "reason": "Only one request is allowed at the moment"})
    } else {
        json!({ "error": code })
    };
    json_response(&body)
}

impl WialonSim {
    /// Starts the simulator on an ephemeral loopback port.
    pub async fn start(config: WialonSimConfig) -> Result<Self, SimError> {
        if config.session_idle.is_zero() {
            return Err(SimError::Config("session_idle must be positive".to_owned()));
        }
        let mut data = Data::default();
        let now = now_unix();
        for account in &config.accounts {
            if data.accounts.contains_key(&account.name) {
                return Err(SimError::Config(format!(
                    "duplicate account {:?}",
                    account.name
                )));
            }
            data.accounts.insert(
                account.name.clone(),
                AccountState {
                    name: account.name.clone(),
                    id: account.id,
                    subusers: account.subusers.clone(),
                    units: account.units.clone(),
                },
            );
            for token in &account.tokens {
                insert_token(&mut data, &account.name, token, now)?;
            }
        }
        let state = Arc::new(SimState {
            data: Mutex::new(data),
            idle: Mutex::new(config.session_idle),
            wsdk_version: config.wsdk_version,
            counters: Counters::default(),
            keep_alives: Mutex::new(HashMap::new()),
            injected: Mutex::new(VecDeque::new()),
            limiter: Limiter::new(config.limits),
            call_latency: Mutex::new(config.call_latency),
            events: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/wialon/ajax.html", get(ajax).post(ajax))
            .route("/avl_evts", get(avl_evts).post(avl_evts))
            .with_state(Arc::clone(&state));
        let sim =
            SimHandle::start(router, "", Arc::clone(&state) as Arc<dyn common::SimState>).await?;
        Ok(Self { sim, state })
    }

    /// `{base}wialon/ajax.html`.
    pub fn ajax_url(&self) -> Url {
        self.base_url()
            .join("wialon/ajax.html")
            .unwrap_or_else(|_| self.base_url().clone())
    }

    /// `{base}avl_evts`.
    pub fn avl_evts_url(&self) -> Url {
        self.base_url()
            .join("avl_evts")
            .unwrap_or_else(|_| self.base_url().clone())
    }

    /// Changes the idle time after which sessions are killed.
    pub fn set_session_idle(&self, idle: Duration) {
        *self.state.idle.lock().unwrap_or_else(|p| p.into_inner()) = idle;
    }

    /// Keep-alive requests (`avl_evts`) accepted for `account`.
    pub fn keep_alives(&self, account: &str) -> u64 {
        self.state
            .keep_alives
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    /// Keep-alive requests accepted for all accounts.
    pub fn total_keep_alives(&self) -> u64 {
        self.state
            .keep_alives
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    /// Adds a token to `account`. Fails when the account is unknown, the token
    /// is not 72 characters, or it exists already.
    pub fn add_token(&self, account: &str, token: SimToken) -> Result<(), SimError> {
        let mut data = self.state.data();
        if !data.accounts.contains_key(account) {
            return Err(SimError::Config(format!("unknown account {account:?}")));
        }
        insert_token(&mut data, account, &token, now_unix())
    }

    /// Adds a fresh random token to `account` that is not activated yet
    /// (activation in one day) and returns it.
    pub fn add_inactive_token(&self, account: &str) -> Result<String, SimError> {
        let token = random_token(TOKEN_LEN, HEX);
        let at = Utc::now() + chrono::Duration::days(1);
        self.add_token(account, SimToken::new(token.clone()).activating_at(at))?;
        Ok(token)
    }

    /// Whether `token` is known (not deleted).
    pub fn has_token(&self, token: &str) -> bool {
        self.state.data().tokens.contains_key(token)
    }

    /// Tokens of `account`, as `token/list` would list them.
    pub fn tokens_of(&self, account: &str) -> Vec<String> {
        let mut tokens: Vec<String> = self
            .state
            .data()
            .tokens
            .iter()
            .filter(|(_, t)| t.owner == account)
            .map(|(h, _)| h.clone())
            .collect();
        tokens.sort();
        tokens
    }

    /// Replaces the per-session limits (e.g. [`SessionLimits::off`]).
    pub fn set_limits(&self, limits: SessionLimits) {
        self.state.limiter.set(limits);
    }

    /// Queues `event` (an `avl_evts` event object such as
    /// `{"i":<item id>,"t":"m"|"u"|"d","d":{..}}`) for every live session of
    /// `account`; returns how many sessions got it. The next `avl_evts` of
    /// each session returns it, and clears its queue (help.wialon.com,
    /// `avl_evts`: "events that have occurred since the last execution of
    /// this request").
    pub fn push_event(&self, account: &str, event: Value) -> usize {
        let sids: Vec<String> = {
            let idle = self.state.idle();
            let now = Instant::now();
            self.state
                .data()
                .sessions
                .iter()
                .filter(|(_, s)| {
                    s.account == account && now.saturating_duration_since(s.last_seen) < idle
                })
                .map(|(sid, _)| sid.clone())
                .collect()
        };
        let mut events = self.state.events.lock().unwrap_or_else(|p| p.into_inner());
        for sid in &sids {
            events.entry(sid.clone()).or_default().push(event.clone());
        }
        sids.len()
    }

    /// Events queued and not yet returned, over all sessions.
    pub fn queued_events(&self) -> usize {
        self.state
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }

    /// `ajax.html` requests in progress now, over all sessions.
    pub fn in_flight(&self) -> usize {
        self.state.limiter.in_flight()
    }

    /// Requests refused so far by a per-session limit.
    pub fn limit_refusals(&self) -> u64 {
        self.state.limiter.refused()
    }

    /// Changes how long each `ajax.html` request of a session takes.
    pub fn set_call_latency(&self, latency: Duration) {
        *self
            .state
            .call_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = latency;
    }

    /// Makes each of the next `times` `ajax.html` requests (whatever the
    /// service) answer `{"error":code}` (with a `reason` for 1003), before
    /// any other check.
    pub fn inject_error(&self, code: i64, times: usize) {
        let mut q = self
            .state
            .injected
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for _ in 0..times {
            q.push_back(code);
        }
    }
}

fn insert_token(data: &mut Data, owner: &str, token: &SimToken, now: i64) -> Result<(), SimError> {
    if token.token.chars().count() != TOKEN_LEN {
        return Err(SimError::Config(format!(
            "a Wialon token has {TOKEN_LEN} characters, got {}",
            token.token.chars().count()
        )));
    }
    if data.tokens.contains_key(&token.token) {
        return Err(SimError::Config("duplicate token".to_owned()));
    }
    data.tokens.insert(
        token.token.clone(),
        TokenState {
            owner: owner.to_owned(),
            app: token.app.clone(),
            ct: now,
            at: token.activated_at.map_or(now, |t| t.timestamp()),
            dur: token.duration.map_or(0, |d| d.as_secs() as i64),
            fl: token.access_flags,
            p: token.params.clone(),
            items: token.items.clone(),
            ll: 0,
        },
    );
    Ok(())
}

/// Request fields merged from the query string and the form body.
#[derive(Debug, Default)]
struct Fields {
    svc: Option<String>,
    params: Option<String>,
    sid: Option<String>,
}

impl Fields {
    fn merge(&mut self, pairs: Vec<(String, String)>) {
        for (k, v) in pairs {
            match k.as_str() {
                "svc" => self.svc = Some(v),
                "params" => self.params = Some(v),
                "sid" => self.sid = Some(v),
                _ => {}
            }
        }
    }

    fn parse(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut fields = Fields::default();
        if let Some(q) = query {
            fields.merge(serde_urlencoded::from_str(q).unwrap_or_default());
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase());
        let form = match content_type {
            None => true,
            Some(ct) => ct.starts_with("application/x-www-form-urlencoded"),
        };
        if form && !body.is_empty() {
            fields.merge(serde_urlencoded::from_bytes(body).unwrap_or_default());
        }
        fields
    }
}

/// Parses `params`: `Ok(None)` when absent, `Err(())` when not a JSON object.
fn parse_params(params: Option<&str>) -> Result<Option<Map<String, Value>>, ()> {
    match params {
        None => Ok(None),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            _ => Err(()),
        },
    }
}

async fn ajax(
    State(state): State<Arc<SimState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let injected = state
        .injected
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop_front();
    if let Some(code) = injected {
        return error_response(code);
    }
    let fields = Fields::parse(query.as_deref(), &headers, &body);
    let svc = fields.svc.as_deref().unwrap_or("");
    // Per-session limits apply to the requests of a live session; the slot
    // is held until the answer is ready.
    let _slot = match fields.sid.as_deref().filter(|sid| !sid.is_empty()) {
        Some(sid) if svc != "token/login" && state.data().sessions.contains_key(sid) => {
            match state.limiter.enter(sid) {
                Ok(slot) => {
                    let latency = *state.call_latency.lock().unwrap_or_else(|p| p.into_inner());
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    Some(slot)
                }
                Err(refusal) => return json_response(&refusal),
            }
        }
        _ => None,
    };
    match svc {
        "token/login" => login(&state, &fields),
        "core/search_items" | "core/logout" | "token/list" | "token/update" | "core/batch" => {
            let Some(session) = touch_session(&state, fields.sid.as_deref()) else {
                return error_response(1);
            };
            let sid = fields.sid.as_deref().unwrap_or("");
            if svc == "core/batch" {
                return match batch::run(&state, &session, sid, fields.params.as_deref()) {
                    Ok(value) => json_response(&value),
                    Err(code) => error_response(code),
                };
            }
            let Ok(params) = parse_params(fields.params.as_deref()) else {
                return error_response(4);
            };
            match run_service(&state, &session, sid, svc, params) {
                Ok(value) => json_response(&value),
                Err(code) => error_response(code),
            }
        }
        _ => error_response(2),
    }
}

/// Runs one service of a live session (directly or inside `core/batch`)
/// and counts it when it succeeds.
fn run_service(
    state: &SimState,
    session: &SessionState,
    sid: &str,
    svc: &str,
    params: Option<Map<String, Value>>,
) -> Result<Value, i64> {
    let result = match svc {
        "core/search_items" => search_items(state, session, params),
        "core/logout" => logout(state, sid),
        "token/list" => token_list(state, session),
        "token/update" => token_update(state, session, params),
        _ => Err(2),
    };
    if result.is_ok() {
        state.counters.call(&session.account);
    }
    result
}

/// Looks up a session and slides its idle deadline; expired sessions are
/// removed.
fn touch_session(state: &SimState, sid: Option<&str>) -> Option<SessionState> {
    let sid = sid.filter(|s| !s.is_empty())?;
    let idle = state.idle();
    let mut data = state.data();
    let now = Instant::now();
    let alive = data
        .sessions
        .get(sid)
        .is_some_and(|s| now.saturating_duration_since(s.last_seen) < idle);
    if !alive {
        data.sessions.remove(sid);
        return None;
    }
    let session = data.sessions.get_mut(sid)?;
    session.last_seen = now;
    Some(session.clone())
}

fn login(state: &SimState, fields: &Fields) -> Response {
    match check_login(state, fields) {
        Ok(response) => response,
        Err((code, account)) => {
            state
                .counters
                .failed_login(account.as_deref().unwrap_or(UNKNOWN_ACCOUNT));
            error_response(code)
        }
    }
}

/// A failed login: the error code, and the token owner when known.
type LoginFailure = (i64, Option<String>);

fn check_login(state: &SimState, fields: &Fields) -> Result<Response, LoginFailure> {
    let params = match parse_params(fields.params.as_deref()) {
        Ok(Some(p)) => p,
        _ => return Err((4, None)),
    };
    let token = match params.get("token") {
        Some(Value::String(t)) if t.chars().count() == TOKEN_LEN => t.clone(),
        _ => return Err((4, None)),
    };
    let operate_as = match params.get("operateAs") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err((4, None)),
    };
    let flags = match params.get("fl") {
        None | Some(Value::Null) => 0x3,
        Some(v) => match v.as_i64() {
            Some(n) if n < 0 => 0x7f,
            Some(n) => n,
            None => return Err((4, None)),
        },
    };
    let now = now_unix();
    let mut data = state.data();
    let Some(token_state) = data.tokens.get(&token).cloned() else {
        return Err((8, None));
    };
    let owner = token_state.owner.clone();
    if token_state.at > now {
        return Err((7, Some(owner)));
    }
    if token_state.dur > 0 && now >= token_state.at.saturating_add(token_state.dur) {
        return Err((8, Some(owner)));
    }
    let Some(account) = data.accounts.get(&owner).cloned() else {
        return Err((8, Some(owner)));
    };
    let (user, user_id) = match &operate_as {
        None => (account.name.clone(), account.id),
        Some(name) if *name == account.name => (account.name.clone(), account.id),
        Some(name) => match account.subusers.iter().position(|s| s == name) {
            Some(i) => (name.clone(), account.id + 1 + i as i64),
            None => return Err((8, Some(owner))),
        },
    };
    let eid = random_token(32, HEX);
    data.sessions.insert(
        eid.clone(),
        SessionState {
            account: account.name.clone(),
            user: user.clone(),
            user_id,
            token: token.clone(),
            last_seen: Instant::now(),
        },
    );
    if let Some(t) = data.tokens.get_mut(&token) {
        t.ll = now;
    }
    drop(data);
    state.counters.login(&account.name);

    let mut out = Map::new();
    out.insert("eid".into(), json!(eid));
    out.insert("au".into(), json!(account.name));
    out.insert("tm".into(), json!(now));
    let mut user_obj = Map::new();
    if flags & 0x3 != 0 {
        user_obj.insert("nm".into(), json!(user));
        user_obj.insert("cls".into(), json!(CLASS_USER));
        user_obj.insert("id".into(), json!(user_id));
    }
    if flags & 0x1 != 0 {
        out.insert("gis_sid".into(), json!(random_token(32, HEX)));
        out.insert("host".into(), json!("127.0.0.1"));
        out.insert("hw_gw_ip".into(), json!("127.0.0.1"));
        out.insert("pi".into(), json!(2));
        out.insert("wsdk_version".into(), json!(state.wsdk_version));
        out.insert(
            "classes".into(),
            json!({
                "user": CLASS_USER,
                "avl_unit": CLASS_UNIT,
                "avl_resource": 3,
                "avl_retranslator": 4,
                "avl_unit_group": 5,
                "avl_route": 6,
                "avl_hw": 7
            }),
        );
    }
    if flags & 0x2 != 0 {
        user_obj.insert("crt".into(), json!(account.id));
        user_obj.insert("bact".into(), json!(account.id));
        user_obj.insert("fl".into(), json!(0));
        user_obj.insert("hm".into(), json!(""));
        user_obj.insert("uacl".into(), json!(-1));
        user_obj.insert("mu".into(), json!(0));
        user_obj.insert("ct".into(), json!(token_state.ct));
        user_obj.insert("ld".into(), json!(now));
        user_obj.insert("pfl".into(), json!(0));
        user_obj.insert("ap".into(), json!({"type": 0, "phone": ""}));
        user_obj.insert("mapps".into(), json!({}));
        user_obj.insert("mappsmax".into(), json!(-1));
        user_obj.insert("ftp".into(), json!({}));
    }
    if flags & 0x20 != 0 {
        user_obj.insert(
            "prp".into(),
            json!({
                "dst": "-1",
                "language": "en",
                "msakey": "",
                "pcal": "0",
                "tz": "0",
                "us_units": "0"
            }),
        );
    }
    if flags & (0x1 | 0x10) != 0 {
        let mut features = Map::new();
        features.insert("unlim".into(), json!(0));
        if flags & 0x10 != 0 {
            features.insert(
                "svcs".into(),
                json!({"avl_unit": 1, "create_units": 0, "reports": 1, "tokens": 1}),
            );
        }
        out.insert("features".into(), Value::Object(features));
    }
    if flags & 0x4 != 0 {
        let token_json = json!({
            "app": token_state.app,
            "ct": token_state.ct,
            "at": token_state.at,
            "dur": token_state.dur,
            "fl": token_state.fl,
            "p": token_state.p,
            "items": token_state.items,
        });
        out.insert("token".into(), json!(token_json.to_string()));
        // help.wialon.com's login example has the token settings inside
        // `user` too.
        if !user_obj.is_empty() {
            user_obj.insert("token".into(), json!(token_json.to_string()));
        }
    }
    if !user_obj.is_empty() {
        // ... and echoes the 72-character token itself as `user.th`.
        user_obj.insert("th".into(), json!(token));
        out.insert("user".into(), Value::Object(user_obj));
    }
    if flags & 0x8 != 0 {
        out.insert("items".into(), Value::Array(unit_items(&account)));
    }
    if flags & 0x40 != 0 {
        out.insert("base_url".into(), json!("http://127.0.0.1"));
        out.insert("video_service_url".into(), json!("http://127.0.0.1/video"));
        out.insert("api_url".into(), json!("http://127.0.0.1/wialon/ajax.html"));
    }
    Ok(json_response(&Value::Object(out)))
}

fn unit_items(account: &AccountState) -> Vec<Value> {
    account
        .units
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"nm": name, "cls": CLASS_UNIT, "id": account.id * 10 + 1 + i as i64, "mu": 0, "uacl": -1})
        })
        .collect()
}

fn search_items(
    state: &SimState,
    session: &SessionState,
    params: Option<Map<String, Value>>,
) -> Result<Value, i64> {
    let params = params.ok_or(4)?;
    let spec = params.get("spec").and_then(Value::as_object).ok_or(4)?;
    let items_type = spec.get("itemsType").and_then(Value::as_str).ok_or(4)?;
    let flags = params.get("flags").and_then(Value::as_i64).unwrap_or(1);
    let data = state.data();
    let account = data.accounts.get(&session.account).ok_or(1)?;
    let items: Vec<Value> = match items_type {
        "avl_unit" => unit_items(account),
        "user" => vec![
            json!({"nm": session.user, "cls": CLASS_USER, "id": session.user_id, "mu": 0, "uacl": -1}),
        ],
        _ => Vec::new(),
    };
    let n = items.len();
    Ok(json!({
        "searchSpec": spec,
        "dataFlags": flags,
        "totalItemsCount": n,
        "indexFrom": 0,
        "indexTo": n,
        "items": items,
    }))
}

fn logout(state: &SimState, sid: &str) -> Result<Value, i64> {
    state.data().sessions.remove(sid);
    Ok(json!({"error": 0}))
}

fn token_list(state: &SimState, session: &SessionState) -> Result<Value, i64> {
    let data = state.data();
    let mut list: Vec<(&String, &TokenState)> = data
        .tokens
        .iter()
        .filter(|(_, t)| t.owner == session.account)
        .collect();
    list.sort_by(|a, b| a.1.ct.cmp(&b.1.ct).then(a.0.cmp(b.0)));
    Ok(Value::Array(
        list.into_iter().map(|(h, t)| t.to_json(h)).collect(),
    ))
}

fn opt_i64(params: &Map<String, Value>, key: &str) -> Result<Option<i64>, i64> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(4),
    }
}

fn opt_str(params: &Map<String, Value>, key: &str) -> Result<Option<String>, i64> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(4),
    }
}

fn opt_items(params: &Map<String, Value>) -> Result<Option<Vec<i64>>, i64> {
    match params.get("items") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_i64().ok_or(4))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(4),
    }
}

fn token_update(
    state: &SimState,
    session: &SessionState,
    params: Option<Map<String, Value>>,
) -> Result<Value, i64> {
    let params = params.ok_or(4)?;
    let mode = opt_str(&params, "callMode")?.ok_or(4)?;
    let app = opt_str(&params, "app")?;
    let at = opt_i64(&params, "at")?;
    let dur = opt_i64(&params, "dur")?;
    let fl = opt_i64(&params, "fl")?;
    let p = opt_str(&params, "p")?;
    let items = opt_items(&params)?;
    if dur.is_some_and(|d| d < 0) || at.is_some_and(|a| a < 0) {
        return Err(4);
    }
    let now = now_unix();
    let mut data = state.data();
    match mode.as_str() {
        "create" => {
            let h = random_token(TOKEN_LEN, HEX);
            let token = TokenState {
                owner: session.account.clone(),
                app: app.unwrap_or_default(),
                ct: now,
                at: match at {
                    None | Some(0) => now,
                    Some(a) => a,
                },
                dur: dur.unwrap_or(0),
                fl: fl.unwrap_or(-1),
                p: p.unwrap_or_else(|| "{}".to_owned()),
                items: items.unwrap_or_default(),
                ll: 0,
            };
            let out = token.to_json(&h);
            data.tokens.insert(h, token);
            Ok(out)
        }
        "update" | "delete" => {
            let h = opt_str(&params, "h")?.ok_or(4)?;
            let owned = data
                .tokens
                .get(&h)
                .is_some_and(|t| t.owner == session.account);
            if !owned {
                return Err(7);
            }
            if mode == "delete" {
                data.tokens.remove(&h);
                // Sessions opened with a deleted token end with it.
                data.sessions.retain(|_, s| s.token != h);
                return Ok(json!({}));
            }
            let token = data.tokens.get_mut(&h).ok_or(7)?;
            if let Some(app) = app {
                token.app = app;
            }
            if let Some(at) = at {
                token.at = if at == 0 { now } else { at };
            }
            if let Some(dur) = dur {
                token.dur = dur;
            }
            if let Some(fl) = fl {
                token.fl = fl;
            }
            if let Some(p) = p {
                token.p = p;
            }
            if let Some(items) = items {
                token.items = items;
            }
            Ok(token.to_json(&h))
        }
        _ => Err(4),
    }
}

async fn avl_evts(
    State(state): State<Arc<SimState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(query.as_deref(), &headers, &body);
    let Some(session) = touch_session(&state, fields.sid.as_deref()) else {
        return error_response(1);
    };
    if let Err(refusal) = state
        .limiter
        .enter_avl_evts(fields.sid.as_deref().unwrap_or(""))
    {
        return json_response(&refusal);
    }
    *state
        .keep_alives
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(session.account)
        .or_default() += 1;
    let events = state
        .events
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(fields.sid.as_deref().unwrap_or(""))
        .unwrap_or_default();
    json_response(&json!({"tm": now_unix(), "events": events}))
}
