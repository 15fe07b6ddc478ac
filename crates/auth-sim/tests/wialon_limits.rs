//! The Wialon simulator's per-session limits, with raw `reqwest`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use auth_sim::wialon::{DEMO_TOKEN, LimitReply, SessionLimits, WialonSim, WialonSimConfig};
use serde_json::{Value, json};

async fn call(sim: &WialonSim, form: &[(&str, &str)]) -> Value {
    support::client()
        .post(sim.ajax_url())
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn login(sim: &WialonSim) -> String {
    let params = json!({ "token": DEMO_TOKEN }).to_string();
    let reply = call(sim, &[("svc", "token/login"), ("params", &params)]).await;
    reply["eid"].as_str().unwrap().to_owned()
}

const SEARCH: &str = r#"{"spec":{"itemsType":"avl_unit","propName":"sys_name","propValueMask":"*","sortType":"sys_name"},"force":1,"flags":1,"from":0,"to":0}"#;

/// `n` concurrent `core/search_items` calls of session `sid`.
async fn burst(sim: &Arc<WialonSim>, sid: &str, n: usize) -> Vec<Value> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let sim = Arc::clone(sim);
            let sid = sid.to_owned();
            tokio::spawn(async move { search(&sim, &sid).await })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn search(sim: &WialonSim, sid: &str) -> Value {
    call(
        sim,
        &[
            ("svc", "core/search_items"),
            ("params", SEARCH),
            ("sid", sid),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_ten_concurrent_requests_of_a_session_are_refused() {
    let sim = WialonSim::start(WialonSimConfig {
        call_latency: Duration::from_millis(300),
        ..WialonSimConfig::default()
    })
    .await
    .unwrap();
    let sid = login(&sim).await;
    let other = login(&sim).await;
    let sim = Arc::new(sim);
    let (mine, others) = tokio::join!(burst(&sim, &sid, 14), burst(&sim, &other, 2));
    let ok = mine.iter().filter(|r| r.get("items").is_some()).count();
    let refused: Vec<&Value> = mine.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(ok, 10, "{mine:?}");
    assert_eq!(refused.len(), 4);
    for r in refused {
        assert_eq!(*r, json!({"error": 1003, "reason": "LIMIT api_concurrent"}));
    }
    // The limit is per session: the other session is not affected.
    assert!(others.iter().all(|r| r.get("items").is_some()));
    assert_eq!(sim.limit_refusals(), 4);
    // Slots are freed when the answers are sent.
    let again = burst(&sim, &sid, 10).await;
    assert!(again.iter().all(|r| r.get("items").is_some()));
}

#[tokio::test]
async fn the_limits_can_be_switched_off() {
    let sim = WialonSim::start(WialonSimConfig {
        call_latency: Duration::from_millis(200),
        limits: SessionLimits::off(),
        ..WialonSimConfig::default()
    })
    .await
    .unwrap();
    let sid = login(&sim).await;
    let sim = Arc::new(sim);
    let replies = burst(&sim, &sid, 20).await;
    assert!(replies.iter().all(|r| r.get("items").is_some()));
    assert_eq!(sim.limit_refusals(), 0);
}

#[tokio::test]
async fn avl_evts_is_limited_to_ten_per_ten_seconds() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let sid = login(&sim).await;
    let sim = Arc::new(sim);
    let http = support::client();
    for i in 0..11 {
        let reply: Value = http
            .post(sim.avl_evts_url())
            .form(&[("sid", sid.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if i < 10 {
            assert!(reply.get("tm").is_some(), "{i}: {reply}");
        } else {
            assert_eq!(reply, json!({"error": 10}));
        }
    }
    // ajax.html calls are not counted against the avl_evts budget.
    let replies = burst(&sim, &sid, 3).await;
    assert!(replies.iter().all(|r| r.get("items").is_some()));
}

#[tokio::test]
async fn an_optional_per_second_limit_answers_the_configured_reply() {
    let sim = WialonSim::start(WialonSimConfig {
        limits: SessionLimits {
            max_requests_per_second_per_session: Some(3),
            rate_reply: LimitReply::Error1003("Only one request is allowed at the moment".into()),
            ..SessionLimits::default()
        },
        ..WialonSimConfig::default()
    })
    .await
    .unwrap();
    let sid = login(&sim).await;
    for i in 0..4 {
        let r = search(&sim, &sid).await;
        if i < 3 {
            assert!(r.get("items").is_some());
        } else {
            assert_eq!(r["error"], 1003);
        }
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = search(&sim, &sid).await;
    assert!(r.get("items").is_some());
    sim.set_limits(SessionLimits::off());
}
