//! # wialon-token
//!
//! Wialon Remote API sessions opened with a token (`token/login`), on top of
//! [`auth_core`]: one login shared by all tasks, the session id (`eid`) sent
//! as `sid`, idle expiry (5 minutes without requests), transparent re-login
//! when Wialon answers `{"error":1}` or `{"error":1011}`, an `avl_evts`
//! keep-alive, typed errors, `core/logout`, and token management
//! (`token/list`, `token/update`).
//!
//! ```
//! use wialon_token::{LoginFlags, WialonClient, WialonProvider};
//! use serde_json::{json, Value};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sim = auth_sim::wialon::WialonSim::start(Default::default()).await?;
//! # let host = sim.base_url().to_string();
//! # let token = auth_sim::wialon::DEMO_TOKEN.to_owned();
//! // host: wialon_token::WIALON_HOSTING by default, or a Wialon Local URL.
//! let provider = WialonProvider::builder()
//!     .token(token)
//!     .flags(LoginFlags::default() | LoginFlags::TOKEN)
//!     .host(host)
//!     .build()?;
//! let client = WialonClient::new(provider)?;
//!
//! // Logs in on first use; every call slides the 5-minute idle deadline.
//! let units: Value = client
//!     .call("core/search_items", &json!({
//!         "spec": {"itemsType": "avl_unit", "propName": "sys_name",
//!                  "propValueMask": "*", "sortType": "sys_name"},
//!         "force": 1, "flags": 1, "from": 0, "to": 0
//!     }))
//!     .await?;
//! println!("{} units", units["totalItemsCount"]);
//!
//! let session = client.session().await?;
//! println!("logged in as {:?}", session.data().user_name);
//! // Keep the session alive while idle (stops when the client is dropped).
//! client.spawn_keep_alive(std::time::Duration::from_secs(60))?;
//! client.logout().await?;
//! # Ok(()) }
//! ```
//!
//! Events: `avl_evts` is both the keep-alive and the event feed, and it
//! clears the events it returns. An application that reads events consumes
//! [`WialonClient::events`] (built on [`poll_events_once`]) instead of
//! running `spawn_keep_alive`: the polls keep the session alive.
//!
//! Limits: Wialon processes at most 10 requests of one session at once;
//! [`WialonClient::call`] retries a refusal (10, 1003) with jittered
//! exponential back-off ([`LimitRetry`]), so a burst queues instead of
//! failing.
//!
//! Errors: a `{"error":N}` reply is a [`WialonError`] (code enum
//! [`WialonErrorCode`]) carried in [`AuthError`]: at login 4, 7 and 8 (a
//! malformed, non-activated or unknown token) are
//! [`AuthError::InvalidCredentials`], any other code
//! [`AuthError::Api`] with `retryable` set for 9, 10 and 1003. Retrieve it
//! with `err.provider_error::<WialonError>()`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod access;
mod client;
mod config;
mod error;
mod events;
mod protocol;
mod retry;

pub use access::TokenAccess;
pub use auth_core::{AuthError, Authenticated, RequestLimits, Session};
pub use client::{WialonClient, WialonProvider};
pub use config::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_REQUEST_LIMITS, LoginFlags, MIN_IDLE_TIMEOUT, TOKEN_LEN,
    WIALON_HOSTING, WIALON_HOSTING_EU, WIALON_HOSTING_ORG, WIALON_HOSTING_US,
    WialonProviderBuilder,
};
pub use error::{WialonError, WialonErrorCode};
pub use events::{WialonEvent, WialonEvents, poll_events_once};
pub use protocol::{
    ExtraFields, Features, GisSid, LoginInfo, TokenInfo, TokenParams, TokenRecord, UserInfo,
};
pub use retry::LimitRetry;

/// `next()` on the event stream of [`WialonClient::events`], re-exported so
/// reading events needs no other dependency.
pub use futures_util::StreamExt;

/// Provider name used in errors and traces.
pub const PROVIDER: &str = "wialon";

/// Token access flags (`fl` of `token/update`) as plain numbers, combinable
/// with `|`; [`TokenAccess`] is the typed form.
pub mod token_access {
    /// Online tracking.
    pub const ONLINE_TRACKING: i64 = 0x100;
    /// View access to most data.
    pub const VIEW: i64 = 0x200;
    /// Modification of non-sensitive data.
    pub const MODIFY_NON_SENSITIVE: i64 = 0x400;
    /// Modification of sensitive data.
    pub const MODIFY_SENSITIVE: i64 = 0x800;
    /// Modification of critical data, including message deletion.
    pub const MODIFY_CRITICAL: i64 = 0x1000;
    /// Communication.
    pub const COMMUNICATION: i64 = 0x2000;
    /// Unlimited access (every flag).
    pub const FULL: i64 = -1;
}
