//! Configuration: [`Cielo24Builder`] validates everything at
//! [`build`](Cielo24Builder::build).

use std::time::Duration;

use auth_core::AuthError;
use auth_core::http::check_base_url;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::Cielo24Provider;

/// Production API host.
pub const PRODUCTION_URL: &str = "https://api.cielo24.com";
/// Sandbox API host.
pub const SANDBOX_URL: &str = "https://sandbox.cielo24.com";
/// The API version this crate speaks.
pub const DEFAULT_API_VERSION: u32 = 1;
/// cielo24 tokens die after this long without a call.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Where the login call carries the username and secret.
///
/// The default is [`Headers`](Self::Headers): with
/// [`Query`](Self::Query) the password or secure key becomes part of the
/// URL, and URLs end up in web-server access logs, proxy logs and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum CredentialPlacement {
    /// `x-auth-user` plus `x-auth-password` (or `x-auth-key`, see
    /// [`PasswordHeader`]) or `x-auth-securekey` headers. Default.
    #[default]
    Headers,
    /// `username` plus `password` or `securekey` query parameters.
    Query,
}

/// Which header carries a password when credentials go in headers.
///
/// `x-auth-password` is what the login page's parameter table (the seed),
/// the vendor's Docs repo (cielo24/Docs) and all five official SDKs
/// (Cielo24/SampleCode: .NET, Java, PHP, Python, Ruby) use. Only one example
/// request on the login page shows `x-auth-key`; it is offered for servers
/// that expect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub enum PasswordHeader {
    /// `x-auth-password`, as the parameter table and the SDKs use. Default.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "x-auth-password"))]
    XAuthPassword,
    /// `x-auth-key`, as one example request on the login page shows.
    #[cfg_attr(feature = "serde", serde(rename = "x-auth-key"))]
    XAuthKey,
}

/// How the login call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoginMethod {
    /// `GET {base}/api/account/login?v=1` with the credentials where
    /// [`CredentialPlacement`] puts them (the seed, the Docs repo and the
    /// SDKs). Default.
    #[default]
    Get,
    /// `POST {base}/api/account/login?v=1` with the JSON body
    /// `{"username":..,"password":..}` (or `"securekey"`), as the vendor's
    /// newer OpenAPI description (cielo24/cielo24-openapi) and the SDKs
    /// generated from it do. [`CredentialPlacement`] does not apply: the
    /// credentials are in the body, never in the URL.
    PostJson,
}

impl PasswordHeader {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::XAuthPassword => "x-auth-password",
            Self::XAuthKey => "x-auth-key",
        }
    }
}

/// The secret a login uses: the account's password or a secure key (API
/// key). Also what [`rotate_credentials`](auth_core::Authenticated::rotate_credentials)
/// takes on a [`Cielo24Client`](crate::Cielo24Client): a client may move
/// from its password to a secure key, or to a new one
/// ([`Cielo24ClientExt::rotate_api_key`](crate::Cielo24ClientExt::rotate_api_key)
/// does it in one call). `Debug` never shows the secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Cielo24Credential {
    /// The account's password.
    Password(SecretString),
    /// A secure key, as `account/generate_api_key` returns it.
    SecureKey(SecretString),
}

impl Cielo24Credential {
    pub(crate) fn secret(&self) -> &SecretString {
        match self {
            Self::Password(s) | Self::SecureKey(s) => s,
        }
    }

    /// Checks the secret as the builder does.
    pub(crate) fn check(self) -> Result<Self, AuthError> {
        let secret = self.secret().expose_secret();
        if secret.is_empty() {
            return Err(AuthError::config(
                "cielo24: the password or secure key is empty",
            ));
        }
        if secret.chars().any(char::is_control) {
            return Err(AuthError::config(
                "cielo24: the password or secure key contains control characters",
            ));
        }
        if let Self::SecureKey(key) = &self
            && !key
                .expose_secret()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-')
        {
            return Err(AuthError::config(
                "cielo24: a secure key is a hex string (as generate_api_key returns it)",
            ));
        }
        Ok(self)
    }
}

/// Builds a [`Cielo24Provider`].
///
/// ```
/// use cielo24_auth::{Cielo24Provider, CredentialPlacement};
/// use secrecy::SecretString;
///
/// let provider = Cielo24Provider::builder()
///     .username("john_doe")
///     .secure_key(SecretString::from("968a8b637a5040159424872fffdb895b"))
///     .sandbox()
///     .credential_placement(CredentialPlacement::Headers)
///     .build()?;
/// assert_eq!(provider.base_url().as_str(), "https://sandbox.cielo24.com/");
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Cielo24Builder {
    username: Option<String>,
    password: Option<SecretString>,
    secure_key: Option<SecretString>,
    base_url: Option<Url>,
    sandbox: bool,
    api_version: u32,
    placement: CredentialPlacement,
    password_header: PasswordHeader,
    login_method: LoginMethod,
    idle_timeout: Duration,
}

impl Default for Cielo24Builder {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            secure_key: None,
            base_url: None,
            sandbox: false,
            api_version: DEFAULT_API_VERSION,
            placement: CredentialPlacement::default(),
            password_header: PasswordHeader::default(),
            login_method: LoginMethod::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl Cielo24Builder {
    /// The account's username (required).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Log in with the account password. Exactly one of `password` and
    /// [`secure_key`](Self::secure_key) is required.
    pub fn password(mut self, password: impl Into<SecretString>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Log in with a long-term secure key (from `generate_api_key`, see
    /// [`Cielo24ClientExt::generate_api_key`](crate::Cielo24ClientExt::generate_api_key)).
    pub fn secure_key(mut self, secure_key: impl Into<SecretString>) -> Self {
        self.secure_key = Some(secure_key.into());
        self
    }

    /// A custom base URL (a proxy, or the simulator). `https` is required
    /// except for loopback hosts, unless the client's
    /// `HttpSettings::allow_insecure_http` is set. Default:
    /// [`PRODUCTION_URL`].
    pub fn base_url(mut self, url: Url) -> Self {
        self.base_url = Some(url);
        self
    }

    /// Use the sandbox, [`SANDBOX_URL`] (ignored when
    /// [`base_url`](Self::base_url) is set).
    pub fn sandbox(mut self) -> Self {
        self.sandbox = true;
        self
    }

    /// The `v` parameter sent on every call. Default 1 (the only version
    /// cielo24 documents).
    pub fn api_version(mut self, version: u32) -> Self {
        self.api_version = version;
        self
    }

    /// Where the login call carries the credentials. Default
    /// [`CredentialPlacement::Headers`], which keeps secrets out of URLs
    /// (and so out of server and proxy logs).
    pub fn credential_placement(mut self, placement: CredentialPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// Which header carries a password. Default
    /// [`PasswordHeader::XAuthPassword`].
    pub fn password_header(mut self, header: PasswordHeader) -> Self {
        self.password_header = header;
        self
    }

    /// How the login call is made. Default [`LoginMethod::Get`].
    pub fn login_method(mut self, method: LoginMethod) -> Self {
        self.login_method = method;
        self
    }

    /// How long the server keeps an unused token. Default 1 hour.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<Cielo24Provider, AuthError> {
        let username = self
            .username
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| AuthError::config("cielo24: a username is required"))?;
        if username.chars().any(char::is_control) {
            return Err(AuthError::config(
                "cielo24: the username contains control characters",
            ));
        }
        let credential = match (self.password, self.secure_key) {
            (Some(p), None) => Cielo24Credential::Password(p),
            (None, Some(k)) => Cielo24Credential::SecureKey(k),
            (None, None) => {
                return Err(AuthError::config(
                    "cielo24: a password or a secure key is required",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(AuthError::config(
                    "cielo24: configure either a password or a secure key, not both",
                ));
            }
        };
        let credential = credential.check()?;
        if self.api_version == 0 {
            return Err(AuthError::config(
                "cielo24: the API version must be positive",
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(AuthError::config(
                "cielo24: the idle timeout must be positive",
            ));
        }
        let base_url = match self.base_url {
            Some(url) => url,
            None if self.sandbox => Url::parse(SANDBOX_URL).expect("valid constant URL"),
            None => Url::parse(PRODUCTION_URL).expect("valid constant URL"),
        };
        // Scheme and embedded credentials here; plain http to a remote host
        // is the client's transport policy (checked at its build).
        check_base_url(&base_url, true)?;
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(AuthError::config(
                "cielo24: the base URL must not have a query or fragment",
            ));
        }
        Ok(Cielo24Provider {
            username,
            credential: auth_core::SecretCell::new(credential),
            base_url,
            api_version: self.api_version.to_string(),
            placement: self.placement,
            password_header: self.password_header,
            login_method: self.login_method,
            idle_timeout: self.idle_timeout,
        })
    }
}

// ---------------------------------------------------------------- settings (feature `serde`)

/// cielo24 settings (`provider = "cielo24"`).
///
/// | field | type | |
/// |---|---|---|
/// | `username` | string | required |
/// | `password` | secret string | exactly one of `password` and `secure_key` |
/// | `secure_key` | secret string | a long-term key from `generate_api_key` |
/// | `base_url` | URL | default `https://api.cielo24.com` |
/// | `sandbox` | bool | use `https://sandbox.cielo24.com` (when `base_url` is unset) |
/// | `api_version` | integer | default 1 |
/// | `credential_placement` | `"headers"`, `"query"` | default `"headers"` |
/// | `password_header` | `"x-auth-password"`, `"x-auth-key"` | default `"x-auth-password"` |
/// | `idle_timeout_secs` | number | default 3600 |
/// | `allow_insecure_http` | bool | default false |
#[cfg(feature = "serde")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cielo24Settings {
    /// The account's username.
    pub username: String,
    /// The password.
    #[serde(default, deserialize_with = "auth_core::settings::opt_secret")]
    pub password: Option<SecretString>,
    /// A secure key (instead of the password).
    #[serde(default, deserialize_with = "auth_core::settings::opt_secret")]
    pub secure_key: Option<SecretString>,
    /// A custom base URL.
    #[serde(default, deserialize_with = "auth_core::settings::opt_url")]
    pub base_url: Option<Url>,
    /// Use the sandbox.
    #[serde(default)]
    pub sandbox: bool,
    /// The `v` parameter.
    #[serde(default)]
    pub api_version: Option<u32>,
    /// Where the login carries the credentials.
    #[serde(default)]
    pub credential_placement: crate::CredentialPlacement,
    /// Which header carries a password.
    #[serde(default)]
    pub password_header: crate::PasswordHeader,
    /// The server's idle timeout, in seconds.
    #[serde(default)]
    pub idle_timeout_secs: Option<f64>,
    /// Allow plain `http` to a non-loopback base URL.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: auth_core::settings::CommonSettings,
}

#[cfg(feature = "serde")]
impl Cielo24Settings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<crate::Cielo24Provider, AuthError> {
        let mut builder = crate::Cielo24Provider::builder()
            .username(self.username)
            .credential_placement(self.credential_placement)
            .password_header(self.password_header);
        if let Some(p) = self.password {
            builder = builder.password(p);
        }
        if let Some(k) = self.secure_key {
            builder = builder.secure_key(k);
        }
        if let Some(url) = self.base_url {
            builder = builder.base_url(url);
        }
        if self.sandbox {
            builder = builder.sandbox();
        }
        if let Some(v) = self.api_version {
            builder = builder.api_version(v);
        }
        if let Some(d) = auth_core::settings::secs("idle_timeout_secs", self.idle_timeout_secs)? {
            builder = builder.idle_timeout(d);
        }
        builder.build()
    }
}

#[cfg(feature = "serde")]
auth_core::provider_settings!(Cielo24Settings => crate::Cielo24Provider, name = crate::NAME, allow_insecure_http);
