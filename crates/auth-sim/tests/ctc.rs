//! The CTC simulator, driven with raw `reqwest`.

mod support;

use std::time::Duration;

use auth_sim::Fault;
use auth_sim::ctc::{
    APP_KEY_HEADER, CtcSim, CtcSimConfig, DEMO_APP_KEY, DEMO_DEVICE_ID, DEMO_PASSWORD,
    DEMO_USERNAME, LOGIN_PATH, LOGOUT_PATH, LoginBody, LogoutRoute, avl_latest_path,
};
use reqwest::StatusCode;

fn url(sim: &CtcSim, path: &str) -> String {
    sim.base_url().join(path).unwrap().to_string()
}

async fn login_raw(sim: &CtcSim, user: &str, password: &str) -> reqwest::Response {
    support::client()
        .post(url(sim, &format!("{LOGIN_PATH}?useAuthToken=true")))
        .header(APP_KEY_HEADER, DEMO_APP_KEY)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The `authToken` cookie value and its attributes.
fn auth_cookie(response: &reqwest::Response) -> (String, String) {
    let header = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("authToken="))
        .expect("an authToken cookie");
    let (pair, attrs) = header.split_once(';').unwrap();
    (
        pair.trim_start_matches("authToken=").to_owned(),
        attrs.to_owned(),
    )
}

async fn token(sim: &CtcSim) -> String {
    let response = login_raw(sim, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    auth_cookie(&response).0
}

fn avl(sim: &CtcSim) -> reqwest::RequestBuilder {
    support::client()
        .get(url(sim, &avl_latest_path(DEMO_DEVICE_ID)))
        .header(APP_KEY_HEADER, DEMO_APP_KEY)
        .header("Accept", "application/json;charset=UTF-8")
}

#[tokio::test]
async fn login_sets_auth_token_cookie_with_expires() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let before = chrono::Utc::now();
    let response = login_raw(&sim, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (token, attrs) = auth_cookie(&response);
    assert_eq!(token.len(), 48);
    assert!(attrs.contains("Path=/"), "{attrs}");
    let expires = attrs
        .split(';')
        .map(str::trim)
        .find_map(|a| a.strip_prefix("Expires="))
        .expect("Expires attribute");
    let at = chrono::DateTime::parse_from_rfc2822(&expires.replace("GMT", "+0000")).unwrap();
    let lifetime = at.signed_duration_since(before).num_seconds();
    assert!(
        (24 * 3600 - 2..=24 * 3600).contains(&lifetime),
        "{lifetime}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], DEMO_USERNAME);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn no_ttl_means_no_expires_attribute() {
    let sim = CtcSim::start(CtcSimConfig {
        token_ttl: None,
        ..CtcSimConfig::default()
    })
    .await
    .unwrap();
    let response = login_raw(&sim, DEMO_USERNAME, DEMO_PASSWORD).await;
    let (_, attrs) = auth_cookie(&response);
    assert!(!attrs.contains("Expires"), "{attrs}");
}

#[tokio::test]
async fn wrong_credentials_are_401_json() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let response = login_raw(&sim, DEMO_USERNAME, "wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"response":{"errors":[{"code":"INVALID_CREDENTIALS","message":"Invalid username or password"}]}}"#
    );
    assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 1);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 0);
}

#[tokio::test]
async fn missing_or_wrong_app_key_is_403() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let login = url(&sim, &format!("{LOGIN_PATH}?useAuthToken=true"));
    let form = [("username", DEMO_USERNAME), ("password", DEMO_PASSWORD)];
    let response = support::client()
        .post(&login)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("INVALID_APPLICATION_KEY")
    );
    let response = support::client()
        .post(&login)
        .header(APP_KEY_HEADER, "not-a-key")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A protected call with a valid token but no app key is 403, not 401.
    let token = token(&sim).await;
    let response = support::client()
        .get(url(&sim, &avl_latest_path(DEMO_DEVICE_ID)))
        .header("Cookie", format!("authToken={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn wrong_content_type_is_415_and_missing_params_400() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let login = url(&sim, &format!("{LOGIN_PATH}?useAuthToken=true"));
    let response = support::client()
        .post(&login)
        .header(APP_KEY_HEADER, DEMO_APP_KEY)
        .json(&serde_json::json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = support::client()
        .post(&login)
        .header(APP_KEY_HEADER, DEMO_APP_KEY)
        .form(&[("username", DEMO_USERNAME)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("MISSING_PARAMETER"));
    assert_eq!(sim.counters().login_attempts(DEMO_USERNAME), 0);
}

#[tokio::test]
async fn credentials_in_the_query_are_accepted() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let response = support::client()
        .post(url(&sim, LOGIN_PATH))
        .header(APP_KEY_HEADER, DEMO_APP_KEY)
        .query(&[("username", DEMO_USERNAME), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!auth_cookie(&response).0.is_empty());
}

#[tokio::test]
async fn token_is_accepted_as_cookie_header_or_bearer() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let token = token(&sim).await;
    for (name, value) in [
        ("Cookie", format!("JSESSIONID=abc; authToken={token}")),
        ("authToken", token.clone()),
        ("Authorization", format!("Bearer {token}")),
    ] {
        let response = avl(&sim).header(name, value).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["response"]["results"][0]["avlEvent"]["deviceId"],
            DEMO_DEVICE_ID
        );
    }
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 3);
}

#[tokio::test]
async fn missing_or_unknown_token_is_401() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let response = avl(&sim).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = avl(&sim)
        .header("Cookie", "authToken=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sim.rejected_calls(), 2);
    assert_eq!(sim.counters().total_calls(), 0);
}

#[tokio::test]
async fn tokens_expire_after_the_ttl() {
    let sim = CtcSim::start(CtcSimConfig {
        token_ttl: Some(Duration::from_millis(300)),
        ..CtcSimConfig::default()
    })
    .await
    .unwrap();
    let token = token(&sim).await;
    let cookie = format!("authToken={token}");
    assert_eq!(
        avl(&sim)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        avl(&sim)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sim.active_sessions(), 0);
}

#[tokio::test]
async fn expire_all_sessions_and_reject_all() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let token = token(&sim).await;
    let bearer = format!("Bearer {token}");
    sim.set_reject_all(true);
    let response = avl(&sim)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    sim.set_reject_all(false);
    let response = avl(&sim)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sim.active_sessions(), 1);
    sim.expire_all_sessions();
    let response = avl(&sim)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sim.active_sessions(), 0);
}

#[tokio::test]
async fn logout_invalidates_the_token() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    for method in [reqwest::Method::POST, reqwest::Method::GET] {
        let token = token(&sim).await;
        let cookie = format!("authToken={token}");
        let response = support::client()
            .request(method.clone(), url(&sim, LOGOUT_PATH))
            .header(APP_KEY_HEADER, DEMO_APP_KEY)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let cleared = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cleared.starts_with("authToken=;"), "{cleared}");
        let response = avl(&sim).header("Cookie", &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        // A second logout with the dead token is 401.
        let response = support::client()
            .request(method, url(&sim, LOGOUT_PATH))
            .header(APP_KEY_HEADER, DEMO_APP_KEY)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sim.logouts(), 2);
}

#[tokio::test]
async fn faults_are_injected() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    sim.faults().inject(Fault::Html, 1);
    let response = login_raw(&sim, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().await.unwrap().contains("<html>"));
    sim.faults().inject(Fault::Status(503), 1);
    let response = login_raw(&sim, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 0);
    let response = login_raw(&sim, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let response = support::client()
        .get(url(&sim, LOGIN_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = support::client()
        .get(url(&sim, "/connect/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_body_forms_all_set_the_cookie() {
    for (login_body, content_type) in [
        (LoginBody::Json, "application/json"),
        (LoginBody::PlainText, "text/plain"),
        (LoginBody::Html, "text/html"),
        (LoginBody::Empty, "text/plain"),
    ] {
        let sim = CtcSim::start(CtcSimConfig {
            login_body,
            ..CtcSimConfig::default()
        })
        .await
        .unwrap();
        let response = login_raw(&sim, DEMO_USERNAME, DEMO_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let (token, _) = auth_cookie(&response);
        let ct = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with(content_type), "{login_body:?}: {ct}");
        let body = response.text().await.unwrap();
        assert_eq!(body.is_empty(), login_body == LoginBody::Empty);
        assert!(!body.contains(&token), "{body}");
        let call = avl(&sim)
            .header("Cookie", format!("authToken={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(call.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn logout_route_can_be_missing() {
    for (logout_route, status) in [
        (LogoutRoute::NotFound, StatusCode::NOT_FOUND),
        (
            LogoutRoute::MethodNotAllowed,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let sim = CtcSim::start(CtcSimConfig {
            logout_route,
            ..CtcSimConfig::default()
        })
        .await
        .unwrap();
        let token = token(&sim).await;
        let response = support::client()
            .post(url(&sim, LOGOUT_PATH))
            .header(APP_KEY_HEADER, DEMO_APP_KEY)
            .header("Cookie", format!("authToken={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(sim.logouts(), 0);
        assert_eq!(sim.active_sessions(), 1);
    }
}

#[tokio::test]
async fn counts_the_connections_it_accepts() {
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    assert_eq!(sim.connections_accepted(), 0);
    // One client keeps its connection for the next request ...
    let pooled = reqwest::Client::new();
    for _ in 0..3 {
        let response = pooled.get(url(&sim, LOGIN_PATH)).send().await.unwrap();
        response.bytes().await.unwrap();
    }
    assert_eq!(sim.connections_accepted(), 1);
    // ... another opens its own.
    let other = reqwest::Client::new();
    other.get(url(&sim, LOGIN_PATH)).send().await.unwrap();
    assert_eq!(sim.connections_accepted(), 2);
}
