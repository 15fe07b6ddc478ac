//! [`ElectaProvider`]: the Electa token call, the token parameter and
//! what answers reject a session, as an auth-core [`Provider`].

use std::sync::Arc;
use std::time::Duration;

use auth_core::http::{excerpt, status_error};
use auth_core::reqwest::{RequestBuilder, StatusCode};
use auth_core::rotation::{RotateCredentials, credential_material};
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, LockoutRule, NewSession, Provider, RefreshPolicy,
    Rejection, SecretCell, Session, async_trait,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{Method, check_app_key};
use crate::protocol::{self, Reply, ReplyError};
use crate::rules::RejectionRules;
use crate::{ElectaBuilder, ElectaClient, ElectaError, ElectaErrorKind, NAME};

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
    pub(crate) api_url: Url,
    pub(crate) cid: u64,
    /// The secret field: replaced by a credential rotation.
    pub(crate) app_key: SecretCell<SecretString>,
    pub(crate) method: Method,
    pub(crate) token_param: String,
    pub(crate) token_lifetime: Duration,
    pub(crate) rejection_rules: RejectionRules,
    pub(crate) rule: LockoutRule,
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

    /// A client with default settings; [`Authenticated::builder`] for
    /// more (a shared store, HTTP settings ...). Every way of building one
    /// renews sessions two minutes ahead ([`Provider::refresh_policy`]).
    pub fn into_client(self) -> Result<ElectaClient, AuthError> {
        Authenticated::new(self)
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
            return Err(status_error(
                NAME,
                status,
                headers,
                body,
                &[&*self.app_key.current()],
            ));
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
    pub(crate) fn reply_error(&self, reply: &Reply) -> AuthError {
        let kind = ElectaErrorKind::classify(&reply.data);
        let message = excerpt(reply.data.as_bytes(), &[&*self.app_key.current()]);
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

pub(crate) fn unexpected(status: StatusCode, err: &ReplyError) -> AuthError {
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
        let app_key = self.app_key.current();
        let params = [
            (protocol::CID_PARAM, cid.as_str()),
            (protocol::APP_KEY_PARAM, app_key.expose_secret()),
            (protocol::RESULT_PARAM, protocol::RESULT_XML),
        ];
        let request = match self.method {
            Method::Post => http.client().post(self.token_url()).form(&params),
            Method::Get => http.client().get(self.token_url()).query(&params),
        };
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
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

    /// Renewal ahead of expiry suited to Electa's short tokens: two minutes
    /// (plus up to 30 s of jitter) before the 20 minutes are up.
    fn refresh_policy(&self) -> RefreshPolicy {
        RefreshPolicy::new(Duration::from_secs(120), Duration::from_secs(30))
    }

    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        Some(credential_material(&[&*self.app_key.current()]))
    }
}

impl RotateCredentials for ElectaProvider {
    /// The new application key; the CID identifies the account and is never
    /// rotated. Failed logins stay counted against Electa's lockout.
    type Secrets = SecretString;

    fn replace_secrets(&self, app_key: SecretString) -> Result<(), AuthError> {
        self.app_key.replace(check_app_key(app_key)?);
        Ok(())
    }

    fn current_secrets(&self) -> SecretString {
        (*self.app_key.current()).clone()
    }
}
