//! Exact request shapes and answer handling, against mockito.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, Expiry};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mockito::{Matcher, Server, ServerGuard};
use plaspy_auth::{ExpirySource, PlaspyApiError, PlaspyClient, PlaspyProvider};
use secrecy::SecretString;
use url::Url;

const USER: &str = "fleet \"ops\"";
const API_KEY: &str = "k3y-with-ü-and-\\";

fn jwt(exp: Option<i64>) -> String {
    let payload = match exp {
        Some(exp) => format!(r#"{{"unique_name":"x","exp":{exp}}}"#),
        None => r#"{"unique_name":"x"}"#.to_owned(),
    };
    format!(
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(payload)
    )
}

fn client_with(server: &ServerGuard, default_lifetime: Duration) -> PlaspyClient {
    let config = PlaspyProvider::builder()
        .user_name(USER)
        .api_key(SecretString::from(API_KEY))
        .base_url(Url::parse(&server.url()).unwrap())
        .default_lifetime(default_lifetime)
        .build()
        .unwrap();
    Authenticated::builder(config)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

fn client(server: &ServerGuard) -> PlaspyClient {
    client_with(server, Duration::from_secs(3600))
}

async fn token_answer(server: &mut ServerGuard, status: usize, body: &str) -> mockito::Mock {
    server
        .mock("POST", "/api/Auth/Token")
        .with_status(status)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(body)
        .create_async()
        .await
}

#[tokio::test]
async fn token_request_shape_and_bearer_calls() {
    let mut server = Server::new_async().await;
    let token = jwt(Some(4_102_444_800));
    let login = server
        .mock("POST", "/api/Auth/Token")
        .match_query(Matcher::Missing)
        .match_header("content-type", "application/json")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            r#"{"userName":"fleet \"ops\"","apiKey":"k3y-with-ü-and-\\"}"#.into(),
        ))
        .with_status(200)
        .with_body(format!(
            r#"{{"success":true,"token":"{token}","expires":"2099-12-31T23:59:59Z"}}"#
        ))
        .expect(1)
        .create_async()
        .await;
    let devices = server
        .mock("GET", "/api/devices")
        .match_header("authorization", format!("Bearer {token}").as_str())
        .with_status(200)
        .with_body("[]")
        .expect(3)
        .create_async()
        .await;
    let client = client(&server);
    let url = client.provider().endpoint("/api/devices").unwrap();
    for _ in 0..3 {
        let response = client
            .send(client.http().client().get(url.clone()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    login.assert_async().await;
    devices.assert_async().await;
    let session = client.session().await.unwrap();
    let want: chrono::DateTime<chrono::Utc> =
        chrono::DateTime::parse_from_rfc3339("2099-12-31T23:59:59Z")
            .unwrap()
            .into();
    assert_eq!(session.expiry(), Expiry::At(want));
    assert_eq!(session.data().expiry_source, ExpirySource::Expires);
}

#[tokio::test]
async fn expires_without_zone_is_utc() {
    let mut server = Server::new_async().await;
    token_answer(
        &mut server,
        200,
        &format!(
            r#"{{"success":true,"token":"{}","expires":"2099-06-30T12:00:00.1234567"}}"#,
            jwt(Some(1))
        ),
    )
    .await;
    let session = client(&server).session().await.unwrap();
    assert_eq!(session.data().expiry_source, ExpirySource::Expires);
    assert_eq!(
        session.data().expires.to_rfc3339(),
        "2099-06-30T12:00:00.123456700+00:00"
    );
}

#[tokio::test]
async fn missing_expires_falls_back_to_the_jwt_exp_claim() {
    let mut server = Server::new_async().await;
    token_answer(
        &mut server,
        200,
        &format!(
            r#"{{"success":true,"token":"{}"}}"#,
            jwt(Some(4_102_444_800))
        ),
    )
    .await;
    let session = client(&server).session().await.unwrap();
    assert_eq!(session.data().expiry_source, ExpirySource::JwtExp);
    assert_eq!(session.data().expires.timestamp(), 4_102_444_800);
}

#[tokio::test]
async fn unreadable_expires_falls_back_to_the_jwt_exp_claim() {
    let mut server = Server::new_async().await;
    token_answer(
        &mut server,
        200,
        &format!(
            r#"{{"success":true,"token":"{}","expires":"31/12/2099"}}"#,
            jwt(Some(4_102_444_800))
        ),
    )
    .await;
    let session = client(&server).session().await.unwrap();
    assert_eq!(session.data().expiry_source, ExpirySource::JwtExp);
}

#[tokio::test]
async fn no_expires_and_no_exp_use_the_default_lifetime() {
    let mut server = Server::new_async().await;
    token_answer(
        &mut server,
        200,
        &format!(r#"{{"success":true,"token":"{}"}}"#, jwt(None)),
    )
    .await;
    let session = client_with(&server, Duration::from_secs(600))
        .session()
        .await
        .unwrap();
    assert_eq!(session.data().expiry_source, ExpirySource::DefaultLifetime);
    let left = session.expires_in().unwrap().as_secs();
    assert!((598..=600).contains(&left), "{left}");
    // An opaque (non-JWT) token is fine too.
    let mut server = Server::new_async().await;
    token_answer(&mut server, 200, r#"{"success":true,"token":"opaque"}"#).await;
    let session = client_with(&server, Duration::from_secs(90))
        .session()
        .await
        .unwrap();
    assert_eq!(session.data().expiry_source, ExpirySource::DefaultLifetime);
}

#[tokio::test]
async fn success_false_is_invalid_credentials_whatever_the_status() {
    for status in [200, 400, 401] {
        let mut server = Server::new_async().await;
        token_answer(
            &mut server,
            status,
            r#"{"success":false,"error":"Invalid API key or username."}"#,
        )
        .await;
        let err = client(&server).session().await.unwrap_err();
        assert!(err.is_invalid_credentials(), "{status}: {err:?}");
        assert!(
            err.to_string().contains("Invalid API key or username."),
            "{err}"
        );
        let typed = err.provider_error::<PlaspyApiError>().unwrap();
        assert_eq!(typed.status as usize, status);
    }
}

#[tokio::test]
async fn success_false_about_something_else_is_an_api_error() {
    let mut server = Server::new_async().await;
    token_answer(
        &mut server,
        200,
        r#"{"success":false,"error":"Service temporarily unavailable."}"#,
    )
    .await;
    let err = client(&server).session().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Api { message, .. } if message == "Service temporarily unavailable."),
        "{err:?}"
    );
}

#[tokio::test]
async fn problem_details_are_api_errors() {
    let mut server = Server::new_async().await;
    token_answer(
        &mut server,
        415,
        r#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.16","title":"Unsupported Media Type","status":415}"#,
    )
    .await;
    let err = client(&server).session().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Api { code, message, .. } if code == "415" && message == "Unsupported Media Type"),
        "{err:?}"
    );
}

async fn login_error(status: usize, content_type: &str, body: Vec<u8>) -> AuthError {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/api/Auth/Token")
        .with_status(status)
        .with_header("content-type", content_type)
        .with_body(body)
        .create_async()
        .await;
    client(&server).session().await.unwrap_err()
}

#[tokio::test]
async fn malformed_html_huge_and_bare_status_answers_are_typed() {
    let err = login_error(200, "application/json", br#"{"success": tru<<<"#.to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("malformed JSON")),
        "{err:?}"
    );
    let err = login_error(200, "application/json", br#"{"success":true}"#.to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("no token")),
        "{err:?}"
    );
    let err = login_error(200, "application/json", br#"{"token":"x"}"#.to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("success property")),
        "{err:?}"
    );
    let err = login_error(200, "text/html", b"<!DOCTYPE html><html></html>".to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("HTML page")),
        "{err:?}"
    );
    let err = login_error(502, "text/html", b"<html>Bad Gateway</html>".to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { status: Some(502), detail, .. } if detail.contains("HTML page")),
        "{err:?}"
    );
    let err = login_error(200, "application/json", vec![b' '; 1024 * 1024 + 1]).await;
    assert!(matches!(err, AuthError::BodyTooLarge { .. }), "{err:?}");
    let err = login_error(503, "text/plain", b"Service Unavailable".to_vec()).await;
    assert!(
        matches!(
            &err,
            AuthError::UnexpectedResponse {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let err = login_error(429, "text/plain", b"slow down".to_vec()).await;
    assert!(matches!(err, AuthError::Throttled { .. }), "{err:?}");
}

#[test]
fn config_defaults_validation_and_redaction() {
    let config = PlaspyProvider::builder()
        .user_name("u")
        .api_key(SecretString::from("hunter2-key"))
        .build()
        .unwrap();
    assert_eq!(config.base_url().as_str(), "https://api.plaspy.com/");
    assert_eq!(config.default_lifetime(), Duration::from_secs(3600));
    let dbg = format!("{config:?} {:?}", config.clone());
    assert!(!dbg.contains("hunter2"), "{dbg}");
    let builder = PlaspyProvider::builder().api_key(SecretString::from("hunter2-key"));
    assert!(!format!("{builder:?}").contains("hunter2"));
    assert!(matches!(builder.build().unwrap_err(), AuthError::Config(_)));
    let no_key = PlaspyProvider::builder()
        .user_name("u")
        .build()
        .unwrap_err();
    assert!(no_key.to_string().contains("apiKey"));
    let insecure = PlaspyProvider::builder()
        .user_name("u")
        .api_key(SecretString::from("k"))
        .base_url(Url::parse("http://api.plaspy.com").unwrap())
        .build()
        .unwrap();
    // Plain http to a remote host: refused when the client is built,
    // unless the client's HttpSettings allow it.
    let err = insecure.clone().into_client().unwrap_err();
    assert!(err.to_string().contains("refusing plain http"), "{err}");
    let allow = plaspy_auth::HttpSettings::default().allow_insecure_http(true);
    assert!(
        Authenticated::builder(insecure)
            .http_settings(allow)
            .build()
            .is_ok()
    );
    let tiny = PlaspyProvider::builder()
        .user_name("u")
        .api_key(SecretString::from("k"))
        .default_lifetime(Duration::from_millis(10))
        .build();
    assert!(tiny.is_err());
}
