//! Client configuration: account, application key, CTC instance, token
//! placement.

use std::fmt;
use std::str::FromStr;

use auth_core::{AuthError, SecretCell};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Base URL of the CTC US instance.
pub const US_BASE_URL: &str = "https://connect.calamp.com";
/// Base URL of the CTC EU instance.
pub const EU_BASE_URL: &str = "https://connect.calamp.co.uk";

/// The CTC instance an account lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instance {
    /// The US instance, `https://connect.calamp.com`.
    Us,
    /// The EU instance, `https://connect.calamp.co.uk`.
    Eu,
    /// Any other base URL (the paths `/connect/services/...` are appended).
    ///
    /// **Warning:** CalAmp's developer-portal URL works only for the
    /// developer portal; do not use it in production code. Use
    /// [`Instance::Us`] or [`Instance::Eu`] there. `Custom` is also how a
    /// test points the client at a simulator.
    Custom(Url),
}

impl Instance {
    /// The instance's base URL.
    pub fn base_url(&self) -> Url {
        match self {
            Instance::Us => Url::parse(US_BASE_URL).expect("constant URL"),
            Instance::Eu => Url::parse(EU_BASE_URL).expect("constant URL"),
            Instance::Custom(url) => url.clone(),
        }
    }
}

impl FromStr for Instance {
    type Err = AuthError;

    /// `us`, `eu` (any case), or an absolute URL for [`Instance::Custom`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("us") {
            Ok(Instance::Us)
        } else if s.eq_ignore_ascii_case("eu") {
            Ok(Instance::Eu)
        } else {
            Url::parse(s).map(Instance::Custom).map_err(|e| {
                AuthError::config(format!(
                    "CTC instance must be \"us\", \"eu\" or an absolute URL ({e})"
                ))
            })
        }
    }
}

/// How the `authToken` is put on calls after the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum TokenPlacement {
    /// `Cookie: authToken=<token>` (what the server set; public clients send
    /// this). The default.
    #[default]
    Cookie,
    /// An `authToken: <token>` request header.
    Header,
    /// `Authorization: Bearer <token>` (newer public clients).
    Bearer,
}

/// Validated configuration of a [`CtcProvider`](crate::CtcProvider).
///
/// `Debug` redacts the password and the application key.
#[derive(Clone)]
pub(crate) struct CtcConfig {
    pub(crate) username: String,
    /// The secret fields: replaced by a credential rotation.
    pub(crate) keys: SecretCell<CtcKeys>,
    pub(crate) instance: Instance,
    pub(crate) base_url: Url,
    pub(crate) token_placement: TokenPlacement,
}

impl fmt::Debug for CtcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtcConfig")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("app_key", &"[REDACTED]")
            .field("base_url", &self.base_url.as_str())
            .field("token_placement", &self.token_placement)
            .finish()
    }
}

/// The secret fields of a CTC account, checked.
pub(crate) struct CtcKeys {
    pub(crate) password: SecretString,
    pub(crate) app_key: SecretString,
    pub(crate) app_key_header: HeaderValue,
}

impl CtcKeys {
    pub(crate) fn new(password: SecretString, app_key: SecretString) -> Result<Self, AuthError> {
        if password.expose_secret().is_empty() {
            return Err(AuthError::config("CTC password is required"));
        }
        if app_key.expose_secret().trim().is_empty() {
            return Err(AuthError::config(
                "CTC application key (calamp-services-app) is required",
            ));
        }
        let mut app_key_header =
            HeaderValue::from_str(app_key.expose_secret().trim()).map_err(|_| {
                AuthError::config(
                    "the CTC application key contains characters not allowed in an HTTP header",
                )
            })?;
        app_key_header.set_sensitive(true);
        Ok(Self {
            password,
            app_key,
            app_key_header,
        })
    }

    /// The secrets a reply or error must never show.
    pub(crate) fn secrets(&self) -> [&SecretString; 2] {
        [&self.password, &self.app_key]
    }
}

/// New secrets for [`rotate_credentials`](auth_core::Authenticated::rotate_credentials)
/// on a [`CtcClient`](crate::CtcClient): the password, the application key,
/// or both. A field not given keeps its current value; the user name and
/// instance identify the account and are never rotated.
///
/// ```
/// use ctc_auth::{CtcSecrets, SecretString};
///
/// let secrets = CtcSecrets::new().password(SecretString::from("n3w-Passw0rd!"));
/// # let _ = secrets;
/// ```
#[derive(Default)]
#[must_use]
#[non_exhaustive]
pub struct CtcSecrets {
    pub(crate) password: Option<SecretString>,
    pub(crate) app_key: Option<SecretString>,
}

impl CtcSecrets {
    /// Nothing replaced yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The new password.
    pub fn password(mut self, password: impl Into<SecretString>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The new application key (`calamp-services-app`).
    pub fn app_key(mut self, app_key: impl Into<SecretString>) -> Self {
        self.app_key = Some(app_key.into());
        self
    }
}

impl fmt::Debug for CtcSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtcSecrets")
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("app_key", &self.app_key.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Builds a [`CtcProvider`](crate::CtcProvider); [`build`](Self::build)
/// validates everything.
#[derive(Default)]
#[must_use]
pub struct CtcBuilder {
    username: Option<String>,
    password: Option<SecretString>,
    app_key: Option<SecretString>,
    instance: Option<Instance>,
    token_placement: TokenPlacement,
}

impl fmt::Debug for CtcBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtcBuilder")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("app_key", &self.app_key.as_ref().map(|_| "[REDACTED]"))
            .field("instance", &self.instance)
            .field("token_placement", &self.token_placement)
            .finish()
    }
}

impl CtcBuilder {
    /// The API user name (required).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password (required).
    pub fn password(mut self, password: impl Into<SecretString>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The application key sent as `calamp-services-app` (required).
    pub fn app_key(mut self, app_key: impl Into<SecretString>) -> Self {
        self.app_key = Some(app_key.into());
        self
    }

    /// The CTC instance (required): [`Instance::Us`], [`Instance::Eu`] or
    /// [`Instance::Custom`].
    pub fn instance(mut self, instance: Instance) -> Self {
        self.instance = Some(instance);
        self
    }

    /// How the token is sent on calls. Default [`TokenPlacement::Cookie`].
    pub fn token_placement(mut self, placement: TokenPlacement) -> Self {
        self.token_placement = placement;
        self
    }

    /// Validates the settings and builds the provider. A plain-`http` base
    /// URL to a non-loopback host is refused when the client is built,
    /// unless its `HttpSettings::allow_insecure_http` is set.
    pub fn build(self) -> Result<crate::CtcProvider, AuthError> {
        let username = self
            .username
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| AuthError::config("CTC username is required"))?;
        let password = self
            .password
            .ok_or_else(|| AuthError::config("CTC password is required"))?;
        let app_key = self.app_key.ok_or_else(|| {
            AuthError::config("CTC application key (calamp-services-app) is required")
        })?;
        let keys = CtcKeys::new(password, app_key)?;
        let instance = self.instance.ok_or_else(|| {
            AuthError::config(
                "CTC instance is required: Instance::Us, Instance::Eu or Instance::Custom",
            )
        })?;
        let base_url = instance.base_url();
        // Scheme and embedded credentials here; plain http to a remote host
        // is the client's transport policy (checked at its build).
        auth_core::http::check_base_url(&base_url, true)?;
        if base_url.cannot_be_a_base()
            || base_url.query().is_some()
            || base_url.fragment().is_some()
        {
            return Err(AuthError::config(
                "the CTC base URL must be a plain http(s) URL without query or fragment",
            ));
        }
        let base_url = auth_core::http::as_directory(base_url);
        Ok(crate::CtcProvider::from_config(CtcConfig {
            username,
            keys: SecretCell::new(keys),
            instance,
            base_url,
            token_placement: self.token_placement,
        }))
    }
}

// ---------------------------------------------------------------- settings (feature `serde`)

/// CalAmp Telematics Cloud settings (`provider = "ctc"`).
///
/// | field | type | |
/// |---|---|---|
/// | `username` | string | required |
/// | `password` | secret string | required |
/// | `app_key` | secret string | required, the `calamp-services-app` key |
/// | `instance` | `"us"`, `"eu"` or a URL | required |
/// | `token_placement` | `"cookie"`, `"header"`, `"bearer"` | default `"cookie"` |
/// | `allow_insecure_http` | bool | default false |
#[cfg(feature = "serde")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtcSettings {
    /// The API user name.
    pub username: String,
    /// The password.
    #[serde(deserialize_with = "auth_core::settings::secret")]
    pub password: SecretString,
    /// The application key (`calamp-services-app`).
    #[serde(deserialize_with = "auth_core::settings::secret")]
    pub app_key: SecretString,
    /// `us`, `eu` or a custom base URL.
    #[serde(deserialize_with = "ctc_instance")]
    pub instance: crate::Instance,
    /// Where the token goes on calls.
    #[serde(default)]
    pub token_placement: crate::TokenPlacement,
    /// Allow plain `http` to a non-loopback custom URL.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: auth_core::settings::CommonSettings,
}

#[cfg(feature = "serde")]
fn ctc_instance<'de, D: serde::Deserializer<'de>>(d: D) -> Result<crate::Instance, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    let t = text.trim();
    if t.eq_ignore_ascii_case("us") {
        Ok(crate::Instance::Us)
    } else if t.eq_ignore_ascii_case("eu") {
        Ok(crate::Instance::Eu)
    } else {
        auth_core::settings::parse_url(t)
            .map(crate::Instance::Custom)
            .map_err(|e| serde::de::Error::custom(format!("expected \"us\", \"eu\" or a URL: {e}")))
    }
}

#[cfg(feature = "serde")]
impl CtcSettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<crate::CtcProvider, AuthError> {
        crate::CtcProvider::builder()
            .username(self.username)
            .password(self.password)
            .app_key(self.app_key)
            .instance(self.instance)
            .token_placement(self.token_placement)
            .build()
    }
}

#[cfg(feature = "serde")]
auth_core::provider_settings!(CtcSettings => crate::CtcProvider, name = crate::NAME, allow_insecure_http);
