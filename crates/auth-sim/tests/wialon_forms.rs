//! Every request form that the public Wialon clients send, accepted by the
//! simulator (raw `reqwest`). Sources, per form, in each test.

mod support;

use auth_sim::wialon::{DEMO_TOKEN, DEMO_USER, WialonSim, WialonSimConfig};
use serde_json::{Value, json};

const SEARCH: &str = r#"{"spec":{"itemsType":"avl_unit","propName":"sys_name","propValueMask":"*","sortType":"sys_name"},"force":1,"flags":1,"from":0,"to":0}"#;

async fn sim() -> WialonSim {
    WialonSim::start(WialonSimConfig::default()).await.unwrap()
}

fn http() -> reqwest::Client {
    support::client()
}

async fn json_of(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

fn url_with_query(sim: &WialonSim, pairs: &[(&str, &str)]) -> reqwest::Url {
    let mut url = sim.ajax_url();
    url.query_pairs_mut().extend_pairs(pairs);
    url
}

/// python-wialon (wialon/python-wialon `wialon/api.py`): POST to
/// `ajax.html?` with a urlencoded body `svc`, `params`, `sid`; at login
/// `sid` is `None` (Python's `str(None)`) and params carry `appName`.
#[tokio::test]
async fn python_wialon_form() {
    let sim = sim().await;
    let url = format!("{}?", sim.ajax_url());
    let params = json!({"token": DEMO_TOKEN, "appName": "python-wialon"}).to_string();
    let login = json_of(http().post(&url).form(&[
        ("svc", "token/login"),
        ("params", params.as_str()),
        ("sid", "None"),
    ]))
    .await;
    let sid = login["eid"].as_str().unwrap();
    let units = json_of(http().post(&url).form(&[
        ("svc", "core/search_items"),
        ("params", SEARCH),
        ("sid", sid),
    ]))
    .await;
    assert_eq!(units["totalItemsCount"], 3);
    // Batch: `params` is a JSON array of {svc, params-object}.
    let batch = json!([
        {"svc": "core/search_items", "params": serde_json::from_str::<Value>(SEARCH).unwrap()},
        {"svc": "token/list", "params": {}},
        {"svc": "core/no_such_service", "params": {}}
    ])
    .to_string();
    let replies = json_of(http().post(&url).form(&[
        ("svc", "core/batch"),
        ("params", batch.as_str()),
        ("sid", sid),
    ]))
    .await;
    assert_eq!(replies[0]["totalItemsCount"], 3);
    assert!(replies[1].as_array().unwrap().len() >= 2);
    assert_eq!(replies[2], json!({"error": 2}));
}

/// py-aiowialon (o-murphy/py-aiowialon `aiowialon/api.py`): POST, form
/// body `svc`, `params`, `sid`; `avl_evts` POSTs `sid` in the body; batches
/// are `core/batch` with `{"params":[..],"flags":..}`.
#[tokio::test]
async fn py_aiowialon_form() {
    let sim = sim().await;
    let params = json!({"token": DEMO_TOKEN}).to_string();
    let login = json_of(
        http()
            .post(sim.ajax_url())
            .form(&[("svc", "token/login"), ("params", params.as_str())]),
    )
    .await;
    let sid = login["eid"].as_str().unwrap();
    let evts = json_of(http().post(sim.avl_evts_url()).form(&[("sid", sid)])).await;
    assert_eq!(evts["events"], json!([]));
    // flags 1: after a failed command, the following ones answer 10.
    let batch = json!({"params": [
        {"svc": "token/update", "params": {"callMode": "bogus"}},
        {"svc": "token/list", "params": {}}
    ], "flags": 1})
    .to_string();
    let replies = json_of(http().post(sim.ajax_url()).form(&[
        ("svc", "core/batch"),
        ("params", batch.as_str()),
        ("sid", sid),
    ]))
    .await;
    assert_eq!(replies, json!([{"error": 4}, {"error": 10}]));
    // flags 0 (the default): every command runs.
    let batch = json!({"params": [
        {"svc": "token/update", "params": {"callMode": "bogus"}},
        {"svc": "token/list", "params": {}}
    ], "flags": 0})
    .to_string();
    let replies = json_of(http().post(sim.ajax_url()).form(&[
        ("svc", "core/batch"),
        ("params", batch.as_str()),
        ("sid", sid),
    ]))
    .await;
    assert_eq!(replies[0], json!({"error": 4}));
    assert!(replies[1].is_array());
}

/// The Wialon JS SDK (wialon/wialonjs-api `src/base/Request.js`,
/// `src/api/core.js`, `src/base/Session.js`): `svc` in the query
/// (`/wialon/ajax.html?svc=<svc>`), `params` and `sid` urlencoded in the
/// POST body, object values as JSON text; login sends no `sid` at all;
/// `avl_evts` POSTs `{sid}`.
#[tokio::test]
async fn wialon_js_sdk_form() {
    let sim = sim().await;
    let params = json!({"token": DEMO_TOKEN, "fl": 1}).to_string();
    let login = json_of(
        http()
            .post(url_with_query(&sim, &[("svc", "token/login")]))
            .form(&[("params", params.as_str())]),
    )
    .await;
    let sid = login["eid"].as_str().unwrap();
    let units = json_of(
        http()
            .post(url_with_query(&sim, &[("svc", "core/search_items")]))
            .form(&[("params", SEARCH), ("sid", sid)]),
    )
    .await;
    assert_eq!(units["totalItemsCount"], 3);
    let evts = json_of(http().post(sim.avl_evts_url()).form(&[("sid", sid)])).await;
    assert!(evts["tm"].as_i64().unwrap() > 0);
    let logout = json_of(
        http()
            .post(url_with_query(&sim, &[("svc", "core/logout")]))
            .form(&[("params", "{}"), ("sid", sid)]),
    )
    .await;
    assert_eq!(logout, json!({"error": 0}));
}

/// The request template of the docs (help.wialon.com, API "Introduction"):
/// `ajax.html?sid=<text>&svc=<svc>&params={<params>}`, POST with
/// `Content-Type: application/x-www-form-urlencoded`; the docs' examples
/// are such URLs (pasted as GET); `avl_evts?sid=` likewise.
#[tokio::test]
async fn documented_template_everything_in_the_query() {
    let sim = sim().await;
    let params = json!({"token": DEMO_TOKEN}).to_string();
    let login = json_of(
        http()
            .post(url_with_query(
                &sim,
                &[("svc", "token/login"), ("params", params.as_str())],
            ))
            .header("content-type", "application/x-www-form-urlencoded"),
    )
    .await;
    let sid = login["eid"].as_str().unwrap().to_owned();
    let query = [
        ("sid", sid.as_str()),
        ("svc", "core/search_items"),
        ("params", SEARCH),
    ];
    let post = json_of(
        http()
            .post(url_with_query(&sim, &query))
            .header("content-type", "application/x-www-form-urlencoded"),
    )
    .await;
    assert_eq!(post["totalItemsCount"], 3);
    let get = json_of(http().get(url_with_query(&sim, &query))).await;
    assert_eq!(get["totalItemsCount"], 3);
    let mut evts_url = sim.avl_evts_url();
    evts_url.query_pairs_mut().append_pair("sid", &sid);
    let evts = json_of(http().get(evts_url.clone())).await;
    assert_eq!(evts["events"], json!([]));
    let evts = json_of(
        http()
            .post(evts_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(""),
    )
    .await;
    assert_eq!(evts["events"], json!([]));
    assert_eq!(sim.counters().calls(DEMO_USER), 2);
}

/// core/batch rejects what its page documents as wrong input (4): params
/// that are neither an array nor an object with a `params` array, and
/// commands without `svc`.
#[tokio::test]
async fn batch_rejects_wrong_input() {
    let sim = sim().await;
    let params = json!({"token": DEMO_TOKEN}).to_string();
    let login = json_of(
        http()
            .post(sim.ajax_url())
            .form(&[("svc", "token/login"), ("params", params.as_str())]),
    )
    .await;
    let sid = login["eid"].as_str().unwrap();
    for bad in ["{}", "7", "not json", r#"{"params":{}}"#] {
        let reply = json_of(http().post(sim.ajax_url()).form(&[
            ("svc", "core/batch"),
            ("params", bad),
            ("sid", sid),
        ]))
        .await;
        assert_eq!(reply, json!({"error": 4}), "{bad}");
    }
    let reply = json_of(http().post(sim.ajax_url()).form(&[
        ("svc", "core/batch"),
        ("params", r#"[{"params":{}}, 3]"#),
        ("sid", sid),
    ]))
    .await;
    assert_eq!(reply, json!([{"error": 4}, {"error": 4}]));
}
