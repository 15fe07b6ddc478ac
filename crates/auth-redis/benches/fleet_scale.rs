//! Fleet scale: 16 processes x 250 tasks sharing one account through one
//! Redis (a `redis-server` this bench starts on a loopback port).
//!
//! ```sh
//! cargo bench -p auth-redis --bench fleet_scale
//! ```
//!
//! Measures logins per token lifetime under sustained load, Redis commands
//! per authorized call (from `INFO commandstats` deltas, `info` itself
//! excluded) on the hot path and overall, and the time to the first
//! authorized call of a process joining a warm fleet. The worker processes
//! are this bench binary started again with `AUTH_REDIS_BENCH_WORKER` set.
#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{Authenticated, RefreshPolicy};
use auth_redis::RedisStore;
use common::procs::{REPLY, Worker, all, send_burst, sum};
use common::{ApiProvider, RedisServer, TokenApi};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

const WORKER_ENV: &str = "AUTH_REDIS_BENCH_WORKER";
const PROCESSES: usize = 16;
const TASKS: usize = 250;
const LIFETIME: Duration = Duration::from_secs(6);
const SUSTAINED: Duration = Duration::from_secs(18);
const REFRESH_MARGIN: Duration = Duration::from_secs(1);
const REFRESH_JITTER: Duration = Duration::from_millis(500);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os(WORKER_ENV).is_some() {
        runtime.block_on(worker());
    } else {
        runtime.block_on(parent());
    }
}

// ------------------------------------------------------------------ worker

async fn worker() {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let store = RedisStore::builder(env("W_REDIS"))
        .prefix("bench")
        .build()
        .await
        .expect("store");
    let base = auth_core::url::Url::parse(&env("W_API")).unwrap();
    let provider = ApiProvider::new(base, "right");
    let client = Authenticated::builder(provider)
        .store(Arc::new(store))
        .lock_poll_interval(Duration::from_millis(20))
        .min_login_interval(Duration::ZERO)
        // Renew 1-1.5 s before expiry (the default, 60-75 s capped at half
        // the lifetime, would renew a 6 s token every 3 s).
        .refresh_policy(RefreshPolicy::new(REFRESH_MARGIN, REFRESH_JITTER))
        .build()
        .expect("client");
    println!("{REPLY}ready pid={}", std::process::id());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        match words.next().unwrap_or_default() {
            "send" => {
                let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
                let burst = send_burst(&client, n).await;
                let stats = client.stats();
                burst.print(&format!(
                    "logins={} adopted={}",
                    stats.logins, stats.adopted
                ));
            }
            "quit" => break,
            other => println!("{REPLY}unknown command {other}"),
        }
    }
}

// ------------------------------------------------------------------ parent

/// Calls per command name from `INFO commandstats`.
async fn command_stats(raw: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .expect("INFO");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|f| f.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Commands between two snapshots, `info` excluded, by name.
fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> (u64, String) {
    let mut by_name: Vec<(String, u64)> = after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .map(|(name, n)| (name.clone(), n - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    by_name.sort();
    let total = by_name.iter().map(|(_, n)| n).sum();
    let text = by_name
        .iter()
        .map(|(name, n)| format!("{name}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    (total, text)
}

fn max_of(replies: &[common::procs::Reply], key: &str) -> u64 {
    replies.iter().map(|r| r.num(key)).max().unwrap_or(0)
}

async fn parent() {
    let Some(redis) = RedisServer::start() else {
        println!("fleet_scale: redis-server not found, nothing measured");
        return;
    };
    let api = TokenApi::start("right", LIFETIME).await;
    let env = vec![
        (WORKER_ENV, "1".to_owned()),
        ("W_REDIS", redis.url()),
        ("W_API", api.base.to_string()),
    ];
    let mut raw = common::raw_connection(&redis.url()).await;
    let calls_per_round = (PROCESSES * TASKS) as u64;
    println!(
        "fleet_scale: {PROCESSES} processes x {TASKS} tasks, token lifetime {LIFETIME:?}, renewed {REFRESH_MARGIN:?} + up to {REFRESH_JITTER:?} before expiry"
    );
    let mut workers = Worker::spawn_many(&env, PROCESSES).await;

    // Cold start: every process calls at once.
    let before = command_stats(&mut raw).await;
    let cold = all(&mut workers, &format!("send {TASKS}")).await;
    let (cold_cmds, cold_detail) = delta(&before, &command_stats(&mut raw).await);
    assert_eq!(sum(&cold, "ok"), calls_per_round, "{cold:?}");
    println!(
        "cold start: {calls_per_round} calls -> {} login(s), {} adopted; first call of a process within {:.1} ms (slowest process), every call within {:.1} ms; {cold_cmds} Redis commands ({cold_detail})",
        api.logins(),
        sum(&cold, "adopted"),
        max_of(&cold, "first_us") as f64 / 1000.0,
        max_of(&cold, "all_us") as f64 / 1000.0,
    );

    // Hot path: the session is shared and fresh.
    let rounds = 5;
    let before = command_stats(&mut raw).await;
    let logins_before = api.logins();
    for _ in 0..rounds {
        let replies = all(&mut workers, &format!("send {TASKS}")).await;
        assert_eq!(sum(&replies, "ok"), calls_per_round);
    }
    let (hot_cmds, hot_detail) = delta(&before, &command_stats(&mut raw).await);
    let hot_calls = calls_per_round * rounds;
    println!(
        "hot path: {hot_calls} authorized calls -> {hot_cmds} Redis commands ({:.4} per call) {hot_detail}; {} login(s)",
        hot_cmds as f64 / hot_calls as f64,
        api.logins() - logins_before
    );

    // Sustained load over several token lifetimes.
    let before = command_stats(&mut raw).await;
    let logins_before = api.logins();
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < SUSTAINED {
        let replies = all(&mut workers, &format!("send {TASKS}")).await;
        assert_eq!(sum(&replies, "ok"), calls_per_round, "{replies:?}");
        calls += calls_per_round;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let (cmds, detail) = delta(&before, &command_stats(&mut raw).await);
    let logins = api.logins() - logins_before;
    // One login per renewal is the floor: a token is renewed every
    // lifetime - lead, lead = margin + jitter/2 on average.
    let renewal = LIFETIME - REFRESH_MARGIN - REFRESH_JITTER / 2;
    println!(
        "sustained {:.1} s ({:.2} token lifetimes, {:.2} renewal periods of {:.2} s): {calls} calls -> {logins} login(s) = {:.2} per token lifetime, {:.2} per renewal; {cmds} Redis commands ({:.5} per call) {detail}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / LIFETIME.as_secs_f64(),
        elapsed.as_secs_f64() / renewal.as_secs_f64(),
        renewal.as_secs_f64(),
        logins as f64 / (elapsed.as_secs_f64() / LIFETIME.as_secs_f64()),
        logins as f64 / (elapsed.as_secs_f64() / renewal.as_secs_f64()),
        cmds as f64 / calls as f64,
    );

    // A process joins the warm fleet.
    let logins_before = api.logins();
    let before = command_stats(&mut raw).await;
    let spawned = Instant::now();
    let mut late = Worker::spawn(&env).await;
    let ready = spawned.elapsed();
    late.send("send 1").await;
    let first = late.reply().await;
    let total = spawned.elapsed();
    let (join_cmds, join_detail) = delta(&before, &command_stats(&mut raw).await);
    assert_eq!(first.num("ok"), 1, "{first:?}");
    println!(
        "joining process: store connected and client built {:.1} ms after spawn; first authorized call {:.2} ms (in-process); spawn to first response {:.1} ms; {} login(s), adopted={}; {join_cmds} Redis commands ({join_detail})",
        ready.as_secs_f64() * 1000.0,
        first.num("first_us") as f64 / 1000.0,
        total.as_secs_f64() * 1000.0,
        api.logins() - logins_before,
        first.num("adopted"),
    );
    late.quit().await;
    for w in workers {
        w.quit().await;
    }
}
