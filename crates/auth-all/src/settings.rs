//! Plain-data settings of each provider, as read from a configuration file
//! or environment variables, and their conversion into the provider crates'
//! builders.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuthError, Authenticated, DynAuthenticated, HttpSettings, Provider, TokenStore};
use serde::Deserialize;

#[cfg(any(
    feature = "plaspy",
    feature = "wialon",
    feature = "cielo24",
    feature = "electa"
))]
use url::Url;
#[cfg(any(
    feature = "ctc",
    feature = "plaspy",
    feature = "wialon",
    feature = "cielo24",
    feature = "electa"
))]
use {crate::de, secrecy::SecretString};

/// The names of the [`CommonSettings`] fields, accepted next to every
/// provider's own settings.
pub const COMMON_FIELDS: &[&str] = &[
    "timeout_secs",
    "connect_timeout_secs",
    "max_body_bytes",
    "user_agent",
];

/// HTTP settings every provider accepts, next to its own settings (in the
/// same table / object, or as `{PREFIX}_{PROVIDER}_TIMEOUT_SECS` ...).
/// Unset fields keep [`HttpSettings`]' defaults.
///
/// [`ProviderConfig`](crate::ProviderConfig) reads them and stores them in
/// the settings' `common` field; a settings struct deserialized on its own
/// (e.g. `CtcSettings`) does not accept them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonSettings {
    /// Time allowed for a whole request, in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Time allowed to connect, in seconds (default 10).
    #[serde(default)]
    pub connect_timeout_secs: Option<f64>,
    /// Largest authentication response body read, in bytes (default 1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// `User-Agent` sent with every request.
    #[serde(default)]
    pub user_agent: Option<String>,
}

impl CommonSettings {
    /// The [`HttpSettings`] these settings describe.
    pub fn http_settings(&self, allow_insecure_http: bool) -> Result<HttpSettings, AuthError> {
        let mut http = HttpSettings {
            allow_insecure_http,
            ..HttpSettings::default()
        };
        if let Some(t) = secs("timeout_secs", self.timeout_secs)? {
            http.timeout = t;
        }
        if let Some(t) = secs("connect_timeout_secs", self.connect_timeout_secs)? {
            http.connect_timeout = t;
        }
        if let Some(max) = self.max_body_bytes {
            if max == 0 {
                return Err(AuthError::config("max_body_bytes must be positive"));
            }
            http.max_body = max;
        }
        if let Some(agent) = &self.user_agent {
            if agent.trim().is_empty() || agent.chars().any(char::is_control) {
                return Err(AuthError::config(
                    "user_agent must be non-empty text without control characters",
                ));
            }
            http.user_agent = agent.clone();
        }
        Ok(http)
    }
}

/// A positive, finite number of seconds as a [`Duration`].
pub(crate) fn secs(name: &str, value: Option<f64>) -> Result<Option<Duration>, AuthError> {
    match value {
        None => Ok(None),
        Some(v) if v > 0.0 => Duration::try_from_secs_f64(v)
            .map(Some)
            .map_err(|_| AuthError::config(format!("{name} is out of range"))),
        Some(_) => Err(AuthError::config(format!(
            "{name} must be a positive number of seconds"
        ))),
    }
}

/// Options for [`ProviderConfig::connect_with`](crate::ProviderConfig::connect_with)
/// that cannot come from a configuration file: a shared token store (e.g.
/// `auth_redis::RedisStore`, so a fleet of processes shares sessions) and a
/// shared `reqwest::Client`.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    store: Option<Arc<dyn TokenStore>>,
    http_client: Option<auth_core::reqwest::Client>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("store", &self.store)
            .field("http_client", &self.http_client.is_some())
            .finish()
    }
}

impl ConnectOptions {
    /// No store (each client keeps its sessions in memory) and a client of
    /// its own per provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep sessions, login locks and failure counts in `store` (shared by
    /// every client connected with these options; keys differ per account).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Send authorized calls through this `reqwest::Client` (its own
    /// timeouts apply to them; the configured `timeout_secs` and
    /// `connect_timeout_secs` are then ignored for calls). Logins, logouts,
    /// keep-alives and key or token management still go through a client
    /// of each provider's own that never follows redirects.
    ///
    /// The client must not follow redirects: build it with
    /// `.redirect(reqwest::redirect::Policy::none())` (see
    /// `auth_core::AuthenticatedBuilder::http_client`).
    #[must_use]
    pub fn http_client(mut self, client: auth_core::reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Builds an [`Authenticated`] client of `provider`.
    #[cfg_attr(
        not(any(
            feature = "ctc",
            feature = "plaspy",
            feature = "wialon",
            feature = "cielo24",
            feature = "electa"
        )),
        allow(dead_code)
    )]
    pub(crate) fn build<P: Provider>(
        &self,
        provider: P,
        http: HttpSettings,
        customize: impl FnOnce(auth_core::AuthenticatedBuilder<P>) -> auth_core::AuthenticatedBuilder<P>,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let mut builder = Authenticated::builder(provider).http_settings(http);
        if let Some(store) = &self.store {
            builder = builder.store(Arc::clone(store));
        }
        if let Some(client) = &self.http_client {
            builder = builder.http_client(client.clone());
        }
        Ok(Box::new(customize(builder).build()?))
    }
}

// ---------------------------------------------------------------- CTC

/// Where the CTC token goes on calls (see `ctc_auth::TokenPlacement`).
#[cfg(feature = "ctc")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtcTokenPlacement {
    /// `Cookie: authToken=<token>` (default).
    #[default]
    Cookie,
    /// An `authToken: <token>` header.
    Header,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

#[cfg(feature = "ctc")]
impl From<CtcTokenPlacement> for ctc_auth::TokenPlacement {
    fn from(p: CtcTokenPlacement) -> Self {
        match p {
            CtcTokenPlacement::Cookie => ctc_auth::TokenPlacement::Cookie,
            CtcTokenPlacement::Header => ctc_auth::TokenPlacement::Header,
            CtcTokenPlacement::Bearer => ctc_auth::TokenPlacement::Bearer,
        }
    }
}

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
#[cfg(feature = "ctc")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtcSettings {
    /// The API user name.
    pub username: String,
    /// The password.
    #[serde(deserialize_with = "de::secret")]
    pub password: SecretString,
    /// The application key (`calamp-services-app`).
    #[serde(deserialize_with = "de::secret")]
    pub app_key: SecretString,
    /// `us`, `eu` or a custom base URL.
    #[serde(deserialize_with = "ctc_instance")]
    pub instance: ctc_auth::Instance,
    /// Where the token goes on calls.
    #[serde(default)]
    pub token_placement: CtcTokenPlacement,
    /// Allow plain `http` to a non-loopback custom URL.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: CommonSettings,
}

#[cfg(feature = "ctc")]
fn ctc_instance<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ctc_auth::Instance, D::Error> {
    let text = String::deserialize(d)?;
    let t = text.trim();
    if t.eq_ignore_ascii_case("us") {
        Ok(ctc_auth::Instance::Us)
    } else if t.eq_ignore_ascii_case("eu") {
        Ok(ctc_auth::Instance::Eu)
    } else {
        de::parse_url(t)
            .map(ctc_auth::Instance::Custom)
            .map_err(|e| serde::de::Error::custom(format!("expected \"us\", \"eu\" or a URL: {e}")))
    }
}

#[cfg(feature = "ctc")]
impl CtcSettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<ctc_auth::CtcProvider, AuthError> {
        ctc_auth::CtcProvider::builder()
            .username(self.username)
            .password(self.password)
            .app_key(self.app_key)
            .instance(self.instance)
            .token_placement(self.token_placement.into())
            .build()
    }

    pub(crate) fn connect(
        self,
        options: &ConnectOptions,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let http = self.common.http_settings(self.allow_insecure_http)?;
        options.build(self.into_provider()?, http, |b| b)
    }
}

// ---------------------------------------------------------------- Plaspy

/// Plaspy / ALTAGAMA GPS settings (`provider = "plaspy"`).
///
/// | field | type | |
/// |---|---|---|
/// | `user_name` | string | required (`userName`) |
/// | `api_key` | secret string | required (`apiKey`) |
/// | `base_url` | URL | default `https://api.plaspy.com` |
/// | `default_lifetime_secs` | number | lifetime assumed when the server states none (default 3600) |
/// | `allow_insecure_http` | bool | default false |
#[cfg(feature = "plaspy")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaspySettings {
    /// The user name.
    pub user_name: String,
    /// The API key.
    #[serde(deserialize_with = "de::secret")]
    pub api_key: SecretString,
    /// The API base URL.
    #[serde(default, deserialize_with = "de::opt_url")]
    pub base_url: Option<Url>,
    /// Token lifetime assumed when the server states none, in seconds.
    #[serde(default)]
    pub default_lifetime_secs: Option<f64>,
    /// Allow plain `http` to a non-loopback base URL.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: CommonSettings,
}

#[cfg(feature = "plaspy")]
impl PlaspySettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<plaspy_auth::PlaspyProvider, AuthError> {
        let mut builder = plaspy_auth::PlaspyProvider::builder()
            .user_name(self.user_name)
            .api_key(self.api_key);
        if let Some(url) = self.base_url {
            builder = builder.base_url(url);
        }
        if let Some(d) = secs("default_lifetime_secs", self.default_lifetime_secs)? {
            builder = builder.default_lifetime(d);
        }
        builder.build()
    }

    pub(crate) fn connect(
        self,
        options: &ConnectOptions,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let http = self.common.http_settings(self.allow_insecure_http)?;
        options.build(self.into_provider()?, http, |b| b)
    }
}

// ---------------------------------------------------------------- Wialon

/// Wialon `token/login` settings (`provider = "wialon"`).
///
/// | field | type | |
/// |---|---|---|
/// | `token` | secret string | required, 72 characters |
/// | `host` | URL | default `https://hst-api.wialon.com`; a Wialon Local URL |
/// | `operate_as` | string | optional sub-user (`operateAs`) |
/// | `flags` | integer | login reply flags (`fl`), default 3 (basic and user info) |
/// | `idle_timeout_secs` | number | how long the server keeps an idle session (default 300) |
/// | `session_shared_by` | integer | processes sharing one session through a store; each keeps to that share of the per-session request limits (default 1) |
/// | `allow_insecure_http` | bool | default false |
#[cfg(feature = "wialon")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WialonSettings {
    /// The 72-character token.
    #[serde(deserialize_with = "de::secret")]
    pub token: SecretString,
    /// The API host.
    #[serde(default, deserialize_with = "de::opt_url")]
    pub host: Option<Url>,
    /// Log in as this sub-user.
    #[serde(default)]
    pub operate_as: Option<String>,
    /// Login reply flags (`fl`).
    #[serde(default)]
    pub flags: Option<u32>,
    /// The server's idle timeout, in seconds.
    #[serde(default)]
    pub idle_timeout_secs: Option<f64>,
    /// Processes that share one session through a store: each keeps to
    /// that share of Wialon's per-session request limits.
    #[serde(default)]
    pub session_shared_by: Option<u32>,
    /// Allow plain `http` to a non-loopback host.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: CommonSettings,
}

#[cfg(feature = "wialon")]
impl WialonSettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<wialon_token::WialonProvider, AuthError> {
        let mut builder = wialon_token::WialonProvider::builder().token(self.token);
        if let Some(host) = self.host {
            builder = builder.host(host.as_str());
        }
        if let Some(user) = self.operate_as {
            builder = builder.operate_as(user);
        }
        if let Some(bits) = self.flags {
            let flags = wialon_token::LoginFlags::from_bits(bits).ok_or_else(|| {
                AuthError::config(format!(
                    "wialon flags {bits:#x} include unknown bits; known: {:#x}",
                    wialon_token::LoginFlags::all().bits()
                ))
            })?;
            builder = builder.flags(flags);
        }
        if let Some(d) = secs("idle_timeout_secs", self.idle_timeout_secs)? {
            builder = builder.idle_timeout(d);
        }
        if let Some(processes) = self.session_shared_by {
            if processes == 0 {
                return Err(AuthError::config(
                    "wialon session_shared_by must be at least 1",
                ));
            }
            builder =
                builder.request_limits(wialon_token::DEFAULT_REQUEST_LIMITS.shared_by(processes));
        }
        builder.build()
    }

    pub(crate) fn connect(
        self,
        options: &ConnectOptions,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let http = self.common.http_settings(self.allow_insecure_http)?;
        options.build(self.into_provider()?, http, |b| b)
    }
}

// ---------------------------------------------------------------- cielo24

/// Where the cielo24 login carries the credentials.
#[cfg(feature = "cielo24")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cielo24CredentialPlacement {
    /// `x-auth-*` headers (default: keeps secrets out of URLs).
    #[default]
    Headers,
    /// Query parameters.
    Query,
}

/// Which header carries a cielo24 password.
#[cfg(feature = "cielo24")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Cielo24PasswordHeader {
    /// `x-auth-password` (default).
    #[default]
    #[serde(rename = "x-auth-password")]
    XAuthPassword,
    /// `x-auth-key`.
    #[serde(rename = "x-auth-key")]
    XAuthKey,
}

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
#[cfg(feature = "cielo24")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cielo24Settings {
    /// The account's username.
    pub username: String,
    /// The password.
    #[serde(default, deserialize_with = "de::opt_secret")]
    pub password: Option<SecretString>,
    /// A secure key (instead of the password).
    #[serde(default, deserialize_with = "de::opt_secret")]
    pub secure_key: Option<SecretString>,
    /// A custom base URL.
    #[serde(default, deserialize_with = "de::opt_url")]
    pub base_url: Option<Url>,
    /// Use the sandbox.
    #[serde(default)]
    pub sandbox: bool,
    /// The `v` parameter.
    #[serde(default)]
    pub api_version: Option<u32>,
    /// Where the login carries the credentials.
    #[serde(default)]
    pub credential_placement: Cielo24CredentialPlacement,
    /// Which header carries a password.
    #[serde(default)]
    pub password_header: Cielo24PasswordHeader,
    /// The server's idle timeout, in seconds.
    #[serde(default)]
    pub idle_timeout_secs: Option<f64>,
    /// Allow plain `http` to a non-loopback base URL.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: CommonSettings,
}

#[cfg(feature = "cielo24")]
impl Cielo24Settings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<cielo24_auth::Cielo24Provider, AuthError> {
        let mut builder = cielo24_auth::Cielo24Provider::builder()
            .username(self.username)
            .credential_placement(match self.credential_placement {
                Cielo24CredentialPlacement::Headers => cielo24_auth::CredentialPlacement::Headers,
                Cielo24CredentialPlacement::Query => cielo24_auth::CredentialPlacement::Query,
            })
            .password_header(match self.password_header {
                Cielo24PasswordHeader::XAuthPassword => cielo24_auth::PasswordHeader::XAuthPassword,
                Cielo24PasswordHeader::XAuthKey => cielo24_auth::PasswordHeader::XAuthKey,
            });
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
        if let Some(d) = secs("idle_timeout_secs", self.idle_timeout_secs)? {
            builder = builder.idle_timeout(d);
        }
        builder.build()
    }

    pub(crate) fn connect(
        self,
        options: &ConnectOptions,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let http = self.common.http_settings(self.allow_insecure_http)?;
        options.build(self.into_provider()?, http, |b| b)
    }
}

// ---------------------------------------------------------------- Electa

/// How the Electa `/token/` call sends its parameters.
#[cfg(feature = "electa")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElectaMethod {
    /// A form body (default: keeps the key out of URLs).
    #[default]
    Post,
    /// Query parameters.
    Get,
}

/// Electa Live settings (`provider = "electa"`). Electa requires HTTPS
/// (plain `http` only to loopback, for tests), so there is no
/// `allow_insecure_http`.
///
/// | field | type | |
/// |---|---|---|
/// | `api_url` | URL | required, e.g. `https://<site>/apps/api` |
/// | `cid` | integer | required, the account id |
/// | `app_key` | secret string | required, 32 letters and digits |
/// | `method` | `"post"`, `"get"` | default `"post"` |
/// | `token_param` | string | name of the token parameter on calls, default `token` |
/// | `token_lifetime_secs` | number | default 1200 (Electa's fixed 20 minutes) |
#[cfg(feature = "electa")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectaSettings {
    /// The site's API URL.
    #[serde(deserialize_with = "de::url")]
    pub api_url: Url,
    /// The account id.
    pub cid: u64,
    /// The application key.
    #[serde(deserialize_with = "de::secret")]
    pub app_key: SecretString,
    /// GET or POST for `/token/`.
    #[serde(default)]
    pub method: ElectaMethod,
    /// Name of the token parameter on calls.
    #[serde(default)]
    pub token_param: Option<String>,
    /// Token lifetime, in seconds.
    #[serde(default)]
    pub token_lifetime_secs: Option<f64>,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: CommonSettings,
}

#[cfg(feature = "electa")]
impl ElectaSettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<electa_auth::ElectaProvider, AuthError> {
        let mut builder = electa_auth::ElectaProvider::builder()
            .api_url(self.api_url)
            .cid(self.cid)
            .app_key(self.app_key)
            .method(match self.method {
                ElectaMethod::Post => electa_auth::Method::Post,
                ElectaMethod::Get => electa_auth::Method::Get,
            });
        if let Some(p) = self.token_param {
            builder = builder.token_param(p);
        }
        if let Some(d) = secs("token_lifetime_secs", self.token_lifetime_secs)? {
            builder = builder.token_lifetime(d);
        }
        builder.build()
    }

    pub(crate) fn connect(
        self,
        options: &ConnectOptions,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let http = self.common.http_settings(false)?;
        options.build(self.into_provider()?, http, |b| b)
    }
}
