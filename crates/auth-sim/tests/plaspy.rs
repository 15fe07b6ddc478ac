//! The Plaspy simulator, driven with raw `reqwest`.

mod support;

use std::time::Duration;

use auth_sim::Fault;
use auth_sim::plaspy::{
    DEMO_API_KEY, DEMO_USERNAME, DEVICES_PATH, ExpiresFormat, PlaspySim, PlaspySimConfig,
    TOKEN_PATH,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn url(sim: &PlaspySim, path: &str) -> String {
    sim.base_url().join(path).unwrap().to_string()
}

async fn login(sim: &PlaspySim, body: Value) -> reqwest::Response {
    support::client()
        .post(url(sim, TOKEN_PATH))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn sim_with(config: PlaspySimConfig) -> PlaspySim {
    PlaspySim::start(config).await.unwrap()
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

fn jwt_payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert_eq!(b64url_decode(parts[0]), br#"{"alg":"HS512","typ":"JWT"}"#);
    assert_eq!(b64url_decode(parts[2]).len(), 64);
    serde_json::from_slice(&b64url_decode(parts[1])).unwrap()
}

#[tokio::test]
async fn token_success_shape() {
    let sim = sim_with(PlaspySimConfig::default()).await;
    let before = chrono::Utc::now();
    let response = login(
        &sim,
        json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    let token = body["token"].as_str().unwrap();
    assert!(
        token.starts_with("eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXV"),
        "{token}"
    );
    let expires = body["expires"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
    let at = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let lifetime = at.signed_duration_since(before).num_seconds();
    assert!(
        (24 * 3600 - 2..=24 * 3600).contains(&lifetime),
        "{lifetime}"
    );
    let payload = jwt_payload(token);
    assert_eq!(payload["exp"].as_i64().unwrap(), at.timestamp());
    assert_eq!(payload["unique_name"], DEMO_USERNAME);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn property_names_are_case_insensitive() {
    let sim = sim_with(PlaspySimConfig::default()).await;
    let response = login(
        &sim,
        json!({"UserName": DEMO_USERNAME.to_uppercase(), "APIKEY": DEMO_API_KEY}),
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn failure_body_is_the_documented_one() {
    let sim = sim_with(PlaspySimConfig::default()).await;
    let response = login(&sim, json!({"userName": DEMO_USERNAME, "apiKey": "wrong"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"success":false,"error":"Invalid API key or username."}"#
    );
    assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn failure_status_is_configurable() {
    let sim = sim_with(PlaspySimConfig {
        failure_status: 401,
        ..PlaspySimConfig::default()
    })
    .await;
    let response = login(&sim, json!({"userName": "nobody", "apiKey": DEMO_API_KEY})).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"success":false,"error":"Invalid API key or username."}"#
    );
}

#[tokio::test]
async fn bad_requests_answer_like_aspnet_core() {
    let sim = sim_with(PlaspySimConfig::default()).await;
    // Form body: 415 with the documented error structure.
    let response = support::client()
        .post(url(&sim, TOKEN_PATH))
        .form(&[("userName", DEMO_USERNAME), ("apiKey", DEMO_API_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
    // Malformed JSON: 400 validation problem.
    let response = support::client()
        .post(url(&sim, TOKEN_PATH))
        .header("Content-Type", "application/json; charset=utf-8")
        .body("userName=demo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["title"], "One or more validation errors occurred.");
    assert!(body["errors"]["$"].is_array(), "{body}");
    // Missing field: 400 naming it.
    let response = login(&sim, json!({"userName": DEMO_USERNAME})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"]["ApiKey"][0], "The ApiKey field is required.");
    assert_eq!(sim.counters().login_attempts(DEMO_USERNAME), 0);
}

#[tokio::test]
async fn expires_formats() {
    for (format, check) in [
        (
            ExpiresFormat::UtcFraction,
            (|s: Option<&str>| {
                let s = s.unwrap();
                s.ends_with('Z') && s.len() == 28 && chrono::DateTime::parse_from_rfc3339(s).is_ok()
            }) as fn(Option<&str>) -> bool,
        ),
        (ExpiresFormat::NoZone, |s| {
            let s = s.unwrap();
            s.len() == 27 && !s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_err()
        }),
        (ExpiresFormat::Omitted, |s| s.is_none()),
    ] {
        let sim = sim_with(PlaspySimConfig {
            expires_format: format,
            ..PlaspySimConfig::default()
        })
        .await;
        let body: Value = login(
            &sim,
            json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert!(check(body["expires"].as_str()), "{format:?}: {body}");
    }
}

#[tokio::test]
async fn exp_claim_can_be_left_out() {
    let sim = sim_with(PlaspySimConfig {
        jwt_exp_claim: false,
        ..PlaspySimConfig::default()
    })
    .await;
    let body: Value = login(
        &sim,
        json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
    )
    .await
    .json()
    .await
    .unwrap();
    let payload = jwt_payload(body["token"].as_str().unwrap());
    assert!(payload.get("exp").is_none(), "{payload}");
}

async fn token(sim: &PlaspySim) -> String {
    let body: Value = login(
        sim,
        json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
    )
    .await
    .json()
    .await
    .unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn devices_need_a_valid_bearer_token() {
    let sim = sim_with(PlaspySimConfig {
        token_ttl: Duration::from_millis(400),
        ..PlaspySimConfig::default()
    })
    .await;
    let devices = url(&sim, DEVICES_PATH);
    let response = support::client().get(&devices).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let token = token(&sim).await;
    let response = support::client()
        .get(&devices)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["success"], true);
    assert_eq!(
        (reply["apiUsage"].as_u64(), reply["apiDailyUsage"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(reply["devices"].as_array().unwrap().len(), 2);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = support::client()
        .get(&devices)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("The token expired"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn expire_all_sessions_invalidates_tokens() {
    let sim = sim_with(PlaspySimConfig::default()).await;
    let token = token(&sim).await;
    let devices = url(&sim, DEVICES_PATH);
    assert_eq!(sim.active_sessions(), 1);
    sim.expire_all_sessions();
    assert_eq!(sim.active_sessions(), 0);
    let response = support::client()
        .get(&devices)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = support::client()
        .get(&devices)
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn faults_are_injected() {
    let sim = sim_with(PlaspySimConfig::default()).await;
    sim.faults().inject(Fault::Malformed, 1);
    let response = login(
        &sim,
        json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).is_err());
    sim.faults().inject(Fault::Huge(100_000), 1);
    let response = login(
        &sim,
        json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
    )
    .await;
    assert_eq!(response.bytes().await.unwrap().len(), 100_000);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 0);
}

/// The documented error statuses of API calls (www.plaspy.com/Help/722),
/// each with `{"success":false,"error":..}`: 403, 429 and 503 with
/// `Retry-After`; `apiUsage` and `apiDailyUsage` count accepted calls.
#[tokio::test]
async fn documented_error_statuses_and_usage_counters() {
    let sim = sim_with(PlaspySimConfig {
        daily_limit: Some(2),
        ..PlaspySimConfig::default()
    })
    .await;
    let first = token(&sim).await;
    let devices = url(&sim, DEVICES_PATH);
    let call = || support::client().get(&devices).bearer_auth(&first).send();
    for n in 1..=2u64 {
        let reply: Value = call().await.unwrap().json().await.unwrap();
        assert_eq!(reply["apiUsage"].as_u64(), Some(n));
        assert_eq!(reply["apiDailyUsage"].as_u64(), Some(n));
    }
    let response = call().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["error"].is_string());
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 2);

    let sim = sim_with(PlaspySimConfig::default()).await;
    let token = token(&sim).await;
    let devices = url(&sim, DEVICES_PATH);
    sim.set_forbidden(true);
    let response = support::client()
        .get(&devices)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    sim.set_forbidden(false);
    sim.set_maintenance(Some(Duration::from_millis(1500)));
    let response = support::client()
        .get(&devices)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    let response = login(
        &sim,
        json!({"userName": DEMO_USERNAME, "apiKey": DEMO_API_KEY}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    sim.set_maintenance(None);
    let response = support::client()
        .get(&devices)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
