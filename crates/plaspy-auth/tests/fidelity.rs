//! Fidelity: the request and reply examples of seed 001 and of the public
//! docs (plaspy-dev/docs), replayed verbatim through the simulator and the
//! client's parsers. Sources of each fixture: `tests/fixtures/README.md`.

use std::time::Duration;

use auth_core::AuthError;
use auth_sim::plaspy::{PlaspyAccount, PlaspySim, PlaspySimConfig};
use plaspy_auth::{ExpirySource, PlaspyCallError, PlaspyProvider};
use reqwest::StatusCode;
use reqwest::header::{DATE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The seed's placeholders, as an account of the simulator.
const SEED_USER: &str = "your_username";
const SEED_KEY: &str = "your_api_key";

fn provider(base: url::Url) -> PlaspyProvider {
    PlaspyProvider::builder()
        .user_name(SEED_USER)
        .api_key(SecretString::from(SEED_KEY))
        .base_url(base)
        .build()
        .unwrap()
}

fn offline() -> PlaspyProvider {
    provider(url::Url::parse("http://127.0.0.1:9").unwrap())
}

/// Method, path, headers and body of a raw HTTP request fixture (the body
/// is what follows the headers, with or without a blank line).
fn parse_request(text: &str) -> (String, String, Vec<(String, String)>, String) {
    let mut lines = text.lines();
    let mut request_line = lines.next().unwrap().split_whitespace();
    let method = request_line.next().unwrap().to_owned();
    let path = request_line.next().unwrap().to_owned();
    let mut headers = Vec::new();
    let mut body = String::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !line.trim_start().starts_with('{') => {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            _ => {
                body.push_str(line);
                break;
            }
        }
    }
    for line in lines {
        body.push('\n');
        body.push_str(line);
    }
    (method, path, headers, body)
}

#[tokio::test]
async fn seed_token_request_replayed_verbatim_against_the_simulator() {
    let sim = PlaspySim::start(PlaspySimConfig {
        accounts: vec![PlaspyAccount {
            user_name: SEED_USER.to_owned(),
            api_key: SEED_KEY.to_owned(),
        }],
        ..PlaspySimConfig::default()
    })
    .await
    .unwrap();
    let (method, path, headers, body) = parse_request(&fixture("seed001_token_request.http"));
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/api/Auth/Token")
    );
    let url = sim.base_url().join(&path).unwrap();
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .body(body);
    for (name, value) in &headers {
        // `Host` names the real service; the connection is to the simulator.
        if !name.eq_ignore_ascii_case("host") {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let reply_headers = response.headers().clone();
    let reply = response.bytes().await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(json["success"], true);
    // The simulator's reply goes through the client's parser.
    let session = provider(sim.base_url().clone())
        .parse_login_response(status, &reply_headers, &reply)
        .unwrap();
    assert_eq!(
        session.token.expose_secret(),
        json["token"].as_str().unwrap()
    );
    assert_eq!(sim.counters().logins(SEED_USER), 1);
}

#[test]
fn seed_token_replies_through_the_parser() {
    // The seed's success example, read on the clock of its time.
    let mut headers = HeaderMap::new();
    headers.insert(
        DATE,
        HeaderValue::from_static("Sat, 30 Dec 2023 12:00:00 GMT"),
    );
    let session = offline()
        .parse_login_response(
            StatusCode::OK,
            &headers,
            fixture("seed001_token_reply_success.json").as_bytes(),
        )
        .unwrap();
    assert_eq!(
        session.token.expose_secret(),
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXV..."
    );
    assert_eq!(session.data.expiry_source, ExpirySource::Expires);
    assert_eq!(
        session.data.expires.to_rfc3339(),
        "2023-12-31T23:59:59+00:00"
    );
    // The seed's error example, whatever the status.
    for status in [
        StatusCode::OK,
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
    ] {
        let err = offline()
            .parse_login_response(
                status,
                &HeaderMap::new(),
                fixture("seed001_token_reply_error.json").as_bytes(),
            )
            .unwrap_err();
        assert!(err.is_invalid_credentials(), "{status}: {err:?}");
        assert!(err.to_string().contains("Invalid API key or username."));
    }
}

#[test]
fn docs_devices_examples_through_the_api_parser() {
    let p = offline();
    let reply = p
        .parse_api_response(
            StatusCode::OK,
            &HeaderMap::new(),
            fixture("docs_get_api_devices_200.json").as_bytes(),
        )
        .unwrap();
    assert_eq!(
        (reply.api_usage, reply.api_daily_usage),
        (Some(150), Some(3000))
    );
    let devices = reply.body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[1]["tags"]["tagB"], "valueB");
    for (status, file, retryable) in [
        (400, "docs_get_api_devices_400.json", false),
        (500, "docs_get_api_devices_500.json", true),
    ] {
        let err = p
            .parse_api_response(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                fixture(file).as_bytes(),
            )
            .unwrap_err();
        let AuthError::Api {
            code, retryable: r, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(
            (code.as_str(), *r),
            (status.to_string().as_str(), retryable)
        );
        let typed = err.provider_error::<PlaspyCallError>().unwrap();
        assert_eq!(
            (typed.api_usage, typed.api_daily_usage),
            (Some(150), Some(3000))
        );
    }
}

/// The documented error structure with each documented error status.
#[test]
fn docs_error_structure_with_each_documented_status() {
    let p = offline();
    let body = fixture("docs_error_structure.json");
    for status in [401, 403, 415] {
        let err = p
            .parse_api_response(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                body.as_bytes(),
            )
            .unwrap_err();
        assert!(
            matches!(&err, AuthError::Api { code, message, retryable: false, .. }
                if *code == status.to_string() && message == "Message explaining the error."),
            "{status}: {err:?}"
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let err = p
        .parse_api_response(StatusCode::TOO_MANY_REQUESTS, &headers, body.as_bytes())
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let err = p
        .parse_api_response(StatusCode::SERVICE_UNAVAILABLE, &headers, body.as_bytes())
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let typed = err.provider_error::<PlaspyCallError>().unwrap();
    assert_eq!(typed.status, 503);
    assert_eq!(typed.retry_after, Some(Duration::from_secs(7)));
    // A 200 whose envelope says `success: false` is a failed call too.
    let err = p
        .parse_api_response(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Api {
                retryable: false,
                ..
            }
        ),
        "{err:?}"
    );
}

/// The same statuses on the token call (login): credentials, media type,
/// throttling and unavailability are told apart.
#[test]
fn docs_error_statuses_on_the_token_call() {
    let p = offline();
    let body = fixture("docs_error_structure.json");
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
    let err = |status: u16| {
        p.parse_login_response(
            StatusCode::from_u16(status).unwrap(),
            &headers,
            body.as_bytes(),
        )
        .unwrap_err()
    };
    assert!(err(401).is_invalid_credentials());
    assert!(err(403).is_invalid_credentials());
    assert!(matches!(
        err(415),
        AuthError::Api {
            retryable: false,
            ..
        }
    ));
    assert!(matches!(
        err(429),
        AuthError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(30)
    ));
    assert!(matches!(
        err(503),
        AuthError::Api {
            retryable: true,
            ..
        }
    ));
}

/// The docs' `GET /api/devices` request replayed against the simulator: the
/// reply has the documented fields, the same as the docs' example, and the
/// client's parser reads it.
#[tokio::test]
async fn docs_devices_request_replayed_against_the_simulator() {
    let sim = PlaspySim::start(PlaspySimConfig {
        accounts: vec![PlaspyAccount {
            user_name: SEED_USER.to_owned(),
            api_key: SEED_KEY.to_owned(),
        }],
        ..PlaspySimConfig::default()
    })
    .await
    .unwrap();
    let p = provider(sim.base_url().clone());
    let http = reqwest::Client::new();
    let login = http
        .post(sim.base_url().join("api/Auth/Token").unwrap())
        .json(&serde_json::json!({"userName": SEED_USER, "apiKey": SEED_KEY}))
        .send()
        .await
        .unwrap();
    let token: serde_json::Value = login.json().await.unwrap();
    let token = token["token"].as_str().unwrap();
    let (method, path, headers, _) = parse_request(&fixture("docs_get_api_devices_request.http"));
    let mut request = http.request(method.parse().unwrap(), sim.base_url().join(&path).unwrap());
    for (name, value) in &headers {
        if !name.eq_ignore_ascii_case("host") {
            request = request.header(name, value.replace("{token}", token));
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let reply_headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let reply = p.parse_api_response(status, &reply_headers, &body).unwrap();
    assert_eq!((reply.api_usage, reply.api_daily_usage), (Some(1), Some(1)));
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let documented: serde_json::Value =
        serde_json::from_str(&fixture("docs_get_api_devices_200.json")).unwrap();
    assert_eq!(keys(&reply.body), keys(&documented));
    assert_eq!(
        keys(&reply.body["devices"][0]),
        keys(&documented["devices"][0])
    );
}
