//! Per-session request limits against the auth-sim Wialon simulator: the
//! client keeps a burst on one session under the service's limits (it
//! queues), and a refusal caused by load it cannot see (another process on
//! the same session) is retried with back-off instead of failing.

use std::time::Duration;

use auth_sim::wialon::SessionLimits;
use auth_sim::wialon::{DEMO_TOKEN, DEMO_USER, WialonSim, WialonSimConfig};
use serde_json::{Value, json};
use wialon_token::{
    LimitRetry, RequestLimits, WialonClient, WialonClientExt, WialonError, WialonErrorCode,
    WialonProvider,
};

/// A client with the default request limits and no retry of refusals.
fn client(sim: &WialonSim) -> WialonClient {
    client_with(
        sim,
        wialon_token::DEFAULT_REQUEST_LIMITS,
        LimitRetry::none(),
    )
}

/// A client with `limits`; no limits stands for processes that share the
/// session and whose load this one cannot see.
fn client_with(sim: &WialonSim, limits: RequestLimits, retry: LimitRetry) -> WialonClient {
    WialonProvider::builder()
        .token(DEMO_TOKEN)
        .host(sim.base_url().as_str())
        .request_limits(limits)
        .limit_retry(retry)
        .build()
        .unwrap()
        .into_client()
        .unwrap()
}

/// A simulator whose calls take `latency`, with `limits`.
async fn sim_with(latency: Duration, limits: SessionLimits) -> WialonSim {
    WialonSim::start(WialonSimConfig {
        call_latency: latency,
        limits,
        ..WialonSimConfig::default()
    })
    .await
    .unwrap()
}

/// `n` concurrent `core/search_items` calls on a logged-in client.
async fn spawn_searches(
    c: &WialonClient,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<Value, wialon_token::AuthError>>> {
    c.session().await.unwrap();
    (0..n)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.call::<Value>("core/search_items", &search()).await })
        })
        .collect()
}

fn search() -> Value {
    json!({"spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*",
        "sortType": "sys_name"}, "force": 1, "flags": 1, "from": 0, "to": 0})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_session_stays_under_the_service_limits() {
    let limits = SessionLimits {
        max_requests_per_second_per_session: Some(10),
        ..SessionLimits::default()
    };
    let sim = sim_with(Duration::from_millis(150), limits).await;
    let c = client(&sim);
    let calls = spawn_searches(&c, 30).await;
    for call in calls {
        let reply = call.await.unwrap().unwrap();
        assert_eq!(reply["totalItemsCount"], 3);
    }
    assert_eq!(sim.limit_refusals(), 0, "the client went over a limit");
    assert_eq!(sim.counters().calls(DEMO_USER), 30);
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_caused_by_load_the_client_cannot_see_are_retried() {
    let sim = sim_with(Duration::from_millis(40), SessionLimits::default()).await;
    let c = client_with(&sim, RequestLimits::new(), LimitRetry::default());
    let calls = spawn_searches(&c, 25).await;
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
    let sim = sim_with(Duration::from_millis(200), SessionLimits::default()).await;
    let c = client_with(&sim, RequestLimits::new(), LimitRetry::none());
    let calls = spawn_searches(&c, 12).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_section_has_the_session_to_itself() {
    let sim = sim_with(Duration::from_millis(30), SessionLimits::default()).await;
    let c = client(&sim);
    let background = spawn_searches(&c, 20).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (at_start, during) = c
        .exclusive(async {
            // Requests already in flight finished before the section began.
            let at_start = sim.in_flight();
            let sample = async {
                let mut most = 0;
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    most = most.max(sim.in_flight());
                }
                most
            };
            let params = search();
            let (reply, during) =
                tokio::join!(c.call::<Value>("core/search_items", &params), sample);
            assert_eq!(reply.unwrap()["totalItemsCount"], 3);
            (at_start, during)
        })
        .await;
    assert_eq!(
        at_start, 0,
        "the section began while requests were in flight"
    );
    assert_eq!(during, 1, "other requests ran alongside the section's call");
    for call in background {
        call.await.unwrap().unwrap();
    }
}
