//! Credentials and tokens never follow a redirect to another origin, for
//! every provider, through the clients a user builds.
//!
//! Each case starts the provider's simulator and a second loopback server
//! (a bare TCP listener that records every connection and every byte). The
//! simulator answers one request with a redirect (301, 302, 303, 307, 308)
//! whose `Location` is the second server with the request's own path and
//! query. For the login and for an authorized call, the client must return
//! `AuthError::Redirect` naming the status and the second server's host, and
//! the second server must receive nothing: no connection, no byte.
//!
//! A redirect of an authorized call to the simulator's own origin is
//! followed, authorized again there (307 and 308, which keep the method and
//! body every provider's call needs). A login never follows a redirect, not
//! even to the same origin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy, HttpSettings, Provider};
use auth_sim::Fault;
use cielo24_auth::{Cielo24ClientExt, Cielo24Provider};
use ctc_auth::{CtcProvider, Instance};
use electa_auth::{ElectaClientExt, ElectaProvider};
use plaspy_auth::PlaspyProvider;
use secrecy::SecretString;
use tokio::io::AsyncReadExt;
use url::Url;
use wialon_token::{WialonClientExt, WialonProvider};

const STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// A loopback TCP server that answers nothing and records what arrives.
struct Second {
    url: Url,
    connections: Arc<Mutex<usize>>,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Second {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let connections = Arc::new(Mutex::new(0));
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (c, b) = (Arc::clone(&connections), Arc::clone(&bytes));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                *c.lock().unwrap() += 1;
                let b = Arc::clone(&b);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        b.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Self {
            url,
            connections,
            bytes,
        }
    }

    fn host(&self) -> String {
        format!(
            "{}:{}",
            self.url.host_str().unwrap(),
            self.url.port().unwrap()
        )
    }

    /// Asserts that nothing reached this server.
    async fn assert_received_nothing(&self, case: &str) {
        // Give a stray connection time to show up.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let connections = *self.connections.lock().unwrap();
        let bytes = self.bytes.lock().unwrap().clone();
        assert_eq!(
            (connections, bytes.len()),
            (0, 0),
            "{case}: the second server received {connections} connection(s): {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Login,
    Call,
}

fn settings() -> HttpSettings {
    HttpSettings::default().timeout(Duration::from_secs(5))
}

/// The error must be a redirect refusal naming the status and the host.
fn assert_refused(case: &str, result: Result<(), AuthError>, status: u16, host: &str) {
    match result {
        Err(AuthError::Redirect {
            status: s,
            target_host,
            ..
        }) => {
            assert_eq!(s, status, "{case}");
            assert_eq!(target_host, host, "{case}");
        }
        other => panic!("{case}: expected AuthError::Redirect, got {other:?}"),
    }
}

/// Where the injected redirect points.
#[derive(Debug, Clone)]
enum Target {
    /// Another origin (the second server).
    Other(Url),
    /// The simulator's own origin.
    Own,
}

impl Target {
    fn resolve(&self, own: &Url) -> Url {
        match self {
            Target::Other(url) => url.clone(),
            Target::Own => own.clone(),
        }
    }
}

/// Injects a redirect to `target` with `status` into `sim`, on the login
/// (`Case::Login`) or on `call` after a successful login (`Case::Call`),
/// for a client of `provider` built with this file's settings.
async fn redirected<P, C>(
    provider: P,
    sim: &auth_sim::SimHandle,
    case: Case,
    status: u16,
    target: &Target,
    call: impl FnOnce(Authenticated<P>) -> C,
) -> Result<(), AuthError>
where
    P: Provider,
    C: std::future::Future<Output = Result<(), AuthError>>,
{
    let client = Authenticated::builder(provider)
        .http_settings(settings())
        .backoff(BackoffPolicy::none())
        .build()?;
    let fault = Fault::Redirect {
        status,
        to: target.resolve(sim.base_url()),
    };
    let faults = sim.faults();
    let result = match case {
        Case::Login => {
            faults.inject(fault, 1);
            client.session().await.map(drop)
        }
        Case::Call => {
            client.session().await.expect("the first login succeeds");
            faults.inject(fault, 1);
            call(client).await
        }
    };
    faults.clear();
    result
}

async fn ctc(case: Case, status: u16, target: &Target) -> Result<(), AuthError> {
    use auth_sim::ctc::*;
    let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
    let provider = CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()))
        .build()?;
    let path = avl_latest_path(DEMO_DEVICE_ID);
    redirected(provider, &sim, case, status, target, |client| async move {
        let response = client.get(&path).send().await?;
        assert_eq!(response.status(), 200);
        Ok(())
    })
    .await
}

async fn plaspy(case: Case, status: u16, target: &Target) -> Result<(), AuthError> {
    use auth_sim::plaspy::*;
    let sim = PlaspySim::start(PlaspySimConfig::default()).await.unwrap();
    let provider = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(SecretString::from(DEMO_API_KEY))
        .base_url(sim.base_url().clone())
        .build()?;
    redirected(provider, &sim, case, status, target, |client| async move {
        let response = client.get("api/devices").send().await?;
        assert_eq!(response.status(), 200);
        Ok(())
    })
    .await
}

async fn wialon(case: Case, status: u16, target: &Target) -> Result<(), AuthError> {
    use auth_sim::wialon::*;
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let provider = WialonProvider::builder()
        .token(DEMO_TOKEN)
        .host(sim.base_url().as_str())
        .build()?;
    let params = serde_json::json!({
        "spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*", "sortType": "sys_name"},
        "force": 1, "flags": 1, "from": 0, "to": 0
    });
    redirected(provider, &sim, case, status, target, |client| async move {
        client
            .call::<serde_json::Value>("core/search_items", &params)
            .await
            .map(drop)
    })
    .await
}

async fn cielo24(case: Case, status: u16, target: &Target) -> Result<(), AuthError> {
    use auth_sim::cielo24::*;
    let sim = Cielo24Sim::start(Cielo24SimConfig::default())
        .await
        .unwrap();
    let provider = Cielo24Provider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .base_url(sim.base_url().clone())
        .build()?;
    redirected(provider, &sim, case, status, target, |client| async move {
        client.get_json("api/job/list", &[]).await.map(drop)
    })
    .await
}

async fn electa(case: Case, status: u16, target: &Target) -> Result<(), AuthError> {
    use auth_sim::electa::*;
    let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
    let provider = ElectaProvider::builder()
        .api_url(sim.base_url().clone())
        .cid(DEMO_CID)
        .app_key(SecretString::from(DEMO_APP_KEY))
        .build()?;
    redirected(provider, &sim, case, status, target, |client| async move {
        client.call("users/list/", &[]).await.map(drop)
    })
    .await
}

const PROVIDERS: [&str; 5] = ["ctc", "plaspy", "wialon", "cielo24", "electa"];

async fn flow(provider: &str, case: Case, status: u16, target: &Target) -> Result<(), AuthError> {
    match provider {
        "ctc" => ctc(case, status, target).await,
        "plaspy" => plaspy(case, status, target).await,
        "wialon" => wialon(case, status, target).await,
        "cielo24" => cielo24(case, status, target).await,
        "electa" => electa(case, status, target).await,
        other => unreachable!("{other}"),
    }
}

/// Every provider and status, against a fresh second server each time.
async fn each_provider_refuses(case: Case) {
    for status in STATUSES {
        for provider in PROVIDERS {
            let second = Second::start().await;
            let target = Target::Other(second.url.clone());
            let result = flow(provider, case, status, &target).await;
            let label = format!("{provider} {case:?} {status}");
            assert_refused(&label, result, status, &second.host());
            second.assert_received_nothing(&label).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_redirected_to_another_origin_sends_it_nothing() {
    each_provider_refuses(Case::Login).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_redirected_to_another_origin_sends_it_nothing() {
    each_provider_refuses(Case::Call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_not_redirected_even_to_its_own_origin() {
    for status in STATUSES {
        for provider in PROVIDERS {
            match flow(provider, Case::Login, status, &Target::Own).await {
                Err(AuthError::Redirect { status: s, .. }) => assert_eq!(s, status, "{provider}"),
                other => panic!("{provider} {status}: expected a redirect error, got {other:?}"),
            }
        }
    }
}

/// A call redirected to the provider's own origin is followed (307 and 308
/// keep the method and body every call needs) and authorized again at the
/// target: the call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_redirected_within_the_origin_is_followed_and_authorized_again() {
    for status in [307, 308] {
        for provider in PROVIDERS {
            flow(provider, Case::Call, status, &Target::Own)
                .await
                .unwrap_or_else(|e| panic!("{provider} {status}: {e}"));
        }
    }
}
