//! Secret audit: every provider's full flow (login, calls, a forced re-login
//! after `expire_all_sessions`, a failing call, logout, and a login with
//! wrong credentials) runs under a TRACE-level `tracing` subscriber that
//! captures all output, `log` records of reqwest and friends included. No
//! password, API key, application key, token, Wialon `eid` or generated key
//! may appear in that output, in any error's `Display`/`Debug`/source chain,
//! or in the `Debug` rendering of builders, configs, providers, clients and
//! sessions. URL-encoded forms of the secrets are checked too.
//!
//! Also audited, for every provider:
//! * the session data as a token store keeps it (serialized), after a
//!   login reply that may echo secrets: the Wialon simulator echoes the
//!   72-character token as `user.th` (as help.wialon.com's example does),
//!   which must be dropped before the session is built;
//! * the error of a call redirected to another origin (the `Location`
//!   carries the request's query, with the token for Wialon, cielo24 and
//!   Electa) and of a call to a URL outside the provider's origin.
//!
//! `tracing` caches per-callsite interest per process, so this file holds a
//! single test that installs the global subscriber once.

use std::error::Error as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, HttpSettings};
use auth_sim::Fault;
use cielo24_auth::{Cielo24ClientExt, Cielo24Provider};
use ctc_auth::{CtcProvider, Instance};
use electa_auth::{ElectaClientExt, ElectaProvider};
use plaspy_auth::PlaspyProvider;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;
use wialon_token::WialonClientExt;
use wialon_token::{WialonClient, WialonProvider};

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Secrets seen during the run (label, value) and the texts to audit.
#[derive(Default)]
struct Audit {
    secrets: Vec<(String, String)>,
    texts: Vec<(String, String)>,
}

impl Audit {
    fn secret(&mut self, label: &str, value: &str) {
        assert!(value.len() >= 8, "{label} is too short to audit reliably");
        self.secrets.push((label.to_owned(), value.to_owned()));
    }

    fn text(&mut self, label: &str, text: String) {
        self.texts.push((label.to_owned(), text));
    }

    fn debug(&mut self, label: &str, value: &dyn std::fmt::Debug) {
        self.text(label, format!("{value:?}"));
    }

    /// An error's Display, Debug and source chain.
    fn error(&mut self, label: &str, err: &AuthError) {
        let mut text = format!("{err}\n{err:?}");
        let mut source = err.source();
        while let Some(s) = source {
            text.push_str(&format!("\n{s}\n{s:?}"));
            source = s.source();
        }
        self.text(label, text);
    }

    fn check(&self, captured: &str) -> Vec<String> {
        let mut leaks = Vec::new();
        let texts = self
            .texts
            .iter()
            .map(|(l, t)| (l.as_str(), t.as_str()))
            .chain([("captured tracing/log output", captured)]);
        for (where_, text) in texts {
            for (label, secret) in &self.secrets {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                for form in [secret.as_str(), encoded.as_str()] {
                    if let Some(at) = text.find(form) {
                        let start = text[..at]
                            .char_indices()
                            .rev()
                            .nth(80)
                            .map_or(0, |(i, _)| i);
                        leaks.push(format!(
                            "{label} appears in {where_}: ...{}...",
                            &text[start..at]
                        ));
                    }
                }
            }
        }
        leaks
    }
}

fn settings() -> HttpSettings {
    HttpSettings::default().timeout(Duration::from_millis(400))
}

/// A loopback origin nothing listens on: a redirect target that must never
/// be contacted.
fn elsewhere() -> url::Url {
    url::Url::parse("http://127.0.0.1:9/").unwrap()
}

/// The session data as a store keeps it, and the redirect and scope errors
/// of one call: audited for every provider.
async fn audit_scope<P: auth_core::Provider>(
    audit: &mut Audit,
    name: &str,
    client: &Authenticated<P>,
    faults: &auth_sim::Faults,
    call: impl AsyncFn(&Authenticated<P>) -> Result<(), AuthError>,
) {
    let session = client.session().await.unwrap();
    let mut data = serde_json::to_value(session.data()).unwrap();
    // Wialon's GIS session id is a session credential the store must hold,
    // like the session token itself; everything else is audited.
    if let Some(map) = data.as_object_mut() {
        map.remove("gis_sid");
    }
    audit.text(&format!("{name} session data as stored"), data.to_string());
    faults.inject(
        Fault::Redirect {
            status: 307,
            to: elsewhere(),
        },
        1,
    );
    let err = call(client).await.unwrap_err();
    assert!(matches!(err, AuthError::Redirect { .. }), "{err:?}");
    audit.error(&format!("{name} cross-origin redirect error"), &err);
    faults.clear();
    let token = session.token().expose_secret().to_owned();
    let foreign = format!("http://127.0.0.1:9/x?token={token}");
    let err = client
        .send(client.http().client().get(&foreign))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::ForeignOrigin { .. }), "{err:?}");
    audit.error(&format!("{name} foreign-origin error"), &err);
}

fn token_of<D>(session: &auth_core::Session<D>) -> String {
    session.token().expose_secret().to_owned()
}

async fn ctc(audit: &mut Audit) {
    use auth_sim::ctc::*;
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    audit.secret("CTC password", DEMO_PASSWORD);
    audit.secret("CTC app key", DEMO_APP_KEY);
    let builder = CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()));
    audit.debug("CTC config builder", &builder);
    let config = builder.build().unwrap();
    audit.debug("CTC config", &config);
    let provider = config.clone();
    audit.debug("CTC provider", &provider);
    let client = Authenticated::builder(provider)
        .http_settings(settings())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let url = client
        .provider()
        .endpoint(&avl_latest_path(DEMO_DEVICE_ID))
        .unwrap();
    let first = client.session().await.unwrap();
    audit.secret("CTC token", &token_of(&first));
    audit.debug("CTC session", &first);
    audit.debug("CTC client", &client);
    let call_url = url.clone();
    audit_scope(audit, "CTC", &client, sim.faults(), async move |c| {
        c.send(c.http().client().get(call_url.clone()))
            .await
            .map(drop)
    })
    .await;
    for _ in 0..2 {
        let response = client
            .send(client.http().client().get(url.clone()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    sim.expire_all_sessions();
    let response = client
        .send(client.http().client().get(url.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = client.session().await.unwrap();
    assert_ne!(token_of(&first), token_of(&second), "no re-login happened");
    audit.secret("CTC token after re-login", &token_of(&second));
    audit.debug("CTC session after re-login", &second);
    sim.faults().inject(Fault::Delay(Duration::from_secs(1)), 1);
    let err = client
        .send(client.http().client().get(url.clone()))
        .await
        .unwrap_err();
    audit.error("CTC call timeout error", &err);
    client.logout().await.unwrap();
    audit.debug("CTC client after logout", &client);

    let wrong = "Wrong-CTC-Passw0rd";
    audit.secret("CTC wrong password", wrong);
    let bad = CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(wrong))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()))
        .build()
        .unwrap()
        .into_client()
        .unwrap();
    let err = bad.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err}");
    audit.error("CTC wrong-credentials error", &err);
    audit.debug("CTC client with wrong credentials", &bad);
}

async fn plaspy(audit: &mut Audit) {
    use auth_sim::plaspy::*;
    let sim = PlaspySim::start(PlaspySimConfig::default()).await.unwrap();
    audit.secret("Plaspy API key", DEMO_API_KEY);
    let builder = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(SecretString::from(DEMO_API_KEY))
        .base_url(sim.base_url().clone());
    audit.debug("Plaspy config builder", &builder);
    let config = builder.build().unwrap();
    audit.debug("Plaspy config", &config);
    let provider = config;
    audit.debug("Plaspy provider", &provider);
    let client = Authenticated::builder(provider)
        .http_settings(settings())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let url = client.provider().endpoint("api/devices").unwrap();
    let first = client.session().await.unwrap();
    audit.secret("Plaspy token", &token_of(&first));
    audit.debug("Plaspy session", &first);
    audit.debug("Plaspy client", &client);
    let call_url = url.clone();
    audit_scope(audit, "Plaspy", &client, sim.faults(), async move |c| {
        c.send(c.http().client().get(call_url.clone()))
            .await
            .map(drop)
    })
    .await;
    for _ in 0..2 {
        let response = client
            .send(client.http().client().get(url.clone()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    sim.expire_all_sessions();
    let response = client
        .send(client.http().client().get(url.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = client.session().await.unwrap();
    assert_ne!(token_of(&first), token_of(&second), "no re-login happened");
    audit.secret("Plaspy token after re-login", &token_of(&second));
    sim.faults().inject(Fault::Delay(Duration::from_secs(1)), 1);
    let err = client
        .send(client.http().client().get(url.clone()))
        .await
        .unwrap_err();
    audit.error("Plaspy call timeout error", &err);
    client.logout().await.unwrap();

    let wrong = "wrong-plaspy-api-key-0000000000";
    audit.secret("Plaspy wrong key", wrong);
    let bad = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(SecretString::from(wrong))
        .base_url(sim.base_url().clone())
        .build()
        .unwrap()
        .into_client()
        .unwrap();
    let err = bad.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err}");
    audit.error("Plaspy wrong-credentials error", &err);
    audit.debug("Plaspy client with wrong credentials", &bad);
}

async fn wialon(audit: &mut Audit) {
    use auth_sim::wialon::*;
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    audit.secret("Wialon token", DEMO_TOKEN);
    for (i, token) in sim.tokens_of(DEMO_USER).iter().enumerate() {
        audit.secret(&format!("Wialon account token #{i}"), token);
    }
    let builder = WialonProvider::builder()
        .token(DEMO_TOKEN)
        .flags(wialon_token::LoginFlags::all())
        .host(sim.base_url().as_str());
    audit.debug("Wialon provider builder", &builder);
    let provider = builder.build().unwrap();
    audit.debug("Wialon provider", &provider);
    let client = WialonClient::from(
        Authenticated::builder(provider)
            .http_settings(settings())
            .backoff(BackoffPolicy::none())
            .build()
            .unwrap(),
    );
    let params = json!({
        "spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*", "sortType": "sys_name"},
        "force": 1, "flags": 1, "from": 0, "to": 0
    });
    let first = client.session().await.unwrap();
    audit.secret("Wialon eid", &token_of(&first));
    if let Some(gis) = &first.data().gis_sid {
        audit.secret("Wialon gis_sid", gis.expose());
    }
    audit.debug("Wialon session", &first);
    audit.debug("Wialon client", &client);
    let user = first.data().user.as_ref().expect("the user block");
    assert!(!user.extra.contains_key("th"), "the echoed token is kept");
    assert!(first.data().token.is_some(), "the token settings are read");
    let search = params.clone();
    audit_scope(audit, "Wialon", &client, sim.faults(), async move |c| {
        WialonClient::from(c.clone())
            .call::<serde_json::Value>("core/search_items", &search)
            .await
            .map(drop)
    })
    .await;
    for _ in 0..2 {
        client
            .call::<serde_json::Value>("core/search_items", &params)
            .await
            .unwrap();
    }
    let tokens = client.token_list(None).await.unwrap();
    audit.debug("Wialon token list", &tokens);
    sim.expire_all_sessions();
    client
        .call::<serde_json::Value>("core/search_items", &params)
        .await
        .unwrap();
    let second = client.session().await.unwrap();
    assert_ne!(token_of(&first), token_of(&second), "no re-login happened");
    audit.secret("Wialon eid after re-login", &token_of(&second));
    sim.faults().inject(Fault::Delay(Duration::from_secs(1)), 1);
    let err = client
        .call::<serde_json::Value>("core/search_items", &params)
        .await
        .unwrap_err();
    audit.error("Wialon call timeout error (sid in the URL)", &err);
    client.logout().await.unwrap();

    let wrong = "0".repeat(72);
    audit.secret("Wialon wrong token", &wrong);
    let bad = WialonProvider::into_client(
        WialonProvider::builder()
            .token(wrong.as_str())
            .host(sim.base_url().as_str())
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = bad.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err}");
    audit.error("Wialon wrong-token error", &err);
    audit.debug("Wialon client with a wrong token", &bad);
}

async fn cielo24(audit: &mut Audit) {
    use auth_sim::cielo24::*;
    let sim = Cielo24Sim::start(Cielo24SimConfig::default())
        .await
        .unwrap();
    audit.secret("cielo24 password", DEMO_PASSWORD);
    audit.secret("cielo24 secure key", DEMO_SECURE_KEY);
    let builder = Cielo24Provider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .base_url(sim.base_url().clone());
    audit.debug("cielo24 builder", &builder);
    let provider = builder.build().unwrap();
    audit.debug("cielo24 provider", &provider);
    let client = Authenticated::builder(provider)
        .http_settings(settings())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let first = client.session().await.unwrap();
    audit.secret("cielo24 API token", &token_of(&first));
    audit.debug("cielo24 session", &first);
    audit.debug("cielo24 client", &client);
    audit_scope(audit, "cielo24", &client, sim.faults(), async |c| {
        c.get_json("api/job/list", &[]).await.map(drop)
    })
    .await;
    for _ in 0..2 {
        client.get_json("api/job/list", &[]).await.unwrap();
    }
    let key = client.generate_api_key(false).await.unwrap();
    audit.secret("cielo24 generated key", key.expose_secret());
    audit.debug("cielo24 generated key", &key);
    sim.expire_all_sessions();
    client.get_json("api/job/list", &[]).await.unwrap();
    let second = client.session().await.unwrap();
    assert_ne!(token_of(&first), token_of(&second), "no re-login happened");
    audit.secret("cielo24 API token after re-login", &token_of(&second));
    sim.faults().inject(Fault::Delay(Duration::from_secs(1)), 1);
    let err = client.get_json("api/job/list", &[]).await.unwrap_err();
    audit.error("cielo24 call timeout error (api_token in the URL)", &err);
    client.logout().await.unwrap();

    let wrong = "wrong-cielo24-password";
    audit.secret("cielo24 wrong password", wrong);
    let bad = Authenticated::new(
        Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .password(SecretString::from(wrong))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = bad.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err}");
    audit.error("cielo24 wrong-credentials error", &err);
    audit.debug("cielo24 client with wrong credentials", &bad);
}

async fn electa(audit: &mut Audit) {
    use auth_sim::electa::*;
    let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
    audit.secret("Electa app key", DEMO_APP_KEY);
    let builder = ElectaProvider::builder()
        .api_url(sim.base_url().clone())
        .cid(DEMO_CID)
        .app_key(SecretString::from(DEMO_APP_KEY));
    audit.debug("Electa builder", &builder);
    let provider = builder.build().unwrap();
    audit.debug("Electa provider", &provider);
    let client = Authenticated::builder(provider)
        .http_settings(settings())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let first = client.session().await.unwrap();
    audit.secret("Electa token", &token_of(&first));
    audit.debug("Electa session", &first);
    audit.debug("Electa client", &client);
    audit_scope(audit, "Electa", &client, sim.faults(), async |c| {
        c.call("users/list/", &[]).await.map(drop)
    })
    .await;
    for _ in 0..2 {
        let reply = client.call("users/list/", &[]).await.unwrap();
        audit.debug("Electa reply", &reply);
    }
    sim.expire_all_sessions();
    client.call("users/list/", &[]).await.unwrap();
    let second = client.session().await.unwrap();
    assert_ne!(token_of(&first), token_of(&second), "no re-login happened");
    audit.secret("Electa token after re-login", &token_of(&second));
    sim.faults().inject(Fault::Delay(Duration::from_secs(1)), 1);
    let err = client.call("users/list/", &[]).await.unwrap_err();
    audit.error("Electa call timeout error (token in the URL)", &err);
    client.logout().await.unwrap();

    let wrong = "WRONGKEY0000000000000000000000AB";
    audit.secret("Electa wrong key", wrong);
    let bad = Authenticated::new(
        ElectaProvider::builder()
            .api_url(sim.base_url().clone())
            .cid(DEMO_CID)
            .app_key(SecretString::from(wrong))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = bad.session().await.unwrap_err();
    assert!(err.is_invalid_credentials(), "{err}");
    audit.error("Electa wrong-key error", &err);
    audit.debug("Electa client with a wrong key", &bad);
}

#[test]
fn no_secret_in_logs_errors_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    // Also installs `tracing_log::LogTracer`, so `log` records (reqwest)
    // reach the subscriber.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()
        .expect("this test binary installs the only global subscriber");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut audit = Audit::default();
    runtime.block_on(async {
        let flows = async {
            ctc(&mut audit).await;
            plaspy(&mut audit).await;
            wialon(&mut audit).await;
            cielo24(&mut audit).await;
            electa(&mut audit).await;
        };
        tokio::time::timeout(Duration::from_secs(60), flows)
            .await
            .expect("the flows finished within 60 s");
    });
    drop(runtime);

    let captured = capture.text();
    if let Some(path) = std::env::var_os("SECRET_AUDIT_DUMP") {
        std::fs::write(path, &captured).unwrap();
    }
    // The capture really saw the flows, at TRACE level, including the
    // clients' own spans and events.
    for needle in ["auth.login", "TRACE", "DEBUG", "logged in", "auth.logout"] {
        assert!(captured.contains(needle), "the capture lacks {needle:?}");
    }
    assert!(audit.secrets.len() >= 20, "{} secrets", audit.secrets.len());
    // The audit itself finds a planted secret, also URL-encoded.
    let (_, planted) = &audit.secrets[0];
    assert!(!audit.check(&format!("x {planted} y")).is_empty());
    let encoded: String = url::form_urlencoded::byte_serialize(planted.as_bytes()).collect();
    assert!(!audit.check(&format!("x={encoded}&y")).is_empty());
    let leaks = audit.check(&captured);
    assert!(
        leaks.is_empty(),
        "{} leak(s) in {} bytes of output:\n{}",
        leaks.len(),
        captured.len(),
        leaks.join("\n")
    );
}
