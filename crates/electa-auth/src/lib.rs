//! # electa-auth
//!
//! Authentication for the [Electa Live](https://www.e-lecta.com) API 3.0:
//! the `/token/` call with an account id (`CID`) and application key
//! (`AppKey`), lenient parsing of its XML reply, 20-minute tokens, and
//! protection against Electa's lockout (5 failed logins lock API access for
//! 15 minutes).
//!
//! **Server-to-server only.** Electa requires the token call to be made from
//! your server. Never send the application key to a browser or a mobile
//! app; keep it in server-side configuration or a secret store.
//!
//! ```no_run
//! use electa_auth::{ElectaClientExt, ElectaProvider};
//! use secrecy::SecretString;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = ElectaProvider::builder()
//!     .api_url("https://live.example.com/apps/api".parse()?)
//!     .cid(123456)
//!     .app_key(SecretString::from(std::env::var("ELECTA_APP_KEY")?))
//!     .build()?
//!     .into_client()?;
//! // The token is added as the `token` parameter.
//! let reply = client.call("users/list/", &[]).await?;
//! println!("code {}", reply.code);
//! # Ok(()) }
//! ```
//!
//! ## Behaviour
//!
//! * Login: `POST {API_URL}/token/` with the form body
//!   `CID=..&AppKey=..&Result=xml` (default, so the key is not in a URL) or
//!   `GET` with query parameters ([`Method`]). `Result=xml` asks for the
//!   API 2.1 default format explicitly.
//! * Reply: XML with an integer response code (0 = success) and
//!   `ResponseData` (the token or the error text), parsed leniently
//!   ([`protocol::parse_reply`]); a CSV reply `0,<token>` (or
//!   `<code>,<text>`, optionally after a header row) is understood too
//!   ([`protocol::parse_login_reply`]). A non-zero code becomes a typed error with
//!   the server's text ([`ElectaError`]): the invalid key text
//!   [`AuthError::InvalidCredentials`],
//!   a lockout text [`AuthError::LockedOut`],
//!   others [`AuthError::Api`]. Malformed XML, unreadable CSV
//!   and HTML bodies are
//!   [`AuthError::UnexpectedResponse`].
//! * Expiry: [`Expiry::AfterIssue`] of 20
//!   minutes; [`ElectaProvider::into_client`] renews about two minutes ahead.
//! * Lockout protection: [`Provider::lockout_rule`] is 4 failures per 15
//!   minutes (at most 4, configurable), so after 4 failed logins the client
//!   answers [`AuthError::LockedOut`] itself
//!   instead of contacting Electa. A lockout reported by the server is
//!   honoured for the same window.
//! * Later calls: the token as a query parameter (`token` by default,
//!   [`ElectaBuilder::token_param`]). Electa documents no answer for an
//!   expired token, so [`RejectionRules`] ([`ElectaBuilder::rejection_rules`])
//!   decide: a code or text they list (by default the documented
//!   `Invalid Account or Application Key`) means "log in again"; any other
//!   non-zero code leads to at most one speculative re-login per
//!   [`speculative_relogin_interval`](auth_core::AuthenticatedBuilder::speculative_relogin_interval)
//!   (10 minutes), after which a code the fresh session gets too is an API
//!   error for that session.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
pub mod protocol;
mod rules;

use std::sync::Arc;
use std::time::Duration;

use auth_core::http::{excerpt, read_body_capped, status_error};
use auth_core::reqwest::{RequestBuilder, StatusCode};
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, LockoutRule, NewSession, Provider, RefreshPolicy,
    Rejection, Session, async_trait,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

pub use config::{
    APP_KEY_LEN, DEFAULT_TOKEN_PARAM, ElectaBuilder, LOCKOUT_WINDOW, MAX_FAILURES, Method,
    TOKEN_LIFETIME,
};
pub use error::{ElectaError, ElectaErrorKind};
pub use protocol::{Reply, ReplyError};
pub use rules::{INVALID_CREDENTIALS_TEXT, RejectionRules};

const NAME: &str = "electa";

/// An authenticated Electa client.
pub type ElectaClient = Authenticated<ElectaProvider>;

/// What an Electa login yields besides the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectaSession {
    /// The account id that logged in.
    pub cid: u64,
}

/// The Electa [`Provider`]. Build it with [`ElectaProvider::builder`].
///
/// `Debug` never shows the application key.
#[derive(Debug, Clone)]
pub struct ElectaProvider {
    api_url: Url,
    cid: u64,
    app_key: SecretString,
    method: Method,
    token_param: String,
    token_lifetime: Duration,
    rejection_rules: RejectionRules,
    rule: LockoutRule,
}

impl ElectaProvider {
    /// A builder; see [`ElectaBuilder`].
    pub fn builder() -> ElectaBuilder {
        ElectaBuilder::default()
    }

    /// The configured API URL.
    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    /// The account id.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// The URL of an API path relative to the API URL, e.g. `"users/list/"`.
    /// A path that would leave the API URL (`../`, `//host`, an absolute
    /// URL, encoded dots) is an error.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        auth_core::http::endpoint(NAME, &self.api_url, path)
    }

    /// `{API_URL}/token/`.
    pub fn token_url(&self) -> Url {
        auth_core::http::as_directory(self.api_url.clone())
            .join(protocol::TOKEN_PATH)
            .unwrap_or_else(|_| self.api_url.clone())
    }

    /// Renewal ahead of expiry suited to Electa's short tokens: two minutes
    /// (plus up to 30 s of jitter) before the 20 minutes are up.
    pub fn refresh_policy(&self) -> RefreshPolicy {
        RefreshPolicy {
            margin: Duration::from_secs(120),
            jitter: Duration::from_secs(30),
        }
    }

    /// An [`ElectaClient`] with [`refresh_policy`](Self::refresh_policy).
    /// Use [`Authenticated::builder`] for other settings.
    pub fn into_client(self) -> Result<ElectaClient, AuthError> {
        let refresh = self.refresh_policy();
        Authenticated::builder(self).refresh_policy(refresh).build()
    }

    /// Interprets the answer of `{API_URL}/token/` (status, headers and body
    /// as read, with the body cap applied): the token of a reply with code
    /// 0, or a typed error for a non-zero code (invalid key, lockout ...)
    /// and for HTML, malformed and unreadable bodies. XML and the CSV form
    /// `<code>,<data>` are understood ([`protocol::parse_login_reply`]).
    /// This is exactly what
    /// [`Provider::login`] does after the HTTP exchange; it is public so that
    /// fuzzing and tests can drive the parser with arbitrary input. It never
    /// panics and never puts the application key or token into an error.
    pub fn parse_login_response(
        &self,
        status: StatusCode,
        headers: &auth_core::reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<NewSession<ElectaSession>, AuthError> {
        if !status.is_success() {
            return Err(status_error(NAME, status, headers, body, &[&self.app_key]));
        }
        let reply = protocol::parse_login_reply(body).map_err(|e| unexpected(status, &e))?;
        if reply.code != 0 {
            return Err(self.reply_error(&reply));
        }
        if reply.data.is_empty()
            || reply
                .data
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: "the token reply has response code 0 but no usable token".to_owned(),
            });
        }
        Ok(NewSession::new(
            SecretString::from(reply.data),
            Expiry::AfterIssue(self.token_lifetime),
            ElectaSession { cid: self.cid },
        ))
    }

    /// Maps a reply with a non-zero code to an error.
    fn reply_error(&self, reply: &Reply) -> AuthError {
        let kind = ElectaErrorKind::classify(&reply.data);
        let message = excerpt(reply.data.as_bytes(), &[&self.app_key]);
        let typed = ElectaError {
            code: reply.code,
            message: message.clone(),
            kind,
        };
        match kind {
            ElectaErrorKind::LockedOut => AuthError::LockedOut {
                provider: NAME,
                retry_after: self.rule.window,
            },
            ElectaErrorKind::InvalidCredentials => AuthError::InvalidCredentials {
                provider: NAME,
                message,
                source: Some(Arc::new(typed)),
            },
            ElectaErrorKind::Other => AuthError::Api {
                provider: NAME,
                code: reply.code.to_string(),
                message,
                retryable: false,
                source: Some(Arc::new(typed)),
            },
        }
    }
}

fn unexpected(status: StatusCode, err: &ReplyError) -> AuthError {
    AuthError::UnexpectedResponse {
        provider: NAME,
        status: Some(status.as_u16()),
        detail: format!("expected an Electa reply, got {err}"),
    }
}

#[async_trait]
impl Provider for ElectaProvider {
    type Data = ElectaSession;

    fn name(&self) -> &'static str {
        NAME
    }

    fn cache_key(&self) -> String {
        format!("{NAME}:{}:{}", self.api_url, self.cid)
    }

    fn base_url(&self) -> &Url {
        &self.api_url
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<ElectaSession>, AuthError> {
        let cid = self.cid.to_string();
        let params = [
            (protocol::CID_PARAM, cid.as_str()),
            (protocol::APP_KEY_PARAM, self.app_key.expose_secret()),
            (protocol::RESULT_PARAM, protocol::RESULT_XML),
        ];
        let request = match self.method {
            Method::Post => http.client().post(self.token_url()).form(&params),
            Method::Get => http.client().get(self.token_url()).query(&params),
        };
        let response = http.send(NAME, request).await?;
        let headers = response.headers().clone();
        let (status, body) = http.read_body(NAME, response).await?;
        let new = self.parse_login_response(status, &headers, &body)?;
        tracing::debug!(cid = self.cid, "electa login succeeded");
        Ok(new)
    }

    fn authorize(
        &self,
        session: &Session<ElectaSession>,
        request: RequestBuilder,
    ) -> RequestBuilder {
        request.query(&[(self.token_param.as_str(), session.token().expose_secret())])
    }

    fn rejection_needs_body(&self, status: StatusCode) -> bool {
        status.is_success()
    }

    fn is_rejected(&self, status: StatusCode, body: &[u8]) -> bool {
        self.rejection(status, body) == Rejection::Rejected
    }

    fn rejection(&self, status: StatusCode, body: &[u8]) -> Rejection {
        if status == StatusCode::UNAUTHORIZED {
            return Rejection::Rejected;
        }
        if !status.is_success() {
            return Rejection::NotRejected;
        }
        match protocol::parse_reply(body) {
            Ok(reply) => self.rejection_rules.classify(&reply),
            Err(_) => Rejection::NotRejected,
        }
    }

    fn lockout_rule(&self) -> Option<LockoutRule> {
        Some(self.rule)
    }
}

/// Electa calls on an [`ElectaClient`].
#[async_trait]
pub trait ElectaClientExt {
    /// `GET {API_URL}/{path}` with `params` plus the token, re-logging in
    /// when the token is rejected. Returns the reply when its code is 0; a
    /// non-zero code becomes [`AuthError::Api`] with an [`ElectaError`]
    /// source; a CSV, HTML or malformed body becomes
    /// [`AuthError::UnexpectedResponse`].
    async fn call(&self, path: &str, params: &[(&str, &str)]) -> Result<Reply, AuthError>;
}

#[async_trait]
impl ElectaClientExt for ElectaClient {
    async fn call(&self, path: &str, params: &[(&str, &str)]) -> Result<Reply, AuthError> {
        let provider = self.provider();
        let request = self
            .http()
            .client()
            .get(provider.endpoint(path)?)
            .query(params);
        let response = self.send(request).await?;
        let headers = response.headers().clone();
        let (status, body) =
            read_body_capped(NAME, response, self.http().settings().max_api_body).await?;
        if !status.is_success() {
            return Err(status_error(
                NAME,
                status,
                &headers,
                &body,
                &[&provider.app_key],
            ));
        }
        let reply = protocol::parse_reply(&body).map_err(|e| unexpected(status, &e))?;
        if reply.code != 0 {
            return Err(provider.reply_error(&reply));
        }
        Ok(reply)
    }
}
