#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
mod builder;
mod client;
mod dynamic;
mod error;
mod flight;
mod gate;
mod guard;
pub mod http;
mod keepalive;
mod limits;
#[cfg_attr(not(feature = "metrics"), doc(hidden))]
pub mod metrics;
#[cfg(feature = "middleware")]
pub mod middleware;
mod provider;
mod redirect;
mod registry;
mod request;
pub mod rotation;
mod session;
pub mod settings;
mod shared;
mod store;
mod tls;

pub use async_trait::async_trait;
pub use builder::{
    AuthenticatedBuilder, DEFAULT_LOCK_LEASE, DEFAULT_MIN_LOGIN_INTERVAL,
    DEFAULT_SPECULATIVE_RELOGIN_INTERVAL,
};
pub use client::{Authenticated, Stats};
pub use dynamic::DynAuthenticated;
pub use error::{AuthError, ProviderErrorSource};
pub use guard::{BackoffPolicy, LockoutRule, LoginGuard};
pub use http::{HttpClient, HttpReply, HttpSettings};
pub use limits::RequestLimits;
pub use provider::{Provider, Rejection};
pub use redirect::{MAX_REDIRECTS, check_scope};
pub use registry::{
    AccountRegistry, AccountRegistryBuilder, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CLIENTS,
    RegistryStats,
};
pub use request::AuthRequestBuilder;
pub use rotation::{RotateCredentials, SecretCell};
pub use session::{Expiry, Freshness, NewSession, RefreshPolicy, Session, StoredSession};
pub use store::{FailureCount, LockToken, MemoryStore, TokenStore};
pub use tls::TlsBackend;

/// Re-exported so provider crates and users name the same versions.
pub use reqwest;
pub use secrecy;
pub use url;
