//! Exact request shapes and error mapping, against mockito.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, LockoutRule};
use electa_auth::{
    ElectaClient, ElectaClientExt, ElectaError, ElectaErrorKind, ElectaProvider, LOCKOUT_WINDOW,
    Method, RejectionRules,
};
use mockito::{Matcher, Server};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

const KEY: &str = "UO86CN11XY73SF72TT40PG18ZE76VV71";
const TOKEN: &str = "TK0123456789abcdefTK0123456789ab";

fn api_url(server: &Server) -> Url {
    Url::parse(&format!("{}/apps/api", server.url())).unwrap()
}

fn provider(server: &Server, method: Method) -> ElectaProvider {
    ElectaProvider::builder()
        .api_url(api_url(server))
        .cid(123456)
        .app_key(SecretString::from(KEY))
        .method(method)
        .build()
        .unwrap()
}

fn client(p: ElectaProvider) -> ElectaClient {
    Authenticated::builder(p)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

fn ok_doc(data: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><ResponseCode>0</ResponseCode><ResponseData>{data}</ResponseData></Response>"
    )
}

fn err_doc(code: i64, text: &str) -> String {
    format!(
        "<Response><ResponseCode>{code}</ResponseCode><ResponseData>{text}</ResponseData></Response>"
    )
}

#[tokio::test]
async fn post_is_the_default_and_keeps_the_key_out_of_the_url() {
    let mut server = Server::new_async().await;
    let token = server
        .mock("POST", "/apps/api/token/")
        .match_query(Matcher::Missing)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded("CID".into(), "123456".into()),
            Matcher::UrlEncoded("AppKey".into(), KEY.into()),
        ]))
        .match_request(|req| !req.path_and_query().contains(KEY))
        .with_header("content-type", "text/xml")
        .with_body(ok_doc(TOKEN))
        .expect(1)
        .create_async()
        .await;
    let p = ElectaProvider::builder()
        .api_url(api_url(&server))
        .cid(123456)
        .app_key(SecretString::from(KEY))
        .build()
        .unwrap();
    let c = client(p);
    let s = c.session().await.unwrap();
    assert!(!format!("{s:?} {c:?}").contains(TOKEN));
    assert!(!format!("{c:?}").contains(KEY));
    token.assert_async().await;
}

#[tokio::test]
async fn get_sends_query_parameters() {
    let mut server = Server::new_async().await;
    let token = server
        .mock("GET", "/apps/api/token/")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("CID".into(), "123456".into()),
            Matcher::UrlEncoded("AppKey".into(), KEY.into()),
        ]))
        .with_body(ok_doc(TOKEN))
        .expect(1)
        .create_async()
        .await;
    client(provider(&server, Method::Get))
        .session()
        .await
        .unwrap();
    token.assert_async().await;
}

#[tokio::test]
async fn later_calls_carry_the_token_under_the_configured_name() {
    for (name, builder_name) in [("token", None), ("Token", Some("Token"))] {
        let mut server = Server::new_async().await;
        server
            .mock("POST", "/apps/api/token/")
            .with_body(ok_doc(TOKEN))
            .create_async()
            .await;
        let list = server
            .mock("GET", "/apps/api/users/list/")
            .match_query(Matcher::AllOf(vec![
                Matcher::UrlEncoded(name.into(), TOKEN.into()),
                Matcher::UrlEncoded("page".into(), "2".into()),
            ]))
            .with_body(ok_doc("<Users/>"))
            .expect(1)
            .create_async()
            .await;
        let mut b = ElectaProvider::builder()
            .api_url(Url::parse(&format!("{}/apps/api/", server.url())).unwrap())
            .cid(123456)
            .app_key(SecretString::from(KEY));
        if let Some(n) = builder_name {
            b = b.token_param(n);
        }
        let c = client(b.build().unwrap());
        let reply = c.call("/users/list/", &[("page", "2")]).await.unwrap();
        assert_eq!(reply.code, 0);
        list.assert_async().await;
    }
}

#[tokio::test]
async fn login_error_mapping() {
    type Check = fn(&AuthError) -> bool;
    let cases: Vec<(usize, String, Check)> = vec![
        (200, err_doc(1, "Invalid Account or Application Key"), |e| {
            e.is_invalid_credentials()
                && e.provider_error::<ElectaError>().unwrap().kind
                    == ElectaErrorKind::InvalidCredentials
        }),
        (
            200,
            err_doc(-7, "API Access Locked"),
            |e| matches!(e, AuthError::LockedOut { retry_after, .. } if *retry_after == LOCKOUT_WINDOW),
        ),
        (200, err_doc(9, "Service temporarily unavailable"), |e| {
            matches!(e, AuthError::Api { code, message, .. } if code == "9" && message == "Service temporarily unavailable")
                && e.provider_error::<ElectaError>().unwrap().kind == ElectaErrorKind::Other
        }),
        (
            200,
            "ResponseCode,ResponseData\r\n0,TOKENTOKEN\r\n0,OTHERTOKEN\r\n".into(),
            |e| matches!(e, AuthError::UnexpectedResponse { detail, .. } if detail.contains("CSV") && !detail.contains("TOKENTOKEN")),
        ),
        (
            200,
            "1,Invalid Account or Application Key\r\n".into(),
            |e| e.is_invalid_credentials(),
        ),
        (
            200,
            "9,\"Busy, try later\"".into(),
            |e| matches!(e, AuthError::Api { code, message, .. } if code == "9" && message == "Busy, try later"),
        ),
        (
            200,
            "<Response><ResponseCode>0</ResponseCode><ResponseData>abc".into(),
            |e| matches!(e, AuthError::UnexpectedResponse { detail, .. } if detail.contains("malformed XML") || detail.contains("incomplete")),
        ),
        (
            200,
            "<Response><Status>ok</Status><ResponseData>abc</ResponseData></Response>".into(),
            |e| matches!(e, AuthError::UnexpectedResponse { detail, .. } if detail.contains("response code")),
        ),
        (
            200,
            ok_doc(""),
            |e| matches!(e, AuthError::UnexpectedResponse { detail, .. } if detail.contains("no usable token")),
        ),
        (
            200,
            "<html><body>Login</body></html>".into(),
            |e| matches!(e, AuthError::UnexpectedResponse { detail, .. } if detail.contains("HTML")),
        ),
        (500, "boom".into(), |e| e.is_retryable()),
        (429, "slow down".into(), |e| {
            matches!(e, AuthError::Throttled { .. })
        }),
    ];
    for (status, body, check) in cases {
        let mut server = Server::new_async().await;
        server
            .mock("POST", "/apps/api/token/")
            .with_status(status)
            .with_body(&body)
            .create_async()
            .await;
        let err = client(provider(&server, Method::Post))
            .session()
            .await
            .unwrap_err();
        assert!(check(&err), "{status} {body}: {err:?}");
        assert!(!format!("{err} {err:?}").contains(KEY));
    }
}

#[tokio::test]
async fn the_server_text_is_redacted_if_it_echoes_the_key() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/apps/api/token/")
        .with_body(err_doc(
            1,
            &format!("Invalid Account or Application Key {KEY}"),
        ))
        .create_async()
        .await;
    let err = client(provider(&server, Method::Post))
        .session()
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
}

#[tokio::test]
async fn a_server_lockout_stops_further_logins() {
    let mut server = Server::new_async().await;
    let token = server
        .mock("POST", "/apps/api/token/")
        .with_body(err_doc(3, "API access is locked"))
        .expect(1)
        .create_async()
        .await;
    let c = client(provider(&server, Method::Post));
    for _ in 0..10 {
        let err = c.session().await.unwrap_err();
        assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
    }
    token.assert_async().await;
}

#[tokio::test]
async fn lockout_rule_defaults_and_cannot_be_loosened() {
    let server = Server::new_async().await;
    let p = provider(&server, Method::Post);
    assert_eq!(
        auth_core::Provider::lockout_rule(&p),
        Some(LockoutRule::new(4, Duration::from_secs(900)))
    );
    let err = Authenticated::builder(p.clone())
        .lockout_rule(None)
        .build()
        .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)));
    let looser = LockoutRule::new(5, Duration::from_secs(900));
    assert!(
        Authenticated::builder(p)
            .lockout_rule(Some(looser))
            .build()
            .is_err()
    );
}

#[test]
fn builder_validation() {
    let url = || Url::parse("https://live.example.com/apps/api").unwrap();
    let ok = || {
        ElectaProvider::builder()
            .api_url(url())
            .cid(1)
            .app_key(SecretString::from(KEY))
    };
    let p = ok().build().unwrap();
    assert_eq!(
        p.token_url().as_str(),
        "https://live.example.com/apps/api/token/"
    );
    assert!(!format!("{p:?} {:?}", ok()).contains(KEY));
    assert!(!auth_core::Provider::cache_key(&p).contains(KEY));

    assert!(
        ElectaProvider::builder()
            .cid(1)
            .app_key(SecretString::from(KEY))
            .build()
            .is_err(),
        "URL required"
    );
    assert!(
        ElectaProvider::builder()
            .api_url(url())
            .app_key(SecretString::from(KEY))
            .build()
            .is_err(),
        "CID required"
    );
    assert!(
        ElectaProvider::builder()
            .api_url(url())
            .cid(1)
            .build()
            .is_err(),
        "key required"
    );
    assert!(ok().cid(0).build().is_err());
    for bad in [
        "short",
        "UO86CN11XY73SF72TT40PG18ZE76VV711",
        "UO86CN11XY73SF72TT40PG18ZE76VV7!",
    ] {
        let err = ok().app_key(SecretString::from(bad)).build().unwrap_err();
        assert!(!err.to_string().contains(bad), "{err}");
    }
    // HTTPS is enforced except for loopback: plain http to a remote host is
    // refused when the client is built, unless the client's HttpSettings
    // (the one switch for every provider) allow it.
    let plain = Url::parse("http://live.example.com/apps/api").unwrap();
    let remote = ok().api_url(plain).build().unwrap();
    assert!(matches!(
        remote.clone().into_client(),
        Err(AuthError::Config(_))
    ));
    let allow = electa_auth::HttpSettings::default().allow_insecure_http(true);
    assert!(
        Authenticated::builder(remote)
            .http_settings(allow)
            .build()
            .is_ok()
    );
    assert!(
        ok().api_url(Url::parse("http://127.0.0.1:1/apps/api").unwrap())
            .build()
            .is_ok()
    );
    // The client rule stays below Electa's 5.
    assert!(
        ok().lockout_rule(5, Duration::from_secs(900))
            .build()
            .is_err()
    );
    assert!(
        ok().lockout_rule(0, Duration::from_secs(900))
            .build()
            .is_err()
    );
    assert!(ok().lockout_rule(3, Duration::ZERO).build().is_err());
    assert!(
        ok().lockout_rule(3, Duration::from_secs(60))
            .build()
            .is_ok()
    );
    assert!(ok().token_param("").build().is_err());
    assert!(ok().token_lifetime(Duration::ZERO).build().is_err());
}

#[tokio::test]
async fn the_token_request_asks_for_xml_by_post_and_get() {
    let mut server = Server::new_async().await;
    let post = server
        .mock("POST", "/apps/api/token/")
        .match_query(Matcher::Missing)
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded("CID".into(), "123456".into()),
            Matcher::UrlEncoded("Result".into(), "xml".into()),
        ]))
        .with_body(ok_doc(TOKEN))
        .expect(1)
        .create_async()
        .await;
    let get = server
        .mock("GET", "/apps/api/token/")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("CID".into(), "123456".into()),
            Matcher::UrlEncoded("Result".into(), "xml".into()),
        ]))
        .with_body(ok_doc(TOKEN))
        .expect(1)
        .create_async()
        .await;
    for method in [Method::Post, Method::Get] {
        client(provider(&server, method)).session().await.unwrap();
    }
    post.assert_async().await;
    get.assert_async().await;
}

#[tokio::test]
async fn a_csv_token_reply_is_understood() {
    for body in [
        format!("0,{TOKEN}"),
        format!("0,{TOKEN}\r\n"),
        format!("ResponseCode,ResponseData\r\n0,{TOKEN}\r\n"),
        format!("\u{feff}0,\"{TOKEN}\"\n"),
    ] {
        let mut server = Server::new_async().await;
        server
            .mock("POST", "/apps/api/token/")
            .with_header("content-type", "text/csv")
            .with_body(&body)
            .create_async()
            .await;
        let list = server
            .mock("GET", "/apps/api/users/list/")
            .match_query(Matcher::UrlEncoded("token".into(), TOKEN.into()))
            .with_body(ok_doc("<Users/>"))
            .expect(1)
            .create_async()
            .await;
        let c = client(provider(&server, Method::Post));
        let session = c.session().await.unwrap();
        assert_eq!(session.token().expose_secret(), TOKEN, "{body:?}");
        c.call("users/list/", &[]).await.unwrap();
        list.assert_async().await;
    }
}

#[test]
fn rejection_rules_and_the_speculative_interval_are_validated() {
    let server_url = Url::parse("https://live.example.com/apps/api").unwrap();
    let builder = || {
        ElectaProvider::builder()
            .api_url(server_url.clone())
            .cid(1)
            .app_key(SecretString::from(KEY))
    };
    for pattern in ["", "   "] {
        let rules = RejectionRules {
            rejected_patterns: vec![pattern.into()],
            ..RejectionRules::default()
        };
        let err = builder().rejection_rules(rules).build().unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    }
    let rules = RejectionRules {
        rejected_codes: vec![0],
        ..RejectionRules::default()
    };
    assert!(builder().rejection_rules(rules).build().is_err());
    let err = Authenticated::builder(builder().build().unwrap())
        .speculative_relogin_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    assert_eq!(
        RejectionRules::default().rejected_patterns,
        vec!["Invalid Account or Application Key".to_owned()]
    );
}
