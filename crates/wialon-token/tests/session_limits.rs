//! Per-session request limits against the auth-sim Wialon simulator: a
//! burst on one session queues (retries with back-off) instead of failing.

use std::time::Duration;

use auth_sim::wialon::{DEMO_TOKEN, DEMO_USER, WialonSim, WialonSimConfig};
use serde_json::{Value, json};
use wialon_token::{LimitRetry, WialonClient, WialonError, WialonErrorCode, WialonProvider};

fn client(sim: &WialonSim) -> WialonClient {
    WialonClient::new(
        WialonProvider::builder()
            .token(DEMO_TOKEN)
            .host(sim.base_url().as_str())
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn search() -> Value {
    json!({"spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*",
        "sortType": "sys_name"}, "force": 1, "flags": 1, "from": 0, "to": 0})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_concurrent_limit_queues_instead_of_failing() {
    let sim = WialonSim::start(WialonSimConfig {
        call_latency: Duration::from_millis(40),
        ..WialonSimConfig::default()
    })
    .await
    .unwrap();
    let c = client(&sim);
    c.session().await.unwrap();
    let calls: Vec<_> = (0..25)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.call::<Value>("core/search_items", &search()).await })
        })
        .collect();
    for call in calls {
        let reply = call.await.unwrap().unwrap();
        assert_eq!(reply["totalItemsCount"], 3);
    }
    // The simulator refused some (more than 10 at once) and every refused
    // call was sent again; one login served them all.
    assert!(sim.limit_refusals() > 0);
    assert_eq!(sim.counters().calls(DEMO_USER), 25);
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retry_the_refusal_is_a_typed_retryable_error() {
    let sim = WialonSim::start(WialonSimConfig {
        call_latency: Duration::from_millis(200),
        ..WialonSimConfig::default()
    })
    .await
    .unwrap();
    let c = client(&sim).with_limit_retry(LimitRetry::none());
    c.session().await.unwrap();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.call::<Value>("core/search_items", &search()).await })
        })
        .collect();
    let mut refused = 0;
    for call in calls {
        if let Err(err) = call.await.unwrap() {
            let typed = err.provider_error::<WialonError>().unwrap();
            assert_eq!(typed.code, WialonErrorCode::OneRequestAtATime);
            assert_eq!(typed.reason.as_deref(), Some("LIMIT api_concurrent"));
            assert!(err.is_retryable());
            refused += 1;
        }
    }
    assert_eq!(refused, 2);
}
