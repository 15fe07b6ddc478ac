//! CalAmp CTC login with `ctc-auth`.
//!
//! Environment variables (all four for a real account; otherwise the local
//! simulator from `auth-sim` is used):
//!
//! * `CTC_USERNAME`: API user name
//! * `CTC_PASSWORD`: password
//! * `CTC_APP_KEY`: application key (`calamp-services-app`)
//! * `CTC_INSTANCE`: `us`, `eu` or a base URL (default `us`)
//! * `CTC_DEVICE_ID`: device whose latest AVL event is fetched (optional)
//!
//! Run with `cargo run -p examples --example ctc`. Secrets are never printed.

use auth_sim::ctc::{
    CtcSim, CtcSimConfig, DEMO_APP_KEY, DEMO_DEVICE_ID, DEMO_PASSWORD, DEMO_USERNAME,
};
use ctc_auth::{CtcProvider, Instance, TokenPlacement};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let real = match (env("CTC_USERNAME"), env("CTC_PASSWORD"), env("CTC_APP_KEY")) {
        (Some(user), Some(password), Some(app_key)) => Some((user, password, app_key)),
        _ => None,
    };
    // Keep the simulator alive for the whole run when it is used.
    let mut _sim = None;
    let (config, device) = match real {
        Some((user, password, app_key)) => {
            let instance: Instance = env("CTC_INSTANCE").unwrap_or_else(|| "us".into()).parse()?;
            println!("Using the real CTC {instance:?} instance as {user}");
            let config = CtcProvider::builder()
                .username(user)
                .password(SecretString::from(password))
                .app_key(SecretString::from(app_key))
                .instance(instance)
                .build()?;
            (config, env("CTC_DEVICE_ID"))
        }
        None => {
            let sim = CtcSim::start(CtcSimConfig::default()).await?;
            println!(
                "CTC_USERNAME/CTC_PASSWORD/CTC_APP_KEY not set: using the simulator at {}",
                sim.base_url()
            );
            let config = CtcProvider::builder()
                .username(DEMO_USERNAME)
                .password(SecretString::from(DEMO_PASSWORD))
                .app_key(SecretString::from(DEMO_APP_KEY))
                .instance(Instance::Custom(sim.base_url().clone()))
                .token_placement(TokenPlacement::Cookie)
                .build()?;
            _sim = Some(sim);
            (config, Some(DEMO_DEVICE_ID.to_owned()))
        }
    };

    let client = config.into_client()?;
    let session = client.session().await?;
    println!(
        "Logged in: generation {}, expiry {:?} (token not shown)",
        session.generation(),
        session.expiry()
    );
    if let Some(device) = device {
        let path = format!("connect/results/events/device/{device}/avl/latest");
        for i in 1..=3 {
            let response = client.get(&path).send().await?;
            let status = response.status();
            let body = response.text().await?;
            println!("Call {i}: HTTP {status}, {} bytes", body.len());
        }
    }
    if let Some(sim) = &_sim {
        sim.expire_all_sessions();
        println!("Simulator: all sessions expired; the next call logs in again transparently");
        let response = client
            .get(&format!(
                "connect/results/events/device/{DEMO_DEVICE_ID}/avl/latest"
            ))
            .send()
            .await?;
        println!("Call after expiry: HTTP {}", response.status());
        println!(
            "Simulator counted {} logins and {} calls",
            sim.counters().logins(DEMO_USERNAME),
            sim.counters().calls(DEMO_USERNAME)
        );
    }
    client.logout().await?;
    println!("Logged out. Client stats: {:?}", client.stats());
    Ok(())
}
