//! The `avl_evts` event stream against the auth-sim Wialon simulator.

use std::time::Duration;

use auth_sim::wialon::{DEMO_TOKEN, DEMO_USER, WialonSim, WialonSimConfig};
use futures_util::StreamExt;
use serde_json::json;
use wialon_token::WialonClientExt;
use wialon_token::{WialonClient, WialonProvider, poll_events_once};

fn client(sim: &WialonSim) -> WialonClient {
    WialonProvider::into_client(
        WialonProvider::builder()
            .token(DEMO_TOKEN)
            .host(sim.base_url().as_str())
            .idle_timeout(Duration::from_millis(800))
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_stream_yields_each_non_empty_batch_and_keeps_the_session_alive() {
    let sim = WialonSim::start(WialonSimConfig {
        session_idle: Duration::from_millis(800),
        ..WialonSimConfig::default()
    })
    .await
    .unwrap();
    let c = client(&sim);
    c.session().await.unwrap();
    let events = c.events(Duration::from_millis(300));
    let mut events = std::pin::pin!(events);

    sim.push_event(DEMO_USER, json!({"i": 1, "t": "m", "d": {"n": 1}}));
    sim.push_event(DEMO_USER, json!({"i": 2, "t": "u", "d": {"n": 2}}));
    let batch = events.next().await.unwrap().unwrap();
    let ids: Vec<i64> = batch.events.iter().map(|e| e.item_id).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(sim.queued_events(), 0);

    // Empty polls are not yielded; the next batch comes after a few of
    // them, longer than the idle limit: the polls kept the session alive.
    let pusher = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sim.push_event(DEMO_USER, json!({"i": 3, "t": "d"}));
    };
    let (batch, ()) = tokio::join!(events.next(), pusher);
    let batch = batch.unwrap().unwrap();
    assert_eq!(batch.events[0].item_id, 3);
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
    assert!(sim.keep_alives(DEMO_USER) >= 4);
}

#[tokio::test]
async fn a_keep_alive_takes_the_events_a_reader_would_have_read() {
    // The trade-off the README documents: avl_evts clears what it returns.
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    c.session().await.unwrap();
    sim.push_event(DEMO_USER, json!({"i": 5, "t": "m"}));
    // A keep-alive request (what spawn_keep_alive sends) ...
    use auth_core::Provider;
    let session = c.session().await.unwrap();
    let request = c.provider().keep_alive_request(c.http(), &session).unwrap();
    let request = c.provider().authorize(&session, request);
    let reply: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["events"][0]["i"], 5);
    // ... leaves nothing for the reader.
    assert!(poll_events_once(&c).await.unwrap().is_empty());
}
