//! Exact request shapes and documented replies for the session limits, the
//! event feed and `core/logout`, against mockito.

use std::collections::HashMap;

use auth_core::{Authenticated, BackoffPolicy};
use mockito::{Matcher, ServerGuard};
use serde_json::{Value, json};
use wialon_token::WialonClientExt;
use wialon_token::{WialonClient, WialonError, WialonErrorCode, WialonProvider};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789ABCDEF0123456789abcdef01234567";
const EID: &str = "c0ffee00c0ffee00c0ffee00c0ffee01";

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn client(server: &ServerGuard) -> WialonClient {
    let provider = WialonProvider::builder()
        .token(TOKEN)
        .host(server.url())
        .build()
        .unwrap();
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

async fn login(server: &mut ServerGuard) -> mockito::Mock {
    server
        .mock("POST", "/wialon/ajax.html")
        .match_request(|req| {
            form(req.body().unwrap()).get("svc").map(String::as_str) == Some("token/login")
        })
        .with_header("content-type", "application/json")
        .with_body(json!({"eid": EID, "au": "demo", "tm": 1_700_000_000}).to_string())
        .create_async()
        .await
}

fn svc_is(svc: &'static str) -> impl Fn(&mockito::Request) -> bool + Send + Sync {
    move |req| form(req.body().unwrap()).get("svc").map(String::as_str) == Some(svc)
}

/// help.wialon.com, core/logout: 0 logged out, 1 "server connection error",
/// 4 "non-authorized user". 1 and 4 mean the session is gone: logout
/// succeeded; any other code is an error.
#[tokio::test]
async fn logout_accepts_every_documented_answer_that_means_gone() {
    for (body, ok) in [
        ("{\"error\":0}", true),
        ("{\"error\":1}", true),
        ("{\"error\":4}", true),
        ("{\"error\":5}", false),
    ] {
        let mut server = mockito::Server::new_async().await;
        login(&mut server).await;
        let c = client(&server);
        c.session().await.unwrap();
        let m = server
            .mock("POST", "/wialon/ajax.html")
            .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
            .match_request(svc_is("core/logout"))
            .with_header("content-type", "application/json")
            .with_body(body)
            .create_async()
            .await;
        let result = c.logout().await;
        m.assert_async().await;
        if ok {
            result.unwrap();
        } else {
            let err = result.unwrap_err();
            assert_eq!(
                err.provider_error::<WialonError>().unwrap().code,
                WialonErrorCode::RequestFailed
            );
        }
    }
}

/// The documented codes added since the seed parse to their variants.
#[tokio::test]
async fn documented_codes_reach_the_caller_typed() {
    for (code, expected) in [
        (-100, WialonErrorCode::InternalNetworkTimeout),
        (-101, WialonErrorCode::InternalBadNetworkResponse),
        (11, WialonErrorCode::PasswordResetError),
        (12, WialonErrorCode::AgroNotLoaded),
        (14, WialonErrorCode::BillingError),
        (2006, WialonErrorCode::UnitTransferImpossible),
        (2008, WialonErrorCode::NoUnitAccessAfterTransfer),
    ] {
        let mut server = mockito::Server::new_async().await;
        login(&mut server).await;
        let c = client(&server);
        server
            .mock("POST", "/wialon/ajax.html")
            .match_query(Matcher::Any)
            .match_request(svc_is("core/get_hw_types"))
            .with_header("content-type", "application/json")
            .with_body(json!({ "error": code }).to_string())
            .create_async()
            .await;
        let err = c
            .call::<Value>("core/get_hw_types", &json!({}))
            .await
            .unwrap_err();
        let typed = err
            .provider_error::<WialonError>()
            .unwrap_or_else(|| panic!("{code}: {err:?}"));
        assert_eq!(typed.code, expected);
        assert_eq!(typed.code.code(), code);
        assert_eq!(err.is_retryable(), code < 0, "{code}");
    }
}

/// A refusal by a per-session limit (1003, 10) is retried: the same request,
/// at most 3 times more by default, then the refusal is returned.
#[tokio::test]
async fn limit_refusals_are_retried_a_bounded_number_of_times() {
    for body in [
        "{\"error\":1003,\"reason\":\"LIMIT api_concurrent\"}",
        "{\"error\":10}",
    ] {
        let mut server = mockito::Server::new_async().await;
        login(&mut server).await;
        let c = client(&server);
        let refused = server
            .mock("POST", "/wialon/ajax.html")
            .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
            .match_header("content-type", "application/x-www-form-urlencoded")
            .match_request(|req| {
                let f = form(req.body().unwrap());
                f.len() == 2
                    && f.get("svc").map(String::as_str) == Some("core/search_items")
                    && f.get("params").map(String::as_str) == Some("{\"force\":1}")
            })
            .with_header("content-type", "application/json")
            .with_body(body)
            .expect(4)
            .create_async()
            .await;
        let started = std::time::Instant::now();
        let err = c
            .call::<Value>("core/search_items", &json!({"force": 1}))
            .await
            .unwrap_err();
        refused.assert_async().await;
        assert!(err.provider_error::<WialonError>().unwrap().is_retryable());
        // 3 waits of at least 50, 100 and 200 ms.
        assert!(started.elapsed() >= std::time::Duration::from_millis(350));
    }
}

/// Other errors are not retried.
#[tokio::test]
async fn other_errors_are_not_retried() {
    let mut server = mockito::Server::new_async().await;
    login(&mut server).await;
    let c = client(&server);
    let m = server
        .mock("POST", "/wialon/ajax.html")
        .match_query(Matcher::Any)
        .match_request(svc_is("core/search_items"))
        .with_header("content-type", "application/json")
        .with_body("{\"error\":9}")
        .expect(1)
        .create_async()
        .await;
    c.call::<Value>("core/search_items", &json!({}))
        .await
        .unwrap_err();
    m.assert_async().await;
}

/// `poll_events_once`: POST {host}/avl_evts?sid=<eid>, form Content-Type,
/// empty body; the reply's events are parsed, unknown fields kept.
#[tokio::test]
async fn poll_events_once_request_and_reply() {
    let mut server = mockito::Server::new_async().await;
    login(&mut server).await;
    let c = client(&server);
    let m = server
        .mock("POST", "/avl_evts")
        .match_query(Matcher::UrlEncoded("sid".into(), EID.into()))
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body("")
        .with_header("content-type", "application/json")
        .with_body(
            json!({"tm": 1_700_000_123, "events": [
                {"i": 734455, "t": "m", "d": {"tm": 1_700_000_100}},
                {"i": 12, "t": "d"}
            ], "units_update": {}})
            .to_string(),
        )
        .create_async()
        .await;
    let batch = wialon_token::poll_events_once(&c).await.unwrap();
    m.assert_async().await;
    assert_eq!(batch.server_time, 1_700_000_123);
    assert_eq!(batch.events.len(), 2);
    assert_eq!(batch.events[0].item_id, 734455);
    assert_eq!(batch.events[0].kind, "m");
    assert_eq!(batch.events[0].data["tm"], 1_700_000_100);
    assert_eq!(batch.events[1].kind, "d");
    assert!(batch.events[1].data.is_null());
    assert!(batch.extra.contains_key("units_update"));
}
