//! cielo24-auth against the auth-sim cielo24 simulator.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, Expiry};
use auth_sim::Fault;
use auth_sim::cielo24::{
    Cielo24Sim, Cielo24SimConfig, DEMO_PASSWORD, DEMO_SECURE_KEY, DEMO_USERNAME, TokenField,
    UNPRIVILEGED_PASSWORD, UNPRIVILEGED_USERNAME,
};
use cielo24_auth::{
    Cielo24Builder, Cielo24Client, Cielo24ClientExt, Cielo24Error, Cielo24Provider,
    CredentialPlacement, ErrorType, LoginMethod, PasswordHeader,
};
use secrecy::{ExposeSecret, SecretString};

fn builder(sim: &Cielo24Sim) -> Cielo24Builder {
    Cielo24Provider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .base_url(sim.base_url().clone())
}

fn client(provider: Cielo24Provider) -> Cielo24Client {
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

async fn sim() -> Cielo24Sim {
    Cielo24Sim::start(Cielo24SimConfig::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn logs_in_with_every_credential_form() {
    let sim = sim().await;
    let forms = [
        builder(&sim),
        builder(&sim).password_header(PasswordHeader::XAuthKey),
        builder(&sim).credential_placement(CredentialPlacement::Query),
        Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .secure_key(SecretString::from(DEMO_SECURE_KEY))
            .base_url(sim.base_url().clone()),
        Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .secure_key(SecretString::from(DEMO_SECURE_KEY))
            .credential_placement(CredentialPlacement::Query)
            .base_url(sim.base_url().clone()),
    ];
    for (i, b) in forms.into_iter().enumerate() {
        let c = client(b.build().unwrap());
        let session = c
            .session()
            .await
            .unwrap_or_else(|e| panic!("form {i}: {e}"));
        assert_eq!(session.token().expose_secret().len(), 32);
        assert_eq!(session.data().username, DEMO_USERNAME);
        assert_eq!(session.expiry(), Expiry::Idle(Duration::from_secs(3600)));
        let jobs = c.get_json("api/job/list", &[]).await.unwrap();
        assert_eq!(jobs["Username"], DEMO_USERNAME);
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 5);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 5);
}

#[tokio::test]
async fn wrong_password_is_invalid_credentials_with_typed_source() {
    let sim = sim().await;
    let secret = "not-the-password-123";
    let c = client(
        Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .password(SecretString::from(secret))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap(),
    );
    let err = c.session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidCredentials { .. }),
        "{err:?}"
    );
    let typed = err.provider_error::<Cielo24Error>().expect("typed source");
    assert_eq!(typed.error_type, ErrorType::LoginInvalid);
    for text in [err.to_string(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(secret), "{text}");
    }
    assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 1);
}

#[tokio::test]
async fn invalid_secure_key_is_invalid_credentials_account_unprivileged() {
    let sim = sim().await;
    let key = "0123456789abcdef0123456789abcdef";
    let c = client(
        Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .secure_key(SecretString::from(key))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap(),
    );
    let err = c.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err:?}");
    assert_eq!(
        err.provider_error::<Cielo24Error>().unwrap().error_type,
        ErrorType::AccountUnprivileged
    );
    assert!(!format!("{err} {err:?}").contains(key));
}

#[tokio::test]
async fn bad_api_token_triggers_one_relogin_and_a_retry() {
    let sim = sim().await;
    let c = client(builder(&sim).build().unwrap());
    c.get_json("api/job/list", &[]).await.unwrap();
    let first = c.session().await.unwrap();
    sim.expire_all_sessions();
    let jobs = c.get_json("api/job/list", &[]).await.unwrap();
    assert_eq!(jobs["ActiveJobs"].as_array().unwrap().len(), 2);
    let second = c.session().await.unwrap();
    assert!(second.generation() > first.generation());
    assert_ne!(
        first.token().expose_secret(),
        second.token().expose_secret()
    );
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 2);
    let stats = c.stats();
    assert_eq!(stats.relogins, 1);
    assert_eq!(stats.rejections, 1);
}

#[tokio::test]
async fn idle_expiry_is_tracked_and_use_slides_it() {
    let sim = Cielo24Sim::start(Cielo24SimConfig {
        idle_timeout: Duration::from_millis(1500),
        ..Cielo24SimConfig::default()
    })
    .await
    .unwrap();
    let c = client(
        builder(&sim)
            .idle_timeout(Duration::from_millis(1500))
            .build()
            .unwrap(),
    );
    // Used every 300 ms for 2.1 s: the same token all along.
    for _ in 0..7 {
        c.get_json("api/job/list", &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    // Idle past the timeout: the client knows the token is dead and logs in
    // before calling, without a rejection round trip.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(c.cached().unwrap().is_expired());
    c.get_json("api/job/list", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
    assert_eq!(c.stats().rejections, 0);
}

#[tokio::test]
async fn logout_invalidates_on_the_server_and_locally() {
    let sim = sim().await;
    let c = client(builder(&sim).build().unwrap());
    c.session().await.unwrap();
    assert_eq!(sim.active_sessions(), 1);
    c.logout().await.unwrap();
    assert_eq!(sim.active_sessions(), 0);
    assert!(c.cached().is_none());
    assert_eq!(
        sim.counters().calls(DEMO_USERNAME),
        1,
        "the logout call was accepted"
    );
    // Logging out a session the server already dropped is fine.
    c.session().await.unwrap();
    sim.expire_all_sessions();
    c.logout().await.unwrap();
    c.get_json("api/job/list", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 3);
}

#[tokio::test]
async fn generate_api_key_lets_a_user_switch_to_key_login() {
    let sim = sim().await;
    let c = client(builder(&sim).build().unwrap());
    let existing = c.generate_api_key(false).await.unwrap();
    assert_eq!(existing.expose_secret(), DEMO_SECURE_KEY);
    assert!(!format!("{existing:?}").contains(DEMO_SECURE_KEY));
    let fresh = c.generate_api_key(true).await.unwrap();
    assert_ne!(fresh.expose_secret(), DEMO_SECURE_KEY);
    assert!(
        sim.secure_keys(DEMO_USERNAME)
            .contains(&fresh.expose_secret().to_owned())
    );

    let by_key = client(
        Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .secure_key(fresh)
            .base_url(sim.base_url().clone())
            .build()
            .unwrap(),
    );
    by_key.get_json("api/job/list", &[]).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 2);
}

#[tokio::test]
async fn api_errors_are_typed_and_do_not_trigger_relogin() {
    let sim = sim().await;
    let c = client(
        Cielo24Provider::builder()
            .username(UNPRIVILEGED_USERNAME)
            .password(SecretString::from(UNPRIVILEGED_PASSWORD))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap(),
    );
    let err = c.generate_api_key(false).await.unwrap_err();
    match &err {
        AuthError::Api {
            code, retryable, ..
        } => {
            assert_eq!(code, "ACCOUNT_UNPRIVILEGED");
            assert!(!retryable);
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert_eq!(
        err.provider_error::<Cielo24Error>().unwrap().error_type,
        ErrorType::AccountUnprivileged
    );
    assert_eq!(
        sim.counters().logins(UNPRIVILEGED_USERNAME),
        1,
        "not a session rejection"
    );
    assert_eq!(c.stats().rejections, 0);
}

#[tokio::test]
async fn one_login_for_a_thousand_concurrent_first_calls() {
    let sim = sim().await;
    let c = client(builder(&sim).build().unwrap());
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
    // And 200 concurrent authorized calls on top, still one login.
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.get_json("api/job/list", &[]).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 200);
}

#[tokio::test]
async fn server_faults_become_typed_errors() {
    let sim = sim().await;
    let c = client(builder(&sim).build().unwrap());
    sim.faults().inject(Fault::Html, 1);
    let err = c.session().await.unwrap_err();
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
    let err = c.session().await.unwrap_err();
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
    assert!(err.to_string().contains("not valid JSON"), "{err}");

    sim.faults().inject(
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    );
    let err = c.session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    // The client honours Retry-After: the next login waits 7 s.
    let err = c.session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::BackingOff { retry_after, .. } if retry_after > Duration::from_secs(6)),
        "{err:?}"
    );
    c.reset();

    sim.faults().inject(Fault::Truncated, 1);
    let err = c.session().await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse { .. } | AuthError::Transport { .. }
        ),
        "{err:?}"
    );

    sim.faults().inject(Fault::Huge(2 * 1024 * 1024), 1);
    let err = c.session().await.unwrap_err();
    assert!(matches!(err, AuthError::BodyTooLarge { .. }), "{err:?}");

    c.session().await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
}

/// The POST form of the vendor's OpenAPI description logs in against the
/// simulator, with a password or a secure key, whichever name the reply
/// gives the token (`ApiToken` of the seed, `api_token` of the OpenAPI).
#[tokio::test]
async fn post_json_login_and_both_reply_field_names() {
    for token_field in [TokenField::ApiToken, TokenField::SnakeCase] {
        let sim = Cielo24Sim::start(Cielo24SimConfig {
            token_field,
            ..Cielo24SimConfig::default()
        })
        .await
        .unwrap();
        let forms = [
            builder(&sim).login_method(LoginMethod::PostJson),
            Cielo24Provider::builder()
                .username(DEMO_USERNAME)
                .secure_key(SecretString::from(DEMO_SECURE_KEY))
                .login_method(LoginMethod::PostJson)
                .base_url(sim.base_url().clone()),
            builder(&sim),
        ];
        for (i, b) in forms.into_iter().enumerate() {
            let c = client(b.build().unwrap());
            let jobs = c
                .get_json("api/job/list", &[])
                .await
                .unwrap_or_else(|e| panic!("{token_field:?} form {i}: {e}"));
            assert_eq!(jobs["Username"], DEMO_USERNAME);
        }
        assert_eq!(sim.counters().logins(DEMO_USERNAME), 3);
        assert_eq!(sim.counters().failed_logins(DEMO_USERNAME), 0);
    }
}

/// A caller's URL that already holds `v` and a stale `api_token`: the
/// client keeps the `v` and replaces the token. (Sent twice, the simulator
/// would read the stale token first and answer `BAD_API_TOKEN` forever.)
#[tokio::test]
async fn a_v_and_a_stale_api_token_in_the_callers_url() {
    let sim = sim().await;
    let c = client(builder(&sim).build().unwrap());
    let mut url = c.provider().endpoint("api/job/list").unwrap();
    url.set_query(Some("v=1&api_token=0000000000000000000000000000dead"));
    for _ in 0..3 {
        let response = c.send(c.http().client().get(url.clone())).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    assert_eq!(sim.counters().calls(DEMO_USERNAME), 3);
}
