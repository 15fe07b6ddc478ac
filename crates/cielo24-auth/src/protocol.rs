//! cielo24 wire types.

use serde::{Deserialize, Serialize};

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

/// `200` reply of `account/login`: `{"ApiToken": ..}` in the seed and the
/// vendor's Docs repo, `{"api_token": ..}` in the vendor's OpenAPI
/// description (cielo24/cielo24-openapi, `LoginResponse`). Either is read;
/// `ApiToken` wins when both are present.
#[derive(Deserialize)]
pub(crate) struct LoginResponse {
    #[serde(rename = "ApiToken", default)]
    pascal: Option<String>,
    #[serde(rename = "api_token", default)]
    snake: Option<String>,
}

impl LoginResponse {
    /// Whether the reply names a token at all.
    pub(crate) fn has_token(&self) -> bool {
        self.pascal.is_some() || self.snake.is_some()
    }

    /// The token (empty when there is none).
    pub(crate) fn token(&self) -> &str {
        self.pascal
            .as_deref()
            .or(self.snake.as_deref())
            .unwrap_or_default()
    }
}

/// JSON body of the `POST` login form (cielo24/cielo24-openapi,
/// `components.schemas.LoginBody`: `username`, `password`, `securekey`).
#[derive(Serialize)]
pub(crate) struct LoginBody<'a> {
    pub(crate) username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) securekey: Option<&'a str>,
}

/// Sets `v` (only when absent) and `api_token` (replacing any already there,
/// never a second one) in a call's query, keeping every other parameter and
/// its order.
pub fn set_auth_query(url: &mut url::Url, version: &str, token: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != TOKEN_PARAM)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let has_version = pairs.iter().any(|(k, _)| k == VERSION_PARAM);
    let mut query = url.query_pairs_mut();
    query.clear();
    for (k, v) in &pairs {
        query.append_pair(k, v);
    }
    if !has_version {
        query.append_pair(VERSION_PARAM, version);
    }
    query.append_pair(TOKEN_PARAM, token);
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

    #[test]
    fn auth_query_adds_v_once_and_replaces_api_token() {
        let cases = [
            ("https://h/api/job/list", "v=1&api_token=T"),
            ("https://h/api/job/list?v=1", "v=1&api_token=T"),
            (
                "https://h/api/job/list?v=2&job_id=4",
                "v=2&job_id=4&api_token=T",
            ),
            (
                "https://h/api/job/list?api_token=old&job_id=4&api_token=older",
                "job_id=4&v=1&api_token=T",
            ),
        ];
        for (input, want) in cases {
            let mut url = url::Url::parse(input).unwrap();
            set_auth_query(&mut url, "1", "T");
            assert_eq!(url.query(), Some(want), "{input}");
        }
    }

    #[test]
    fn login_reply_in_both_spellings() {
        let pascal: LoginResponse = serde_json::from_slice(br#"{"ApiToken":"a"}"#).unwrap();
        let snake: LoginResponse = serde_json::from_slice(br#"{"api_token":"b"}"#).unwrap();
        let both: LoginResponse =
            serde_json::from_slice(br#"{"api_token":"b","ApiToken":"a"}"#).unwrap();
        let neither: LoginResponse = serde_json::from_slice(br#"{"Token":"c"}"#).unwrap();
        assert_eq!(
            (pascal.token(), snake.token(), both.token()),
            ("a", "b", "a")
        );
        assert!(!neither.has_token());
    }
}
