//! The fleet tests again with real provider crates and their simulators:
//! `ctc-auth` against `auth_sim::ctc` (one login for 4 processes, also after
//! a 401 storm) and `electa-auth` against `auth_sim::electa` (a wrong key
//! from 4 processes never reaches Electa's lockout).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use auth_core::reqwest::RequestBuilder;
use auth_core::secrecy::SecretString;
use auth_core::url::Url;
use auth_core::{AuthError, Authenticated, Provider};
use auth_redis::RedisStore;
use auth_sim::ctc::{CtcSim, CtcSimConfig};
use auth_sim::electa::{ElectaSim, ElectaSimConfig};
use common::RedisServer;
use common::procs::{Worker, all, assert_all_ok, print_report, sum};
use tokio::io::{AsyncBufReadExt, BufReader};

const WORKER_ENV: &str = "AUTH_REDIS_PROVIDER_WORKER";
const PROCESSES: usize = 4;
const WRONG_ELECTA_KEY: &str = "WRONGKEY0000000000000000000000AA";

macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

/// Entry point of the worker processes (does nothing unless started by the
/// tests below, which set `AUTH_REDIS_PROVIDER_WORKER`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "worker process of the multi-process tests; they start it themselves"]
async fn worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        eprintln!("the worker runs only inside the multi-process tests");
        return;
    }
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let store = Arc::new(
        RedisStore::builder(env("W_REDIS"))
            .prefix("providers")
            .build()
            .await
            .expect("store"),
    );
    let base = Url::parse(&env("W_BASE")).unwrap();
    let secret = SecretString::from(env("W_SECRET"));
    match env("W_KIND").as_str() {
        "ctc" => {
            let config = ctc_auth::CtcProvider::builder()
                .username(auth_sim::ctc::DEMO_USERNAME)
                .password(secret)
                .app_key(SecretString::from(auth_sim::ctc::DEMO_APP_KEY))
                .instance(ctc_auth::Instance::Custom(base))
                .build()
                .expect("ctc config");
            let client = Authenticated::builder(config)
                .store(store)
                .lock_poll_interval(Duration::from_millis(20))
                .build()
                .expect("client");
            serve(client, |c| {
                let path = auth_sim::ctc::avl_latest_path(auth_sim::ctc::DEMO_DEVICE_ID);
                c.http().client().get(c.provider().endpoint(&path).unwrap())
            })
            .await;
        }
        "electa" => {
            let provider = electa_auth::ElectaProvider::builder()
                .api_url(base)
                .cid(auth_sim::electa::DEMO_CID)
                .app_key(secret)
                .build()
                .expect("electa provider");
            let client = Authenticated::builder(provider)
                .store(store)
                .lock_poll_interval(Duration::from_millis(20))
                .build()
                .expect("client");
            serve(client, |c| {
                c.http()
                    .client()
                    .get(c.provider().endpoint("users/list/").unwrap())
            })
            .await;
        }
        other => panic!("unknown provider {other}"),
    }
}

async fn serve<P: Provider>(
    client: Authenticated<P>,
    request: impl Fn(&Authenticated<P>) -> RequestBuilder,
) {
    println!("{}ready pid={}", common::procs::REPLY, std::process::id());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
        let mut tasks = tokio::task::JoinSet::new();
        match command {
            "send" => {
                for _ in 0..n {
                    let client = client.clone();
                    let req = request(&client);
                    tasks.spawn(async move {
                        match client.send(req).await {
                            Ok(r) if r.status().is_success() => Ok(()),
                            Ok(r) => Err(format!("HTTP {}", r.status())),
                            Err(e) => Err(kind(&e)),
                        }
                    });
                }
            }
            "session" => {
                for _ in 0..n {
                    let client = client.clone();
                    tasks.spawn(
                        async move { client.session().await.map(|_| ()).map_err(|e| kind(&e)) },
                    );
                }
            }
            "quit" => break,
            other => panic!("unknown command {other}"),
        }
        let mut ok = 0;
        let mut errors: HashMap<String, usize> = HashMap::new();
        while let Some(result) = tasks.join_next().await {
            match result.expect("task panicked") {
                Ok(()) => ok += 1,
                Err(e) => *errors.entry(e).or_default() += 1,
            }
        }
        let stats = client.stats();
        let extra = format!("logins={} adopted={}", stats.logins, stats.adopted);
        print_report(ok, &errors, &extra);
    }
}

fn kind(error: &AuthError) -> String {
    match error {
        AuthError::LockedOut { .. } => "locked_out".to_owned(),
        AuthError::InvalidCredentials { .. } => "invalid".to_owned(),
        AuthError::BackingOff { .. } => "backing_off".to_owned(),
        other => other.to_string(),
    }
}

fn env(kind: &str, redis: &RedisServer, base: &Url, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        (WORKER_ENV, "1".to_owned()),
        ("W_KIND", kind.to_owned()),
        ("W_REDIS", redis.url()),
        ("W_BASE", base.to_string()),
        ("W_SECRET", secret.to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctc_fleet_logs_in_once_and_once_per_401_storm() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let redis = redis_or_skip!();
    let sim = CtcSim::start(CtcSimConfig::default())
        .await
        .expect("ctc sim");
    let user = auth_sim::ctc::DEMO_USERNAME;
    let env = env("ctc", &redis, sim.base_url(), auth_sim::ctc::DEMO_PASSWORD);
    let mut workers = Worker::spawn_many(&env, PROCESSES).await;
    let tasks = 250;

    let first = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&first, tasks, "first calls");
    println!(
        "ctc: {} calls from {PROCESSES} processes -> {} login(s) at the simulator",
        PROCESSES as u64 * tasks,
        sim.counters().logins(user)
    );
    assert_eq!(sim.counters().logins(user), 1);
    assert_eq!(sum(&first, "adopted"), PROCESSES as u64 - 1);

    sim.expire_all_sessions();
    let storm = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&storm, tasks, "401 storm");
    println!(
        "ctc: 401 storm ({} rejected calls) -> {} login(s) in total",
        sim.rejected_calls(),
        sim.counters().logins(user)
    );
    assert_eq!(sim.counters().logins(user), 2);
    assert_eq!(sim.counters().calls(user), 2 * PROCESSES as u64 * tasks);

    for w in workers {
        w.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electa_wrong_key_from_four_processes_stays_below_the_lockout() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let redis = redis_or_skip!();
    let sim = ElectaSim::start(ElectaSimConfig::default())
        .await
        .expect("electa sim");
    let cid = auth_sim::electa::DEMO_CID;
    let env = env("electa", &redis, sim.base_url(), WRONG_ELECTA_KEY);
    let mut workers = Worker::spawn_many(&env, PROCESSES).await;
    let mut last = Vec::new();
    for _ in 0..3 {
        last = all(&mut workers, "session 20").await;
        // Past each process's own back-off (500 ms +- 20 %).
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let failures = sim.failure_count(cid);
    println!(
        "electa: wrong key, {PROCESSES} processes x 3 rounds x 20 tasks -> {failures} failed attempt(s) at the simulator (Electa locks at 5); locked: {}",
        sim.is_locked(cid)
    );
    assert!(failures <= 4, "{failures}");
    assert!(failures >= 1);
    assert!(!sim.is_locked(cid), "the account must not be locked");
    for r in &last {
        assert_eq!(r.num("err:locked_out"), 20, "{r:?}");
    }
    for w in workers {
        w.quit().await;
    }
}

/// Rounds of 20 concurrent `session()` calls in every worker, `rounds`
/// times, past each process's back-off in between.
async fn electa_rounds(workers: &mut [Worker], rounds: usize) -> Vec<common::procs::Reply> {
    let mut last = Vec::new();
    for _ in 0..rounds {
        last = all(workers, "session 20").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    last
}

fn electa_failed_attempts(sim: &ElectaSim) -> u64 {
    sim.counters()
        .failed_logins(&auth_sim::electa::DEMO_CID.to_string())
}

/// How Redis fails around the first rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedisOutage {
    /// `CLIENT PAUSE` for 4 s: every command hangs, then answers.
    Paused,
    /// Killed before the first round, started again (empty) after.
    Killed,
}

/// 4 processes with a wrong Electa key log in while Redis fails: each
/// spends at most one failure of the window on its own, writes it to Redis
/// when Redis answers again, and then every process refuses locally. Electa
/// sees at most 4 failures and never locks.
async fn electa_wrong_key_through(outage: RedisOutage) {
    let mut redis = redis_or_skip!();
    let sim = ElectaSim::start(ElectaSimConfig::default())
        .await
        .expect("electa sim");
    let env = env("electa", &redis, sim.base_url(), WRONG_ELECTA_KEY);
    let mut workers = Worker::spawn_many(&env, PROCESSES).await;
    match outage {
        RedisOutage::Paused => {
            let mut admin = common::raw_connection(&redis.url()).await;
            redis::cmd("CLIENT")
                .arg("PAUSE")
                .arg(4000)
                .arg("ALL")
                .query_async::<()>(&mut admin)
                .await
                .unwrap();
        }
        RedisOutage::Killed => redis.kill(),
    }
    electa_rounds(&mut workers, 3).await;
    let during = electa_failed_attempts(&sim);
    match outage {
        // Past the pause.
        RedisOutage::Paused => tokio::time::sleep(Duration::from_millis(2500)).await,
        // Past the store's outage cool-down.
        RedisOutage::Killed => {
            redis.restart();
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
    let after = electa_rounds(&mut workers, 2).await;
    let failures = electa_failed_attempts(&sim);
    println!(
        "electa, Redis {outage:?}: {during} failed attempt(s) during the outage, {failures} in all; locked: {}",
        sim.is_locked(auth_sim::electa::DEMO_CID)
    );
    assert!((1..=4).contains(&failures), "{failures}");
    assert!(!sim.is_locked(auth_sim::electa::DEMO_CID));
    for r in &after {
        assert_eq!(r.num("err:locked_out"), 20, "{r:?}");
    }
    for w in workers {
        w.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electa_wrong_key_while_redis_is_paused_stays_below_the_lockout() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    electa_wrong_key_through(RedisOutage::Paused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electa_wrong_key_while_redis_is_down_stays_below_the_lockout() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    electa_wrong_key_through(RedisOutage::Killed).await;
}

/// Electa answers 503 to the first logins of 4 processes: a 503 proves the
/// login was not processed, so it spends nothing; the wrong key then spends
/// at most 4; and a process with the right key logs in as soon as the
/// outage ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electa_503_outage_spends_nothing_of_the_lockout_budget() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let redis = redis_or_skip!();
    let sim = ElectaSim::start(ElectaSimConfig::default())
        .await
        .expect("electa sim");
    sim.faults().inject(auth_sim::Fault::Status(503), PROCESSES);
    let env_wrong = env("electa", &redis, sim.base_url(), WRONG_ELECTA_KEY);
    let mut workers = Worker::spawn_many(&env_wrong, PROCESSES).await;
    let first = all(&mut workers, "session 20").await;
    assert_eq!(electa_failed_attempts(&sim), 0, "503s are not failures");
    for r in &first {
        assert_eq!(r.num("ok"), 0, "{r:?}");
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    electa_rounds(&mut workers, 3).await;
    let failures = electa_failed_attempts(&sim);
    println!(
        "electa, 503 outage then wrong key: {failures} failed attempt(s); locked: {}",
        sim.is_locked(auth_sim::electa::DEMO_CID)
    );
    assert!((1..=4).contains(&failures), "{failures}");
    assert!(!sim.is_locked(auth_sim::electa::DEMO_CID));
    for w in workers {
        w.quit().await;
    }

    // The right key on another account's budget: a 503 outage, then a login
    // as soon as it ends.
    let sim = ElectaSim::start(ElectaSimConfig::default())
        .await
        .expect("electa sim");
    sim.faults().inject(auth_sim::Fault::Status(503), PROCESSES);
    let env_right = env(
        "electa",
        &redis,
        sim.base_url(),
        auth_sim::electa::DEMO_APP_KEY,
    );
    let mut workers = Worker::spawn_many(&env_right, PROCESSES).await;
    let during = all(&mut workers, "session 20").await;
    assert_eq!(sum(&during, "ok"), 0, "every process met the outage");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = all(&mut workers, "session 20").await;
    assert_all_ok(&after, 20, "right key after the outage");
    assert_eq!(
        sim.counters()
            .logins(&auth_sim::electa::DEMO_CID.to_string()),
        1
    );
    for w in workers {
        w.quit().await;
    }
}
