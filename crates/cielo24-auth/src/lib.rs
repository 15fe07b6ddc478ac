//! # cielo24-auth
//!
//! Authentication for the [cielo24](https://cielo24.com) API: `account/login`
//! with a password or a long-term secure key, an API token that lives until
//! it has been unused for an hour, typed errors, logout, and
//! `generate_api_key` to switch from password to key login.
//!
//! Build a [`Cielo24Provider`] and hand it to
//! [`Authenticated`] (aliased [`Cielo24Client`]):
//! it logs in once, shares one login among concurrent callers, adds `v` and
//! `api_token` to your requests, and logs in again when cielo24 answers
//! `BAD_API_TOKEN`.
//!
//! ```no_run
//! use auth_core::Authenticated;
//! use cielo24_auth::{Cielo24ClientExt, Cielo24Provider};
//! use secrecy::SecretString;
//!
//! # async fn demo() -> Result<(), auth_core::AuthError> {
//! let provider = Cielo24Provider::builder()
//!     .username("john_doe")
//!     .password(SecretString::from(std::env::var("CIELO24_PASSWORD").unwrap_or_default()))
//!     .sandbox()
//!     .build()?;
//! let client = Authenticated::new(provider)?;
//! // `v` and `api_token` are added by the client.
//! let jobs = client.get_json("api/job/list", &[]).await?;
//! println!("{} active jobs", jobs["ActiveJobs"].as_array().map_or(0, Vec::len));
//! // A secure key, to log in without the password from now on.
//! let key = client.generate_api_key(false).await?;
//! # drop(key);
//! client.logout().await?;
//! # Ok(()) }
//! ```
//!
//! ## Protocol
//!
//! * Login: `GET {base}/api/account/login?v=1`, credentials in the
//!   `x-auth-user` and `x-auth-password` / `x-auth-securekey` headers
//!   (default, see [`CredentialPlacement`]) or as `username`, `password` /
//!   `securekey` query parameters; or, as an option ([`LoginMethod::PostJson`],
//!   the vendor's OpenAPI description), `POST` with a JSON body. The reply is
//!   `{"ApiToken": "<hex>"}` or `{"api_token": "<hex>"}`; both are read.
//! * Errors: HTTP 400 `{"ErrorType": .., "ErrorComment": ..}`, mapped to
//!   [`AuthError`] with a [`Cielo24Error`] source:
//!   `LOGIN_INVALID` (and `ACCOUNT_UNPRIVILEGED` at login, which cielo24
//!   answers for an invalid secure key) become
//!   [`AuthError::InvalidCredentials`],
//!   the others [`AuthError::Api`].
//! * Later calls: `v` and `api_token` query parameters. A `v` already in the
//!   caller's URL is kept (not sent twice); an `api_token` already there is
//!   replaced. `BAD_API_TOKEN` (HTTP 400) or HTTP 401 means "log in again".
//! * Expiry: [`Expiry::Idle`] of one hour; every
//!   accepted call slides it.
//! * Logout: `GET {base}/api/account/logout?v=1&api_token=..` (204).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
pub mod protocol;

use std::time::Duration;

use auth_core::http::{excerpt, looks_like_html, status_error, unexpected_body};
use auth_core::reqwest::header::HeaderValue;
use auth_core::reqwest::{RequestBuilder, Response, StatusCode};
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session, async_trait,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

pub use config::{
    Cielo24Builder, CredentialPlacement, DEFAULT_API_VERSION, DEFAULT_IDLE_TIMEOUT, LoginMethod,
    PRODUCTION_URL, PasswordHeader, SANDBOX_URL,
};
pub use error::{Cielo24Error, ErrorType};

use config::Credential;
use protocol::{ApiKeyResponse, LoginResponse, TOKEN_PARAM, VERSION_PARAM};

const NAME: &str = "cielo24";

/// An authenticated cielo24 client.
pub type Cielo24Client = Authenticated<Cielo24Provider>;

/// What a cielo24 login yields besides the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cielo24Session {
    /// The account that logged in.
    pub username: String,
}

/// The cielo24 [`Provider`]: how to log in and out, and how to authorize
/// requests. Build it with [`Cielo24Provider::builder`].
///
/// `Debug` never shows the password or secure key.
#[derive(Debug, Clone)]
pub struct Cielo24Provider {
    username: String,
    credential: Credential,
    base_url: Url,
    api_version: String,
    placement: CredentialPlacement,
    password_header: PasswordHeader,
    login_method: LoginMethod,
    idle_timeout: Duration,
}

impl Cielo24Provider {
    /// A builder; see [`Cielo24Builder`].
    pub fn builder() -> Cielo24Builder {
        Cielo24Builder::default()
    }

    /// The base URL (scheme and host, maybe a path prefix).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The configured username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The `v` parameter sent on every call.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The URL of an API path such as `"api/job/list"` (relative to the base
    /// URL, which may carry a path prefix). A path that would leave the base
    /// URL (`../`, `//host`, an absolute URL, encoded dots) is an error.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        auth_core::http::endpoint(NAME, &self.base_url, path)
    }

    /// Interprets the answer of `account/login` (status, headers and body as
    /// read, with the body cap applied): the `ApiToken` of a success, or a
    /// typed error for cielo24's `{"ErrorType":..,"ErrorComment":..}` format
    /// and for anything else. This is exactly what [`Provider::login`] does
    /// after the HTTP exchange; it is public so that fuzzing and tests can
    /// drive the parser with arbitrary input. It never panics and never puts
    /// the password, secure key or token into an error.
    pub fn parse_login_response(
        &self,
        status: StatusCode,
        headers: &auth_core::reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<NewSession<Cielo24Session>, AuthError> {
        if !status.is_success() {
            return Err(self.error_from(status, headers, body, true));
        }
        let reply: LoginResponse = serde_json::from_slice(body)
            .ok()
            .filter(LoginResponse::has_token)
            .ok_or_else(|| {
                unparsable_success(
                    status,
                    body,
                    "{\"ApiToken\": \"<hex>\"} or {\"api_token\": \"<hex>\"}",
                )
            })?;
        let token = reply.token().trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: "the login reply has an empty or malformed ApiToken".to_owned(),
            });
        }
        Ok(NewSession::new(
            SecretString::from(token.to_owned()),
            Expiry::Idle(self.idle_timeout),
            Cielo24Session {
                username: self.username.clone(),
            },
        ))
    }

    fn secrets(&self) -> [&SecretString; 1] {
        [self.credential.secret()]
    }

    /// Maps a non-success reply of any call. `at_login` turns the
    /// credential errors into [`AuthError::InvalidCredentials`].
    fn error_from(
        &self,
        status: StatusCode,
        headers: &auth_core::reqwest::header::HeaderMap,
        body: &[u8],
        at_login: bool,
    ) -> AuthError {
        if status == StatusCode::BAD_REQUEST {
            if let Some(mut e) = protocol::parse_error(body) {
                e.comment = excerpt(e.comment.as_bytes(), &self.secrets());
                let message = e.comment.clone();
                let credential_error = matches!(
                    e.error_type,
                    ErrorType::LoginInvalid | ErrorType::AccountUnprivileged
                );
                if at_login && credential_error {
                    return AuthError::InvalidCredentials {
                        provider: NAME,
                        message: format!("{}: {message}", e.error_type),
                        source: Some(Arc::new(e)),
                    };
                }
                return AuthError::Api {
                    provider: NAME,
                    code: e.error_type.as_str().to_owned(),
                    message,
                    retryable: e.error_type.is_retryable(),
                    source: Some(Arc::new(e)),
                };
            }
            return unexpected_body(
                NAME,
                status,
                body,
                "a cielo24 error reply {\"ErrorType\":..,\"ErrorComment\":..}",
                &self.secrets(),
            );
        }
        if at_login && status == StatusCode::UNAUTHORIZED {
            return AuthError::InvalidCredentials {
                provider: NAME,
                message: "HTTP 401".to_owned(),
                source: None,
            };
        }
        status_error(NAME, status, headers, body, &self.secrets())
    }
}

/// Describes a success body that could not be parsed, without quoting it
/// (it may hold a token or key).
fn unparsable_success(status: StatusCode, body: &[u8], what: &str) -> AuthError {
    let got = if looks_like_html(body) {
        "an HTML page".to_owned()
    } else if body.is_empty() {
        "an empty body".to_owned()
    } else if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
        "JSON of another shape".to_owned()
    } else {
        format!("{} bytes that are not valid JSON", body.len())
    };
    AuthError::UnexpectedResponse {
        provider: NAME,
        status: Some(status.as_u16()),
        detail: format!("expected {what}, got {got}"),
    }
}

impl Cielo24Provider {
    /// The `POST` form of the login (cielo24/cielo24-openapi, `cielo24.yml`,
    /// `paths./account/login.post`): `POST {base}/api/account/login?v=1` with
    /// the JSON body `{"username":..,"password":..}` or
    /// `{"username":..,"securekey":..}`; the reply is read as for `GET`.
    async fn login_post(&self, http: &HttpClient) -> Result<NewSession<Cielo24Session>, AuthError> {
        let secret = self.credential.secret().expose_secret();
        let body = match self.credential {
            Credential::Password(_) => protocol::LoginBody {
                username: &self.username,
                password: Some(secret),
                securekey: None,
            },
            Credential::SecureKey(_) => protocol::LoginBody {
                username: &self.username,
                password: None,
                securekey: Some(secret),
            },
        };
        let request = http
            .client()
            .post(self.endpoint(protocol::LOGIN_PATH)?)
            .query(&[(VERSION_PARAM, self.api_version.as_str())])
            .header(
                auth_core::reqwest::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            )
            .json(&body);
        let response = http.send(NAME, request).await?;
        let headers = response.headers().clone();
        let (status, body) = http.read_body(NAME, response).await?;
        let new = self.parse_login_response(status, &headers, &body)?;
        tracing::debug!(username = %self.username, "cielo24 login (POST) succeeded");
        Ok(new)
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, AuthError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| AuthError::config("cielo24: a credential is not a valid header value"))?;
    v.set_sensitive(true);
    Ok(v)
}

#[async_trait]
impl Provider for Cielo24Provider {
    type Data = Cielo24Session;

    fn name(&self) -> &'static str {
        NAME
    }

    fn cache_key(&self) -> String {
        format!("{NAME}:{}:{}", self.base_url, self.username)
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    async fn login(&self, http: &HttpClient) -> Result<NewSession<Cielo24Session>, AuthError> {
        if self.login_method == LoginMethod::PostJson {
            return self.login_post(http).await;
        }
        let mut request = http
            .client()
            .get(self.endpoint(protocol::LOGIN_PATH)?)
            .query(&[(VERSION_PARAM, self.api_version.as_str())]);
        let secret = self.credential.secret().expose_secret();
        request = match self.placement {
            CredentialPlacement::Headers => {
                let name = match self.credential {
                    Credential::Password(_) => self.password_header.name(),
                    Credential::SecureKey(_) => "x-auth-securekey",
                };
                request
                    .header(
                        "x-auth-user",
                        HeaderValue::from_str(&self.username).map_err(|_| {
                            AuthError::config("cielo24: the username is not a valid header value")
                        })?,
                    )
                    .header(name, sensitive(secret)?)
            }
            CredentialPlacement::Query => {
                let name = match self.credential {
                    Credential::Password(_) => "password",
                    Credential::SecureKey(_) => "securekey",
                };
                request.query(&[("username", self.username.as_str()), (name, secret)])
            }
        };
        let response = http.send(NAME, request).await?;
        let headers = response.headers().clone();
        let (status, body) = http.read_body(NAME, response).await?;
        let new = self.parse_login_response(status, &headers, &body)?;
        tracing::debug!(username = %self.username, "cielo24 login succeeded");
        Ok(new)
    }

    async fn logout(
        &self,
        http: &HttpClient,
        session: &Session<Cielo24Session>,
    ) -> Result<(), AuthError> {
        let request = self.authorize(
            session,
            http.client().get(self.endpoint(protocol::LOGOUT_PATH)?),
        );
        let response = http.send(NAME, request).await?;
        let headers = response.headers().clone();
        let (status, body) = http.read_body(NAME, response).await?;
        if status.is_success() {
            return Ok(());
        }
        if self.is_rejected(status, &body) {
            // The token is gone already: that is what logout wanted.
            return Ok(());
        }
        Err(self.error_from(status, &headers, &body, false))
    }

    fn authorize(
        &self,
        session: &Session<Cielo24Session>,
        request: RequestBuilder,
    ) -> RequestBuilder {
        let token = session.token().expose_secret();
        // Inspect a clone: a builder holding an error (or a streamed body)
        // cannot be taken apart without losing it, so it gets the parameters
        // appended as before and reports its own error when sent.
        let Some(probe) = request.try_clone() else {
            return request.query(&[
                (VERSION_PARAM, self.api_version.as_str()),
                (TOKEN_PARAM, token),
            ]);
        };
        let (client, built) = probe.build_split();
        match built {
            Ok(mut built) => {
                protocol::set_auth_query(built.url_mut(), &self.api_version, token);
                RequestBuilder::from_parts(client, built)
            }
            Err(_) => request.query(&[
                (VERSION_PARAM, self.api_version.as_str()),
                (TOKEN_PARAM, token),
            ]),
        }
    }

    fn rejection_needs_body(&self, status: StatusCode) -> bool {
        status == StatusCode::BAD_REQUEST
    }

    fn is_rejected(&self, status: StatusCode, body: &[u8]) -> bool {
        status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::BAD_REQUEST
                && protocol::parse_error(body)
                    .is_some_and(|e| e.error_type == ErrorType::BadApiToken))
    }
}

/// cielo24 calls on a [`Cielo24Client`].
#[async_trait]
pub trait Cielo24ClientExt {
    /// `GET {base}/{path}` with `query` (the client adds `v` and
    /// `api_token`), re-logging in on `BAD_API_TOKEN`, and parses the JSON
    /// reply. Error replies become [`AuthError::Api`] with a
    /// [`Cielo24Error`] source.
    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, AuthError>;

    /// `account/generate_api_key`: a long-term secure key for this account,
    /// usable with [`Cielo24Builder::secure_key`] instead of the password.
    /// Without `force_new`, cielo24 returns the existing key if there is one.
    async fn generate_api_key(&self, force_new: bool) -> Result<SecretString, AuthError>;
}

async fn read_reply(
    client: &Cielo24Client,
    response: Response,
) -> Result<(StatusCode, bytes::Bytes), AuthError> {
    let headers = response.headers().clone();
    let (status, body) =
        auth_core::http::read_body_capped(NAME, response, client.http().settings().max_api_body)
            .await?;
    if !status.is_success() {
        return Err(client.provider().error_from(status, &headers, &body, false));
    }
    Ok((status, body))
}

#[async_trait]
impl Cielo24ClientExt for Cielo24Client {
    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, AuthError> {
        let request = self
            .http()
            .client()
            .get(self.provider().endpoint(path)?)
            .query(query);
        let response = self.send(request).await?;
        let (status, body) = read_reply(self, response).await?;
        serde_json::from_slice(&body).map_err(|_| {
            unexpected_body(
                NAME,
                status,
                &body,
                "a JSON reply",
                &self.provider().secrets(),
            )
        })
    }

    async fn generate_api_key(&self, force_new: bool) -> Result<SecretString, AuthError> {
        let provider = self.provider();
        let request = self
            .http()
            .client()
            .get(provider.endpoint(protocol::GENERATE_API_KEY_PATH)?)
            .query(&[
                ("account_id", provider.username()),
                ("force_new", if force_new { "true" } else { "false" }),
            ]);
        // A key-management call: through our own client, whatever client
        // the application supplied.
        let response = self.send_credentials(request).await?;
        let (status, body) = read_reply(self, response).await?;
        let reply: ApiKeyResponse = serde_json::from_slice(&body)
            .map_err(|_| unparsable_success(status, &body, "{\"ApiKey\": \"<hex>\"}"))?;
        if reply.api_key.trim().is_empty() {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: "the generate_api_key reply has an empty ApiKey".to_owned(),
            });
        }
        Ok(SecretString::from(reply.api_key.trim().to_owned()))
    }
}
