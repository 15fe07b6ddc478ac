//! # auth-all
//!
//! One dependency for the vendor auth clients of this workspace, and a way
//! to choose providers at run time from configuration.
//!
//! ## Choosing features
//!
//! No feature is enabled by default: pick the providers you use, so you
//! compile (and audit) only their code and dependencies.
//!
//! | feature | module | what |
//! |---|---|---|
//! | `ctc` | [`ctc`] | CalAmp Telematics Cloud (`ctc-auth`) |
//! | `plaspy` | [`plaspy`] | Plaspy / ALTAGAMA GPS (`plaspy-auth`) |
//! | `wialon` | [`wialon`] | Wialon `token/login` (`wialon-token`) |
//! | `cielo24` | [`cielo24`] | cielo24 (`cielo24-auth`) |
//! | `electa` | [`electa`] | Electa Live (`electa-auth`) |
//! | `redis` | [`redis`] | sessions shared through Redis (`auth-redis`) |
//! | `sim` | [`sim`] | local simulators of the five APIs, for tests (`auth-sim`) |
//! | `middleware` | [`middleware`] | a `reqwest-middleware` middleware |
//! | `toml` | | [`ProviderConfig::from_toml_str`] / [`ProviderConfig::list_from_toml_str`] |
//! | `full` | | all of the above |
//!
//! ```toml
//! [dependencies]
//! auth-all = { version = "0.1", features = ["wialon", "ctc"] }
//! ```
//!
//! The engine, [`auth_core`], is always there as [`core`](mod@core), and its
//! main types are re-exported at the root ([`Authenticated`],
//! [`DynAuthenticated`], [`AuthError`], [`HttpSettings`] ...).
//!
//! ## Providers chosen at run time
//!
//! An application that integrates several vendors can describe its accounts
//! in a file and hold one `Vec<Box<dyn DynAuthenticated>>`: a
//! [`ProviderConfig`] is tagged by its `provider` field, validated by the
//! provider crate's builder, and [`connect`](ProviderConfig::connect)ed to an
//! object-safe [`DynAuthenticated`] (`send`, `token`, `invalidate`,
//! `logout`, `stats` ...). Nothing is sent until the first call, which logs
//! in; later calls reuse the session and log in again when the provider
//! rejects it.
//!
//! ```no_run
//! # #[cfg(all(feature = "plaspy", feature = "cielo24"))]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_all::{ConnectOptions, DynAuthenticated, ProviderConfig};
//!
//! let json = r#"[
//!   {"provider": "plaspy", "user_name": "fleet", "api_key": "…", "timeout_secs": 15},
//!   {"provider": "cielo24", "username": "media", "secure_key": "968a8b637a5040159424872fffdb895b"}
//! ]"#;
//! let configs = ProviderConfig::list_from_json_str(json)?; // errors name the field, never a secret
//! let clients: Vec<Box<dyn DynAuthenticated>> =
//!     auth_all::connect_all(configs, &ConnectOptions::new())?;
//!
//! for client in &clients {
//!     let url = match client.provider_name() {
//!         "plaspy" => "https://api.plaspy.com/api/devices",
//!         _ => "https://api.cielo24.com/api/job/list",
//!     };
//!     // Logs in on first use; re-logs in once if the session is rejected.
//!     let response = client.send(client.http_client().get(url)).await?;
//!     println!("{}: HTTP {}", client.provider_name(), response.status());
//! }
//! for client in &clients {
//!     client.logout().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! The same configuration can come from TOML (`[[providers]]` tables,
//! [`ProviderConfig::list_from_toml_str`], feature `toml`), from any other
//! serde format (`ProviderConfig` implements `Deserialize`; use
//! [`deserialize_providers`] for a list inside your own configuration
//! type), or from environment variables ([`ProviderConfig::from_env`]):
//!
//! ```text
//! AUTH_PROVIDER=wialon
//! AUTH_WIALON_TOKEN=…72 characters…
//! AUTH_WIALON_HOST=https://hst-api.wialon.eu
//! AUTH_WIALON_TIMEOUT_SECS=20
//! ```
//!
//! Variable names are `<PREFIX>_PROVIDER` and
//! `<PREFIX>_<PROVIDER>_<FIELD>` with the field names of each provider's
//! settings:
//!
//! | provider | variables (prefix `AUTH`) |
//! |---|---|
//! | `ctc` | `AUTH_CTC_USERNAME`, `AUTH_CTC_PASSWORD`, `AUTH_CTC_APP_KEY`, `AUTH_CTC_INSTANCE` (`us`, `eu` or a URL), `AUTH_CTC_TOKEN_PLACEMENT`, `AUTH_CTC_ALLOW_INSECURE_HTTP` |
//! | `plaspy` | `AUTH_PLASPY_USER_NAME`, `AUTH_PLASPY_API_KEY`, `AUTH_PLASPY_BASE_URL`, `AUTH_PLASPY_DEFAULT_LIFETIME_SECS`, `AUTH_PLASPY_ALLOW_INSECURE_HTTP` |
//! | `wialon` | `AUTH_WIALON_TOKEN`, `AUTH_WIALON_HOST`, `AUTH_WIALON_OPERATE_AS`, `AUTH_WIALON_FLAGS`, `AUTH_WIALON_IDLE_TIMEOUT_SECS`, `AUTH_WIALON_ALLOW_INSECURE_HTTP` |
//! | `cielo24` | `AUTH_CIELO24_USERNAME`, `AUTH_CIELO24_PASSWORD` or `AUTH_CIELO24_SECURE_KEY`, `AUTH_CIELO24_BASE_URL`, `AUTH_CIELO24_SANDBOX`, `AUTH_CIELO24_API_VERSION`, `AUTH_CIELO24_CREDENTIAL_PLACEMENT`, `AUTH_CIELO24_PASSWORD_HEADER`, `AUTH_CIELO24_IDLE_TIMEOUT_SECS`, `AUTH_CIELO24_ALLOW_INSECURE_HTTP` |
//! | `electa` | `AUTH_ELECTA_API_URL`, `AUTH_ELECTA_CID`, `AUTH_ELECTA_APP_KEY`, `AUTH_ELECTA_METHOD`, `AUTH_ELECTA_TOKEN_PARAM`, `AUTH_ELECTA_TOKEN_LIFETIME_SECS` |
//! | all | `AUTH_<PROVIDER>_TIMEOUT_SECS`, `AUTH_<PROVIDER>_CONNECT_TIMEOUT_SECS`, `AUTH_<PROVIDER>_MAX_BODY_BYTES`, `AUTH_<PROVIDER>_USER_AGENT` |
//!
//! ## Secrets
//!
//! Passwords, keys and tokens are [`secrecy::SecretString`]s from the moment
//! they are read: `Debug` shows `[REDACTED]`, and configuration errors
//! ([`ConfigError`]) name the field (`field `password``,
//! `AUTH_CTC_PASSWORD`) without its value, even when the value has the wrong
//! type, and without quoting the offending line of a TOML file.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod settings;

pub use auth_core as core;
pub use auth_core::{
    AuthError, Authenticated, AuthenticatedBuilder, BackoffPolicy, DynAuthenticated, Expiry,
    HttpClient, HttpSettings, LockoutRule, MemoryStore, Provider, RefreshPolicy, RequestLimits,
    Session, Stats, TokenStore,
};
pub use auth_core::{reqwest, secrecy, url};

pub use auth_core::settings::{COMMON_FIELDS, CommonSettings, ProviderSettings};
pub use config::{
    PROVIDERS, ProviderConfig, connect_all, deserialize_providers, enabled_providers,
};
pub use error::ConfigError;
pub use settings::ConnectOptions;

#[cfg(feature = "cielo24")]
pub use cielo24_auth::{
    Cielo24Settings, CredentialPlacement as Cielo24CredentialPlacement,
    PasswordHeader as Cielo24PasswordHeader,
};
#[cfg(feature = "ctc")]
pub use ctc_auth::{CtcSettings, TokenPlacement as CtcTokenPlacement};
#[cfg(feature = "electa")]
pub use electa_auth::{ElectaSettings, Method as ElectaMethod};
#[cfg(feature = "plaspy")]
pub use plaspy_auth::PlaspySettings;
#[cfg(feature = "wialon")]
pub use wialon_token::WialonSettings;

/// CalAmp Telematics Cloud: the `ctc-auth` crate.
#[cfg(feature = "ctc")]
pub use ctc_auth as ctc;

/// Plaspy / ALTAGAMA GPS: the `plaspy-auth` crate.
#[cfg(feature = "plaspy")]
pub use plaspy_auth as plaspy;

/// Wialon `token/login`: the `wialon-token` crate.
#[cfg(feature = "wialon")]
pub use wialon_token as wialon;

/// cielo24: the `cielo24-auth` crate.
#[cfg(feature = "cielo24")]
pub use cielo24_auth as cielo24;

/// Electa Live: the `electa-auth` crate.
#[cfg(feature = "electa")]
pub use electa_auth as electa;

/// Sessions shared through Redis: the `auth-redis` crate.
#[cfg(feature = "redis")]
pub use auth_redis as redis;

/// Local simulators of the five APIs: the `auth-sim` crate.
#[cfg(feature = "sim")]
pub use auth_sim as sim;

/// `AuthMiddleware` for `reqwest-middleware` (from `auth-core`).
#[cfg(feature = "middleware")]
pub use auth_core::middleware;
