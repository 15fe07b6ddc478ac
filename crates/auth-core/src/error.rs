//! The error type shared by every provider crate.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A provider-specific error carried inside [`AuthError`] (for example a typed
/// Wialon error code). Retrieve it with [`AuthError::provider_error`].
pub type ProviderErrorSource = Arc<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong while authenticating against a provider.
///
/// The type is `Clone` because one failed login is handed to every task that
/// was waiting for it. Messages never contain secrets: server excerpts are
/// short and redacted, and transport errors have their URL stripped (a URL may
/// carry a token or key as a query parameter).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The provider rejected the configured credentials.
    #[error(
        "{provider} rejected the credentials: {message}; check the account name and secret configured for this client"
    )]
    InvalidCredentials {
        /// Provider name, e.g. `"wialon"`.
        provider: &'static str,
        /// The provider's explanation (secret-free excerpt).
        message: String,
        /// The provider's typed error, when it has one.
        #[source]
        source: Option<ProviderErrorSource>,
    },

    /// Logins are locked for this account, either by the provider or by the
    /// client's own lockout guard (which stops before the provider would lock).
    #[error(
        "{provider} login is locked for this account to avoid a server-side lockout; retry after {} s",
        retry_after.as_secs()
    )]
    LockedOut {
        /// Provider name.
        provider: &'static str,
        /// How long until a login may be attempted again.
        retry_after: Duration,
    },

    /// The provider asked us to slow down (HTTP 429 or an equivalent code).
    #[error("{provider} is throttling requests; retry later{}", retry_hint(*retry_after))]
    Throttled {
        /// Provider name.
        provider: &'static str,
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },

    /// A fresh session was rejected again, or the rejected request could not
    /// be retried. The client backs off before the next login.
    #[error(
        "{provider} rejected the session{}",
        if *retried { " even after a fresh login; the account may lack permission for this call" } else { "; a new session was obtained but the request body could not be cloned, so send it again" }
    )]
    SessionRejected {
        /// Provider name.
        provider: &'static str,
        /// Whether the request was retried with a fresh session.
        retried: bool,
    },

    /// The previous login failed and the client is backing off before it
    /// contacts the provider again.
    #[error("{provider} login is backing off after a failure; retry after {} ms (last error: {last_error})", retry_after.as_millis())]
    BackingOff {
        /// Provider name.
        provider: &'static str,
        /// How long until the next login attempt is allowed.
        retry_after: Duration,
        /// The error of the last attempt.
        #[source]
        last_error: Box<AuthError>,
    },

    /// The request could not be sent or its response not received
    /// (connection refused, TLS, timeout ...).
    #[error(
        "could not reach {provider}: {source}; check the base URL and network, the call can be retried"
    )]
    Transport {
        /// Provider name.
        provider: &'static str,
        /// The underlying error, with its URL removed.
        #[source]
        source: Arc<reqwest::Error>,
    },

    /// A login (or the wait for another process's login) did not finish in time.
    #[error("{provider} login did not finish within {} s; the call can be retried", after.as_secs())]
    Timeout {
        /// Provider name.
        provider: &'static str,
        /// The time allowed.
        after: Duration,
    },

    /// The provider answered something this client does not understand.
    #[error("unexpected response from {provider}{}: {detail}", status_hint(*status))]
    UnexpectedResponse {
        /// Provider name.
        provider: &'static str,
        /// HTTP status, when the problem is tied to one.
        status: Option<u16>,
        /// What was wrong, with a short, redacted excerpt of the body.
        detail: String,
    },

    /// The response body exceeded the configured size cap.
    #[error(
        "response from {provider} exceeds the {limit}-byte limit; raise HttpSettings::max_body if this is expected"
    )]
    BodyTooLarge {
        /// Provider name.
        provider: &'static str,
        /// The cap, in bytes.
        limit: usize,
    },

    /// The provider returned an API error.
    #[error("{provider} API error {code}: {message}")]
    Api {
        /// Provider name.
        provider: &'static str,
        /// The provider's error code, as text.
        code: String,
        /// The provider's message (secret-free excerpt).
        message: String,
        /// Whether retrying later may succeed.
        retryable: bool,
        /// The provider's typed error, when it has one.
        #[source]
        source: Option<ProviderErrorSource>,
    },

    /// The provider's login code panicked. The panic was caught: every task
    /// waiting for that login gets this error and the next call starts a
    /// fresh login.
    #[error(
        "{provider} login code panicked (a bug in the provider crate; please report it); the next call tries a fresh login"
    )]
    LoginPanicked {
        /// Provider name.
        provider: &'static str,
    },

    /// The login task was stopped before it finished, which happens when
    /// its Tokio runtime shuts down.
    #[error(
        "{provider} login was aborted because its Tokio runtime shut down; call again from a running runtime"
    )]
    LoginAborted {
        /// Provider name.
        provider: &'static str,
    },

    /// The provider rejected these credentials so many times in a row that
    /// the client stopped trying: one more attempt could lock the account
    /// (Electa) or breach a fair-usage policy (CTC).
    #[error(
        "{provider} rejected these credentials {failures} times in a row; the client stopped logging in so the account is not locked: configure new credentials, then call reset() on the client"
    )]
    CredentialsBlocked {
        /// Provider name.
        provider: &'static str,
        /// Consecutive credential rejections that led here.
        failures: u32,
    },

    /// Another process sharing the store logged in with these same credentials
    /// and the provider rejected them: the account's secret was rotated and
    /// this client still holds the old one. No login is attempted (it would
    /// only count towards the provider's lockout).
    #[error(
        "{provider} rejected these credentials when another process sharing the token store used them; the secret was probably rotated: call rotate_credentials with the new secret (or restart with the new configuration)"
    )]
    StaleCredentials {
        /// Provider name.
        provider: &'static str,
    },

    /// The client was logged out while this login was in flight; the new
    /// session was neither kept nor stored.
    #[error(
        "{provider} client was logged out while this login was in flight; call again to log in anew"
    )]
    LoggedOut {
        /// Provider name.
        provider: &'static str,
    },

    /// The client configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The shared token store failed.
    #[error("token store error: {0}")]
    Store(String),

    /// The provider answered with a redirect this client does not follow:
    /// any redirect of a request that carries credentials (login, logout,
    /// keep-alive, key and token management), or a redirect of an
    /// authorized call to another origin (scheme, host or port). Nothing was
    /// sent to the target.
    #[error(
        "{provider} answered HTTP {status} redirecting to {target_host}; credentials and tokens are never sent to another origin and logins never follow redirects: configure the base URL the provider redirects to (or allow that origin explicitly for calls)"
    )]
    Redirect {
        /// Provider name.
        provider: &'static str,
        /// The redirect status (301, 302, 303, 307, 308 ...).
        status: u16,
        /// Host (and port, when not the scheme's default) of the target;
        /// never a path or query.
        target_host: String,
    },

    /// An operation of an [`AccountRegistry`](crate::AccountRegistry) named
    /// an account the registry does not hold: it was never created, was
    /// removed, or was evicted (idle, or least recently used at the bound).
    #[error(
        "account {key} is not in the registry (never created, removed, or evicted); create it with get_or_create from the account's configuration (with the new secrets, when rotating them)"
    )]
    #[non_exhaustive]
    UnknownAccount {
        /// The account's cache key ([`Provider::cache_key`](crate::Provider::cache_key),
        /// never a secret).
        key: String,
    },

    /// A request was to be authorized for a URL outside the provider's
    /// origin and the origins allowed on the builder. Nothing was sent.
    #[error(
        "refusing to send the {provider} token to {origin}: it is not the provider's origin; build the URL with the provider's endpoint() or allow that origin with AuthenticatedBuilder::allow_origin"
    )]
    ForeignOrigin {
        /// Provider name.
        provider: &'static str,
        /// The request's origin (`scheme://host:port`, no path or query).
        origin: String,
    },
}

fn retry_hint(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| format!(" (after {} s)", d.as_secs()))
}

fn status_hint(status: Option<u16>) -> String {
    status.map_or_else(String::new, |s| format!(" (HTTP {s})"))
}

impl AuthError {
    /// Builds a [`AuthError::Transport`] error, removing the URL (which may
    /// carry a secret query parameter).
    pub fn transport(provider: &'static str, err: reqwest::Error) -> Self {
        if err.is_body() || err.is_decode() {
            return AuthError::UnexpectedResponse {
                provider,
                status: err.status().map(|s| s.as_u16()),
                detail: "the response body was cut off or could not be decoded".to_owned(),
            };
        }
        AuthError::Transport {
            provider,
            source: Arc::new(err.without_url()),
        }
    }

    /// Builds a [`AuthError::Config`] error.
    pub fn config(message: impl fmt::Display) -> Self {
        AuthError::Config(message.to_string())
    }

    /// Whether trying again later may succeed without changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            AuthError::Transport { .. }
            | AuthError::Timeout { .. }
            | AuthError::Throttled { .. }
            | AuthError::BackingOff { .. }
            | AuthError::LockedOut { .. }
            | AuthError::Store(_) => true,
            AuthError::UnexpectedResponse { status, .. } => {
                matches!(status, Some(s) if *s >= 500 || *s == 408)
            }
            AuthError::Api { retryable, .. } => *retryable,
            AuthError::InvalidCredentials { .. }
            | AuthError::SessionRejected { .. }
            | AuthError::BodyTooLarge { .. }
            | AuthError::LoginPanicked { .. }
            | AuthError::LoginAborted { .. }
            | AuthError::CredentialsBlocked { .. }
            | AuthError::StaleCredentials { .. }
            | AuthError::LoggedOut { .. }
            | AuthError::Redirect { .. }
            | AuthError::ForeignOrigin { .. }
            | AuthError::UnknownAccount { .. }
            | AuthError::Config(_) => false,
        }
    }

    /// Whether this error means the credentials themselves are wrong.
    pub fn is_invalid_credentials(&self) -> bool {
        matches!(self, AuthError::InvalidCredentials { .. })
    }

    /// The provider's typed error carried by this error, if it is a `T`.
    ///
    /// ```
    /// # use auth_core::AuthError;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("code 7")]
    /// struct Code7;
    /// let err = AuthError::Api {
    ///     provider: "demo",
    ///     code: "7".into(),
    ///     message: "access denied".into(),
    ///     retryable: false,
    ///     source: Some(std::sync::Arc::new(Code7)),
    /// };
    /// assert!(err.provider_error::<Code7>().is_some());
    /// ```
    pub fn provider_error<T: StdError + 'static>(&self) -> Option<&T> {
        match self {
            AuthError::InvalidCredentials {
                source: Some(s), ..
            }
            | AuthError::Api {
                source: Some(s), ..
            } => s.downcast_ref::<T>(),
            AuthError::BackingOff { last_error, .. } => last_error.provider_error::<T>(),
            _ => None,
        }
    }

    /// Whether a failed login with this error may have been processed by the
    /// provider, and so counts against a lockout budget. Only answers that
    /// prove the login was not processed spend nothing: a refused
    /// connection, HTTP 503, throttling (429), and errors raised before
    /// anything was sent. A timeout after the request left, a 500, 502 or 504
    /// and every other answer count.
    pub fn counts_as_login_attempt(&self) -> bool {
        match self {
            AuthError::Transport { source, .. } => !source.is_connect(),
            AuthError::UnexpectedResponse { status, .. } => *status != Some(503),
            AuthError::Api { .. } => true,
            AuthError::Throttled { .. }
            | AuthError::LockedOut { .. }
            | AuthError::BackingOff { .. }
            | AuthError::CredentialsBlocked { .. }
            | AuthError::StaleCredentials { .. }
            | AuthError::LoggedOut { .. }
            | AuthError::LoginAborted { .. }
            | AuthError::ForeignOrigin { .. }
            | AuthError::UnknownAccount { .. }
            | AuthError::Config(_)
            | AuthError::Store(_) => false,
            // A redirect is an answer: the server may have processed the
            // login before redirecting.
            AuthError::Redirect { .. }
            | AuthError::InvalidCredentials { .. }
            | AuthError::SessionRejected { .. }
            | AuthError::Timeout { .. }
            | AuthError::BodyTooLarge { .. }
            | AuthError::LoginPanicked { .. } => true,
        }
    }

    /// How long the provider (or the guard) asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AuthError::LockedOut { retry_after, .. }
            | AuthError::BackingOff { retry_after, .. } => Some(*retry_after),
            AuthError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
