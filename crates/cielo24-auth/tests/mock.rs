//! Exact request shapes and error mapping, against mockito.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use auth_core::{AuthError, Authenticated, BackoffPolicy};
use cielo24_auth::{
    Cielo24Client, Cielo24ClientExt, Cielo24Error, Cielo24Provider, CredentialPlacement, ErrorType,
    LoginMethod, PRODUCTION_URL, PasswordHeader, SANDBOX_URL,
};
use mockito::{Matcher, Server};
use secrecy::SecretString;
use url::Url;

const PW: &str = "s3cr3t-pw-value";
const KEY: &str = "968a8b637a5040159424872fffdb895b";
const TOKEN_A: &str = "7ca5dc5c7cce449fb0fff719307e8f5f";
const TOKEN_B: &str = "0b1c2d3e4f5061728394a5b6c7d8e9f0";

fn url(server: &Server) -> Url {
    Url::parse(&server.url()).unwrap()
}

fn client(provider: Cielo24Provider) -> Cielo24Client {
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

fn password_provider(server: &Server) -> Cielo24Provider {
    Cielo24Provider::builder()
        .username("john_doe")
        .password(SecretString::from(PW))
        .base_url(url(server))
        .build()
        .unwrap()
}

fn token_body(token: &str) -> String {
    format!("{{ \"ApiToken\" : \"{token}\" }}")
}

/// Asserts no secret appears in the request line.
fn url_is_clean(req: &mockito::Request) -> bool {
    let line = req.path_and_query();
    !line.contains(PW) && !line.contains(KEY)
}

#[tokio::test]
async fn headers_are_the_default_and_keep_the_password_out_of_the_url() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Exact("v=1".into()))
        .match_header("x-auth-user", "john_doe")
        .match_header("x-auth-password", PW)
        .match_header("x-auth-key", Matcher::Missing)
        .match_request(url_is_clean)
        .with_header("content-type", "application/json")
        .with_body(token_body(TOKEN_A))
        .expect(1)
        .create_async()
        .await;
    let c = client(password_provider(&server));
    c.session().await.unwrap();
    login.assert_async().await;
}

#[tokio::test]
async fn x_auth_key_header_on_request() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Exact("v=1".into()))
        .match_header("x-auth-user", "john_doe")
        .match_header("x-auth-key", PW)
        .match_header("x-auth-password", Matcher::Missing)
        .with_body(token_body(TOKEN_A))
        .expect(1)
        .create_async()
        .await;
    let provider = Cielo24Provider::builder()
        .username("john_doe")
        .password(SecretString::from(PW))
        .password_header(PasswordHeader::XAuthKey)
        .base_url(url(&server))
        .build()
        .unwrap();
    client(provider).session().await.unwrap();
    login.assert_async().await;
}

#[tokio::test]
async fn secure_key_goes_in_x_auth_securekey() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Exact("v=1".into()))
        .match_header("x-auth-user", "john_doe")
        .match_header("x-auth-securekey", KEY)
        .match_header("x-auth-password", Matcher::Missing)
        .match_request(url_is_clean)
        .with_body(token_body(TOKEN_A))
        .expect(1)
        .create_async()
        .await;
    let provider = Cielo24Provider::builder()
        .username("john_doe")
        .secure_key(SecretString::from(KEY))
        .base_url(url(&server))
        .build()
        .unwrap();
    client(provider).session().await.unwrap();
    login.assert_async().await;
}

#[tokio::test]
async fn query_placement_and_api_version() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("v".into(), "2".into()),
            Matcher::UrlEncoded("username".into(), "john_doe".into()),
            Matcher::UrlEncoded("securekey".into(), KEY.into()),
        ]))
        .match_header("x-auth-user", Matcher::Missing)
        .match_header("x-auth-securekey", Matcher::Missing)
        .with_body(token_body(TOKEN_A))
        .expect(1)
        .create_async()
        .await;
    let jobs = server
        .mock("GET", "/api/job/list")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("v".into(), "2".into()),
            Matcher::UrlEncoded("api_token".into(), TOKEN_A.into()),
        ]))
        .with_body("{\"ActiveJobs\":[]}")
        .expect(1)
        .create_async()
        .await;
    let provider = Cielo24Provider::builder()
        .username("john_doe")
        .secure_key(SecretString::from(KEY))
        .credential_placement(CredentialPlacement::Query)
        .api_version(2)
        .base_url(url(&server))
        .build()
        .unwrap();
    let c = client(provider);
    c.get_json("api/job/list", &[]).await.unwrap();
    login.assert_async().await;
    jobs.assert_async().await;
}

#[tokio::test]
async fn later_calls_carry_v_and_api_token_and_a_base_path_prefix_is_kept() {
    let mut server = Server::new_async().await;
    let login = server
        .mock("GET", "/prefix/api/account/login")
        .match_query(Matcher::Exact("v=1".into()))
        .with_body(token_body(TOKEN_A))
        .create_async()
        .await;
    let info = server
        .mock("GET", "/prefix/api/job/info")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("job_id".into(), "42".into()),
            Matcher::UrlEncoded("v".into(), "1".into()),
            Matcher::UrlEncoded("api_token".into(), TOKEN_A.into()),
        ]))
        .with_body("{\"JobId\":\"42\"}")
        .expect(1)
        .create_async()
        .await;
    let provider = Cielo24Provider::builder()
        .username("john_doe")
        .password(SecretString::from(PW))
        .base_url(Url::parse(&format!("{}/prefix", server.url())).unwrap())
        .build()
        .unwrap();
    let c = client(provider);
    let v = c
        .get_json("/api/job/info", &[("job_id", "42")])
        .await
        .unwrap();
    assert_eq!(v["JobId"], "42");
    login.assert_async().await;
    info.assert_async().await;
}

#[tokio::test]
async fn http_401_and_bad_api_token_mean_log_in_again() {
    for (status, body) in [
        (401, "Unauthorized".to_owned()),
        (
            400,
            "{\"ErrorType\":\"BAD_API_TOKEN\",\"ErrorComment\":\"expired\"}".to_owned(),
        ),
    ] {
        let mut server = Server::new_async().await;
        let logins = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&logins);
        let login = server
            .mock("GET", "/api/account/login")
            .match_query(Matcher::Any)
            .with_body_from_request(move |_| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                token_body(if n == 0 { TOKEN_A } else { TOKEN_B }).into_bytes()
            })
            .expect(2)
            .create_async()
            .await;
        let stale = server
            .mock("GET", "/api/job/list")
            .match_query(Matcher::UrlEncoded("api_token".into(), TOKEN_A.into()))
            .with_status(status)
            .with_body(body.clone())
            .expect(1)
            .create_async()
            .await;
        let fresh = server
            .mock("GET", "/api/job/list")
            .match_query(Matcher::UrlEncoded("api_token".into(), TOKEN_B.into()))
            .with_body("{\"ActiveJobs\":[]}")
            .expect(1)
            .create_async()
            .await;
        let c = client(password_provider(&server));
        c.get_json("api/job/list", &[]).await.unwrap();
        login.assert_async().await;
        stale.assert_async().await;
        fresh.assert_async().await;
        assert_eq!(c.stats().relogins, 1, "status {status}");
    }
}

#[tokio::test]
async fn other_400_errors_are_typed_api_errors_without_relogin() {
    let cases = [
        ("MISSING_PARAMETER", ErrorType::MissingParameter),
        ("ITEM_NOT_FOUND", ErrorType::ItemNotFound),
        ("INVALID_OPTION", ErrorType::InvalidOption),
        ("ACCOUNT_UNPRIVILEGED", ErrorType::AccountUnprivileged),
        ("BRAND_NEW_TYPE", ErrorType::Other("BRAND_NEW_TYPE".into())),
    ];
    for (wire, expected) in cases {
        let mut server = Server::new_async().await;
        let login = server
            .mock("GET", "/api/account/login")
            .match_query(Matcher::Any)
            .with_body(token_body(TOKEN_A))
            .expect(1)
            .create_async()
            .await;
        server
            .mock("GET", "/api/job/info")
            .match_query(Matcher::Any)
            .with_status(400)
            .with_body(format!(
                "{{\"ErrorType\":\"{wire}\",\"ErrorComment\":\"nope\"}}"
            ))
            .create_async()
            .await;
        let c = client(password_provider(&server));
        let err = c
            .get_json("api/job/info", &[("job_id", "1")])
            .await
            .unwrap_err();
        match &err {
            AuthError::Api { code, message, .. } => {
                assert_eq!(code, wire);
                assert_eq!(message, "nope");
            }
            other => panic!("{wire}: expected Api, got {other:?}"),
        }
        assert_eq!(
            err.provider_error::<Cielo24Error>().unwrap().error_type,
            expected
        );
        login.assert_async().await;
        assert_eq!(c.stats().rejections, 0);
    }
}

#[tokio::test]
async fn login_error_mapping() {
    type Check = fn(&AuthError) -> bool;
    let cases: [(usize, &str, Check); 6] = [
        (
            400,
            "{\"ErrorType\":\"LOGIN_INVALID\",\"ErrorComment\":\"bad password s3cr3t-pw-value\"}",
            |e| {
                e.is_invalid_credentials()
                    && e.provider_error::<Cielo24Error>().unwrap().error_type
                        == ErrorType::LoginInvalid
            },
        ),
        (
            400,
            "{\"ErrorType\":\"MISSING_PARAMETER\",\"ErrorComment\":\"v\"}",
            |e| matches!(e, AuthError::Api { code, .. } if code == "MISSING_PARAMETER"),
        ),
        (401, "", |e| e.is_invalid_credentials()),
        (400, "<html><body>Bad Request</body></html>", |e| {
            matches!(
                e,
                AuthError::UnexpectedResponse {
                    status: Some(400),
                    ..
                }
            )
        }),
        (500, "oops", |e| {
            matches!(
                e,
                AuthError::UnexpectedResponse {
                    status: Some(500),
                    ..
                }
            ) && e.is_retryable()
        }),
        // A 200 of the wrong shape is not quoted (it may hold a secret).
        (
            200,
            "{\"Token\":\"9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f\"}",
            |e| matches!(e, AuthError::UnexpectedResponse { detail, .. } if detail.contains("JSON of another shape") && !detail.contains("9f9f")),
        ),
    ];
    for (status, body, check) in cases {
        let mut server = Server::new_async().await;
        server
            .mock("GET", "/api/account/login")
            .match_query(Matcher::Any)
            .with_status(status)
            .with_body(body)
            .create_async()
            .await;
        let c = client(password_provider(&server));
        let err = c.session().await.unwrap_err();
        assert!(check(&err), "{status} {body}: {err:?}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(PW), "{text}");
    }
}

#[tokio::test]
async fn generate_api_key_request_shape() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Any)
        .with_body(token_body(TOKEN_A))
        .create_async()
        .await;
    let generate = server
        .mock("GET", "/api/account/generate_api_key")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("v".into(), "1".into()),
            Matcher::UrlEncoded("api_token".into(), TOKEN_A.into()),
            Matcher::UrlEncoded("account_id".into(), "john_doe".into()),
            Matcher::UrlEncoded("force_new".into(), "true".into()),
        ]))
        .with_body(format!("{{\"ApiKey\":\"{KEY}\"}}"))
        .expect(1)
        .create_async()
        .await;
    let c = client(password_provider(&server));
    let key = c.generate_api_key(true).await.unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&key), KEY);
    generate.assert_async().await;
}

#[tokio::test]
async fn logout_request_shape() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Any)
        .with_body(token_body(TOKEN_A))
        .create_async()
        .await;
    let logout = server
        .mock("GET", "/api/account/logout")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("v".into(), "1".into()),
            Matcher::UrlEncoded("api_token".into(), TOKEN_A.into()),
        ]))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = client(password_provider(&server));
    c.session().await.unwrap();
    c.logout().await.unwrap();
    logout.assert_async().await;
}

#[test]
fn builder_validation() {
    let ok = || Cielo24Provider::builder().username("u");
    let pw = || SecretString::from(PW);
    let key = || SecretString::from(KEY);
    assert!(
        matches!(ok().build(), Err(AuthError::Config(_))),
        "a secret is required"
    );
    let both = ok().password(pw()).secure_key(key()).build().unwrap_err();
    assert!(both.to_string().contains("not both"), "{both}");
    assert!(
        Cielo24Provider::builder().password(pw()).build().is_err(),
        "username required"
    );
    assert!(
        ok().secure_key(SecretString::from("not hex!"))
            .build()
            .is_err()
    );
    assert!(ok().password(SecretString::from("")).build().is_err());
    assert!(ok().password(SecretString::from("a\nb")).build().is_err());
    assert!(ok().password(pw()).api_version(0).build().is_err());
    assert!(
        ok().password(pw())
            .idle_timeout(std::time::Duration::ZERO)
            .build()
            .is_err()
    );

    let p = ok().password(pw()).build().unwrap();
    assert_eq!(p.base_url().as_str(), format!("{PRODUCTION_URL}/"));
    assert_eq!(p.api_version(), "1");
    let p = ok().password(pw()).sandbox().build().unwrap();
    assert_eq!(p.base_url().as_str(), format!("{SANDBOX_URL}/"));

    // Plain http to a remote host: refused when the client is built,
    // unless the client's HttpSettings allow it.
    let insecure = Url::parse("http://api.example.com").unwrap();
    let remote = || {
        ok().password(pw())
            .base_url(insecure.clone())
            .build()
            .unwrap()
    };
    assert!(remote().into_client().is_err());
    let allow = cielo24_auth::HttpSettings::default().allow_insecure_http(true);
    assert!(
        auth_core::Authenticated::builder(remote())
            .http_settings(allow)
            .build()
            .is_ok()
    );
    assert!(
        ok().password(pw())
            .base_url(Url::parse("http://127.0.0.1:9").unwrap())
            .build()
            .is_ok()
    );

    // Secrets never show in Debug.
    let b = ok().password(pw());
    assert!(!format!("{b:?}").contains(PW));
    let p = ok().secure_key(key()).build().unwrap();
    assert!(!format!("{p:?}").contains(KEY));
    let c = Authenticated::new(p).unwrap();
    assert!(!format!("{c:?}").contains(KEY));
    assert!(!c.cache_key().contains(KEY));
}

#[tokio::test]
async fn session_debug_hides_the_token() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Any)
        .with_body(token_body(TOKEN_A))
        .create_async()
        .await;
    let c = client(password_provider(&server));
    let s = c.session().await.unwrap();
    assert!(!format!("{s:?}").contains(TOKEN_A));
    assert!(!format!("{c:?}").contains(TOKEN_A));
}

/// The caller's `v` is not sent twice, and an `api_token` already in the URL
/// is replaced, never duplicated; other parameters keep their order.
#[tokio::test]
async fn v_once_and_api_token_replaced() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/api/account/login")
        .match_query(Matcher::Exact("v=1".into()))
        .with_body(token_body(TOKEN_A))
        .expect(1)
        .create_async()
        .await;
    let with_both = server
        .mock("GET", "/api/job/list")
        .match_query(Matcher::Exact(format!("v=1&job_id=42&api_token={TOKEN_A}")))
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let via_query = server
        .mock("GET", "/api/job/info")
        .match_query(Matcher::Exact(format!("v=1&job_id=7&api_token={TOKEN_A}")))
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let c = client(password_provider(&server));
    let mut url = c.provider().endpoint("api/job/list").unwrap();
    url.set_query(Some("v=1&job_id=42&api_token=stale"));
    let response = c.send(c.http().client().get(url)).await.unwrap();
    assert_eq!(response.status(), 200);
    c.get_json("api/job/info", &[("v", "1"), ("job_id", "7")])
        .await
        .unwrap();
    with_both.assert_async().await;
    via_query.assert_async().await;
}

/// `LoginMethod::PostJson`: `POST /api/account/login?v=1` with the JSON body
/// of cielo24-openapi's `LoginBody`, nothing secret in the URL or headers,
/// and the `api_token` reply field of its `LoginResponse`.
#[tokio::test]
async fn post_json_login_request_shape() {
    for secure in [false, true] {
        let mut server = Server::new_async().await;
        let body = if secure {
            serde_json::json!({"username": "john_doe", "securekey": KEY})
        } else {
            serde_json::json!({"username": "john_doe", "password": PW})
        };
        let login = server
            .mock("POST", "/api/account/login")
            .match_query(Matcher::Exact("v=1".into()))
            .match_header("content-type", "application/json")
            .match_header("x-auth-user", Matcher::Missing)
            .match_header("x-auth-password", Matcher::Missing)
            .match_header("x-auth-securekey", Matcher::Missing)
            .match_body(Matcher::Json(body))
            .match_request(url_is_clean)
            .with_header("content-type", "application/json")
            .with_body(format!("{{\"api_token\": \"{TOKEN_A}\"}}"))
            .expect(1)
            .create_async()
            .await;
        let call = server
            .mock("GET", "/api/job/list")
            .match_query(Matcher::Exact(format!("v=1&api_token={TOKEN_A}")))
            .with_body("{}")
            .expect(1)
            .create_async()
            .await;
        let builder = Cielo24Provider::builder()
            .username("john_doe")
            .base_url(url(&server))
            .login_method(LoginMethod::PostJson);
        let builder = if secure {
            builder.secure_key(SecretString::from(KEY))
        } else {
            builder.password(SecretString::from(PW))
        };
        let c = client(builder.build().unwrap());
        c.get_json("api/job/list", &[]).await.unwrap();
        login.assert_async().await;
        call.assert_async().await;
    }
}
