//! Wire formats of `POST /api/Auth/Token` and the token's expiry.

use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// The token request body.
#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    #[serde(rename = "userName")]
    pub(crate) user_name: &'a str,
    #[serde(rename = "apiKey")]
    pub(crate) api_key: &'a str,
}

/// The token answer. Property names are also accepted in PascalCase.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(alias = "Success")]
    pub(crate) success: Option<bool>,
    #[serde(alias = "Token")]
    pub(crate) token: Option<String>,
    #[serde(alias = "Expires")]
    pub(crate) expires: Option<String>,
    #[serde(alias = "Error")]
    pub(crate) error: Option<String>,
    /// ASP.NET Core problem details (`400`, `415` ...).
    pub(crate) title: Option<String>,
}

/// Where a session's expiry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ExpirySource {
    /// The answer's `expires` property.
    Expires,
    /// The JWT's `exp` claim (the answer had no usable `expires`).
    JwtExp,
    /// The configured default lifetime (neither of the above).
    DefaultLifetime,
}

/// What a login returned besides the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaspyLogin {
    /// When the token expires.
    pub expires: DateTime<Utc>,
    /// Where that time came from.
    pub expiry_source: ExpirySource,
}

/// Parses `expires`: RFC 3339, or the same without a zone suffix (taken as
/// UTC), with or without fraction digits.
pub(crate) fn parse_expires(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|naive| naive.and_utc())
}

/// The `exp` claim of a JWT (base64url without padding), if it has one.
pub(crate) fn jwt_exp(token: &str) -> Option<DateTime<Utc>> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = match &claims["exp"] {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    DateTime::from_timestamp(exp, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn expires_formats() {
        let want = DateTime::parse_from_rfc3339("2023-12-31T23:59:59Z").unwrap();
        assert_eq!(parse_expires("2023-12-31T23:59:59Z").unwrap(), want);
        assert_eq!(parse_expires("2023-12-31T23:59:59").unwrap(), want);
        assert_eq!(parse_expires("2024-01-01T01:59:59+02:00").unwrap(), want);
        assert_eq!(
            parse_expires("2023-12-31T23:59:59.5000000").unwrap(),
            want + chrono::Duration::milliseconds(500)
        );
        assert!(parse_expires("next tuesday").is_none());
    }

    #[test]
    fn exp_claim() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"x","exp":1704067199}"#);
        let token = format!("eyJhbGciOiJIUzUxMiJ9.{payload}.c2ln");
        assert_eq!(jwt_exp(&token).unwrap().timestamp(), 1_704_067_199);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert!(jwt_exp(&format!("a.{payload}.c")).is_none());
        assert!(jwt_exp("opaque-token").is_none());
        assert!(jwt_exp("a.!!!.c").is_none());
    }
}
