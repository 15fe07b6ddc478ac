//! Many accounts in one process: 10,000 accounts (5,000 Wialon tokens and
//! 5,000 CTC users) logged in and used by one client process.
//!
//! ```sh
//! cargo bench -p integration-tests --bench many_accounts
//! ```
//!
//! Three processes per scenario, all this bench binary: the parent, which
//! prints the table; a simulator process (Wialon and CTC simulators on
//! loopback ports, which count logins per account and the connections they
//! accept); and a client process, alone in its address space, whose
//! resident memory (`VmRSS`) is read before and after each phase.
//!
//! Scenarios (each in fresh processes):
//! - `default`: every account built on the default path
//!   (`WialonProvider::into_client`, `Authenticated::new`), each with its
//!   own in-memory store;
//! - `registry`: every account through an `AccountRegistry` per provider,
//!   both on one shared `MemoryStore`;
//! - `outside-runtime`: as `default`, but the clients are built on a
//!   thread without a Tokio runtime (as in a synchronous `main` before the
//!   runtime starts), then used in the runtime;
//! - `own-client`: as `default`, but each account given a
//!   `reqwest::Client` of its own (`AuthenticatedBuilder::http_client`),
//!   which is what the default path cost before clients shared one: the
//!   comparison, measured in the same run.
//!
//! Phases: build every client; start one keep-alive task per Wialon account
//! (`spawn_keep_alive`, every 60 s: it does not fire during the run), to
//! tell whether a task per account matters next to the clients themselves
//! (measured before any memory is freed, so that the tasks cannot reuse
//! it); log every account in (at most `LOGIN_CONCURRENCY` at once); then
//! `CALLS_PER_ACCOUNT` calls per account through `send` (at most
//! `CALL_CONCURRENCY` at once).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::{AccountRegistry, Authenticated, MemoryStore, Provider, TokenStore};
use ctc_auth::{CtcProvider, Instance};
use secrecy::SecretString;
use wialon_token::{WialonClientExt, WialonProvider};

const ROLE_ENV: &str = "MANY_ACCOUNTS_ROLE";
const WIALON_ACCOUNTS: usize = 5_000;
const CTC_ACCOUNTS: usize = 5_000;
const LOGIN_CONCURRENCY: usize = 64;
const CALL_CONCURRENCY: usize = 256;
const CALLS_PER_ACCOUNT: usize = 3;
const SCENARIOS: [&str; 4] = ["default", "registry", "outside-runtime", "own-client"];
/// Marks the lines the child processes answer with.
const REPLY: &str = "MANY ";

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks scenarios.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("sim") => runtime().block_on(simulators()),
        Ok(scenario) if SCENARIOS.contains(&scenario) => {
            runtime().block_on(client_process(scenario))
        }
        _ => parent(&filter),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn wialon_user(i: usize) -> String {
    format!("wialon-{i:05}")
}

/// A distinct 72-character token per account (Wialon's length).
fn wialon_token(i: usize) -> String {
    format!("{:072x}", 0x5eed_0000_u64 + i as u64)
}

fn ctc_user(i: usize) -> String {
    format!("ctc-{i:05}@example.com")
}

fn ctc_password(i: usize) -> String {
    format!("Passw0rd-{i:05}!")
}

// ------------------------------------------------------------- simulators

/// The simulator process: prints the two base URLs, then answers `stats`
/// on stdin until stdin closes.
async fn simulators() {
    use auth_sim::ctc::{CtcAccount, CtcSim, CtcSimConfig};
    use auth_sim::wialon::{SimAccount, WialonSim, WialonSimConfig};

    let wialon = WialonSim::start(WialonSimConfig {
        accounts: (0..WIALON_ACCOUNTS)
            .map(|i| SimAccount::new(wialon_user(i), 1_000 + i as i64, wialon_token(i)))
            .collect(),
        ..WialonSimConfig::default()
    })
    .await
    .expect("wialon simulator");
    let ctc = CtcSim::start(CtcSimConfig {
        accounts: (0..CTC_ACCOUNTS)
            .map(|i| CtcAccount {
                username: ctc_user(i),
                password: ctc_password(i),
                account_id: 10_000 + i as u64,
            })
            .collect(),
        ..CtcSimConfig::default()
    })
    .await
    .expect("ctc simulator");
    println!("{REPLY}wialon={} ctc={}", wialon.base_url(), ctc.base_url());
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() != "stats" {
            continue;
        }
        let per_account = |logins: &dyn Fn(usize) -> u64, n: usize| {
            let counts: Vec<u64> = (0..n).map(logins).collect();
            (
                counts.iter().copied().min().unwrap_or(0),
                counts.iter().copied().max().unwrap_or(0),
            )
        };
        let (w_min, w_max) = per_account(
            &|i| wialon.counters().logins(&wialon_user(i)),
            WIALON_ACCOUNTS,
        );
        let (c_min, c_max) = per_account(&|i| ctc.counters().logins(&ctc_user(i)), CTC_ACCOUNTS);
        println!(
            "{REPLY}wialon_logins={} wialon_min={w_min} wialon_max={w_max} wialon_calls={} \
             wialon_connections={} wialon_keep_alives={} ctc_logins={} ctc_min={c_min} \
             ctc_max={c_max} ctc_calls={} ctc_connections={}",
            wialon.counters().total_logins(),
            wialon.counters().total_calls(),
            wialon.connections_accepted(),
            wialon.total_keep_alives(),
            ctc.counters().total_logins(),
            ctc.counters().total_calls(),
            ctc.connections_accepted(),
        );
    }
}

// ----------------------------------------------------------------- client

/// Resident memory of this process, in KiB (`None` where `/proc` is
/// missing).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn wialon_provider(host: &str, i: usize) -> WialonProvider {
    WialonProvider::builder()
        .token(SecretString::from(wialon_token(i)))
        .host(host)
        .build()
        .expect("wialon provider")
}

fn ctc_provider(base: &url::Url, i: usize) -> CtcProvider {
    CtcProvider::builder()
        .username(ctc_user(i))
        .password(SecretString::from(ctc_password(i)))
        .app_key(SecretString::from(auth_sim::ctc::DEMO_APP_KEY.to_owned()))
        .instance(Instance::Custom(base.clone()))
        .build()
        .expect("ctc provider")
}

/// The clients of one scenario, and what keeps them (the registries hold
/// their clients themselves; the vectors are the benchmark's handles).
struct Accounts {
    wialon: Vec<Authenticated<WialonProvider>>,
    ctc: Vec<Authenticated<CtcProvider>>,
    _registries: Option<(
        AccountRegistry<WialonProvider>,
        AccountRegistry<CtcProvider>,
    )>,
}

/// One account's client, by index: Wialon and CTC accounts interleaved,
/// as the jobs of many customers arrive.
enum Pick<'a> {
    Wialon(&'a Authenticated<WialonProvider>),
    Ctc(&'a Authenticated<CtcProvider>),
}

impl Accounts {
    fn pick(&self, i: usize) -> Pick<'_> {
        let half = i / 2;
        match (
            i.is_multiple_of(2),
            self.wialon.get(half),
            self.ctc.get(half),
        ) {
            (true, Some(wialon), _) | (false, Some(wialon), None) => Pick::Wialon(wialon),
            (_, _, Some(ctc)) => Pick::Ctc(ctc),
            _ => panic!("account {i} out of range"),
        }
    }
}

fn build(scenario: &str, wialon_host: &str, ctc_base: &url::Url) -> Accounts {
    match scenario {
        "default" => Accounts {
            wialon: (0..WIALON_ACCOUNTS)
                .map(|i| {
                    wialon_provider(wialon_host, i)
                        .into_client()
                        .expect("client")
                })
                .collect(),
            ctc: (0..CTC_ACCOUNTS)
                .map(|i| ctc_provider(ctc_base, i).into_client().expect("client"))
                .collect(),
            _registries: None,
        },
        "own-client" => {
            fn own<P: Provider>(provider: P) -> Authenticated<P> {
                Authenticated::builder(provider)
                    .http_client(reqwest::Client::new())
                    .build()
                    .expect("client")
            }
            Accounts {
                wialon: (0..WIALON_ACCOUNTS)
                    .map(|i| own(wialon_provider(wialon_host, i)))
                    .collect(),
                ctc: (0..CTC_ACCOUNTS)
                    .map(|i| own(ctc_provider(ctc_base, i)))
                    .collect(),
                _registries: None,
            }
        }
        _ => {
            let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
            fn registry<P: Provider>(
                store: &Arc<dyn TokenStore>,
                max: usize,
            ) -> AccountRegistry<P> {
                AccountRegistry::builder()
                    .store(store.clone())
                    .max_clients(max)
                    .build()
                    .expect("registry")
            }
            let wialon_registry = registry(&store, WIALON_ACCOUNTS);
            let ctc_registry = registry(&store, CTC_ACCOUNTS);
            Accounts {
                wialon: (0..WIALON_ACCOUNTS)
                    .map(|i| {
                        wialon_registry
                            .get_or_create(wialon_provider(wialon_host, i))
                            .expect("client")
                    })
                    .collect(),
                ctc: (0..CTC_ACCOUNTS)
                    .map(|i| {
                        ctc_registry
                            .get_or_create(ctc_provider(ctc_base, i))
                            .expect("client")
                    })
                    .collect(),
                _registries: Some((wialon_registry, ctc_registry)),
            }
        }
    }
}

/// Runs `job` for every index below `n`, at most `concurrency` at once.
async fn bounded<F, Fut>(n: usize, concurrency: usize, job: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        let job = job(i);
        tasks.spawn(async move {
            let result = job.await;
            drop(permit);
            result
        });
    }
    let mut failed = 0;
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result.expect("task") {
            if failed == 0 {
                eprintln!("first failure: {e}");
            }
            failed += 1;
        }
    }
    failed
}

/// One job of [`bounded`].
type Job = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

fn login<P: Provider>(client: &Authenticated<P>) -> Job {
    let client = client.clone();
    Box::pin(async move { client.session().await.map(drop).map_err(|e| e.to_string()) })
}

async fn client_process(scenario: &str) {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let wialon_host = env("MANY_WIALON");
    let ctc_base = url::Url::parse(&env("MANY_CTC")).expect("ctc url");
    let mut row = BTreeMap::new();
    let mut note = |key: &str, value: String| {
        row.insert(key.to_owned(), value);
    };
    let accounts_total = (WIALON_ACCOUNTS + CTC_ACCOUNTS) as u64;
    let rss_start = rss_kib().unwrap_or(0);

    let started = Instant::now();
    let accounts = if scenario == "outside-runtime" {
        let (host, base) = (wialon_host.clone(), ctc_base.clone());
        std::thread::spawn(move || build("default", &host, &base))
            .join()
            .expect("build thread")
    } else {
        build(scenario, &wialon_host, &ctc_base)
    };
    note("build_ms", started.elapsed().as_millis().to_string());
    let rss_built = rss_kib().unwrap_or(0);

    for client in &accounts.wialon {
        client
            .spawn_keep_alive(Duration::from_secs(60))
            .expect("keep-alive");
    }
    // Let every task start (and allocate its timer) before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_keep_alive = rss_kib().unwrap_or(0);

    let started = Instant::now();
    let n = accounts.wialon.len() + accounts.ctc.len();
    let failed = bounded(n, LOGIN_CONCURRENCY, |i| match accounts.pick(i) {
        Pick::Wialon(client) => login(client),
        Pick::Ctc(client) => login(client),
    })
    .await;
    note("login_ms", started.elapsed().as_millis().to_string());
    note("login_failures", failed.to_string());
    let rss_logged_in = rss_kib().unwrap_or(0);

    let started = Instant::now();
    let calls = n * CALLS_PER_ACCOUNT;
    let failed = bounded(calls, CALL_CONCURRENCY, |i| match accounts.pick(i % n) {
        Pick::Wialon(client) => {
            let client = client.clone();
            Box::pin(async move {
                let params = serde_json::json!({
                    "spec": {"itemsType": "avl_unit", "propName": "sys_name",
                             "propValueMask": "*", "sortType": "sys_name"},
                    "force": 1, "flags": 1, "from": 0, "to": 0
                });
                client
                    .call::<serde_json::Value>("core/search_items", &params)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }) as Job
        }
        Pick::Ctc(client) => {
            let client = client.clone();
            Box::pin(async move {
                let path = auth_sim::ctc::avl_latest_path(auth_sim::ctc::DEMO_DEVICE_ID);
                match client.get(&path).send().await {
                    Ok(r) if r.status() == 200 => Ok(()),
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            })
        }
    })
    .await;
    let elapsed = started.elapsed();
    note("calls", calls.to_string());
    note("call_failures", failed.to_string());
    note(
        "calls_per_s",
        format!("{:.0}", calls as f64 / elapsed.as_secs_f64()),
    );
    let rss_called = rss_kib().unwrap_or(0);

    let client_logins: u64 = accounts
        .wialon
        .iter()
        .map(|c| c.stats().logins)
        .sum::<u64>()
        + accounts.ctc.iter().map(|c| c.stats().logins).sum::<u64>();
    note("client_logins", client_logins.to_string());
    let per_account = |from: u64, to: u64| {
        format!(
            "{:.1}",
            (to.saturating_sub(from)) as f64 * 1024.0 / accounts_total as f64 / 1000.0
        )
    };
    note("rss_start_mib", format!("{:.1}", rss_start as f64 / 1024.0));
    note("kb_built", per_account(rss_start, rss_built));
    note("kb_logged_in", per_account(rss_start, rss_logged_in));
    note("kb_after_calls", per_account(rss_start, rss_called));
    note(
        "kb_keep_alive_task",
        format!(
            "{:.1}",
            rss_keep_alive.saturating_sub(rss_built) as f64 * 1024.0
                / WIALON_ACCOUNTS as f64
                / 1000.0
        ),
    );
    let line: Vec<String> = row.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{REPLY}{}", line.join(" "));
}

// ----------------------------------------------------------------- parent

/// A simulator or client process of this bench, answering on stdout.
struct ChildProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl ChildProcess {
    fn spawn(role: &str, env: &[(&str, String)]) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("bench binary"))
            .env(ROLE_ENV, role)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child process");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// The next answer line, as key=value pairs.
    fn reply(&mut self) -> BTreeMap<String, String> {
        for line in self.lines.by_ref() {
            let line = line.expect("child output");
            if let Some(rest) = line.strip_prefix(REPLY) {
                return rest
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
            }
        }
        panic!("child process ended without answering");
    }

    fn ask(&mut self, command: &str) -> BTreeMap<String, String> {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{command}").expect("write to child");
        stdin.flush().expect("flush");
        self.reply()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn parent(filter: &[String]) {
    println!(
        "many_accounts: {WIALON_ACCOUNTS} Wialon + {CTC_ACCOUNTS} CTC accounts in one client \
         process; logins {LOGIN_CONCURRENCY} at a time, {CALLS_PER_ACCOUNT} calls per account \
         {CALL_CONCURRENCY} at a time"
    );
    let mut columns = Vec::new();
    for scenario in SCENARIOS {
        if !filter.is_empty() && !filter.iter().any(|f| scenario.contains(f.as_str())) {
            continue;
        }
        let mut sim = ChildProcess::spawn("sim", &[]);
        let urls = sim.reply();
        let mut client = ChildProcess::spawn(
            scenario,
            &[
                ("MANY_WIALON", urls["wialon"].clone()),
                ("MANY_CTC", urls["ctc"].clone()),
            ],
        );
        let mut row = client.reply();
        drop(client);
        row.extend(sim.ask("stats"));
        println!("\nscenario {scenario}:");
        for (key, value) in &row {
            println!("  {key:<22} {value}");
        }
        columns.push((scenario, row));
    }
    print_table(&columns);
}

/// The figures of every scenario side by side, as a Markdown table.
fn print_table(columns: &[(&str, BTreeMap<String, String>)]) {
    const ROWS: [(&str, &str); 13] = [
        ("RSS per account, built (KB)", "kb_built"),
        ("RSS per Wialon keep-alive task (KB)", "kb_keep_alive_task"),
        ("RSS per account, logged in (KB)", "kb_logged_in"),
        ("RSS per account, after the calls (KB)", "kb_after_calls"),
        ("time to build every client (ms)", "build_ms"),
        ("time to log every account in (ms)", "login_ms"),
        ("logins, Wialon (fewest, most per account)", "wialon"),
        ("logins, CTC (fewest, most per account)", "ctc"),
        ("calls per second through `send`", "calls_per_s"),
        ("connections accepted, Wialon host", "wialon_connections"),
        ("connections accepted, CTC host", "ctc_connections"),
        ("failed logins + failed calls", "failures"),
        ("client process RSS at start (MiB)", "rss_start_mib"),
    ];
    let cell = |row: &BTreeMap<String, String>, key: &str| -> String {
        let get = |k: &str| row.get(k).cloned().unwrap_or_else(|| "?".into());
        match key {
            "wialon" | "ctc" => format!(
                "{} ({}, {})",
                get(&format!("{key}_logins")),
                get(&format!("{key}_min")),
                get(&format!("{key}_max"))
            ),
            "failures" => format!("{} + {}", get("login_failures"), get("call_failures")),
            _ => get(key),
        }
    };
    println!();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    println!("| | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    for (label, key) in ROWS {
        let cells: Vec<String> = columns.iter().map(|(_, row)| cell(row, key)).collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}
