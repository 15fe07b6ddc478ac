//! The Wialon simulator's event queue: `avl_evts` returns and clears the
//! events queued for its session.

mod support;

use auth_sim::wialon::{DEMO_TOKEN, DEMO_USER, WialonSim, WialonSimConfig};
use serde_json::{Value, json};

async fn login(sim: &WialonSim) -> String {
    let params = json!({ "token": DEMO_TOKEN }).to_string();
    let reply: Value = support::client()
        .post(sim.ajax_url())
        .form(&[("svc", "token/login"), ("params", params.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["eid"].as_str().unwrap().to_owned()
}

async fn avl_evts(sim: &WialonSim, sid: &str) -> Value {
    support::client()
        .post(sim.avl_evts_url())
        .form(&[("sid", sid)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn avl_evts_returns_and_clears_the_events_of_its_session() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let a = login(&sim).await;
    let b = login(&sim).await;
    assert_eq!(avl_evts(&sim, &a).await["events"], json!([]));
    let event =
        json!({"i": 734455, "t": "m", "d": {"tm": 1_700_000_000, "pos": {"x": 27.5, "y": 53.9}}});
    assert_eq!(sim.push_event(DEMO_USER, event.clone()), 2);
    assert_eq!(sim.push_event("nobody", event.clone()), 0);
    let first = avl_evts(&sim, &a).await;
    assert!(first["tm"].as_i64().unwrap() > 0);
    assert_eq!(first["events"], json!([event]));
    // Cleared for that session; the other session still has its copy.
    assert_eq!(avl_evts(&sim, &a).await["events"], json!([]));
    assert_eq!(sim.queued_events(), 1);
    assert_eq!(avl_evts(&sim, &b).await["events"], json!([event]));
    assert_eq!(sim.queued_events(), 0);
}
