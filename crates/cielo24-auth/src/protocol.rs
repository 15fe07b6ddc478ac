//! cielo24 wire types.

use serde::Deserialize;

use crate::error::{Cielo24Error, ErrorType};

/// Query parameter carrying the API version on every call.
pub const VERSION_PARAM: &str = "v";
/// Query parameter carrying the API token on authorized calls.
pub const TOKEN_PARAM: &str = "api_token";

/// Path of the login call, relative to the base URL.
pub const LOGIN_PATH: &str = "api/account/login";
/// Path of the logout call.
pub const LOGOUT_PATH: &str = "api/account/logout";
/// Path of the secure-key call.
pub const GENERATE_API_KEY_PATH: &str = "api/account/generate_api_key";
/// Path of the job list call.
pub const JOB_LIST_PATH: &str = "api/job/list";

/// `200` reply of `account/login`.
#[derive(Deserialize)]
pub(crate) struct LoginResponse {
    #[serde(rename = "ApiToken")]
    pub(crate) api_token: String,
}

/// `200` reply of `account/generate_api_key`.
#[derive(Deserialize)]
pub(crate) struct ApiKeyResponse {
    #[serde(rename = "ApiKey")]
    pub(crate) api_key: String,
}

/// An error reply, `{"ErrorType": .., "ErrorComment": ..}` (HTTP 400).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorReply {
    #[serde(rename = "ErrorType")]
    pub(crate) error_type: ErrorType,
    #[serde(rename = "ErrorComment", default)]
    pub(crate) error_comment: Option<String>,
}

/// Parses a cielo24 error reply body, if it is one. The comment is kept as
/// sent (callers redact it before putting it into an error).
pub fn parse_error(body: &[u8]) -> Option<Cielo24Error> {
    let reply: ErrorReply = serde_json::from_slice(body).ok()?;
    Some(Cielo24Error {
        error_type: reply.error_type,
        comment: reply.error_comment.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_unknown_types() {
        let e = parse_error(br#"{"ErrorType":"BAD_API_TOKEN","ErrorComment":"gone"}"#).unwrap();
        assert_eq!(e.error_type, ErrorType::BadApiToken);
        assert_eq!(e.comment, "gone");
        let e = parse_error(br#"{"ErrorType":"SOMETHING_NEW"}"#).unwrap();
        assert_eq!(e.error_type, ErrorType::Other("SOMETHING_NEW".into()));
        assert_eq!(e.error_type.as_str(), "SOMETHING_NEW");
        assert!(parse_error(b"<html>").is_none());
        assert!(parse_error(br#"{"ApiToken":"x"}"#).is_none());
    }
}
