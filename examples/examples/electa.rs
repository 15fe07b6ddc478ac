//! Electa Live: token, a protected call, lockout protection.
//!
//! Real account (never printed; server-to-server only):
//!   ELECTA_API_URL   your site's API URL, e.g. https://<site>/apps/api
//!   ELECTA_CID       account id
//!   ELECTA_APP_KEY   32-character application key
//! Without ELECTA_API_URL the example starts the local simulator.
//!
//! Run: `cargo run -p examples --example electa`

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy};
use auth_sim::electa::{DEMO_APP_KEY, DEMO_CID, ElectaSim, ElectaSimConfig};
use electa_auth::{ElectaClientExt, ElectaProvider};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
        .init();

    let (provider, sim) = match std::env::var("ELECTA_API_URL") {
        Ok(url) => {
            let cid: u64 = std::env::var("ELECTA_CID")?.parse()?;
            let key = SecretString::from(std::env::var("ELECTA_APP_KEY")?);
            println!("using the real Electa API");
            let p = ElectaProvider::builder()
                .api_url(url.parse()?)
                .cid(cid)
                .app_key(key)
                .build()?;
            (p, None)
        }
        Err(_) => {
            let sim = ElectaSim::start(ElectaSimConfig {
                lockout: Duration::from_millis(500),
                failure_window: Duration::from_millis(500),
                ..ElectaSimConfig::default()
            })
            .await?;
            println!(
                "ELECTA_API_URL not set: using the simulator at {}",
                sim.base_url()
            );
            let p = ElectaProvider::builder()
                .api_url(sim.base_url().clone())
                .cid(DEMO_CID)
                .app_key(SecretString::from(DEMO_APP_KEY))
                .build()?;
            (p, Some(sim))
        }
    };
    println!("token URL {} (POST, key in the body)", provider.token_url());
    let client = provider.into_client()?;
    let session = client.session().await?;
    println!(
        "token for CID {} valid for {:?}",
        session.data().cid,
        session.expires_in().unwrap_or_default()
    );
    let reply = client.call("users/list/", &[]).await?;
    println!(
        "users/list: response code {}, {} bytes of data",
        reply.code,
        reply.data.len()
    );

    if let Some(sim) = &sim {
        // Lockout protection: a wrong key is tried at most 4 times per window.
        let wrong = ElectaProvider::builder()
            .api_url(sim.base_url().clone())
            .cid(DEMO_CID)
            .app_key(SecretString::from("WRONGWRONGWRONGWRONGWRONGWRONG00"))
            .lockout_rule(4, Duration::from_millis(500))
            .build()?;
        let wrong = Authenticated::builder(wrong)
            .backoff(BackoffPolicy::none())
            .build()?;
        let mut locked_locally = 0;
        for _ in 0..100 {
            if let Err(AuthError::LockedOut { .. }) = wrong.session().await {
                locked_locally += 1;
            }
        }
        println!(
            "100 logins with a wrong key: {} reached the server, {} refused locally; server locked: {}",
            sim.counters().failed_logins(&DEMO_CID.to_string()),
            locked_locally,
            sim.is_locked(DEMO_CID)
        );
        sim.expire_all_sessions();
        client.call("users/list/", &[]).await?;
        println!(
            "after the server dropped the token: re-logged in ({} relogin)",
            client.stats().relogins
        );
    }
    println!("stats: {:?}", client.stats());
    Ok(())
}
