//! [`ElectaClientExt`]: Electa API calls with the reply code checked.

use auth_core::http::status_error;
use auth_core::{AuthError, async_trait};

use crate::protocol::{self, Reply};
use crate::provider::unexpected;
use crate::{ElectaClient, NAME};

/// Electa calls on an [`ElectaClient`].
#[async_trait]
pub trait ElectaClientExt {
    /// `GET {API_URL}/{path}` with `params` plus the token, re-logging in
    /// when the token is rejected. Returns the reply when its code is 0; a
    /// non-zero code becomes [`AuthError::Api`] with an [`ElectaError`](crate::ElectaError)
    /// source; a CSV, HTML or malformed body becomes
    /// [`AuthError::UnexpectedResponse`].
    async fn call(&self, path: &str, params: &[(&str, &str)]) -> Result<Reply, AuthError>;
}

#[async_trait]
impl ElectaClientExt for ElectaClient {
    async fn call(&self, path: &str, params: &[(&str, &str)]) -> Result<Reply, AuthError> {
        let provider = self.provider();
        let request = self
            .http()
            .client()
            .get(provider.endpoint(path)?)
            .query(params);
        let response = self.send(request).await?;
        let (status, headers, body) = self.http().read_api(NAME, response).await?.into_parts();
        if !status.is_success() {
            return Err(status_error(
                NAME,
                status,
                &headers,
                &body,
                &[&*provider.app_key.current()],
            ));
        }
        let reply = protocol::parse_reply(&body).map_err(|e| unexpected(status, &e))?;
        if reply.code != 0 {
            return Err(provider.reply_error(&reply));
        }
        Ok(reply)
    }
}
