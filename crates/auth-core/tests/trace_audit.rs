//! Secret audit: a traced full flow (login, rejection, re-login, logout,
//! failure) at TRACE level never shows a token or password. In a test binary
//! of its own: tracing caches callsite interest per process, so a subscriber
//! set by one test while others run could miss spans.

mod common;

use std::time::Duration;

use auth_core::{Authenticated, Expiry};
use common::{Capture, Fake, PASSWORD};

fn client(fake: Fake) -> Authenticated<Fake> {
    Authenticated::new(fake).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_traced_full_flow_never_shows_a_secret() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = mockito::Server::new_async().await;
    server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .create_async()
        .await;
    server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-2")
        .with_status(200)
        .create_async()
        .await;
    let c = client(
        Fake::new(Expiry::AfterIssue(Duration::from_secs(600)), Duration::ZERO).at(&server.url()),
    );
    let rb = c.http().client().get(format!("{}/data", server.url()));
    c.send(rb).await.unwrap();
    let session = c.session().await.unwrap();
    let rendered = [
        format!("{c:?}"),
        format!("{session:?}"),
        format!("{:?}", c.provider()),
    ];
    c.logout().await.unwrap();
    c.provider().set_mode(common::Mode::WrongCredentials);
    let err = c.session().await.unwrap_err();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("auth.login"), "spans were traced: {logs}");
    for text in rendered
        .iter()
        .chain([&logs, &err.to_string(), &format!("{err:?}")])
    {
        assert!(
            !text.contains("tok-1") && !text.contains("tok-2"),
            "token leaked: {text}"
        );
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
    }
}
