//! # auth-core
//!
//! The token lifecycle engine behind the vendor auth clients (`ctc-auth`,
//! `plaspy-auth`, `wialon-token`, `cielo24-auth`, `electa-auth`).
//!
//! A provider crate implements [`Provider`]: how to log in, how to put the
//! token on a request, what response means "log in again". [`Authenticated`]
//! does the rest:
//!
//! * **log in once, reuse the token**: [`Authenticated::session`] is a
//!   lock-free read of the cached session;
//! * **single flight**: however many tasks ask at once, one login goes out and
//!   its result (or error) reaches all of them;
//! * **refresh ahead of expiry** with a margin and jitter ([`RefreshPolicy`]);
//! * **transparent re-login**: [`Authenticated::send`] invalidates a rejected
//!   session (that generation only), logs in once, and retries once;
//! * **no lockouts**: [`LoginGuard`] backs off after failures and refuses
//!   logins locally before a provider's lockout rule would trigger;
//! * **shared sessions**: a [`TokenStore`] (in memory by default, Redis with
//!   `auth-redis`) shares sessions, the login lock and failure counts;
//! * **secrets stay secret**: tokens are `secrecy` types, redacted in `Debug`,
//!   never in errors, logs or traces.
//!
//! ```
//! use auth_core::{async_trait, AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session};
//! use secrecy::{ExposeSecret, SecretString};
//!
//! #[derive(Debug)]
//! struct Demo(url::Url);
//!
//! #[async_trait]
//! impl Provider for Demo {
//!     type Data = ();
//!     fn name(&self) -> &'static str { "demo" }
//!     fn cache_key(&self) -> String { "demo:account".into() }
//!     fn base_url(&self) -> &url::Url { &self.0 }
//!     async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
//!         Ok(NewSession::new(SecretString::from("t0k3n"), Expiry::UntilRejected, ()))
//!     }
//!     fn authorize(&self, s: &Session<()>, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
//!         rb.bearer_auth(s.token().expose_secret())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
//! let client = Authenticated::new(Demo("https://api.example.com".parse().unwrap()))?;
//! let session = client.session().await?;
//! assert_eq!(session.generation(), 1);
//! assert!(!format!("{session:?}").contains("t0k3n"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod dynamic;
mod error;
mod guard;
pub mod http;
#[cfg(feature = "middleware")]
pub mod middleware;
mod provider;
mod redirect;
mod session;
mod store;

pub use async_trait::async_trait;
pub use client::{Authenticated, AuthenticatedBuilder, Stats};
pub use dynamic::DynAuthenticated;
pub use error::{AuthError, ProviderErrorSource};
pub use guard::{BackoffPolicy, LockoutRule, LoginGuard};
pub use http::{HttpClient, HttpSettings};
pub use provider::Provider;
pub use redirect::{MAX_REDIRECTS, check_scope};
pub use session::{Expiry, Freshness, NewSession, RefreshPolicy, Session, StoredSession};
pub use store::{FailureCount, LockToken, MemoryStore, TokenStore};

/// Re-exported so provider crates and users name the same versions.
pub use reqwest;
pub use secrecy;
pub use url;
