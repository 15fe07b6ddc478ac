//! The cielo24 simulator, driven with raw `reqwest`.

mod support;

use std::time::Duration;

use auth_sim::Fault;
use auth_sim::cielo24::{
    Cielo24Account, Cielo24Sim, Cielo24SimConfig, DEMO_PASSWORD, DEMO_SECURE_KEY, DEMO_USERNAME,
    TokenField, UNPRIVILEGED_PASSWORD, UNPRIVILEGED_USERNAME,
};
use reqwest::StatusCode;
use serde_json::Value;

async fn sim() -> Cielo24Sim {
    Cielo24Sim::start(Cielo24SimConfig::default())
        .await
        .unwrap()
}

fn url(sim: &Cielo24Sim, path: &str) -> String {
    sim.base_url().join(path).unwrap().to_string()
}

async fn get(
    url: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut rb = support::client().get(url).query(query);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// Query parameters and headers of one request.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

fn is_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn login(sim: &Cielo24Sim) -> String {
    let (status, _, body) = get(
        &url(sim, "/api/account/login"),
        &[
            ("v", "1"),
            ("username", DEMO_USERNAME),
            ("password", DEMO_PASSWORD),
        ],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["ApiToken"].as_str().unwrap().to_owned()
}

fn error_body(kind: &str, comment: &str) -> String {
    format!("{{\"ErrorComment\":\"{comment}\",\"ErrorType\":\"{kind}\"}}")
}

fn parse_error(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap();
    (
        v["ErrorType"].as_str().unwrap().to_owned(),
        v["ErrorComment"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn login_with_query_password_returns_hex_token() {
    let sim = sim().await;
    let (status, ct, body) = get(
        &url(&sim, "/api/account/login"),
        &[
            ("v", "1"),
            ("username", DEMO_USERNAME),
            ("password", DEMO_PASSWORD),
        ],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "only ApiToken: {body}");
    assert!(is_token(obj["ApiToken"].as_str().unwrap()), "{body}");
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    assert_eq!(sim.active_sessions(), 1);
}

#[tokio::test]
async fn login_accepts_every_documented_form() {
    let sim = sim().await;
    let login = url(&sim, "/api/account/login");
    let forms: Vec<(Pairs<'_>, Pairs<'_>)> = vec![
        (
            vec![
                ("v", "1"),
                ("username", DEMO_USERNAME),
                ("securekey", DEMO_SECURE_KEY),
            ],
            vec![],
        ),
        (
            vec![("v", "1")],
            vec![
                ("x-auth-user", DEMO_USERNAME),
                ("x-auth-password", DEMO_PASSWORD),
            ],
        ),
        (
            vec![("v", "1")],
            vec![
                ("x-auth-user", DEMO_USERNAME),
                ("x-auth-key", DEMO_PASSWORD),
            ],
        ),
        (
            vec![("v", "1")],
            vec![
                ("x-auth-user", DEMO_USERNAME),
                ("x-auth-securekey", DEMO_SECURE_KEY),
            ],
        ),
        // Upper-case hex key is the same key.
        (
            vec![("v", "1"), ("username", DEMO_USERNAME)],
            vec![("x-auth-securekey", "968A8B637A5040159424872FFFDB895B")],
        ),
    ];
    let mut tokens = Vec::new();
    for (query, headers) in &forms {
        let (status, _, body) = get(&login, query, headers).await;
        assert_eq!(status, StatusCode::OK, "{query:?} {headers:?}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let token = v["ApiToken"].as_str().unwrap().to_owned();
        assert!(is_token(&token));
        tokens.push(token);
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), forms.len(), "every login issues a new token");
    assert_eq!(sim.counters().logins(DEMO_USERNAME), forms.len() as u64);
}

#[tokio::test]
async fn login_errors_use_the_error_format() {
    let sim = sim().await;
    let login = url(&sim, "/api/account/login");
    let cases: Vec<(Pairs<'_>, Pairs<'_>, &str, &str)> = vec![
        (
            vec![("username", DEMO_USERNAME), ("password", DEMO_PASSWORD)],
            vec![],
            "MISSING_PARAMETER",
            "Missing required parameter: v",
        ),
        (
            vec![
                ("v", "2"),
                ("username", DEMO_USERNAME),
                ("password", DEMO_PASSWORD),
            ],
            vec![],
            "INVALID_OPTION",
            "Unsupported API version",
        ),
        (
            vec![("v", "1"), ("password", DEMO_PASSWORD)],
            vec![],
            "MISSING_PARAMETER",
            "Missing required parameter: username",
        ),
        (
            vec![("v", "1"), ("username", DEMO_USERNAME)],
            vec![],
            "MISSING_PARAMETER",
            "Missing required parameter: password or securekey",
        ),
        (
            vec![
                ("v", "1"),
                ("username", DEMO_USERNAME),
                ("password", "wrong"),
            ],
            vec![],
            "LOGIN_INVALID",
            "Invalid username or password",
        ),
        (
            vec![("v", "1")],
            vec![
                ("x-auth-user", "nobody"),
                ("x-auth-password", DEMO_PASSWORD),
            ],
            "LOGIN_INVALID",
            "Invalid username or password",
        ),
        (
            vec![("v", "1")],
            vec![
                ("x-auth-user", DEMO_USERNAME),
                ("x-auth-securekey", "00000000000000000000000000000000"),
            ],
            "ACCOUNT_UNPRIVILEGED",
            "The secure key is not valid for this account",
        ),
    ];
    for (query, headers, kind, comment) in cases {
        let (status, ct, body) = get(&login, &query, &headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}");
        assert_eq!(ct, "application/json");
        assert_eq!(body, error_body(kind, comment), "{query:?} {headers:?}");
        assert!(!body.contains(DEMO_PASSWORD));
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 0);
    assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 3);
    assert_eq!(sim.counters().failed_logins("nobody"), 1);
}

#[tokio::test]
async fn job_list_needs_a_valid_token() {
    let sim = sim().await;
    let token = login(&sim).await;
    let jobs = url(&sim, "/api/job/list");
    let (status, ct, body) = get(&jobs, &[("v", "1"), ("api_token", &token)], &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Username"], DEMO_USERNAME);
    assert_eq!(v["ActiveJobs"].as_array().unwrap().len(), 2);
    assert_eq!(v["ActiveJobs"][0]["JobName"], "Lecture 1");
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 1);

    let (status, _, body) = get(
        &jobs,
        &[
            ("v", "1"),
            ("api_token", "0123456789abcdef0123456789abcdef"),
        ],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        error_body("BAD_API_TOKEN", "Invalid or expired API token")
    );
    let (status, _, body) = get(&jobs, &[("v", "1")], &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(parse_error(&body).0, "MISSING_PARAMETER");
    let (_, _, body) = get(&jobs, &[("api_token", &token)], &[]).await;
    assert_eq!(parse_error(&body).0, "MISSING_PARAMETER");
    assert_eq!(
        sim.counters().calls(DEMO_USERNAME),
        1,
        "rejected calls are not counted"
    );
}

#[tokio::test]
async fn tokens_expire_after_idle_time_and_each_use_slides_it() {
    let config = Cielo24SimConfig {
        idle_timeout: Duration::from_millis(400),
        ..Cielo24SimConfig::default()
    };
    let sim = Cielo24Sim::start(config).await.unwrap();
    let token = login(&sim).await;
    let jobs = url(&sim, "/api/job/list");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, _, body) = get(&jobs, &[("v", "1"), ("api_token", &token)], &[]).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "800 ms after login but used every 200 ms: {body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(sim.active_sessions(), 0);
    let (status, _, body) = get(&jobs, &[("v", "1"), ("api_token", &token)], &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(parse_error(&body).0, "BAD_API_TOKEN");
}

#[tokio::test]
async fn logout_invalidates_the_token() {
    let sim = sim().await;
    let token = login(&sim).await;
    let (status, _, body) = get(
        &url(&sim, "/api/account/logout"),
        &[("v", "1"), ("api_token", &token)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    let (status, _, body) = get(
        &url(&sim, "/api/job/list"),
        &[("v", "1"), ("api_token", &token)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(parse_error(&body).0, "BAD_API_TOKEN");
    let (_, _, body) = get(
        &url(&sim, "/api/account/logout"),
        &[("v", "1"), ("api_token", &token)],
        &[],
    )
    .await;
    assert_eq!(
        parse_error(&body).0,
        "BAD_API_TOKEN",
        "a second logout finds no session"
    );
}

#[tokio::test]
async fn expire_all_sessions_invalidates_every_token() {
    let sim = sim().await;
    let a = login(&sim).await;
    let b = login(&sim).await;
    assert_eq!(sim.active_sessions(), 2);
    sim.expire_all_sessions();
    assert_eq!(sim.active_sessions(), 0);
    for token in [a, b] {
        let (_, _, body) = get(
            &url(&sim, "/api/job/list"),
            &[("v", "1"), ("api_token", &token)],
            &[],
        )
        .await;
        assert_eq!(parse_error(&body).0, "BAD_API_TOKEN");
    }
}

#[tokio::test]
async fn generate_api_key_returns_existing_or_new_keys_usable_for_login() {
    let sim = sim().await;
    let token = login(&sim).await;
    let gen_url = url(&sim, "/api/account/generate_api_key");
    let (status, ct, body) = get(&gen_url, &[("v", "1"), ("api_token", &token)], &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/json");
    assert_eq!(body, format!("{{\"ApiKey\":\"{DEMO_SECURE_KEY}\"}}"));

    let (_, _, body) = get(
        &gen_url,
        &[
            ("v", "1"),
            ("api_token", &token),
            ("account_id", DEMO_USERNAME),
            ("force_new", "True"),
        ],
        &[],
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let key = v["ApiKey"].as_str().unwrap().to_owned();
    assert!(is_token(&key));
    assert_ne!(key, DEMO_SECURE_KEY);
    assert_eq!(
        sim.secure_keys(DEMO_USERNAME),
        vec![DEMO_SECURE_KEY.to_owned(), key.clone()]
    );

    let login_url = url(&sim, "/api/account/login");
    let (status, _, _) = get(
        &login_url,
        &[("v", "1")],
        &[("x-auth-user", DEMO_USERNAME), ("x-auth-securekey", &key)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the new key logs in");

    // Removing the key makes it unusable (ACCOUNT_UNPRIVILEGED, as the public
    // SDK test suites expect).
    let (status, _, _) = get(
        &url(&sim, "/api/account/remove_api_key"),
        &[("v", "1"), ("api_token", &token), ("api_securekey", &key)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = get(
        &login_url,
        &[("v", "1"), ("username", DEMO_USERNAME), ("securekey", &key)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(parse_error(&body).0, "ACCOUNT_UNPRIVILEGED");
}

#[tokio::test]
async fn generate_api_key_creates_a_first_key_and_refuses_unprivileged_accounts() {
    let mut fresh = Cielo24Account::new("fresh", "fresh-pw");
    fresh.jobs.clear();
    let mut viewer = Cielo24Account::new(UNPRIVILEGED_USERNAME, UNPRIVILEGED_PASSWORD);
    viewer.privileged = false;
    let sim = Cielo24Sim::start(Cielo24SimConfig {
        accounts: vec![fresh, viewer],
        ..Cielo24SimConfig::default()
    })
    .await
    .unwrap();
    let login_url = url(&sim, "/api/account/login");
    let (_, _, body) = get(
        &login_url,
        &[("v", "1"), ("username", "fresh"), ("password", "fresh-pw")],
        &[],
    )
    .await;
    let token: Value = serde_json::from_str(&body).unwrap();
    let token = token["ApiToken"].as_str().unwrap();
    assert!(sim.secure_keys("fresh").is_empty());
    let (status, _, body) = get(
        &url(&sim, "/api/account/generate_api_key"),
        &[("v", "1"), ("api_token", token)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sim.secure_keys("fresh"),
        vec![v["ApiKey"].as_str().unwrap().to_owned()]
    );
    let (_, _, body) = get(
        &url(&sim, "/api/job/list"),
        &[("v", "1"), ("api_token", token)],
        &[],
    )
    .await;
    assert_eq!(body, "{\"ActiveJobs\":[],\"Username\":\"fresh\"}");

    let (_, _, body) = get(
        &login_url,
        &[
            ("v", "1"),
            ("username", UNPRIVILEGED_USERNAME),
            ("password", UNPRIVILEGED_PASSWORD),
        ],
        &[],
    )
    .await;
    let token: Value = serde_json::from_str(&body).unwrap();
    let token = token["ApiToken"].as_str().unwrap();
    let (status, _, body) = get(
        &url(&sim, "/api/job/list"),
        &[("v", "1"), ("api_token", token)],
        &[],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "unprivileged accounts still list jobs"
    );
    assert!(body.contains("Lecture 1"));
    let (status, _, body) = get(
        &url(&sim, "/api/account/generate_api_key"),
        &[("v", "1"), ("api_token", token)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        error_body(
            "ACCOUNT_UNPRIVILEGED",
            "This account is not privileged to manage API keys"
        )
    );
}

#[tokio::test]
async fn faults_are_applied_to_the_next_requests() {
    let sim = sim().await;
    let login_url = url(&sim, "/api/account/login");
    let q = [
        ("v", "1"),
        ("username", DEMO_USERNAME),
        ("password", DEMO_PASSWORD),
    ];
    sim.faults().inject(Fault::Status(503), 1);
    sim.faults().inject(Fault::Html, 1);
    sim.faults().inject(Fault::Malformed, 1);
    let (status, _, _) = get(&login_url, &q, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, body) = get(&login_url, &q, &[]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.starts_with("<!DOCTYPE html>"));
    let (status, _, body) = get(&login_url, &q, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    let (status, _, _) = get(&login_url, &q, &[]).await;
    assert_eq!(status, StatusCode::OK, "faults are used up");
    assert_eq!(
        sim.counters().logins(DEMO_USERNAME),
        1,
        "faulted requests never reached the handler"
    );
}

#[tokio::test]
async fn set_password_changes_later_logins() {
    let sim = sim().await;
    let token = login(&sim).await;
    sim.set_password(DEMO_USERNAME, "new-password");
    let (_, _, body) = get(
        &url(&sim, "/api/account/login"),
        &[
            ("v", "1"),
            ("username", DEMO_USERNAME),
            ("password", DEMO_PASSWORD),
        ],
        &[],
    )
    .await;
    assert_eq!(parse_error(&body).0, "LOGIN_INVALID");
    let (status, _, _) = get(
        &url(&sim, "/api/job/list"),
        &[("v", "1"), ("api_token", &token)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "issued tokens stay valid");
}

/// The POST form of cielo24/cielo24-openapi (`LoginBody` as JSON, `v` in the
/// query) is accepted next to the GET form; the reply field is `ApiToken` by
/// default and `api_token` with `TokenField::SnakeCase`.
#[tokio::test]
async fn post_json_login_and_token_field() {
    for (token_field, name) in [
        (TokenField::ApiToken, "ApiToken"),
        (TokenField::SnakeCase, "api_token"),
    ] {
        let sim = Cielo24Sim::start(Cielo24SimConfig {
            token_field,
            ..Cielo24SimConfig::default()
        })
        .await
        .unwrap();
        let login = url(&sim, "/api/account/login");
        for body in [
            serde_json::json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}),
            serde_json::json!({"username": DEMO_USERNAME, "securekey": DEMO_SECURE_KEY}),
        ] {
            let resp = support::client()
                .post(&login)
                .query(&[("v", "1")])
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let reply: Value = resp.json().await.unwrap();
            assert!(is_token(reply[name].as_str().unwrap()), "{reply}");
            assert_eq!(reply.as_object().unwrap().len(), 1, "{reply}");
        }
        // A wrong password in the body is LOGIN_INVALID; no body at all is
        // MISSING_PARAMETER; the GET form still works.
        let resp = support::client()
            .post(&login)
            .query(&[("v", "1")])
            .json(&serde_json::json!({"username": DEMO_USERNAME, "password": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let reply: Value = resp.json().await.unwrap();
        assert_eq!(reply["ErrorType"], "LOGIN_INVALID");
        let resp = support::client()
            .post(&login)
            .query(&[("v", "1")])
            .send()
            .await
            .unwrap();
        let reply: Value = resp.json().await.unwrap();
        assert_eq!(reply["ErrorType"], "MISSING_PARAMETER");
        let (status, _, body) = get(
            &login,
            &[("v", "1")],
            &[
                ("x-auth-user", DEMO_USERNAME),
                ("x-auth-password", DEMO_PASSWORD),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(name), "{body}");
        assert_eq!(sim.counters().logins(DEMO_USERNAME), 3);
    }
}
