//! Configuration: the token, `operateAs`, response flags, host, idle time.

use std::fmt;
use std::time::Duration;

use auth_core::http::check_base_url;

use crate::LimitRetry;
use auth_core::{AuthError, RequestLimits};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

/// Wialon Hosting API host (the default).
pub const WIALON_HOSTING: &str = "https://hst-api.wialon.com";
/// Wialon Hosting API host, `.us` domain.
pub const WIALON_HOSTING_US: &str = "https://hst-api.wialon.us";
/// Wialon Hosting API host, `.eu` domain.
pub const WIALON_HOSTING_EU: &str = "https://hst-api.wialon.eu";
/// Wialon Hosting API host, `.org` domain.
pub const WIALON_HOSTING_ORG: &str = "https://hst-api.wialon.org";
/// Length of a Wialon token.
pub const TOKEN_LEN: usize = 72;
/// Wialon kills a session after 5 minutes without requests.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Shortest idle timeout accepted (for tests against a simulator with a
/// shortened idle limit). The client treats a session within
/// min(1 s, idle / 10) of its idle deadline as expired.
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_millis(100);

/// The client's default per-session request limits: 9 requests in flight
/// and 9 started per second, strictly below the 10 concurrent requests the
/// service allows a session (error 10) and the 10 per second public clients
/// keep to (py-aiowialon), so the client queues before the service refuses.
pub const DEFAULT_REQUEST_LIMITS: RequestLimits = RequestLimits::new()
    .max_in_flight(9)
    .max_requests(9, Duration::from_secs(1));

bitflags::bitflags! {
    /// Which blocks the `token/login` reply contains (`fl`). Combine them
    /// with `|`; the default is [`BASIC`](Self::BASIC) | [`USER`](Self::USER).
    ///
    /// ```
    /// use wialon_token::LoginFlags;
    /// let flags = LoginFlags::default() | LoginFlags::TOKEN;
    /// assert_eq!(flags.bits(), 0x7);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct LoginFlags: u32 {
        /// Basic info (0x1).
        const BASIC = 0x1;
        /// User info (0x2).
        const USER = 0x2;
        /// Token info (0x4): the `token` field, decoded into
        /// [`TokenInfo`](crate::TokenInfo).
        const TOKEN = 0x4;
        /// Items info (0x8).
        const ITEMS = 0x8;
        /// Billing services info (0x10).
        const BILLING = 0x10;
        /// User custom properties (0x20).
        const CUSTOM_PROPERTIES = 0x20;
        /// URLs (0x40).
        const URLS = 0x40;
    }
}

impl Default for LoginFlags {
    fn default() -> Self {
        LoginFlags::BASIC | LoginFlags::USER
    }
}

/// Validated configuration of a [`WialonProvider`](crate::WialonProvider).
#[derive(Clone)]
pub(crate) struct WialonConfig {
    /// A one-way fingerprint of the token the provider was built with: the
    /// account's identity in the cache key, kept when the token is rotated.
    pub(crate) token_id: String,
    pub(crate) operate_as: Option<String>,
    pub(crate) flags: LoginFlags,
    pub(crate) host: Url,
    pub(crate) ajax_url: Url,
    pub(crate) avl_evts_url: Url,
    pub(crate) idle_timeout: Duration,
    pub(crate) request_limits: RequestLimits,
    pub(crate) limit_retry: LimitRetry,
}

impl fmt::Debug for WialonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WialonConfig")
            .field("token_id", &self.token_id)
            .field("operate_as", &self.operate_as)
            .field("flags", &self.flags)
            .field("host", &self.host.as_str())
            .field("idle_timeout", &self.idle_timeout)
            .field("request_limits", &self.request_limits)
            .finish()
    }
}

/// Builds a [`WialonProvider`](crate::WialonProvider); checks everything at
/// [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use wialon_token::{LoginFlags, WialonProvider, WIALON_HOSTING_EU};
/// let provider = WialonProvider::builder()
///     .token(std::env::var("WIALON_TOKEN").unwrap_or_else(|_| "a".repeat(72)))
///     .operate_as("dispatcher")
///     .flags(LoginFlags::default() | LoginFlags::TOKEN)
///     .host(WIALON_HOSTING_EU)
///     .idle_timeout(Duration::from_secs(300))
///     .build()
///     .unwrap();
/// assert!(!format!("{provider:?}").contains(&"a".repeat(72)));
/// ```
#[must_use]
pub struct WialonBuilder {
    token: Option<SecretString>,
    operate_as: Option<String>,
    flags: LoginFlags,
    host: String,
    idle_timeout: Duration,
    request_limits: RequestLimits,
    limit_retry: LimitRetry,
}

impl fmt::Debug for WialonBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WialonBuilder")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("operate_as", &self.operate_as)
            .field("flags", &self.flags)
            .field("host", &self.host)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_limits", &self.request_limits)
            .finish()
    }
}

impl Default for WialonBuilder {
    fn default() -> Self {
        Self {
            token: None,
            operate_as: None,
            flags: LoginFlags::default(),
            host: WIALON_HOSTING.to_owned(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            request_limits: DEFAULT_REQUEST_LIMITS,
            limit_retry: LimitRetry::default(),
        }
    }
}

impl WialonBuilder {
    /// The token (72 characters; required). Create one on the Wialon login
    /// page or with `token/update`.
    pub fn token(mut self, token: impl Into<SecretString>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Log in as this sub-user (`operateAs`).
    pub fn operate_as(mut self, user: impl Into<String>) -> Self {
        self.operate_as = Some(user.into());
        self
    }

    /// Which blocks the login reply contains. Default basic and user info.
    pub fn flags(mut self, flags: LoginFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The API host: [`WIALON_HOSTING`] (default), [`WIALON_HOSTING_US`],
    /// [`WIALON_HOSTING_EU`], [`WIALON_HOSTING_ORG`], or a Wialon Local URL
    /// (a path prefix is kept: `https://gps.example.com/local/`).
    pub fn host(mut self, host: impl AsRef<str>) -> Self {
        self.host = host.as_ref().to_owned();
        self
    }

    /// How long the server keeps an idle session (default 5 minutes; at
    /// least [`MIN_IDLE_TIMEOUT`]). Every call slides it.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// How [`WialonClientExt::call`](crate::WialonClientExt::call) retries a
    /// request refused by a per-session limit (10, 1003). Default
    /// [`LimitRetry::default`]: 3 retries from 100 ms; [`LimitRetry::none`]
    /// returns the refusal at once.
    pub fn limit_retry(mut self, retry: LimitRetry) -> Self {
        self.limit_retry = retry;
        self
    }

    /// The per-session request limits the client keeps to (default
    /// [`DEFAULT_REQUEST_LIMITS`]). When several processes share one
    /// session through a store, give each its share:
    /// `DEFAULT_REQUEST_LIMITS.shared_by(processes)` (see the crate's
    /// Protocol section).
    pub fn request_limits(mut self, limits: RequestLimits) -> Self {
        self.request_limits = limits;
        self
    }

    /// Checks the configuration and builds the provider.
    pub fn build(self) -> Result<crate::WialonProvider, AuthError> {
        let token = self.token.ok_or_else(|| {
            AuthError::config("a Wialon token is required (WialonProvider::builder().token(..))")
        })?;
        validate_token(&token)?;
        if self
            .operate_as
            .as_deref()
            .is_some_and(|u| u.trim().is_empty())
        {
            return Err(AuthError::config("operate_as must not be empty"));
        }
        if self.idle_timeout < MIN_IDLE_TIMEOUT {
            return Err(AuthError::config(format!(
                "idle_timeout must be at least {} ms",
                MIN_IDLE_TIMEOUT.as_millis()
            )));
        }
        self.request_limits.validate()?;
        let host = Url::parse(self.host.trim())
            .map_err(|e| AuthError::config(format!("invalid Wialon host URL: {e}")))?;
        // Scheme and embedded credentials here; plain http to a remote host
        // (a Wialon Local site on a trusted network) is the client's
        // transport policy: `HttpSettings::allow_insecure_http`.
        check_base_url(&host, true)?;
        if host.query().is_some() || host.fragment().is_some() {
            return Err(AuthError::config(
                "the Wialon host URL must not have a query or fragment",
            ));
        }
        let host = auth_core::http::as_directory(host);
        let join = |p: &str| {
            host.join(p)
                .map_err(|e| AuthError::config(format!("invalid Wialon host URL: {e}")))
        };
        let ajax_url = join("wialon/ajax.html")?;
        let avl_evts_url = join("avl_evts")?;
        Ok(crate::WialonProvider::from_config(
            WialonConfig {
                token_id: token_fingerprint(token.expose_secret()),
                operate_as: self.operate_as,
                flags: self.flags,
                host,
                ajax_url,
                avl_evts_url,
                idle_timeout: self.idle_timeout,
                request_limits: self.request_limits,
                limit_retry: self.limit_retry,
            },
            token,
        ))
    }
}

/// A stable, one-way fingerprint of the token for the cache key: the first
/// 64 bits of its SHA-256, as hex. It tells accounts apart in a shared store
/// without the key revealing the token (a Wialon token is 72 random hex
/// characters: a plain hash of it cannot be searched for).
fn token_fingerprint(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn validate_token(token: &SecretString) -> Result<(), AuthError> {
    let t = token.expose_secret();
    let len = t.chars().count();
    if len != TOKEN_LEN {
        return Err(AuthError::config(format!(
            "a Wialon token has {TOKEN_LEN} characters, the one configured has {len}"
        )));
    }
    if !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AuthError::config(
            "a Wialon token has only letters and digits; the one configured has other characters (whitespace?)",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- settings (feature `serde`)

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
#[cfg(feature = "serde")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WialonSettings {
    /// The 72-character token.
    #[serde(deserialize_with = "auth_core::settings::secret")]
    pub token: SecretString,
    /// The API host.
    #[serde(default, deserialize_with = "auth_core::settings::opt_url")]
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
    pub common: auth_core::settings::CommonSettings,
}

#[cfg(feature = "serde")]
impl WialonSettings {
    /// The provider these settings describe (validated by the builder).
    pub fn into_provider(self) -> Result<crate::WialonProvider, AuthError> {
        let mut builder = crate::WialonProvider::builder().token(self.token);
        if let Some(host) = self.host {
            builder = builder.host(host.as_str());
        }
        if let Some(user) = self.operate_as {
            builder = builder.operate_as(user);
        }
        if let Some(bits) = self.flags {
            let flags = crate::LoginFlags::from_bits(bits).ok_or_else(|| {
                AuthError::config(format!(
                    "wialon flags {bits:#x} include unknown bits; known: {:#x}",
                    crate::LoginFlags::all().bits()
                ))
            })?;
            builder = builder.flags(flags);
        }
        if let Some(d) = auth_core::settings::secs("idle_timeout_secs", self.idle_timeout_secs)? {
            builder = builder.idle_timeout(d);
        }
        if let Some(processes) = self.session_shared_by {
            if processes == 0 {
                return Err(AuthError::config(
                    "wialon session_shared_by must be at least 1",
                ));
            }
            builder = builder.request_limits(crate::DEFAULT_REQUEST_LIMITS.shared_by(processes));
        }
        builder.build()
    }
}

#[cfg(feature = "serde")]
auth_core::provider_settings!(WialonSettings => crate::WialonProvider, name = crate::NAME, allow_insecure_http);
