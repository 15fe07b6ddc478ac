#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod ext;
pub mod protocol;
mod provider;
mod rules;

#[cfg(feature = "serde")]
pub use config::ElectaSettings;
pub use config::{
    APP_KEY_LEN, DEFAULT_TOKEN_PARAM, ElectaBuilder, LOCKOUT_WINDOW, MAX_FAILURES, Method,
    TOKEN_LIFETIME,
};
pub use error::{ElectaError, ElectaErrorKind};
pub use ext::ElectaClientExt;
pub use protocol::{Reply, ReplyError};
pub use provider::{ElectaProvider, ElectaSession};
pub use rules::{INVALID_CREDENTIALS_TEXT, RejectionRules};

/// What a program using this crate alone needs.
pub use auth_core::{AuthError, AuthRequestBuilder, Authenticated, HttpSettings, Session};
pub use secrecy::{ExposeSecret, SecretString};
pub use url::Url;

/// Provider name used in errors and traces.
pub const NAME: &str = "electa";

/// An authenticated Electa client.
pub type ElectaClient = Authenticated<ElectaProvider>;
