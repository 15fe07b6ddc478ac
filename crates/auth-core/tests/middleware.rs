//! `AuthMiddleware`: authorizes, re-logs in once on rejection, retries once.

mod common;

use std::time::Duration;

use auth_core::middleware::AuthMiddleware;
use auth_core::{AuthError, Authenticated, Expiry};
use common::Fake;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_authorizes_and_relogs_in_once_for_a_storm() {
    let mut server = mockito::Server::new_async().await;
    let old = server
        .mock("POST", "/items")
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .expect_at_least(1)
        .create_async()
        .await;
    let new = server
        .mock("POST", "/items")
        .match_header("authorization", "Bearer tok-2")
        .match_body("payload")
        .with_status(201)
        .expect(200)
        .create_async()
        .await;
    let auth = Authenticated::new(
        Fake::new(Expiry::UntilRejected, Duration::from_millis(20)).at(&server.url()),
    )
    .unwrap();
    auth.session().await.unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(auth.clone()))
        .build();
    let url = format!("{}/items", server.url());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                client
                    .post(&url)
                    .body("payload")
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 201);
    }
    assert_eq!(auth.provider().started(), 2);
    old.assert_async().await;
    new.assert_async().await;
}

#[tokio::test]
async fn middleware_surfaces_auth_errors_typed() {
    let server = mockito::Server::new_async().await;
    let fake = Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&server.url());
    fake.set_mode(common::Mode::WrongCredentials);
    let auth = Authenticated::new(fake).unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(auth))
        .build();
    let err = client
        .get(format!("{}/x", server.url()))
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("expected a middleware error, got {err:?}");
    };
    let auth_err = inner
        .downcast_ref::<AuthError>()
        .expect("an AuthError inside");
    assert!(auth_err.is_invalid_credentials(), "{auth_err:?}");
}
