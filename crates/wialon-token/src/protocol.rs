//! Wire types: the `token/login` reply (kept as the session's data), the
//! token information decoded from its escaped `token` field, and the
//! `token/list` / `token/update` records.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// What a `token/login` reply says about the session (everything but the
/// session id `eid`, which is the session's secret token).
///
/// Which blocks are present depends on the [`LoginFlags`](crate::LoginFlags)
/// sent; absent blocks are `None` or empty. Fields this type does not name
/// are kept in [`extra`](Self::extra).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginInfo {
    /// Session id for GIS services (`gis_sid`); a secret, redacted in `Debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gis_sid: Option<GisSid>,
    /// Host (`host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Hardware gateway IP (`hw_gw_ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_gw_ip: Option<String>,
    /// Name of the user who logged in (`au`).
    #[serde(rename = "au", default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Ping interval (`pi`).
    #[serde(rename = "pi", default, skip_serializing_if = "Option::is_none")]
    pub ping_interval: Option<i64>,
    /// Server time at login (`tm`, UTC).
    #[serde(rename = "tm", default, with = "unix_opt")]
    pub server_time: Option<DateTime<Utc>>,
    /// SDK version (`wsdk_version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wsdk_version: Option<String>,
    /// The user the session acts for (`user`; the `operateAs` sub-user when
    /// one was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    /// Superclasses available to the user: name -> id (`classes`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, i64>,
    /// Billing plan features (`features`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Features>,
    /// The token's settings, decoded from the escaped JSON text of `token`
    /// (present with [`LoginFlags::TOKEN`](crate::LoginFlags::TOKEN)).
    #[serde(default, with = "token_text", skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenInfo>,
    /// Every other field of the reply (`items`, URLs, ...), as sent.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Fields of a reply this crate does not name, as sent (minus any that
/// echo a secret: those are dropped at login). A map (it derefs to
/// `BTreeMap<String, Value>`); `Debug` prints the keys only, never the
/// values.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtraFields(pub BTreeMap<String, Value>);

impl std::ops::Deref for ExtraFields {
    type Target = BTreeMap<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ExtraFields {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<BTreeMap<String, Value>> for ExtraFields {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Self(map)
    }
}

impl fmt::Debug for ExtraFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The GIS session id. `Debug` shows `[REDACTED]`; [`expose`](Self::expose)
/// gives the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GisSid(String);

impl GisSid {
    /// The id, for a GIS request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GisSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GisSid([REDACTED])")
    }
}

/// The `user` block of a login reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name (`nm`).
    #[serde(rename = "nm", default)]
    pub name: String,
    /// User id (`id`).
    #[serde(default)]
    pub id: i64,
    /// Id of the superclass "user" (`cls`).
    #[serde(rename = "cls", default, skip_serializing_if = "Option::is_none")]
    pub class: Option<i64>,
    /// Custom properties (`prp`): `language`, `tz`, `us_units` ... (present
    /// with [`LoginFlags::CUSTOM_PROPERTIES`](crate::LoginFlags::CUSTOM_PROPERTIES)).
    #[serde(rename = "prp", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
    /// Creator id (`crt`).
    #[serde(rename = "crt", default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<i64>,
    /// Account id (`bact`).
    #[serde(rename = "bact", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<i64>,
    /// User flags (`fl`).
    #[serde(rename = "fl", default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<i64>,
    /// Host mask (`hm`).
    #[serde(rename = "hm", default, skip_serializing_if = "Option::is_none")]
    pub host_mask: Option<String>,
    /// The user's access to itself (`uacl`).
    #[serde(rename = "uacl", default, skip_serializing_if = "Option::is_none")]
    pub access: Option<i64>,
    /// Measurement system (`mu`).
    #[serde(rename = "mu", default, skip_serializing_if = "Option::is_none")]
    pub measurement_system: Option<i64>,
    /// Creation date (`ct`).
    #[serde(rename = "ct", default, with = "unix_opt")]
    pub created: Option<DateTime<Utc>>,
    /// Last login date (`ld`).
    #[serde(rename = "ld", default, with = "unix_opt")]
    pub last_login: Option<DateTime<Utc>>,
    /// Every other field (`ftp`, `pfl`, `ap`, `mapps`, ...), as sent.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl UserInfo {
    /// A custom property as text (`prp` values are strings on the wire).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(Value::as_str)
    }
}

/// The `features` block: billing plan type and allowed services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Special (development/testing) billing plan (`unlim`, sent as 0/1).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub unlim: bool,
    /// Services of the billing plan (`svcs`): `true` = available, `false` =
    /// available but its limit is reached. A service not listed is forbidden.
    #[serde(rename = "svcs", default, deserialize_with = "lenient_bool_map")]
    pub services: BTreeMap<String, bool>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A token's settings, from the escaped JSON of the login reply's `token`
/// field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Application name (`app`).
    #[serde(default)]
    pub app: String,
    /// Creation time (`ct`).
    #[serde(rename = "ct", default, with = "unix_opt")]
    pub created: Option<DateTime<Utc>>,
    /// Activation time (`at`); `None` when 0.
    #[serde(rename = "at", default, with = "unix_opt")]
    pub activated: Option<DateTime<Utc>>,
    /// Duration of validity (`dur`); `None` means unlimited (0).
    #[serde(rename = "dur", default, with = "secs_opt")]
    pub duration: Option<Duration>,
    /// Access flags (`fl`); `-1` is full access. See [`token_access`](crate::token_access).
    #[serde(rename = "fl", default)]
    pub access_flags: i64,
    /// Custom parameters (`p`, JSON text).
    #[serde(rename = "p", default, deserialize_with = "text_or_json")]
    pub params: String,
    /// Items the token is limited to (`items`).
    #[serde(default)]
    pub items: Vec<i64>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl TokenInfo {
    /// When the token stops being valid (activation + duration), if limited.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        let start = self.activated.or(self.created)?;
        let duration = chrono::Duration::from_std(self.duration?).ok()?;
        start.checked_add_signed(duration)
    }
}

/// Parameters of `token/update` (create or update).
///
/// ```
/// use std::time::Duration;
/// use wialon_token::{TokenParams, token_access};
/// let params = TokenParams::new(token_access::ONLINE_TRACKING | token_access::VIEW)
///     .app("fleet-sync")
///     .duration(Duration::from_secs(30 * 24 * 3600));
/// assert_eq!(params.access_flags, 0x300);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenParams {
    /// Application name (`app`).
    pub app: String,
    /// Activation time (`at`); `None` = at once (0).
    pub activate_at: Option<DateTime<Utc>>,
    /// Duration of validity (`dur`); `None` = unlimited (0).
    pub duration: Option<Duration>,
    /// Access flags (`fl`), see [`token_access`](crate::token_access).
    pub access_flags: i64,
    /// Custom parameters (`p`, JSON text); empty sends `"{}"`.
    pub params: String,
    /// Items the token is limited to (`items`); empty = no limit.
    pub items: Vec<i64>,
    /// The user the token is for (`userId`); `None` = the session's user.
    pub user_id: Option<i64>,
}

impl TokenParams {
    /// Parameters with these access flags, activating at once, unlimited.
    pub fn new(access_flags: i64) -> Self {
        Self {
            access_flags,
            ..Self::default()
        }
    }

    /// Sets the application name.
    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = app.into();
        self
    }

    /// Sets the activation time.
    pub fn activate_at(mut self, at: DateTime<Utc>) -> Self {
        self.activate_at = Some(at);
        self
    }

    /// Sets the duration of validity.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Limits the token to these items.
    pub fn items(mut self, items: impl IntoIterator<Item = i64>) -> Self {
        self.items = items.into_iter().collect();
        self
    }

    /// Sets the custom parameters (JSON text).
    pub fn params(mut self, params: impl Into<String>) -> Self {
        self.params = params.into();
        self
    }

    /// Sets the user the token is for.
    pub fn user_id(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The `params` object of `token/update` for `call_mode`, with `h` for
    /// an update or delete.
    pub(crate) fn to_wire(&self, call_mode: &str, h: Option<&str>) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("callMode".into(), Value::from(call_mode));
        if let Some(h) = h {
            map.insert("h".into(), Value::from(h));
        }
        if let Some(user_id) = self.user_id {
            map.insert("userId".into(), Value::from(user_id));
        }
        map.insert("app".into(), Value::from(self.app.as_str()));
        map.insert(
            "at".into(),
            Value::from(self.activate_at.map_or(0, |t| t.timestamp())),
        );
        map.insert(
            "dur".into(),
            Value::from(self.duration.map_or(0, |d| d.as_secs())),
        );
        map.insert("fl".into(), Value::from(self.access_flags));
        let p = if self.params.is_empty() {
            "{}"
        } else {
            self.params.as_str()
        };
        map.insert("p".into(), Value::from(p));
        map.insert("items".into(), Value::from(self.items.clone()));
        Value::Object(map)
    }
}

/// A token as `token/list` and `token/update` return it. The token itself
/// (`h`) is a secret: `Debug` redacts it.
#[derive(Clone)]
pub struct TokenRecord {
    /// The 72-character token (`h`), usable with `token/login`.
    pub token: SecretString,
    /// Everything else about it (`app`, `ct`, `at`, `dur`, `fl`, `p`,
    /// `items`; `ll` and other fields in `extra`).
    pub info: TokenInfo,
    /// Last login with this token (`ll`), if any.
    pub last_login: Option<DateTime<Utc>>,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("token", &"[REDACTED]")
            .field("info", &self.info)
            .field("last_login", &self.last_login)
            .finish()
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenRecordWire {
    h: String,
    #[serde(rename = "ll", default, with = "unix_opt")]
    ll: Option<DateTime<Utc>>,
    #[serde(flatten)]
    info: TokenInfo,
}

impl From<TokenRecordWire> for TokenRecord {
    fn from(wire: TokenRecordWire) -> Self {
        Self {
            token: SecretString::from(wire.h),
            info: wire.info,
            last_login: wire.ll,
        }
    }
}

/// `{"error":N, "reason":..}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorReply {
    pub(crate) error: i64,
    #[serde(default)]
    pub(crate) reason: Option<Value>,
}

impl ErrorReply {
    /// The reply in `value`, when it is an error object.
    pub(crate) fn from_value(value: &Value) -> Option<crate::WialonError> {
        let object = value.as_object()?;
        let code = object.get("error")?.as_i64()?;
        if code == 0 {
            return None;
        }
        let reason = object.get("reason").map(reason_text);
        Some(crate::WialonError {
            code: crate::WialonErrorCode::from_code(code),
            reason,
        })
    }

    /// A small body that is an error object (used to spot rejected
    /// sessions without parsing large replies).
    pub(crate) fn sniff(body: &[u8]) -> Option<crate::WialonError> {
        if body.len() > 1024 {
            return None;
        }
        let reply: ErrorReply = serde_json::from_slice(body).ok()?;
        if reply.error == 0 {
            return None;
        }
        Some(crate::WialonError {
            code: crate::WialonErrorCode::from_code(reply.error),
            reason: reply.reason.as_ref().map(reason_text),
        })
    }
}

fn reason_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Unix seconds (integer or float; 0 or null = none) <-> `Option<DateTime<Utc>>`.
mod unix_opt {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_i64(value.map_or(0, |t| t.timestamp()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let value = Option::<Value>::deserialize(d)?;
        let secs = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .ok_or_else(|| de::Error::custom("a timestamp out of range"))?,
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| de::Error::custom("a timestamp that is not a number"))?,
            Some(_) => return Err(de::Error::custom("expected unix seconds")),
        };
        if secs <= 0 {
            return Ok(None);
        }
        DateTime::<Utc>::from_timestamp(secs, 0)
            .map(Some)
            .ok_or_else(|| de::Error::custom("a timestamp out of range"))
    }
}

/// Seconds (0 or null = none) <-> `Option<Duration>`.
mod secs_opt {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.map_or(0, |d| d.as_secs()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let value = Option::<Value>::deserialize(d)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let secs = n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f as i64))
                    .ok_or_else(|| de::Error::custom("a duration out of range"))?;
                Ok((secs > 0).then(|| Duration::from_secs(secs as u64)))
            }
            Some(_) => Err(de::Error::custom("expected a duration in seconds")),
        }
    }
}

/// The login reply's `token`: escaped JSON text (or, leniently, an object).
mod token_text {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<TokenInfo>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(info) => {
                let text = serde_json::to_string(info).map_err(serde::ser::Error::custom)?;
                s.serialize_str(&text)
            }
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<TokenInfo>, D::Error> {
        let value = Option::<Value>::deserialize(d)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => serde_json::from_str(&text).map(Some).map_err(|e| {
                de::Error::custom(format!("the token field is not valid escaped JSON ({e})"))
            }),
            Some(object @ Value::Object(_)) => {
                serde_json::from_value(object).map(Some).map_err(|e| {
                    de::Error::custom(format!("the token field has an unexpected shape ({e})"))
                })
            }
            Some(_) => Err(de::Error::custom(
                "the token field is neither JSON text nor an object",
            )),
        }
    }
}

fn value_as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A boolean sent as `true`/`false` or `0`/`1`.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(v) => value_as_bool(&v).ok_or_else(|| de::Error::custom("expected a boolean or 0/1")),
    }
}

/// A map of booleans sent as `true`/`false` or `0`/`1`.
fn lenient_bool_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, bool>, D::Error> {
    let value = Option::<BTreeMap<String, Value>>::deserialize(d)?;
    value
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            value_as_bool(&v)
                .map(|b| (k, b))
                .ok_or_else(|| de::Error::custom("expected a boolean or 0/1 service state"))
        })
        .collect()
}

/// Text, or any JSON value kept as its JSON text.
fn text_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_info_round_trips_through_a_store() {
        let wire = serde_json::json!({
            "gis_sid": "g1", "au": "u", "tm": 1_700_000_000, "classes": {"user": 1},
            "features": {"unlim": 1, "svcs": {"a": 1, "b": 0}},
            "user": {"nm": "u", "id": 5, "prp": {"tz": "0"}, "ct": 1_600_000_000, "ftp": {}},
            "token": "{\"app\":\"x\",\"ct\":1600000000,\"at\":0,\"dur\":60,\"fl\":-1,\"p\":\"{}\",\"items\":[1]}",
            "base_url": "https://x"
        });
        let info: LoginInfo = serde_json::from_value(wire).unwrap();
        assert!(info.features.as_ref().unwrap().unlim);
        assert_eq!(
            info.token.as_ref().unwrap().duration,
            Some(Duration::from_secs(60))
        );
        assert_eq!(info.token.as_ref().unwrap().activated, None);
        assert!(info.extra.contains_key("base_url"));
        assert!(info.user.as_ref().unwrap().extra.contains_key("ftp"));
        let stored = serde_json::to_value(&info).unwrap();
        let back: LoginInfo = serde_json::from_value(stored).unwrap();
        assert_eq!(back, info);
        assert!(!format!("{info:?}").contains("g1"));
    }

    #[test]
    fn extra_fields_print_keys_only() {
        let wire = serde_json::json!({
            "user": {"nm": "u", "id": 1, "secret_like": "value-1234"},
            "unknown": "value-5678"
        });
        let info: LoginInfo = serde_json::from_value(wire).unwrap();
        let debug = format!("{info:?}");
        assert!(
            debug.contains("unknown") && debug.contains("secret_like"),
            "{debug}"
        );
        assert!(
            !debug.contains("value-1234") && !debug.contains("value-5678"),
            "{debug}"
        );
        assert_eq!(info.extra["unknown"], "value-5678");
    }
}
