//! API calls through `PlaspyClientExt`: the documented reply envelope and
//! error statuses, against the simulator and against mockito.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy};
use auth_sim::plaspy::{DEMO_API_KEY, DEMO_USERNAME, PlaspySim, PlaspySimConfig};
use mockito::Server;
use plaspy_auth::{PlaspyCallError, PlaspyClient, PlaspyClientExt, PlaspyProvider};
use secrecy::SecretString;

fn client_for(base: url::Url, api_key: &str) -> PlaspyClient {
    let config = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(SecretString::from(api_key))
        .base_url(base)
        .build()
        .unwrap();
    Authenticated::builder(config)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

async fn sim(config: PlaspySimConfig) -> PlaspySim {
    PlaspySim::start(config).await.unwrap()
}

#[tokio::test]
async fn the_envelope_and_usage_counters_are_read() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = client_for(sim.base_url().clone(), DEMO_API_KEY);
    for n in 1..=3 {
        let reply = client.get_api("api/devices").await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!((reply.api_usage, reply.api_daily_usage), (Some(n), Some(n)));
        assert_eq!(reply.body["devices"].as_array().unwrap().len(), 2);
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

/// 401 means log in again (once); 403 is a permission error that keeps the
/// session.
#[tokio::test]
async fn only_401_means_log_in_again() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = client_for(sim.base_url().clone(), DEMO_API_KEY);
    client.get_api("api/devices").await.unwrap();
    sim.expire_all_sessions();
    client.get_api("api/devices").await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    sim.set_forbidden(true);
    let err = client.get_api("api/devices").await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Api { code, retryable: false, .. } if code == "403"),
        "{err:?}"
    );
    let typed = err.provider_error::<PlaspyCallError>().unwrap();
    assert_eq!(typed.status, 403);
    assert!(!typed.message.is_empty());
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert!(client.cached().is_some());
}

#[tokio::test]
async fn daily_limit_is_throttled_with_retry_after() {
    let sim = sim(PlaspySimConfig {
        daily_limit: Some(1),
        ..PlaspySimConfig::default()
    })
    .await;
    let client = client_for(sim.base_url().clone(), DEMO_API_KEY);
    client.get_api("api/devices").await.unwrap();
    let err = client.get_api("api/devices").await.unwrap_err();
    let AuthError::Throttled {
        retry_after: Some(wait),
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(86_400));
    assert!(client.cached().is_some());
}

#[tokio::test]
async fn maintenance_is_retryable_on_calls_and_on_login() {
    let sim = sim(PlaspySimConfig::default()).await;
    let client = client_for(sim.base_url().clone(), DEMO_API_KEY);
    client.get_api("api/devices").await.unwrap();
    sim.set_maintenance(Some(Duration::from_secs(120)));
    let err = client.get_api("api/devices").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let typed = err.provider_error::<PlaspyCallError>().unwrap();
    assert_eq!(
        (typed.status, typed.retry_after),
        (503, Some(Duration::from_secs(120)))
    );
    // A login during maintenance fails retryably, not as bad credentials.
    let fresh = client_for(sim.base_url().clone(), DEMO_API_KEY);
    let err = fresh.session().await.unwrap_err();
    assert!(
        err.is_retryable() && !err.is_invalid_credentials(),
        "{err:?}"
    );
    sim.set_maintenance(None);
    fresh.get_api("api/devices").await.unwrap();
}

/// A status, its `Retry-After`, and the check of the error it gives.
type Case = (usize, Option<&'static str>, fn(&AuthError) -> bool);

/// The exact call: `GET /api/devices` with the bearer token, and each
/// documented status mapped.
#[tokio::test]
async fn request_shape_and_status_mapping() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("POST", "/api/Auth/Token")
        .with_status(200)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(r#"{"success":true,"token":"tok-1","expires":"2099-01-01T00:00:00Z"}"#)
        .expect(1)
        .create_async()
        .await;
    let client = client_for(url::Url::parse(&server.url()).unwrap(), "key-0123");
    let cases: [Case; 4] = [
        (
            403,
            None,
            |e| matches!(e, AuthError::Api { code, retryable: false, .. } if code == "403"),
        ),
        (
            415,
            None,
            |e| matches!(e, AuthError::Api { code, retryable: false, .. } if code == "415"),
        ),
        (
            429,
            Some("12"),
            |e| matches!(e, AuthError::Throttled { retry_after: Some(d), .. } if *d == Duration::from_secs(12)),
        ),
        (
            503,
            Some("5"),
            |e| matches!(e, AuthError::Api { code, retryable: true, .. } if code == "503"),
        ),
    ];
    for (status, retry_after, check) in cases {
        let mut mock = server
            .mock("GET", "/api/devices")
            .match_header("authorization", "Bearer tok-1")
            .with_status(status)
            .with_header("content-type", "application/json; charset=utf-8")
            .with_body(r#"{"success":false,"error":"denied key-0123","apiUsage":9}"#);
        if let Some(secs) = retry_after {
            mock = mock.with_header("retry-after", secs);
        }
        let mock = mock.expect(1).create_async().await;
        let err = client.get_api("api/devices").await.unwrap_err();
        assert!(check(&err), "{status}: {err:?}");
        assert!(!format!("{err} {err:?}").contains("key-0123"), "{err:?}");
        mock.assert_async().await;
        mock.remove_async().await;
    }
    login.assert_async().await;
}
