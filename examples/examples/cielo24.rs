//! cielo24 login, a job list, a secure key, logout.
//!
//! Real account (never printed):
//!   CIELO24_USERNAME      account name
//!   CIELO24_PASSWORD      password, or
//!   CIELO24_SECURE_KEY    a secure key from generate_api_key
//!   CIELO24_SANDBOX=1     use https://sandbox.cielo24.com instead of production
//! Without CIELO24_USERNAME the example starts the local simulator.
//!
//! Run: `cargo run -p examples --example cielo24`

use auth_core::Authenticated;
use auth_sim::cielo24::{Cielo24Sim, Cielo24SimConfig, DEMO_PASSWORD, DEMO_USERNAME};
use cielo24_auth::{Cielo24ClientExt, Cielo24Provider};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
        .init();

    let mut sim = None;
    let builder = match std::env::var("CIELO24_USERNAME") {
        Ok(username) => {
            let mut b = Cielo24Provider::builder().username(username);
            b = match (
                std::env::var("CIELO24_SECURE_KEY"),
                std::env::var("CIELO24_PASSWORD"),
            ) {
                (Ok(key), _) => b.secure_key(SecretString::from(key)),
                (_, Ok(password)) => b.password(SecretString::from(password)),
                _ => return Err("set CIELO24_PASSWORD or CIELO24_SECURE_KEY".into()),
            };
            if std::env::var("CIELO24_SANDBOX").is_ok_and(|v| v == "1") {
                b = b.sandbox();
            }
            println!("using the real cielo24 API");
            b
        }
        Err(_) => {
            let s = Cielo24Sim::start(Cielo24SimConfig::default()).await?;
            println!(
                "CIELO24_USERNAME not set: using the simulator at {}",
                s.base_url()
            );
            let b = Cielo24Provider::builder()
                .username(DEMO_USERNAME)
                .password(SecretString::from(DEMO_PASSWORD))
                .base_url(s.base_url().clone());
            sim = Some(s);
            b
        }
    };
    let provider = builder.build()?;
    println!(
        "base URL {}, credentials sent in headers",
        provider.base_url()
    );
    let client = Authenticated::new(provider)?;

    let session = client.session().await?;
    println!(
        "logged in as {} (generation {}, expiry {:?})",
        session.data().username,
        session.generation(),
        session.expiry()
    );
    let jobs = client.get_json("api/job/list", &[]).await?;
    let active = jobs["ActiveJobs"].as_array().map_or(0, Vec::len);
    println!("job/list: {active} active job(s)");

    // Without force_new this returns the existing key (or makes the first).
    let _key: SecretString = client.generate_api_key(false).await?;
    println!("generate_api_key: got a secure key (not printed); use it with CIELO24_SECURE_KEY");

    if let Some(sim) = &sim {
        sim.expire_all_sessions();
        client.get_json("api/job/list", &[]).await?;
        println!(
            "after the server dropped the session: re-logged in transparently ({} relogin)",
            client.stats().relogins
        );
    }
    client.logout().await?;
    println!("logged out; stats: {:?}", client.stats());
    if let Some(sim) = &sim {
        println!(
            "simulator counted {} login(s), {} call(s)",
            sim.counters().logins(DEMO_USERNAME),
            sim.counters().calls(DEMO_USERNAME)
        );
    }
    Ok(())
}
