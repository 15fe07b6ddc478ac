//! `Authenticated::send`: re-login on rejection (once, by generation), retry
//! once, never loop; idle sliding; keep-alive.

mod common;

use std::time::Duration;

use auth_core::{AuthError, Authenticated, Expiry};
use common::Fake;

fn client(fake: Fake) -> Authenticated<Fake> {
    Authenticated::new(fake).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_requests_rejected_with_one_old_token_cause_one_relogin() {
    let mut server = mockito::Server::new_async().await;
    let old = server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .expect_at_least(1)
        .create_async()
        .await;
    let new = server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-2")
        .with_status(200)
        .with_body("ok")
        .expect(1000)
        .create_async()
        .await;
    let c = client(Fake::new(Expiry::UntilRejected, Duration::from_millis(20)).at(&server.url()));
    assert_eq!(c.session().await.unwrap().generation(), 1);
    let url = format!("{}/data", server.url());
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = c.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let rb = c.http().client().get(&url);
                c.send(rb).await.map(|r| r.status().as_u16())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(
        c.provider().started(),
        2,
        "one initial login and one re-login"
    );
    assert_eq!(c.stats().relogins, 1);
    old.assert_async().await;
    new.assert_async().await;
}

#[tokio::test]
async fn a_session_rejected_again_after_relogin_is_not_retried_in_a_loop() {
    let mut server = mockito::Server::new_async().await;
    let always = server
        .mock("GET", "/forbidden")
        .with_status(401)
        .expect(2)
        .create_async()
        .await;
    let c = client(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&server.url()));
    let rb = c.http().client().get(format!("{}/forbidden", server.url()));
    let err = c.send(rb).await.unwrap_err();
    assert!(
        matches!(err, AuthError::SessionRejected { retried: true, .. }),
        "{err:?}"
    );
    assert_eq!(c.provider().started(), 2);
    always.assert_async().await;
    // Rejections keep coming with fresh sessions: the next login waits.
    let rb = c.http().client().get(format!("{}/forbidden", server.url()));
    let err = c.send(rb).await.unwrap_err();
    assert!(matches!(err, AuthError::BackingOff { .. }), "{err:?}");
    assert_eq!(c.provider().started(), 2, "no login per rejected call");
}

#[tokio::test]
async fn successful_calls_touch_idle_sessions() {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("GET", "/x")
        .with_status(200)
        .create_async()
        .await;
    let c = client(
        Fake::new(Expiry::Idle(Duration::from_millis(1500)), Duration::ZERO).at(&server.url()),
    );
    for _ in 0..4 {
        let rb = c.http().client().get(format!("{}/x", server.url()));
        c.send(rb).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(c.provider().started(), 1, "use kept the idle session alive");
}

#[tokio::test]
async fn keep_alive_pings_while_idle_and_stops_when_the_client_is_dropped() {
    let mut server = mockito::Server::new_async().await;
    let ping = server
        .mock("GET", "/ping")
        .match_header("authorization", "Bearer tok-1")
        .with_status(200)
        .expect_at_least(3)
        .create_async()
        .await;
    let mut fake =
        Fake::new(Expiry::Idle(Duration::from_millis(400)), Duration::ZERO).at(&server.url());
    fake.keep_alive_url = Some(format!("{}/ping", server.url()));
    let c = client(fake);
    c.session().await.unwrap();
    c.spawn_keep_alive(Duration::from_millis(100)).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        c.session().await.unwrap().generation(),
        1,
        "kept alive past the idle limit"
    );
    ping.assert_async().await;
    drop(c);
    let stopped = server
        .mock("GET", "/ping")
        .with_status(200)
        .expect(0)
        .create_async()
        .await;
    ping.remove_async().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    stopped.assert_async().await;
}

#[tokio::test]
async fn dyn_clients_of_any_provider_share_one_interface() {
    use auth_core::DynAuthenticated;
    use secrecy::ExposeSecret;

    let mut server = mockito::Server::new_async().await;
    server
        .mock("GET", "/x")
        .match_header("authorization", "Bearer tok-1")
        .with_status(200)
        .create_async()
        .await;
    let clients: Vec<Box<dyn DynAuthenticated>> = vec![Box::new(client(
        Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&server.url()),
    ))];
    let c = &clients[0];
    assert_eq!(c.provider_name(), "fake");
    assert_eq!(c.token().await.unwrap().expose_secret(), "tok-1");
    let rb = c.http_client().get(format!("{}/x", server.url()));
    assert_eq!(c.send(rb).await.unwrap().status(), 200);
    c.invalidate().await;
    assert_eq!(c.token().await.unwrap().expose_secret(), "tok-2");
    assert_eq!(c.stats().logins, 2);
    c.logout().await.unwrap();
    assert!(!format!("{c:?}").contains("tok-"));
}

/// A session adopted from the store can have been issued before the
/// provider revoked everything: when it is rejected on the retry, one more
/// try goes out with a session of a login made after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_session_rejected_on_the_retry_gets_one_login_of_our_own() {
    let mut server = mockito::Server::new_async().await;
    let revoked = server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .expect(2)
        .create_async()
        .await;
    let fresh = server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-2")
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    let store: std::sync::Arc<dyn auth_core::TokenStore> =
        std::sync::Arc::new(auth_core::MemoryStore::new());
    let make = || {
        Authenticated::builder(
            Fake::new(Expiry::UntilRejected, Duration::from_millis(5)).at(&server.url()),
        )
        .store(store.clone())
        .build()
        .unwrap()
    };
    let (a, b) = (make(), make());
    // B logs in (its tok-1, generation 1); A adopts it, drops it and logs
    // in itself (A's tok-1, generation 2), which is stored.
    assert_eq!(b.session().await.unwrap().generation(), 1);
    let adopted = a.session().await.unwrap();
    a.invalidate(&adopted).await;
    assert_eq!(a.session().await.unwrap().generation(), 2);
    // The provider revoked both: B's request and its retry with the adopted
    // generation 2 are rejected; B logs in and the request goes through.
    let response = b
        .send(b.http().client().get(format!("{}/data", server.url())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(b.provider().started(), 2);
    assert_eq!(b.stats().rejections, 2, "{:?}", b.stats());
    revoked.assert_async().await;
    fresh.assert_async().await;
}
