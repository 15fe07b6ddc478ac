//! [`Cielo24ClientExt`]: cielo24 calls with the reply checked, and the
//! secure-key call.

use auth_core::http::unexpected_body;
use auth_core::reqwest::{Response, StatusCode};
use auth_core::{AuthError, async_trait};
use secrecy::SecretString;

use crate::protocol::{self, ApiKeyResponse};
use crate::provider::unparsable_success;
use crate::{Cielo24Client, Cielo24Credential, NAME};

/// cielo24 calls on a [`Cielo24Client`].
#[async_trait]
pub trait Cielo24ClientExt {
    /// `GET {base}/{path}` with `query` (the client adds `v` and
    /// `api_token`), re-logging in on `BAD_API_TOKEN`, and parses the JSON
    /// reply. Error replies become [`AuthError::Api`] with a
    /// [`Cielo24Error`](crate::Cielo24Error) source.
    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, AuthError>;

    /// `account/generate_api_key`: a long-term secure key for this account,
    /// usable with [`Cielo24Builder::secure_key`](crate::Cielo24Builder::secure_key) instead of the password.
    /// Without `force_new`, cielo24 returns the existing key if there is one.
    async fn generate_api_key(&self, force_new: bool) -> Result<SecretString, AuthError>;

    /// Rotates this client onto a secure key in one call:
    /// [`generate_api_key`](Self::generate_api_key)`(force_new)`, then
    /// [`rotate_credentials`](auth_core::Authenticated::rotate_credentials)
    /// with it. With `force_new`, cielo24 issues a new key (the old one
    /// stops working for every process still holding it: rotate them with
    /// the returned key). The current session keeps serving; the next
    /// login uses the key.
    async fn rotate_api_key(&self, force_new: bool) -> Result<SecretString, AuthError>;
}

async fn read_reply(
    client: &Cielo24Client,
    response: Response,
) -> Result<(StatusCode, bytes::Bytes), AuthError> {
    let (status, headers, body) = client.http().read_api(NAME, response).await?.into_parts();
    if !status.is_success() {
        return Err(client.provider().error_from(status, &headers, &body, false));
    }
    Ok((status, body))
}

#[async_trait]
impl Cielo24ClientExt for Cielo24Client {
    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, AuthError> {
        let request = self
            .http()
            .client()
            .get(self.provider().endpoint(path)?)
            .query(query);
        let response = self.send(request).await?;
        let (status, body) = read_reply(self, response).await?;
        serde_json::from_slice(&body).map_err(|_| {
            unexpected_body(
                NAME,
                status,
                &body,
                "a JSON reply",
                &[self.provider().credential().secret()],
            )
        })
    }

    async fn generate_api_key(&self, force_new: bool) -> Result<SecretString, AuthError> {
        let provider = self.provider();
        let request = self
            .http()
            .client()
            .get(provider.endpoint(protocol::GENERATE_API_KEY_PATH)?)
            .query(&[
                ("account_id", provider.username()),
                ("force_new", if force_new { "true" } else { "false" }),
            ]);
        // A key-management call: through our own client, whatever client
        // the application supplied.
        let response = self.send_credentials(request).await?;
        let (status, body) = read_reply(self, response).await?;
        let reply: ApiKeyResponse = serde_json::from_slice(&body)
            .map_err(|_| unparsable_success(status, &body, "{\"ApiKey\": \"<hex>\"}"))?;
        if reply.api_key.trim().is_empty() {
            return Err(AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(status.as_u16()),
                detail: "the generate_api_key reply has an empty ApiKey".to_owned(),
            });
        }
        Ok(SecretString::from(reply.api_key.trim().to_owned()))
    }

    async fn rotate_api_key(&self, force_new: bool) -> Result<SecretString, AuthError> {
        let key = self.generate_api_key(force_new).await?;
        self.rotate_credentials(Cielo24Credential::SecureKey(key.clone()))
            .await?;
        Ok(key)
    }
}
