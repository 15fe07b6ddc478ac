//! electa-auth against the auth-sim Electa simulator.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, Expiry};
use auth_sim::Fault;
use auth_sim::electa::{
    DEMO_APP_KEY, DEMO_CID, ElectaSim, ElectaSimConfig, INVALID_CREDENTIALS_TEXT, ReplyMode,
    XmlFormat,
};
use electa_auth::{
    ElectaBuilder, ElectaClient, ElectaClientExt, ElectaError, ElectaErrorKind, ElectaProvider,
    Method, RejectionRules,
};
use secrecy::{ExposeSecret, SecretString};

const WRONG_KEY: &str = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";

fn builder(sim: &ElectaSim, key: &str) -> ElectaBuilder {
    ElectaProvider::builder()
        .api_url(sim.base_url().clone())
        .cid(DEMO_CID)
        .app_key(SecretString::from(key))
}

fn client(provider: ElectaProvider) -> ElectaClient {
    // The simulated lifetimes are far below the 5 s default floor.
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .min_login_interval(Duration::ZERO)
        .build()
        .unwrap()
}

fn cid() -> String {
    DEMO_CID.to_string()
}

async fn sim() -> ElectaSim {
    ElectaSim::start(ElectaSimConfig::default()).await.unwrap()
}

#[tokio::test]
async fn logs_in_by_post_and_get_and_calls_with_the_token() {
    let sim = sim().await;
    for method in [Method::Post, Method::Get] {
        let c = client(builder(&sim, DEMO_APP_KEY).method(method).build().unwrap());
        let session = c.session().await.unwrap();
        assert_eq!(session.token().expose_secret().len(), 32);
        assert_eq!(
            session.expiry(),
            Expiry::AfterIssue(Duration::from_secs(1200))
        );
        assert_eq!(session.data().cid, DEMO_CID);
        let reply = c.call("users/list/", &[]).await.unwrap();
        assert_eq!(reply.code, 0);
        assert!(reply.data.contains("teacher1"), "{}", reply.data);
    }
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(sim.counters().calls(&cid()), 2);
}

#[tokio::test]
async fn every_client_uses_the_short_refresh_margin() {
    let sim = sim().await;
    let p = builder(&sim, DEMO_APP_KEY).build().unwrap();
    // However the client is built, the provider's margin applies (on the
    // old main `Authenticated::new` dropped it for the 60 s default).
    let built = Authenticated::new(p.clone()).unwrap();
    assert_eq!(built.refresh_policy().margin, Duration::from_secs(120));
    let c = p.into_client().unwrap();
    assert_eq!(c.refresh_policy().margin, Duration::from_secs(120));
    let s = c.session().await.unwrap();
    let left = s.expires_in().unwrap();
    assert!(
        left > Duration::from_secs(1190) && left <= Duration::from_secs(1200),
        "{left:?}"
    );
}

#[tokio::test]
async fn wrong_key_is_invalid_credentials_with_the_server_text() {
    let sim = sim().await;
    let c = client(builder(&sim, WRONG_KEY).build().unwrap());
    let err = c.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err:?}");
    let typed = err.provider_error::<ElectaError>().unwrap();
    assert_eq!(typed.kind, ElectaErrorKind::InvalidCredentials);
    assert_eq!(typed.code, 1);
    assert_eq!(typed.message, INVALID_CREDENTIALS_TEXT);
    assert!(err.to_string().contains(INVALID_CREDENTIALS_TEXT));
    for text in [err.to_string(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(WRONG_KEY), "{text}");
    }
}

#[tokio::test]
async fn a_hundred_wrong_key_calls_reach_the_server_at_most_four_times_per_window() {
    let window = Duration::from_millis(300);
    let sim = ElectaSim::start(ElectaSimConfig {
        lockout: window,
        failure_window: window,
        ..ElectaSimConfig::default()
    })
    .await
    .unwrap();
    let c = client(
        builder(&sim, WRONG_KEY)
            .lockout_rule(4, window)
            .build()
            .unwrap(),
    );
    let mut invalid = 0;
    let mut locked = 0;
    for _ in 0..100 {
        match c.call("users/list/", &[]).await.unwrap_err() {
            AuthError::InvalidCredentials { .. } => invalid += 1,
            // After the budget of credential rejections the client stops
            // for good, until the key is fixed and the client reset.
            AuthError::CredentialsBlocked { failures: 4, .. } => locked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((invalid, locked), (4, 96));
    assert_eq!(sim.counters().login_attempts(&cid()), 4);
    assert!(
        !sim.is_locked(DEMO_CID),
        "the server never locked the account"
    );

    // After the window the client still does not try: the credentials are
    // wrong, and only a reset (after fixing them) lifts the stop.
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    for _ in 0..100 {
        let err = c.session().await.unwrap_err();
        assert!(
            matches!(err, AuthError::CredentialsBlocked { .. }),
            "{err:?}"
        );
    }
    assert_eq!(sim.counters().login_attempts(&cid()), 4);
    // A reset with the same wrong key spends the window's budget again,
    // still never reaching 5 within one window.
    c.reset();
    for _ in 0..100 {
        assert!(c.session().await.is_err());
    }
    assert_eq!(sim.counters().login_attempts(&cid()), 8);
    assert!(!sim.is_locked(DEMO_CID));

    // A correctly configured client of the same account works at once.
    let good = client(
        builder(&sim, DEMO_APP_KEY)
            .lockout_rule(4, window)
            .build()
            .unwrap(),
    );
    good.call("users/list/", &[]).await.unwrap();
}

#[tokio::test]
async fn concurrent_wrong_key_calls_are_capped_too() {
    let window = Duration::from_millis(300);
    let sim = ElectaSim::start(ElectaSimConfig {
        lockout: window,
        failure_window: window,
        ..ElectaSimConfig::default()
    })
    .await
    .unwrap();
    let c = client(
        builder(&sim, WRONG_KEY)
            .lockout_rule(4, window)
            .build()
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.session().await.map(|_| ()) }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    assert!(sim.counters().login_attempts(&cid()) <= 4);
    assert!(!sim.is_locked(DEMO_CID));
}

#[tokio::test]
async fn a_server_lockout_is_honoured_locally_then_lifted_after_the_window() {
    let window = Duration::from_millis(400);
    let sim = ElectaSim::start(ElectaSimConfig {
        lockout: window,
        ..ElectaSimConfig::default()
    })
    .await
    .unwrap();
    // Someone else (another process, a misconfigured script) locks the account.
    let raw = reqwest::Client::new();
    for _ in 0..5 {
        raw.post(format!("{}/token/", sim.base_url()))
            .form(&[("CID", cid()), ("AppKey", WRONG_KEY.to_owned())])
            .send()
            .await
            .unwrap();
    }
    assert!(sim.is_locked(DEMO_CID));
    let c = client(
        builder(&sim, DEMO_APP_KEY)
            .lockout_rule(4, window)
            .build()
            .unwrap(),
    );
    let err = c.call("users/list/", &[]).await.unwrap_err();
    match err {
        AuthError::LockedOut { retry_after, .. } => assert_eq!(retry_after, window),
        other => panic!("expected LockedOut, got {other:?}"),
    }
    let attempts = sim.counters().login_attempts(&cid());
    for _ in 0..20 {
        let err = c.session().await.unwrap_err();
        assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
    }
    assert_eq!(
        sim.counters().login_attempts(&cid()),
        attempts,
        "answered locally"
    );
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    let reply = c.call("users/list/", &[]).await.unwrap();
    assert_eq!(reply.code, 0);
    assert_eq!(sim.counters().logins(&cid()), 1);
}

#[tokio::test]
async fn tokens_are_renewed_after_their_lifetime_without_a_rejection() {
    let sim = ElectaSim::start(ElectaSimConfig {
        token_ttl: Duration::from_millis(1500),
        ..ElectaSimConfig::default()
    })
    .await
    .unwrap();
    let c = client(
        builder(&sim, DEMO_APP_KEY)
            .token_lifetime(Duration::from_millis(1500))
            .build()
            .unwrap(),
    );
    c.call("users/list/", &[]).await.unwrap();
    c.call("users/list/", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(&cid()), 1);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    c.call("users/list/", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(c.stats().rejections, 0);
}

#[tokio::test]
async fn an_invalid_token_reply_triggers_one_relogin_and_a_retry() {
    let sim = sim().await;
    let c = client(builder(&sim, DEMO_APP_KEY).build().unwrap());
    c.call("users/list/", &[]).await.unwrap();
    sim.expire_all_sessions();
    let reply = c.call("users/list/", &[]).await.unwrap();
    assert_eq!(reply.code, 0);
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(c.stats().relogins, 1);
    assert_eq!(
        sim.counters().failed_logins(&cid()),
        0,
        "a rejected token is not a failed login"
    );
}

#[tokio::test]
async fn one_login_for_a_thousand_concurrent_first_calls() {
    let sim = sim().await;
    let c = client(builder(&sim, DEMO_APP_KEY).build().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.session().await.map(|s| s.generation())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 1);
    }
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.call("users/list/", &[]).await.map(|r| r.code)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 0);
    }
    assert_eq!(sim.counters().logins(&cid()), 1);
    assert_eq!(sim.counters().calls(&cid()), 200);
}

#[tokio::test]
async fn lenient_xml_variants_are_understood() {
    let sim = sim().await;
    let variants = [
        XmlFormat {
            root: "ElectaResponse".into(),
            code: "Code".into(),
            ..XmlFormat::default()
        },
        XmlFormat {
            root: "response".into(),
            code: "responsecode".into(),
            data: "responsedata".into(),
            declaration: false,
        },
        XmlFormat {
            root: "Result".into(),
            code: "ReturnCode".into(),
            data: "RESPONSEDATA".into(),
            declaration: true,
        },
    ];
    for format in variants {
        sim.set_xml_format(format.clone());
        let c = client(builder(&sim, DEMO_APP_KEY).build().unwrap());
        c.session()
            .await
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let bad = client(builder(&sim, WRONG_KEY).build().unwrap());
        assert!(
            bad.session().await.unwrap_err().is_invalid_credentials(),
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn csv_html_and_malformed_replies_are_clear_errors() {
    let sim = sim().await;
    // A fresh client per case: every failed login counts towards the
    // lockout rule, whatever the reason.
    let fresh = || client(builder(&sim, DEMO_APP_KEY).build().unwrap());
    // The client asks for XML (`Result=xml`), so a server whose default is
    // CSV answers XML.
    sim.set_reply_mode(ReplyMode::Csv);
    let session = fresh().session().await.unwrap();
    assert_eq!(session.token().expose_secret().len(), 32);
    sim.set_reply_mode(ReplyMode::Xml);

    sim.faults().inject(Fault::Html, 1);
    let err = fresh().session().await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse {
                status: Some(502),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTML"), "{err}");

    sim.faults().inject(Fault::Malformed, 1);
    let err = fresh().session().await.unwrap_err();
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
    assert!(err.to_string().contains("CSV or plain-text"), "{err}");

    sim.faults().inject(Fault::Status(503), 1);
    let err = fresh().session().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");

    // A protected call answering CSV (Result=csv) is an error too, and the
    // session survives it.
    let c = fresh();
    c.session().await.unwrap();
    let err = c
        .call("users/list/", &[("Result", "csv")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CSV"), "{err}");
    c.call("users/list/", &[]).await.unwrap();
    // The CSV-mode login was accepted by the server; the faulted ones never
    // reached its handler.
    assert_eq!(sim.counters().logins(&cid()), 2);
}

/// A client whose speculative re-logins may come `every` apart.
fn client_every(provider: ElectaProvider, every: Duration) -> ElectaClient {
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .min_login_interval(Duration::ZERO)
        .speculative_relogin_interval(every)
        .build()
        .unwrap()
}

fn api_code(err: &AuthError) -> Option<&str> {
    match err {
        AuthError::Api { code, .. } => Some(code),
        _ => None,
    }
}

#[tokio::test]
async fn an_unknown_code_for_an_expired_session_leads_to_one_speculative_relogin() {
    let sim = sim().await;
    // An Electa whose expired-session answer is worded in a way no rule
    // knows: a non-zero code is "maybe rejected".
    sim.set_invalid_token_reply(57, "Session timed out");
    let c = client(builder(&sim, DEMO_APP_KEY).build().unwrap());
    c.call("users/list/", &[]).await.unwrap();
    sim.expire_all_sessions();
    let reply = c.call("users/list/", &[]).await.unwrap();
    assert_eq!(reply.code, 0);
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(sim.counters().calls(&cid()), 2);
    let stats = c.stats();
    assert_eq!((stats.speculative_relogins, stats.relogins), (1, 1));
    assert_eq!(sim.counters().failed_logins(&cid()), 0);
}

#[tokio::test]
async fn a_genuine_api_error_costs_one_speculative_login_then_none() {
    let sim = sim().await;
    let c = client_every(
        builder(&sim, DEMO_APP_KEY).build().unwrap(),
        Duration::from_millis(200),
    );
    c.call("users/list/", &[]).await.unwrap();
    sim.set_call_error(Some((12, "Course not found")));
    let err = c.call("users/list/", &[]).await.unwrap_err();
    assert_eq!(api_code(&err), Some("12"), "{err:?}");
    assert_eq!(
        err.provider_error::<ElectaError>().unwrap().message,
        "Course not found"
    );
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(c.stats().speculative_relogins, 1);
    let session = c.cached().unwrap();
    // The fresh session is kept, and code 12 is an API error for it, even
    // once the speculative interval is over.
    tokio::time::sleep(Duration::from_millis(250)).await;
    for _ in 0..3 {
        let err = c.call("users/list/", &[]).await.unwrap_err();
        assert_eq!(api_code(&err), Some("12"), "{err:?}");
    }
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(c.stats().speculative_relogins, 1);
    assert_eq!(c.cached().unwrap().generation(), session.generation());
    sim.set_call_error(None);
    c.call("users/list/", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(&cid()), 2);
}

#[tokio::test]
async fn a_second_unknown_code_within_the_interval_does_not_log_in() {
    let sim = sim().await;
    sim.set_invalid_token_reply(57, "Session timed out");
    let c = client_every(
        builder(&sim, DEMO_APP_KEY).build().unwrap(),
        Duration::from_millis(400),
    );
    c.call("users/list/", &[]).await.unwrap();
    sim.expire_all_sessions();
    c.call("users/list/", &[]).await.unwrap();
    assert_eq!(c.stats().speculative_relogins, 1);
    // Within the interval: another unknown code is returned as it is.
    sim.set_invalid_token_reply(58, "Sitzung abgelaufen");
    sim.expire_all_sessions();
    let err = c.call("users/list/", &[]).await.unwrap_err();
    assert_eq!(api_code(&err), Some("58"), "{err:?}");
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(c.stats().speculative_relogins, 1);
    // After it, the next one may log in again.
    tokio::time::sleep(Duration::from_millis(450)).await;
    c.call("users/list/", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(&cid()), 3);
    assert_eq!(c.stats().speculative_relogins, 2);
}

#[tokio::test]
async fn the_documented_credential_text_on_a_call_is_a_rejection() {
    let sim = sim().await;
    sim.set_invalid_token_reply(9, INVALID_CREDENTIALS_TEXT);
    let c = client(builder(&sim, DEMO_APP_KEY).build().unwrap());
    c.call("users/list/", &[]).await.unwrap();
    for _ in 0..2 {
        sim.expire_all_sessions();
        c.call("users/list/", &[]).await.unwrap();
    }
    assert_eq!(sim.counters().logins(&cid()), 3);
    let stats = c.stats();
    assert_eq!((stats.speculative_relogins, stats.relogins), (0, 2));
}

#[tokio::test]
async fn configured_rules_make_a_code_a_rejection() {
    let sim = sim().await;
    sim.set_invalid_token_reply(57, "Session timed out");
    let rules = RejectionRules {
        rejected_codes: vec![57],
        ..RejectionRules::default()
    };
    let c = client(
        builder(&sim, DEMO_APP_KEY)
            .rejection_rules(rules)
            .build()
            .unwrap(),
    );
    c.call("users/list/", &[]).await.unwrap();
    for _ in 0..2 {
        sim.expire_all_sessions();
        c.call("users/list/", &[]).await.unwrap();
    }
    let stats = c.stats();
    assert_eq!((stats.speculative_relogins, stats.relogins), (0, 2));
    // A pattern works the same way, case-insensitively.
    let rules = RejectionRules {
        rejected_patterns: vec!["session TIMED out".into()],
        ..RejectionRules::default()
    };
    let c = client(
        builder(&sim, DEMO_APP_KEY)
            .rejection_rules(rules)
            .build()
            .unwrap(),
    );
    c.call("users/list/", &[]).await.unwrap();
    for _ in 0..2 {
        sim.expire_all_sessions();
        c.call("users/list/", &[]).await.unwrap();
    }
    let stats = c.stats();
    assert_eq!((stats.speculative_relogins, stats.relogins), (0, 2));
}

#[tokio::test]
async fn concurrent_calls_share_one_speculative_relogin() {
    let sim = sim().await;
    sim.set_invalid_token_reply(57, "Session timed out");
    let c = client(builder(&sim, DEMO_APP_KEY).build().unwrap());
    c.call("users/list/", &[]).await.unwrap();
    sim.expire_all_sessions();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.call("users/list/", &[]).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().logins(&cid()), 2);
    assert_eq!(c.stats().speculative_relogins, 1);
}
