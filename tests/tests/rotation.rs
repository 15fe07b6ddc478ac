//! Credential rotation while 1,000 calls are in flight, for every provider,
//! against its simulator.
//!
//! The account's secret changes at the provider and the client is rotated
//! while the calls run (two fifths started before the rotation, two fifths
//! queued behind its own requests, one fifth after it); then the provider
//! ends the sessions (as a password
//! change or a token deletion may). Every call must succeed, with exactly one
//! more login (with the new secret) and no failed login: the calls queued
//! behind the rejection wait for that one login, and no login ever goes out
//! with the old secret.

use std::sync::Arc;
use std::time::Duration;

use auth_core::rotation::RotateCredentials;
use auth_core::{AuthError, Authenticated, Provider, RequestLimits};
use auth_sim::{Fault, SimHandle};
use cielo24_auth::{Cielo24ClientExt, Cielo24Provider};
use ctc_auth::{CtcProvider, CtcSecrets, Instance};
use electa_auth::{ElectaClientExt, ElectaProvider};
use futures_util::future::BoxFuture;
use plaspy_auth::PlaspyProvider;
use secrecy::SecretString;
use wialon_token::{TokenParams, WialonClientExt, WialonProvider};

const CALLS: usize = 1_000;

/// One protected call of the provider's API.
type Call<P> = fn(Authenticated<P>) -> BoxFuture<'static, Result<(), AuthError>>;

/// What the test does once the calls are running: change the secret at the
/// provider and rotate the client (in whichever order the provider needs).
type Rotate<'a, P> = Box<dyn FnOnce(Authenticated<P>) -> BoxFuture<'a, ()> + 'a>;

/// A client with at most 64 calls on the wire at once (each is a socket on
/// both ends); the rest wait in the client, in flight for their caller.
fn client<P: Provider>(provider: P) -> Authenticated<P> {
    Authenticated::builder(provider)
        .request_limits(Some(RequestLimits::new().max_in_flight(64)))
        .build()
        .unwrap()
}

async fn rotate_under_load<P: RotateCredentials>(
    label: &str,
    client: Authenticated<P>,
    sim: &SimHandle,
    account: &str,
    call: Call<P>,
    rotate: Rotate<'_, P>,
    provider_ends_sessions: bool,
) {
    call(client.clone()).await.expect("the first call logs in");
    assert_eq!(sim.counters().logins(account), 1, "{label}");
    // Slow answers, so the rotation happens while the calls are running.
    sim.faults()
        .inject(Fault::Delay(Duration::from_millis(20)), 4 * CALLS);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS * 2 / 5 {
        calls.spawn(call(client.clone()));
    }
    while sim.counters().calls(account) < 50 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The rotation's own requests (Wialon's token/update, cielo24's
    // generate_api_key) queue behind the first wave; the second queues
    // behind them; the third starts when the rotation is done, before the
    // provider ends the sessions.
    let second_wave = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        for _ in 0..CALLS * 2 / 5 {
            calls.spawn(call(client.clone()));
        }
    };
    tokio::join!(rotate(client.clone()), second_wave);
    for _ in 0..CALLS / 5 {
        calls.spawn(call(client.clone()));
    }
    if !provider_ends_sessions {
        sim.expire_all_sessions();
    }
    let mut failures = Vec::new();
    while let Some(outcome) = calls.join_next().await {
        if let Err(error) = outcome.expect("no call panicked") {
            failures.push(error.to_string());
        }
    }
    sim.faults().clear();
    assert!(
        failures.is_empty(),
        "{label}: {} of {CALLS} calls failed, e.g. {}",
        failures.len(),
        failures[0]
    );
    let stats = client.stats();
    eprintln!(
        "{label}: {stats:?}; the simulator saw {} logins, {} calls",
        sim.counters().total_logins(),
        sim.counters().total_calls()
    );
    assert_eq!(stats.rotations, 1, "{label}");
    assert_eq!(
        (
            sim.counters().logins(account),
            sim.counters().failed_logins(account)
        ),
        (2, 0),
        "{label}: one login with the new secret, none with the old"
    );
    assert_eq!(
        stats.relogins, 1,
        "{label}: the rotation happened mid-flight"
    );
    assert!(
        sim.counters().calls(account) > CALLS as u64,
        "{label}: some calls were rejected and retried"
    );
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctc_password_and_app_key() {
    use auth_sim::ctc::*;
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let provider = CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(secret(DEMO_PASSWORD))
        .app_key(secret(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()))
        .build()
        .unwrap();
    let client = client(provider);
    const NEW_KEY: &str = "9b1d2c3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e";
    let call: Call<CtcProvider> = |c| {
        Box::pin(async move {
            let response = c.get(&avl_latest_path(DEMO_DEVICE_ID)).send().await?;
            assert_eq!(response.status(), 200);
            Ok(())
        })
    };
    let sim_ref = &sim;
    let rotate: Rotate<'_, CtcProvider> = Box::new(move |c| {
        Box::pin(async move {
            // Both keys are valid while clients move over, as CTC's
            // application keys are managed.
            sim_ref.set_app_keys(&[DEMO_APP_KEY, NEW_KEY]);
            sim_ref.set_password(DEMO_USERNAME, "N3w-Passw0rd!");
            c.rotate_credentials(
                CtcSecrets::new()
                    .password(secret("N3w-Passw0rd!"))
                    .app_key(secret(NEW_KEY)),
            )
            .await
            .unwrap();
        })
    });
    rotate_under_load("ctc", client, &sim, DEMO_USERNAME, call, rotate, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaspy_api_key() {
    use auth_sim::plaspy::*;
    let sim = PlaspySim::start(PlaspySimConfig::default()).await.unwrap();
    let provider = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(secret(DEMO_API_KEY))
        .base_url(sim.base_url().clone())
        .build()
        .unwrap();
    let client = client(provider);
    const NEW_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let call: Call<PlaspyProvider> = |c| {
        Box::pin(async move {
            let response = c.get("api/devices").send().await?;
            assert_eq!(response.status(), 200);
            Ok(())
        })
    };
    let sim_ref = &sim;
    let rotate: Rotate<'_, PlaspyProvider> = Box::new(move |c| {
        Box::pin(async move {
            sim_ref.set_api_key(DEMO_USERNAME, NEW_KEY);
            c.rotate_credentials(secret(NEW_KEY)).await.unwrap();
        })
    });
    rotate_under_load("plaspy", client, &sim, DEMO_USERNAME, call, rotate, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wialon_token_replaced_and_the_old_one_deleted() {
    use auth_sim::wialon::*;
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let provider = WialonProvider::builder()
        .token(DEMO_TOKEN)
        .host(sim.base_url().as_str())
        // Wialon's 10 requests in progress per session stay the bound on
        // the wire; no per-second cap, to keep the test short.
        .request_limits(RequestLimits::new().max_in_flight(9))
        .build()
        .unwrap();
    let key_before = provider_key(&provider);
    let client = Authenticated::new(provider).unwrap();
    let call: Call<WialonProvider> = |c| {
        Box::pin(async move {
            let params = serde_json::json!({
                "spec": {"itemsType": "avl_unit", "propName": "sys_name",
                         "propValueMask": "*", "sortType": "sys_name"},
                "force": 1, "flags": 1, "from": 0, "to": 0
            });
            c.call::<serde_json::Value>("core/search_items", &params)
                .await
                .map(drop)
        })
    };
    let created = Arc::new(std::sync::Mutex::new(None));
    let created_in = Arc::clone(&created);
    let rotate: Rotate<'_, WialonProvider> = Box::new(move |c| {
        Box::pin(async move {
            // token/update `create`, rotate, token/update `delete` of the
            // old token: the sessions it opened end with it.
            let record = c
                .rotate_token(&TokenParams::new(-1).app("rotation-test"), true)
                .await
                .unwrap();
            *created_in.lock().unwrap() = Some(record);
        })
    });
    rotate_under_load(
        "wialon",
        client.clone(),
        &sim,
        DEMO_USER,
        call,
        rotate,
        true,
    )
    .await;
    assert!(created.lock().unwrap().is_some());
    // The cache key is the account's identity: kept across the rotation.
    assert_eq!(client.cache_key(), key_before);
}

fn provider_key(provider: &WialonProvider) -> String {
    provider.cache_key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cielo24_onto_a_new_secure_key() {
    use auth_sim::cielo24::*;
    let sim = Cielo24Sim::start(Cielo24SimConfig::default())
        .await
        .unwrap();
    let provider = Cielo24Provider::builder()
        .username(DEMO_USERNAME)
        .password(secret(DEMO_PASSWORD))
        .base_url(sim.base_url().clone())
        .build()
        .unwrap();
    let client = client(provider);
    let call: Call<Cielo24Provider> =
        |c| Box::pin(async move { c.get_json("api/job/list", &[]).await.map(drop) });
    let sim_ref = &sim;
    let rotate: Rotate<'_, Cielo24Provider> = Box::new(move |c| {
        Box::pin(async move {
            // generate_api_key(force_new) and the rotation in one call; the
            // password is then changed, so a login with it would fail.
            let key = c.rotate_api_key(true).await.unwrap();
            sim_ref.set_password(DEMO_USERNAME, "a-new-password-2");
            assert!(
                sim_ref
                    .secure_keys(DEMO_USERNAME)
                    .iter()
                    .any(|k| secrecy::ExposeSecret::expose_secret(&key) == k)
            );
        })
    });
    rotate_under_load("cielo24", client, &sim, DEMO_USERNAME, call, rotate, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electa_app_key() {
    use auth_sim::electa::*;
    let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
    let provider = ElectaProvider::builder()
        .api_url(sim.base_url().clone())
        .cid(DEMO_CID)
        .app_key(secret(DEMO_APP_KEY))
        .build()
        .unwrap();
    let client = client(provider);
    const NEW_KEY: &str = "AB12CD34EF56GH78IJ90KL12MN34OP56";
    let call: Call<ElectaProvider> =
        |c| Box::pin(async move { c.call("users/list/", &[]).await.map(drop) });
    let sim_ref = &sim;
    let rotate: Rotate<'_, ElectaProvider> = Box::new(move |c| {
        Box::pin(async move {
            sim_ref.set_app_key(DEMO_CID, NEW_KEY);
            c.rotate_credentials(secret(NEW_KEY)).await.unwrap();
        })
    });
    let account = DEMO_CID.to_string();
    rotate_under_load("electa", client, &sim, &account, call, rotate, false).await;
    assert!(!sim.is_locked(DEMO_CID));
    assert_eq!(sim.failure_count(DEMO_CID), 0);
}
