//! Each `TokenStore` operation of `RedisStore` against a real `redis-server`
//! (started by the test on a free loopback port; skipped with a notice when
//! the binary is absent unless `AUTH_REQUIRE_REDIS` is set).

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::secrecy::{ExposeSecret, SecretString};
use auth_core::{AuthError, Authenticated, Expiry, StoredSession, TokenStore};
use auth_redis::RedisStore;
use chrono::Utc;
use common::{ApiProvider, RedisServer, TokenApi, raw_connection};
use tokio::time::Instant;

macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

const KEY: &str = "token-api:http://127.0.0.1:1/:acct";

fn stored(generation: u64, token: &str) -> StoredSession {
    StoredSession {
        token: SecretString::from(token.to_owned()),
        issued_at: Utc::now(),
        expiry: Expiry::AfterIssue(Duration::from_secs(1200)),
        generation,
        data: serde_json::json!({"user_id": 42, "name": "fleet"}),
    }
}

async fn store(redis: &RedisServer) -> RedisStore {
    RedisStore::builder(redis.url())
        .prefix("t")
        .build()
        .await
        .expect("store")
}

#[tokio::test]
async fn sessions_round_trip_with_ttl_and_replace() {
    let redis = redis_or_skip!();
    let store = store(&redis).await;
    assert!(store.load(KEY).await.unwrap().is_none());

    store
        .save(KEY, &stored(1, "tok-one"), Some(Duration::from_millis(400)))
        .await
        .unwrap();
    let back = store.load(KEY).await.unwrap().expect("stored");
    assert_eq!(back.token.expose_secret(), "tok-one");
    assert_eq!(back.generation, 1);
    assert_eq!(back.data["user_id"], 42);
    assert_eq!(back.expiry, Expiry::AfterIssue(Duration::from_secs(1200)));

    // The key layout is documented: prefix, cache key, "session"; a hash.
    assert_eq!(store.session_key(KEY), format!("t:{KEY}:session"));
    let mut raw = raw_connection(&redis.url()).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.session_key(KEY))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 400, "TTL follows the argument: {pttl}");
    let generation: String = redis::cmd("HGET")
        .arg(store.session_key(KEY))
        .arg("gen")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(generation, "1");

    // Saving replaces.
    store
        .save(KEY, &stored(2, "tok-two"), Some(Duration::from_millis(400)))
        .await
        .unwrap();
    assert_eq!(store.load(KEY).await.unwrap().unwrap().generation, 2);

    // The TTL expires it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        store.load(KEY).await.unwrap().is_none(),
        "expired with its TTL"
    );

    // No TTL: kept (until rejected); a zero TTL stores nothing.
    store
        .save(KEY, &stored(3, "tok-three"), None)
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.session_key(KEY))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(pttl, -1);
    store
        .save(KEY, &stored(4, "tok-four"), Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(store.load(KEY).await.unwrap().is_none());

    // A stored session past its own deadline is not handed out.
    let mut old = stored(5, "tok-old");
    old.issued_at = Utc::now() - chrono::Duration::minutes(30);
    store.save(KEY, &old, None).await.unwrap();
    assert!(store.load(KEY).await.unwrap().is_none());

    // Accounts and prefixes are separate.
    store.save(KEY, &stored(6, "tok-six"), None).await.unwrap();
    assert!(store.load("another-account").await.unwrap().is_none());
    let other_prefix = RedisStore::builder(redis.url())
        .prefix("other")
        .build()
        .await
        .unwrap();
    assert!(other_prefix.load(KEY).await.unwrap().is_none());
}

#[tokio::test]
async fn remove_compares_the_generation() {
    let redis = redis_or_skip!();
    let store = store(&redis).await;
    store.save(KEY, &stored(5, "tok-five"), None).await.unwrap();
    assert!(
        !store.remove(KEY, Some(4)).await.unwrap(),
        "older generation"
    );
    assert!(
        !store.remove(KEY, Some(6)).await.unwrap(),
        "other generation"
    );
    assert_eq!(store.load(KEY).await.unwrap().unwrap().generation, 5);
    assert!(store.remove(KEY, Some(5)).await.unwrap());
    assert!(store.load(KEY).await.unwrap().is_none());
    assert!(!store.remove(KEY, Some(5)).await.unwrap(), "already gone");

    store
        .save(KEY, &stored(7, "tok-seven"), None)
        .await
        .unwrap();
    assert!(store.remove(KEY, None).await.unwrap(), "unconditional");
    assert!(!store.remove(KEY, None).await.unwrap());
}

#[tokio::test]
async fn generations_grow_across_instances_and_data_loss() {
    let redis = redis_or_skip!();
    let a = store(&redis).await;
    let b = store(&redis).await;
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.next_generation(KEY).await.unwrap()
        }));
    }
    for t in tasks {
        all.push(t.await.unwrap());
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 100, "every generation is handed out once");
    let highest = *all.last().unwrap();
    let next = a.next_generation(KEY).await.unwrap();
    assert!(next > highest);
    assert!(b.next_generation("another-account").await.unwrap() > 0);

    // Redis loses everything (restart without persistence): generations
    // still grow, so a new session is never taken for an old one.
    let mut raw = raw_connection(&redis.url()).await;
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let after = a.next_generation(KEY).await.unwrap();
    assert!(after > next, "{after} > {next}");
}

#[tokio::test]
async fn lock_is_exclusive_expires_and_unlocks_only_its_holder() {
    let redis = redis_or_skip!();
    let a = store(&redis).await;
    let b = store(&redis).await;
    let ttl = Duration::from_secs(5);

    let held = a.try_lock(KEY, ttl).await.unwrap().expect("free lock");
    assert!(b.try_lock(KEY, ttl).await.unwrap().is_none(), "exclusive");
    assert!(
        a.try_lock(KEY, ttl).await.unwrap().is_none(),
        "not re-entrant"
    );
    assert!(b.try_lock("another-account", ttl).await.unwrap().is_some());

    // Someone else's token does not release it.
    b.unlock(KEY, &auth_core::LockToken("not-the-holder".into()))
        .await
        .unwrap();
    assert!(b.try_lock(KEY, ttl).await.unwrap().is_none());
    a.unlock(KEY, &held).await.unwrap();

    // Many contenders at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.try_lock(KEY, Duration::from_millis(300)).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(token) = t.await.unwrap() {
            winners.push(token);
        }
    }
    assert_eq!(winners.len(), 1);

    // The lock expires by itself (a holder that died blocks for the TTL only).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = b.try_lock(KEY, ttl).await.unwrap().expect("expired lock");
    // The first winner's late unlock must not release the new holder's lock.
    a.unlock(KEY, &winners[0]).await.unwrap();
    assert!(a.try_lock(KEY, ttl).await.unwrap().is_none());
    b.unlock(KEY, &second).await.unwrap();
    assert!(a.try_lock(KEY, ttl).await.unwrap().is_some());
}

#[tokio::test]
async fn failure_window_is_shared_and_expires() {
    let redis = redis_or_skip!();
    let a = store(&redis).await;
    let b = store(&redis).await;
    let window = Duration::from_millis(600);

    assert_eq!(a.failures(KEY).await.unwrap().count, 0);
    assert_eq!(a.failures(KEY).await.unwrap().resets_in, None);
    let first = a.record_failure(KEY, window).await.unwrap();
    assert_eq!(first.count, 1);
    let left = first.resets_in.expect("window running");
    assert!(
        left <= window && left > Duration::from_millis(400),
        "{left:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A later failure counts in the same window, which it does not extend.
    let second = b.record_failure(KEY, window).await.unwrap();
    assert_eq!(second.count, 2);
    assert!(second.resets_in.unwrap() < left);
    let seen = b.failures(KEY).await.unwrap();
    assert_eq!(seen.count, 2);
    assert!(seen.resets_in.is_some());

    // The window ends: the count resets.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a.failures(KEY).await.unwrap(), Default::default());

    // Concurrent failures from two instances are all counted.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.record_failure(KEY, Duration::from_secs(30))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(a.failures(KEY).await.unwrap().count, 40);

    // set_failures overrides count and window; reset clears.
    b.set_failures(KEY, 4, Duration::from_millis(300))
        .await
        .unwrap();
    let set = a.failures(KEY).await.unwrap();
    assert_eq!(set.count, 4);
    assert!(set.resets_in.unwrap() <= Duration::from_millis(300));
    a.reset_failures(KEY).await.unwrap();
    assert_eq!(b.failures(KEY).await.unwrap().count, 0);
    b.set_failures(KEY, 3, Duration::from_millis(150))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(b.failures(KEY).await.unwrap().count, 0, "set_failures TTL");
}

#[cfg(feature = "encryption")]
#[tokio::test]
async fn encryption_round_trip_and_raw_value_hides_the_token() {
    let redis = redis_or_skip!();
    let key = [0x5a_u8; 32];
    let sealed = RedisStore::builder(redis.url())
        .prefix("enc")
        .encryption_key(&key)
        .build()
        .await
        .unwrap();
    assert!(sealed.is_encrypted());
    let token = "tok-SECRET-4b1d";
    sealed
        .save(KEY, &stored(9, token), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        sealed
            .load(KEY)
            .await
            .unwrap()
            .unwrap()
            .token
            .expose_secret(),
        token
    );

    // What Redis holds: no token, no provider data; the generation in clear.
    let mut raw = raw_connection(&redis.url()).await;
    let value: Vec<u8> = redis::cmd("HGET")
        .arg(sealed.session_key(KEY))
        .arg("value")
        .query_async(&mut raw)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&value);
    assert!(!text.contains(token) && !text.contains("SECRET"), "{text}");
    assert!(!text.contains("fleet") && !text.contains("user_id"));
    let generation: String = redis::cmd("HGET")
        .arg(sealed.session_key(KEY))
        .arg("gen")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(generation, "9");

    // Another key, or no key, cannot read it (an error, which the client
    // logs and treats as "nothing shared").
    let other = RedisStore::builder(redis.url())
        .prefix("enc")
        .encryption_key(&[0x11; 32])
        .build()
        .await
        .unwrap();
    assert!(matches!(other.load(KEY).await, Err(AuthError::Store(_))));
    let plain = RedisStore::builder(redis.url())
        .prefix("enc")
        .build()
        .await
        .unwrap();
    assert!(matches!(plain.load(KEY).await, Err(AuthError::Store(_))));
    // ... and an encrypting store refuses plain values.
    plain.save(KEY, &stored(10, token), None).await.unwrap();
    assert!(matches!(sealed.load(KEY).await, Err(AuthError::Store(_))));

    // Remove by generation works without the key.
    sealed.save(KEY, &stored(11, token), None).await.unwrap();
    assert!(!plain.remove(KEY, Some(10)).await.unwrap());
    assert!(plain.remove(KEY, Some(11)).await.unwrap());

    // A key of the wrong length is refused at build.
    let err = RedisStore::builder(redis.url())
        .encryption_key_slice(&[1; 16])
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    assert!(
        RedisStore::builder(redis.url())
            .encryption_key_slice(&key)
            .build()
            .await
            .unwrap()
            .is_encrypted()
    );
    assert!(!format!("{sealed:?}").contains("5a5a"));
}

#[tokio::test]
async fn password_never_appears_in_debug_or_errors() {
    let Some(redis) = RedisServer::start_with_password(Some("pw-Hunter2-x")) else {
        return;
    };
    let store = RedisStore::builder(redis.url()).build().await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("Hunter2"), "{debug}");
    assert!(debug.contains("REDACTED"), "{debug}");
    store.save(KEY, &stored(1, "tok-pw"), None).await.unwrap();
    assert_eq!(store.load(KEY).await.unwrap().unwrap().generation, 1);

    // Wrong password: refused at build, without echoing either password.
    let wrong = format!("redis://:pw-Wrong9-y@127.0.0.1:{}/0", redis.port);
    let err = RedisStore::builder(wrong.clone())
        .build()
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, AuthError::Store(_)), "{text}");
    assert!(
        !text.contains("Wrong9") && !text.contains("Hunter2"),
        "{text}"
    );

    // Nothing listening: the error names neither the URL nor the password.
    let dead = format!(
        "redis://user:pw-Dead7-z@127.0.0.1:{}/0",
        common::free_port()
    );
    let err = RedisStore::builder(dead.clone()).build().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("Dead7"), "{text}");
    // Lazily built: each operation fails with a Store error, also clean.
    let lazy = RedisStore::builder(dead)
        .connect_lazily(true)
        .build()
        .await
        .unwrap();
    assert!(!format!("{lazy:?}").contains("Dead7"));
    let err = lazy.load(KEY).await.unwrap_err();
    assert!(matches!(err, AuthError::Store(_)));
    assert!(!format!("{err} {err:?}").contains("Dead7"));
}

#[tokio::test]
async fn redis_down_or_slow_fails_fast_then_recovers() {
    let mut redis = redis_or_skip!();
    let op_timeout = Duration::from_millis(200);
    let store = RedisStore::builder(redis.url())
        .op_timeout(op_timeout)
        .outage_cooldown(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    store.save(KEY, &stored(1, "tok-a"), None).await.unwrap();

    // Slow: every client paused server-side for 1 s.
    let mut raw = raw_connection(&redis.url()).await;
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1000)
        .arg("ALL")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let started = Instant::now();
    let err = store.load(KEY).await.unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
    assert!(started.elapsed() < op_timeout + Duration::from_millis(150));
    // During the cool-down further calls fail at once.
    let started = Instant::now();
    assert!(store.next_generation(KEY).await.is_err());
    assert!(started.elapsed() < Duration::from_millis(50));
    wait_until_up(&store).await;
    assert_eq!(store.load(KEY).await.unwrap().unwrap().generation, 1);

    // Down: every operation fails within the timeout, nothing panics.
    redis.kill();
    for _ in 0..3 {
        let started = Instant::now();
        assert!(matches!(store.load(KEY).await, Err(AuthError::Store(_))));
        assert!(store.try_lock(KEY, Duration::from_secs(1)).await.is_err());
        assert!(store.next_generation(KEY).await.is_err());
        assert!(
            store
                .record_failure(KEY, Duration::from_secs(1))
                .await
                .is_err()
        );
        assert!(started.elapsed() < 4 * op_timeout + Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // Back (empty, same port): the store reconnects by itself.
    redis.restart();
    wait_until_up(&store).await;
    assert!(store.load(KEY).await.unwrap().is_none(), "data was lost");
    store.save(KEY, &stored(2, "tok-b"), None).await.unwrap();
    assert_eq!(store.load(KEY).await.unwrap().unwrap().generation, 2);
}

async fn wait_until_up(store: &RedisStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "Redis did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_clients_share_one_login_through_the_store() {
    let redis = redis_or_skip!();
    let api = TokenApi::start("right", Duration::from_secs(60)).await;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let store = Arc::new(store(&redis).await);
        clients.push(
            Authenticated::builder(ApiProvider::new(api.base.clone(), "right"))
                .store(store)
                .build()
                .unwrap(),
        );
    }
    let first = clients[0].session().await.unwrap();
    let second = clients[1].session().await.unwrap();
    assert_eq!(
        first.token().expose_secret(),
        second.token().expose_secret()
    );
    assert_eq!(first.generation(), second.generation());
    assert_eq!(api.logins(), 1);
    assert_eq!(clients[1].stats().adopted, 1);

    // A rejection seen by one client is handled by one login for both.
    api.revoke_all();
    let request = clients[0].provider().api_request(clients[0].http());
    assert_eq!(clients[0].send(request).await.unwrap().status(), 200);
    let request = clients[1].provider().api_request(clients[1].http());
    assert_eq!(clients[1].send(request).await.unwrap().status(), 200);
    assert_eq!(api.logins(), 2);
}
