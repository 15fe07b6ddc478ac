//! Configuration: [`ElectaBuilder`] validates everything at
//! [`build`](ElectaBuilder::build).

use std::time::Duration;

use auth_core::http::check_base_url;
use auth_core::{AuthError, LockoutRule, SecretCell};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::ElectaProvider;
use crate::rules::RejectionRules;

/// Electa tokens are valid this long after issue (fixed by Electa).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);
/// Electa locks API access for this long after too many failed logins.
pub const LOCKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins the client allows per window: Electa locks at 5.
pub const MAX_FAILURES: u32 = 4;
/// Default name of the token parameter on later calls.
pub const DEFAULT_TOKEN_PARAM: &str = "token";
/// Length of an application key.
pub const APP_KEY_LEN: usize = 32;

/// How the `/token/` call sends `CID` and `AppKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Method {
    /// A form body, so the application key stays out of URLs (and so out of
    /// server and proxy logs). Default.
    #[default]
    Post,
    /// Query parameters (as the docs' samples do).
    Get,
}

/// Builds an [`ElectaProvider`].
///
/// ```
/// use electa_auth::{ElectaProvider, Method};
///
/// let provider = ElectaProvider::builder()
///     .api_url("https://live.example.com/apps/api".parse()?)
///     .cid(123456)
///     .app_key("UO86CN11XY73SF72TT40PG18ZE76VV71")
///     .method(Method::Post)
///     .build()?;
/// assert_eq!(provider.token_url().as_str(), "https://live.example.com/apps/api/token/");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ElectaBuilder {
    api_url: Option<Url>,
    cid: Option<u64>,
    app_key: Option<SecretString>,
    method: Method,
    token_param: String,
    token_lifetime: Duration,
    max_failures: u32,
    lockout_window: Duration,
    rejection_rules: RejectionRules,
}

impl Default for ElectaBuilder {
    fn default() -> Self {
        Self {
            api_url: None,
            cid: None,
            app_key: None,
            method: Method::default(),
            token_param: DEFAULT_TOKEN_PARAM.to_owned(),
            token_lifetime: TOKEN_LIFETIME,
            max_failures: MAX_FAILURES,
            lockout_window: LOCKOUT_WINDOW,
            rejection_rules: RejectionRules::default(),
        }
    }
}

impl ElectaBuilder {
    /// The API URL of your Electa site (required), e.g.
    /// `https://<site>/apps/api`; the client appends `/token/`. Must be
    /// `https` (plain `http` is accepted for loopback hosts only, for tests).
    pub fn api_url(mut self, url: Url) -> Self {
        self.api_url = Some(url);
        self
    }

    /// The account id, `CID` (required).
    pub fn cid(mut self, cid: u64) -> Self {
        self.cid = Some(cid);
        self
    }

    /// The application key, `AppKey` (required, 32 letters and digits).
    /// Keep it on servers: never send it to a browser.
    pub fn app_key(mut self, key: impl Into<SecretString>) -> Self {
        self.app_key = Some(key.into());
        self
    }

    /// GET or POST for the `/token/` call. Default [`Method::Post`].
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Name of the parameter carrying the token on later calls. Default
    /// `token`.
    pub fn token_param(mut self, name: impl Into<String>) -> Self {
        self.token_param = name.into();
        self
    }

    /// How long a token lives after issue. Default 20 minutes (Electa's
    /// fixed value; change it only for a simulator).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The client's lockout rule: after `max_failures` failed logins within
    /// `window`, logins are refused locally until the window ends. Electa
    /// locks at 5 failures, so `max_failures` may be at most 4. Default 4 per
    /// 15 minutes. The window is also how long a lockout reported by the
    /// server is honoured.
    pub fn lockout_rule(mut self, max_failures: u32, window: Duration) -> Self {
        self.max_failures = max_failures;
        self.lockout_window = window;
        self
    }

    /// Which answers to a protected call reject the session (the others
    /// with a non-zero code only maybe do). Default
    /// [`RejectionRules::default`].
    pub fn rejection_rules(mut self, rules: RejectionRules) -> Self {
        self.rejection_rules = rules;
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<ElectaProvider, AuthError> {
        let api_url = self
            .api_url
            .ok_or_else(|| AuthError::config("electa: the API URL is required"))?;
        // HTTPS is mandatory (Electa: "all connections must be made over a
        // secure channel"); no opt-out except loopback for tests.
        // Scheme and embedded credentials here; plain http to a remote host
        // (Electa requires a secure channel) is refused when the client is
        // built, unless its `HttpSettings::allow_insecure_http` is set.
        check_base_url(&api_url, true)?;
        if api_url.query().is_some() || api_url.fragment().is_some() {
            return Err(AuthError::config(
                "electa: the API URL must not have a query or fragment",
            ));
        }
        let cid = self
            .cid
            .ok_or_else(|| AuthError::config("electa: the account id (CID) is required"))?;
        if cid == 0 {
            return Err(AuthError::config(
                "electa: the account id (CID) must be positive",
            ));
        }
        let app_key = check_app_key(
            self.app_key
                .ok_or_else(|| AuthError::config("electa: the application key is required"))?,
        )?;
        let token_param = self.token_param.trim().to_owned();
        if token_param.is_empty()
            || token_param
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AuthError::config(
                "electa: the token parameter name is invalid",
            ));
        }
        if self.token_lifetime.is_zero() {
            return Err(AuthError::config(
                "electa: the token lifetime must be positive",
            ));
        }
        if self.max_failures == 0 || self.max_failures > MAX_FAILURES {
            return Err(AuthError::config(format!(
                "electa: the lockout rule must allow 1 to {MAX_FAILURES} failed logins (Electa locks API access at 5)"
            )));
        }
        if self.lockout_window.is_zero() {
            return Err(AuthError::config(
                "electa: the lockout window must be positive",
            ));
        }
        self.rejection_rules.validate()?;
        Ok(ElectaProvider {
            api_url,
            cid,
            app_key: SecretCell::new(app_key),
            method: self.method,
            token_param,
            token_lifetime: self.token_lifetime,
            rejection_rules: self.rejection_rules,
            rule: LockoutRule::new(self.max_failures, self.lockout_window),
        })
    }
}

/// An application key Electa can accept: 32 letters and digits.
pub(crate) fn check_app_key(app_key: SecretString) -> Result<SecretString, AuthError> {
    let key = app_key.expose_secret();
    if key.chars().count() != APP_KEY_LEN || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AuthError::config(format!(
            "electa: the application key must be {APP_KEY_LEN} letters and digits (got {} characters)",
            key.chars().count()
        )));
    }
    Ok(app_key)
}

// ---------------------------------------------------------------- settings (feature `serde`)

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
#[cfg(feature = "serde")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectaSettings {
    /// The site's API URL.
    #[serde(deserialize_with = "auth_core::settings::url")]
    pub api_url: Url,
    /// The account id.
    pub cid: u64,
    /// The application key.
    #[serde(deserialize_with = "auth_core::settings::secret")]
    pub app_key: SecretString,
    /// GET or POST for `/token/`.
    #[serde(default)]
    pub method: crate::Method,
    /// Name of the token parameter on calls.
    #[serde(default)]
    pub token_param: Option<String>,
    /// Token lifetime, in seconds.
    #[serde(default)]
    pub token_lifetime_secs: Option<f64>,
    /// Timeouts and other HTTP settings.
    #[serde(skip)]
    pub common: auth_core::settings::CommonSettings,
}

#[cfg(feature = "serde")]
impl ElectaSettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<crate::ElectaProvider, AuthError> {
        let mut builder = crate::ElectaProvider::builder()
            .api_url(self.api_url)
            .cid(self.cid)
            .app_key(self.app_key)
            .method(self.method);
        if let Some(p) = self.token_param {
            builder = builder.token_param(p);
        }
        if let Some(d) = auth_core::settings::secs("token_lifetime_secs", self.token_lifetime_secs)?
        {
            builder = builder.token_lifetime(d);
        }
        builder.build()
    }
}

#[cfg(feature = "serde")]
auth_core::provider_settings!(ElectaSettings => crate::ElectaProvider, name = crate::NAME);
