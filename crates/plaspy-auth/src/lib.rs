#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod ext;
mod protocol;
mod provider;

#[cfg(feature = "serde")]
pub use config::PlaspySettings;
pub use config::{DEFAULT_BASE_URL, DEFAULT_LIFETIME, PlaspyBuilder};
pub use error::PlaspyApiError;
pub use ext::{PlaspyCallError, PlaspyClientExt, PlaspyReply};
pub use protocol::{ExpirySource, PlaspyLogin};
pub use provider::PlaspyProvider;

/// What a program using this crate alone needs.
pub use auth_core::{AuthError, AuthRequestBuilder, Authenticated, HttpSettings, Session};
pub use secrecy::{ExposeSecret, SecretString};
/// JSON values, as [`PlaspyReply`] holds them.
pub use serde_json;
pub use url::Url;

/// Provider name used in errors and traces.
pub const NAME: &str = "plaspy";
/// Path of the token endpoint, relative to the base URL.
pub const TOKEN_PATH: &str = "api/Auth/Token";

/// An authenticated Plaspy client.
pub type PlaspyClient = Authenticated<PlaspyProvider>;
