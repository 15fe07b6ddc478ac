#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod access;
mod config;
mod error;
mod events;
mod ext;
mod protocol;
mod provider;
mod retry;

pub use access::TokenAccess;
#[cfg(feature = "serde")]
pub use config::WialonSettings;
pub use config::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_REQUEST_LIMITS, LoginFlags, MIN_IDLE_TIMEOUT, TOKEN_LEN,
    WIALON_HOSTING, WIALON_HOSTING_EU, WIALON_HOSTING_ORG, WIALON_HOSTING_US, WialonBuilder,
};
pub use error::{WialonError, WialonErrorCode};
pub use events::{WialonEvent, WialonEvents, poll_events_once};
pub use ext::WialonClientExt;
pub use protocol::{
    ExtraFields, Features, GisSid, LoginInfo, TokenInfo, TokenParams, TokenRecord, UserInfo,
};
pub use provider::WialonProvider;
pub use retry::LimitRetry;

/// What a program using this crate alone needs.
pub use auth_core::{
    AuthError, AuthRequestBuilder, Authenticated, HttpSettings, RequestLimits, Session,
};
pub use secrecy::{ExposeSecret, SecretString};
/// JSON values and `json!`, for `call` parameters and replies.
pub use serde_json::{self, Value, json};
pub use url::Url;

/// `next()` on the event stream of [`WialonClientExt::events`],
/// re-exported so reading events needs no other dependency.
pub use futures_util::StreamExt;

/// Provider name used in errors and traces.
pub const NAME: &str = "wialon";

/// An authenticated Wialon client; Remote API calls through
/// [`WialonClientExt`].
pub type WialonClient = Authenticated<WialonProvider>;

/// Token access flags (`fl` of `token/update`) as plain numbers, combinable
/// with `|`; [`TokenAccess`] is the typed form.
pub mod token_access {
    /// Online tracking.
    pub const ONLINE_TRACKING: i64 = 0x100;
    /// View access to most data.
    pub const VIEW: i64 = 0x200;
    /// Modification of non-sensitive data.
    pub const MODIFY_NON_SENSITIVE: i64 = 0x400;
    /// Modification of sensitive data.
    pub const MODIFY_SENSITIVE: i64 = 0x800;
    /// Modification of critical data, including message deletion.
    pub const MODIFY_CRITICAL: i64 = 0x1000;
    /// Communication.
    pub const COMMUNICATION: i64 = 0x2000;
    /// Unlimited access (every flag).
    pub const FULL: i64 = -1;
}
