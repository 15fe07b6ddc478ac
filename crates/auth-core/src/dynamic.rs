//! [`DynAuthenticated`]: an object-safe view of [`Authenticated`], so one
//! service can hold clients of different providers in one collection.

use async_trait::async_trait;
use reqwest::{RequestBuilder, Response};
use secrecy::SecretString;

use crate::AuthError;
use crate::client::{Authenticated, Stats};
use crate::provider::Provider;

/// An authenticated client of any provider, behind `Box<dyn DynAuthenticated>`
/// or `Arc<dyn DynAuthenticated>`.
///
/// ```
/// # use auth_core::{DynAuthenticated};
/// fn names(clients: &[Box<dyn DynAuthenticated>]) -> Vec<&'static str> {
///     clients.iter().map(|c| c.provider_name()).collect()
/// }
/// ```
#[async_trait]
pub trait DynAuthenticated: Send + Sync + std::fmt::Debug {
    /// The provider's short name (`"wialon"`, `"ctc"` ...).
    fn provider_name(&self) -> &'static str;

    /// The account's cache key (no secrets).
    fn cache_key(&self) -> &str;

    /// The HTTP client to build requests with.
    fn http_client(&self) -> &reqwest::Client;

    /// The current session's token (logging in if needed), for APIs the
    /// client does not wrap. It stays a secret: expose it only where the
    /// provider's API needs it.
    async fn token(&self) -> Result<SecretString, AuthError>;

    /// Authorizes and sends a request, re-logging in once on rejection.
    async fn send(&self, request: RequestBuilder) -> Result<Response, AuthError>;

    /// Drops the current session (the next call logs in).
    async fn invalidate(&self);

    /// Logs out and forgets the session.
    async fn logout(&self) -> Result<(), AuthError>;

    /// Lifts a stop after repeated credential rejections and any back-off
    /// (see [`Authenticated::reset`]).
    fn reset(&self);

    /// Counters of logins, rejections and requests.
    fn stats(&self) -> Stats;

    /// The client as [`Any`](std::any::Any), to get the typed client back
    /// (`client.as_any().downcast_ref::<Authenticated<P>>()`) for what
    /// only it offers: credential rotation, the provider's own calls.
    fn as_any(&self) -> &dyn std::any::Any;
}

#[async_trait]
impl<P: Provider> DynAuthenticated for Authenticated<P> {
    fn provider_name(&self) -> &'static str {
        self.provider().name()
    }

    fn cache_key(&self) -> &str {
        Authenticated::cache_key(self)
    }

    fn http_client(&self) -> &reqwest::Client {
        self.http().client()
    }

    async fn token(&self) -> Result<SecretString, AuthError> {
        Ok(self.session().await?.token().clone())
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, AuthError> {
        Authenticated::send(self, request).await
    }

    async fn invalidate(&self) {
        if let Some(session) = self.cached() {
            Authenticated::invalidate(self, &session).await;
        }
    }

    async fn logout(&self) -> Result<(), AuthError> {
        Authenticated::logout(self).await
    }

    fn reset(&self) {
        Authenticated::reset(self);
    }

    fn stats(&self) -> Stats {
        Authenticated::stats(self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
