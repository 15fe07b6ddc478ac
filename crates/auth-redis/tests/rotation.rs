//! Credential rotation across processes sharing a real Redis: keyed
//! fingerprints in the stored session, a rejected secret that the other
//! processes do not try again (so Electa's lockout budget is not spent by a
//! fleet still holding the old key), and a fleet secret that never reaches
//! Redis.
//!
//! Each "process" is a client with its own `RedisStore` (its own
//! connection), as separate processes have.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::rotation::credential_material;
use auth_core::secrecy::{ExposeSecret, SecretString};
use auth_core::{AuthError, Authenticated, TokenStore};
use auth_redis::RedisStore;
use auth_sim::electa::{DEMO_APP_KEY, DEMO_CID, ElectaSim, ElectaSimConfig};
use common::{RedisServer, raw_connection};
use electa_auth::{ElectaClient, ElectaProvider};

const FLEET_SECRET: &[u8; 32] = b"fleet-secret-for-the-tests-0123!";
const NEW_KEY: &str = "AB12CD34EF56GH78IJ90KL12MN34OP56";

async fn store(server: &RedisServer, fleet_secret: Option<&[u8]>) -> RedisStore {
    let mut builder = RedisStore::builder(server.url())
        .prefix("rot")
        .write_legacy_v1(false);
    if let Some(secret) = fleet_secret {
        builder = builder.fleet_secret(secret);
    }
    builder.build().await.expect("store")
}

async fn process(sim: &ElectaSim, store: RedisStore, app_key: &str) -> ElectaClient {
    let provider = ElectaProvider::builder()
        .api_url(sim.base_url().clone())
        .cid(DEMO_CID)
        .app_key(SecretString::from(app_key.to_owned()))
        .build()
        .unwrap();
    Authenticated::builder(provider)
        .store(Arc::new(store))
        .lock_poll_interval(Duration::from_millis(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reaches_every_process_through_the_store() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
    let a = process(&sim, store(&server, Some(FLEET_SECRET)).await, DEMO_APP_KEY).await;
    let b = process(&sim, store(&server, Some(FLEET_SECRET)).await, DEMO_APP_KEY).await;
    let c = process(&sim, store(&server, Some(FLEET_SECRET)).await, DEMO_APP_KEY).await;
    let first = a.session().await.unwrap();
    assert!(b.session().await.unwrap().is_adopted());

    // The key changes at Electa; its sessions end.
    sim.set_app_key(DEMO_CID, NEW_KEY);
    sim.expire_all_sessions();
    a.invalidate(&first).await;
    b.invalidate(&first).await;

    // A spends one failed login with the old key ...
    let error = a.session().await.unwrap_err();
    assert!(error.is_invalid_credentials(), "{error}");
    assert_eq!(sim.failure_count(DEMO_CID), 1);
    // ... B, holding the same old key, learns it from Redis and does not try.
    let error = b.session().await.unwrap_err();
    assert!(
        matches!(error, AuthError::StaleCredentials { .. }),
        "{error}"
    );
    assert_eq!(sim.failure_count(DEMO_CID), 1, "B never reached Electa");

    // C is rotated and logs in; B adopts C's session and keeps working.
    c.rotate_credentials(SecretString::from(NEW_KEY))
        .await
        .unwrap();
    c.invalidate(&first).await;
    let fresh = c.session().await.unwrap();
    let adopted = b.session().await.unwrap();
    assert_eq!(adopted.generation(), fresh.generation());
    assert_eq!(b.stats().credentials_changed_elsewhere, 1);
    // One failed login in all, from A (a success resets Electa's count).
    assert_eq!(sim.counters().failed_logins(&DEMO_CID.to_string()), 1);
    assert!(!sim.is_locked(DEMO_CID));

    // What Redis holds: keyed fingerprints, never a key or a plain hash.
    let mut redis = raw_connection(&server.url()).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("rot:*")
        .query_async(&mut redis)
        .await
        .unwrap();
    let rejected_key = keys.iter().find(|k| k.ends_with(":rejected")).unwrap();
    let rejected: String = redis::cmd("GET")
        .arg(rejected_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let session_key = keys.iter().find(|k| k.ends_with(":session")).unwrap();
    let value: String = redis::cmd("HGET")
        .arg(session_key)
        .arg("value")
        .query_async(&mut redis)
        .await
        .unwrap();
    let old = credential_material(&[&SecretString::from(DEMO_APP_KEY)]);
    let new = credential_material(&[&SecretString::from(NEW_KEY)]);
    let checker = store(&server, Some(FLEET_SECRET)).await;
    let key = c.cache_key();
    assert_eq!(
        Some(rejected.clone()),
        checker.credential_fingerprint(key, old.expose_secret())
    );
    let new_fingerprint = checker
        .credential_fingerprint(key, new.expose_secret())
        .unwrap();
    assert!(value.contains(&new_fingerprint), "the session carries it");
    for secret in [DEMO_APP_KEY, NEW_KEY] {
        assert!(!value.contains(secret) && !rejected.contains(secret));
    }
    // Another fleet secret gives other fingerprints: the stored ones cannot
    // be checked against guesses without it.
    let other = store(&server, Some(b"another-fleet-secret-0123456789!")).await;
    assert_ne!(
        other.credential_fingerprint(key, old.expose_secret()),
        Some(rejected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fleet_secret_no_fingerprint_is_kept() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let plain = store(&server, None).await;
    assert_eq!(plain.credential_fingerprint("k", b"material"), None);
    // A short fleet secret is refused when the store is built.
    let error = RedisStore::builder(server.url())
        .fleet_secret(b"short")
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("at least 32"), "{error}");
    // Rotation still works; the other processes learn only from Electa.
    let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
    let a = process(&sim, plain, DEMO_APP_KEY).await;
    a.session().await.unwrap();
    sim.set_app_key(DEMO_CID, NEW_KEY);
    a.rotate_credentials(SecretString::from(NEW_KEY))
        .await
        .unwrap();
    sim.expire_all_sessions();
    let stale = a.session().await.unwrap();
    a.invalidate(&stale).await;
    a.session().await.unwrap();
    assert_eq!(sim.failure_count(DEMO_CID), 0);
}
