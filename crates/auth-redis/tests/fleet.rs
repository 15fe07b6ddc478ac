//! Several OS processes sharing one `RedisStore`: logins, the lockout count,
//! a Redis outage and a dead lock holder.
//!
//! The processes are this test binary started again with `--exact worker
//! --ignored`; the `worker` test reads commands on stdin and answers on
//! stdout. The token API the workers log in to runs in the parent test and
//! counts what reaches it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuthError, Authenticated, LockoutRule, TokenStore};
use auth_redis::RedisStore;
use common::procs::{Burst, REPLY, Worker, all, assert_all_ok, join_burst, send_burst, sum};
use common::{ApiProvider, RedisServer, StoreSpec, TokenApi};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

const WORKER_ENV: &str = "AUTH_REDIS_FLEET_WORKER";
const PROCESSES: usize = 4;

macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

// ------------------------------------------------------------------ worker

/// Entry point of the worker processes (does nothing unless started by the
/// tests below, which set `AUTH_REDIS_FLEET_WORKER`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "worker process of the multi-process tests; they start it themselves"]
async fn worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        eprintln!("the worker runs only inside the multi-process tests");
        return;
    }
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    // The deployment (one server, TLS, ACL user, Cluster, Sentinel) comes
    // from W_REDIS_KIND, W_REDIS, W_REDIS_CA and W_REDIS_SERVICE.
    let store = StoreSpec::from_env()
        .builder()
        .prefix("fleet")
        .op_timeout(Duration::from_millis(300))
        .outage_cooldown(Duration::from_millis(500))
        .connect_lazily(true)
        .build()
        .await
        .expect("store");
    // Connected before the first burst, as a service is once it runs: the
    // first operation of a lazy store also opens the connection (a TLS
    // handshake, or the cluster's slot map), which 250 tasks in 4
    // debug-build processes on 2 cores can push past the 300 ms operation
    // timeout (the fleet then degrades to a login per process, by design,
    // which is not what these tests measure).
    if let Err(e) = store.ping().await {
        eprintln!("worker {}: first ping failed: {e}", std::process::id());
    }
    let base = auth_core::url::Url::parse(&env("W_API")).unwrap();
    let mut provider = ApiProvider::new(base, &env("W_PASSWORD"));
    provider.login_timeout = Duration::from_millis(env("W_LOGIN_TIMEOUT_MS").parse().unwrap());
    if let Ok(rule) = std::env::var("W_LOCKOUT") {
        let (max, window) = rule.split_once(':').unwrap();
        provider.lockout = Some(LockoutRule::new(
            max.parse().unwrap(),
            Duration::from_millis(window.parse().unwrap()),
        ));
    }
    // The test lifetimes (seconds) are below the default 5 s floor.
    let client = Authenticated::builder(provider)
        .store(Arc::new(store.clone()))
        .lock_poll_interval(Duration::from_millis(20))
        .min_login_interval(Duration::ZERO)
        .build()
        .expect("client");
    println!("{REPLY}ready pid={}", std::process::id());

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
        match command {
            "send" => report(&client, send_burst(&client, n).await),
            "session" => {
                let started = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..n {
                    let client = client.clone();
                    tasks.spawn(async move {
                        client.session().await.map(|_| ()).map_err(|e| match e {
                            AuthError::LockedOut { .. } => "locked_out".to_owned(),
                            AuthError::InvalidCredentials { .. } => "invalid".to_owned(),
                            AuthError::BackingOff { .. } => "backing_off".to_owned(),
                            other => other.to_string(),
                        })
                    });
                }
                report(&client, join_burst(started, tasks).await);
            }
            "wait-redis" => {
                let deadline = Instant::now() + Duration::from_secs(15);
                let mut up = false;
                while Instant::now() < deadline {
                    if store.ping().await.is_ok()
                        && store
                            .failures("probe", Duration::from_secs(1))
                            .await
                            .is_ok()
                    {
                        up = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                println!("{REPLY}redis up={up}");
            }
            "quit" => break,
            other => println!("{REPLY}unknown command {other}"),
        }
    }
}

fn report(client: &Authenticated<ApiProvider>, burst: Burst) {
    let stats = client.stats();
    burst.print(&format!(
        "logins={} adopted={} relogins={} failed_logins={}",
        stats.logins, stats.adopted, stats.relogins, stats.failed_logins
    ));
}

// ------------------------------------------------------------------ parent

struct Setup<'a> {
    redis: StoreSpec,
    api: &'a TokenApi,
    password: &'a str,
    lockout: Option<&'a str>,
    login_timeout: Duration,
}

impl Setup<'_> {
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.redis.env();
        env.extend([
            (WORKER_ENV, "1".to_owned()),
            ("W_API", self.api.base.to_string()),
            ("W_PASSWORD", self.password.to_owned()),
            (
                "W_LOGIN_TIMEOUT_MS",
                self.login_timeout.as_millis().to_string(),
            ),
        ]);
        if let Some(rule) = self.lockout {
            env.push(("W_LOCKOUT", rule.to_owned()));
        }
        env
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_log_in_once_first_at_expiry_and_after_a_401_storm() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let redis = redis_or_skip!();
    log_in_once_first_at_expiry_and_after_a_401_storm(redis.spec()).await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_four_processes_log_in_once_first_at_expiry_and_after_a_401_storm() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let Some(redis) = RedisServer::start_tls(false) else {
        return;
    };
    log_in_once_first_at_expiry_and_after_a_401_storm(redis.spec()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_four_processes_log_in_once_first_at_expiry_and_after_a_401_storm() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let Some(redis) = RedisServer::start_acl("fleet") else {
        return;
    };
    log_in_once_first_at_expiry_and_after_a_401_storm(redis.spec()).await;
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_four_processes_log_in_once_first_at_expiry_and_after_a_401_storm() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let Some(cluster) = common::RedisCluster::start(Some("fleet")) else {
        return;
    };
    log_in_once_first_at_expiry_and_after_a_401_storm(cluster.spec()).await;
}

#[cfg(feature = "sentinel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_four_processes_log_in_once_first_at_expiry_and_after_a_401_storm() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let Some(set) = common::RedisSentinel::start() else {
        return;
    };
    log_in_once_first_at_expiry_and_after_a_401_storm(set.spec()).await;
}

/// 4 processes x 250 tasks through the store of `redis`: one login at
/// cold start, one at expiry, one after a 401 storm.
async fn log_in_once_first_at_expiry_and_after_a_401_storm(redis: StoreSpec) {
    println!(
        "deployment: {}, TLS: {}",
        redis.kind,
        redis.ca_pem.is_some()
    );
    let lifetime = Duration::from_secs(3);
    let api = TokenApi::start("right", lifetime).await;
    let setup = Setup {
        redis,
        api: &api,
        password: "right",
        lockout: None,
        login_timeout: Duration::from_secs(5),
    };
    let mut workers = Worker::spawn_many(&setup.env(), PROCESSES).await;
    let tasks = 250;

    // First calls: 4 x 250 concurrent tasks, one login in total.
    let started = Instant::now();
    let first = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&first, tasks, "first calls");
    let first_logins = api.logins();
    println!(
        "first calls: {} requests from {PROCESSES} processes -> {first_logins} login(s) at the server; adopted by {} process(es)",
        PROCESSES as u64 * tasks,
        sum(&first, "adopted")
    );
    assert_eq!(first_logins, 1);
    assert_eq!(sum(&first, "logins"), 1);
    assert_eq!(sum(&first, "adopted"), PROCESSES as u64 - 1);

    // At expiry: every process finds its session expired at once.
    api.set_lifetime(Duration::from_secs(60));
    let wait = (lifetime + Duration::from_millis(100)).saturating_sub(started.elapsed());
    tokio::time::sleep(wait).await;
    let expiry = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&expiry, tasks, "at expiry");
    let expiry_logins = api.logins() - first_logins;
    println!("at expiry: {expiry_logins} login(s)");
    assert_eq!(expiry_logins, 1);

    // A 401 storm: the server revokes the token; 1,000 requests are
    // rejected at once across the fleet.
    api.revoke_all();
    let rejected_before = api.rejected();
    let storm = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&storm, tasks, "401 storm");
    let storm_logins = api.logins() - first_logins - expiry_logins;
    let rejected = api.rejected() - rejected_before;
    println!("401 storm: {rejected} rejected request(s) -> {storm_logins} login(s)");
    assert!(rejected >= PROCESSES as u64, "every process saw the storm");
    assert_eq!(storm_logins, 1);
    assert_eq!(api.failed_logins(), 0);

    for w in workers {
        w.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_count_is_shared_by_the_fleet() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let redis = redis_or_skip!();
    let api = TokenApi::start("right", Duration::from_secs(60)).await;
    // Wrong key everywhere; the provider's rule: 4 failures per 60 s.
    let setup = Setup {
        redis: redis.spec(),
        api: &api,
        password: "wrong",
        lockout: Some("4:60000"),
        login_timeout: Duration::from_secs(5),
    };
    let mut workers = Worker::spawn_many(&setup.env(), PROCESSES).await;
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.extend(all(&mut workers, "session 20").await);
        // Past each process's own back-off (500 ms +- 20 %).
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let attempts = api.login_requests();
    println!(
        "lockout: {PROCESSES} processes x 3 rounds x 20 tasks with a wrong key -> {attempts} attempt(s) at the server (rule: 4 per window)"
    );
    assert!(attempts <= 4, "{attempts} attempts reached the server");
    assert!(attempts >= 1);
    assert_eq!(api.logins(), 0);
    for r in &replies {
        assert_eq!(r.num("ok"), 0, "{r:?}");
    }
    // The last round was refused locally everywhere.
    for r in &replies[replies.len() - PROCESSES..] {
        assert_eq!(r.num("err:locked_out"), 20, "{r:?}");
    }

    // A process that starts afterwards is refused without contacting the
    // server: the count lives in Redis.
    let mut late = Worker::spawn(&setup.env()).await;
    late.send("session 5").await;
    let reply = late.reply().await;
    assert_eq!(reply.num("err:locked_out"), 5, "{reply:?}");
    assert_eq!(api.login_requests(), attempts);
    late.quit().await;
    for w in workers {
        w.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_degrades_to_one_login_per_process_then_sharing_resumes() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let mut redis = redis_or_skip!();
    let api = TokenApi::start("right", Duration::from_secs(60)).await;
    let setup = Setup {
        redis: redis.spec(),
        api: &api,
        password: "right",
        lockout: None,
        login_timeout: Duration::from_secs(5),
    };
    let mut workers = Worker::spawn_many(&setup.env(), PROCESSES).await;
    let tasks = 50;

    let shared = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&shared, tasks, "before the outage");
    assert_eq!(api.logins(), 1);

    // Redis dies and the provider revokes the session: every process logs
    // in on its own (at most once each), and no call fails.
    redis.kill();
    api.revoke_all();
    let before = api.logins();
    let down = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&down, tasks, "Redis down");
    let down_logins = api.logins() - before;
    println!("Redis down: {down_logins} login(s) for {PROCESSES} processes");
    assert!(
        (1..=PROCESSES as u64).contains(&down_logins),
        "{down_logins}"
    );
    for (old, new) in shared.iter().zip(&down) {
        assert!(new.num("logins") - old.num("logins") <= 1, "{new:?}");
    }

    // Redis is back (empty): the processes reconnect by themselves and
    // share again: one login for the next rejection.
    redis.restart();
    for r in all(&mut workers, "wait-redis").await {
        assert_eq!(r.0.get("up").map(String::as_str), Some("true"), "{r:?}");
    }
    api.revoke_all();
    let before = api.logins();
    let back = all(&mut workers, &format!("send {tasks}")).await;
    assert_all_ok(&back, tasks, "Redis back");
    let back_logins = api.logins() - before;
    println!("Redis back: {back_logins} login(s)");
    assert_eq!(back_logins, 1);

    for w in workers {
        w.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lock_holder_blocks_others_only_until_the_lock_ttl() {
    let _fleet = common::procs::one_fleet_at_a_time().await;
    let redis = redis_or_skip!();
    let api = TokenApi::start("right", Duration::from_secs(60)).await;
    let login_timeout = Duration::from_millis(1000);
    // The login lock is a lease its holder extends while alive: a dead
    // holder's lock outlives it by at most one lease.
    let lock_ttl = auth_core::DEFAULT_LOCK_LEASE;
    let setup = Setup {
        redis: redis.spec(),
        api: &api,
        password: "right",
        lockout: None,
        login_timeout,
    };

    // The holder takes the lock, its login hangs, and it is killed.
    api.set_hang_logins(true);
    let mut holder = Worker::spawn(&setup.env()).await;
    holder.send("session 1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.login_requests() == 0 {
        assert!(Instant::now() < deadline, "the holder never logged in");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let locked_at = Instant::now();
    holder.child.start_kill().unwrap();
    holder.child.wait().await.unwrap();
    drop(holder);
    api.set_hang_logins(false);

    // The dead process left its lock behind.
    let store = RedisStore::builder(redis.url())
        .prefix("fleet")
        .build()
        .await
        .unwrap();
    let provider = {
        let mut p = ApiProvider::new(api.base.clone(), "right");
        p.login_timeout = login_timeout;
        p
    };
    let key = auth_core::Provider::cache_key(&provider);
    assert!(
        store.try_lock(&key, lock_ttl).await.unwrap().is_none(),
        "the dead holder's lock is still there"
    );

    // Another process (here: this one) waits for the lock to expire, then
    // logs in.
    let client = Authenticated::builder(provider)
        .store(Arc::new(store))
        .lock_poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let session = client
        .session()
        .await
        .expect("login after the lock expired");
    let waited = locked_at.elapsed();
    println!(
        "dead lock holder: the next login went out {} ms after the holder took the lock (lock TTL {} ms)",
        waited.as_millis(),
        lock_ttl.as_millis()
    );
    assert!(session.generation() > 0);
    assert_eq!(api.logins(), 1);
    assert!(
        waited <= lock_ttl + Duration::from_millis(1500),
        "{waited:?}"
    );
    assert!(
        waited >= lock_ttl - Duration::from_millis(1500),
        "it did wait for the lock: {waited:?}"
    );
}
