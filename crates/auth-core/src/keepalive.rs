//! Keep-alive: a background task that keeps an idle session alive on the
//! server (Wialon kills sessions idle for 5 minutes).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::AuthError;
use crate::client::{Authenticated, Inner};
use crate::provider::Provider;

impl<P: Provider> Authenticated<P> {
    /// Starts a background task that, every `every`, sends the provider's
    /// keep-alive request when the cached session has been idle for at least
    /// half of `every` (Wialon kills sessions idle for 5 minutes). The task
    /// stops when the last clone of this client is dropped; calling this
    /// again replaces it. Requires a Tokio runtime.
    pub fn spawn_keep_alive(&self, every: Duration) -> Result<(), AuthError> {
        if every.is_zero() {
            return Err(AuthError::config("keep-alive interval must be positive"));
        }
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(keep_alive_loop(weak, every));
        let old = self
            .inner
            .keep_alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
        Ok(())
    }
}

async fn keep_alive_loop<P: Provider>(weak: Weak<Inner<P>>, every: Duration) {
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let client = Authenticated::from_arc(inner);
        let Some(session) = client.cached() else {
            continue;
        };
        if session.is_expired() || session.idle_for() < every / 2 {
            continue;
        }
        // Boxed: the send's state is allocated only while a keep-alive is
        // in flight, so an idle task (one per account) stays a few hundred
        // bytes instead of carrying the request future's few kilobytes.
        if Box::pin(keep_alive_once(client, session)).await.is_break() {
            return;
        }
    }
}

/// Sends one keep-alive; `Break` when the provider has none.
async fn keep_alive_once<P: Provider>(
    client: Authenticated<P>,
    session: Arc<crate::Session<P::Data>>,
) -> std::ops::ControlFlow<()> {
    let Some(request) = client
        .inner
        .provider
        .keep_alive_request(&client.inner.http, &session)
    else {
        return std::ops::ControlFlow::Break(());
    };
    let permit = client.permit().await;
    let sent = client
        .send_with(&session, request, crate::redirect::Route::Own)
        .await;
    drop(permit);
    match sent {
        Ok((_, crate::client::Outcome::Accepted | crate::client::Outcome::Maybe(_))) => {
            client.record_use(&session);
            tracing::trace!(provider = client.inner.provider.name(), "keep-alive sent")
        }
        Ok((_, crate::client::Outcome::Rejected)) => {
            tracing::debug!(
                provider = client.inner.provider.name(),
                "keep-alive found the session rejected"
            );
            client.reject(&session).await;
        }
        Err(error) => {
            tracing::warn!(provider = client.inner.provider.name(), %error, "keep-alive request failed");
        }
    }
    std::ops::ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpClient, NewSession, Session};

    #[derive(Debug)]
    struct Tiny(url::Url);

    #[async_trait::async_trait]
    impl Provider for Tiny {
        type Data = ();

        fn name(&self) -> &'static str {
            "tiny"
        }

        fn cache_key(&self) -> String {
            "tiny".into()
        }

        fn base_url(&self) -> &url::Url {
            &self.0
        }

        async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
            Err(AuthError::config("never called"))
        }

        fn authorize(
            &self,
            _session: &Session<()>,
            request: reqwest::RequestBuilder,
        ) -> reqwest::RequestBuilder {
            request
        }
    }

    /// A platform runs one keep-alive task per account: its idle state must
    /// stay small, the in-flight request's state being allocated only while
    /// it is sent.
    #[test]
    fn an_idle_keep_alive_task_is_small() {
        let idle = std::mem::size_of_val(&keep_alive_loop::<Tiny>(
            Weak::new(),
            Duration::from_secs(60),
        ));
        assert!(idle <= 512, "keep-alive task state is {idle} bytes");
    }
}
