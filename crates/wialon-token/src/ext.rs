//! [`WialonClientExt`]: Remote API calls (`call`, token management, the
//! event feed) on a [`WialonClient`].

use std::future::Future;
use std::time::Duration;

use auth_core::AuthError;
use auth_core::http::{parse_json, status_error};
use futures_util::Stream;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::protocol::{ErrorReply, TokenParams, TokenRecord, TokenRecordWire};
use crate::{NAME, WialonClient, WialonError, WialonEvents};

/// Wialon Remote API calls on a [`WialonClient`].
pub trait WialonClientExt {
    /// Calls `svc` with `params` (serialized to the `params` JSON) and
    /// returns the reply as `T` (use `serde_json::Value` for any reply).
    ///
    /// The session is obtained (one login however many calls start at once)
    /// and sent as `sid`; an invalid-session reply (1 or 1011) logs in again
    /// and retries once; any other `{"error":N}` reply is
    /// [`AuthError::Api`] carrying a [`WialonError`].
    ///
    /// The call waits for a permit of the session's request limits (see
    /// [`WialonBuilder::request_limits`](crate::WialonBuilder::request_limits)).
    /// A refusal by a per-session limit that still comes (10 "reached limit
    /// of concurrent requests", 1003 "only one request is allowed at the
    /// moment": load from another process on the same session) is retried
    /// with jittered exponential back-off as set by
    /// [`WialonBuilder::limit_retry`](crate::WialonBuilder::limit_retry).
    fn call<T: DeserializeOwned>(
        &self,
        svc: &str,
        params: &impl Serialize,
    ) -> impl Future<Output = Result<T, AuthError>> + Send;

    /// The account's tokens (`token/list`); `user_id` lists another user's.
    fn token_list(
        &self,
        user_id: Option<i64>,
    ) -> impl Future<Output = Result<Vec<TokenRecord>, AuthError>> + Send;

    /// Creates a token (`token/update`, `callMode` `create`).
    fn token_create(
        &self,
        params: &TokenParams,
    ) -> impl Future<Output = Result<TokenRecord, AuthError>> + Send;

    /// Changes a token (`token/update`, `callMode` `update`): every field of
    /// `params` is sent.
    fn token_update(
        &self,
        token: &SecretString,
        params: &TokenParams,
    ) -> impl Future<Output = Result<TokenRecord, AuthError>> + Send;

    /// Deletes a token (`token/update`, `callMode` `delete`).
    fn token_delete(
        &self,
        token: &SecretString,
    ) -> impl Future<Output = Result<(), AuthError>> + Send;

    /// Rotates this client onto a new token in one call: creates it with
    /// `params` ([`token_create`](Self::token_create)), makes it the token
    /// the next login uses
    /// ([`rotate_credentials`](auth_core::Authenticated::rotate_credentials);
    /// the current session keeps serving), then, with `delete_old`, deletes
    /// the token the client held (sessions it opened may end with it: the
    /// next call then logs in with the new token). Returns the new token's
    /// record: hand its token to the other processes.
    fn rotate_token(
        &self,
        params: &TokenParams,
        delete_old: bool,
    ) -> impl Future<Output = Result<TokenRecord, AuthError>> + Send;

    /// The event feed: polls `avl_evts` every `every` (the first poll at
    /// once) and yields each reply that carries events; a failed poll
    /// yields its error and polling goes on (drop the stream to stop).
    ///
    /// While it is polled the stream keeps the session alive (every poll
    /// is a request). Do not run
    /// [`spawn_keep_alive`](auth_core::Authenticated::spawn_keep_alive)
    /// beside it unless `every` is shorter than half the keep-alive
    /// interval: the keep-alive fires only after the session has been idle
    /// for half its interval, and when it fires it takes the queued events
    /// and they never reach the stream. Wialon allows 10 `avl_evts` per 10
    /// seconds per session: keep `every` at 1 second or more.
    ///
    /// ```no_run
    /// use wialon_token::{StreamExt, WialonClientExt};
    /// # async fn demo(client: wialon_token::WialonClient) {
    /// let events = client.events(std::time::Duration::from_secs(2));
    /// let mut events = std::pin::pin!(events);
    /// while let Some(batch) = events.next().await {
    ///     match batch {
    ///         Ok(batch) => println!("{} events", batch.events.len()),
    ///         Err(error) => eprintln!("poll failed: {error}"),
    ///     }
    /// }
    /// # }
    /// ```
    fn events(
        &self,
        every: Duration,
    ) -> impl Stream<Item = Result<WialonEvents, AuthError>> + Send + 'static;
}

impl WialonClientExt for WialonClient {
    fn call<T: DeserializeOwned>(
        &self,
        svc: &str,
        params: &impl Serialize,
    ) -> impl Future<Output = Result<T, AuthError>> + Send {
        let params = serde_json::to_string(params)
            .map_err(|e| AuthError::config(format!("the {svc} params cannot be serialized: {e}")));
        async move {
            let value = call_value(self, svc, &params?, true).await?;
            serde_json::from_value(value).map_err(|e| AuthError::UnexpectedResponse {
                provider: NAME,
                status: Some(200),
                detail: format!(
                    "the {svc} reply does not have the expected shape: {}",
                    auth_core::http::serde_error_without_values(&e)
                ),
            })
        }
    }

    async fn token_list(&self, user_id: Option<i64>) -> Result<Vec<TokenRecord>, AuthError> {
        let params = match user_id {
            Some(id) => json!({ "userId": id }),
            None => json!({}),
        };
        let value = call_value(self, "token/list", &params.to_string(), false).await?;
        let wire: Vec<TokenRecordWire> =
            serde_json::from_value(value).map_err(|e| token_shape_error("token/list", &e))?;
        Ok(wire.into_iter().map(TokenRecord::from).collect())
    }

    async fn token_create(&self, params: &TokenParams) -> Result<TokenRecord, AuthError> {
        token_update_call(self, params.to_wire("create", None)).await
    }

    async fn token_update(
        &self,
        token: &SecretString,
        params: &TokenParams,
    ) -> Result<TokenRecord, AuthError> {
        token_update_call(self, params.to_wire("update", Some(token.expose_secret()))).await
    }

    async fn token_delete(&self, token: &SecretString) -> Result<(), AuthError> {
        let params = json!({"callMode": "delete", "h": token.expose_secret()});
        call_value(self, "token/update", &params.to_string(), false).await?;
        Ok(())
    }

    async fn rotate_token(
        &self,
        params: &TokenParams,
        delete_old: bool,
    ) -> Result<TokenRecord, AuthError> {
        let old = self.provider().token();
        let record = self.token_create(params).await?;
        self.rotate_credentials(record.token.clone()).await?;
        if delete_old {
            self.token_delete(&old).await?;
        }
        Ok(record)
    }

    fn events(
        &self,
        every: Duration,
    ) -> impl Stream<Item = Result<WialonEvents, AuthError>> + Send + 'static {
        crate::events::stream(self.clone(), every)
    }
}

/// Sends `svc` with `params` (JSON text) and returns the reply as JSON
/// after the error check; refusals by a per-session limit are retried (see
/// [`LimitRetry`](crate::LimitRetry)). `quote_body`: whether an unparsable
/// body may be quoted in the error (not for token management, whose
/// requests and replies carry tokens: those go through the client's own
/// HTTP client, never one the application supplied).
async fn call_value(
    client: &WialonClient,
    svc: &str,
    params: &str,
    quote_body: bool,
) -> Result<Value, AuthError> {
    let limit_retry = client.provider().limit_retry();
    let mut retry = 0;
    loop {
        match call_value_once(client, svc, params, quote_body).await {
            Err(error) if retry < limit_retry.max_retries && is_limit_refusal(&error) => {
                let wait = limit_retry.delay(retry);
                tracing::debug!(svc, retry, ?wait, "wialon session limit: retrying");
                tokio::time::sleep(wait).await;
                retry += 1;
            }
            other => return other,
        }
    }
}

/// One attempt of [`call_value`].
async fn call_value_once(
    client: &WialonClient,
    svc: &str,
    params: &str,
    quote_body: bool,
) -> Result<Value, AuthError> {
    let request = client.provider().ajax_request(client.http(), svc, params);
    let response = if quote_body {
        client.send(request).await?
    } else {
        client.send_credentials(request).await?
    };
    let (status, headers, body) = client.http().read_api(NAME, response).await?.into_parts();
    let session = client.cached();
    let token = client.provider().token();
    let mut secrets: Vec<&SecretString> = vec![&*token];
    if let Some(session) = &session {
        secrets.push(session.token());
    }
    let quoted: &[u8] = if quote_body { &body } else { b"" };
    if !status.is_success() {
        return Err(status_error(NAME, status, &headers, quoted, &secrets));
    }
    let what = format!("a JSON reply to {svc}");
    let value: Value = if quote_body {
        parse_json(NAME, status, &body, &what, &secrets)?
    } else {
        serde_json::from_slice(&body).map_err(|_| AuthError::UnexpectedResponse {
            provider: NAME,
            status: Some(status.as_u16()),
            detail: format!(
                "expected {what}, got something else (not quoted: it may carry tokens)"
            ),
        })?
    };
    if let Some(error) = ErrorReply::from_value(&value) {
        return Err(error.into_api_error());
    }
    Ok(value)
}

async fn token_update_call(client: &WialonClient, params: Value) -> Result<TokenRecord, AuthError> {
    let value = call_value(client, "token/update", &params.to_string(), false).await?;
    let wire: TokenRecordWire =
        serde_json::from_value(value).map_err(|e| token_shape_error("token/update", &e))?;
    Ok(wire.into())
}
/// Whether `error` is a refusal by a per-session limit (10, 1003).
fn is_limit_refusal(error: &AuthError) -> bool {
    error
        .provider_error::<WialonError>()
        .is_some_and(|e| e.code.is_session_limit())
}

/// A shape error for a reply carrying tokens: no quote of the value.
fn token_shape_error(svc: &str, e: &serde_json::Error) -> AuthError {
    let what = match e.classify() {
        serde_json::error::Category::Data => "a field is missing or of the wrong type",
        _ => "malformed",
    };
    AuthError::UnexpectedResponse {
        provider: NAME,
        status: Some(200),
        detail: format!("the {svc} reply does not have the expected shape ({what})"),
    }
}
