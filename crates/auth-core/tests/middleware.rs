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

#[tokio::test]
async fn middleware_relogs_in_speculatively_once_and_keeps_an_api_error() {
    let mut server = mockito::Server::new_async().await;
    // The first session "expired" with an answer that only maybe means so.
    let expired = server
        .mock("GET", "/items")
        .match_header("authorization", "Bearer tok-1")
        .with_status(418)
        .expect(1)
        .create_async()
        .await;
    let items = server
        .mock("GET", "/items")
        .match_header("authorization", "Bearer tok-2")
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    // A genuine API error: every session gets it.
    let broken = server
        .mock("GET", "/broken")
        .with_status(418)
        .expect(4)
        .create_async()
        .await;
    let auth =
        Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&server.url()))
            .min_login_interval(Duration::ZERO)
            .speculative_relogin_interval(Duration::from_millis(100))
            .build()
            .unwrap();
    auth.session().await.unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(auth.clone()))
        .build();
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("{}/items", server.url())).await, 200);
    assert_eq!(auth.provider().started(), 2);
    assert_eq!(auth.stats().speculative_relogins, 1);
    expired.assert_async().await;
    items.assert_async().await;

    tokio::time::sleep(Duration::from_millis(120)).await;
    // tok-2 gets 418 on /broken: one speculative login (tok-3), which gets
    // it too: the answer is returned and 418 stops being a rejection for
    // tok-3, even after the interval.
    assert_eq!(status(format!("{}/broken", server.url())).await, 418);
    assert_eq!(auth.provider().started(), 3);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(status(format!("{}/broken", server.url())).await, 418);
    assert_eq!(status(format!("{}/broken", server.url())).await, 418);
    assert_eq!(auth.provider().started(), 3);
    assert_eq!(auth.stats().speculative_relogins, 2);
    broken.assert_async().await;
}

#[tokio::test]
async fn send_makes_no_second_speculative_login_within_the_interval() {
    assert_eq!(
        auth_core::DEFAULT_SPECULATIVE_RELOGIN_INTERVAL,
        Duration::from_secs(600)
    );
    let mut server = mockito::Server::new_async().await;
    let expired = server
        .mock("GET", "/x")
        .match_header("authorization", "Bearer tok-1")
        .with_status(418)
        .expect(1)
        .create_async()
        .await;
    let fresh = server
        .mock("GET", "/x")
        .match_header("authorization", "Bearer tok-2")
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    let other = server
        .mock("GET", "/y")
        .with_status(418)
        .expect(1)
        .create_async()
        .await;
    // The default interval (10 minutes).
    let auth =
        Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&server.url()))
            .min_login_interval(Duration::ZERO)
            .build()
            .unwrap();
    let get = |path: &str| auth.http().client().get(format!("{}{path}", server.url()));
    let response = auth.send(get("/x")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(auth.provider().started(), 2);
    // Another "maybe rejected" answer right after: returned as it is.
    let response = auth.send(get("/y")).await.unwrap();
    assert_eq!(response.status().as_u16(), 418);
    assert_eq!(auth.provider().started(), 2);
    let stats = auth.stats();
    assert_eq!((stats.speculative_relogins, stats.relogins), (1, 1));
    expired.assert_async().await;
    fresh.assert_async().await;
    other.assert_async().await;
}
