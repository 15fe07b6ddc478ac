//! Electa Live API 3.0 simulator: the authentication namespace
//! `{API_URL}/token/` and one protected call, `{API_URL}/users/list/`.
//!
//! # What it simulates
//!
//! * [`base_url`](SimHandle::base_url) is the API root (`http://127.0.0.1:<port>/apps/api`
//!   by default, see [`ElectaSimConfig::api_path`]); clients append `/token/`.
//! * `token/` takes `CID` (a number) and `AppKey` (32 characters) by GET (query
//!   string) or POST (form body; query parameters are read too). Parameter
//!   names are case-insensitive (`cid`, `appkey`, `AppKey` ...), with or
//!   without the trailing slash.
//! * `token/` honours `Result` (`xml` or `csv`, any case; the API 2.1 docs:
//!   XML by default): `Result=csv` answers `ResponseCode,ResponseData` CSV,
//!   `Result=xml` XML whatever [`ReplyMode`] is set.
//! * Every answer is HTTP 200 with an XML document carrying an integer
//!   response code (0 = success) and `ResponseData` (the token, or the error
//!   text):
//!
//!   ```xml
//!   <?xml version="1.0" encoding="UTF-8"?>
//!   <Response><ResponseCode>0</ResponseCode><ResponseData>TOKEN</ResponseData></Response>
//!   ```
//!
//!   The element names are configurable ([`XmlFormat`]) to exercise lenient
//!   clients, and [`ReplyMode::Csv`] answers `ResponseCode,ResponseData` CSV
//!   instead (some Electa calls return CSV).
//! * Tokens are valid for [`ElectaSimConfig::token_ttl`] after issue (20
//!   minutes by default, not sliding).
//! * [`ElectaSimConfig::max_failures`] failed logins (5) of one CID within
//!   [`ElectaSimConfig::failure_window`] lock API access for that CID for
//!   [`ElectaSimConfig::lockout`] (15 minutes): every login of that CID then
//!   fails with [`CODE_LOCKED`] and [`LOCKED_TEXT`], even with the correct key.
//!   A successful login resets the failure count.
//! * `users/list/` takes `token` (any case) and answers the account's users
//!   as XML; an unknown or expired token answers [`CODE_INVALID_TOKEN`] with
//!   [`INVALID_TOKEN_TEXT`] (both changeable with
//!   [`ElectaSim::set_invalid_token_reply`]);
//!   [`ElectaSim::set_call_error`] makes it answer an API error instead.
//!
//! # Ambiguities in the public docs and how this simulator resolves them
//!
//! * **Element names.** Only `ResponseData` appears in the docs (the sample
//!   XML is cut off). The default document uses a `Response` root and a
//!   `ResponseCode` element; both names (and `ResponseData`'s casing) are
//!   configurable.
//! * **Non-zero codes.** The docs only say "non-zero". The simulator uses
//!   [`CODE_INVALID_CREDENTIALS`] (1), [`CODE_MISSING_PARAMETER`] (2),
//!   [`CODE_LOCKED`] (3) and [`CODE_INVALID_TOKEN`] (4); clients should rely on
//!   "non-zero" and the text, not on these values.
//! * **Texts.** `Invalid Account or Application Key` is the documented text.
//!   The lockout, missing-parameter and invalid-token texts are not
//!   documented; the simulator's texts are [`LOCKED_TEXT`],
//!   `Missing Parameter: <name>` and [`INVALID_TOKEN_TEXT`].
//! * **What counts as a failure.** A wrong key, an unknown CID, and a key that
//!   is not 32 characters all answer the documented invalid-key text and count
//!   towards the lockout of that CID. A missing or non-numeric CID cannot be
//!   tied to an account and does not count. Attempts while locked are
//!   refused (and counted as failed logins) but do not extend the lock.
//! * **Protected call and `Result`.** The docs name no protected call; the
//!   simulator offers `users/list/`. The docs' ASP sample sets
//!   `Result = "xml"`; `users/list/` honours a `Result=csv` parameter.
//! * **HTTP status.** Errors are reported in the document with HTTP 200.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use tokio::time::Instant;

use crate::SimError;
use crate::common::{ALNUM, Counters, SimHandle, SimState, random_token};

/// Account id (CID) of the default demo account.
pub const DEMO_CID: u64 = 11_267_192;
/// Application key of the default demo account (the docs' sample key).
pub const DEMO_APP_KEY: &str = "UO86CN11XY73SF72TT40PG18ZE76VV71";

/// Response code of a success.
pub const CODE_OK: i64 = 0;
/// Response code of a wrong CID or application key.
pub const CODE_INVALID_CREDENTIALS: i64 = 1;
/// Response code of a missing or malformed parameter.
pub const CODE_MISSING_PARAMETER: i64 = 2;
/// Response code while API access is locked after failed logins.
pub const CODE_LOCKED: i64 = 3;
/// Response code of an unknown or expired token on a protected call.
pub const CODE_INVALID_TOKEN: i64 = 4;

/// The documented text of a wrong CID or application key.
pub const INVALID_CREDENTIALS_TEXT: &str = "Invalid Account or Application Key";
/// The text answered while API access is locked.
pub const LOCKED_TEXT: &str =
    "API access is temporarily locked due to too many failed login attempts";
/// The text answered for an unknown or expired token.
pub const INVALID_TOKEN_TEXT: &str = "Invalid or Expired Token";

/// Element names of the XML replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlFormat {
    /// Root element. Default `Response`.
    pub root: String,
    /// Element holding the integer response code. Default `ResponseCode`.
    pub code: String,
    /// Element holding the token, data or error text. Default `ResponseData`.
    pub data: String,
    /// Whether to start with `<?xml version="1.0" encoding="UTF-8"?>`.
    /// Default true.
    pub declaration: bool,
}

impl Default for XmlFormat {
    fn default() -> Self {
        Self {
            root: "Response".into(),
            code: "ResponseCode".into(),
            data: "ResponseData".into(),
            declaration: true,
        }
    }
}

/// How the simulator formats its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    /// XML documents (the authentication namespace's format).
    #[default]
    Xml,
    /// `ResponseCode,ResponseData` CSV, as some Electa calls answer.
    Csv,
}

/// An Electa account.
#[derive(Debug, Clone)]
pub struct ElectaAccount {
    /// Account id.
    pub cid: u64,
    /// Application key (32 characters).
    pub app_key: String,
    /// User names `users/list/` returns.
    pub users: Vec<String>,
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct ElectaSimConfig {
    /// Known accounts.
    pub accounts: Vec<ElectaAccount>,
    /// Path of the API root under the server. Default `/apps/api`.
    pub api_path: String,
    /// Token lifetime after issue. Default 20 minutes.
    pub token_ttl: Duration,
    /// Failed logins that lock a CID. Default 5.
    pub max_failures: u32,
    /// Failures are counted within this window from the first one. Default
    /// 15 minutes.
    pub failure_window: Duration,
    /// How long a CID stays locked. Default 15 minutes.
    pub lockout: Duration,
    /// XML element names.
    pub xml: XmlFormat,
    /// Reply format.
    pub reply_mode: ReplyMode,
}

impl Default for ElectaSimConfig {
    /// [`DEMO_CID`] / [`DEMO_APP_KEY`], `/apps/api`, 20-minute tokens, 5
    /// failures lock for 15 minutes.
    fn default() -> Self {
        Self {
            accounts: vec![ElectaAccount {
                cid: DEMO_CID,
                app_key: DEMO_APP_KEY.to_owned(),
                users: vec!["teacher1".into(), "student1".into(), "student2".into()],
            }],
            api_path: "/apps/api".into(),
            token_ttl: Duration::from_secs(20 * 60),
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            xml: XmlFormat::default(),
            reply_mode: ReplyMode::Xml,
        }
    }
}

#[derive(Debug)]
struct TokenState {
    cid: u64,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    window_start: Option<Instant>,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
struct Db {
    accounts: HashMap<u64, ElectaAccount>,
    tokens: HashMap<String, TokenState>,
    failures: HashMap<u64, Failures>,
    xml: XmlFormat,
    reply_mode: ReplyMode,
    /// Code and text answered for an unknown or expired token.
    invalid_token: (i64, String),
    /// Code and text every protected call with a live token answers.
    call_error: Option<(i64, String)>,
}

#[derive(Debug)]
struct Shared {
    db: Mutex<Db>,
    config: ElectaSimConfig,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
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
            .filter(|t| t.expires > now)
            .count()
    }
}

/// A running Electa simulator. Stops when dropped.
///
/// Dereferences to [`SimHandle`]: [`base_url`](SimHandle::base_url) is the
/// API root (no trailing slash); [`counters`](SimHandle::counters) are keyed
/// by the CID as decimal text and count logins, failed logins (including
/// refusals while locked) and accepted protected calls;
/// [`expire_all_sessions`](SimHandle::expire_all_sessions) invalidates every
/// issued token; [`active_sessions`](SimHandle::active_sessions) counts the
/// tokens not expired yet.
#[derive(Debug)]
pub struct ElectaSim {
    sim: SimHandle,
    shared: Arc<Shared>,
}

impl Deref for ElectaSim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}

impl ElectaSim {
    /// Starts the simulator on an ephemeral loopback port.
    pub async fn start(config: ElectaSimConfig) -> Result<Self, SimError> {
        if config.token_ttl.is_zero() || config.lockout.is_zero() || config.failure_window.is_zero()
        {
            return Err(SimError::Config("durations must be positive".into()));
        }
        if config.max_failures == 0 {
            return Err(SimError::Config("max_failures must be at least 1".into()));
        }
        let path = config.api_path.trim_end_matches('/').to_owned();
        if !path.is_empty() && !path.starts_with('/') {
            return Err(SimError::Config("api_path must start with '/'".into()));
        }
        let db = Db {
            accounts: config.accounts.iter().map(|a| (a.cid, a.clone())).collect(),
            tokens: HashMap::new(),
            failures: HashMap::new(),
            xml: config.xml.clone(),
            reply_mode: config.reply_mode,
            invalid_token: (CODE_INVALID_TOKEN, INVALID_TOKEN_TEXT.to_owned()),
            call_error: None,
        };
        let shared = Arc::new(Shared {
            db: Mutex::new(db),
            config,
            counters: Counters::default(),
        });
        let router = Router::new()
            .route(&format!("{path}/token/"), get(token).post(token))
            .route(&format!("{path}/token"), get(token).post(token))
            .route(
                &format!("{path}/users/list/"),
                get(users_list).post(users_list),
            )
            .route(
                &format!("{path}/users/list"),
                get(users_list).post(users_list),
            )
            .with_state(Arc::clone(&shared));
        let sim = SimHandle::start(router, &path, Arc::clone(&shared) as Arc<dyn SimState>).await?;
        Ok(Self { sim, shared })
    }

    /// Changes the application key of `cid` (as its administrator would):
    /// later logins need the new one; issued tokens stay valid.
    pub fn set_app_key(&self, cid: u64, app_key: &str) {
        if let Some(account) = self.shared.lock().accounts.get_mut(&cid) {
            account.app_key = app_key.to_owned();
        }
    }

    /// Whether API access of `cid` is locked now.
    pub fn is_locked(&self, cid: u64) -> bool {
        let now = Instant::now();
        self.shared
            .lock()
            .failures
            .get(&cid)
            .and_then(|f| f.locked_until)
            .is_some_and(|until| now < until)
    }

    /// Failed logins of `cid` counted towards the lockout right now.
    pub fn failure_count(&self, cid: u64) -> u32 {
        let now = Instant::now();
        let window = self.shared.config.failure_window;
        self.shared
            .lock()
            .failures
            .get(&cid)
            .map_or(0, |f| match f.window_start {
                Some(start) if now.duration_since(start) < window => f.count,
                _ => 0,
            })
    }

    /// Lifts every lockout and clears the failure counts.
    pub fn unlock_all(&self) {
        self.shared.lock().failures.clear();
    }

    /// Switches the reply format (XML or CSV) for later requests.
    pub fn set_reply_mode(&self, mode: ReplyMode) {
        self.shared.lock().reply_mode = mode;
    }

    /// Changes the code and text answered for an unknown or expired token
    /// on a protected call (default [`CODE_INVALID_TOKEN`] and
    /// [`INVALID_TOKEN_TEXT`]), to play an Electa whose wording is not known.
    pub fn set_invalid_token_reply(&self, code: i64, text: &str) {
        self.shared.lock().invalid_token = (code, text.to_owned());
    }

    /// Makes every protected call with a live token answer `code` and
    /// `text` (an API error that has nothing to do with the session), or
    /// answer normally again with `None`. Such calls are not counted.
    pub fn set_call_error(&self, error: Option<(i64, &str)>) {
        self.shared.lock().call_error = error.map(|(code, text)| (code, text.to_owned()));
    }

    /// Changes the XML element names for later replies.
    pub fn set_xml_format(&self, format: XmlFormat) {
        self.shared.lock().xml = format;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A reply document; `data_xml` is inserted as is (already escaped).
fn reply_raw(db: &Db, mode: ReplyMode, code: i64, data_xml: &str, csv_data: &str) -> Response {
    match mode {
        ReplyMode::Xml => {
            let f = &db.xml;
            let decl = if f.declaration {
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            } else {
                ""
            };
            let body = format!(
                "{decl}<{root}><{code_el}>{code}</{code_el}><{data_el}>{data_xml}</{data_el}></{root}>",
                root = f.root,
                code_el = f.code,
                data_el = f.data,
            );
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                body,
            )
                .into_response()
        }
        ReplyMode::Csv => csv(code, csv_data),
    }
}

fn csv(code: i64, data: &str) -> Response {
    let field = if data.contains([',', '"', '\n']) {
        format!("\"{}\"", data.replace('"', "\"\""))
    } else {
        data.to_owned()
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        format!("ResponseCode,ResponseData\r\n{code},{field}\r\n"),
    )
        .into_response()
}

fn reply(db: &Db, mode: ReplyMode, code: i64, text: &str) -> Response {
    reply_raw(db, mode, code, &escape(text), text)
}

/// The reply format asked for with `Result` (`xml` or `csv`, any case), or
/// the simulator's mode when there is none (or another value).
fn requested_mode(db: &Db, p: &HashMap<String, String>) -> ReplyMode {
    match p.get("result").map(|r| r.trim().to_ascii_lowercase()) {
        Some(r) if r == "xml" => ReplyMode::Xml,
        Some(r) if r == "csv" => ReplyMode::Csv,
        _ => db.reply_mode,
    }
}

/// Parameters from the query string and (for POST) the form body; names
/// lower-cased, first value wins.
fn params(query: Option<String>, body: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut add = |pairs: Vec<(String, String)>| {
        for (k, v) in pairs {
            map.entry(k.to_ascii_lowercase()).or_insert(v);
        }
    };
    if let Some(q) = query
        && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&q)
    {
        add(pairs);
    }
    if !body.is_empty()
        && let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
    {
        add(pairs);
    }
    map
}

async fn token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let p = params(query, &body);
    let mut db = shared.lock();
    let mode = requested_mode(&db, &p);
    let cid_text = match p.get("cid").map(|c| c.trim()) {
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => return reply(&db, mode, CODE_MISSING_PARAMETER, "Missing Parameter: CID"),
    };
    let Ok(cid) = cid_text.parse::<u64>() else {
        shared.counters.failed_login(&cid_text);
        return reply(
            &db,
            mode,
            CODE_MISSING_PARAMETER,
            "Invalid Parameter: CID must be a number",
        );
    };
    let Some(key) = p.get("appkey").filter(|k| !k.is_empty()).cloned() else {
        return reply(
            &db,
            mode,
            CODE_MISSING_PARAMETER,
            "Missing Parameter: AppKey",
        );
    };
    let now = Instant::now();
    let config = &shared.config;
    let failures = db.failures.entry(cid).or_default();
    if let Some(until) = failures.locked_until {
        if now < until {
            shared.counters.failed_login(&cid.to_string());
            return reply(&db, mode, CODE_LOCKED, LOCKED_TEXT);
        }
        *failures = Failures::default();
    }
    let valid =
        key.chars().count() == 32 && db.accounts.get(&cid).is_some_and(|a| a.app_key == key);
    if !valid {
        let failures = db.failures.entry(cid).or_default();
        match failures.window_start {
            Some(start) if now.duration_since(start) < config.failure_window => {
                failures.count += 1;
            }
            _ => {
                failures.window_start = Some(now);
                failures.count = 1;
            }
        }
        if failures.count >= config.max_failures {
            failures.locked_until = Some(now + config.lockout);
        }
        shared.counters.failed_login(&cid.to_string());
        return reply(
            &db,
            mode,
            CODE_INVALID_CREDENTIALS,
            INVALID_CREDENTIALS_TEXT,
        );
    }
    db.failures.remove(&cid);
    let token = random_token(32, ALNUM);
    db.tokens.insert(
        token.clone(),
        TokenState {
            cid,
            expires: now + config.token_ttl,
        },
    );
    shared.counters.login(&cid.to_string());
    reply(&db, mode, CODE_OK, &token)
}

async fn users_list(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let p = params(query, &body);
    let db = shared.lock();
    let Some(token) = p.get("token").filter(|t| !t.is_empty()) else {
        return reply(
            &db,
            db.reply_mode,
            CODE_MISSING_PARAMETER,
            "Missing Parameter: token",
        );
    };
    let cid = match db.tokens.get(token) {
        Some(t) if Instant::now() < t.expires => t.cid,
        _ => {
            let (code, text) = &db.invalid_token;
            return reply(&db, db.reply_mode, *code, text);
        }
    };
    if let Some((code, text)) = &db.call_error {
        return reply(&db, db.reply_mode, *code, text);
    }
    let users = db
        .accounts
        .get(&cid)
        .map(|a| a.users.clone())
        .unwrap_or_default();
    shared.counters.call(&cid.to_string());
    let wants_csv = p
        .get("result")
        .is_some_and(|r| r.eq_ignore_ascii_case("csv"));
    if wants_csv || db.reply_mode == ReplyMode::Csv {
        let mut body = String::from("UserId,UserName\r\n");
        for (i, u) in users.iter().enumerate() {
            body.push_str(&format!("{},{}\r\n", i + 1, u));
        }
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            body,
        )
            .into_response();
    }
    let mut xml = String::from("<Users>");
    for (i, u) in users.iter().enumerate() {
        xml.push_str(&format!(
            "<User><UserId>{}</UserId><UserName>{}</UserName></User>",
            i + 1,
            escape(u)
        ));
    }
    xml.push_str("</Users>");
    reply_raw(&db, db.reply_mode, CODE_OK, &xml, "")
}
