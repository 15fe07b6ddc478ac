//! [`CtcProvider`]: the CTC login, logout and token placement as an
//! auth-core [`Provider`].

use std::time::Duration;

use async_trait::async_trait;
use auth_core::http::{excerpt, looks_like_html, parse_json, status_error, unexpected_body};
use std::sync::Arc;

use auth_core::rotation::{RotateCredentials, credential_material};
use auth_core::{AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session};
use chrono::Utc;
use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use url::Url;

use crate::config::{CtcConfig, CtcKeys, CtcSecrets};
use crate::protocol::{self, AUTH_TOKEN_COOKIE, CtcLogin};
use crate::{
    ACCEPT_JSON, APP_KEY_HEADER, CtcApiError, CtcBuilder, CtcClient, Instance, LOGIN_PATH,
    LOGOUT_PATH, NAME, TokenPlacement,
};

/// The CTC [`Provider`]: logs in, puts the token on calls, logs out.
#[derive(Debug, Clone)]
pub struct CtcProvider {
    config: CtcConfig,
}

impl CtcProvider {
    /// A builder: account, application key, instance, token placement.
    pub fn builder() -> CtcBuilder {
        CtcBuilder::default()
    }

    pub(crate) fn from_config(config: CtcConfig) -> Self {
        Self { config }
    }

    /// The API user name.
    pub fn username(&self) -> &str {
        &self.config.username
    }

    /// The instance.
    pub fn instance(&self) -> &Instance {
        &self.config.instance
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// How the token is sent on calls.
    pub fn token_placement(&self) -> TokenPlacement {
        self.config.token_placement
    }

    /// A URL on the configured instance, e.g.
    /// `endpoint("connect/results/events/device/123/avl/latest")`. A leading
    /// `/` is ignored, so paths stay below a custom base URL's path; a path
    /// that would leave it (`../`, `//host`, an absolute URL, encoded dots)
    /// is an error.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        auth_core::http::endpoint(NAME, &self.config.base_url, path)
    }

    /// A client with default settings; [`Authenticated::builder`] for
    /// more (a shared store, HTTP settings ...).
    pub fn into_client(self) -> Result<CtcClient, AuthError> {
        Authenticated::new(self)
    }

    /// Interprets the answer of the login call (status, headers and body as
    /// read, with the body cap applied): the `authToken` cookie of a success,
    /// or a typed error. This is exactly what [`Provider::login`] does after
    /// the HTTP exchange; it is public so that fuzzing and tests can drive the
    /// parser with arbitrary input. It never panics and never puts the
    /// password, application key or token into an error.
    pub fn parse_login_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<NewSession<CtcLogin>, AuthError> {
        if !status.is_success() {
            return Err(self.error_for(status, headers, body));
        }
        let keys = self.keys();
        let secrets = keys.secrets();
        let cookie = protocol::auth_token_cookie(headers);
        let mut user = login_summary(status, body, cookie.is_some(), &secrets)?;
        let Some((token, cookie_expires)) = cookie else {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: format!(
                    "the login succeeded but set no {AUTH_TOKEN_COOKIE} cookie (is ?useAuthToken=true reaching the server, or is a proxy stripping Set-Cookie?)"
                ),
            });
        };
        if HeaderValue::from_str(&format!("{AUTH_TOKEN_COOKIE}={token}")).is_err() {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: format!(
                    "the {AUTH_TOKEN_COOKIE} cookie holds characters that cannot be sent back in a header"
                ),
            });
        }
        protocol::redact(&mut user, &token);
        let token_secret = SecretString::from(token.clone());
        let dropped = auth_core::http::drop_echoed_secrets(
            &mut user,
            &[&keys.password, &keys.app_key, &token_secret],
        );
        if dropped > 0 {
            tracing::debug!(
                provider = NAME,
                dropped,
                "dropped login-reply fields that echo a secret"
            );
        }
        // `Expires` is on the server's clock: judge it against the server's
        // `Date`, not ours.
        let server_date = auth_core::http::server_date(headers);
        let server_now = server_date.unwrap_or_else(Utc::now);
        let expiry = match cookie_expires {
            Some(at) if at > server_now + SKEW_ALLOWANCE => Expiry::At(at),
            Some(at) => {
                tracing::warn!(
                    provider = NAME,
                    expires = %at,
                    "the authToken cookie expires in the past or right now (clock skew?); using the token until CTC rejects it"
                );
                Expiry::UntilRejected
            }
            None => Expiry::UntilRejected,
        };
        Ok(NewSession::new(
            SecretString::from(token),
            expiry,
            CtcLogin {
                user,
                cookie_expires,
            },
        )
        .with_server_date(server_date))
    }

    /// The current secret fields (a rotation replaces them as a whole).
    fn keys(&self) -> Arc<CtcKeys> {
        self.config.keys.current()
    }

    /// The `calamp-services-app` header every CTC request carries, and the
    /// `Accept` of requests the engine does not send (login, logout).
    fn base_headers(keys: &CtcKeys, request: RequestBuilder) -> RequestBuilder {
        request
            .header(APP_KEY_HEADER, keys.app_key_header.clone())
            .header(ACCEPT, ACCEPT_JSON)
    }

    fn with_token(&self, token: &SecretString, request: RequestBuilder) -> RequestBuilder {
        let token = token.expose_secret();
        let (name, value) = match self.config.token_placement {
            TokenPlacement::Cookie => (COOKIE.as_str(), format!("{AUTH_TOKEN_COOKIE}={token}")),
            TokenPlacement::Header => (AUTH_TOKEN_COOKIE, token.to_owned()),
            TokenPlacement::Bearer => (AUTHORIZATION.as_str(), format!("Bearer {token}")),
        };
        match HeaderValue::from_str(&value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                request.header(name, value)
            }
            // Checked at login; a token that cannot be a header is never
            // installed. Sending without it yields a 401, never a panic.
            Err(_) => request,
        }
    }

    /// Maps a non-success answer to an API call to a typed error: `429` is
    /// [`AuthError::Throttled`], a JSON error body an [`AuthError::Api`]
    /// carrying a [`CtcApiError`] (retryable for `5xx`).
    pub(crate) fn api_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> AuthError {
        let keys = self.keys();
        let secrets = keys.secrets();
        match error_fields_redacted(body, &secrets) {
            Some((code, message)) if status != StatusCode::TOO_MANY_REQUESTS => {
                self.typed_api_error(status, code, message)
            }
            _ => status_error(NAME, status, headers, body, &secrets),
        }
    }

    fn typed_api_error(
        &self,
        status: StatusCode,
        code: Option<String>,
        message: String,
    ) -> AuthError {
        let typed = CtcApiError {
            status: status.as_u16(),
            code: code.clone(),
            message: message.clone(),
        };
        AuthError::Api {
            provider: NAME,
            code: code.unwrap_or_else(|| status.as_u16().to_string()),
            message,
            retryable: status.is_server_error(),
            source: Some(std::sync::Arc::new(typed)),
        }
    }

    /// Maps a non-success login or logout answer to a typed error.
    fn error_for(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AuthError {
        let keys = self.keys();
        let secrets = keys.secrets();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return status_error(NAME, status, headers, body, &secrets);
        }
        let fields = error_fields_redacted(body, &secrets);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let (code, message) = fields.unwrap_or_else(|| {
                let hint = if status == StatusCode::FORBIDDEN {
                    "the application key (calamp-services-app) was refused"
                } else {
                    "the username or password was refused"
                };
                let what = if looks_like_html(body) {
                    "an HTML page"
                } else {
                    "no JSON error"
                };
                (
                    None,
                    format!("HTTP {} with {what}: {hint}", status.as_u16()),
                )
            });
            let typed = CtcApiError {
                status: status.as_u16(),
                code,
                message: message.clone(),
            };
            return AuthError::InvalidCredentials {
                provider: NAME,
                message,
                source: Some(std::sync::Arc::new(typed)),
            };
        }
        match fields {
            Some((code, message)) => self.typed_api_error(status, code, message),
            None => status_error(NAME, status, headers, body, &secrets),
        }
    }
}

/// The body of a successful login as JSON. Only the `authToken` cookie is
/// documented, not the body: with the cookie, a body that is not JSON (plain
/// text, an HTML page) is kept as `Null` and the login succeeds. Without the
/// cookie, an unreadable body is the error to report (a login page, a proxy).
fn login_summary(
    status: StatusCode,
    body: &[u8],
    has_cookie: bool,
    secrets: &[&SecretString],
) -> Result<serde_json::Value, AuthError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    if !looks_like_html(body)
        && let Ok(user) = serde_json::from_slice::<serde_json::Value>(body)
    {
        return Ok(user);
    }
    if has_cookie {
        tracing::debug!(
            provider = NAME,
            bytes = body.len(),
            "the login body is not JSON; only the authToken cookie is documented, so it is ignored"
        );
        return Ok(serde_json::Value::Null);
    }
    if looks_like_html(body) {
        return Err(unexpected_body(
            NAME,
            status,
            body,
            "a JSON login summary",
            secrets,
        ));
    }
    parse_json::<serde_json::Value>(NAME, status, body, "a JSON login summary", secrets)
}

fn error_fields_redacted(
    body: &[u8],
    secrets: &[&SecretString],
) -> Option<(Option<String>, String)> {
    protocol::error_fields(body).map(|(code, message)| {
        (
            code.map(|c| excerpt(c.as_bytes(), secrets)),
            excerpt(message.as_bytes(), secrets),
        )
    })
}

/// Whether a logout answer says the (unverified) logout path does not exist
/// here: `404` or `405`. The session is forgotten locally and in the store
/// all the same; a `debug` event says the server was not told.
fn logout_path_missing(status: StatusCode) -> bool {
    let missing = status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED;
    if missing {
        tracing::debug!(
            provider = NAME,
            status = status.as_u16(),
            path = LOGOUT_PATH,
            "the logout path is not served here (it is undocumented); the session was forgotten locally and in the store, and the token stays valid on the server until it expires"
        );
    }
    missing
}

/// A cookie `Expires` this close to now (or in the past) is not trusted: the
/// clocks disagree, and the token is used until CTC rejects it instead.
const SKEW_ALLOWANCE: Duration = Duration::from_secs(2);

#[async_trait]
impl Provider for CtcProvider {
    type Data = CtcLogin;

    fn name(&self) -> &'static str {
        NAME
    }

    fn cache_key(&self) -> String {
        format!("{NAME}:{}:{}", self.config.base_url, self.config.username)
    }

    fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<CtcLogin>, AuthError> {
        let url = self.endpoint(LOGIN_PATH)?;
        // One set of secrets for the whole login, whatever a rotation does.
        let keys = self.keys();
        let form = [
            ("username", self.config.username.as_str()),
            ("password", keys.password.expose_secret()),
        ];
        let request = Self::base_headers(&keys, http.client().post(url)).form(&form);
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
        self.parse_login_response(status, &headers, &body)
    }

    async fn logout(
        &self,
        http: &HttpClient,
        session: &Session<CtcLogin>,
    ) -> Result<(), AuthError> {
        let url = self.endpoint(LOGOUT_PATH)?;
        let request = self.with_token(
            session.token(),
            Self::base_headers(&self.keys(), http.client().post(url)),
        );
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
        // 401: the token is already invalid, which is what logout wants.
        if status.is_success() || status == StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        if logout_path_missing(status) {
            return Ok(());
        }
        Err(self.error_for(status, &headers, &body))
    }

    /// `Accept: application/json;charset=UTF-8`, as CTC's documentation
    /// shows, unless the caller asked for something else.
    fn default_headers(&self) -> HeaderMap {
        HeaderMap::from_iter([(ACCEPT, HeaderValue::from_static(ACCEPT_JSON))])
    }

    fn authorize(&self, session: &Session<CtcLogin>, request: RequestBuilder) -> RequestBuilder {
        let request = request.header(APP_KEY_HEADER, self.keys().app_key_header.clone());
        self.with_token(session.token(), request)
    }

    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        let keys = self.keys();
        Some(credential_material(&keys.secrets()))
    }
}

impl RotateCredentials for CtcProvider {
    type Secrets = CtcSecrets;

    /// Checks the new fields as [`CtcBuilder::build`] does; fields not
    /// given keep their value.
    fn replace_secrets(&self, secrets: CtcSecrets) -> Result<(), AuthError> {
        let current = self.keys();
        let keys = CtcKeys::new(
            secrets.password.unwrap_or_else(|| current.password.clone()),
            secrets.app_key.unwrap_or_else(|| current.app_key.clone()),
        )?;
        self.config.keys.replace(keys);
        Ok(())
    }

    fn current_secrets(&self) -> CtcSecrets {
        let keys = self.keys();
        CtcSecrets::new()
            .password(keys.password.clone())
            .app_key(keys.app_key.clone())
    }
}
