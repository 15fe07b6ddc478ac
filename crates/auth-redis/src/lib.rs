//! # auth-redis
//!
//! A [`TokenStore`](auth_core::TokenStore) on Redis for the vendor auth
//! clients, so a fleet of processes (many workers on many machines) logs in
//! **once** per account instead of once per process: CTC treats repeated
//! logins as a fair-usage violation, and Electa's lockout counts failed logins
//! account-wide.
//!
//! What [`RedisStore`] shares, per account ([`Provider::cache_key`]):
//!
//! * **the session**, with a TTL matching its expiry; other processes adopt it
//!   instead of logging in. A rejection removes it only if it is still the
//!   rejected *generation* (compare-and-delete in Lua).
//! * **generation numbers** (`INCR`, floored at the Redis clock in µs so they
//!   keep growing even if Redis restarts without persistence).
//! * **the login lock** (`SET key token NX PX ttl`, released by
//!   compare-and-delete): one process logs in, the others poll the store and
//!   adopt its session. A holder that dies blocks others for at most the
//!   lock's TTL (the provider's login timeout + 5 s).
//! * **the failed-login count** of the lockout guard (`INCR` + `PEXPIRE` on the
//!   first failure, atomically): "at most N failures per window" holds for the
//!   whole fleet.
//!
//! **Redis down or slow?** Every operation has a short timeout (default
//! 500 ms) and fails with [`AuthError::Store`]; the client then logs a warning
//! and carries on with its in-process cache (single flight per process, so
//! at most one login per process). After a connection failure the store
//! fails fast for a short cool-down instead of waiting on each call, and
//! reconnects in the background; sharing resumes by itself when Redis is
//! back. Nothing panics.
//!
//! **Secrets.** The Redis URL is kept as a secret (it may carry a password):
//! `Debug` shows it redacted, errors never contain it. Stored sessions hold
//! the token in clear unless the `encryption` feature is enabled and a key is
//! given: then the session is sealed with XChaCha20-Poly1305 (bound to the
//! account and generation).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use auth_core::{async_trait, AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session};
//! use auth_redis::RedisStore;
//! use auth_core::secrecy::{ExposeSecret, SecretString};
//!
//! #[derive(Debug)]
//! struct Demo(auth_core::url::Url);
//!
//! #[async_trait]
//! impl Provider for Demo {
//!     type Data = ();
//!     fn name(&self) -> &'static str { "demo" }
//!     fn cache_key(&self) -> String { "demo:https://api.example.com:account-1".into() }
//!     fn base_url(&self) -> &auth_core::url::Url { &self.0 }
//!     async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
//!         Ok(NewSession::new(SecretString::from("t0k3n"), Expiry::AfterIssue(Duration::from_secs(1200)), ()))
//!     }
//!     fn authorize(&self, s: &Session<()>, rb: auth_core::reqwest::RequestBuilder) -> auth_core::reqwest::RequestBuilder {
//!         rb.bearer_auth(s.token().expose_secret())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
//! let store = RedisStore::builder("redis://:password@redis.internal:6379/0")
//!     .prefix("myapp")
//!     .op_timeout(Duration::from_millis(300))
//!     .build()
//!     .await?;
//! let client = Authenticated::builder(Demo("https://api.example.com".parse().unwrap())).store(Arc::new(store)).build()?;
//! // Every process built like this shares one session (and one login).
//! let session = client.session().await?;
//! # let _ = session;
//! # Ok(()) }
//! ```
//!
//! ## Cargo features
//!
//! * `encryption` (off by default): `RedisStoreBuilder::encryption_key`
//!   encrypts stored sessions (token and provider data) with
//!   XChaCha20-Poly1305 (`chacha20poly1305` crate) under a 32-byte key shared
//!   by the fleet. Values written without the key are refused by a store that
//!   has one, and the reverse.
//!
//! ## Limits
//!
//! A single Redis (or a primary behind a proxy); Redis Cluster and Sentinel
//! are not supported. TLS (`rediss://`) is not compiled in. Requires Redis ≥ 4
//! (tested with 7).
//!
//! [`Provider::cache_key`]: auth_core::Provider::cache_key
//! [`AuthError::Store`]: auth_core::AuthError::Store
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod config;
mod store;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT, DEFAULT_OUTAGE_COOLDOWN, DEFAULT_PREFIX,
    RedisStoreBuilder,
};
pub use store::RedisStore;
