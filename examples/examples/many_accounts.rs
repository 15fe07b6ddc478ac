//! A platform holding its customers' accounts: 300 Wialon tokens and 100
//! CTC users in one process, served through one `AccountRegistry` per
//! provider against the local simulators.
//!
//! Run with `cargo run -p examples --example many_accounts`.
//!
//! Shows: jobs of many customers sharing one client per account (one login
//! per account however many jobs ask), a bound on live clients (an evicted
//! account's next client adopts its session from the store instead of
//! logging in again), one connection pool per host, a customer's new
//! password taking effect without a restart, idle accounts dropped, and a
//! departing customer's account removed and logged out. Secrets are never
//! printed.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AccountRegistry, MemoryStore, Provider, RegistryStats, TokenStore};
use auth_sim::ctc::{CtcAccount, CtcSim, CtcSimConfig, DEMO_APP_KEY, DEMO_DEVICE_ID};
use auth_sim::wialon::{SimAccount, WialonSim, WialonSimConfig};
use ctc_auth::{CtcProvider, CtcSecrets, CtcSettings};
use secrecy::SecretString;
use wialon_token::{Value, WialonClientExt, WialonProvider, WialonSettings, json};

const WIALON_CUSTOMERS: usize = 300;
const CTC_CUSTOMERS: usize = 100;
const JOBS: usize = 2_000;
const JOBS_AT_ONCE: usize = 64;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One customer account as the platform stores it: provider settings in
/// the providers' own configuration format (here JSON; secrets are read
/// into `SecretString`s and never printed).
enum Customer {
    Wialon(String),
    Ctc(String),
}

fn wialon_token(i: usize) -> String {
    format!("{:072x}", 0x00c0_ffee_0000_u64 + i as u64)
}

fn ctc_user(i: usize) -> String {
    format!("fleet-{i:03}@example.com")
}

fn ctc_password(i: usize) -> String {
    format!("Customer-{i:03}-pw!")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    // The two services, simulated on loopback ports.
    let wialon_sim = WialonSim::start(WialonSimConfig {
        accounts: (0..WIALON_CUSTOMERS)
            .map(|i| SimAccount::new(format!("wialon-{i:03}"), 100 + i as i64, wialon_token(i)))
            .collect(),
        ..WialonSimConfig::default()
    })
    .await?;
    let ctc_sim = CtcSim::start(CtcSimConfig {
        accounts: (0..CTC_CUSTOMERS)
            .map(|i| CtcAccount {
                username: ctc_user(i),
                password: ctc_password(i),
                account_id: 5_000 + i as u64,
            })
            .collect(),
        ..CtcSimConfig::default()
    })
    .await?;

    // The customers' configurations, as loaded from the platform's database.
    let customers: Arc<Vec<Customer>> = Arc::new(
        (0..WIALON_CUSTOMERS)
            .map(|i| {
                Customer::Wialon(
                    json!({"token": wialon_token(i), "host": wialon_sim.base_url().as_str()})
                        .to_string(),
                )
            })
            .chain((0..CTC_CUSTOMERS).map(|i| {
                Customer::Ctc(
                    json!({
                        "username": ctc_user(i),
                        "password": ctc_password(i),
                        "app_key": DEMO_APP_KEY,
                        "instance": ctc_sim.base_url().as_str(),
                    })
                    .to_string(),
                )
            }))
            .collect(),
    );

    // One store for every account (auth-redis would share it with the other
    // processes of the platform), one registry per provider. The Wialon
    // registry holds at most 200 clients: the jobs below touch 300 accounts.
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let wialon: AccountRegistry<WialonProvider> = AccountRegistry::builder()
        .store(store.clone())
        .max_clients(200)
        .idle_timeout(Some(Duration::from_secs(2)))
        .build()?;
    let ctc: AccountRegistry<CtcProvider> = AccountRegistry::builder()
        .store(store.clone())
        .idle_timeout(Some(Duration::from_secs(2)))
        .build()?;

    println!(
        "{} customer accounts ({WIALON_CUSTOMERS} Wialon, {CTC_CUSTOMERS} CTC); \
         {JOBS} jobs, {JOBS_AT_ONCE} at a time",
        customers.len()
    );
    let permits = Arc::new(tokio::sync::Semaphore::new(JOBS_AT_ONCE));
    let mut jobs = tokio::task::JoinSet::new();
    for job in 0..JOBS {
        let permit = permits.clone().acquire_owned().await?;
        let (customers, wialon, ctc) = (customers.clone(), wialon.clone(), ctc.clone());
        jobs.spawn(async move {
            let _permit = permit;
            // Customers in turn, as their scheduled jobs come due.
            match &customers[job % customers.len()] {
                Customer::Wialon(config) => {
                    let settings: WialonSettings = serde_json::from_str(config)?;
                    let client = wialon.get_or_create(settings.into_provider()?)?;
                    let units: Value = client
                        .call(
                            "core/search_items",
                            &json!({
                                "spec": {"itemsType": "avl_unit", "propName": "sys_name",
                                         "propValueMask": "*", "sortType": "sys_name"},
                                "force": 1, "flags": 1, "from": 0, "to": 0
                            }),
                        )
                        .await?;
                    drop(units);
                }
                Customer::Ctc(config) => {
                    let settings: CtcSettings = serde_json::from_str(config)?;
                    let client = ctc.get_or_create(settings.into_provider()?)?;
                    let path = auth_sim::ctc::avl_latest_path(DEMO_DEVICE_ID);
                    client.get(&path).send().await?.error_for_status()?;
                }
            }
            Ok::<(), Error>(())
        });
    }
    while let Some(done) = jobs.join_next().await {
        done??;
    }
    println!(
        "  logins: Wialon {} for {WIALON_CUSTOMERS} accounts, CTC {} for {CTC_CUSTOMERS}",
        wialon_sim.counters().total_logins(),
        ctc_sim.counters().total_logins()
    );
    println!(
        "  connections opened: {} to the Wialon host, {} to the CTC host",
        wialon_sim.connections_accepted(),
        ctc_sim.connections_accepted()
    );
    // The jobs visit 300 Wialon accounts in turn through 200 slots, so each
    // visit finds its account evicted: the client is built again and adopts
    // the session from the store, with no new login.
    report(
        "Wialon registry",
        &wialon.stats(),
        " (each rebuilt client adopted its stored session: no new login)",
    );
    report("CTC registry", &ctc.stats(), "");

    // A customer changes their CTC password: the running client takes the
    // new one for its next login, no restart.
    let Customer::Ctc(config) = &customers[WIALON_CUSTOMERS + 7] else {
        return Err("customer 7 of CTC is a CTC customer".into());
    };
    let settings: CtcSettings = serde_json::from_str(config)?;
    // The account's identity (never a secret), the registry's key.
    let key = settings.into_provider()?.cache_key();
    ctc_sim.set_password(&ctc_user(7), "Customer-007-new!");
    ctc.rotate_credentials(
        &key,
        CtcSecrets::new().password(SecretString::from("Customer-007-new!".to_owned())),
    )
    .await?;
    ctc_sim.expire_all_sessions();
    let client = ctc.get(&key).ok_or("account 7 is held")?;
    let path = auth_sim::ctc::avl_latest_path(DEMO_DEVICE_ID);
    client.get(&path).send().await?.error_for_status()?;
    println!(
        "  customer 7's new CTC password: in use after {} login(s) of that account, no restart",
        ctc_sim.counters().logins(&ctc_user(7))
    );

    // A customer leaves: its account is removed and logged out.
    if let Some(client) = ctc.remove(&key) {
        client.logout().await?;
    }
    println!(
        "  customer 7 removed and logged out: {} CTC accounts held",
        ctc.len()
    );

    // Accounts no job used for the idle timeout are dropped (their sessions
    // stay in the store for the next job).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    println!(
        "  after 2 s without jobs: {} idle Wialon and {} idle CTC accounts evicted",
        wialon.evict_idle(),
        ctc.evict_idle()
    );
    Ok(())
}

fn report(name: &str, stats: &RegistryStats, note: &str) {
    println!(
        "  {name}: {} clients held, {} built, {} reused, {} evicted at the bound{note}",
        stats.clients, stats.builds, stats.hits, stats.evicted_lru
    );
}
