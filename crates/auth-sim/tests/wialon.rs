//! Wialon simulator tests, with raw `reqwest` (not the provider crate).

mod support;

use std::time::Duration;

use auth_sim::Fault;
use auth_sim::wialon::{
    DEMO_INACTIVE_TOKEN, DEMO_SUBUSER, DEMO_TOKEN, DEMO_USER, SimAccount, SimToken,
    UNKNOWN_ACCOUNT, WialonSim, WialonSimConfig,
};
use serde_json::{Value, json};

async fn sim() -> WialonSim {
    WialonSim::start(WialonSimConfig::default()).await.unwrap()
}

async fn sim_idle(idle: Duration) -> WialonSim {
    WialonSim::start(WialonSimConfig {
        session_idle: idle,
        ..WialonSimConfig::default()
    })
    .await
    .unwrap()
}

/// POSTs a form to ajax.html and returns (status, content type, body text).
async fn post(sim: &WialonSim, form: &[(&str, &str)]) -> (u16, String, String) {
    let response = support::client()
        .post(sim.ajax_url())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, response.text().await.unwrap())
}

async fn post_json(sim: &WialonSim, form: &[(&str, &str)]) -> Value {
    let (status, ct, body) = post(sim, form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/json");
    serde_json::from_str(&body).unwrap()
}

async fn login(sim: &WialonSim, params: Value) -> Value {
    post_json(
        sim,
        &[("svc", "token/login"), ("params", &params.to_string())],
    )
    .await
}

async fn login_sid(sim: &WialonSim) -> String {
    let v = login(sim, json!({"token": DEMO_TOKEN})).await;
    v["eid"].as_str().unwrap().to_owned()
}

async fn search(sim: &WialonSim, sid: &str) -> String {
    let params = json!({"spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*", "sortType": "sys_name"}, "force": 1, "flags": 1, "from": 0, "to": 0});
    post(
        sim,
        &[
            ("svc", "core/search_items"),
            ("params", &params.to_string()),
            ("sid", sid),
        ],
    )
    .await
    .2
}

#[tokio::test]
async fn login_returns_the_documented_shape() {
    let sim = sim().await;
    let (status, ct, body) = post(
        &sim,
        &[
            ("svc", "token/login"),
            (
                "params",
                &json!({"token": DEMO_TOKEN, "fl": 0x7f}).to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, "application/json", "exact content type");
    let v: Value = serde_json::from_str(&body).unwrap();
    let eid = v["eid"].as_str().unwrap();
    assert_eq!(eid.len(), 32);
    assert!(eid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(v["au"], DEMO_USER);
    assert!(v["tm"].as_i64().unwrap() > 1_600_000_000);
    for key in [
        "gis_sid",
        "host",
        "hw_gw_ip",
        "pi",
        "wsdk_version",
        "classes",
        "features",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    let user = &v["user"];
    assert_eq!(user["nm"], DEMO_USER);
    for key in [
        "cls", "id", "prp", "crt", "bact", "fl", "hm", "uacl", "mu", "ct",
    ] {
        assert!(user.get(key).is_some(), "user.{key} missing: {user}");
    }
    assert_eq!(v["features"]["unlim"], 0);
    assert!(v["features"]["svcs"].is_object());
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert!(v["base_url"].is_string());
    // `token` is escaped JSON text.
    let token_text = v["token"].as_str().expect("token is a string");
    let token: Value = serde_json::from_str(token_text).unwrap();
    for key in ["app", "ct", "at", "dur", "fl", "p", "items"] {
        assert!(token.get(key).is_some(), "token.{key} missing: {token}");
    }
    assert_eq!(token["dur"], 0);
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
    assert_eq!(sim.active_sessions(), 1);
}

#[tokio::test]
async fn flags_select_the_blocks() {
    let sim = sim().await;
    // fl absent: basic + user info, no token, no prp, no svcs.
    let v = login(&sim, json!({"token": DEMO_TOKEN})).await;
    assert!(v["gis_sid"].is_string());
    assert!(v["user"]["crt"].is_number());
    assert!(v.get("token").is_none());
    assert!(v["user"].get("prp").is_none());
    assert!(v["features"].get("svcs").is_none());
    // basic only: user has nm/cls/id but no user-info block.
    let v = login(&sim, json!({"token": DEMO_TOKEN, "fl": 1})).await;
    assert_eq!(v["user"]["nm"], DEMO_USER);
    assert!(v["user"].get("crt").is_none());
    // token only: eid/au/tm and token, no basic block.
    let v = login(&sim, json!({"token": DEMO_TOKEN, "fl": 4})).await;
    assert!(v["eid"].is_string() && v["au"].is_string() && v["tm"].is_number());
    assert!(v["token"].is_string());
    assert!(v.get("gis_sid").is_none());
    assert!(v.get("user").is_none());
    // custom properties.
    let v = login(&sim, json!({"token": DEMO_TOKEN, "fl": 0x20})).await;
    assert_eq!(v["user"]["prp"]["language"], "en");
    // -1: everything.
    let v = login(&sim, json!({"token": DEMO_TOKEN, "fl": -1})).await;
    assert!(v["token"].is_string() && v["items"].is_array() && v["api_url"].is_string());
    // a non-numeric fl is invalid input.
    let v = login(&sim, json!({"token": DEMO_TOKEN, "fl": "x"})).await;
    assert_eq!(v, json!({"error": 4}));
}

#[tokio::test]
async fn accepts_the_variants_real_clients_send() {
    let sim = sim().await;
    let params =
        json!({"token": DEMO_TOKEN, "appName": "python-wialon", "operateAs": ""}).to_string();
    // svc in the query, the rest in the body, sid empty.
    let mut url = sim.ajax_url();
    url.set_query(Some("svc=token/login"));
    let r = support::client()
        .post(url)
        .form(&[("params", params.as_str()), ("sid", "")])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["eid"].is_string(), "{v}");
    // sid = "None" (python clients).
    let v = post_json(
        &sim,
        &[("svc", "token/login"), ("params", &params), ("sid", "None")],
    )
    .await;
    assert!(v["eid"].is_string(), "{v}");
    // GET with everything in the query.
    let r = support::client()
        .get(sim.ajax_url())
        .query(&[("svc", "token/login"), ("params", params.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert!(v["eid"].is_string(), "{v}");
    // operateAs a sub-user.
    let v = login(
        &sim,
        json!({"token": DEMO_TOKEN, "operateAs": DEMO_SUBUSER}),
    )
    .await;
    assert_eq!(v["user"]["nm"], DEMO_SUBUSER);
    assert_eq!(v["au"], DEMO_USER);
    assert_eq!(sim.counters().logins(DEMO_USER), 4);
}

#[tokio::test]
async fn errors_are_the_documented_bodies() {
    let sim = sim().await;
    let body = |p: Value| p.to_string();
    let err = |code: i64| format!("{{\"error\":{code}}}");
    // Bad token format: 4.
    let (_, ct, b) = post(
        &sim,
        &[
            ("svc", "token/login"),
            ("params", &body(json!({"token": "short"}))),
        ],
    )
    .await;
    assert_eq!(b, err(4));
    assert_eq!(ct, "application/json");
    // No token at all, or no params: 4.
    assert_eq!(
        post(&sim, &[("svc", "token/login"), ("params", "{}")])
            .await
            .2,
        err(4)
    );
    assert_eq!(post(&sim, &[("svc", "token/login")]).await.2, err(4));
    // Bad params JSON: 4.
    assert_eq!(
        post(&sim, &[("svc", "token/login"), ("params", "{\"token\":")])
            .await
            .2,
        err(4)
    );
    // Unknown well-formed token: 8.
    let unknown = "f".repeat(72);
    assert_eq!(
        post(
            &sim,
            &[
                ("svc", "token/login"),
                ("params", &body(json!({"token": unknown})))
            ]
        )
        .await
        .2,
        err(8)
    );
    // Non-activated token: 7.
    assert_eq!(
        post(
            &sim,
            &[
                ("svc", "token/login"),
                ("params", &body(json!({"token": DEMO_INACTIVE_TOKEN})))
            ]
        )
        .await
        .2,
        err(7)
    );
    let fresh_inactive = sim.add_inactive_token(DEMO_USER).unwrap();
    assert_eq!(
        login(&sim, json!({"token": fresh_inactive})).await,
        json!({"error": 7})
    );
    // Unknown operateAs: 8.
    assert_eq!(
        login(&sim, json!({"token": DEMO_TOKEN, "operateAs": "nobody"})).await,
        json!({"error": 8})
    );
    // Unknown svc: 2; no svc: 2.
    assert_eq!(
        post(&sim, &[("svc", "core/nope"), ("params", "{}")])
            .await
            .2,
        err(2)
    );
    assert_eq!(post(&sim, &[("params", "{}")]).await.2, err(2));
    // Invalid, missing or empty sid: 1.
    assert_eq!(
        search(&sim, "0123456789abcdef0123456789abcdef").await,
        err(1)
    );
    assert_eq!(search(&sim, "").await, err(1));
    assert_eq!(
        post(&sim, &[("svc", "core/logout"), ("params", "{}")])
            .await
            .2,
        err(1)
    );
    // Bad params with a valid session: 4.
    let sid = login_sid(&sim).await;
    assert_eq!(
        post(
            &sim,
            &[
                ("svc", "core/search_items"),
                ("params", "[1,2"),
                ("sid", &sid)
            ]
        )
        .await
        .2,
        err(4)
    );
    assert_eq!(
        post(
            &sim,
            &[
                ("svc", "core/search_items"),
                ("params", "{}"),
                ("sid", &sid)
            ]
        )
        .await
        .2,
        err(4)
    );
    assert_eq!(
        sim.counters().failed_logins(UNKNOWN_ACCOUNT),
        5,
        "every failed attempt without a known token"
    );
    assert_eq!(sim.counters().failed_logins(DEMO_USER), 3);
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let sim = sim().await;
    let token = "e".repeat(72);
    let past = chrono::Utc::now() - chrono::Duration::hours(2);
    sim.add_token(
        DEMO_USER,
        SimToken::new(token.clone())
            .activating_at(past)
            .lasting(Duration::from_secs(3600)),
    )
    .unwrap();
    assert_eq!(
        login(&sim, json!({"token": token})).await,
        json!({"error": 8})
    );
    assert!(sim.add_token(DEMO_USER, SimToken::new("short")).is_err());
    assert!(
        sim.add_token("nobody", SimToken::new("d".repeat(72)))
            .is_err()
    );
}

#[tokio::test]
async fn protected_call_lists_items_and_counts() {
    let sim = sim().await;
    let sid = login_sid(&sim).await;
    let v: Value = serde_json::from_str(&search(&sim, &sid).await).unwrap();
    assert_eq!(v["totalItemsCount"], 3);
    assert_eq!(v["items"][0]["nm"], "Truck 01");
    assert_eq!(v["searchSpec"]["itemsType"], "avl_unit");
    // sid in the query, svc and params in the body (the JS SDK's way).
    let mut url = sim.ajax_url();
    url.query_pairs_mut().append_pair("sid", &sid);
    let params = json!({"spec": {"itemsType": "user"}, "flags": 1}).to_string();
    let v: Value = support::client()
        .post(url)
        .form(&[("svc", "core/search_items"), ("params", params.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["items"][0]["nm"], DEMO_USER);
    assert_eq!(sim.counters().calls(DEMO_USER), 2);
}

#[tokio::test]
async fn idle_sessions_die_and_requests_slide_them() {
    let sim = sim_idle(Duration::from_millis(600)).await;
    let sid = login_sid(&sim).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            search(&sim, &sid).await.contains("totalItemsCount"),
            "slid by the previous call"
        );
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(search(&sim, &sid).await, "{\"error\":1}");
    assert_eq!(sim.active_sessions(), 0);
}

#[tokio::test]
async fn avl_evts_keeps_the_session_alive() {
    let sim = sim_idle(Duration::from_millis(600)).await;
    let sid = login_sid(&sim).await;
    let client = support::client();
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let r = if i % 2 == 0 {
            client
                .get(sim.avl_evts_url())
                .query(&[("sid", &sid)])
                .send()
                .await
                .unwrap()
        } else {
            // POST with the sid in the body, as some clients do.
            client
                .post(sim.avl_evts_url())
                .form(&[("sid", &sid)])
                .send()
                .await
                .unwrap()
        };
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert!(v["tm"].is_number(), "{v}");
        assert_eq!(v["events"], json!([]));
    }
    assert!(search(&sim, &sid).await.contains("totalItemsCount"));
    assert_eq!(sim.keep_alives(DEMO_USER), 4);
    assert_eq!(sim.total_keep_alives(), 4);
    assert_eq!(
        sim.counters().calls(DEMO_USER),
        1,
        "keep-alives are counted apart"
    );
    let r = client
        .get(sim.avl_evts_url())
        .query(&[("sid", "bad")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "{\"error\":1}");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let sim = sim().await;
    let sid = login_sid(&sim).await;
    let (_, ct, body) = post(
        &sim,
        &[("svc", "core/logout"), ("params", "{}"), ("sid", &sid)],
    )
    .await;
    assert_eq!(body, "{\"error\":0}");
    assert_eq!(ct, "application/json");
    assert_eq!(sim.active_sessions(), 0);
    assert_eq!(search(&sim, &sid).await, "{\"error\":1}");
    assert_eq!(
        post(
            &sim,
            &[("svc", "core/logout"), ("params", "{}"), ("sid", &sid)]
        )
        .await
        .2,
        "{\"error\":1}"
    );
}

#[tokio::test]
async fn expire_all_sessions_invalidates_every_sid() {
    let sim = sim().await;
    let a = login_sid(&sim).await;
    let b = login_sid(&sim).await;
    assert_eq!(sim.active_sessions(), 2);
    sim.expire_all_sessions();
    assert_eq!(sim.active_sessions(), 0);
    assert_eq!(search(&sim, &a).await, "{\"error\":1}");
    assert_eq!(search(&sim, &b).await, "{\"error\":1}");
}

#[tokio::test]
async fn token_management_create_list_update_delete() {
    let sim = sim().await;
    let sid = login_sid(&sim).await;
    let create = json!({"callMode": "create", "app": "fleet-sync", "at": 0, "dur": 3600, "fl": 0x100, "p": "{}", "items": [42]});
    let v = post_json(
        &sim,
        &[
            ("svc", "token/update"),
            ("params", &create.to_string()),
            ("sid", &sid),
        ],
    )
    .await;
    let h = v["h"].as_str().unwrap().to_owned();
    assert_eq!(h.len(), 72);
    assert_eq!(v["app"], "fleet-sync");
    assert_eq!(v["dur"], 3600);
    assert_eq!(v["fl"], 0x100);
    assert_eq!(v["items"], json!([42]));
    assert!(v["ct"].as_i64().unwrap() > 0 && v["at"].as_i64().unwrap() > 0);

    let list = post_json(
        &sim,
        &[("svc", "token/list"), ("params", "{}"), ("sid", &sid)],
    )
    .await;
    let hs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["h"].as_str().unwrap())
        .collect();
    assert!(
        hs.contains(&h.as_str()) && hs.contains(&DEMO_TOKEN),
        "{hs:?}"
    );
    assert_eq!(hs.len(), 3);

    // The new token logs in.
    let other = login(&sim, json!({"token": h, "fl": 4})).await;
    let other_sid = other["eid"].as_str().unwrap().to_owned();
    let info: Value = serde_json::from_str(other["token"].as_str().unwrap()).unwrap();
    assert_eq!(info["app"], "fleet-sync");

    let update = json!({"callMode": "update", "h": h, "app": "renamed"});
    let v = post_json(
        &sim,
        &[
            ("svc", "token/update"),
            ("params", &update.to_string()),
            ("sid", &sid),
        ],
    )
    .await;
    assert_eq!(v["app"], "renamed");
    assert_eq!(v["dur"], 3600, "unchanged fields are kept");

    let delete = json!({"callMode": "delete", "h": h});
    let v = post_json(
        &sim,
        &[
            ("svc", "token/update"),
            ("params", &delete.to_string()),
            ("sid", &sid),
        ],
    )
    .await;
    assert_eq!(v, json!({}));
    assert!(!sim.has_token(&h));
    assert_eq!(login(&sim, json!({"token": h})).await, json!({"error": 8}));
    assert_eq!(
        search(&sim, &other_sid).await,
        "{\"error\":1}",
        "its sessions end with it"
    );
    // Deleting again, or a token of another account: 7. Unknown mode: 4.
    let v = post_json(
        &sim,
        &[
            ("svc", "token/update"),
            ("params", &delete.to_string()),
            ("sid", &sid),
        ],
    )
    .await;
    assert_eq!(v, json!({"error": 7}));
    let v = post_json(
        &sim,
        &[
            ("svc", "token/update"),
            ("params", "{\"callMode\":\"x\"}"),
            ("sid", &sid),
        ],
    )
    .await;
    assert_eq!(v, json!({"error": 4}));
    assert_eq!(sim.tokens_of(DEMO_USER).len(), 2);
}

#[tokio::test]
async fn accounts_are_separate() {
    let mut config = WialonSimConfig::default();
    config
        .accounts
        .push(SimAccount::new("second", 77, "a".repeat(72)));
    let sim = WialonSim::start(config).await.unwrap();
    let v = login(&sim, json!({"token": "a".repeat(72)})).await;
    let sid = v["eid"].as_str().unwrap().to_owned();
    assert_eq!(v["au"], "second");
    assert!(search(&sim, &sid).await.contains("\"totalItemsCount\":0"));
    let delete = json!({"callMode": "delete", "h": DEMO_TOKEN});
    let v = post_json(
        &sim,
        &[
            ("svc", "token/update"),
            ("params", &delete.to_string()),
            ("sid", &sid),
        ],
    )
    .await;
    assert_eq!(
        v,
        json!({"error": 7}),
        "cannot delete another account's token"
    );
    assert_eq!(sim.counters().logins("second"), 1);
    assert_eq!(
        sim.counters().calls("second"),
        1,
        "refused calls are not counted"
    );
    assert_eq!(sim.counters().logins(DEMO_USER), 0);
}

#[tokio::test]
async fn injected_errors_and_faults() {
    let sim = sim().await;
    sim.inject_error(1003, 1);
    let (_, ct, body) = post(&sim, &[("svc", "token/login"), ("params", "{}")]).await;
    assert_eq!(ct, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], 1003);
    assert!(v["reason"].is_string());
    sim.inject_error(1011, 1);
    assert_eq!(
        post(&sim, &[("svc", "core/logout")]).await.2,
        "{\"error\":1011}"
    );
    sim.inject_error(9, 1);
    assert_eq!(
        login(&sim, json!({"token": DEMO_TOKEN})).await,
        json!({"error": 9})
    );
    assert_eq!(sim.counters().logins(DEMO_USER), 0);
    // Back to normal.
    assert!(login(&sim, json!({"token": DEMO_TOKEN})).await["eid"].is_string());

    sim.faults().inject(Fault::Html, 1);
    let (status, ct, body) = post(&sim, &[("svc", "token/login")]).await;
    assert_eq!(status, 502);
    assert_eq!(ct, "text/html");
    assert!(body.contains("<html>"));
    sim.faults().inject(Fault::Malformed, 1);
    let (status, _, body) = post(&sim, &[("svc", "token/login")]).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());
}

#[tokio::test]
async fn bad_config_is_refused() {
    let config = WialonSimConfig {
        session_idle: Duration::ZERO,
        ..WialonSimConfig::default()
    };
    assert!(WialonSim::start(config).await.is_err());
    let mut config = WialonSimConfig::default();
    config.accounts.push(SimAccount::new("dup", 1, DEMO_TOKEN));
    assert!(WialonSim::start(config).await.is_err(), "duplicate token");
}
