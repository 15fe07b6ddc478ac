//! Wire formats: the `authToken` cookie, the login summary, error bodies.

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name of the cookie carrying the token.
pub const AUTH_TOKEN_COOKIE: &str = "authToken";

/// What a login returned besides the token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CtcLogin {
    /// The JSON body of the login answer (a user summary; its shape is not
    /// documented, so it is kept as JSON). Any string equal to the token is
    /// replaced by `"[REDACTED]"`. `Null` when the body was empty or not JSON
    /// (only the `authToken` cookie is documented).
    pub user: Value,
    /// The cookie's expiry, when it had one.
    pub cookie_expires: Option<DateTime<Utc>>,
}

/// The `authToken` cookie of a login answer: its value and expiry
/// (`Max-Age` wins over `Expires`, as RFC 6265 says). A `Max-Age` too large
/// to be a date (beyond year 262143) gives no expiry: the token is used
/// until CTC rejects it.
pub(crate) fn auth_token_cookie(headers: &HeaderMap) -> Option<(String, Option<DateTime<Utc>>)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie::Cookie::parse(v.to_owned()).ok())
        .rfind(|c| c.name() == AUTH_TOKEN_COOKIE && !c.value().is_empty())
        .map(|c| {
            let expires = if let Some(max_age) = c.max_age() {
                chrono::Duration::try_seconds(max_age.whole_seconds())
                    .and_then(|age| Utc::now().checked_add_signed(age))
            } else {
                c.expires_datetime()
                    .and_then(|at| DateTime::from_timestamp(at.unix_timestamp(), 0))
            };
            (c.value().to_owned(), expires)
        })
}

/// Replaces every string equal to `token` with `"[REDACTED]"`.
pub(crate) fn redact(value: &mut Value, token: &str) {
    match value {
        Value::String(s) if s == token => *s = "[REDACTED]".to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, token)),
        Value::Object(map) => map.values_mut().for_each(|v| redact(v, token)),
        _ => {}
    }
}

/// The error code and message of a JSON error body, wherever it sits:
/// `{"response":{"errors":[{"code":..,"message":..}]}}`, `{"message":..}`,
/// `{"error":..,"error_description":..}` ...
pub(crate) fn error_fields(body: &[u8]) -> Option<(Option<String>, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    find_error(&value)
}

fn find_error(value: &Value) -> Option<(Option<String>, String)> {
    const MESSAGE_KEYS: [&str; 5] = [
        "message",
        "errorMessage",
        "error_description",
        "description",
        "error",
    ];
    const CODE_KEYS: [&str; 3] = ["code", "errorCode", "error"];
    match value {
        Value::Object(map) => {
            let message = MESSAGE_KEYS
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map(str::to_owned);
            if let Some(message) = message {
                let code = CODE_KEYS
                    .iter()
                    .filter_map(|k| map.get(*k))
                    .find_map(|v| match v {
                        Value::String(s) if *s != message => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                return Some((code, message));
            }
            map.values().find_map(find_error)
        }
        Value::Array(items) => items.iter().find_map(find_error),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_errors() {
        let body = br#"{"response":{"errors":[{"code":"INVALID_CREDENTIALS","message":"Invalid username or password"}]}}"#;
        assert_eq!(
            error_fields(body),
            Some((
                Some("INVALID_CREDENTIALS".into()),
                "Invalid username or password".into()
            ))
        );
        assert_eq!(
            error_fields(br#"{"error":"invalid_grant","error_description":"Bad"}"#),
            Some((Some("invalid_grant".into()), "Bad".into()))
        );
        assert_eq!(error_fields(b"<html>"), None);
        assert_eq!(error_fields(br#"{"ok":true}"#), None);
    }

    #[test]
    fn redacts_token_in_summary() {
        let mut v = serde_json::json!({"user":{"name":"a","authToken":"tok"},"list":["tok"]});
        redact(&mut v, "tok");
        assert!(!v.to_string().contains("tok\""), "{v}");
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, "JSESSIONID=x; Path=/".parse().unwrap());
        h.append(
            SET_COOKIE,
            "authToken=abc; Path=/; Expires=Wed, 21 Oct 2065 07:28:00 GMT; HttpOnly"
                .parse()
                .unwrap(),
        );
        let (token, expires) = auth_token_cookie(&h).unwrap();
        assert_eq!(token, "abc");
        assert_eq!(expires.unwrap().to_rfc3339(), "2065-10-21T07:28:00+00:00");
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            "authToken=abc; Max-Age=60; Expires=Wed, 21 Oct 2065 07:28:00 GMT"
                .parse()
                .unwrap(),
        );
        let (_, expires) = auth_token_cookie(&h).unwrap();
        let secs = (expires.unwrap() - Utc::now()).num_seconds();
        assert!((58..=60).contains(&secs), "{secs}");
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, "authToken=; Max-Age=0".parse().unwrap());
        assert!(auth_token_cookie(&h).is_none());
    }
}
