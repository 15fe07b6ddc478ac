//! Replies of Plaspy API calls (everything after `POST /api/Auth/Token`).
//!
//! The public docs (plaspy-dev/docs, published at docs.plaspy.com and
//! www.plaspy.com/Help) describe one envelope for every call,
//! `{"success":..,"error":..,"apiUsage":..,"apiDailyUsage":..,<data>}`
//! (e.g. `devices` for `GET /api/devices`), and the statuses `401` (no valid
//! token), `403` (no permission), `415` (not JSON), `429` (too many
//! requests) and `503` (temporarily unavailable), each with
//! `{"success":false,"error":".."}`. [`PlaspyProvider::parse_api_response`]
//! turns such a reply into a [`PlaspyReply`] or a typed [`AuthError`];
//! [`PlaspyClientExt`] sends a call and does that in one step.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::AuthError;
use auth_core::http::{excerpt, looks_like_html, status_error, unexpected_body};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;

use crate::{NAME, PlaspyClient, PlaspyProvider};

/// A successful API reply: the envelope's usage counters and the whole JSON
/// body (read the data, e.g. `body["devices"]`, from it).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaspyReply {
    /// HTTP status (a 2xx).
    pub status: u16,
    /// `apiUsage`: the account's API usage, when the reply says.
    pub api_usage: Option<u64>,
    /// `apiDailyUsage`: the account's API usage today, when the reply says.
    pub api_daily_usage: Option<u64>,
    /// The JSON body as sent.
    pub body: serde_json::Value,
}

/// A failed API call, `{"success":false,"error":".."}`, carried as the
/// source of [`AuthError::Api`]; get it back with
/// `err.provider_error::<PlaspyCallError>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaspyCallError {
    /// HTTP status.
    pub status: u16,
    /// The server's `error` text (a short, redacted excerpt).
    pub message: String,
    /// `Retry-After` in seconds, when the answer had one (`503`).
    pub retry_after: Option<Duration>,
    /// `apiUsage`, when the answer had it.
    pub api_usage: Option<u64>,
    /// `apiDailyUsage`, when the answer had it.
    pub api_daily_usage: Option<u64>,
}

impl fmt::Display for PlaspyCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

impl std::error::Error for PlaspyCallError {}

/// The documented envelope; property names also in PascalCase.
#[derive(Deserialize)]
struct Envelope {
    #[serde(alias = "Success")]
    success: Option<bool>,
    #[serde(alias = "Error")]
    error: Option<String>,
    #[serde(rename = "apiUsage", alias = "ApiUsage")]
    api_usage: Option<u64>,
    #[serde(rename = "apiDailyUsage", alias = "ApiDailyUsage")]
    api_daily_usage: Option<u64>,
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl PlaspyProvider {
    /// Interprets the reply of an API call (status, headers and body as
    /// read): a [`PlaspyReply`], or
    ///
    /// * `429`: [`AuthError::Throttled`] with the `Retry-After` seconds;
    /// * `503` (and other 5xx, and `408`, with the envelope): a retryable
    ///   [`AuthError::Api`] whose [`PlaspyCallError`] has the `Retry-After`;
    /// * `401`, `403`, `415`, other 4xx, and a 2xx with `success: false`: a
    ///   non-retryable [`AuthError::Api`] with code = the status and the
    ///   server's `error` text;
    /// * anything unreadable: [`AuthError::UnexpectedResponse`].
    ///
    /// A `401` means "log in again": [`Authenticated::send`] does that (one
    /// fresh login, one retry) before a reply gets here, so a `401` here
    /// means the fresh token was refused too or the call was sent without
    /// the client. Never panics; the API key never appears in an error.
    ///
    /// [`Authenticated::send`]: auth_core::Authenticated::send
    pub fn parse_api_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<PlaspyReply, AuthError> {
        let api_key = self.config.api_key.current();
        let secrets = [&*api_key];
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(status_error(NAME, status, headers, body, &secrets));
        }
        let json = if looks_like_html(body) {
            None
        } else {
            serde_json::from_slice::<serde_json::Value>(body).ok()
        };
        let envelope = json
            .as_ref()
            .filter(|v| v.is_object())
            .and_then(|v| Envelope::deserialize(v).ok());
        if status.is_success() {
            let Some(json) = json else {
                return Err(unexpected_body(
                    NAME,
                    status,
                    body,
                    "a JSON reply {\"success\":..}",
                    &secrets,
                ));
            };
            return match envelope {
                Some(e) if e.success == Some(false) => Err(self.call_error(status, headers, e)),
                Some(e) => Ok(PlaspyReply {
                    status: status.as_u16(),
                    api_usage: e.api_usage,
                    api_daily_usage: e.api_daily_usage,
                    body: json,
                }),
                None => Ok(PlaspyReply {
                    status: status.as_u16(),
                    api_usage: None,
                    api_daily_usage: None,
                    body: json,
                }),
            };
        }
        // A failure status with an `error` text is a failed call whatever
        // `success` says: the status table page (www.plaspy.com/Help/722)
        // shows its error structure with `"success": true`.
        match envelope {
            Some(e) if e.error.is_some() => Err(self.call_error(status, headers, e)),
            _ => Err(status_error(NAME, status, headers, body, &secrets)),
        }
    }

    fn call_error(&self, status: StatusCode, headers: &HeaderMap, e: Envelope) -> AuthError {
        let message = match e.error.as_deref() {
            Some(t) if !t.trim().is_empty() => {
                excerpt(t.as_bytes(), &[&*self.config.api_key.current()])
            }
            _ => "the server gave no reason".to_owned(),
        };
        let typed = PlaspyCallError {
            status: status.as_u16(),
            message: message.clone(),
            retry_after: retry_after(headers),
            api_usage: e.api_usage,
            api_daily_usage: e.api_daily_usage,
        };
        AuthError::Api {
            provider: NAME,
            code: status.as_u16().to_string(),
            message,
            // 408: "the request did not complete within the allowed time".
            retryable: status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT,
            source: Some(Arc::new(typed)),
        }
    }
}

/// Plaspy API calls on a [`PlaspyClient`], with the reply read as
/// [`PlaspyProvider::parse_api_response`] describes.
#[async_trait]
pub trait PlaspyClientExt {
    /// Sends `request` (authorized, with one re-login on `401`) and reads
    /// the reply.
    async fn call_api(&self, request: RequestBuilder) -> Result<PlaspyReply, AuthError>;

    /// `GET {base}/{path}`, e.g. `get_api("api/devices")`.
    async fn get_api(&self, path: &str) -> Result<PlaspyReply, AuthError>;
}

#[async_trait]
impl PlaspyClientExt for PlaspyClient {
    async fn call_api(&self, request: RequestBuilder) -> Result<PlaspyReply, AuthError> {
        let response = self.send(request).await?;
        let (status, headers, body) = self.http().read_api(NAME, response).await?.into_parts();
        self.provider().parse_api_response(status, &headers, &body)
    }

    async fn get_api(&self, path: &str) -> Result<PlaspyReply, AuthError> {
        let url = self.provider().endpoint(path)?;
        self.call_api(self.http().client().get(url)).await
    }
}
