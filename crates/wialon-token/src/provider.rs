//! [`WialonProvider`]: Wialon `token/login`, the `sid` and the session's
//! limits as an auth-core [`Provider`].

use std::fmt;
use std::sync::Arc;

use auth_core::http::{HttpClient, parse_json, status_error};
use auth_core::rotation::{RotateCredentials, credential_material};
use auth_core::{
    AuthError, Authenticated, Expiry, NewSession, Provider, RequestLimits, SecretCell, Session,
    async_trait,
};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde_json::Value;
use url::Url;

use crate::config::{WialonBuilder, WialonConfig, validate_token};
use crate::protocol::{ErrorReply, LoginInfo};
use crate::retry::LimitRetry;
use crate::{LoginFlags, NAME, WialonClient, WialonErrorCode};

/// Wialon `token/login` as an [`auth_core::Provider`]: the session token is
/// the `eid`, sent as the `sid` query parameter; sessions expire after
/// [`idle_timeout`](WialonBuilder::idle_timeout) without calls;
/// replies `{"error":1}` and `{"error":1011}` mean "log in again".
#[derive(Clone)]
pub struct WialonProvider {
    config: Arc<WialonConfig>,
    /// The secret: replaced by a credential rotation (the cache key keeps
    /// the fingerprint of the token the provider was built with).
    token: SecretCell<SecretString>,
}

impl fmt::Debug for WialonProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WialonProvider")
            .field("config", &self.config)
            .finish()
    }
}

impl WialonProvider {
    /// A builder; the token is required.
    pub fn builder() -> WialonBuilder {
        WialonBuilder::default()
    }

    /// A client with default settings; [`Authenticated::builder`] for
    /// more (a shared store, HTTP settings ...).
    pub fn into_client(self) -> Result<WialonClient, AuthError> {
        Authenticated::new(self)
    }

    /// How [`WialonClientExt::call`](crate::WialonClientExt::call) retries
    /// a request refused by a per-session limit.
    pub fn limit_retry(&self) -> LimitRetry {
        self.config.limit_retry
    }

    /// The current token, for the calls that manage it.
    pub(crate) fn token(&self) -> Arc<SecretString> {
        self.token.current()
    }

    pub(crate) fn from_config(config: WialonConfig, token: SecretString) -> Self {
        Self {
            config: Arc::new(config),
            token: SecretCell::new(token),
        }
    }

    /// The API host.
    pub fn host(&self) -> &Url {
        &self.config.host
    }

    /// `{host}/wialon/ajax.html`.
    pub fn ajax_url(&self) -> &Url {
        &self.config.ajax_url
    }

    /// `{host}/avl_evts`.
    pub fn avl_evts_url(&self) -> &Url {
        &self.config.avl_evts_url
    }

    /// A URL on the API host, e.g. `endpoint("wialon/ajax.html")`. A path
    /// that would leave the host's base path (`../`, `//host`, an absolute
    /// URL, encoded dots) is an error.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        auth_core::http::endpoint(NAME, &self.config.host, path)
    }

    /// The response flags sent at login.
    pub fn flags(&self) -> LoginFlags {
        self.config.flags
    }

    /// The `operateAs` user, if any.
    pub fn operate_as(&self) -> Option<&str> {
        self.config.operate_as.as_deref()
    }

    /// The `params` JSON of `token/login` with `token`.
    fn login_params(&self, token: &SecretString) -> String {
        let mut params = serde_json::Map::new();
        params.insert("token".into(), Value::from(token.expose_secret()));
        if let Some(user) = &self.config.operate_as {
            params.insert("operateAs".into(), Value::from(user.as_str()));
        }
        params.insert("fl".into(), Value::from(self.config.flags.bits()));
        Value::Object(params).to_string()
    }

    /// Interprets the answer of `token/login` (status, headers and body as
    /// read, with the body cap applied): the session id (`eid`) and the
    /// [`LoginInfo`] (with the escaped `token` JSON decoded), or a typed
    /// error for `{"error":N}` replies and bodies that are not a login
    /// object. This is exactly what [`Provider::login`] does after the HTTP
    /// exchange; it is public so that fuzzing and tests can drive the parser
    /// with arbitrary input. It never panics and never puts the token or the
    /// session id into an error.
    pub fn parse_login_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<NewSession<LoginInfo>, AuthError> {
        let token = self.token();
        let secrets = [&*token];
        if !status.is_success() {
            return Err(status_error(NAME, status, headers, body, &secrets));
        }
        // Real servers send `application/json`; a proxy error page is caught
        // by the JSON parse (no strict header comparison: a charset suffix is
        // fine).
        let value: Value = parse_json(NAME, status, body, "a token/login JSON reply", &secrets)?;
        let (eid, info) = parse_login(value, &token)?;
        Ok(NewSession::new(
            eid,
            Expiry::Idle(self.config.idle_timeout),
            info,
        ))
    }

    /// A form-encoded `ajax.html` request for `svc` (without `sid`: the
    /// client adds it when it sends the request).
    pub fn ajax_request(&self, http: &HttpClient, svc: &str, params: &str) -> RequestBuilder {
        http.client()
            .post(self.config.ajax_url.clone())
            .form(&[("svc", svc), ("params", params)])
    }
}

/// Parses a `token/login` reply: the session id and the rest.
fn parse_login(value: Value, token: &SecretString) -> Result<(SecretString, LoginInfo), AuthError> {
    if let Some(error) = ErrorReply::from_value(&value) {
        return Err(error.into_login_error());
    }
    let Value::Object(mut map) = value else {
        return Err(AuthError::UnexpectedResponse {
            provider: NAME,
            status: Some(200),
            detail: "expected a JSON object from token/login".to_owned(),
        });
    };
    let eid = match map.remove("eid") {
        Some(Value::String(eid)) if !eid.is_empty() => SecretString::from(eid),
        _ => {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(200),
                detail: "the token/login reply has no session id (eid)".to_owned(),
            });
        }
    };
    map.remove("error");
    // The token settings sit at the top level (the seed) or inside `user`
    // (help.wialon.com's login example): read them from either place.
    let top_level_token = map.get("token").is_some_and(|t| !t.is_null());
    if let Some(Value::Object(user)) = map.get_mut("user")
        && let Some(settings) = user.remove("token")
        && !top_level_token
    {
        map.insert("token".to_owned(), settings);
    }
    // Wialon echoes the token itself (`user.th`): drop every field that
    // holds the token we sent or the session id we received, before the
    // session is built, printed or stored.
    let mut value = Value::Object(map);
    let dropped = auth_core::http::drop_echoed_secrets(&mut value, &[token, &eid]);
    if dropped > 0 {
        tracing::debug!(
            provider = NAME,
            dropped,
            "dropped login-reply fields that echo the token or session id"
        );
    }
    let info: LoginInfo =
        serde_json::from_value(value).map_err(|e| AuthError::UnexpectedResponse {
            provider: NAME,
            status: Some(200),
            detail: format!(
                "the token/login reply has an unexpected shape: {}",
                auth_core::http::serde_error_without_values(&e)
            ),
        })?;
    Ok((eid, info))
}

#[async_trait]
impl Provider for WialonProvider {
    type Data = LoginInfo;

    fn name(&self) -> &'static str {
        NAME
    }

    /// `wialon|<host>|as=<operateAs>|fl=<flags>|token-<fingerprint>`: the
    /// token itself never appears, only a 64-bit SHA-256 fingerprint.
    fn base_url(&self) -> &Url {
        &self.config.host
    }

    fn cache_key(&self) -> String {
        format!(
            "{}|token-{}",
            RotateCredentials::account_identity(self),
            self.config.token_id
        )
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<LoginInfo>, AuthError> {
        // The token as of now; a rotation during the login does not mix in.
        let params = self.login_params(&self.token());
        let request = self.ajax_request(http, "token/login", &params);
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
        let new = self.parse_login_response(status, &headers, &body)?;
        tracing::debug!(
            user = new.data.user_name.as_deref().unwrap_or(""),
            "wialon session opened"
        );
        Ok(new)
    }

    async fn logout(
        &self,
        http: &HttpClient,
        session: &Session<LoginInfo>,
    ) -> Result<(), AuthError> {
        let request = self.authorize(session, self.ajax_request(http, "core/logout", "{}"));
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
        let token = self.token();
        let secrets = [&*token, session.token()];
        if !status.is_success() {
            return Err(status_error(NAME, status, &headers, &body, &secrets));
        }
        let value: Value = parse_json(NAME, status, &body, "a core/logout JSON reply", &secrets)?;
        // core/logout answers (help.wialon.com, API reference, core/logout):
        // 0 logged out, 1 "server connection error" (the session is not
        // known), 4 "non-authorized user": in each case the session is
        // gone, which is what logout wanted.
        match ErrorReply::from_value(&value) {
            None => Ok(()),
            Some(error) if error.needs_login() || error.code == WialonErrorCode::InvalidInput => {
                Ok(())
            }
            Some(error) => Err(error.into_api_error()),
        }
    }

    fn keep_alive_request(
        &self,
        http: &HttpClient,
        session: &Session<LoginInfo>,
    ) -> Option<RequestBuilder> {
        // POST with a form body `sid=<eid>` (help.wialon.com: requests are
        // POST with a form Content-Type; the JS SDK and python clients send
        // `sid` in the body). `authorize` adds the same `sid` to the query.
        Some(
            http.client()
                .post(self.config.avl_evts_url.clone())
                .form(&[("sid", session.token().expose_secret())]),
        )
    }

    fn authorize(&self, session: &Session<LoginInfo>, request: RequestBuilder) -> RequestBuilder {
        request.query(&[("sid", session.token().expose_secret())])
    }

    fn rejection_needs_body(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    /// [`request_limits`](WialonBuilder::request_limits): by
    /// default 9 in flight and 9 per second per session.
    fn request_limits(&self) -> Option<RequestLimits> {
        Some(self.config.request_limits)
    }

    fn is_rejected(&self, status: StatusCode, body: &[u8]) -> bool {
        if status == StatusCode::UNAUTHORIZED {
            return true;
        }
        status == StatusCode::OK && ErrorReply::sniff(body).is_some_and(|e| e.needs_login())
    }

    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        Some(credential_material(&[&*self.token()]))
    }
}

/// A Wialon token is both the secret and what tells accounts apart, so the
/// client's cache key keeps the fingerprint of the token it was built with:
/// after a rotation the client still shares sessions with the processes
/// built with the same original token. A process started with the new token
/// has another key (its own login); give the fleet's processes one
/// configuration to keep one key.
impl RotateCredentials for WialonProvider {
    /// The new token (72 hex characters).
    type Secrets = SecretString;

    fn replace_secrets(&self, token: SecretString) -> Result<(), AuthError> {
        validate_token(&token)?;
        self.token.replace(token);
        Ok(())
    }

    fn current_secrets(&self) -> SecretString {
        (*self.token.current()).clone()
    }

    /// The cache key without the token's fingerprint: a new token for the
    /// same host, sub-user and flags is a rotation (the token is both the
    /// secret and, for sharing sessions, the account's name).
    fn account_identity(&self) -> String {
        format!(
            "wialon|{}|as={}|fl={}",
            self.config.host,
            self.config.operate_as.as_deref().unwrap_or(""),
            self.config.flags.bits()
        )
    }
}
