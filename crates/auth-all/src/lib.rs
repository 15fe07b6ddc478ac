#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod settings;

pub use auth_core as core;
pub use auth_core::{
    AccountRegistry, AccountRegistryBuilder, AuthError, Authenticated, AuthenticatedBuilder,
    BackoffPolicy, DynAuthenticated, Expiry, HttpClient, HttpSettings, LockoutRule, MemoryStore,
    Provider, RefreshPolicy, RegistryStats, RequestLimits, Session, Stats, TlsBackend, TokenStore,
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
