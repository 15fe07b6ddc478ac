//! Exact request shapes and reply handling, against mockito.

use std::collections::HashMap;
use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, Expiry};
use chrono::{TimeZone, Utc};
use mockito::{Matcher, Mock, ServerGuard};
use secrecy::SecretString;
use serde_json::{Value, json};
use wialon_token::WialonClientExt;
use wialon_token::{
    LoginFlags, TokenParams, WialonClient, WialonError, WialonErrorCode, WialonProvider,
    token_access,
};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789ABCDEF0123456789abcdef01234567";
const EID: &str = "c0ffee00c0ffee00c0ffee00c0ffee01";

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn query(path_and_query: &str) -> HashMap<String, String> {
    let q = path_and_query.split_once('?').map_or("", |(_, q)| q);
    form(q.as_bytes())
}

/// The full login reply of the seed, with an extra unknown field.
fn full_reply() -> Value {
    json!({
        "eid": EID,
        "gis_sid": "9a8b7c6d5e4f",
        "host": "86.57.1.1",
        "hw_gw_ip": "193.193.165.165",
        "au": "demo",
        "pi": 2,
        "tm": 1_700_000_000,
        "wsdk_version": "1.50",
        "user": {
            "nm": "operator", "cls": 1, "id": 123,
            "prp": {"dst": "-1", "language": "en", "tz": "10800", "us_units": "0"},
            "crt": 11, "bact": 22, "fl": 1, "hm": "", "uacl": -1, "mu": 0,
            "ct": 1_500_000_000, "ftp": {}, "ld": 1_699_999_000, "pfl": 0,
            "ap": {"type": 0, "phone": ""}, "mapps": {}, "mappsmax": -1
        },
        "classes": {"avl_hw": 5, "avl_resource": 3, "avl_unit": 2, "user": 1},
        "features": {"unlim": 0, "svcs": {"reports": 1, "create_units": 0}},
        "token": "{\"app\":\"Wialon Hosting\",\"ct\":1600000000,\"at\":1600000100,\"dur\":2592000,\"fl\":-1,\"p\":\"{\\\"k\\\":1}\",\"items\":[1,2]}",
        "video_service_url": "https://video.example",
        "brand_new_field": {"a": [1, 2]}
    })
}

fn provider(server: &ServerGuard) -> wialon_token::WialonBuilder {
    WialonProvider::builder().token(TOKEN).host(server.url())
}

fn client(provider: WialonProvider) -> WialonClient {
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

/// A login mock answering `body`, checking the request shape.
async fn login_mock(server: &mut ServerGuard, expect_params: Value, body: &str) -> Mock {
    server
        .mock("POST", "/wialon/ajax.html")
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_query(Matcher::Missing)
        .match_request(move |req| {
            let f = form(req.body().unwrap());
            f.len() == 2
                && f.get("svc").map(String::as_str) == Some("token/login")
                && f.get("params")
                    .and_then(|p| serde_json::from_str::<Value>(p).ok())
                    .is_some_and(|p| p == expect_params)
        })
        .with_header("content-type", "application/json")
        .with_body(body)
        .create_async()
        .await
}

#[tokio::test]
async fn login_request_shape_and_default_flags() {
    let mut server = mockito::Server::new_async().await;
    let m = login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    let s = c.session().await.unwrap();
    m.assert_async().await;
    assert_eq!(
        s.expiry(),
        Expiry::Idle(Duration::from_secs(300)),
        "5 minutes idle by default"
    );
}

#[tokio::test]
async fn flags_and_operate_as_are_encoded() {
    let mut server = mockito::Server::new_async().await;
    let flags =
        LoginFlags::BASIC | LoginFlags::TOKEN | LoginFlags::URLS | LoginFlags::CUSTOM_PROPERTIES;
    assert_eq!(flags.bits(), 0x65);
    let m = login_mock(
        &mut server,
        json!({"token": TOKEN, "operateAs": "operator", "fl": 0x65}),
        &full_reply().to_string(),
    )
    .await;
    let c = client(
        provider(&server)
            .flags(flags)
            .operate_as("operator")
            .build()
            .unwrap(),
    );
    c.session().await.unwrap();
    m.assert_async().await;
    let all = LoginFlags::all();
    assert_eq!(all.bits(), 0x7f);
    assert_eq!(
        [
            LoginFlags::BASIC,
            LoginFlags::USER,
            LoginFlags::TOKEN,
            LoginFlags::ITEMS,
            LoginFlags::BILLING,
            LoginFlags::CUSTOM_PROPERTIES,
            LoginFlags::URLS
        ]
        .map(|f| f.bits()),
        [0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40]
    );
}

#[tokio::test]
async fn login_reply_is_typed_and_token_json_decoded() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    let s = c.session().await.unwrap();
    let info = s.data();
    assert_eq!(info.gis_sid.as_ref().unwrap().expose(), "9a8b7c6d5e4f");
    assert_eq!(info.host.as_deref(), Some("86.57.1.1"));
    assert_eq!(info.hw_gw_ip.as_deref(), Some("193.193.165.165"));
    assert_eq!(info.user_name.as_deref(), Some("demo"));
    assert_eq!(info.ping_interval, Some(2));
    assert_eq!(
        info.server_time,
        Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
    );
    assert_eq!(info.wsdk_version.as_deref(), Some("1.50"));
    let user = info.user.as_ref().unwrap();
    assert_eq!(
        (user.name.as_str(), user.id, user.class),
        ("operator", 123, Some(1))
    );
    assert_eq!(user.property("language"), Some("en"));
    assert_eq!(user.properties.len(), 4);
    assert_eq!(
        (user.creator, user.account, user.flags, user.access),
        (Some(11), Some(22), Some(1), Some(-1))
    );
    assert_eq!(
        user.created,
        Some(Utc.timestamp_opt(1_500_000_000, 0).unwrap())
    );
    assert_eq!(
        user.last_login,
        Some(Utc.timestamp_opt(1_699_999_000, 0).unwrap())
    );
    assert!(user.extra.contains_key("mapps") && user.extra.contains_key("ap"));
    assert_eq!(info.classes["avl_unit"], 2);
    let features = info.features.as_ref().unwrap();
    assert!(!features.unlim);
    assert!(features.services["reports"]);
    assert!(!features.services["create_units"]);
    let token = info.token.as_ref().expect("escaped token JSON decoded");
    assert_eq!(token.app, "Wialon Hosting");
    assert_eq!(
        token.created,
        Some(Utc.timestamp_opt(1_600_000_000, 0).unwrap())
    );
    assert_eq!(
        token.activated,
        Some(Utc.timestamp_opt(1_600_000_100, 0).unwrap())
    );
    assert_eq!(token.duration, Some(Duration::from_secs(2_592_000)));
    assert_eq!(token.access_flags, -1);
    assert_eq!(token.params, "{\"k\":1}");
    assert_eq!(token.items, vec![1, 2]);
    assert_eq!(
        token.expires_at(),
        Some(Utc.timestamp_opt(1_602_592_100, 0).unwrap())
    );
    // Unknown fields are kept; the session id is not.
    assert_eq!(info.extra["brand_new_field"], json!({"a": [1, 2]}));
    assert!(info.extra.contains_key("video_service_url"));
    assert!(!info.extra.contains_key("eid"));
}

#[tokio::test]
async fn minimal_reply_is_fine_and_bad_token_json_is_typed() {
    let mut server = mockito::Server::new_async().await;
    let m = login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &json!({"eid": EID}).to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    let s = c.session().await.unwrap();
    assert!(s.data().user.is_none() && s.data().token.is_none() && s.data().features.is_none());
    m.remove_async().await;

    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &json!({"eid": EID, "token": "{\"app\": tru"}).to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    let err = c.session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::UnexpectedResponse { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("escaped JSON"), "{err}");
    assert!(!format!("{err:?}{err}").contains(EID));
}

#[tokio::test]
async fn every_login_error_code_is_typed_and_classified() {
    // (code, invalid credentials?, retryable?, expected variant)
    let cases = [
        (1, false, false, WialonErrorCode::InvalidSession),
        (2, false, false, WialonErrorCode::InvalidService),
        (3, false, false, WialonErrorCode::InvalidResult),
        (4, true, false, WialonErrorCode::InvalidInput),
        (5, false, false, WialonErrorCode::RequestFailed),
        (6, false, false, WialonErrorCode::Unknown),
        (7, true, false, WialonErrorCode::AccessDenied),
        (8, true, false, WialonErrorCode::InvalidCredentials),
        (9, false, true, WialonErrorCode::AuthServerUnavailable),
        (10, false, true, WialonErrorCode::ConcurrentRequestLimit),
        (1001, false, false, WialonErrorCode::NoMessages),
        (1002, false, false, WialonErrorCode::ItemExists),
        (1003, false, true, WialonErrorCode::OneRequestAtATime),
        (1004, false, false, WialonErrorCode::MessageLimit),
        (1005, false, false, WialonErrorCode::ExecutionTimeLimit),
        (1006, false, false, WialonErrorCode::TwoFactorAttempts),
        (
            1011,
            false,
            false,
            WialonErrorCode::IpChangedOrSessionExpired,
        ),
        (2014, false, false, WialonErrorCode::CreatorCannotBeBound),
        (2015, false, false, WialonErrorCode::SensorInUse),
        (4242, false, false, WialonErrorCode::Other(4242)),
    ];
    for (code, invalid, retryable, variant) in cases {
        let mut server = mockito::Server::new_async().await;
        let body = if code == 1003 {
            json!({"error": code, "reason": "LIMIT api_concurrent"})
        } else {
            json!({ "error": code })
        };
        server
            .mock("POST", "/wialon/ajax.html")
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
            .create_async()
            .await;
        let c = client(provider(&server).build().unwrap());
        let err = c.session().await.unwrap_err();
        let typed = err
            .provider_error::<WialonError>()
            .unwrap_or_else(|| panic!("{code}: {err:?}"));
        assert_eq!(typed.code, variant, "{code}");
        assert_eq!(typed.code.code(), code);
        assert_eq!(err.is_invalid_credentials(), invalid, "{code}: {err:?}");
        assert_eq!(err.is_retryable(), retryable, "{code}: {err:?}");
        assert_eq!(typed.needs_login(), code == 1 || code == 1011, "{code}");
        match &err {
            AuthError::InvalidCredentials { .. } => assert!(invalid),
            AuthError::Api { code: c, .. } => assert_eq!(c, &code.to_string()),
            other => panic!("{code}: {other:?}"),
        }
        if code == 1003 {
            assert_eq!(typed.reason.as_deref(), Some("LIMIT api_concurrent"));
            assert!(err.to_string().contains("LIMIT api_concurrent"), "{err}");
        }
        assert!(!format!("{err:?}{err}").contains(TOKEN));
    }
}

#[tokio::test]
async fn bad_server_input_is_a_typed_error() {
    let bodies: [(u16, &str, &str); 6] = [
        (200, "application/json", "{\"eid\": "),
        (200, "application/json", "[1,2,3]"),
        (200, "application/json", "{\"au\": \"x\"}"),
        (502, "text/html", "<html><body>Bad gateway</body></html>"),
        (
            200,
            "application/json",
            "{\"eid\": \"x\", \"tm\": \"soon\"}",
        ),
        (200, "application/json", ""),
    ];
    for (status, ct, body) in bodies {
        let mut server = mockito::Server::new_async().await;
        server
            .mock("POST", "/wialon/ajax.html")
            .with_status(status as usize)
            .with_header("content-type", ct)
            .with_body(body)
            .create_async()
            .await;
        let c = client(provider(&server).build().unwrap());
        let err = c.session().await.unwrap_err();
        assert!(
            matches!(err, AuthError::UnexpectedResponse { .. }),
            "{body}: {err:?}"
        );
    }
    // A reply echoing the token is redacted in the excerpt.
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/wialon/ajax.html")
        .with_status(500)
        .with_body(format!("internal error for token {TOKEN}"))
        .create_async()
        .await;
    let err = client(provider(&server).build().unwrap())
        .session()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
    assert!(!format!("{err:?}{err}").contains(TOKEN));
    // 429 is throttling.
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/wialon/ajax.html")
        .with_status(429)
        .with_header("retry-after", "7")
        .create_async()
        .await;
    let err = client(provider(&server).build().unwrap())
        .session()
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err:?}");
}

#[tokio::test]
async fn calls_carry_sid_and_form_params() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let m = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_request(|req| {
            let f = form(req.body().unwrap());
            f.get("svc").map(String::as_str) == Some("core/search_items")
                && f.get("params")
                    .and_then(|p| serde_json::from_str::<Value>(p).ok())
                    == Some(json!({"spec": {"itemsType": "avl_unit"}, "flags": 1}))
                && !f.contains_key("sid")
        })
        .with_header("content-type", "application/json")
        .with_body("{\"totalItemsCount\":1,\"items\":[{\"nm\":\"u\",\"id\":5}]}")
        .expect(2)
        .create_async()
        .await;
    let c = client(provider(&server).build().unwrap());
    let params = json!({"spec": {"itemsType": "avl_unit"}, "flags": 1});
    let v: Value = c.call("core/search_items", &params).await.unwrap();
    assert_eq!(v["totalItemsCount"], 1);
    #[derive(serde::Deserialize)]
    struct Found {
        #[serde(rename = "totalItemsCount")]
        total: u32,
    }
    let typed: Found = c.call("core/search_items", &params).await.unwrap();
    assert_eq!(typed.total, 1);
    m.assert_async().await;
}

#[tokio::test]
async fn call_errors_are_typed() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    for (body, code, retryable) in [
        ("{\"error\":7}", WialonErrorCode::AccessDenied, false),
        (
            "{\"error\":1003,\"reason\":\"busy\"}",
            WialonErrorCode::OneRequestAtATime,
            true,
        ),
        (
            "{\"error\":10}",
            WialonErrorCode::ConcurrentRequestLimit,
            true,
        ),
        ("{\"error\":4}", WialonErrorCode::InvalidInput, false),
    ] {
        let m = server
            .mock("POST", "/wialon/ajax.html")
            .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
            .with_header("content-type", "application/json")
            .with_body(body)
            .create_async()
            .await;
        let err = c
            .call::<Value>("core/search_items", &json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Api { .. }), "{err:?}");
        assert_eq!(err.provider_error::<WialonError>().unwrap().code, code);
        assert_eq!(err.is_retryable(), retryable);
        m.remove_async().await;
    }
    // {"error":0} is success; a large reply mentioning "error" is not a rejection.
    let big = json!({"items": [{"error": 1}], "pad": "x".repeat(4096)}).to_string();
    let m = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .with_body(big)
        .create_async()
        .await;
    let v: Value = c.call("core/search_items", &json!({})).await.unwrap();
    assert_eq!(v["items"][0]["error"], 1);
    m.remove_async().await;
    assert_eq!(c.stats().logins, 1);
    assert_eq!(c.stats().rejections, 0);
}

#[tokio::test]
async fn invalid_session_replies_log_in_again_once() {
    let mut server = mockito::Server::new_async().await;
    let login = login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await
    .expect(2);
    let rejected = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .with_header("content-type", "application/json")
        .with_body("{\"error\":1}")
        .expect(2)
        .create_async()
        .await;
    let c = client(provider(&server).build().unwrap());
    let err = c
        .call::<Value>("core/search_items", &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::SessionRejected { retried: true, .. }),
        "{err:?}"
    );
    login.assert_async().await;
    rejected.assert_async().await;
    assert_eq!(c.stats().relogins, 1);
}

#[tokio::test]
async fn logout_and_keep_alive_requests() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    let session = c.session().await.unwrap();

    // The keep-alive request: POST {host}/avl_evts?sid=<eid>, form body
    // sid=<eid>.
    use auth_core::Provider;
    let p = c.provider();
    let rb = p
        .keep_alive_request(c.http(), &session)
        .expect("Wialon has a keep-alive");
    let req = p.authorize(&session, rb).build().unwrap();
    assert_eq!(req.method(), "POST");
    assert_eq!(
        req.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(form(req.body().unwrap().as_bytes().unwrap())["sid"], EID);
    assert_eq!(req.url().path(), "/avl_evts");
    assert_eq!(
        query(&format!("?{}", req.url().query().unwrap()))["sid"],
        EID
    );

    let m = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_request(|req| {
            let f = form(req.body().unwrap());
            f.get("svc").map(String::as_str) == Some("core/logout")
                && f.get("params").map(String::as_str) == Some("{}")
        })
        .with_header("content-type", "application/json")
        .with_body("{\"error\":0}")
        .create_async()
        .await;
    c.logout().await.unwrap();
    m.assert_async().await;
    assert!(c.cached().is_none());
}

#[tokio::test]
async fn logout_errors() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    c.session().await.unwrap();
    // An already-dead session is fine.
    let m = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .with_body("{\"error\":1}")
        .create_async()
        .await;
    c.logout().await.unwrap();
    m.remove_async().await;
    c.session().await.unwrap();
    server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .with_body("{\"error\":6}")
        .create_async()
        .await;
    let err = c.logout().await.unwrap_err();
    assert_eq!(
        err.provider_error::<WialonError>().unwrap().code,
        WialonErrorCode::Unknown
    );
}

#[tokio::test]
async fn token_management_wire_format() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let new_token = "f".repeat(72);
    let record = json!({"h": new_token, "app": "sync", "ct": 1_700_000_000, "at": 1_700_000_000, "dur": 3600, "fl": 768, "p": "{}", "items": [7], "ll": 0, "ttl": 9});
    let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let create = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_request(move |req| {
            let f = form(req.body().unwrap());
            f.get("svc").map(String::as_str) == Some("token/update")
                && f.get("params").and_then(|p| serde_json::from_str::<Value>(p).ok())
                    == Some(json!({"callMode": "create", "app": "sync", "at": 1_800_000_000, "dur": 3600, "fl": 768, "p": "{}", "items": [7], "userId": 99}))
        })
        .with_body(record.to_string())
        .create_async()
        .await;
    let c = client(provider(&server).build().unwrap());
    let params = TokenParams::new(token_access::ONLINE_TRACKING | token_access::VIEW)
        .app("sync")
        .activate_at(at)
        .duration(Duration::from_secs(3600))
        .items([7])
        .user_id(99);
    let created = c.token_create(&params).await.unwrap();
    create.assert_async().await;
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&created.token),
        new_token
    );
    assert_eq!(created.info.app, "sync");
    assert_eq!(created.info.duration, Some(Duration::from_secs(3600)));
    assert_eq!(created.info.access_flags, 768);
    assert_eq!(created.last_login, None);
    assert_eq!(created.info.extra["ttl"], 9);
    assert!(!format!("{created:?}").contains(&new_token));

    let h = SecretString::from(new_token.clone());
    let nt = new_token.clone();
    let delete = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_request(move |req| {
            let f = form(req.body().unwrap());
            f.get("params")
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                == Some(json!({"callMode": "delete", "h": nt}))
        })
        .with_body("{}")
        .create_async()
        .await;
    c.token_delete(&h).await.unwrap();
    delete.assert_async().await;

    let nt = new_token.clone();
    let update = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_request(move |req| {
            let f = form(req.body().unwrap());
            f.get("params").and_then(|p| serde_json::from_str::<Value>(p).ok())
                == Some(json!({"callMode": "update", "h": nt, "app": "", "at": 0, "dur": 0, "fl": -1, "p": "{}", "items": []}))
        })
        .with_body("{\"error\":7}")
        .create_async()
        .await;
    let err = c
        .token_update(&h, &TokenParams::new(token_access::FULL))
        .await
        .unwrap_err();
    update.assert_async().await;
    assert_eq!(
        err.provider_error::<WialonError>().unwrap().code,
        WialonErrorCode::AccessDenied
    );

    // A token list reply of the wrong shape is an error that quotes nothing.
    server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_request(|req| {
            form(req.body().unwrap()).get("svc").map(String::as_str) == Some("token/list")
        })
        .with_body(format!("[{{\"h\": 5, \"app\": \"{new_token}\"}}]"))
        .create_async()
        .await;
    let err = c.token_list(None).await.unwrap_err();
    assert!(
        matches!(err, AuthError::UnexpectedResponse { .. }),
        "{err:?}"
    );
    assert!(!format!("{err:?}{err}").contains(&new_token));
}

#[test]
fn builder_validates() {
    let err = |b: wialon_token::WialonBuilder| b.build().unwrap_err();
    let e = err(WialonProvider::builder());
    assert!(matches!(e, AuthError::Config(_)), "{e:?}");
    let e = err(WialonProvider::builder().token("abc"));
    assert!(e.to_string().contains("72"), "{e}");
    assert!(!e.to_string().contains("abc"));
    let spaced = format!("{} ", &TOKEN[..71]);
    let e = err(WialonProvider::builder().token(spaced.clone()));
    assert!(!format!("{e:?}").contains(&spaced[..71]));
    // Plain http to a remote host: refused when the client is built.
    let remote = WialonProvider::builder()
        .token(TOKEN)
        .host("http://wialon.example.com")
        .build()
        .unwrap();
    let e = remote.into_client().unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
    assert!(
        err(WialonProvider::builder().token(TOKEN).host("not a url"))
            .to_string()
            .contains("host")
    );
    assert!(
        err(WialonProvider::builder()
            .token(TOKEN)
            .host("https://a.example/?x=1"))
        .to_string()
        .contains("query")
    );
    assert!(
        err(WialonProvider::builder()
            .token(TOKEN)
            .idle_timeout(Duration::from_millis(50)))
        .to_string()
        .contains("idle")
    );
    assert!(
        err(WialonProvider::builder().token(TOKEN).operate_as(" "))
            .to_string()
            .contains("operate_as")
    );

    let p = WialonProvider::builder().token(TOKEN).build().unwrap();
    assert_eq!(p.host().as_str(), "https://hst-api.wialon.com/");
    assert_eq!(
        p.ajax_url().as_str(),
        "https://hst-api.wialon.com/wialon/ajax.html"
    );
    assert_eq!(
        p.avl_evts_url().as_str(),
        "https://hst-api.wialon.com/avl_evts"
    );
    assert_eq!(p.flags(), LoginFlags::BASIC | LoginFlags::USER);
    for (host, expect) in [
        (
            wialon_token::WIALON_HOSTING_US,
            "https://hst-api.wialon.us/wialon/ajax.html",
        ),
        (
            wialon_token::WIALON_HOSTING_EU,
            "https://hst-api.wialon.eu/wialon/ajax.html",
        ),
        (
            wialon_token::WIALON_HOSTING_ORG,
            "https://hst-api.wialon.org/wialon/ajax.html",
        ),
        (
            "https://gps.example.com/local",
            "https://gps.example.com/local/wialon/ajax.html",
        ),
        (
            "https://gps.example.com:8443/",
            "https://gps.example.com:8443/wialon/ajax.html",
        ),
    ] {
        let p = WialonProvider::builder()
            .token(TOKEN)
            .host(host)
            .build()
            .unwrap();
        assert_eq!(p.ajax_url().as_str(), expect);
    }
    let p = WialonProvider::builder()
        .token(TOKEN)
        .host("http://wialon.lan")
        .build()
        .unwrap();
    assert_eq!(p.avl_evts_url().as_str(), "http://wialon.lan/avl_evts");
    // Cache keys differ by token, operateAs and flags, and never hold the token.
    use auth_core::Provider;
    let key = |b: wialon_token::WialonBuilder| b.build().unwrap().cache_key();
    let base = key(WialonProvider::builder().token(TOKEN));
    assert!(!base.contains(TOKEN) && !base.contains(&TOKEN[..16]));
    assert_ne!(base, key(WialonProvider::builder().token("x".repeat(72))));
    assert_ne!(
        base,
        key(WialonProvider::builder().token(TOKEN).operate_as("op"))
    );
    assert_ne!(
        base,
        key(WialonProvider::builder()
            .token(TOKEN)
            .flags(LoginFlags::all()))
    );
    assert_eq!(base, key(WialonProvider::builder().token(TOKEN)));
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let mut server = mockito::Server::new_async().await;
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &full_reply().to_string(),
    )
    .await;
    let builder = provider(&server);
    assert!(!format!("{builder:?}").contains(TOKEN));
    let p = builder.build().unwrap();
    assert!(!format!("{p:?}").contains(TOKEN));
    let c = client(p);
    let s = c.session().await.unwrap();
    for text in [
        format!("{s:?}"),
        format!("{c:?}"),
        format!("{:?}", s.data()),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains(EID), "{text}");
        assert!(!text.contains("9a8b7c6d5e4f"), "gis_sid: {text}");
    }
}

/// help.wialon.com's "Login and logout" example: the token settings inside
/// `user` (not at the top level) and the token itself echoed as `user.th`.
#[tokio::test]
async fn the_echoed_token_is_dropped_and_token_settings_are_read_from_user() {
    let mut server = mockito::Server::new_async().await;
    let mut reply = full_reply();
    let settings = reply["token"].take();
    reply.as_object_mut().unwrap().remove("token");
    reply["user"]["token"] = settings;
    reply["user"]["th"] = json!(TOKEN);
    reply["echo"] = json!({"nested": [format!("prefix {TOKEN}"), "kept"], "sid": EID});
    login_mock(
        &mut server,
        json!({"token": TOKEN, "fl": 3}),
        &reply.to_string(),
    )
    .await;
    let c = client(provider(&server).build().unwrap());
    let session = c.session().await.unwrap();
    let info = session.data();
    let token = info.token.as_ref().expect("token settings read from user");
    assert_eq!(token.app, "Wialon Hosting");
    let user = info.user.as_ref().unwrap();
    assert!(!user.extra.contains_key("th"), "{:?}", user.extra);
    assert!(!user.extra.contains_key("token"));
    assert_eq!(info.extra["echo"], json!({"nested": ["kept"]}));
    for (what, text) in [
        ("Debug of the session", format!("{session:?}")),
        ("Debug of the client", format!("{c:?}")),
        (
            "the data a store keeps",
            serde_json::to_string(info).unwrap(),
        ),
    ] {
        assert!(!text.contains(TOKEN), "{what} holds the token: {text}");
        assert!(!text.contains(EID), "{what} holds the session id: {text}");
    }
}
