//! [`CtcClientExt`]: CTC API calls with CTC's error answers typed.

use async_trait::async_trait;
use auth_core::{AuthError, AuthRequestBuilder};
use serde::de::DeserializeOwned;

use crate::{CtcClient, CtcProvider, NAME};

/// CTC API calls on a [`CtcClient`]: the answer read as JSON, an error
/// answer as [`AuthError::Api`] carrying a [`CtcApiError`](crate::CtcApiError)
/// (`429` as [`AuthError::Throttled`]).
#[async_trait]
pub trait CtcClientExt {
    /// Sends `request` (authorized, one re-login on `401`) and reads the
    /// JSON answer as `T`.
    async fn call_json<T: DeserializeOwned>(
        &self,
        request: AuthRequestBuilder<CtcProvider>,
    ) -> Result<T, AuthError>;

    /// `GET {instance}/{path}` read as `T`, e.g.
    /// `get_json::<serde_json::Value>("connect/results/events/device/123/avl/latest")`.
    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, AuthError>;
}

#[async_trait]
impl CtcClientExt for CtcClient {
    async fn call_json<T: DeserializeOwned>(
        &self,
        request: AuthRequestBuilder<CtcProvider>,
    ) -> Result<T, AuthError> {
        let response = request.send().await?;
        let (status, headers, body) = self.http().read_api(NAME, response).await?.into_parts();
        if !status.is_success() {
            return Err(self.provider().api_error(status, &headers, &body));
        }
        auth_core::http::parse_json(NAME, status, &body, "a JSON answer", &[])
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, AuthError> {
        self.call_json(self.get(path)).await
    }
}
