//! A tour of the five providers.
//!
//! For each provider it starts the local simulator (from `auth-sim`,
//! in-process, on a loopback port), logs in, makes protected calls, has the
//! server expire every session and shows the transparent re-login, shows one
//! login for 1,000 concurrent calls on a fresh client (9 for Wialon, whose
//! service refuses more than 10 concurrent requests per session), and logs
//! out. Then it
//! shows Electa's lockout guard refusing logins locally before the server's
//! 5-failure lockout. It ends with a table.
//!
//! With a provider's real credentials in the environment, that provider runs
//! against the real service instead, gently: one login, one protected call
//! where one is known, logout (no forced expiry, no 1,000-call burst):
//!
//! | provider | variables |
//! |---|---|
//! | CTC | `CTC_USERNAME`, `CTC_PASSWORD`, `CTC_APP_KEY`, optional `CTC_INSTANCE` (`us`, `eu` or a URL), `CTC_DEVICE_ID` |
//! | Plaspy | `PLASPY_USERNAME`, `PLASPY_API_KEY` |
//! | Wialon | `WIALON_TOKEN`, optional `WIALON_HOST` |
//! | cielo24 | `CIELO24_USERNAME` and `CIELO24_PASSWORD` or `CIELO24_SECURE_KEY`, optional `CIELO24_SANDBOX=1` |
//! | Electa | `ELECTA_API_URL`, `ELECTA_CID`, `ELECTA_APP_KEY` |
//!
//! Run: `cargo run -p examples --example tour`. Secrets are never printed.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::reqwest::{Client, RequestBuilder};
use auth_core::{AuthError, Authenticated, BackoffPolicy, DynAuthenticated};
use auth_sim::Counters;
use auth_sim::cielo24::{Cielo24Sim, Cielo24SimConfig};
use auth_sim::ctc::{CtcSim, CtcSimConfig};
use auth_sim::electa::{ElectaSim, ElectaSimConfig};
use auth_sim::plaspy::{PlaspySim, PlaspySimConfig};
use auth_sim::wialon::{WialonSim, WialonSimConfig};
use secrecy::SecretString;
use url::Url;

type BoxError = Box<dyn Error + Send + Sync>;
type Make = Box<dyn Fn() -> Result<Arc<dyn DynAuthenticated>, AuthError>>;
type Request = Arc<dyn Fn(&Client) -> RequestBuilder + Send + Sync>;

/// Concurrent calls on a fresh client in the single-flight demo.
const BURST: usize = 1000;

/// Wialon's burst: the service processes at most 10 requests of one session
/// at the same time (docs.wialon.com "Limitations"), and its simulator
/// refuses more by default, so the Wialon burst stays below that.
const WIALON_BURST: usize = 9;

/// One provider's part of the tour.
struct Scenario {
    name: &'static str,
    make: Make,
    /// A protected call (authorized by the client), when one is known.
    request: Option<Request>,
    /// The simulator's controls, or `None` against the real service.
    sim: Option<SimHooks>,
}

struct SimHooks {
    expire: Box<dyn Fn()>,
    counters: Counters,
}

/// A row of the final table.
struct Row {
    provider: &'static str,
    target: &'static str,
    logins: u64,
    calls: u64,
    relogins: u64,
    burst: String,
    time: Duration,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn secret(name: &str) -> Option<SecretString> {
    env(name).map(SecretString::from)
}

fn dynamic<P: auth_core::Provider>(provider: P) -> Result<Arc<dyn DynAuthenticated>, AuthError> {
    Ok(Arc::new(Authenticated::new(provider)?))
}

async fn ctc() -> Result<Scenario, BoxError> {
    use ctc_auth::{CtcProvider, Instance};
    let (config, device, sim) = match (
        env("CTC_USERNAME"),
        secret("CTC_PASSWORD"),
        secret("CTC_APP_KEY"),
    ) {
        (Some(user), Some(password), Some(app_key)) => {
            let instance: Instance = env("CTC_INSTANCE").unwrap_or_else(|| "us".into()).parse()?;
            let config = CtcProvider::builder()
                .username(user)
                .password(password)
                .app_key(app_key)
                .instance(instance)
                .build()?;
            (config, env("CTC_DEVICE_ID"), None)
        }
        _ => {
            use auth_sim::ctc::{DEMO_APP_KEY, DEMO_DEVICE_ID, DEMO_PASSWORD, DEMO_USERNAME};
            let sim = Arc::new(CtcSim::start(CtcSimConfig::default()).await?);
            let config = CtcProvider::builder()
                .username(DEMO_USERNAME)
                .password(SecretString::from(DEMO_PASSWORD))
                .app_key(SecretString::from(DEMO_APP_KEY))
                .instance(Instance::Custom(sim.base_url().clone()))
                .build()?;
            let hooks = SimHooks {
                expire: Box::new({
                    let sim = Arc::clone(&sim);
                    move || sim.expire_all_sessions()
                }),
                counters: sim.counters().clone(),
            };
            // The simulator lives as long as the hooks that hold it.
            (config, Some(DEMO_DEVICE_ID.to_owned()), Some((hooks, sim)))
        }
    };
    let base = config.base_url().clone();
    let request = device.map(|device| -> Request {
        let url = endpoint(
            &base,
            &format!("connect/results/events/device/{device}/avl/latest"),
        );
        Arc::new(move |http: &Client| http.get(url.clone()))
    });
    let (sim, keep) = split(sim);
    Ok(Scenario {
        name: "CTC",
        make: Box::new(move || {
            let _ = &keep;
            dynamic(config.clone())
        }),
        request,
        sim,
    })
}

async fn plaspy() -> Result<Scenario, BoxError> {
    use plaspy_auth::PlaspyProvider;
    let (config, sim) = match (env("PLASPY_USERNAME"), secret("PLASPY_API_KEY")) {
        (Some(user), Some(key)) => (
            PlaspyProvider::builder()
                .user_name(user)
                .api_key(key)
                .build()?,
            None,
        ),
        _ => {
            use auth_sim::plaspy::{DEMO_API_KEY, DEMO_USERNAME};
            let sim = Arc::new(PlaspySim::start(PlaspySimConfig::default()).await?);
            let config = PlaspyProvider::builder()
                .user_name(DEMO_USERNAME)
                .api_key(SecretString::from(DEMO_API_KEY))
                .base_url(sim.base_url().clone())
                .build()?;
            let hooks = SimHooks {
                expire: Box::new({
                    let sim = Arc::clone(&sim);
                    move || sim.expire_all_sessions()
                }),
                counters: sim.counters().clone(),
            };
            (config, Some((hooks, sim)))
        }
    };
    let url = endpoint(config.base_url(), "api/devices");
    let (sim, keep) = split(sim);
    Ok(Scenario {
        name: "Plaspy",
        make: Box::new(move || {
            let _ = &keep;
            dynamic(config.clone())
        }),
        request: Some(Arc::new(move |http: &Client| http.get(url.clone()))),
        sim,
    })
}

async fn wialon() -> Result<Scenario, BoxError> {
    use wialon_token::WialonProvider;
    let (token, host, sim) = match env("WIALON_TOKEN") {
        Some(token) => (
            token.trim().to_owned(),
            env("WIALON_HOST").unwrap_or_else(|| wialon_token::WIALON_HOSTING.to_owned()),
            None,
        ),
        None => {
            let sim = Arc::new(WialonSim::start(WialonSimConfig::default()).await?);
            let hooks = SimHooks {
                expire: Box::new({
                    let sim = Arc::clone(&sim);
                    move || sim.expire_all_sessions()
                }),
                counters: sim.counters().clone(),
            };
            (
                auth_sim::wialon::DEMO_TOKEN.to_owned(),
                sim.base_url().to_string(),
                Some((hooks, sim)),
            )
        }
    };
    let build = move || {
        WialonProvider::builder()
            .token(token.clone())
            .host(&host)
            .build()
    };
    let ajax = build()?.ajax_url().clone();
    let (sim, keep) = split(sim);
    Ok(Scenario {
        name: "Wialon",
        make: Box::new(move || {
            let _ = &keep;
            dynamic(build()?)
        }),
        request: Some(Arc::new(move |http: &Client| {
            let params = r#"{"spec":{"itemsType":"avl_unit","propName":"sys_name","propValueMask":"*","sortType":"sys_name"},"force":1,"flags":1,"from":0,"to":0}"#;
            http.post(ajax.clone())
                .form(&[("svc", "core/search_items"), ("params", params)])
        })),
        sim,
    })
}

async fn cielo24() -> Result<Scenario, BoxError> {
    use cielo24_auth::Cielo24Provider;
    let (builder, sim) = match env("CIELO24_USERNAME") {
        Some(user) => {
            let builder = Cielo24Provider::builder().username(user);
            let builder =
                match (secret("CIELO24_SECURE_KEY"), secret("CIELO24_PASSWORD")) {
                    (Some(key), _) => builder.secure_key(key),
                    (None, Some(password)) => builder.password(password),
                    (None, None) => return Err(
                        "CIELO24_USERNAME is set: set CIELO24_PASSWORD or CIELO24_SECURE_KEY too"
                            .into(),
                    ),
                };
            let builder = if env("CIELO24_SANDBOX").is_some() {
                builder.sandbox()
            } else {
                builder
            };
            (builder, None)
        }
        None => {
            use auth_sim::cielo24::{DEMO_PASSWORD, DEMO_USERNAME};
            let sim = Arc::new(Cielo24Sim::start(Cielo24SimConfig::default()).await?);
            let builder = Cielo24Provider::builder()
                .username(DEMO_USERNAME)
                .password(SecretString::from(DEMO_PASSWORD))
                .base_url(sim.base_url().clone());
            let hooks = SimHooks {
                expire: Box::new({
                    let sim = Arc::clone(&sim);
                    move || sim.expire_all_sessions()
                }),
                counters: sim.counters().clone(),
            };
            (builder, Some((hooks, sim)))
        }
    };
    let provider = builder.build()?;
    let url = endpoint(provider.base_url(), "api/job/list");
    let (sim, keep) = split(sim);
    Ok(Scenario {
        name: "cielo24",
        make: Box::new(move || {
            let _ = &keep;
            dynamic(provider.clone())
        }),
        request: Some(Arc::new(move |http: &Client| http.get(url.clone()))),
        sim,
    })
}

async fn electa() -> Result<(Scenario, Option<Arc<ElectaSim>>), BoxError> {
    use electa_auth::ElectaProvider;
    let (api_url, cid, key, sim) = match (
        env("ELECTA_API_URL"),
        env("ELECTA_CID"),
        secret("ELECTA_APP_KEY"),
    ) {
        (Some(url), Some(cid), Some(key)) => (Url::parse(&url)?, cid.parse::<u64>()?, key, None),
        _ => {
            use auth_sim::electa::{DEMO_APP_KEY, DEMO_CID};
            let sim = Arc::new(ElectaSim::start(ElectaSimConfig::default()).await?);
            (
                sim.base_url().clone(),
                DEMO_CID,
                SecretString::from(DEMO_APP_KEY),
                Some(sim),
            )
        }
    };
    let build = {
        let api_url = api_url.clone();
        move || {
            ElectaProvider::builder()
                .api_url(api_url.clone())
                .cid(cid)
                .app_key(key.clone())
                .build()
        }
    };
    build()?;
    let url = endpoint(&api_url, "users/list/");
    let hooks = sim.as_ref().map(|sim| SimHooks {
        expire: Box::new({
            let sim = Arc::clone(sim);
            move || sim.expire_all_sessions()
        }),
        counters: sim.counters().clone(),
    });
    Ok((
        Scenario {
            name: "Electa",
            make: Box::new(move || dynamic(build()?)),
            request: Some(Arc::new(move |http: &Client| http.get(url.clone()))),
            sim: hooks,
        },
        sim,
    ))
}

/// Splits "hooks + simulator" into the hooks and a keep-alive handle for the
/// simulator (dropped with the scenario).
fn split<S: Send + Sync + 'static>(
    sim: Option<(SimHooks, Arc<S>)>,
) -> (Option<SimHooks>, Option<Arc<S>>) {
    match sim {
        Some((hooks, sim)) => (Some(hooks), Some(sim)),
        None => (None, None),
    }
}

/// `path` below `base` (keeping its path prefix).
fn endpoint(base: &Url, path: &str) -> Url {
    auth_core::http::join_below(base, path).expect("a relative path joins any http(s) base URL")
}

async fn call(client: &Arc<dyn DynAuthenticated>, request: &Request) -> Result<(), BoxError> {
    let response = client.send(request(client.http_client())).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("protected call answered HTTP {status}").into());
    }
    Ok(())
}

async fn run(scenario: &Scenario) -> Result<Row, BoxError> {
    let started = Instant::now();
    let name = scenario.name;
    let Some(sim) = &scenario.sim else {
        // The real service: one login, one call where one is known, logout.
        let client = (scenario.make)()?;
        client.token().await?;
        println!("  {name}: logged in to the real service");
        if let Some(request) = &scenario.request {
            call(&client, request).await?;
            println!("  {name}: protected call succeeded");
        }
        client.logout().await?;
        let stats = client.stats();
        return Ok(Row {
            provider: name,
            target: "real",
            logins: stats.logins,
            calls: stats.requests,
            relogins: stats.relogins,
            burst: "skipped".into(),
            time: started.elapsed(),
        });
    };
    let request = scenario
        .request
        .as_ref()
        .ok_or("every simulator has a protected call")?;

    let client = (scenario.make)()?;
    for _ in 0..3 {
        call(&client, request).await?;
    }
    (sim.expire)();
    call(&client, request).await?;
    let relogins = client.stats().relogins;
    println!(
        "  {name}: 3 calls, server expired every session, next call re-logged in transparently ({relogins} re-login)"
    );

    let fresh = (scenario.make)()?;
    let before = sim.counters.total_logins();
    let burst = if name == "Wialon" {
        WIALON_BURST
    } else {
        BURST
    };
    let tasks: Vec<_> = (0..burst)
        .map(|_| {
            let fresh = Arc::clone(&fresh);
            let request = Arc::clone(request);
            tokio::spawn(async move { call(&fresh, &request).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let burst_logins = sim.counters.total_logins() - before;
    println!("  {name}: {burst} concurrent calls on a fresh client -> {burst_logins} login");

    client.logout().await?;
    fresh.logout().await?;
    Ok(Row {
        provider: name,
        target: "simulator",
        logins: sim.counters.total_logins(),
        calls: sim.counters.total_calls(),
        relogins,
        burst: format!("{burst_logins} login"),
        time: started.elapsed(),
    })
}

/// Electa locks API access for 15 minutes after 5 failed logins; the client
/// stops at 4 and refuses the rest locally.
async fn electa_lockout(sim: &ElectaSim) -> Result<(), BoxError> {
    use auth_sim::electa::DEMO_CID;
    let wrong = electa_auth::ElectaProvider::builder()
        .api_url(sim.base_url().clone())
        .cid(DEMO_CID)
        .app_key(SecretString::from("WRONGWRONGWRONGWRONGWRONGWRONG00"))
        .build()?;
    let client = Authenticated::builder(wrong)
        .backoff(BackoffPolicy::none())
        .build()?;
    let before = sim.counters().failed_logins(&DEMO_CID.to_string());
    let mut refused = 0;
    for _ in 0..100 {
        // After Electa's budget of rejections the client stops until the
        // key is fixed and the client reset.
        if let Err(AuthError::CredentialsBlocked { .. } | AuthError::LockedOut { .. }) =
            client.session().await
        {
            refused += 1;
        }
    }
    let reached = sim.counters().failed_logins(&DEMO_CID.to_string()) - before;
    println!(
        "  Electa: 100 logins with a wrong application key -> {reached} reached the server, {refused} refused locally \
         until the key is fixed; server lockout triggered: {}",
        if sim.is_locked(DEMO_CID) { "yes" } else { "no" }
    );
    Ok(())
}

fn print_table(rows: &[Row]) {
    let header = [
        "provider",
        "target",
        "logins",
        "calls",
        "re-logins",
        "concurrent burst",
        "time",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.provider.to_owned(),
                r.target.to_owned(),
                r.logins.to_string(),
                r.calls.to_string(),
                r.relogins.to_string(),
                r.burst.clone(),
                format!("{:.0} ms", r.time.as_secs_f64() * 1000.0),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    println!("|{}|", widths.map(|w| "-".repeat(w + 2)).join("|"));
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();

    println!("vendor-auth tour: five providers, simulators started in-process on loopback ports\n");
    let (electa, electa_sim) = electa().await?;
    let scenarios = vec![
        ctc().await?,
        plaspy().await?,
        wialon().await?,
        cielo24().await?,
        electa,
    ];

    let mut rows = Vec::new();
    for scenario in &scenarios {
        rows.push(
            run(scenario)
                .await
                .map_err(|e| format!("{}: {e}", scenario.name))?,
        );
    }
    if let Some(sim) = &electa_sim {
        electa_lockout(sim).await?;
    }
    println!();
    print_table(&rows);
    println!(
        "\nlogins and calls are counted by the simulators (calls include logouts where the provider \
         counts them); each provider ran 4 calls on one client, with one server-side expiry between \
         the 3rd and the 4th, and a burst of concurrent calls on a fresh client ({BURST}; \
         {WIALON_BURST} for Wialon, which limits each session to 10 requests at once)."
    );
    Ok(())
}
