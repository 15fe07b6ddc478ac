//! A token goes only to its provider's origin (or one allowed explicitly),
//! and `endpoint()` cannot build a URL outside the configured base, for
//! every provider.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_core::{AuthError, Authenticated, DynAuthenticated};
use secrecy::SecretString;
use url::Url;

/// Paths that would leave the base URL.
const ESCAPES: [&str; 9] = [
    "../x",
    "a/../../x",
    "//evil.example/x",
    "https://evil.example/x",
    "%2e%2e/x",
    ".%2E/x",
    "a/%2e%2e/%2e%2e/x",
    "\\\\evil.example\\x",
    "./x",
];

/// A loopback listener that counts connections and never answers.
async fn listener() -> (Url, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, count)
}

fn assert_escapes_refused(name: &str, endpoint: impl Fn(&str) -> Result<Url, AuthError>) {
    for path in ESCAPES {
        match endpoint(path) {
            Err(AuthError::Config(_)) => {}
            other => panic!("{name}: endpoint({path:?}) gave {other:?}"),
        }
    }
}

#[test]
fn endpoints_of_every_provider_stay_below_the_base() {
    let base = Url::parse("https://api.example.com/prefix/").unwrap();
    let ctc = ctc_auth::CtcProvider::builder()
        .username("u")
        .password(SecretString::from("p"))
        .app_key(SecretString::from("k"))
        .instance(ctc_auth::Instance::Custom(base.clone()))
        .build()
        .unwrap();
    assert_escapes_refused("ctc", |p| ctc.endpoint(p));
    assert_eq!(
        ctc.endpoint("connect/x?y=1").unwrap().as_str(),
        "https://api.example.com/prefix/connect/x?y=1"
    );
    let plaspy = plaspy_auth::PlaspyProvider::builder()
        .user_name("u")
        .api_key(SecretString::from("k"))
        .base_url(base.clone())
        .build()
        .unwrap();
    assert_escapes_refused("plaspy", |p| plaspy.endpoint(p));
    let wialon = wialon_token::WialonProvider::builder()
        .token("t".repeat(72))
        .host(base.as_str())
        .build()
        .unwrap();
    assert_escapes_refused("wialon", |p| wialon.endpoint(p));
    let cielo24 = cielo24_auth::Cielo24Provider::builder()
        .username("u")
        .password(SecretString::from("p"))
        .base_url(base.clone())
        .build()
        .unwrap();
    assert_escapes_refused("cielo24", |p| cielo24.endpoint(p));
    assert_eq!(
        cielo24.endpoint("/api/job/list").unwrap().as_str(),
        "https://api.example.com/prefix/api/job/list"
    );
    let electa = electa_auth::ElectaProvider::builder()
        .api_url(base.clone())
        .cid(1)
        .app_key(SecretString::from("K".repeat(32)))
        .build()
        .unwrap();
    assert_escapes_refused("electa", |p| electa.endpoint(p));
}

/// Clients of the five providers, logged in against their simulators.
async fn clients() -> (Vec<Box<dyn DynAuthenticated>>, Vec<Box<dyn std::any::Any>>) {
    use auth_sim::{cielo24, ctc, electa, plaspy, wialon};
    let ctc_sim = ctc::CtcSim::start(ctc::CtcSimConfig::default())
        .await
        .unwrap();
    let plaspy_sim = plaspy::PlaspySim::start(plaspy::PlaspySimConfig::default())
        .await
        .unwrap();
    let wialon_sim = wialon::WialonSim::start(wialon::WialonSimConfig::default())
        .await
        .unwrap();
    let cielo24_sim = cielo24::Cielo24Sim::start(cielo24::Cielo24SimConfig::default())
        .await
        .unwrap();
    let electa_sim = electa::ElectaSim::start(electa::ElectaSimConfig::default())
        .await
        .unwrap();
    let clients: Vec<Box<dyn DynAuthenticated>> = vec![
        Box::new(
            Authenticated::new(
                ctc_auth::CtcProvider::builder()
                    .username(ctc::DEMO_USERNAME)
                    .password(SecretString::from(ctc::DEMO_PASSWORD))
                    .app_key(SecretString::from(ctc::DEMO_APP_KEY))
                    .instance(ctc_auth::Instance::Custom(ctc_sim.base_url().clone()))
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        Box::new(
            Authenticated::new(
                plaspy_auth::PlaspyProvider::builder()
                    .user_name(plaspy::DEMO_USERNAME)
                    .api_key(SecretString::from(plaspy::DEMO_API_KEY))
                    .base_url(plaspy_sim.base_url().clone())
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        Box::new(
            Authenticated::new(
                wialon_token::WialonProvider::builder()
                    .token(wialon::DEMO_TOKEN)
                    .host(wialon_sim.base_url().as_str())
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        Box::new(
            Authenticated::new(
                cielo24_auth::Cielo24Provider::builder()
                    .username(cielo24::DEMO_USERNAME)
                    .password(SecretString::from(cielo24::DEMO_PASSWORD))
                    .base_url(cielo24_sim.base_url().clone())
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        Box::new(
            Authenticated::new(
                electa_auth::ElectaProvider::builder()
                    .api_url(electa_sim.base_url().clone())
                    .cid(electa::DEMO_CID)
                    .app_key(SecretString::from(electa::DEMO_APP_KEY))
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
    ];
    let sims: Vec<Box<dyn std::any::Any>> = vec![
        Box::new(ctc_sim),
        Box::new(plaspy_sim),
        Box::new(wialon_sim),
        Box::new(cielo24_sim),
        Box::new(electa_sim),
    ];
    (clients, sims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_never_sent_to_another_origin() {
    let (other, connections) = listener().await;
    let (clients, _sims) = clients().await;
    for client in &clients {
        client.token().await.unwrap();
        for url in [
            other.join("data?x=1").unwrap(),
            // Same host and port, other scheme.
            Url::parse(&other.as_str().replace("http://", "https://")).unwrap(),
        ] {
            let err = client
                .send(client.http_client().get(url.clone()))
                .await
                .unwrap_err();
            assert!(
                matches!(err, AuthError::ForeignOrigin { .. }),
                "{}: {url}: {err:?}",
                client.provider_name()
            );
            assert!(!err.to_string().contains("x=1"), "{err}");
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a request reached the other origin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_allowed_on_the_builder_gets_the_token() {
    use auth_sim::plaspy;
    let sim = plaspy::PlaspySim::start(plaspy::PlaspySimConfig::default())
        .await
        .unwrap();
    let other = plaspy::PlaspySim::start(plaspy::PlaspySimConfig::default())
        .await
        .unwrap();
    let provider = plaspy_auth::PlaspyProvider::builder()
        .user_name(plaspy::DEMO_USERNAME)
        .api_key(SecretString::from(plaspy::DEMO_API_KEY))
        .base_url(sim.base_url().clone())
        .build()
        .unwrap();
    let client = Authenticated::builder(provider)
        .allow_origin(other.base_url().clone())
        .build()
        .unwrap();
    // The other simulator does not know this token: it answers 401, which
    // proves the request reached it, authorized.
    let url = other.base_url().join("api/devices").unwrap();
    let err = client
        .send(client.http().client().get(url))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::SessionRejected { .. }), "{err:?}");
    let refused = Authenticated::builder(
        plaspy_auth::PlaspyProvider::builder()
            .user_name(plaspy::DEMO_USERNAME)
            .api_key(SecretString::from(plaspy::DEMO_API_KEY))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap(),
    )
    .allow_origin(Url::parse("http://insecure.example/").unwrap())
    .build()
    .unwrap_err();
    assert!(matches!(refused, AuthError::Config(_)), "{refused:?}");
}
