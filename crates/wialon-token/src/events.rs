//! The `avl_evts` event feed as a [`Stream`], and the keep-alive trade-off.
//!
//! `avl_evts` is both Wialon's keep-alive and its event feed, and it returns
//! *and clears* the events queued for the session (help.wialon.com,
//! `avl_evts`: "the events that have occurred since the last execution of
//! this request"). A keep-alive that calls it therefore consumes events.
//! An application that reads events polls with [`poll_events_once`] or
//! [`WialonClientExt::events`](crate::WialonClientExt::events); every poll is a request that keeps the session
//! alive, so no separate keep-alive is needed while it runs.

use std::collections::BTreeMap;
use std::time::Duration;

use auth_core::AuthError;
use auth_core::http::{parse_json, status_error};
use futures_util::Stream;
use reqwest::header::CONTENT_TYPE;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::ErrorReply;
use crate::{NAME, WialonClient};

/// One `avl_evts` reply: the server time and the events since the previous
/// poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WialonEvents {
    /// Server time (`tm`, unix seconds).
    #[serde(rename = "tm", default)]
    pub server_time: i64,
    /// The events (`events`), oldest first.
    #[serde(default)]
    pub events: Vec<WialonEvent>,
    /// Every other field (`sensors`, `units_update`, ...), as sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl WialonEvents {
    /// Whether the reply carries no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// One event of an `avl_evts` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WialonEvent {
    /// Item id (`i`).
    #[serde(rename = "i", default)]
    pub item_id: i64,
    /// Event type (`t`): `m` message, `u` update, `d` delete.
    #[serde(rename = "t", default)]
    pub kind: String,
    /// Event description (`d`), depending on the type (absent for `d`).
    #[serde(rename = "d", default)]
    pub data: Value,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Polls `avl_evts` once for the client's session and returns what it
/// returned (possibly no event). The events it returns are gone from the
/// server.
///
/// The request is `POST {host}/avl_evts?sid=<eid>` with a form
/// `Content-Type` and an empty body; it goes through
/// [`Authenticated::send`](auth_core::Authenticated::send), so it logs in
/// when needed, slides the idle deadline, and an invalid-session reply (1,
/// 1011) logs in again and polls once more (the new session has its own,
/// empty, event queue: events registered in the old one are lost with it).
///
/// This is a plain function on purpose: one scheduler can call it for many
/// accounts' clients.
pub async fn poll_events_once(client: &WialonClient) -> Result<WialonEvents, AuthError> {
    let request = client
        .http()
        .client()
        .post(client.provider().avl_evts_url().clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("");
    let response = client.send(request).await?;
    let (status, headers, body) = client.http().read_api(NAME, response).await?.into_parts();
    let session = client.cached();
    let mut secrets: Vec<&SecretString> = Vec::new();
    if let Some(session) = &session {
        secrets.push(session.token());
    }
    if !status.is_success() {
        return Err(status_error(NAME, status, &headers, &body, &secrets));
    }
    let value: Value = parse_json(NAME, status, &body, "an avl_evts JSON reply", &secrets)?;
    if let Some(error) = ErrorReply::from_value(&value) {
        return Err(error.into_api_error());
    }
    serde_json::from_value(value).map_err(|e| AuthError::UnexpectedResponse {
        provider: NAME,
        status: Some(status.as_u16()),
        detail: format!("the avl_evts reply does not have the expected shape: {e}"),
    })
}

/// The event feed behind [`WialonClientExt::events`](crate::WialonClientExt::events).
pub(crate) fn stream(
    client: WialonClient,
    every: Duration,
) -> impl Stream<Item = Result<WialonEvents, AuthError>> + Send + 'static {
    futures_util::stream::unfold((client, true), move |(client, first)| async move {
        let mut first = first;
        loop {
            if !first {
                tokio::time::sleep(every).await;
            }
            first = false;
            match poll_events_once(&client).await {
                Ok(batch) if batch.is_empty() => continue,
                result => return Some((result, (client, false))),
            }
        }
    })
}
