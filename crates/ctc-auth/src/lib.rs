//! # ctc-auth
//!
//! CalAmp Telematics Cloud (CTC) API login: one login per token lifetime,
//! cookie or bearer token, re-login on 401 within the fair-usage policy.
//!
//! * **Login**: `POST {instance}/connect/services/login?useAuthToken=true`,
//!   form-urlencoded `username` and `password`, the application key in the
//!   `calamp-services-app` header. The token is the `authToken` cookie of the
//!   answer; its `Expires` (or `Max-Age`) becomes [`Expiry::At`], and a cookie
//!   without one gives [`Expiry::UntilRejected`]. A `200` without the cookie
//!   is an error that says so.
//! * **Calls** made with [`CtcClient::send`](auth_core::Authenticated::send)
//!   carry `calamp-services-app`, `Accept: application/json;charset=UTF-8` and
//!   the token, as a cookie (default), an `authToken` header or a bearer
//!   header ([`TokenPlacement`]).
//! * **Fair use**: the token is reused until it expires or CTC answers `401`
//!   (the only re-login signal). One login per rejection; when fresh tokens
//!   keep being rejected, logins back off (auth-core's
//!   [`LoginGuard`](auth_core::LoginGuard)) instead of hitting the login API
//!   on every call.
//! * **Logout** calls `/connect/services/logout` and forgets the session. The
//!   path is undocumented: a `404` or `405` from it still returns `Ok` (the
//!   local and stored session are gone) and says so in a `debug` event.
//!
//! ```no_run
//! use ctc_auth::{CtcConfig, CtcProvider, Instance};
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
//! let config = CtcConfig::builder()
//!     .username("api.user@example.com")
//!     .password(SecretString::from("password"))
//!     .app_key(SecretString::from("application-key"))
//!     .instance(Instance::Us)
//!     .build()?;
//! let provider = CtcProvider::new(config);
//! let url = provider.endpoint("connect/results/events/device/123/avl/latest")?;
//! let client = provider.into_client()?;
//! let response = client.send(client.http().client().get(url)).await?;
//! println!("HTTP {}", response.status());
//! client.logout().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod protocol;

use std::time::Duration;

use async_trait::async_trait;
use auth_core::http::{excerpt, looks_like_html, parse_json, status_error, unexpected_body};
use auth_core::{AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session};
use chrono::Utc;
use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use config::{CtcConfig, CtcConfigBuilder, EU_BASE_URL, Instance, TokenPlacement, US_BASE_URL};
pub use error::CtcApiError;
pub use protocol::{AUTH_TOKEN_COOKIE, CtcLogin};

/// Provider name used in errors and traces.
pub const PROVIDER: &str = "ctc";
/// Header carrying the application key.
pub const APP_KEY_HEADER: &str = "calamp-services-app";
/// `Accept` value sent with every call, as CTC's documentation shows.
pub const ACCEPT_JSON: &str = "application/json;charset=UTF-8";
/// Path of the login endpoint, relative to the instance's base URL.
pub const LOGIN_PATH: &str = "connect/services/login?useAuthToken=true";
/// Path of the logout endpoint, relative to the instance's base URL.
pub const LOGOUT_PATH: &str = "connect/services/logout";

/// An authenticated CTC client.
pub type CtcClient = Authenticated<CtcProvider>;

/// The CTC [`Provider`]: logs in, puts the token on calls, logs out.
#[derive(Debug)]
pub struct CtcProvider {
    config: CtcConfig,
}

impl CtcProvider {
    /// A provider for the configured account.
    pub fn new(config: CtcConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &CtcConfig {
        &self.config
    }

    /// A URL on the configured instance, e.g.
    /// `endpoint("connect/results/events/device/123/avl/latest")`. A leading
    /// `/` is ignored, so paths stay below a custom base URL's path; a path
    /// that would leave it (`../`, `//host`, an absolute URL, encoded dots)
    /// is an error.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        auth_core::http::endpoint(PROVIDER, &self.config.base_url, path)
    }

    /// An [`Authenticated`] client with default settings.
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
        let secrets = self.secrets();
        let cookie = protocol::auth_token_cookie(headers);
        let mut user = login_summary(status, body, cookie.is_some(), &secrets)?;
        let Some((token, cookie_expires)) = cookie else {
            return Err(AuthError::UnexpectedResponse {
                provider: PROVIDER,
                status: Some(status.as_u16()),
                detail: format!(
                    "the login succeeded but set no {AUTH_TOKEN_COOKIE} cookie (is ?useAuthToken=true reaching the server, or is a proxy stripping Set-Cookie?)"
                ),
            });
        };
        if HeaderValue::from_str(&format!("{AUTH_TOKEN_COOKIE}={token}")).is_err() {
            return Err(AuthError::UnexpectedResponse {
                provider: PROVIDER,
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
            &[&self.config.password, &self.config.app_key, &token_secret],
        );
        if dropped > 0 {
            tracing::debug!(
                provider = PROVIDER,
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
                    provider = PROVIDER,
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

    fn secrets(&self) -> [&SecretString; 2] {
        [&self.config.password, &self.config.app_key]
    }

    /// The `calamp-services-app` and `Accept` headers every CTC request carries.
    fn base_headers(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .header(APP_KEY_HEADER, self.config.app_key_header.clone())
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

    /// Maps a non-success login or logout answer to a typed error.
    fn error_for(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AuthError {
        let secrets = self.secrets();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return status_error(PROVIDER, status, headers, body, &secrets);
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
                provider: PROVIDER,
                message,
                source: Some(std::sync::Arc::new(typed)),
            };
        }
        match fields {
            Some((code, message)) => {
                let typed = CtcApiError {
                    status: status.as_u16(),
                    code: code.clone(),
                    message: message.clone(),
                };
                AuthError::Api {
                    provider: PROVIDER,
                    code: code.unwrap_or_else(|| status.as_u16().to_string()),
                    message,
                    retryable: status.is_server_error(),
                    source: Some(std::sync::Arc::new(typed)),
                }
            }
            None => status_error(PROVIDER, status, headers, body, &secrets),
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
            provider = PROVIDER,
            bytes = body.len(),
            "the login body is not JSON; only the authToken cookie is documented, so it is ignored"
        );
        return Ok(serde_json::Value::Null);
    }
    if looks_like_html(body) {
        return Err(unexpected_body(
            PROVIDER,
            status,
            body,
            "a JSON login summary",
            secrets,
        ));
    }
    parse_json::<serde_json::Value>(PROVIDER, status, body, "a JSON login summary", secrets)
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
            provider = PROVIDER,
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
        PROVIDER
    }

    fn cache_key(&self) -> String {
        format!(
            "{PROVIDER}:{}:{}",
            self.config.base_url, self.config.username
        )
    }

    fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<CtcLogin>, AuthError> {
        let url = self.endpoint(LOGIN_PATH)?;
        let form = [
            ("username", self.config.username.as_str()),
            ("password", self.config.password.expose_secret()),
        ];
        let request = self.base_headers(http.client().post(url)).form(&form);
        let response = http.send(PROVIDER, request).await?;
        let headers = response.headers().clone();
        let (status, body) = http.read_body(PROVIDER, response).await?;
        self.parse_login_response(status, &headers, &body)
    }

    async fn logout(
        &self,
        http: &HttpClient,
        session: &Session<CtcLogin>,
    ) -> Result<(), AuthError> {
        let url = self.endpoint(LOGOUT_PATH)?;
        let request = self.with_token(session.token(), self.base_headers(http.client().post(url)));
        let response = http.send(PROVIDER, request).await?;
        let headers = response.headers().clone();
        let (status, body) = http.read_body(PROVIDER, response).await?;
        // 401: the token is already invalid, which is what logout wants.
        if status.is_success() || status == StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        if logout_path_missing(status) {
            return Ok(());
        }
        Err(self.error_for(status, &headers, &body))
    }

    fn authorize(&self, session: &Session<CtcLogin>, request: RequestBuilder) -> RequestBuilder {
        self.with_token(session.token(), self.base_headers(request))
    }
}
