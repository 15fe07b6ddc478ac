//! The trait a provider crate implements.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use secrecy::SecretSlice;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AuthError;
use crate::guard::LockoutRule;
use crate::http::HttpClient;
use crate::limits::RequestLimits;
use crate::session::{NewSession, RefreshPolicy, Session};

/// What an answer to an authorized request says about the session, see
/// [`Provider::rejection`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The session was accepted (the answer may still be an API error).
    NotRejected,
    /// The session is no longer valid: log in again and retry.
    Rejected,
    /// An error answer that may mean the session is no longer valid (the
    /// provider does not document how an expired session is reported).
    /// The client logs in again and retries at most once per
    /// [`AuthenticatedBuilder::speculative_relogin_interval`](crate::AuthenticatedBuilder::speculative_relogin_interval);
    /// if the fresh session gets the same `code`, the answer is returned as
    /// it is and `code` is not taken for a rejection again until the next
    /// login.
    MaybeRejected {
        /// The provider's error code (compared as text).
        code: String,
    },
}

/// What a provider crate supplies: how to log in and out, how to put the
/// token on a request, and what response means "log in again".
///
/// Caching, single flight, refresh, retry and the shared store live in
/// [`Authenticated`](crate::Authenticated); a provider holds only what is
/// specific to its API.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug + 'static {
    /// Data that comes with a login (user info, session ids ...). Serializable
    /// so a shared store can hand the session to other processes.
    type Data: fmt::Debug + Send + Sync + Serialize + DeserializeOwned + 'static;

    /// Short provider name used in errors and traces, e.g. `"wialon"`.
    fn name(&self) -> &'static str;

    /// Identifies the account: provider, base URL and account name. Sessions
    /// are cached and shared under this key. Never contains a secret.
    fn cache_key(&self) -> String;

    /// The provider's base URL. Its origin (scheme, host, port) is where
    /// the token may go: [`Authenticated::send`](crate::Authenticated::send)
    /// and the middleware authorize a request only for this origin or one
    /// allowed with
    /// [`AuthenticatedBuilder::allow_origin`](crate::AuthenticatedBuilder::allow_origin).
    fn base_url(&self) -> &url::Url;

    /// Logs in and returns a new session.
    async fn login(&self, http: &HttpClient) -> Result<NewSession<Self::Data>, AuthError>;

    /// Ends a session on the server. The default does nothing (for providers
    /// without a logout call).
    async fn logout(
        &self,
        http: &HttpClient,
        session: &Session<Self::Data>,
    ) -> Result<(), AuthError> {
        let _ = (http, session);
        Ok(())
    }

    /// A cheap request that keeps an idle session alive on the server
    /// (Wialon `avl_evts`), sent by
    /// [`Authenticated::spawn_keep_alive`](crate::Authenticated::spawn_keep_alive).
    /// It is authorized and classified like any other request. The default
    /// has none.
    fn keep_alive_request(
        &self,
        http: &HttpClient,
        session: &Session<Self::Data>,
    ) -> Option<RequestBuilder> {
        let _ = (http, session);
        None
    }

    /// Headers every authorized request carries unless the caller set them
    /// (CTC's `Accept`). Default: none.
    fn default_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    /// Puts the session's token on a request (header, cookie or query
    /// parameter). A `Cookie` header added here is merged with the
    /// caller's into one (RFC 6265 allows one).
    fn authorize(&self, session: &Session<Self::Data>, request: RequestBuilder) -> RequestBuilder;

    /// Whether the body must be read to tell if a response with this status
    /// rejects the session (Wialon and cielo24 report it in the body).
    fn rejection_needs_body(&self, status: StatusCode) -> bool {
        let _ = status;
        false
    }

    /// Whether a response means the session is no longer valid and a new
    /// login is needed. `body` is empty unless
    /// [`rejection_needs_body`](Self::rejection_needs_body) returned true.
    fn is_rejected(&self, status: StatusCode, body: &[u8]) -> bool {
        let _ = body;
        status == StatusCode::UNAUTHORIZED
    }

    /// Whether a response rejects the session, may reject it, or does not.
    /// `body` is empty unless
    /// [`rejection_needs_body`](Self::rejection_needs_body) returned true.
    /// The default maps [`is_rejected`](Self::is_rejected): true is
    /// [`Rejection::Rejected`], false [`Rejection::NotRejected`].
    fn rejection(&self, status: StatusCode, body: &[u8]) -> Rejection {
        if self.is_rejected(status, body) {
            Rejection::Rejected
        } else {
            Rejection::NotRejected
        }
    }

    /// A provider rule that locks the account after repeated failed logins.
    /// The client stops before reaching it. Default: none.
    fn lockout_rule(&self) -> Option<LockoutRule> {
        None
    }

    /// How many credential rejections in a row the client accepts before it
    /// stops logging in until the credentials are replaced or
    /// [`Authenticated::reset`](crate::Authenticated::reset) is called.
    /// Default: the lockout rule's budget, or 3 without one (a provider
    /// whose fair-use policy punishes repeated logins should keep it low).
    fn credential_attempts(&self) -> u32 {
        self.lockout_rule().map_or(3, |rule| rule.max_failures)
    }

    /// The limits the provider's service puts on the requests of one
    /// session, which every request that uses the session honours (see
    /// [`RequestLimits`]). Declare values strictly below the service's, so
    /// that the client's own pacing, not the service, decides who waits.
    /// Default: none.
    fn request_limits(&self) -> Option<RequestLimits> {
        None
    }

    /// How far ahead of expiry the provider's sessions are renewed; every
    /// way of building a client starts from it
    /// ([`AuthenticatedBuilder::refresh_policy`](crate::AuthenticatedBuilder::refresh_policy)
    /// overrides it). Default [`RefreshPolicy::default`].
    fn refresh_policy(&self) -> RefreshPolicy {
        RefreshPolicy::default()
    }

    /// How long a login (and the distributed login lock) may take at most.
    fn login_timeout(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// The current secret fields as fingerprint input (see
    /// [`credential_material`](crate::rotation::credential_material)), for
    /// providers that implement
    /// [`RotateCredentials`](crate::rotation::RotateCredentials). Processes
    /// sharing a store compare keyed fingerprints of it to learn that the
    /// secret changed. `None` (the default): the provider has no rotatable
    /// secret.
    fn credential_material(&self) -> Option<SecretSlice<u8>> {
        None
    }
}
