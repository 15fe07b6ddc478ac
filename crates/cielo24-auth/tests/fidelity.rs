//! Fidelity: the four example requests and the example response of seed
//! 003, replayed verbatim through the simulator and the client's parser, and
//! the login shapes of the vendor's OpenAPI description
//! (cielo24/cielo24-openapi). Sources: `tests/fixtures/README.md`.

use auth_sim::cielo24::{Cielo24Account, Cielo24Sim, Cielo24SimConfig, TokenField};
use cielo24_auth::{Cielo24Provider, LoginMethod};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The first line, the headers, and the body after the blank line.
fn parse_http(text: &str) -> (String, Vec<(String, String)>, String) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (first, headers, body.trim().to_owned())
}

/// The seed's example accounts: `john_doe` / `example_password` and the
/// example secure key, and `user` with the same key.
async fn seed_sim(token_field: TokenField) -> Cielo24Sim {
    let key = "968a8b637a5040159424872fffdb895b".to_owned();
    let mut john = Cielo24Account::new("john_doe", "example_password");
    john.secure_keys.push(key.clone());
    let mut user = Cielo24Account::new("user", "not-in-the-seed");
    user.secure_keys.push(key);
    Cielo24Sim::start(Cielo24SimConfig {
        accounts: vec![john, user],
        token_field,
        ..Cielo24SimConfig::default()
    })
    .await
    .unwrap()
}

fn provider(base: url::Url) -> Cielo24Provider {
    Cielo24Provider::builder()
        .username("john_doe")
        .password(SecretString::from("example_password"))
        .base_url(base)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_four_seed_requests_replayed_against_the_simulator() {
    let sim = seed_sim(TokenField::ApiToken).await;
    let http = reqwest::Client::new();
    for n in 1..=4 {
        let (first, headers, _) = parse_http(&fixture(&format!("seed003_login_request_{n}.http")));
        let mut parts = first.split_whitespace();
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(method, "GET");
        let mut request = http.get(sim.base_url().join(target).unwrap());
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("host") {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let reply_headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        assert_eq!(status, StatusCode::OK, "request {n}");
        let session = provider(sim.base_url().clone())
            .parse_login_response(status, &reply_headers, &body)
            .unwrap_or_else(|e| panic!("request {n}: {e}"));
        let token = session.token.expose_secret();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(sim.counters().logins("john_doe"), 3);
    assert_eq!(sim.counters().logins("user"), 1);
}

#[test]
fn the_seed_response_through_the_parser() {
    let (status_line, headers, body) = parse_http(&fixture("seed003_login_reply.http"));
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            HeaderName::try_from(name).unwrap(),
            HeaderValue::try_from(value).unwrap(),
        );
    }
    let session = provider(url::Url::parse("http://127.0.0.1:9").unwrap())
        .parse_login_response(StatusCode::from_u16(status).unwrap(), &map, body.as_bytes())
        .unwrap();
    assert_eq!(
        session.token.expose_secret(),
        "7ca5dc5c7cce449fb0fff719307e8f5f"
    );
}

/// The OpenAPI description's reply field, `api_token`, reads the same.
#[test]
fn the_openapi_reply_through_the_parser() {
    let session = provider(url::Url::parse("http://127.0.0.1:9").unwrap())
        .parse_login_response(
            StatusCode::OK,
            &HeaderMap::new(),
            fixture("openapi_login_reply.json").as_bytes(),
        )
        .unwrap();
    assert_eq!(
        session.token.expose_secret(),
        "7ca5dc5c7cce449fb0fff719307e8f5f"
    );
}

/// The OpenAPI login (`POST /account/login?v=1`, `LoginBody` as JSON)
/// replayed against the simulator, whose reply (`api_token` as in the
/// OpenAPI `LoginResponse`) the client reads; then the client's own POST
/// login against the same simulator.
#[tokio::test]
async fn the_openapi_login_replayed_against_the_simulator() {
    let sim = seed_sim(TokenField::SnakeCase).await;
    let response = reqwest::Client::new()
        .post(sim.base_url().join("api/account/login?v=1").unwrap())
        .header("content-type", "application/json")
        .body(fixture("openapi_login_body.json"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let reply: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(reply["api_token"].is_string(), "{reply}");
    provider(sim.base_url().clone())
        .parse_login_response(status, &headers, &body)
        .unwrap();
    let client = Cielo24Provider::builder()
        .username("john_doe")
        .password(SecretString::from("example_password"))
        .login_method(LoginMethod::PostJson)
        .base_url(sim.base_url().clone())
        .build()
        .unwrap();
    auth_core::Authenticated::new(client)
        .unwrap()
        .session()
        .await
        .unwrap();
    assert_eq!(sim.counters().logins("john_doe"), 2);
}
