//! Behaviour against the auth-sim Wialon simulator (real sockets, short
//! real-time durations).

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, HttpSettings};
use auth_sim::Fault;
use auth_sim::wialon::{
    DEMO_INACTIVE_TOKEN, DEMO_SUBUSER, DEMO_TOKEN, DEMO_USER, WialonSim, WialonSimConfig,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wialon_token::WialonClientExt;
use wialon_token::{
    LoginFlags, RequestLimits, TokenParams, WialonClient, WialonError, WialonErrorCode,
    WialonProvider, token_access,
};

async fn sim_with_idle(idle: Duration) -> WialonSim {
    WialonSim::start(WialonSimConfig {
        session_idle: idle,
        ..WialonSimConfig::default()
    })
    .await
    .unwrap()
}

fn builder(sim: &WialonSim) -> wialon_token::WialonBuilder {
    WialonProvider::builder()
        .token(DEMO_TOKEN)
        .host(sim.base_url().as_str())
}

fn client_of(provider: WialonProvider) -> WialonClient {
    Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

fn client(sim: &WialonSim) -> WialonClient {
    client_of(builder(sim).build().unwrap())
}

fn units() -> Value {
    json!({"spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*", "sortType": "sys_name"}, "force": 1, "flags": 1, "from": 0, "to": 0})
}

async fn search(c: &WialonClient) -> Result<Value, AuthError> {
    c.call("core/search_items", &units()).await
}

#[tokio::test]
async fn login_with_every_flag_decodes_every_block() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client_of(builder(&sim).flags(LoginFlags::all()).build().unwrap());
    let s = c.session().await.unwrap();
    let info = s.data();
    assert_eq!(info.user_name.as_deref(), Some(DEMO_USER));
    assert!(info.gis_sid.is_some() && info.wsdk_version.is_some() && info.server_time.is_some());
    let user = info.user.as_ref().unwrap();
    assert_eq!(user.name, DEMO_USER);
    assert_eq!(user.property("language"), Some("en"));
    assert!(user.creator.is_some() && user.created.is_some());
    assert_eq!(info.classes["avl_unit"], 2);
    let features = info.features.as_ref().unwrap();
    assert!(!features.unlim);
    assert_eq!(features.services.get("reports"), Some(&true));
    let token = info
        .token
        .as_ref()
        .expect("token info with LoginFlags::TOKEN");
    assert_eq!(token.app, "Wialon Hosting");
    assert!(token.created.is_some() && token.activated.is_some());
    assert_eq!(token.duration, None, "unlimited");
    assert_eq!(token.access_flags, -1);
    assert!(info.extra["items"].is_array() && info.extra.contains_key("base_url"));
    assert_eq!(sim.counters().logins(DEMO_USER), 1);

    // Default flags: no token block, no custom properties.
    let c = client(&sim);
    let s = c.session().await.unwrap();
    assert!(s.data().token.is_none());
    assert!(s.data().user.as_ref().unwrap().properties.is_empty());
    assert!(s.data().user.as_ref().unwrap().creator.is_some());

    // operateAs: the session acts for the sub-user.
    let c = client_of(builder(&sim).operate_as(DEMO_SUBUSER).build().unwrap());
    let s = c.session().await.unwrap();
    assert_eq!(s.data().user.as_ref().unwrap().name, DEMO_SUBUSER);
}

#[tokio::test]
async fn bad_tokens_are_invalid_credentials() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let cases = [
        (
            builder(&sim).token("0".repeat(72)),
            WialonErrorCode::InvalidCredentials,
        ),
        (
            builder(&sim).token(DEMO_INACTIVE_TOKEN),
            WialonErrorCode::AccessDenied,
        ),
        (
            builder(&sim).operate_as("nobody"),
            WialonErrorCode::InvalidCredentials,
        ),
    ];
    for (b, code) in cases {
        let err = client_of(b.build().unwrap()).session().await.unwrap_err();
        assert!(err.is_invalid_credentials(), "{err:?}");
        assert!(!err.is_retryable());
        assert_eq!(err.provider_error::<WialonError>().unwrap().code, code);
        assert!(!format!("{err:?}{err}").contains(DEMO_INACTIVE_TOKEN));
    }
    assert_eq!(sim.counters().failed_logins(DEMO_USER), 2);
    assert_eq!(sim.counters().logins(DEMO_USER), 0);
}

#[tokio::test]
async fn killed_sessions_log_in_again_transparently() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    assert_eq!(search(&c).await.unwrap()["totalItemsCount"], 3);
    let first = c.session().await.unwrap();
    sim.expire_all_sessions();
    assert_eq!(search(&c).await.unwrap()["totalItemsCount"], 3);
    let second = c.session().await.unwrap();
    assert!(second.generation() > first.generation());
    assert_ne!(
        first.token().expose_secret(),
        second.token().expose_secret()
    );
    assert_eq!(sim.counters().logins(DEMO_USER), 2);
    assert_eq!(sim.counters().calls(DEMO_USER), 2);
    assert_eq!(c.stats().relogins, 1);

    // 1011 (IP changed or session expired) means the same.
    sim.inject_error(1011, 1);
    assert_eq!(search(&c).await.unwrap()["totalItemsCount"], 3);
    assert_eq!(sim.counters().logins(DEMO_USER), 3);
    assert_eq!(c.stats().relogins, 2);
}

#[tokio::test]
async fn server_idle_expiry_is_handled() {
    let sim = sim_with_idle(Duration::from_millis(600)).await;
    let c = client(&sim);
    search(&c).await.unwrap();
    // Calls slide the server's idle deadline.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        search(&c).await.unwrap();
    }
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
    // Idle past the limit: the server killed it, the client logs in again.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(sim.active_sessions(), 0);
    search(&c).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USER), 2);
    assert_eq!(c.stats().relogins, 1);
}

#[tokio::test]
async fn client_side_idle_expiry_slides_with_calls() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client_of(
        builder(&sim)
            .idle_timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    search(&c).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        search(&c).await.unwrap();
    }
    assert_eq!(
        sim.counters().logins(DEMO_USER),
        1,
        "calls slide the idle deadline"
    );
    // No calls for longer than the idle time: the client knows the session
    // is dead and logs in without sending a doomed request.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cached = c.cached().unwrap();
    assert!(
        cached.is_expired(),
        "idle {:?}, expires in {:?}, {cached:?}",
        cached.idle_for(),
        cached.expires_in()
    );
    search(&c).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USER), 2);
    assert_eq!(c.stats().rejections, 0);
}

#[tokio::test]
async fn keep_alive_keeps_an_idle_session_and_stops_with_the_client() {
    let sim = sim_with_idle(Duration::from_millis(500)).await;
    let c = client(&sim);
    c.session().await.unwrap();
    c.spawn_keep_alive(Duration::from_millis(100)).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent = sim.keep_alives(DEMO_USER);
    assert!(sent >= 3, "keep-alives sent: {sent}");
    assert_eq!(sim.active_sessions(), 1);
    search(&c).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USER), 1, "no re-login needed");
    assert_eq!(c.stats().rejections, 0);

    // Without the keep-alive the same wait kills the session.
    let other = client(&sim);
    other.session().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    search(&other).await.unwrap();
    assert_eq!(other.stats().relogins, 1);

    // Dropping the client stops the task.
    drop(c);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let after_drop = sim.total_keep_alives();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sim.total_keep_alives(),
        after_drop,
        "keep-alive task stopped"
    );
}

#[tokio::test]
async fn logout_ends_the_server_session() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    search(&c).await.unwrap();
    assert_eq!(sim.active_sessions(), 1);
    c.logout().await.unwrap();
    assert_eq!(sim.active_sessions(), 0);
    assert!(c.cached().is_none());
    // Logging out again without a session is a no-op.
    c.logout().await.unwrap();
    search(&c).await.unwrap();
    assert_eq!(sim.counters().logins(DEMO_USER), 2);
}

#[tokio::test]
async fn call_errors_from_the_simulator() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    search(&c).await.unwrap();
    // 1003 is retried 3 times (LimitRetry::default): 4 refusals fail the call.
    sim.inject_error(1003, 4);
    let err = search(&c).await.unwrap_err();
    let typed = err.provider_error::<WialonError>().unwrap();
    assert_eq!(typed.code, WialonErrorCode::OneRequestAtATime);
    assert!(typed.reason.is_some());
    assert!(err.is_retryable());
    let err = c
        .call::<Value>("core/search_items", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        err.provider_error::<WialonError>().unwrap().code,
        WialonErrorCode::InvalidInput
    );
    let err = c.call::<Value>("core/nope", &json!({})).await.unwrap_err();
    assert_eq!(
        err.provider_error::<WialonError>().unwrap().code,
        WialonErrorCode::InvalidService
    );
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
}

#[tokio::test]
async fn token_create_list_update_delete() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    let params = TokenParams::new(token_access::ONLINE_TRACKING | token_access::VIEW)
        .app("fleet-sync")
        .duration(Duration::from_secs(3600))
        .items([42]);
    let created = c.token_create(&params).await.unwrap();
    let new_token = created.token.expose_secret().to_owned();
    assert_eq!(new_token.len(), 72);
    assert_eq!(created.info.app, "fleet-sync");
    assert_eq!(created.info.duration, Some(Duration::from_secs(3600)));
    assert_eq!(created.info.access_flags, 0x300);
    assert_eq!(created.info.items, vec![42]);
    assert!(created.info.created.is_some());
    assert!(sim.has_token(&new_token));

    let list = c.token_list(None).await.unwrap();
    let listed: Vec<String> = list
        .iter()
        .map(|t| t.token.expose_secret().to_owned())
        .collect();
    assert!(listed.contains(&new_token) && listed.contains(&DEMO_TOKEN.to_owned()));
    assert!(!format!("{list:?}").contains(&new_token));

    // The new token logs in, and its settings come back in the login reply.
    let other = client_of(
        builder(&sim)
            .token(new_token.clone())
            .flags(LoginFlags::default() | LoginFlags::TOKEN)
            .build()
            .unwrap(),
    );
    let s = other.session().await.unwrap();
    assert_eq!(s.data().token.as_ref().unwrap().app, "fleet-sync");
    assert_eq!(s.data().token.as_ref().unwrap().items, vec![42]);

    let updated = c
        .token_update(&created.token, &params.clone().app("renamed"))
        .await
        .unwrap();
    assert_eq!(updated.info.app, "renamed");

    c.token_delete(&created.token).await.unwrap();
    assert!(!sim.has_token(&new_token));
    let listed: Vec<String> = c
        .token_list(None)
        .await
        .unwrap()
        .iter()
        .map(|t| t.token.expose_secret().to_owned())
        .collect();
    assert!(!listed.contains(&new_token));
    let err = client_of(builder(&sim).token(new_token).build().unwrap())
        .session()
        .await
        .unwrap_err();
    assert!(err.is_invalid_credentials(), "{err:?}");
    // Deleting it again: access denied.
    let err = c.token_delete(&created.token).await.unwrap_err();
    assert_eq!(
        err.provider_error::<WialonError>().unwrap().code,
        WialonErrorCode::AccessDenied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_login_for_a_thousand_concurrent_first_calls() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    // The point is the one login: the per-second pace (9/s, not a limit
    // the simulator enforces by default) would stretch the burst to 2 min.
    let c = client_of(
        builder(&sim)
            .request_limits(RequestLimits::new().max_in_flight(9))
            .build()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { search(&c).await.map(|v| v["totalItemsCount"].as_u64()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), Some(3));
    }
    println!("1000 concurrent first calls: {:?}", started.elapsed());
    assert_eq!(sim.counters().logins(DEMO_USER), 1);
    assert_eq!(sim.counters().calls(DEMO_USER), 1000);
    assert_eq!(c.stats().logins, 1);
}

#[tokio::test]
async fn faults_become_typed_errors() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    sim.faults().inject(Fault::Html, 1);
    let err = c.session().await.unwrap_err();
    assert!(err.to_string().contains("HTML"), "{err}");
    assert!(err.is_retryable(), "502 may pass: {err:?}");
    sim.faults().inject(Fault::Malformed, 1);
    let err = client(&sim).session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::UnexpectedResponse { .. }),
        "{err:?}"
    );
    // A cut-off reply: hyper reports it either while reading the head or the body.
    sim.faults().inject(Fault::Truncated, 1);
    let err = client(&sim).session().await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::UnexpectedResponse { .. } | AuthError::Transport { .. }
        ),
        "{err:?}"
    );
    sim.faults().inject(Fault::Huge(2 * 1024 * 1024), 1);
    let err = client(&sim).session().await.unwrap_err();
    assert!(matches!(err, AuthError::BodyTooLarge { .. }), "{err:?}");
    sim.faults().inject(Fault::Drop, 1);
    assert!(client(&sim).session().await.is_err());
    // A slow login hits the client's timeout.
    sim.faults().inject(Fault::Delay(Duration::from_secs(2)), 1);
    let slow: WialonClient = Authenticated::builder(builder(&sim).build().unwrap())
        .http_settings(HttpSettings::default().timeout(Duration::from_millis(300)))
        .build()
        .unwrap();
    let err = slow.session().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    // And the next attempt works.
    search(&client(&sim)).await.unwrap();
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let c = client(&sim);
    search(&c).await.unwrap();
    let session = c.session().await.unwrap();
    let eid = session.token().expose_secret().to_owned();
    for text in [
        format!("{c:?}"),
        format!("{session:?}"),
        format!("{:?}", c.provider()),
    ] {
        assert!(!text.contains(&eid) && !text.contains(DEMO_TOKEN), "{text}");
    }
    // A call after the server went away: a transport error without the sid.
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = search(&c).await.unwrap_err();
    let text = format!("{err:?} {err}");
    assert!(!text.contains(&eid) && !text.contains(DEMO_TOKEN), "{text}");
    assert!(err.is_retryable(), "{err:?}");
}
