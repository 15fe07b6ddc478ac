//! The request gate: enforces a client's [`RequestLimits`] on every request
//! that uses its session. A semaphore bounds requests in flight (its permit
//! rides in the response body until the body is read or dropped); a second
//! one paces starts: a request takes a rate token before it is sent and
//! gives it back one window after its answer came (the service counts
//! arrivals, which lie between the two, so no window it sees holds more
//! than the limit, whatever the network's jitter); an exclusive section
//! takes every in-flight permit so that its own requests run alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use reqwest::{Body, Response, ResponseBuilderExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::limits::RequestLimits;

tokio::task_local! {
    /// The gates whose exclusive section the current task is in.
    static EXCLUSIVE: Vec<u64>;
}

static GATE_IDS: AtomicU64 = AtomicU64::new(1);

/// One client's gate (shared by its clones).
#[derive(Debug)]
pub(crate) struct RequestGate {
    id: u64,
    permits: Arc<Semaphore>,
    /// All permits: what an exclusive section takes.
    total: u32,
    /// Rate tokens, and how long after an answer its token comes back.
    rate: Option<(Arc<Semaphore>, Duration)>,
}

/// A request's hold on the gate; dropping it lets the next request go.
#[derive(Debug)]
pub(crate) struct RequestPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl RequestGate {
    /// A gate for `limits` (validated by the builder).
    pub(crate) fn new(limits: RequestLimits) -> Self {
        // "No limit in flight" is a semaphore too large to run out, so that
        // an exclusive section works the same way.
        let total = limits.in_flight().unwrap_or(u32::MAX >> 3);
        Self {
            id: GATE_IDS.fetch_add(1, Ordering::Relaxed),
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            rate: limits
                .rate()
                .map(|(max, window)| (Arc::new(Semaphore::new(max as usize)), window)),
        }
    }

    /// Whether the current task is inside this gate's exclusive section.
    fn inside_exclusive(&self) -> bool {
        EXCLUSIVE
            .try_with(|ids| ids.contains(&self.id))
            .unwrap_or(false)
    }

    /// Waits for a permit to have a request in flight (in order of asking).
    /// Inside the exclusive section the section's permits cover it.
    pub(crate) async fn acquire(&self) -> RequestPermit {
        if self.inside_exclusive() {
            return RequestPermit(None);
        }
        // The semaphore is never closed: `ok()` only satisfies the types.
        RequestPermit(Arc::clone(&self.permits).acquire_owned().await.ok())
    }

    /// Waits until one more request may start within the rate (callers
    /// queue in order). Hold the token until the answer has come.
    pub(crate) async fn pace(&self) -> RateToken {
        match &self.rate {
            Some((tokens, window)) => RateToken {
                permit: Arc::clone(tokens).acquire_owned().await.ok(),
                window: *window,
            },
            None => RateToken {
                permit: None,
                window: Duration::ZERO,
            },
        }
    }

    /// Runs `section` with every permit held: requests already in flight
    /// finish first, and no other request of this gate starts until it
    /// ends. Requests made by `section` itself (in this task) pass.
    pub(crate) async fn exclusive<F: Future>(&self, section: F) -> F::Output {
        if self.inside_exclusive() {
            return section.await;
        }
        let _all = self.permits.acquire_many(self.total).await.ok();
        let mut ids = EXCLUSIVE.try_with(Clone::clone).unwrap_or_default();
        ids.push(self.id);
        EXCLUSIVE.scope(ids, section).await
    }
}

/// A request's place in the rate. Dropped once its answer has come (or the
/// request was abandoned), it comes back one window later.
#[derive(Debug)]
pub(crate) struct RateToken {
    permit: Option<OwnedSemaphorePermit>,
    window: Duration,
}

impl Drop for RateToken {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // Without a runtime (the client is being torn down) nobody waits.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let window = self.window;
            runtime.spawn(async move {
                tokio::time::sleep(window).await;
                drop(permit);
            });
        }
    }
}

/// `response` with its body holding `permit` until read to the end, failed
/// or dropped. A response without body releases the permit at once.
pub(crate) fn hold_until_read(response: Response, permit: RequestPermit) -> Response {
    if response.content_length() == Some(0) {
        return response;
    }
    let url = response.url().clone();
    let (parts, body) = http::Response::from(response).into_parts();
    let held = PermitBody {
        inner: body,
        permit: Some(permit),
    };
    rebuild(parts, Body::wrap(held), url)
}

/// A response from `parts` and `body` that keeps its URL.
pub(crate) fn rebuild(mut parts: http::response::Parts, body: Body, url: url::Url) -> Response {
    if let Ok(marker) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(marker.into_parts().0.extensions);
    }
    Response::from(http::Response::from_parts(parts, body))
}

/// A response body that releases its request permit at its end.
struct PermitBody {
    inner: Body,
    permit: Option<RequestPermit>,
}

impl http_body::Body for PermitBody {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.permit = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
