//! Behaviour against the Plaspy simulator.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, MemoryStore, RefreshPolicy, TokenStore};
use auth_sim::Fault;
use auth_sim::plaspy::{
    DEMO_API_KEY, DEMO_USERNAME, DEVICES_PATH, ExpiresFormat, PlaspySim, PlaspySimConfig,
};
use plaspy_auth::{ExpirySource, PlaspyClient, PlaspyProvider};
use secrecy::{ExposeSecret, SecretString};

fn config(sim: &PlaspySim, api_key: &str) -> PlaspyProvider {
    PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(SecretString::from(api_key))
        .base_url(sim.base_url().clone())
        .build()
        .unwrap()
}

fn client(sim: &PlaspySim) -> PlaspyClient {
    config(sim, DEMO_API_KEY).into_client().unwrap()
}

async fn call(client: &PlaspyClient) -> Result<reqwest::Response, AuthError> {
    let url = client.provider().endpoint(DEVICES_PATH).unwrap();
    client.send(client.http().client().get(url)).await
}

async fn sim(config: PlaspySimConfig) -> PlaspySim {
    PlaspySim::start(config).await.unwrap()
}

#[tokio::test]
async fn calls_reuse_one_token() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = client(&sim);
    for _ in 0..5 {
        let response = call(&client).await.unwrap();
        assert_eq!(response.status(), 200);
        // The documented envelope (plaspy-dev/docs, get__api_devices.md).
        let reply: serde_json::Value = response.json().await.unwrap();
        assert_eq!(reply["success"], true);
        assert!(reply["devices"].is_array(), "{reply}");
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 5);
    let session = client.session().await.unwrap();
    assert_eq!(session.data().expiry_source, ExpirySource::Expires);
    let left = session.expires_in().unwrap().as_secs();
    assert!((24 * 3600 - 3..=24 * 3600).contains(&left), "{left}");
}

#[tokio::test]
async fn every_expires_variant_of_the_simulator_is_understood() {
    for (format, exp_claim, want) in [
        (ExpiresFormat::UtcSeconds, true, ExpirySource::Expires),
        (ExpiresFormat::UtcFraction, true, ExpirySource::Expires),
        (ExpiresFormat::NoZone, true, ExpirySource::Expires),
        (ExpiresFormat::Omitted, true, ExpirySource::JwtExp),
        (ExpiresFormat::Omitted, false, ExpirySource::DefaultLifetime),
    ] {
        let sim = sim(PlaspySimConfig {
            expires_format: format,
            jwt_exp_claim: exp_claim,
            token_ttl: Duration::from_secs(7200),
            ..PlaspySimConfig::default()
        })
        .await;
        let session = client(&sim).session().await.unwrap();
        assert_eq!(session.data().expiry_source, want, "{format:?}");
        let left = session.expires_in().unwrap().as_secs();
        let expected = if want == ExpirySource::DefaultLifetime {
            3600
        } else {
            7200
        };
        assert!(
            (expected - 3..=expected).contains(&left),
            "{format:?}: {left}"
        );
    }
}

#[tokio::test]
async fn relogin_after_expire_all_sessions_is_exactly_one_login() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = client(&sim);
    assert_eq!(call(&client).await.unwrap().status(), 200);
    sim.expire_all_sessions();
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    let stats = client.stats();
    assert_eq!((stats.logins, stats.relogins, stats.rejections), (2, 1, 1));
}

#[tokio::test]
async fn short_lived_token_is_renewed_ahead_of_expiry_by_one_login() {
    let sim = sim(PlaspySimConfig {
        token_ttl: Duration::from_secs(3),
        expires_format: ExpiresFormat::UtcFraction,
        ..PlaspySimConfig::default()
    })
    .await;
    let client = Authenticated::builder(config(&sim, DEMO_API_KEY))
        .refresh_policy(RefreshPolicy::new(
            Duration::from_millis(1300),
            Duration::ZERO,
        ))
        // A 3 s token is below the default 5 s floor.
        .min_login_interval(Duration::ZERO)
        .build()
        .unwrap();
    let first = client.session().await.unwrap();
    let end =
        tokio::time::Instant::now() + first.expires_in().unwrap() + Duration::from_millis(200);
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
        "no call went out with an expired token"
    );
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), calls);
    let second = client.session().await.unwrap();
    assert!(second.generation() > first.generation());
    assert_ne!(
        second.token().expose_secret(),
        first.token().expose_secret()
    );
}

#[tokio::test]
async fn one_login_for_a_thousand_concurrent_first_calls() {
    let sim = sim(PlaspySimConfig::default()).await;
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
}

#[tokio::test]
async fn logout_clears_the_cached_and_stored_session() {
    let sim = sim(PlaspySimConfig::default()).await;
    let store = Arc::new(MemoryStore::new());
    let client = Authenticated::builder(config(&sim, DEMO_API_KEY))
        .store(store.clone())
        .build()
        .unwrap();
    call(&client).await.unwrap();
    assert!(client.cached().is_some());
    assert!(store.load(client.cache_key()).await.unwrap().is_some());
    client.logout().await.unwrap();
    assert!(client.cached().is_none());
    assert!(store.load(client.cache_key()).await.unwrap().is_none());
    // No server call was needed; the next call logs in afresh.
    call(&client).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
}

#[tokio::test]
async fn wrong_api_key_is_invalid_credentials_with_either_failure_status() {
    for status in [200, 401] {
        let sim = sim(PlaspySimConfig {
            failure_status: status,
            ..PlaspySimConfig::default()
        })
        .await;
        let wrong = "wrong-Key-0000-secret";
        let client = Authenticated::builder(config(&sim, wrong))
            .backoff(BackoffPolicy::none())
            .build()
            .unwrap();
        let err = call(&client).await.unwrap_err();
        assert!(err.is_invalid_credentials(), "{status}: {err:?}");
        assert!(
            err.to_string().contains("Invalid API key or username."),
            "{err}"
        );
        let text = format!("{err} {err:?} {client:?}");
        assert!(!text.contains(wrong), "{text}");
        assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 1);
    }
}

#[tokio::test]
async fn debug_output_hides_key_and_token() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = client(&sim);
    let session = client.session().await.unwrap();
    let token = session.token().expose_secret().to_owned();
    let text = format!("{session:?} {client:?} {:?}", client.provider());
    assert!(!text.contains(&token), "{text}");
    assert!(!text.contains(DEMO_API_KEY), "{text}");
}

#[tokio::test]
async fn injected_faults_become_typed_errors() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = Authenticated::builder(config(&sim, DEMO_API_KEY))
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    sim.faults().inject(Fault::Malformed, 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("malformed JSON")),
        "{err:?}"
    );
    sim.faults().inject(Fault::Html, 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { status: Some(502), detail, .. } if detail.contains("HTML")),
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
    sim.faults().inject(Fault::Drop, 1);
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse { .. } | AuthError::Transport { .. }
        ),
        "{err:?}"
    );
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 0);
    assert_eq!(call(&client).await.unwrap().status(), 200);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

/// A Plaspy server whose clock runs 2 hours ahead issues 3-second tokens
/// (`expires` and the JWT `exp` on its clock). Measured against its `Date`,
/// the client renews ahead of every expiry: over 3 lifetimes no call is
/// rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_two_hours_ahead_costs_no_rejection() {
    for format in [ExpiresFormat::UtcSeconds, ExpiresFormat::Omitted] {
        let sim = sim(PlaspySimConfig {
            token_ttl: Duration::from_secs(3),
            expires_format: format,
            clock_offset: chrono::Duration::hours(2),
            ..PlaspySimConfig::default()
        })
        .await;
        let client = Authenticated::builder(config(&sim, DEMO_API_KEY))
            .min_login_interval(Duration::ZERO)
            .build()
            .unwrap();
        let end = tokio::time::Instant::now() + Duration::from_secs(9);
        while tokio::time::Instant::now() < end {
            assert_eq!(call(&client).await.unwrap().status(), 200);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stats = client.stats();
        assert_eq!(stats.rejections, 0, "{format:?}: {stats:?}");
        assert!(stats.refreshes >= 2, "{format:?}: {stats:?}");
    }
}
