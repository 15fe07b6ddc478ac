//! # auth-redis
//!
//! A [`TokenStore`](auth_core::TokenStore) on Redis for the vendor auth
//! clients, so a fleet of processes (many workers on many machines) logs in
//! **once** per account instead of once per process: CTC treats repeated
//! logins as a fair-usage violation, and Electa's lockout counts failed logins
//! account-wide.
//!
//! What [`RedisStore`] shares, per account ([`Provider::cache_key`]), each
//! operation one Lua script (atomic), every time taken from the Redis clock
//! (`TIME`, `PTTL`), never from a process's own clock:
//!
//! * **the session**, with a TTL matching its expiry; other processes adopt it
//!   instead of logging in, and [`load`](auth_core::TokenStore::load) reports
//!   the time it has left by its TTL. Saves are *fenced*: a session is stored
//!   only when no session of a higher generation is (a slow process never
//!   replaces a newer session with an older one). A rejection removes it only
//!   if it is still the rejected generation; an idle-expiring session in use
//!   has its TTL extended only while it is still the current generation.
//! * **generation numbers** (`INCR`, floored at the Redis clock in µs so they
//!   keep growing even if Redis restarts without persistence; the counter
//!   expires 30 days after its last use, which is harmless for the same
//!   reason).
//! * **the login lock**, a lease (`SET NX PX` with a random token) extended
//!   by its holder while the login runs and released by compare-and-delete:
//!   one process logs in, the others poll the store and adopt its session. A
//!   holder that dies blocks others for at most the lease.
//! * **failed logins** of the lockout guard, in a sliding window: one sorted
//!   set member per failure, scored with its time by the Redis clock, counted
//!   over any window up to 24 h; provider lockouts are pinned for their TTL.
//!   "At most N failures per window" holds for the whole fleet, and a
//!   successful login does not erase failures.
//!
//! Every key expires (sessions with their TTL, locks with their lease,
//! failures 24 h after the last one, the generation counter after 30 days),
//! and all keys of an account share one Redis Cluster hash slot (the account
//! key is the hash tag). The layout is documented on [`RedisStore`].
//!
//! ## Store format and rolling deploys
//!
//! Keys carry the store format version (`{prefix}:v2:{K}:...`). Versions
//! before it used the v1 format (`{prefix}:K:session|generation|lock|failures`,
//! with a fixed-window failure counter). While
//! [`RedisStoreBuilder::write_legacy_v1`] is on (the default), a v2 store
//! keeps a fleet that runs both versions during a rolling deploy to one
//! login and one failure budget:
//!
//! * sessions are saved in both formats (fenced by the higher generation of
//!   the two), and a v1 session of a higher generation than the v2 one is
//!   loaded and adopted (copied into the v2 key with its TTL); a removal
//!   or touch applies to both;
//! * the lock is taken only when both the v2 and the v1 lock are free, and
//!   then held in both (same token and lease); extending and releasing apply
//!   to both, so old and new processes exclude each other;
//! * the v1 generation counter is kept in step (generations grow across
//!   versions);
//! * each failure is also added to the v1 counter (so old processes count
//!   it), and the store counts the v1 counter's failures that old processes
//!   added, until that counter expires, on top of its own sliding window,
//!   without counting its own twice (it remembers how many it added to the
//!   counter's current window); a provider lockout is added to the v1
//!   counter too, and a reset clears both.
//!
//! Switch `write_legacy_v1` off once no old process remains (and before
//! moving to Redis Cluster: the v1 keys are not in the account's slot).
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
//! A single Redis (or a primary behind a proxy): the key layout is ready for
//! Redis Cluster (every script touches one hash slot, with
//! `write_legacy_v1` off), but this crate has no Cluster or Sentinel client.
//! TLS (`rediss://`) is not compiled in. Requires Redis ≥ 4 (tested with 7).
//!
//! [`Provider::cache_key`]: auth_core::Provider::cache_key
//! [`AuthError::Store`]: auth_core::AuthError::Store
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod config;
mod scripts;
mod secrets;
mod store;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT, DEFAULT_OUTAGE_COOLDOWN, DEFAULT_PREFIX,
    RedisStoreBuilder,
};
pub use store::{FAILURE_HORIZON, FORMAT_VERSION, GENERATION_TTL, RedisStore};
