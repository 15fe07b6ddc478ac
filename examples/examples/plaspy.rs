//! Plaspy / ALTAGAMA GPS login with `plaspy-auth`.
//!
//! Environment variables (both for a real account; otherwise the local
//! simulator from `auth-sim` is used):
//!
//! * `PLASPY_USERNAME`: user name
//! * `PLASPY_API_KEY`: API key
//!
//! Run with `cargo run -p examples --example plaspy`. Secrets are never
//! printed.

use std::time::Duration;

use auth_core::{Authenticated, RefreshPolicy};
use auth_sim::plaspy::{DEMO_API_KEY, DEMO_USERNAME, ExpiresFormat, PlaspySim, PlaspySimConfig};
use plaspy_auth::PlaspyProvider;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut _sim = None;
    let mut refresh = RefreshPolicy::default();
    let config = match (env("PLASPY_USERNAME"), env("PLASPY_API_KEY")) {
        (Some(user), Some(key)) => {
            println!("Using the real Plaspy API as {user}");
            PlaspyProvider::builder()
                .user_name(user)
                .api_key(SecretString::from(key))
                .build()?
        }
        _ => {
            // Short-lived tokens, to show renewal ahead of expiry.
            let sim = PlaspySim::start(PlaspySimConfig {
                token_ttl: Duration::from_secs(4),
                expires_format: ExpiresFormat::UtcFraction,
                ..PlaspySimConfig::default()
            })
            .await?;
            println!(
                "PLASPY_USERNAME/PLASPY_API_KEY not set: using the simulator at {} (4 s tokens)",
                sim.base_url()
            );
            refresh = RefreshPolicy::new(Duration::from_millis(1500), Duration::ZERO);
            let config = PlaspyProvider::builder()
                .user_name(DEMO_USERNAME)
                .api_key(SecretString::from(DEMO_API_KEY))
                .base_url(sim.base_url().clone())
                .build()?;
            _sim = Some(sim);
            config
        }
    };

    let client = Authenticated::builder(config)
        .refresh_policy(refresh)
        .build()?;
    let session = client.session().await?;
    println!(
        "Token obtained: expires {} (from {:?}; token not shown)",
        session.data().expires,
        session.data().expiry_source
    );
    let rounds = if _sim.is_some() { 6 } else { 1 };
    for i in 1..=rounds {
        let response = client.get("api/devices").send().await?;
        let status = response.status();
        let body = response.text().await?;
        println!("GET /api/devices #{i}: HTTP {status}, {} bytes", body.len());
        if i < rounds {
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
    if let Some(sim) = &_sim {
        let stats = client.stats();
        println!(
            "Simulator counted {} logins for {} calls; the client renewed {} time(s) ahead of expiry and saw {} rejection(s)",
            sim.counters().logins(DEMO_USERNAME),
            sim.counters().calls(DEMO_USERNAME),
            stats.refreshes,
            stats.rejections
        );
    }
    client.logout().await?;
    println!(
        "Session forgotten (Plaspy has no logout endpoint). Stats: {:?}",
        client.stats()
    );
    Ok(())
}
