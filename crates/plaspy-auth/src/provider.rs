//! [`PlaspyProvider`]: the Plaspy token call and bearer authorization as
//! an auth-core [`Provider`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::http::{excerpt, looks_like_html, parse_json, status_error, unexpected_body};
use auth_core::rotation::{RotateCredentials, credential_material};
use auth_core::{AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session};
use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use url::Url;

use crate::config::{PlaspyConfig, check_api_key};
use crate::protocol::{self, ExpirySource, PlaspyLogin, TokenRequest, TokenResponse};
use crate::{NAME, PlaspyApiError, PlaspyBuilder, PlaspyClient, TOKEN_PATH};

/// An `expires` this close to now (or in the past) is not trusted: the clocks
/// disagree, and the default lifetime is used instead.
const SKEW_ALLOWANCE: Duration = Duration::from_secs(2);

/// The Plaspy [`Provider`].
#[derive(Debug, Clone)]
pub struct PlaspyProvider {
    pub(crate) config: PlaspyConfig,
}

impl PlaspyProvider {
    /// A builder: user name, API key, base URL, default lifetime.
    pub fn builder() -> PlaspyBuilder {
        PlaspyBuilder::default()
    }

    pub(crate) fn from_config(config: PlaspyConfig) -> Self {
        Self { config }
    }

    /// The user name.
    pub fn user_name(&self) -> &str {
        &self.config.user_name
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// Lifetime assumed when the server states none.
    pub fn default_lifetime(&self) -> Duration {
        self.config.default_lifetime
    }

    /// A URL below the base URL, e.g. `endpoint("api/devices")`. A leading
    /// `/` is ignored; a path that would leave the base URL (`../`,
    /// `//host`, an absolute URL, encoded dots) is an error.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        auth_core::http::endpoint(NAME, &self.config.base_url, path)
    }

    /// A client with default settings; [`Authenticated::builder`] for
    /// more (a shared store, HTTP settings ...).
    pub fn into_client(self) -> Result<PlaspyClient, AuthError> {
        Authenticated::new(self)
    }

    /// Interprets the answer of `POST /api/Auth/Token` (status, headers and
    /// body as read, with the body cap applied): the token and its expiry
    /// (`expires`, else the JWT's `exp`, else the default lifetime), or a
    /// typed error. This is exactly what [`Provider::login`] does after the
    /// HTTP exchange; it is public so that fuzzing and tests can drive the
    /// parser with arbitrary input. It never panics and never puts the API
    /// key or token into an error.
    pub fn parse_login_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<NewSession<PlaspyLogin>, AuthError> {
        let api_key = self.config.api_key.current();
        let secrets = [&*api_key];
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(status_error(NAME, status, headers, body, &secrets));
        }
        if looks_like_html(body) {
            return Err(if status.is_success() {
                unexpected_body(NAME, status, body, "a JSON token answer", &secrets)
            } else {
                status_error(NAME, status, headers, body, &secrets)
            });
        }
        let answer: TokenResponse = match serde_json::from_slice(body) {
            Ok(answer) => answer,
            Err(_) if !status.is_success() => {
                return Err(status_error(NAME, status, headers, body, &secrets));
            }
            Err(_) => {
                return Err(parse_json::<TokenResponse>(
                    NAME,
                    status,
                    body,
                    "a JSON token answer",
                    &secrets,
                )
                .err()
                .unwrap_or_else(|| {
                    unexpected_body(NAME, status, body, "a JSON token answer", &secrets)
                }));
            }
        };
        match answer.success {
            Some(false) => return Err(self.failure(status, answer.error.as_deref())),
            Some(true) if status.is_success() => {}
            Some(true) | None if !status.is_success() => {
                return Err(match answer.title.as_deref().or(answer.error.as_deref()) {
                    Some(title) => self.failure(status, Some(title)),
                    None => status_error(NAME, status, headers, body, &secrets),
                });
            }
            _ => {
                return Err(unexpected_body(
                    NAME,
                    status,
                    body,
                    "a token answer with a success property",
                    &secrets,
                ));
            }
        }
        let token = answer
            .token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: "the token answer says success but carries no token".to_owned(),
            })?;
        if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: "the token holds characters that cannot be sent in an Authorization header"
                    .to_owned(),
            });
        }
        // A reply field that echoes the key or the token is dropped before
        // anything reads (or logs) it.
        let token_secret = SecretString::from(token.clone());
        let expires = answer
            .expires
            .filter(|text| !auth_core::http::echoes_secret(text, &[&*api_key, &token_secret]));
        // `expires` and the JWT's `exp` are on the server's clock.
        let server_date = auth_core::http::server_date(headers);
        let login = self.expiry_of(&token, expires.as_deref(), server_date);
        Ok(
            NewSession::new(SecretString::from(token), Expiry::At(login.expires), login)
                .with_server_date(server_date),
        )
    }

    /// A `{"success":false}` answer (or a problem-details one) as an error.
    fn failure(&self, status: StatusCode, text: Option<&str>) -> AuthError {
        let message = match text {
            Some(t) if !t.trim().is_empty() => {
                excerpt(t.as_bytes(), &[&*self.config.api_key.current()])
            }
            _ => "the server gave no reason".to_owned(),
        };
        let typed = Arc::new(PlaspyApiError {
            status: status.as_u16(),
            message: message.clone(),
        });
        if status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
            || is_about_credentials(&message)
        {
            AuthError::InvalidCredentials {
                provider: NAME,
                message,
                source: Some(typed),
            }
        } else {
            AuthError::Api {
                provider: NAME,
                code: status.as_u16().to_string(),
                message,
                retryable: status.is_server_error(),
                source: Some(typed),
            }
        }
    }

    /// `now` plus the configured default lifetime, saturating at the latest
    /// representable time (a huge configured lifetime must not panic).
    fn default_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.config.default_lifetime)
            .ok()
            .and_then(|lifetime| now.checked_add_signed(lifetime))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn expiry_of(
        &self,
        token: &str,
        expires: Option<&str>,
        server_date: Option<DateTime<Utc>>,
    ) -> PlaspyLogin {
        let now = server_date.unwrap_or_else(Utc::now);
        let stated = expires.and_then(|text| {
            let parsed = protocol::parse_expires(text);
            if parsed.is_none() {
                tracing::warn!(
                    provider = NAME,
                    expires = text,
                    "unreadable expires; trying the token's exp claim"
                );
            }
            parsed
        });
        let (at, source) = match stated {
            Some(at) => (at, ExpirySource::Expires),
            None => match protocol::jwt_exp(token) {
                Some(at) => (at, ExpirySource::JwtExp),
                None => (self.default_expiry(now), ExpirySource::DefaultLifetime),
            },
        };
        if at <= now + SKEW_ALLOWANCE {
            tracing::warn!(provider = NAME, expires = %at, "the token expires in the past or right now (clock skew?); assuming the default lifetime");
            return PlaspyLogin {
                expires: self.default_expiry(now),
                expiry_source: ExpirySource::DefaultLifetime,
            };
        }
        PlaspyLogin {
            expires: at,
            expiry_source: source,
        }
    }
}

/// Whether a failure text is about the user name or key (as the documented
/// `Invalid API key or username.` is).
fn is_about_credentials(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "api key",
        "apikey",
        "username",
        "user name",
        "password",
        "credential",
        "unauthorized",
    ]
    .iter()
    .any(|k| m.contains(k))
}

#[async_trait]
impl Provider for PlaspyProvider {
    type Data = PlaspyLogin;

    fn name(&self) -> &'static str {
        NAME
    }

    fn cache_key(&self) -> String {
        format!("{NAME}:{}:{}", self.config.base_url, self.config.user_name)
    }

    fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<PlaspyLogin>, AuthError> {
        let url = self.endpoint(TOKEN_PATH)?;
        let api_key = self.config.api_key.current();
        let body = TokenRequest {
            user_name: &self.config.user_name,
            api_key: api_key.expose_secret(),
        };
        let request = http
            .client()
            .post(url)
            .header(ACCEPT, "application/json")
            .json(&body);
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
        self.parse_login_response(status, &headers, &body)
    }

    // No logout endpoint: the default `logout` (a no-op on the server) lets
    // `Authenticated::logout` forget the cached and stored session.

    fn authorize(&self, session: &Session<PlaspyLogin>, request: RequestBuilder) -> RequestBuilder {
        match HeaderValue::from_str(&format!("Bearer {}", session.token().expose_secret())) {
            Ok(mut value) => {
                value.set_sensitive(true);
                request.header(AUTHORIZATION, value)
            }
            // Checked at login; never installed. Sending without it yields a
            // 401, never a panic.
            Err(_) => request,
        }
    }

    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        Some(credential_material(&[&*self.config.api_key.current()]))
    }
}

impl RotateCredentials for PlaspyProvider {
    /// The new API key; the user name identifies the account and is never
    /// rotated.
    type Secrets = SecretString;

    fn replace_secrets(&self, api_key: SecretString) -> Result<(), AuthError> {
        self.config.api_key.replace(check_api_key(Some(api_key))?);
        Ok(())
    }

    fn current_secrets(&self) -> SecretString {
        (*self.config.api_key.current()).clone()
    }
}
