//! Client configuration: user name, API key, base URL, default lifetime.

use std::fmt;
use std::time::Duration;

use auth_core::{AuthError, SecretCell};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The documented base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.plaspy.com";

/// Lifetime assumed for a token whose answer has neither a usable `expires`
/// nor a JWT `exp` claim, unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Validated configuration of a [`PlaspyProvider`](crate::PlaspyProvider).
///
/// `Debug` redacts the API key.
#[derive(Clone)]
pub(crate) struct PlaspyConfig {
    pub(crate) user_name: String,
    /// The secret field: replaced by a credential rotation.
    pub(crate) api_key: SecretCell<SecretString>,
    pub(crate) base_url: Url,
    pub(crate) default_lifetime: Duration,
}

impl fmt::Debug for PlaspyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaspyConfig")
            .field("user_name", &self.user_name)
            .field("api_key", &"[REDACTED]")
            .field("base_url", &self.base_url.as_str())
            .field("default_lifetime", &self.default_lifetime)
            .finish()
    }
}

/// An API key that can be sent: not blank.
pub(crate) fn check_api_key(api_key: Option<SecretString>) -> Result<SecretString, AuthError> {
    api_key
        .filter(|k| !k.expose_secret().trim().is_empty())
        .ok_or_else(|| AuthError::config("Plaspy apiKey is required"))
}

/// Builds a [`PlaspyProvider`](crate::PlaspyProvider);
/// [`build`](Self::build) validates everything.
#[derive(Default)]
#[must_use]
pub struct PlaspyBuilder {
    user_name: Option<String>,
    api_key: Option<SecretString>,
    base_url: Option<Url>,
    default_lifetime: Option<Duration>,
}

impl fmt::Debug for PlaspyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaspyBuilder")
            .field("user_name", &self.user_name)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("base_url", &self.base_url.as_ref().map(Url::as_str))
            .field("default_lifetime", &self.default_lifetime)
            .finish()
    }
}

impl PlaspyBuilder {
    /// The ALTAGAMA GPS user name, sent as `userName` (required).
    pub fn user_name(mut self, user_name: impl Into<String>) -> Self {
        self.user_name = Some(user_name.into());
        self
    }

    /// The API key, sent as `apiKey` (required).
    pub fn api_key(mut self, api_key: impl Into<SecretString>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// The API base URL. Default [`DEFAULT_BASE_URL`].
    pub fn base_url(mut self, base_url: Url) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// Lifetime assumed when the token answer has no usable `expires` and the
    /// token no `exp` claim. Default [`DEFAULT_LIFETIME`] (1 hour).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = Some(lifetime);
        self
    }

    /// Validates the settings and builds the provider. A plain-`http` base
    /// URL to a non-loopback host is refused when the client is built,
    /// unless its `HttpSettings::allow_insecure_http` is set.
    pub fn build(self) -> Result<crate::PlaspyProvider, AuthError> {
        let user_name = self
            .user_name
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| AuthError::config("Plaspy userName is required"))?;
        let api_key = check_api_key(self.api_key)?;
        let base_url = match self.base_url {
            Some(url) => url,
            None => Url::parse(DEFAULT_BASE_URL).expect("constant URL"),
        };
        // Scheme and embedded credentials here; plain http to a remote host
        // is the client's transport policy (checked at its build).
        auth_core::http::check_base_url(&base_url, true)?;
        if base_url.cannot_be_a_base()
            || base_url.query().is_some()
            || base_url.fragment().is_some()
        {
            return Err(AuthError::config(
                "the Plaspy base URL must be a plain http(s) URL without query or fragment",
            ));
        }
        let base_url = auth_core::http::as_directory(base_url);
        let default_lifetime = self.default_lifetime.unwrap_or(DEFAULT_LIFETIME);
        if default_lifetime < Duration::from_secs(5) {
            return Err(AuthError::config(
                "the default token lifetime must be at least 5 seconds",
            ));
        }
        Ok(crate::PlaspyProvider::from_config(PlaspyConfig {
            user_name,
            api_key: SecretCell::new(api_key),
            base_url,
            default_lifetime,
        }))
    }
}

// ---------------------------------------------------------------- settings (feature `serde`)

/// Plaspy / ALTAGAMA GPS settings (`provider = "plaspy"`).
///
/// | field | type | |
/// |---|---|---|
/// | `user_name` | string | required (`userName`) |
/// | `api_key` | secret string | required (`apiKey`) |
/// | `base_url` | URL | default `https://api.plaspy.com` |
/// | `default_lifetime_secs` | number | lifetime assumed when the server states none (default 3600) |
/// | `allow_insecure_http` | bool | default false |
#[cfg(feature = "serde")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaspySettings {
    /// The user name.
    pub user_name: String,
    /// The API key.
    #[serde(deserialize_with = "auth_core::settings::secret")]
    pub api_key: SecretString,
    /// The API base URL.
    #[serde(default, deserialize_with = "auth_core::settings::opt_url")]
    pub base_url: Option<Url>,
    /// Token lifetime assumed when the server states none, in seconds.
    #[serde(default)]
    pub default_lifetime_secs: Option<f64>,
    /// Allow plain `http` to a non-loopback base URL.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: auth_core::settings::CommonSettings,
}

#[cfg(feature = "serde")]
impl PlaspySettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<crate::PlaspyProvider, AuthError> {
        let mut builder = crate::PlaspyProvider::builder()
            .user_name(self.user_name)
            .api_key(self.api_key);
        if let Some(url) = self.base_url {
            builder = builder.base_url(url);
        }
        if let Some(d) =
            auth_core::settings::secs("default_lifetime_secs", self.default_lifetime_secs)?
        {
            builder = builder.default_lifetime(d);
        }
        builder.build()
    }
}

#[cfg(feature = "serde")]
auth_core::provider_settings!(PlaspySettings => crate::PlaspyProvider, name = crate::NAME, allow_insecure_http);
