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
//! ## Under faults
//!
//! The promises above hold when callers give up, code panics, the provider
//! or the store fails, and clocks disagree:
//!
//! * **A login belongs to the client, not to its callers.** It runs in a
//!   Tokio task of its own: a caller that times out or is dropped never
//!   cancels a login that may already have reached the provider. Its
//!   outcome is always recorded (the session installed and stored, or the
//!   failure counted and the back-off set) and the store's login lock is
//!   always released. A panic in a provider's login code is caught and
//!   handed to every waiter as [`AuthError::LoginPanicked`]; the next call
//!   starts a fresh login. Calls therefore need a Tokio runtime; when the
//!   runtime shuts down, a login in progress is dropped (its waiters get
//!   [`AuthError::LoginAborted`]) and its lock lease expires by itself.
//! * **No caller waits for a refresh while a valid session exists.** The
//!   caller that finds a session inside its refresh margin gets it at once
//!   and the renewal runs in the background. A failed renewal keeps the
//!   valid session until it really expires (and counts with the guard).
//! * **Lifetimes.** A session is used for at least
//!   [`min_login_interval`](AuthenticatedBuilder::min_login_interval)
//!   (default 5 s) whatever lifetime the provider states, unless it is
//!   rejected. An absolute expiry is measured on the server's clock when
//!   the reply carries a `Date` ([`NewSession::with_server_date`]), and a
//!   stored session's time left on the store's clock, never on the wall
//!   clock of the process that wrote it.
//! * **Lockout budgets** ([`LockoutRule`]) are sliding windows shared
//!   through the store: at most `max_failures` failed logins reach the
//!   provider in any window, and a success does not erase them. Only
//!   answers that prove a login was not processed spend nothing: a refused
//!   connection, 503 and 429 (which back off, honouring `Retry-After`).
//!   After the provider's budget of credential rejections in a row the
//!   client stops logging in ([`AuthError::CredentialsBlocked`]) until the
//!   credentials are fixed and [`Authenticated::reset`] is called.
//! * **Store outages never widen the budget.** While the store is
//!   unreachable, a process spends at most one failed login per window on
//!   its own and writes it to the store when the store returns, so the
//!   provider's budget holds for fleets of up to `max_failures` processes.
//!   For larger fleets, set
//!   [`fail_closed_when_store_down`](AuthenticatedBuilder::fail_closed_when_store_down):
//!   then no login is attempted for such an account while the store is
//!   down.
//! * **The store under partial failure** ([`TokenStore`]): the login lock is
//!   a lease extended while the login runs; saves are fenced by generation
//!   (an older session never replaces a newer one); an idle-expiring session
//!   in use has its stored TTL extended, so other processes keep adopting
//!   it; a logout is final (a login in flight installs and stores nothing).
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
#[cfg(feature = "middleware")]
pub mod middleware;
mod provider;
mod redirect;
mod request;
mod session;
pub mod settings;
mod store;

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
pub use request::AuthRequestBuilder;
pub use session::{Expiry, Freshness, NewSession, RefreshPolicy, Session, StoredSession};
pub use store::{FailureCount, LockToken, MemoryStore, TokenStore};

/// Re-exported so provider crates and users name the same versions.
pub use reqwest;
pub use secrecy;
pub use url;
