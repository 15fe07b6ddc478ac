//! [`Cielo24Provider`]: the cielo24 login, logout and `api_token`
//! placement as an auth-core [`Provider`].

use std::time::Duration;

use auth_core::http::{excerpt, looks_like_html, status_error, unexpected_body};
use auth_core::reqwest::header::HeaderValue;
use auth_core::reqwest::{RequestBuilder, StatusCode};
use auth_core::rotation::{RotateCredentials, credential_material};
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, SecretCell, Session,
    async_trait,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

use crate::config::{
    Cielo24Builder, Cielo24Credential, CredentialPlacement, LoginMethod, PasswordHeader,
};
use crate::protocol::{self, LoginResponse, TOKEN_PARAM, VERSION_PARAM};
use crate::{Cielo24Client, ErrorType, NAME};

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
    pub(crate) username: String,
    /// The secret: replaced by a credential rotation.
    pub(crate) credential: SecretCell<Cielo24Credential>,
    pub(crate) base_url: Url,
    pub(crate) api_version: String,
    pub(crate) placement: CredentialPlacement,
    pub(crate) password_header: PasswordHeader,
    pub(crate) login_method: LoginMethod,
    pub(crate) idle_timeout: Duration,
}

impl Cielo24Provider {
    /// A builder; see [`Cielo24Builder`].
    pub fn builder() -> Cielo24Builder {
        Cielo24Builder::default()
    }

    /// A client with default settings; [`Authenticated::builder`] for
    /// more (a shared store, HTTP settings ...).
    pub fn into_client(self) -> Result<Cielo24Client, AuthError> {
        Authenticated::new(self)
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

    /// The current credential (a login holds on to one for its duration).
    pub(crate) fn credential(&self) -> Arc<Cielo24Credential> {
        self.credential.current()
    }

    /// Maps a non-success reply of any call. `at_login` turns the
    /// credential errors into [`AuthError::InvalidCredentials`].
    pub(crate) fn error_from(
        &self,
        status: StatusCode,
        headers: &auth_core::reqwest::header::HeaderMap,
        body: &[u8],
        at_login: bool,
    ) -> AuthError {
        if status == StatusCode::BAD_REQUEST {
            if let Some(mut e) = protocol::parse_error(body) {
                e.comment = excerpt(e.comment.as_bytes(), &[self.credential().secret()]);
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
                &[self.credential().secret()],
            );
        }
        if at_login && status == StatusCode::UNAUTHORIZED {
            return AuthError::InvalidCredentials {
                provider: NAME,
                message: "HTTP 401".to_owned(),
                source: None,
            };
        }
        status_error(NAME, status, headers, body, &[self.credential().secret()])
    }
}

/// Describes a success body that could not be parsed, without quoting it
/// (it may hold a token or key).
pub(crate) fn unparsable_success(status: StatusCode, body: &[u8], what: &str) -> AuthError {
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
        let credential = self.credential();
        let secret = credential.secret().expose_secret();
        let body = match *credential {
            Cielo24Credential::Password(_) => protocol::LoginBody {
                username: &self.username,
                password: Some(secret),
                securekey: None,
            },
            Cielo24Credential::SecureKey(_) => protocol::LoginBody {
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
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
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
        let credential = self.credential();
        let secret = credential.secret().expose_secret();
        request = match self.placement {
            CredentialPlacement::Headers => {
                let name = match *credential {
                    Cielo24Credential::Password(_) => self.password_header.name(),
                    Cielo24Credential::SecureKey(_) => "x-auth-securekey",
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
                let name = match *credential {
                    Cielo24Credential::Password(_) => "password",
                    Cielo24Credential::SecureKey(_) => "securekey",
                };
                request.query(&[("username", self.username.as_str()), (name, secret)])
            }
        };
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
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
        let (status, headers, body) = http.exchange(NAME, request).await?.into_parts();
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

    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        let credential = self.credential();
        // The kind is part of it: a password and a key with the same text
        // are two different secrets.
        let kind = SecretString::from(match *credential {
            Cielo24Credential::Password(_) => "password",
            Cielo24Credential::SecureKey(_) => "securekey",
        });
        Some(credential_material(&[&kind, credential.secret()]))
    }
}

impl RotateCredentials for Cielo24Provider {
    /// The new password or secure key; the user name identifies the account
    /// and is never rotated.
    type Secrets = Cielo24Credential;

    fn replace_secrets(&self, credential: Cielo24Credential) -> Result<(), AuthError> {
        self.credential.replace(credential.check()?);
        Ok(())
    }

    fn current_secrets(&self) -> Cielo24Credential {
        (*self.credential.current()).clone()
    }
}
