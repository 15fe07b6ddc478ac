//! Behaviour against the CTC simulator.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, Expiry, RefreshPolicy};
use auth_sim::Fault;
use auth_sim::ctc::{
    CtcSim, CtcSimConfig, DEMO_APP_KEY, DEMO_DEVICE_ID, DEMO_PASSWORD, DEMO_USERNAME, LoginBody,
    LogoutRoute, avl_latest_path,
};
use ctc_auth::{CtcClient, CtcProvider, Instance, TokenPlacement};
use secrecy::SecretString;

fn config(sim: &CtcSim, password: &str, placement: TokenPlacement) -> CtcProvider {
    CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(password))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()))
        .token_placement(placement)
        .build()
        .unwrap()
}

fn client(sim: &CtcSim) -> CtcClient {
    config(sim, DEMO_PASSWORD, TokenPlacement::Cookie)
        .into_client()
        .unwrap()
}

async fn call(client: &CtcClient) -> Result<reqwest::Response, AuthError> {
    let url = client
        .provider()
        .endpoint(&avl_latest_path(DEMO_DEVICE_ID))
        .unwrap();
    client.send(client.http().client().get(url)).await
}

async fn sim(config: CtcSimConfig) -> CtcSim {
    CtcSim::start(config).await.unwrap()
}

#[tokio::test]
async fn every_token_placement_works_and_the_token_is_reused() {
    let sim = sim(CtcSimConfig::default()).await;
    for placement in [
        TokenPlacement::Cookie,
        TokenPlacement::Header,
        TokenPlacement::Bearer,
    ] {
        let client = config(&sim, DEMO_PASSWORD, placement)
            .into_client()
            .unwrap();
        for _ in 0..5 {
            let response = call(&client).await.unwrap();
            assert_eq!(response.status(), 200, "{placement:?}");
        }
        assert_eq!(client.stats().logins, 1);
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 3);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 15);
}

#[tokio::test]
async fn cookie_expiry_becomes_expiry_at_or_until_rejected() {
    let sim_ttl = sim(CtcSimConfig::default()).await;
    let session = client(&sim_ttl).session().await.unwrap();
    let Expiry::At(at) = session.expiry() else {
        panic!("expected Expiry::At, got {:?}", session.expiry());
    };
    let secs = (at - chrono::Utc::now()).num_seconds();
    assert!((24 * 3600 - 3..=24 * 3600).contains(&secs), "{secs}");
    let sim_no_ttl = sim(CtcSimConfig {
        token_ttl: None,
        ..CtcSimConfig::default()
    })
    .await;
    let session = client(&sim_no_ttl).session().await.unwrap();
    assert_eq!(session.expiry(), Expiry::UntilRejected);
}

#[tokio::test]
async fn relogin_after_expire_all_sessions_is_exactly_one_login() {
    let sim = sim(CtcSimConfig {
        token_ttl: None,
        ..CtcSimConfig::default()
    })
    .await;
    let client = client(&sim);
    assert_eq!(call(&client).await.unwrap().status(), 200);
    sim.expire_all_sessions();
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(sim.rejected_calls(), 1);
    let stats = client.stats();
    assert_eq!((stats.logins, stats.relogins, stats.rejections), (2, 1, 1));
}

#[tokio::test]
async fn concurrent_rejections_share_one_relogin() {
    let sim = sim(CtcSimConfig::default()).await;
    let client = client(&sim);
    call(&client).await.unwrap();
    sim.expire_all_sessions();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { call(&client).await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
}

#[tokio::test]
async fn token_is_refreshed_before_the_cookie_expires() {
    // Expires is rounded down to the second: the token lives 5 to 6 s.
    let sim = sim(CtcSimConfig {
        token_ttl: Some(Duration::from_secs(6)),
        ..CtcSimConfig::default()
    })
    .await;
    let client = Authenticated::builder(config(&sim, DEMO_PASSWORD, TokenPlacement::Cookie))
        .refresh_policy(RefreshPolicy::new(
            Duration::from_millis(1500),
            Duration::ZERO,
        ))
        .build()
        .unwrap();
    let first = client.session().await.unwrap();
    let first_left = first.expires_in().unwrap();
    let end = tokio::time::Instant::now() + first_left + Duration::from_millis(300);
    let mut calls = 0;
    while tokio::time::Instant::now() < end {
        assert_eq!(call(&client).await.unwrap().status(), 200);
        calls += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = client.stats();
    assert_eq!(stats.refreshes, 1, "{stats:?}");
    assert_eq!(stats.logins, 2, "{stats:?}");
    assert_eq!(
        stats.rejections, 0,
        "no call was made with an expired token"
    );
    assert_eq!(sim.rejected_calls(), 0);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), calls);
    assert!(client.session().await.unwrap().generation() > first.generation());
}

#[tokio::test]
async fn one_login_for_a_thousand_concurrent_first_calls() {
    let sim = sim(CtcSimConfig::default()).await;
    let client = client(&sim);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { call(&client).await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 1000);
    assert_eq!(client.stats().logins, 1);
}

#[tokio::test]
async fn a_server_rejecting_everything_does_not_get_a_login_per_call() {
    let sim = sim(CtcSimConfig::default()).await;
    sim.set_reject_all(true);
    let client = client(&sim);
    let mut errors = Vec::new();
    for _ in 0..30 {
        errors.push(call(&client).await.unwrap_err());
    }
    // The first call logs in, is rejected, logs in once more and is rejected
    // again; the guard then backs off instead of logging in per call.
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(sim.rejected_calls(), 2);
    assert!(
        matches!(errors[0], AuthError::SessionRejected { retried: true, .. }),
        "{:?}",
        errors[0]
    );
    assert!(
        errors[1..]
            .iter()
            .all(|e| matches!(e, AuthError::BackingOff { .. })),
        "{:?}",
        &errors[1..4]
    );
    let wait = errors[1].retry_after().unwrap();
    // Once the server behaves again, the next call after the back-off works.
    sim.set_reject_all(false);
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 3);
}

#[tokio::test]
async fn logout_invalidates_the_token_on_the_server() {
    let sim = sim(CtcSimConfig::default()).await;
    let client = client(&sim);
    call(&client).await.unwrap();
    assert_eq!(sim.active_sessions(), 1);
    client.logout().await.unwrap();
    assert_eq!(sim.logouts(), 1);
    assert_eq!(sim.active_sessions(), 0);
    assert!(client.cached().is_none());
    // The next call logs in again (no 401 round trip: the session is gone).
    call(&client).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(sim.rejected_calls(), 0);
}

#[tokio::test]
async fn wrong_password_is_invalid_credentials_without_secrets() {
    let sim = sim(CtcSimConfig::default()).await;
    let secret_password = "S3cret-Wrong-Pass";
    let client = Authenticated::builder(config(&sim, secret_password, TokenPlacement::Cookie))
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let err = call(&client).await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err:?}");
    assert!(
        err.to_string().contains("Invalid username or password"),
        "{err}"
    );
    let text = format!("{err} {err:?} {client:?}");
    assert!(!text.contains(secret_password), "{text}");
    assert!(!text.contains(DEMO_APP_KEY), "{text}");
    assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn session_and_client_debug_hide_the_token() {
    let sim = sim(CtcSimConfig::default()).await;
    let client = client(&sim);
    let session = client.session().await.unwrap();
    let token = secrecy::ExposeSecret::expose_secret(session.token()).to_owned();
    assert_eq!(token.len(), 48);
    let text = format!("{session:?} {client:?} {:?}", client.provider());
    for secret in [token.as_str(), DEMO_PASSWORD, DEMO_APP_KEY] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn injected_faults_become_typed_errors() {
    let sim = sim(CtcSimConfig::default()).await;
    let client = Authenticated::builder(config(&sim, DEMO_PASSWORD, TokenPlacement::Cookie))
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    sim.faults().inject(Fault::Html, 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { status: Some(502), detail, .. } if detail.contains("HTML")),
        "{err:?}"
    );
    sim.faults().inject(Fault::Malformed, 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { status: Some(200), detail, .. } if detail.contains("malformed JSON")),
        "{err:?}"
    );
    sim.faults().inject(Fault::Huge(2 * 1024 * 1024), 1);
    let err = client.session().await.unwrap_err();
    assert!(matches!(err, AuthError::BodyTooLarge { .. }), "{err:?}");
    sim.faults().inject(Fault::Status(500), 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse {
                status: Some(500),
                ..
            }
        ),
        "{err:?}"
    );
    sim.faults().inject(Fault::Truncated, 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse { .. } | AuthError::Transport { .. }
        ),
        "{err:?}"
    );
    sim.faults().inject(
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    );
    let err = client.session().await.unwrap_err();
    assert!(matches!(err, AuthError::Throttled { .. }), "{err:?}");
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 0);
    // Retry-After is honoured: the next login waits 7 s, without a request.
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::BackingOff { retry_after, .. } if retry_after > Duration::from_secs(6)),
        "{err:?}"
    );
    client.reset();
    // And the client recovers once the server does.
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

/// A CTC server whose clock runs 2 hours ahead issues 3-second cookies
/// (`Expires` on its clock). Measured against its `Date`, the client renews
/// ahead of every expiry: over 3 lifetimes no call is rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_two_hours_ahead_costs_no_rejection() {
    let sim = sim(CtcSimConfig {
        token_ttl: Some(Duration::from_secs(3)),
        clock_offset: chrono::Duration::hours(2),
        ..CtcSimConfig::default()
    })
    .await;
    let client = Authenticated::builder(config(&sim, DEMO_PASSWORD, TokenPlacement::Cookie))
        .min_login_interval(Duration::ZERO)
        .build()
        .unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(9);
    let mut calls = 0;
    while tokio::time::Instant::now() < end {
        assert_eq!(call(&client).await.unwrap().status(), 200);
        calls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = client.stats();
    assert_eq!(stats.rejections, 0, "{stats:?} over {calls} calls");
    assert_eq!(sim.rejected_calls(), 0);
    assert!(
        stats.refreshes >= 2,
        "renewed ahead of each expiry: {stats:?}"
    );
}

/// Seed 000 documents only the cookie of a successful login: every body the
/// simulator can send (JSON, plain text, HTML, nothing) is a success.
#[tokio::test]
async fn login_succeeds_whatever_the_body_next_to_the_cookie() {
    for login_body in [
        LoginBody::Json,
        LoginBody::PlainText,
        LoginBody::Html,
        LoginBody::Empty,
    ] {
        let sim = sim(CtcSimConfig {
            login_body,
            ..CtcSimConfig::default()
        })
        .await;
        let client = client(&sim);
        assert_eq!(call(&client).await.unwrap().status(), 200, "{login_body:?}");
        let session = client.session().await.unwrap();
        assert_eq!(
            session.data().user.is_null(),
            login_body != LoginBody::Json,
            "{login_body:?}"
        );
        assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    }
}

/// The logout path is unverified: where it answers 404 or 405, logout is
/// `Ok` and the client forgets the session (the server keeps it).
#[tokio::test]
async fn logout_without_a_logout_path_is_ok() {
    for logout_route in [LogoutRoute::NotFound, LogoutRoute::MethodNotAllowed] {
        let sim = sim(CtcSimConfig {
            logout_route,
            ..CtcSimConfig::default()
        })
        .await;
        let client = client(&sim);
        call(&client).await.unwrap();
        client.logout().await.unwrap();
        assert!(client.cached().is_none(), "{logout_route:?}");
        assert_eq!(sim.active_sessions(), 1);
        assert_eq!(sim.logouts(), 0);
    }
}
