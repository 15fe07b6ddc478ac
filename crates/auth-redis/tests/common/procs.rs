//! The multi-process tests and the fleet bench: worker processes (the test
//! or bench binary started again) driven by commands on stdin, answering
//! `AUTHREDIS key=value ...` lines on stdout; the parent side, and the
//! bursts of calls the workers run.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use auth_core::Authenticated;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ApiProvider;

/// Prefix of the workers' answer lines.
pub const REPLY: &str = "AUTHREDIS ";

/// One worker process.
pub struct Worker {
    pub child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// A parsed answer line.
#[derive(Debug, Default)]
pub struct Reply(pub HashMap<String, String>);

impl Reply {
    pub fn num(&self, key: &str) -> u64 {
        self.0.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn errors(&self) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with("err:"))
            .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
            .sum()
    }
}

impl Worker {
    /// Starts the `worker` test of this binary with `env`, and waits for its
    /// `ready` line.
    pub async fn spawn(env: &[(&str, String)]) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            "worker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn worker");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut worker = Self {
            child,
            stdin,
            lines,
        };
        let ready = worker.reply().await;
        assert!(ready.0.contains_key("ready"), "{ready:?}");
        worker
    }

    pub async fn spawn_many(env: &[(&str, String)], n: usize) -> Vec<Self> {
        let mut workers = Vec::new();
        for _ in 0..n {
            workers.push(Self::spawn(env).await);
        }
        workers
    }

    pub async fn send(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("worker stdin");
        self.stdin.flush().await.unwrap();
    }

    pub async fn reply(&mut self) -> Reply {
        let read = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("worker stdout")
                    .expect("worker exited early");
                // libtest may have printed "test worker ... " on the line.
                if let Some(at) = line.find(REPLY) {
                    let rest = &line[at + REPLY.len()..];
                    let mut map = HashMap::new();
                    for word in rest.split_whitespace() {
                        let (k, v) = word.split_once('=').unwrap_or((word, ""));
                        map.insert(k.to_owned(), v.to_owned());
                    }
                    return Reply(map);
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(40), read)
            .await
            .expect("worker answers in time")
    }

    /// Asks the worker to exit and checks it exited cleanly (no panic).
    pub async fn quit(mut self) {
        self.send("quit").await;
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("worker exits")
            .unwrap();
        assert!(status.success(), "worker failed (panicked?): {status}");
    }
}

/// Sends `command` to every worker at once, then collects the replies.
pub async fn all(workers: &mut [Worker], command: &str) -> Vec<Reply> {
    for w in workers.iter_mut() {
        w.send(command).await;
    }
    let mut replies = Vec::new();
    for w in workers.iter_mut() {
        replies.push(w.reply().await);
    }
    replies
}

pub fn sum(replies: &[Reply], key: &str) -> u64 {
    replies.iter().map(|r| r.num(key)).sum()
}

pub fn assert_all_ok(replies: &[Reply], per_worker: u64, phase: &str) {
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.num("ok"), per_worker, "{phase}: worker {i}: {r:?}");
        assert_eq!(r.errors(), 0, "{phase}: worker {i}: {r:?}");
    }
}

/// What a burst of concurrent tasks in a worker came to.
#[derive(Debug, Default)]
pub struct Burst {
    pub ok: usize,
    /// Failures by message.
    pub errors: HashMap<String, usize>,
    /// From the start to the first task done, and to the last.
    pub first_us: u128,
    pub all_us: u128,
}

impl Burst {
    /// Prints the worker's answer line, with `extra` fields.
    pub fn print(&self, extra: &str) {
        print_report(
            self.ok,
            &self.errors,
            &format!("{extra} first_us={} all_us={}", self.first_us, self.all_us),
        );
    }
}

/// Waits for every task spawned since `started`.
pub async fn join_burst(started: Instant, mut tasks: JoinSet<Result<(), String>>) -> Burst {
    let mut burst = Burst::default();
    while let Some(result) = tasks.join_next().await {
        if burst.ok == 0 && burst.errors.is_empty() {
            burst.first_us = started.elapsed().as_micros();
        }
        match result.expect("task panicked") {
            Ok(()) => burst.ok += 1,
            Err(e) => *burst.errors.entry(e).or_default() += 1,
        }
    }
    burst.all_us = started.elapsed().as_micros();
    burst
}

/// `n` authorized calls of the token API at once through `send`.
pub async fn send_burst(client: &Authenticated<ApiProvider>, n: usize) -> Burst {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let client = client.clone();
        tasks.spawn(async move {
            let request = client.provider().api_request(client.http());
            match client.send(request).await {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        });
    }
    join_burst(started, tasks).await
}

/// Prints a worker's answer line: `ok=N` plus `err:<kind>=N` per error kind
/// and the given extra fields.
pub fn print_report(ok: usize, errors: &HashMap<String, usize>, extra: &str) {
    let mut line = format!("{REPLY}ok={ok} {extra}");
    for (error, count) in errors {
        line.push_str(&format!(" err:{}={count}", error.replace(' ', "_")));
    }
    println!("{line}");
}

/// Multi-process tests run one at a time: each starts a Redis and 4 worker
/// processes, and several at once on 2 cores would stall Redis past the
/// store's operation timeout (then the fleet degrades by design, which is
/// not what those tests measure).
static ONE_FLEET_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the other multi-process tests of this binary to finish.
pub async fn one_fleet_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_FLEET_AT_A_TIME.lock().await
}
