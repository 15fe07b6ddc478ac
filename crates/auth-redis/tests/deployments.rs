//! `RedisStore` on Redis as production runs it: over TLS with a private CA
//! (and mutual TLS), as an ACL user with the minimal permissions, on a
//! 3-node Redis Cluster and through Redis Sentinel. Every test starts its
//! servers on loopback ports (skipped with a notice when `redis-server` is
//! absent unless `AUTH_REQUIRE_REDIS` is set); the test name says which
//! deployment it needs.

mod common;

use std::time::Duration;

use auth_core::secrecy::ExposeSecret;
use auth_core::{AuthError, TokenStore};
use auth_redis::RedisStore;
#[allow(unused_imports)]
use common::{ACL_STORE_RULES, KEY, RedisServer, raw_connection, stored};

/// Runs every `TokenStore` operation on account `key`, checking results;
/// the first error is returned (so a missing permission shows up).
async fn every_operation(store: &RedisStore, key: &str) -> Result<(), AuthError> {
    store.ping().await?;
    assert!(store.load(key).await?.is_none(), "{key}: fresh account");
    let generation = store.next_generation(key).await?;
    assert!(store.next_generation(key).await? > generation);
    let lock = store
        .try_lock(key, Duration::from_secs(5))
        .await?
        .expect("lock free");
    assert!(store.try_lock(key, Duration::from_secs(5)).await?.is_none());
    assert!(
        store
            .extend_lock(key, &lock, Duration::from_secs(5))
            .await?
    );
    let session = stored(generation, "tok-deploy");
    assert!(
        store
            .save(key, &session, Some(Duration::from_secs(60)))
            .await?
    );
    let back = store.load(key).await?.expect("saved");
    assert_eq!(back.token.expose_secret(), "tok-deploy");
    assert!(back.expires_in.is_some());
    assert!(
        store
            .touch(key, generation, Duration::from_secs(90))
            .await?
    );
    store.unlock(key, &lock).await?;
    let window = Duration::from_secs(60);
    store.record_failure(key, window, Duration::ZERO).await?;
    assert_eq!(store.failures(key, window).await?.count, 1);
    store.set_failures(key, 3, Duration::from_secs(30)).await?;
    assert!(store.failures(key, window).await?.count >= 3);
    store.reset_failures(key).await?;
    assert_eq!(store.failures(key, window).await?.count, 0);
    assert!(store.remove(key, Some(generation)).await?);
    assert!(store.load(key).await?.is_none());
    Ok(())
}

// ------------------------------------------------------------------- TLS

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_store_with_a_private_ca_runs_every_operation() {
    let Some(redis) = RedisServer::start_tls(false) else {
        return;
    };
    let url = redis.url();
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let ca = redis.ca_pem().unwrap();
    let store = RedisStore::builder(&url)
        .prefix("t")
        .tls_root_certificates(ca.as_bytes())
        .build()
        .await
        .expect("TLS store with the test CA");
    every_operation(&store, KEY).await.unwrap();
    let legacy_off = RedisStore::builder(&url)
        .prefix("t2")
        .write_legacy_v1(false)
        .tls_root_certificates(ca.clone())
        .build()
        .await
        .unwrap();
    every_operation(&legacy_off, KEY).await.unwrap();

    // The platform's roots do not know the test CA: refused at build.
    let err = RedisStore::builder(&url).build().await.unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
    // Plain text to the TLS port: refused at build (no answer in time or
    // a connection error), never a panic.
    let plain = url.replacen("rediss://", "redis://", 1);
    let err = RedisStore::builder(&plain)
        .connect_timeout(Duration::from_millis(500))
        .op_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
    // Certificates with a redis:// URL, or a PEM without a certificate:
    // configuration errors that say what to do.
    let err = RedisStore::builder(&plain)
        .tls_root_certificates(ca.as_bytes())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("rediss://")),
        "{err:?}"
    );
    let err = RedisStore::builder(&url)
        .tls_root_certificates("not a certificate")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("PEM")),
        "{err:?}"
    );
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_mutual_auth_presents_the_client_certificate() {
    let Some(redis) = RedisServer::start_tls(true) else {
        return;
    };
    let ca = redis.ca_pem().unwrap();
    let (cert, key) = redis.client_identity();
    // Without a client certificate the server refuses the handshake.
    let err = RedisStore::builder(redis.url())
        .tls_root_certificates(ca.as_bytes())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");

    let builder = RedisStore::builder(redis.url())
        .prefix("m")
        .tls_root_certificates(ca.as_bytes())
        .tls_client_certificate(cert.as_bytes(), key.as_bytes());
    let shown = format!("{builder:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    let store = builder.build().await.expect("mutual TLS");
    every_operation(&store, KEY).await.unwrap();

    let err = RedisStore::builder(redis.url())
        .tls_root_certificates(ca.as_bytes())
        .tls_client_certificate(cert.as_bytes(), "no key here")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("private key")),
        "{err:?}"
    );
    assert!(!format!("{err}").contains("no key here"));
}

// ------------------------------------------------------------------- ACL

#[tokio::test]
async fn acl_user_with_the_minimal_rules_runs_every_operation_on_its_prefix_only() {
    let Some(redis) = RedisServer::start_acl("fleet") else {
        return;
    };
    let url = redis.url();
    assert!(url.starts_with("redis://fleet-user:fleet-pw@"), "{url}");
    // With the v1 keys (the default) and without.
    for legacy in [true, false] {
        let store = RedisStore::builder(&url)
            .prefix("fleet")
            .write_legacy_v1(legacy)
            .build()
            .await
            .expect("store as the ACL user");
        every_operation(&store, &format!("{KEY}:{legacy}"))
            .await
            .unwrap_or_else(|e| panic!("legacy {legacy}: {e}"));
    }
    // Another prefix is outside the user's keys: refused (NOPERM), and the
    // error does not show the password.
    let other = RedisStore::builder(&url)
        .prefix("other")
        .build()
        .await
        .unwrap();
    let err = other.load(KEY).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("NOPERM") || text.contains("permission"),
        "{text}"
    );
    assert!(!text.contains("fleet-pw"), "{text}");
    // A wrong password fails at build.
    let err = RedisStore::builder(url.replace("fleet-pw", "wrong-pw"))
        .build()
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("wrong-pw"));

    // Each rule is needed: without it some operation fails (scripts are
    // flushed first, so loading them is exercised too). PEXPIRETIME is
    // optional (the scripts fall back to TIME + PTTL without it).
    let rules: Vec<&str> = ACL_STORE_RULES.split_whitespace().collect();
    for (i, dropped) in rules.iter().enumerate() {
        if *dropped == "+pexpiretime" {
            continue;
        }
        let user = format!("probe{i}");
        let kept: Vec<&str> = rules.iter().copied().filter(|r| r != dropped).collect();
        let mut args = vec![
            "ACL",
            "SETUSER",
            &user,
            "on",
            ">probe-pw",
            "~fleet:*",
            "-@all",
        ];
        args.extend(kept);
        redis.cli(&args);
        redis.cli(&["SCRIPT", "FLUSH"]);
        let url = format!("redis://{user}:probe-pw@127.0.0.1:{}/0", redis.port);
        let outcome = match RedisStore::builder(&url).prefix("fleet").build().await {
            Ok(store) => every_operation(&store, &format!("{KEY}:probe{i}")).await,
            Err(e) => Err(e),
        };
        assert!(outcome.is_err(), "the store worked without {dropped}");
    }
}

// --------------------------------------------------------------- cluster

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_store_as_acl_user_runs_every_operation_on_three_nodes() {
    let Some(cluster) = common::RedisCluster::start(Some("fleet")) else {
        return;
    };
    let store = RedisStore::cluster_builder(cluster.urls())
        .prefix("fleet")
        .build()
        .await
        .expect("cluster store");
    assert!(!store.writes_legacy_v1(), "off by default on Cluster");
    let shown = format!("{store:?}");
    assert!(
        shown.contains("cluster") && !shown.contains("fleet-pw"),
        "{shown}"
    );
    // Accounts spread over the nodes; every operation is one script on
    // the account's node.
    for i in 0..24 {
        every_operation(&store, &format!("{KEY}:{i}"))
            .await
            .unwrap();
        let session = stored(1, "kept");
        store
            .save(
                &format!("{KEY}:{i}"),
                &session,
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap();
    }
    let mut nodes_with_keys = 0;
    for node in &cluster.nodes {
        let keys: u64 = node.cli(&["DBSIZE"]).trim().parse().unwrap();
        if keys > 0 {
            nodes_with_keys += 1;
        }
    }
    assert!(nodes_with_keys >= 2, "keys on {nodes_with_keys} node(s)");

    // The v1 keys are not in the account's slot: refused at build.
    let err = RedisStore::cluster_builder(cluster.urls())
        .write_legacy_v1(true)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("CROSSSLOT")),
        "{err:?}"
    );
    // No node: a configuration error.
    let err = RedisStore::cluster_builder(Vec::<String>::new())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    // Lazily connected: works on first use.
    let lazy = RedisStore::cluster_builder(cluster.urls())
        .prefix("fleet")
        .connect_lazily(true)
        .build()
        .await
        .unwrap();
    every_operation(&lazy, &format!("{KEY}:lazy"))
        .await
        .unwrap();
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_down_fails_fast_then_recovers() {
    let Some(mut cluster) = common::RedisCluster::start(None) else {
        return;
    };
    let op_timeout = Duration::from_millis(200);
    let store = RedisStore::cluster_builder(cluster.urls())
        .prefix("d")
        .op_timeout(op_timeout)
        .outage_cooldown(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    store
        .save(KEY, &stored(1, "tok-a"), Some(Duration::from_secs(60)))
        .await
        .unwrap();

    // Every node down: each operation fails within its timeout.
    for node in &mut cluster.nodes {
        node.kill();
    }
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert!(matches!(store.load(KEY).await, Err(AuthError::Store(_))));
        assert!(store.next_generation(KEY).await.is_err());
        assert!(
            started.elapsed() < 2 * op_timeout + Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // The nodes come back on their ports with their cluster configuration
    // (and no data): the store finds them by itself.
    for node in &mut cluster.nodes {
        node.restart();
    }
    cluster.wait_until_ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let saved = store
            .save(KEY, &stored(2, "tok-b"), Some(Duration::from_secs(60)))
            .await;
        if saved.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the store did not recover: {saved:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = std::time::Instant::now();
    let mut failures = Vec::new();
    for _ in 0..50 {
        match store.load(KEY).await {
            Ok(s) => assert_eq!(s.unwrap().generation, 2),
            Err(e) => failures.push((recovered.elapsed(), e)),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "after recovery: {} failed load(s): {failures:?}",
        failures.len()
    );
    assert!(failures.is_empty());
}

#[cfg(all(feature = "cluster", feature = "tls"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cluster_store_with_a_private_ca_runs_every_operation() {
    let tls = std::sync::Arc::new(common::TlsFiles::generate());
    let Some(cluster) = common::RedisCluster::start_with(None, Some(std::sync::Arc::clone(&tls)))
    else {
        return;
    };
    let urls = cluster.urls();
    assert!(urls.iter().all(|u| u.starts_with("rediss://")), "{urls:?}");
    let store = RedisStore::cluster_builder(urls.clone())
        .prefix("tc")
        .tls_root_certificates(tls.ca_pem.as_bytes())
        .build()
        .await
        .expect("TLS cluster store");
    for i in 0..8 {
        every_operation(&store, &format!("{KEY}:{i}"))
            .await
            .unwrap();
    }
    // Without the CA: refused at build.
    let err = RedisStore::cluster_builder(urls).build().await.unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
}

// -------------------------------------------------------------- sentinel

#[cfg(feature = "sentinel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_store_follows_a_failover() {
    let Some(set) = common::RedisSentinel::start() else {
        return;
    };
    let store = RedisStore::sentinel_builder(common::SENTINEL_SERVICE, [set.url()])
        .prefix("s")
        .op_timeout(Duration::from_millis(500))
        .outage_cooldown(Duration::from_millis(100))
        .build()
        .await
        .expect("sentinel store");
    every_operation(&store, KEY).await.unwrap();
    let session = stored(7, "before-failover");
    assert!(
        store
            .save(KEY, &session, Some(Duration::from_secs(60)))
            .await
            .unwrap()
    );
    // The replica has the session before the failover.
    set.primary.cli(&["WAIT", "1", "2000"]);

    set.sentinel_cli(&["SENTINEL", "FAILOVER", common::SENTINEL_SERVICE]);
    let replica_port = set.replica.port.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !set
        .sentinel_cli(&[
            "SENTINEL",
            "get-master-addr-by-name",
            common::SENTINEL_SERVICE,
        ])
        .contains(&replica_port)
    {
        assert!(std::time::Instant::now() < deadline, "no failover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The store finds the new primary by itself: within a few seconds its
    // writes reach the new primary (the old one is demoted to a replica
    // and answers writes with READONLY), and the session is still there.
    let mut raw = raw_connection(&set.replica.url()).await;
    let session_key = store.session_key(KEY);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (mut failed, mut attempts) = (0, 0);
    loop {
        attempts += 1;
        if store
            .save(
                KEY,
                &stored(8, "after-failover"),
                Some(Duration::from_secs(60)),
            )
            .await
            .is_err()
        {
            failed += 1;
        }
        let value: Option<String> = redis::cmd("HGET")
            .arg(&session_key)
            .arg("value")
            .query_async(&mut raw)
            .await
            .unwrap();
        if value.is_some_and(|v| v.contains("after-failover")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the store did not move to the new primary ({attempts} attempts)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "sentinel failover: {attempts} write(s) ({failed} failed) until one reached the new primary"
    );
    let back = store.load(KEY).await.unwrap().expect("session");
    assert_eq!(back.token.expose_secret(), "after-failover");
    let info = set.replica.cli(&["INFO", "replication"]);
    assert!(info.contains("role:master"), "{info}");
}

#[cfg(feature = "sentinel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_store_authenticates_to_the_primary_with_its_credentials() {
    let Some(set) = common::RedisSentinel::start_with_password(Some("primary-pw")) else {
        return;
    };
    // The sentinel needs no password here, the primary does.
    let err = RedisStore::sentinel_builder(common::SENTINEL_SERVICE, [set.url()])
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
    let builder = RedisStore::sentinel_builder(common::SENTINEL_SERVICE, [set.url()])
        .prefix("s")
        .primary_credentials(None, "primary-pw");
    assert!(!format!("{builder:?}").contains("primary-pw"));
    let store = builder
        .build()
        .await
        .expect("store with the primary's password");
    assert!(!format!("{store:?}").contains("primary-pw"));
    every_operation(&store, KEY).await.unwrap();
    // A wrong password: refused at build, without showing it.
    let err = RedisStore::sentinel_builder(common::SENTINEL_SERVICE, [set.url()])
        .primary_credentials(None, "wrong-pw")
        .build()
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("wrong-pw"), "{err}");
}

#[cfg(feature = "sentinel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_store_uses_the_primary_database_it_is_given() {
    let Some(set) = common::RedisSentinel::start() else {
        return;
    };
    let store = RedisStore::sentinel_builder(common::SENTINEL_SERVICE, [set.url()])
        .prefix("db")
        .primary_database(5)
        .build()
        .await
        .expect("sentinel store on database 5");
    every_operation(&store, KEY).await.unwrap();
    assert!(
        store
            .save(KEY, &stored(1, "in-db-5"), Some(Duration::from_secs(60)))
            .await
            .unwrap()
    );
    let keys_in = |db: &str| {
        set.primary
            .cli(&["-n", db, "DBSIZE"])
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    assert!(keys_in("5") > 0, "the session is in database 5");
    assert_eq!(keys_in("0"), 0, "nothing in database 0");
    // A database is a Sentinel setting: a URL carries its own.
    let err = RedisStore::builder("redis://127.0.0.1:1/")
        .primary_database(1)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("URL")),
        "{err}"
    );
}
