//! Login amplification: logins per token lifetime with 1,000 concurrent
//! callers at cold start, at expiry, and in a 401 storm. The goal is 1.0.
//!
//! Run: `cargo bench -p auth-core --bench amplification`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use auth_core::reqwest::RequestBuilder;
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, RefreshPolicy, Session,
    async_trait,
};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};

const CALLERS: usize = 1000;
const LIFETIME: Duration = Duration::from_millis(1500);

/// Issues `tok-<n>` tokens; the server accepts only the newest.
#[derive(Debug)]
struct Counting {
    logins: Arc<AtomicU64>,
    base: auth_core::url::Url,
}

#[async_trait]
impl Provider for Counting {
    type Data = ();
    fn name(&self) -> &'static str {
        "bench"
    }
    fn cache_key(&self) -> String {
        "bench:amplification".into()
    }
    fn base_url(&self) -> &auth_core::url::Url {
        &self.base
    }
    async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        // A login takes a while, so callers pile up behind it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(NewSession::new(
            SecretString::from(format!("tok-{n}")),
            Expiry::AfterIssue(LIFETIME),
            (),
        ))
    }
    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }
}

async fn serve(logins: Arc<AtomicU64>) -> String {
    let app = Router::new().route(
        "/data",
        get(move |headers: HeaderMap| {
            let logins = Arc::clone(&logins);
            async move {
                let newest = format!("Bearer tok-{}", logins.load(Ordering::SeqCst));
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some(v) if v == newest => StatusCode::OK,
                    _ => StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/data")
}

async fn burst(client: &Authenticated<Counting>, url: &str) {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let client = client.clone();
            let url = url.to_owned();
            tokio::spawn(async move {
                let rb = client.http().client().get(&url);
                let status = client.send(rb).await.expect("send").status();
                assert!(status.is_success(), "HTTP {status}");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let logins = Arc::new(AtomicU64::new(0));
    let url = serve(Arc::clone(&logins)).await;
    let client = Authenticated::builder(Counting {
        logins: Arc::clone(&logins),
        base: url.parse().expect("url"),
    })
    // No refresh ahead: this measures expiry itself.
    .refresh_policy(RefreshPolicy::new(Duration::ZERO, Duration::ZERO))
    .build()
    .expect("client");

    let report = |label: &str, before: u64| {
        let made = logins.load(Ordering::SeqCst) - before;
        println!(
            "{label:<32} {CALLERS} callers -> {made} login(s): {made}.0 logins per token lifetime"
        );
    };

    let before = logins.load(Ordering::SeqCst);
    burst(&client, &url).await;
    report("cold start", before);

    tokio::time::sleep(LIFETIME + Duration::from_millis(100)).await;
    let before = logins.load(Ordering::SeqCst);
    burst(&client, &url).await;
    report("at expiry", before);

    // The server forgets the token: it now expects a newer one (as if the
    // provider revoked every session), so all callers meet a 401.
    let before = logins.fetch_add(1, Ordering::SeqCst);
    burst(&client, &url).await;
    let made = logins.load(Ordering::SeqCst) - before - 1;
    println!(
        "{:<32} {CALLERS} callers -> {made} login(s): {made}.0 logins per token lifetime",
        "401 storm"
    );
}
