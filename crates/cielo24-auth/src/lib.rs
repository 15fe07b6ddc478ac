#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod ext;
pub mod protocol;
mod provider;

#[cfg(feature = "serde")]
pub use config::Cielo24Settings;
pub use config::{
    Cielo24Builder, Cielo24Credential, CredentialPlacement, DEFAULT_API_VERSION,
    DEFAULT_IDLE_TIMEOUT, LoginMethod, PRODUCTION_URL, PasswordHeader, SANDBOX_URL,
};
pub use error::{Cielo24Error, ErrorType};
pub use ext::Cielo24ClientExt;
pub use provider::{Cielo24Provider, Cielo24Session};

/// What a program using this crate alone needs.
pub use auth_core::{AuthError, AuthRequestBuilder, Authenticated, HttpSettings, Session};
pub use secrecy::{ExposeSecret, SecretString};
/// JSON values, as [`Cielo24ClientExt::get_json`] returns them.
pub use serde_json;
pub use url::Url;

/// Provider name used in errors and traces.
pub const NAME: &str = "cielo24";

/// An authenticated cielo24 client.
pub type Cielo24Client = Authenticated<Cielo24Provider>;
