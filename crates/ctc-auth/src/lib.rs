#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod ext;
mod protocol;
mod provider;

#[cfg(feature = "serde")]
pub use config::CtcSettings;
pub use config::{CtcBuilder, CtcSecrets, EU_BASE_URL, Instance, TokenPlacement, US_BASE_URL};
pub use error::CtcApiError;
pub use ext::CtcClientExt;
pub use protocol::{AUTH_TOKEN_COOKIE, CtcLogin};
pub use provider::CtcProvider;

/// What a program using this crate alone needs.
pub use auth_core::{AuthError, AuthRequestBuilder, Authenticated, HttpSettings, Session};
pub use secrecy::{ExposeSecret, SecretString};
/// JSON values, as `CtcClientExt::get_json` can return them.
pub use serde_json;
pub use url::Url;

/// Provider name used in errors and traces.
pub const NAME: &str = "ctc";
/// Header carrying the application key.
pub const APP_KEY_HEADER: &str = "calamp-services-app";
/// `Accept` value sent with every call, as CTC's documentation shows.
pub const ACCEPT_JSON: &str = "application/json;charset=UTF-8";
/// Path of the login endpoint, relative to the instance's base URL.
pub const LOGIN_PATH: &str = "connect/services/login?useAuthToken=true";
/// Path of the logout endpoint, relative to the instance's base URL.
pub const LOGOUT_PATH: &str = "connect/services/logout";

/// An authenticated CTC client.
pub type CtcClient = Authenticated<CtcProvider>;
