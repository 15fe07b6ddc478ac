//! Exact request shapes and answer handling, against mockito.

use auth_core::{AuthError, Authenticated, BackoffPolicy, Expiry, MemoryStore, TokenStore};
use ctc_auth::{CtcApiError, CtcClient, CtcProvider, Instance, TokenPlacement};
use mockito::{Matcher, Server, ServerGuard};
use secrecy::SecretString;
use std::sync::Arc;
use url::Url;

const USER: &str = "api user@example.com";
const PASSWORD: &str = "p&ss=w0rd+é";
const APP_KEY: &str = "app-key-0123456789";
const TOKEN: &str = "tok3nVALUE0123456789";

fn config(server: &ServerGuard, placement: TokenPlacement) -> CtcProvider {
    CtcProvider::builder()
        .username(USER)
        .password(SecretString::from(PASSWORD))
        .app_key(SecretString::from(APP_KEY))
        .instance(Instance::Custom(Url::parse(&server.url()).unwrap()))
        .token_placement(placement)
        .build()
        .unwrap()
}

fn client(server: &ServerGuard, placement: TokenPlacement) -> CtcClient {
    Authenticated::builder(config(server, placement))
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

/// A login mock that checks every detail of the request.
async fn login_mock(server: &mut ServerGuard, set_cookie: &str) -> mockito::Mock {
    server
        .mock("POST", "/connect/services/login")
        .match_query(Matcher::Exact("useAuthToken=true".into()))
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_header("calamp-services-app", APP_KEY)
        .match_header("accept", "application/json;charset=UTF-8")
        .match_header("cookie", Matcher::Missing)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "username=api+user%40example.com&password=p%26ss%3Dw0rd%2B%C3%A9".into(),
        ))
        .with_status(200)
        .with_header("content-type", "application/json;charset=UTF-8")
        .with_header("set-cookie", set_cookie)
        .with_body(format!(
            r#"{{"user":{{"username":"{USER}","token":"{TOKEN}"}}}}"#
        ))
        .expect(1)
        .create_async()
        .await
}

#[tokio::test]
async fn login_request_shape_and_cookie_expires() {
    let mut server = Server::new_async().await;
    let login = login_mock(
        &mut server,
        &format!("authToken={TOKEN}; Path=/; Expires=Wed, 21 Oct 2065 07:28:00 GMT; HttpOnly"),
    )
    .await;
    let client = client(&server, TokenPlacement::Cookie);
    let session = client.session().await.unwrap();
    login.assert_async().await;
    let expected = chrono::DateTime::parse_from_rfc3339("2065-10-21T07:28:00Z").unwrap();
    assert_eq!(session.expiry(), Expiry::At(expected.into()));
    assert_eq!(session.data().cookie_expires, Some(expected.into()));
    assert_eq!(session.data().user["user"]["username"], USER);
    // The token echoed in the body is redacted from the session data.
    assert_eq!(session.data().user["user"]["token"], "[REDACTED]");
    assert!(!format!("{session:?}").contains(TOKEN));
}

#[tokio::test]
async fn cookie_without_expires_is_until_rejected_and_found_among_others() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("POST", "/connect/services/login")
        .match_query(Matcher::Exact("useAuthToken=true".into()))
        .with_status(200)
        .with_header("set-cookie", "JSESSIONID=abc; Path=/connect")
        .with_header("set-cookie", &format!("authToken={TOKEN}; Path=/"))
        .with_body("")
        .create_async()
        .await;
    let client = client(&server, TokenPlacement::Cookie);
    let session = client.session().await.unwrap();
    login.assert_async().await;
    assert_eq!(session.expiry(), Expiry::UntilRejected);
    assert!(session.data().user.is_null());
    assert_eq!(session.data().cookie_expires, None);
}

#[tokio::test]
async fn cookie_expiring_in_the_past_is_not_trusted() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/connect/services/login")
        .match_query(Matcher::Any)
        .with_status(200)
        .with_header(
            "set-cookie",
            &format!("authToken={TOKEN}; Path=/; Expires=Thu, 01 Jan 2015 00:00:00 GMT"),
        )
        .with_body("{}")
        .create_async()
        .await;
    let session = client(&server, TokenPlacement::Cookie)
        .session()
        .await
        .unwrap();
    assert_eq!(session.expiry(), Expiry::UntilRejected);
}

#[tokio::test]
async fn ok_without_auth_token_cookie_is_an_error_saying_so() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/connect/services/login")
        .match_query(Matcher::Any)
        .with_status(200)
        .with_header("set-cookie", "JSESSIONID=abc; Path=/")
        .with_body(r#"{"user":{}}"#)
        .create_async()
        .await;
    let err = client(&server, TokenPlacement::Cookie)
        .session()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse {
                status: Some(200),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no authToken cookie"), "{err}");
}

#[tokio::test]
async fn calls_carry_app_key_accept_and_token_in_each_placement() {
    for (placement, header, value) in [
        (
            TokenPlacement::Cookie,
            "cookie",
            format!("authToken={TOKEN}"),
        ),
        (TokenPlacement::Header, "authToken", TOKEN.to_owned()),
        (
            TokenPlacement::Bearer,
            "authorization",
            format!("Bearer {TOKEN}"),
        ),
    ] {
        let mut server = Server::new_async().await;
        login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
        let others: Vec<&str> = ["cookie", "authToken", "authorization"]
            .into_iter()
            .filter(|h| *h != header)
            .collect();
        let call = server
            .mock("GET", "/connect/results/events/device/42/avl/latest")
            .match_query(Matcher::Exact("v=2.0".into()))
            .match_header("calamp-services-app", APP_KEY)
            .match_header("accept", "application/json;charset=UTF-8")
            .match_header(header, value.as_str())
            .match_header(others[0], Matcher::Missing)
            .match_header(others[1], Matcher::Missing)
            .with_status(200)
            .with_body(r#"{"response":{"results":[]}}"#)
            .expect(2)
            .create_async()
            .await;
        let client = client(&server, placement);
        let url = client
            .provider()
            .endpoint("/connect/results/events/device/42/avl/latest?v=2.0")
            .unwrap();
        for _ in 0..2 {
            let response = client
                .send(client.http().client().get(url.clone()))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{placement:?}");
        }
        call.assert_async().await;
        assert_eq!(client.stats().logins, 1, "{placement:?}");
    }
}

#[tokio::test]
async fn logout_calls_the_endpoint_and_clears_the_store() {
    let mut server = Server::new_async().await;
    login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
    let logout = server
        .mock("POST", "/connect/services/logout")
        .match_header("calamp-services-app", APP_KEY)
        .match_header("cookie", format!("authToken={TOKEN}").as_str())
        .with_status(200)
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let store = Arc::new(MemoryStore::new());
    let client = Authenticated::builder(config(&server, TokenPlacement::Cookie))
        .store(store.clone())
        .build()
        .unwrap();
    client.session().await.unwrap();
    assert!(store.load(client.cache_key()).await.unwrap().is_some());
    client.logout().await.unwrap();
    logout.assert_async().await;
    assert!(client.cached().is_none());
    assert!(store.load(client.cache_key()).await.unwrap().is_none());
}

#[tokio::test]
async fn logout_of_an_already_dead_token_is_fine() {
    let mut server = Server::new_async().await;
    login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
    server
        .mock("POST", "/connect/services/logout")
        .with_status(401)
        .create_async()
        .await;
    let client = client(&server, TokenPlacement::Bearer);
    client.session().await.unwrap();
    client.logout().await.unwrap();
    assert!(client.cached().is_none());
}

async fn login_error(status: usize, content_type: &str, body: Vec<u8>) -> AuthError {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/connect/services/login")
        .match_query(Matcher::Any)
        .with_status(status)
        .with_header("content-type", content_type)
        .with_body(body)
        .create_async()
        .await;
    client(&server, TokenPlacement::Cookie)
        .session()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn wrong_credentials_are_typed_with_the_server_message() {
    let err = login_error(
        401,
        "application/json",
        br#"{"response":{"errors":[{"code":"INVALID_CREDENTIALS","message":"Invalid username or password"}]}}"#.to_vec(),
    )
    .await;
    assert!(err.is_invalid_credentials(), "{err:?}");
    assert!(
        err.to_string().contains("Invalid username or password"),
        "{err}"
    );
    let typed = err.provider_error::<CtcApiError>().unwrap();
    assert_eq!(typed.status, 401);
    assert_eq!(typed.code.as_deref(), Some("INVALID_CREDENTIALS"));
    // A 403 without JSON (bad application key) is a credentials problem too.
    let err = login_error(403, "text/plain", b"Forbidden".to_vec()).await;
    assert!(err.is_invalid_credentials(), "{err:?}");
    assert!(err.to_string().contains("application key"), "{err}");
}

#[tokio::test]
async fn malformed_html_huge_and_bare_status_answers_are_typed() {
    let err = login_error(200, "application/json", b"{\"user\": tru<<<".to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("malformed JSON")),
        "{err:?}"
    );
    let err = login_error(
        200,
        "text/html",
        b"<!DOCTYPE html><html>login page</html>".to_vec(),
    )
    .await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { detail, .. } if detail.contains("HTML page")),
        "{err:?}"
    );
    let err = login_error(
        502,
        "text/html",
        b"<html><body>Bad Gateway</body></html>".to_vec(),
    )
    .await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { status: Some(502), detail, .. } if detail.contains("HTML page")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let err = login_error(200, "application/json", vec![b' '; 2 * 1024 * 1024]).await;
    assert!(
        matches!(
            err,
            AuthError::BodyTooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{err:?}"
    );
    let err = login_error(500, "text/plain", b"".to_vec()).await;
    assert!(
        matches!(&err, AuthError::UnexpectedResponse { status: Some(500), detail, .. } if detail.contains("empty body")),
        "{err:?}"
    );
    let err = login_error(
        503,
        "application/json",
        br#"{"message":"maintenance"}"#.to_vec(),
    )
    .await;
    assert!(
        matches!(&err, AuthError::Api { code, message, retryable: true, .. } if code == "503" && message == "maintenance"),
        "{err:?}"
    );
}

#[tokio::test]
async fn throttling_is_typed() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/connect/services/login")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "30")
        .create_async()
        .await;
    let err = client(&server, TokenPlacement::Cookie)
        .session()
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 30),
        "{err:?}"
    );
}

#[test]
fn instances_and_validation() {
    let build = |instance: Instance| {
        CtcProvider::builder()
            .username("u")
            .password(SecretString::from("p"))
            .app_key(SecretString::from("k"))
            .instance(instance)
            .build()
    };
    assert_eq!(
        build(Instance::Us).unwrap().base_url().as_str(),
        "https://connect.calamp.com/"
    );
    assert_eq!(
        build(Instance::Eu).unwrap().base_url().as_str(),
        "https://connect.calamp.co.uk/"
    );
    let custom = build(Instance::Custom(
        Url::parse("https://proxy.example.com/ctc").unwrap(),
    ))
    .unwrap();
    let provider = custom;
    assert_eq!(
        provider
            .endpoint("/connect/services/login")
            .unwrap()
            .as_str(),
        "https://proxy.example.com/ctc/connect/services/login"
    );
    // Plain http to a remote host is the client's transport policy: refused
    // when the client is built, unless HttpSettings allows it.
    let remote = || {
        build(Instance::Custom(
            Url::parse("http://ctc.example.com").unwrap(),
        ))
        .unwrap()
    };
    assert!(remote().into_client().is_err());
    let insecure = ctc_auth::HttpSettings::default().allow_insecure_http(true);
    assert!(
        Authenticated::builder(remote())
            .http_settings(insecure)
            .build()
            .is_ok()
    );
    assert!(build(Instance::Custom(Url::parse("http://127.0.0.1:9").unwrap())).is_ok());
    assert_eq!("US".parse::<Instance>().unwrap(), Instance::Us);
    assert_eq!("eu".parse::<Instance>().unwrap(), Instance::Eu);
    assert!(matches!(
        "https://x.example".parse::<Instance>().unwrap(),
        Instance::Custom(_)
    ));
    assert!("mars".parse::<Instance>().is_err());
    // Missing pieces are configuration errors.
    let no_key = CtcProvider::builder()
        .username("u")
        .password(SecretString::from("p"))
        .instance(Instance::Us)
        .build()
        .unwrap_err();
    assert!(
        matches!(no_key, AuthError::Config(_)) && no_key.to_string().contains("application key")
    );
    let no_instance = CtcProvider::builder()
        .username("u")
        .password(SecretString::from("p"))
        .app_key(SecretString::from("k"))
        .build()
        .unwrap_err();
    assert!(no_instance.to_string().contains("instance"));
    let bad_key = CtcProvider::builder()
        .username("u")
        .password(SecretString::from("p"))
        .app_key(SecretString::from("bad\nkey"))
        .instance(Instance::Us)
        .build()
        .unwrap_err();
    assert!(matches!(bad_key, AuthError::Config(_)));
    let empty_password = CtcProvider::builder()
        .username("u")
        .password(SecretString::from(""))
        .app_key(SecretString::from("k"))
        .instance(Instance::Us)
        .build()
        .unwrap_err();
    assert!(empty_password.to_string().contains("password"));
}

#[test]
fn config_debug_redacts_secrets() {
    let builder = CtcProvider::builder()
        .username("u")
        .password(SecretString::from("hunter2-password"))
        .app_key(SecretString::from("hunter2-appkey"))
        .instance(Instance::Us);
    let dbg = format!("{builder:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    let config = builder.build().unwrap();
    let dbg = format!("{config:?} {:?}", config.clone());
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("[REDACTED]"));
}

/// Only the `authToken` cookie of a successful login is documented (seed
/// 000), not the body: with the cookie, plain text, HTML or nothing is a
/// success, and the body is not kept.
#[tokio::test]
async fn ok_with_the_cookie_and_a_body_that_is_not_json_is_a_success() {
    for (content_type, body) in [
        ("text/plain", "Login successful".to_owned()),
        (
            "text/html;charset=UTF-8",
            format!("<!DOCTYPE html><html><body>Welcome {TOKEN}</body></html>"),
        ),
        ("application/json", "{\"user\": tru<<<".to_owned()),
        ("text/plain", String::new()),
    ] {
        let mut server = Server::new_async().await;
        server
            .mock("POST", "/connect/services/login")
            .match_query(Matcher::Exact("useAuthToken=true".into()))
            .match_header("content-type", "application/x-www-form-urlencoded")
            .match_header("calamp-services-app", APP_KEY)
            .with_status(200)
            .with_header("content-type", content_type)
            .with_header("set-cookie", &format!("authToken={TOKEN}; Path=/"))
            .with_body(&body)
            .expect(1)
            .create_async()
            .await;
        let call = server
            .mock("GET", "/connect/x")
            .match_header("cookie", format!("authToken={TOKEN}").as_str())
            .with_status(200)
            .expect(1)
            .create_async()
            .await;
        let client = client(&server, TokenPlacement::Cookie);
        let session = client.session().await.unwrap();
        assert_eq!(session.data().user, serde_json::Value::Null, "{body}");
        assert_eq!(session.expiry(), Expiry::UntilRejected);
        let url = client.provider().endpoint("connect/x").unwrap();
        let response = client.send(client.http().client().get(url)).await.unwrap();
        assert_eq!(response.status(), 200);
        call.assert_async().await;
    }
}

/// The logout path is undocumented: a 404 or 405 from it is `Ok`, and the
/// local and stored session are gone all the same.
#[tokio::test]
async fn logout_404_or_405_is_ok_and_forgets_the_session() {
    for status in [404, 405] {
        let mut server = Server::new_async().await;
        login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
        let logout = server
            .mock("POST", "/connect/services/logout")
            .match_header("calamp-services-app", APP_KEY)
            .match_header("cookie", format!("authToken={TOKEN}").as_str())
            .with_status(status)
            .with_header("content-type", "text/html")
            .with_body("<html><body>Not Found</body></html>")
            .expect(1)
            .create_async()
            .await;
        let store = Arc::new(MemoryStore::new());
        let client = Authenticated::builder(config(&server, TokenPlacement::Cookie))
            .store(store.clone())
            .build()
            .unwrap();
        client.session().await.unwrap();
        client.logout().await.unwrap();
        logout.assert_async().await;
        assert!(client.cached().is_none(), "{status}");
        assert!(store.load(client.cache_key()).await.unwrap().is_none());
    }
    // Other failures are still errors.
    let mut server = Server::new_async().await;
    login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
    server
        .mock("POST", "/connect/services/logout")
        .with_status(500)
        .create_async()
        .await;
    let client = client(&server, TokenPlacement::Cookie);
    client.session().await.unwrap();
    assert!(client.logout().await.is_err());
}

#[tokio::test]
async fn a_callers_cookie_and_accept_are_merged_not_doubled() {
    let mut server = Server::new_async().await;
    let login = login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
    let merged = server
        .mock("GET", "/connect/results/csv")
        .match_header("cookie", format!("theme=dark; authToken={TOKEN}").as_str())
        .match_header("accept", "text/csv")
        .match_header("calamp-services-app", APP_KEY)
        .with_status(200)
        .with_body("a,b")
        .expect(1)
        .create_async()
        .await;
    let defaults = server
        .mock("GET", "/connect/results/json")
        .match_header("cookie", format!("authToken={TOKEN}").as_str())
        .match_header("accept", "application/json;charset=UTF-8")
        .with_status(200)
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let client = client(&server, TokenPlacement::Cookie);
    let response = client
        .get("connect/results/csv")
        .header("cookie", "theme=dark")
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "a,b");
    client.get("connect/results/json").send().await.unwrap();
    login.assert_async().await;
    merged.assert_async().await;
    defaults.assert_async().await;
}

#[tokio::test]
async fn json_calls_read_ctc_error_answers_as_typed_errors() {
    use ctc_auth::CtcClientExt;

    let mut server = Server::new_async().await;
    let _login = login_mock(&mut server, &format!("authToken={TOKEN}; Path=/")).await;
    server
        .mock("GET", "/connect/devices/7")
        .with_status(200)
        .with_body(r#"{"id":7,"name":"truck"}"#)
        .create_async()
        .await;
    server
        .mock("GET", "/connect/devices/8")
        .with_status(404)
        .with_body(r#"{"response":{"errors":[{"code":"NOT_FOUND","message":"no such device"}]}}"#)
        .create_async()
        .await;
    server
        .mock("GET", "/connect/devices/9")
        .with_status(429)
        .with_header("retry-after", "7")
        .create_async()
        .await;
    let client = client(&server, TokenPlacement::Cookie);
    let device: ctc_auth::serde_json::Value = client.get_json("connect/devices/7").await.unwrap();
    assert_eq!(device["name"], "truck");
    let err = client
        .get_json::<ctc_auth::serde_json::Value>("connect/devices/8")
        .await
        .unwrap_err();
    let typed = err.provider_error::<CtcApiError>().unwrap();
    assert_eq!(typed.status, 404);
    assert_eq!(typed.code.as_deref(), Some("NOT_FOUND"));
    assert!(!err.is_retryable());
    let err = client
        .get_json::<ctc_auth::serde_json::Value>("connect/devices/9")
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 7),
        "{err:?}"
    );
}
