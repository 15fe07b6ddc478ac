//! The `auth.send` span around every `send`: provider, method, host, path
//! (never the query), status, the session generation and whether it logged
//! in again. In a test binary of its own: tracing caches callsite interest
//! per process.

mod common;

use std::time::Duration;

use auth_core::{Authenticated, Expiry};
use common::{Capture, Fake};
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::test(flavor = "current_thread")]
async fn every_send_has_a_span_with_what_operators_need_and_no_query() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = mockito::Server::new_async().await;
    server
        .mock("GET", "/v1/data")
        .match_query(mockito::Matcher::Any)
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .create_async()
        .await;
    server
        .mock("GET", "/v1/data")
        .match_query(mockito::Matcher::Any)
        .match_header("authorization", "Bearer tok-2")
        .with_status(200)
        .create_async()
        .await;
    let c = Authenticated::new(
        Fake::new(Expiry::AfterIssue(Duration::from_secs(600)), Duration::ZERO).at(&server.url()),
    )
    .unwrap();
    let response = c
        .get("v1/data")
        .query(&[("api_token", "q-s3cret")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    c.get("v1/data").send().await.unwrap();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("auth_core::client: close"))
        .collect();
    assert_eq!(closes.len(), 2, "{logs}");
    let host = server.host_with_port();
    for line in &closes {
        for field in [
            "provider=\"fake\"",
            "method=\"GET\"",
            "path=\"/v1/data\"",
            "status=200",
        ] {
            assert!(line.contains(field), "{field} missing: {line}");
        }
        assert!(line.contains(&host), "host missing: {line}");
    }
    assert!(closes[0].contains("relogin=true") && closes[0].contains("generation=2"));
    assert!(closes[1].contains("relogin=false") && closes[1].contains("generation=2"));
    assert!(!logs.contains("q-s3cret"), "the query leaked: {logs}");
    assert!(!logs.contains("tok-1") && !logs.contains("tok-2"), "{logs}");
}
