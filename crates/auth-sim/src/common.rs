//! What every simulator shares: the server on an ephemeral loopback port,
//! per-account call counters, and fault injection.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::SimError;

/// Largest request body a simulator accepts (real servers bound them too).
pub const MAX_REQUEST_BODY: usize = 64 * 1024;

/// A fault to inject into the next request(s), whatever their path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and a short plain-text body.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Answer 200 with a body that is not valid JSON/XML.
    Malformed,
    /// Answer 200 announcing a longer body than is sent, then cut the
    /// connection.
    Truncated,
    /// Answer 502 with an HTML error page, as a proxy would.
    Html,
    /// Answer 200 with a body of this many bytes.
    Huge(usize),
    /// Close the connection without answering.
    Drop,
    /// Answer with this redirect status (301, 302, 303, 307, 308 ...) and a
    /// `Location` on `to`'s origin with the request's own path and query
    /// (as a moved host or a misconfigured proxy would). The request is not
    /// processed.
    Redirect {
        /// The redirect status.
        status: u16,
        /// The origin to redirect to (its path is replaced).
        to: Url,
    },
}

/// Faults queued for the next requests, and an optional path filter.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    queue: Arc<Mutex<VecDeque<Fault>>>,
}

impl Faults {
    /// Queues `fault` for each of the next `times` requests.
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..times {
            q.push_back(fault.clone());
        }
    }

    /// Removes all queued faults.
    pub fn clear(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn next(&self) -> Option<Fault> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

/// Axum middleware applying queued faults.
pub(crate) async fn fault_layer(
    State(faults): State<Faults>,
    request: Request,
    next: Next,
) -> Response {
    let Some(fault) = faults.next() else {
        return next.run(request).await;
    };
    match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, status.canonical_reason().unwrap_or("error").to_owned()).into_response()
        }
        Fault::TooManyRequests { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "Too Many Requests",
        )
            .into_response(),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            next.run(request).await
        }
        Fault::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"success\": tru<<<",
        )
            .into_response(),
        Fault::Truncated => {
            let stream = futures_stream(vec![
                Ok(Bytes::from_static(b"{\"partial\": \"")),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut")),
            ]);
            let mut response = Response::new(Body::from_stream(stream));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Fault::Html => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        Fault::Huge(n) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            vec![b' '; n],
        )
            .into_response(),
        Fault::Redirect { status, to } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
            let target = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let location = to.join(&target).map_or_else(|_| to.to_string(), String::from);
            (status, [(header::LOCATION, location)], "").into_response()
        }
        Fault::Drop => {
            let stream = futures_stream(vec![Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "dropped",
            ))]);
            Response::new(Body::from_stream(stream))
        }
    }
}

fn futures_stream(
    items: Vec<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::iter(items)
}

/// Per-account call counters.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    inner: Arc<Mutex<CounterState>>,
}

#[derive(Debug, Default)]
struct CounterState {
    logins: HashMap<String, u64>,
    failed_logins: HashMap<String, u64>,
    calls: HashMap<String, u64>,
}

impl Counters {
    fn state(&self) -> std::sync::MutexGuard<'_, CounterState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a successful login of `account`.
    pub fn login(&self, account: &str) {
        *self.state().logins.entry(account.to_owned()).or_default() += 1;
    }

    /// Counts a failed login attempt naming `account`.
    pub fn failed_login(&self, account: &str) {
        *self
            .state()
            .failed_logins
            .entry(account.to_owned())
            .or_default() += 1;
    }

    /// Counts a protected call made by `account`.
    pub fn call(&self, account: &str) {
        *self.state().calls.entry(account.to_owned()).or_default() += 1;
    }

    /// Successful logins of `account`.
    pub fn logins(&self, account: &str) -> u64 {
        self.state().logins.get(account).copied().unwrap_or(0)
    }

    /// Failed login attempts naming `account`.
    pub fn failed_logins(&self, account: &str) -> u64 {
        self.state()
            .failed_logins
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    /// Login attempts (successful or not) naming `account`.
    pub fn login_attempts(&self, account: &str) -> u64 {
        self.logins(account) + self.failed_logins(account)
    }

    /// Accepted protected calls made by `account`.
    pub fn calls(&self, account: &str) -> u64 {
        self.state().calls.get(account).copied().unwrap_or(0)
    }

    /// Successful logins of all accounts.
    pub fn total_logins(&self) -> u64 {
        self.state().logins.values().sum()
    }

    /// Accepted protected calls of all accounts.
    pub fn total_calls(&self) -> u64 {
        self.state().calls.values().sum()
    }

    /// Resets every counter.
    pub fn reset(&self) {
        let mut s = self.state();
        s.logins.clear();
        s.failed_logins.clear();
        s.calls.clear();
    }
}

/// A simulated server clock: real time plus an offset, sent in the `Date`
/// header of every response (real servers' clocks disagree with their
/// clients'; a client must measure lifetimes on the server's clock).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServerClock {
    offset: chrono::Duration,
}

impl ServerClock {
    pub(crate) fn new(offset: chrono::Duration) -> Self {
        Self { offset }
    }

    /// The server's "now".
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.offset
    }

    /// `router` answering with this clock's `Date` header.
    pub(crate) fn layer(self, router: Router) -> Router {
        router.layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| async move {
                let date = self.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                if let Ok(value) = axum::http::HeaderValue::from_str(&date) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::DATE, value);
                }
                response
            },
        ))
    }
}

/// A running simulator on `127.0.0.1:<ephemeral port>`. Stops when dropped.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    base_url: Url,
    connections: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Serves `router` (wrapped with fault injection and a body-size bound) on
    /// an ephemeral loopback port. `path` is appended to the base URL (e.g.
    /// Electa's API root).
    pub(crate) async fn start(
        router: Router,
        faults: Faults,
        path: &str,
    ) -> Result<Self, SimError> {
        let router = router
            .layer(axum::middleware::from_fn_with_state(faults, fault_layer))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicU64::new(0));
        let accepted = connections.clone();
        // Counted as accepted, so that tests can tell how many connections
        // (pools) clients open to one host.
        let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
            accepted.fetch_add(1, Ordering::Relaxed);
        });
        let base_url = Url::parse(&format!("http://{addr}{path}"))
            .map_err(|e| SimError::Config(e.to_string()))?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator stopped with an error");
            }
        });
        Ok(Self {
            addr,
            base_url,
            connections,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure a client with.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// TCP connections accepted since the server started.
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What [`SimHandle`] needs from a simulator's state: its counters and its
/// sessions (tokens), whatever form they take in that simulator.
pub(crate) trait SimState: std::fmt::Debug + Send + Sync {
    /// The per-account counters the handlers update.
    fn counters(&self) -> &Counters;
    /// Ends every session (token) now.
    fn expire_all_sessions(&self);
    /// Sessions (tokens) valid now.
    fn active_sessions(&self) -> usize;
}

/// What every running simulator offers: its server, call counters, fault
/// injection and session control. Each simulator (`CtcSim`, `PlaspySim`,
/// `WialonSim`, `Cielo24Sim`, `ElectaSim`) dereferences to one, so
/// `sim.base_url()`, `sim.counters()`, `sim.faults()`,
/// `sim.expire_all_sessions()` and `sim.active_sessions()` work on each of
/// them. Stops the server when dropped.
#[derive(Debug)]
pub struct SimHandle {
    server: SimServer,
    faults: Faults,
    state: Arc<dyn SimState>,
}

impl SimHandle {
    /// Serves `router` as [`SimServer::start`] does, with a fresh fault queue,
    /// for the simulator whose state is `state`.
    pub(crate) async fn start(
        router: Router,
        path: &str,
        state: Arc<dyn SimState>,
    ) -> Result<Self, SimError> {
        let faults = Faults::default();
        let server = SimServer::start(router, faults.clone(), path).await?;
        Ok(Self {
            server,
            faults,
            state,
        })
    }

    /// The base URL to configure a client with (`http://127.0.0.1:<port>/`,
    /// or with the simulator's API path, e.g. Electa's API root).
    pub fn base_url(&self) -> &Url {
        self.server.base_url()
    }

    /// TCP connections the simulator has accepted since it started: how
    /// many connections (pools) its clients opened to it.
    pub fn connections_accepted(&self) -> u64 {
        self.server.connections_accepted()
    }

    /// Per-account counters: logins, failed logins, accepted protected calls
    /// (the account key of each simulator is in its documentation).
    pub fn counters(&self) -> &Counters {
        self.state.counters()
    }

    /// Fault injection for the next requests.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Ends every session now: the next call with an issued token (or
    /// Wialon session id) is answered as the provider answers an expired
    /// one.
    pub fn expire_all_sessions(&self) {
        self.state.expire_all_sessions();
    }

    /// Sessions (tokens, Wialon session ids) valid now.
    pub fn active_sessions(&self) -> usize {
        self.state.active_sessions()
    }
}

/// Generates an opaque token of `len` characters from `alphabet`.
pub fn random_token(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect()
}

/// Lower-case hexadecimal digits.
pub const HEX: &[u8] = b"0123456789abcdef";
/// Letters and digits.
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
