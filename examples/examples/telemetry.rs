//! Telemetry: the `auth.send` / `auth.login` spans to a tracing subscriber,
//! and the `metrics` counters to a recorder (here one that prints them at
//! the end; in production a Prometheus or StatsD exporter).
//!
//! `cargo run -p examples --example telemetry` (against the Plaspy
//! simulator; no network).

use std::time::Duration;

use auth_sim::plaspy::{DEMO_API_KEY, DEMO_USERNAME, PlaspySim, PlaspySimConfig};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use plaspy_auth::PlaspyProvider;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Spans and events: `RUST_LOG=info` shows one `auth.send` span per call
    // (provider, method, host, path, status, generation, relogin).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();
    // Metrics: any `metrics` recorder; labels are `provider` and `outcome`.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install()?;

    let sim = PlaspySim::start(PlaspySimConfig {
        token_ttl: Duration::from_secs(60),
        ..PlaspySimConfig::default()
    })
    .await?;
    let client = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(DEMO_API_KEY)
        .base_url(sim.base_url().clone())
        .build()?
        .into_client()?;
    for _ in 0..3 {
        let response = client.get("api/devices").send().await?;
        println!("GET /api/devices: HTTP {}", response.status());
    }
    sim.expire_all_sessions();
    let response = client.get("api/devices").send().await?;
    println!(
        "after the sessions were expired: HTTP {}",
        response.status()
    );

    println!("\nmetrics:");
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let value = match value {
            DebugValue::Counter(n) => n.to_string(),
            DebugValue::Gauge(g) => g.to_string(),
            DebugValue::Histogram(samples) => format!("{} samples", samples.len()),
        };
        println!("  {}{{{}}} {value}", key.name(), labels.join(","));
    }
    Ok(())
}
