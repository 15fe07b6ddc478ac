//! Each `TokenStore` operation of `RedisStore` against a real `redis-server`
//! (started by the test on a free loopback port; skipped with a notice when
//! the binary is absent unless `AUTH_REQUIRE_REDIS` is set).

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::secrecy::ExposeSecret;
use auth_core::{AuthError, Authenticated, Expiry, StoredSession, TokenStore};
use auth_redis::{FAILURE_HORIZON, GENERATION_TTL, RedisStore};
use chrono::Utc;
use common::{ApiProvider, KEY, RedisServer, TokenApi, raw_connection, stored};
use tokio::time::Instant;

macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
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
    let left = back.expires_in.expect("a TTL");
    assert!(left <= Duration::from_millis(400), "{left:?}");

    // The key layout is documented: prefix, format, {cache key}, "session";
    // a hash.
    assert_eq!(store.session_key(KEY), format!("t:v2:{{{KEY}}}:session"));
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
                .record_failure(KEY, Duration::from_secs(1), Duration::ZERO)
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

// ------------------------------------------------------------ the contract

async fn store_v2_only(redis: &RedisServer) -> RedisStore {
    RedisStore::builder(redis.url())
        .prefix("t")
        .write_legacy_v1(false)
        .build()
        .await
        .expect("store")
}

async fn pttl(raw: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(raw).await.unwrap()
}

/// Redis's own clock, in ms.
async fn redis_time_ms(raw: &mut redis::aio::MultiplexedConnection) -> i64 {
    let (s, us): (i64, i64) = redis::cmd("TIME").query_async(raw).await.unwrap();
    s * 1000 + us / 1000
}

#[tokio::test]
async fn saves_are_fenced_by_generation() {
    let redis = redis_or_skip!();
    for store in [store(&redis).await, store_v2_only(&redis).await] {
        let key = format!("fenced-{}", store.writes_legacy_v1());
        assert!(store.save(&key, &stored(10, "tok-10"), None).await.unwrap());
        assert!(!store.save(&key, &stored(9, "tok-9"), None).await.unwrap());
        let back = store.load(&key).await.unwrap().unwrap();
        assert_eq!(
            (back.generation, back.token.expose_secret()),
            (10, "tok-10")
        );
        // The same generation again (a retried save) and a newer one are
        // stored.
        assert!(store.save(&key, &stored(10, "tok-10"), None).await.unwrap());
        assert!(store.save(&key, &stored(11, "tok-11"), None).await.unwrap());
        assert_eq!(store.load(&key).await.unwrap().unwrap().generation, 11);
        // An expired newer session fences nothing.
        let short = Some(Duration::from_millis(100));
        assert!(
            store
                .save(&key, &stored(20, "tok-20"), short)
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(store.save(&key, &stored(12, "tok-12"), None).await.unwrap());
        assert_eq!(store.load(&key).await.unwrap().unwrap().generation, 12);
    }

    // Racing saves from two processes: the highest generation wins.
    let a = store(&redis).await;
    let b = store_v2_only(&redis).await;
    let mut tasks = Vec::new();
    for g in 100..140_u64 {
        let s = if g % 3 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.save("race", &stored(g, "tok"), None).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(a.load("race").await.unwrap().unwrap().generation, 139);
}

#[tokio::test]
async fn load_reports_time_left_by_the_store_clock() {
    let redis = redis_or_skip!();
    let store = store(&redis).await;
    let mut raw = raw_connection(&redis.url()).await;
    store
        .save(KEY, &stored(1, "tok"), Some(Duration::from_secs(2)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = store.load(KEY).await.unwrap().unwrap().expires_in.unwrap();
    assert!(
        left > Duration::from_millis(1500) && left <= Duration::from_millis(1700),
        "{left:?}"
    );
    let key_ttl = pttl(&mut raw, &store.session_key(KEY)).await;
    assert!((key_ttl - left.as_millis() as i64).abs() < 100, "{key_ttl}");

    // The writer's wall clock said the session was issued an hour ago (so
    // by it, long expired); the store's TTL says it has a minute left. The
    // store's clock wins.
    let mut skewed = stored(2, "tok-skewed");
    skewed.issued_at = Utc::now() - chrono::Duration::hours(1);
    store
        .save(KEY, &skewed, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let back = store.load(KEY).await.unwrap().expect("judged by the TTL");
    let left = back.expires_in.unwrap();
    assert!(left > Duration::from_secs(59), "{left:?}");

    // No TTL: none reported.
    store.save(KEY, &stored(3, "tok"), None).await.unwrap();
    assert_eq!(store.load(KEY).await.unwrap().unwrap().expires_in, None);
}

#[tokio::test]
async fn touch_extends_only_the_current_generation() {
    let redis = redis_or_skip!();
    let store = store(&redis).await;
    let other = store_v2_only(&redis).await;
    assert!(
        !store.touch(KEY, 1, Duration::from_secs(1)).await.unwrap(),
        "nothing stored"
    );
    store
        .save(KEY, &stored(3, "tok"), Some(Duration::from_millis(400)))
        .await
        .unwrap();
    assert!(!store.touch(KEY, 2, Duration::from_secs(2)).await.unwrap());
    assert!(!other.touch(KEY, 4, Duration::from_secs(2)).await.unwrap());
    assert!(other.touch(KEY, 3, Duration::from_secs(2)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let back = store.load(KEY).await.unwrap().expect("kept by the touch");
    let left = back.expires_in.unwrap();
    assert!(left > Duration::from_millis(1200), "{left:?}");
    // A newer session is not touched with the old generation.
    store
        .save(KEY, &stored(4, "tok"), Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(!store.touch(KEY, 3, Duration::from_secs(5)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.load(KEY).await.unwrap().is_none());
}

#[tokio::test]
async fn lock_lease_is_extended_by_its_holder_only() {
    let redis = redis_or_skip!();
    let a = store(&redis).await;
    let b = store_v2_only(&redis).await;
    let lease = Duration::from_millis(400);
    let held = a.try_lock(KEY, lease).await.unwrap().expect("free");
    let stranger = auth_core::LockToken("not-the-holder".into());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(a.extend_lock(KEY, &held, lease).await.unwrap());
    assert!(!b.extend_lock(KEY, &stranger, lease).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    // 500 ms after taking it, the 400 ms lease still holds: it was extended.
    assert!(b.try_lock(KEY, lease).await.unwrap().is_none(), "extended");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let taken = b
        .try_lock(KEY, lease)
        .await
        .unwrap()
        .expect("lease ran out");
    assert!(!a.extend_lock(KEY, &held, lease).await.unwrap(), "lost");
    a.unlock(KEY, &held).await.unwrap();
    assert!(a.try_lock(KEY, lease).await.unwrap().is_none(), "b holds");
    assert!(
        b.extend_lock(KEY, &taken, Duration::from_secs(5))
            .await
            .unwrap()
    );
    let mut raw = raw_connection(&redis.url()).await;
    let lock_key = format!("t:v2:{{{KEY}}}:lock");
    assert!(pttl(&mut raw, &lock_key).await > 4000);
    b.unlock(KEY, &taken).await.unwrap();
    assert!(a.try_lock(KEY, lease).await.unwrap().is_some());
}

#[tokio::test]
async fn failures_slide_by_the_redis_clock() {
    let redis = redis_or_skip!();
    let a = store(&redis).await;
    let b = store_v2_only(&redis).await;
    let mut raw = raw_connection(&redis.url()).await;
    let window = Duration::from_millis(1000);
    let ms = Duration::from_millis;

    assert_eq!(a.failures(KEY, window).await.unwrap(), Default::default());
    let first = a.record_failure(KEY, window, Duration::ZERO).await.unwrap();
    assert_eq!(first.count, 1);
    assert!(first.resets_in.unwrap() > ms(900), "{first:?}");
    // Its score is the Redis clock's time.
    let zset = format!("t:v2:{{{KEY}}}:failures");
    let scores: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(&zset)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut raw)
        .await
        .unwrap();
    let now = redis_time_ms(&mut raw).await;
    assert_eq!(scores.len(), 1);
    assert!((now - scores[0].1).abs() < 500, "{scores:?} vs {now}");

    tokio::time::sleep(ms(400)).await;
    b.record_failure(KEY, window, Duration::ZERO).await.unwrap();
    tokio::time::sleep(ms(400)).await;
    let third = a.record_failure(KEY, window, Duration::ZERO).await.unwrap();
    assert_eq!(third.count, 3);
    assert!(third.resets_in.unwrap() <= ms(250), "{third:?}");
    // At about 1150 ms the first failure has left the window; a fixed
    // window started by it would have reset the count to zero.
    tokio::time::sleep(ms(350)).await;
    let seen = b.failures(KEY, window).await.unwrap();
    assert_eq!(seen.count, 2, "{seen:?}");
    let left = seen.resets_in.unwrap();
    assert!(left > ms(100) && left <= ms(300), "{seen:?}");
    // A longer window counts all three.
    assert_eq!(a.failures(KEY, ms(10_000)).await.unwrap().count, 3);

    // A failure recorded late is placed at its own time: 900 ms ago, so it
    // counts (it is within the last second) but leaves the window first.
    let late = a.record_failure(KEY, window, ms(900)).await.unwrap();
    assert_eq!(late.count, 3, "{late:?}");
    assert!(late.resets_in.unwrap() <= ms(150), "{late:?}");
    // One recorded beyond the horizon is trimmed at once: the set keeps
    // one member per failure that can still count.
    a.record_failure(KEY, window, FAILURE_HORIZON + ms(1))
        .await
        .unwrap();
    let members: i64 = redis::cmd("ZCARD")
        .arg(&zset)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(members, 4);

    // A provider lockout counts for its TTL, whatever the window.
    b.set_failures(KEY, 4, ms(300)).await.unwrap();
    let pinned = a.failures(KEY, ms(1)).await.unwrap();
    assert_eq!(pinned.count, 4, "{pinned:?}");
    assert!(pinned.resets_in.unwrap() <= ms(300));
    assert!(a.failures(KEY, ms(10_000)).await.unwrap().count >= 8);
    tokio::time::sleep(ms(350)).await;
    assert_eq!(
        a.failures(KEY, ms(1)).await.unwrap().count,
        0,
        "lockout over"
    );

    // reset_failures forgets everything (a success never calls it).
    a.reset_failures(KEY).await.unwrap();
    assert_eq!(b.failures(KEY, ms(10_000)).await.unwrap().count, 0);

    // Concurrent failures from two processes are all counted.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.record_failure(KEY, Duration::from_secs(30), Duration::ZERO)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        a.failures(KEY, Duration::from_secs(30))
            .await
            .unwrap()
            .count,
        40
    );
    assert_eq!(
        b.failures(KEY, Duration::from_secs(30))
            .await
            .unwrap()
            .count,
        40
    );
}

#[tokio::test]
async fn every_key_expires() {
    let redis = redis_or_skip!();
    let mut raw = raw_connection(&redis.url()).await;
    for store in [store(&redis).await, store_v2_only(&redis).await] {
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
        let g = store.next_generation(KEY).await.unwrap();
        store
            .save(KEY, &stored(g, "tok"), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        store.touch(KEY, g, Duration::from_secs(90)).await.unwrap();
        let lock = store.try_lock(KEY, Duration::from_secs(5)).await.unwrap();
        store
            .extend_lock(KEY, &lock.unwrap(), Duration::from_secs(6))
            .await
            .unwrap();
        store
            .record_failure(KEY, Duration::from_secs(900), Duration::ZERO)
            .await
            .unwrap();
        store
            .set_failures(KEY, 3, Duration::from_secs(120))
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("t:*")
            .query_async(&mut raw)
            .await
            .unwrap();
        let expected = if store.writes_legacy_v1() { 10 } else { 5 };
        assert_eq!(keys.len(), expected, "{keys:?}");
        for key in keys {
            let left = pttl(&mut raw, &key).await;
            assert!(left > 0, "{key} has no TTL ({left})");
            let most = match key.rsplit(':').next().unwrap() {
                "generation" => GENERATION_TTL,
                "failures" if key.contains(":v2:") => FAILURE_HORIZON,
                "failures" => Duration::from_secs(900),
                // The mirror record outlives the v1 counter by a second.
                "v1mirror" => Duration::from_secs(901),
                "session" => Duration::from_secs(90),
                "lock" => Duration::from_secs(6),
                "pinned" => Duration::from_secs(120),
                other => panic!("unexpected key {other}"),
            };
            assert!(left as u128 <= most.as_millis(), "{key}: {left}");
            assert!(
                left as u128 > most.as_millis() - 5000,
                "{key}: {left} (expected about {most:?})"
            );
        }
    }
}

/// The Redis Cluster hash slot of `key` (CRC16/XMODEM of its hash tag).
fn slot(key: &str) -> u16 {
    let tag = match key.find('{') {
        Some(open) => match key[open + 1..].find('}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for byte in tag.bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc & 0x3fff
}

#[tokio::test]
async fn keys_of_one_account_share_a_hash_slot() {
    assert_eq!(
        slot("123456789"),
        0x31c3 & 0x3fff,
        "CRC16/XMODEM check value"
    );
    assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));

    // A single-node Redis Cluster owning every slot: it refuses (CROSSSLOT)
    // any script whose keys are not all in one slot.
    let dir = std::env::temp_dir().join(format!(
        "auth-redis-cluster-{}-{}",
        std::process::id(),
        fastrand_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let nodes = dir.join("nodes.conf");
    let Some(redis) = RedisServer::start_with(
        None,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            nodes.to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    let mut raw = raw_connection(&redis.url()).await;
    redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut raw)
            .await
            .unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "cluster did not become ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let store = RedisStore::builder(redis.url())
        .prefix("t")
        .write_legacy_v1(false)
        .build()
        .await
        .unwrap();
    // Braces in the cache key are escaped: the tag stays the whole key.
    for key in [KEY, "acct:{odd}:x", "}{", "a%7Bb", "a{b"] {
        let g = store.next_generation(key).await.unwrap();
        assert!(store.save(key, &stored(g, key), None).await.unwrap());
        assert_eq!(
            store
                .load(key)
                .await
                .unwrap()
                .unwrap()
                .token
                .expose_secret(),
            key
        );
        assert!(store.touch(key, g, Duration::from_secs(5)).await.unwrap());
        let lock = store
            .try_lock(key, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert!(
            store
                .extend_lock(key, &lock, Duration::from_secs(5))
                .await
                .unwrap()
        );
        store.unlock(key, &lock).await.unwrap();
        let window = Duration::from_secs(60);
        store
            .record_failure(key, window, Duration::ZERO)
            .await
            .unwrap();
        store.set_failures(key, 2, window).await.unwrap();
        assert_eq!(store.failures(key, window).await.unwrap().count, 3);
        store.reset_failures(key).await.unwrap();
        assert!(store.remove(key, Some(g)).await.unwrap());
    }
    // The v1 keys of rolling-deploy compatibility are not in the account's
    // slot: such a store fails on a Cluster (hence: switch it off first).
    let legacy = RedisStore::builder(redis.url())
        .prefix("t")
        .build()
        .await
        .unwrap();
    let err = legacy.load(KEY).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("crossslot")
            && err.to_string().contains("write_legacy_v1(false)"),
        "{err}"
    );

    // Distinct cache keys keep distinct keys ("a{b" vs "a%7Bb").
    assert_ne!(store.session_key("a{b"), store.session_key("a%7Bb"));
    for key in ["acct:{odd}:x", "}{", KEY] {
        let session = store.session_key(key);
        let tag = session
            .split_once('{')
            .unwrap()
            .1
            .rsplit_once('}')
            .unwrap()
            .0;
        assert!(!tag.contains('{') && !tag.contains('}'), "{session}");
        let expected = slot(&session);
        let g = store.next_generation(key).await.unwrap();
        store
            .record_failure(key, Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        store
            .set_failures(key, 1, Duration::from_secs(60))
            .await
            .unwrap();
        store.try_lock(key, Duration::from_secs(5)).await.unwrap();
        store.save(key, &stored(g, "t"), None).await.unwrap();
        let prefix = session.trim_end_matches("session").to_owned();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", prefix.replace('[', "\\[")))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(keys.len(), 5, "{keys:?}");
        for k in keys {
            assert_eq!(slot(&k), expected, "{k} vs {session}");
        }
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

fn fastrand_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

// ------------------------------------------------------- rolling deploys

/// A process of the previous version, using the v1 store format: the
/// commands and scripts of the old `RedisStore`, sent raw.
struct V1Process {
    conn: redis::aio::MultiplexedConnection,
    prefix: &'static str,
}

impl V1Process {
    async fn new(redis: &RedisServer) -> Self {
        Self {
            conn: raw_connection(&redis.url()).await,
            prefix: "t",
        }
    }

    fn key(&self, account: &str, suffix: &str) -> String {
        format!("{}:{account}:{suffix}", self.prefix)
    }

    async fn next_generation(&mut self, account: &str) -> u64 {
        redis::Script::new(
            r"
if redis.replicate_commands then redis.replicate_commands() end
local g = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if g < now then
  redis.call('SET', KEYS[1], string.format('%d', now))
  g = now
end
return g",
        )
        .key(self.key(account, "generation"))
        .invoke_async(&mut self.conn)
        .await
        .unwrap()
    }

    /// `DEL` + `HSET gen value` + `PEXPIRE`, unfenced, as v1 did.
    async fn save(&mut self, account: &str, session: &StoredSession, ttl: Duration) {
        let key = self.key(account, "session");
        let value = serde_json::to_vec(session).unwrap();
        redis::pipe()
            .atomic()
            .del(&key)
            .hset_multiple(
                &key,
                &[
                    ("gen", session.generation.to_string().into_bytes()),
                    ("value", value),
                ],
            )
            .pexpire(&key, ttl.as_millis() as i64)
            .query_async::<()>(&mut self.conn)
            .await
            .unwrap();
    }

    async fn load(&mut self, account: &str) -> Option<StoredSession> {
        let (generation, value): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.key(account, "session"))
            .arg("gen")
            .arg("value")
            .query_async(&mut self.conn)
            .await
            .unwrap();
        let session: StoredSession = serde_json::from_slice(&value?).unwrap();
        assert_eq!(generation?, session.generation.to_string());
        Some(session)
    }

    async fn try_lock(&mut self, account: &str, token: &str, ttl: Duration) -> bool {
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.key(account, "lock"))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.conn)
            .await
            .unwrap();
        reply.is_some()
    }

    async fn unlock(&mut self, account: &str, token: &str) {
        redis::Script::new(
            r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0",
        )
        .key(self.key(account, "lock"))
        .arg(token)
        .invoke_async::<i64>(&mut self.conn)
        .await
        .unwrap();
    }

    /// `INCR` + `PEXPIRE window` on the first failure: a fixed window.
    async fn record_failure(&mut self, account: &str, window: Duration) -> i64 {
        let (count, _ttl): (i64, i64) = redis::Script::new(
            r"
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if c == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {c, ttl}",
        )
        .key(self.key(account, "failures"))
        .arg(window.as_millis() as u64)
        .invoke_async(&mut self.conn)
        .await
        .unwrap();
        count
    }

    async fn failures(&mut self, account: &str) -> i64 {
        let count: Option<i64> = redis::cmd("GET")
            .arg(self.key(account, "failures"))
            .query_async(&mut self.conn)
            .await
            .unwrap();
        count.unwrap_or(0)
    }
}

#[tokio::test]
async fn rolling_deploy_v1_and_v2_processes_share_sessions_lock_and_failure_budget() {
    let redis = redis_or_skip!();
    let mut old = V1Process::new(&redis).await;
    let new = store(&redis).await;
    assert!(new.writes_legacy_v1(), "on by default");
    let ttl = Duration::from_secs(60);

    // One login, by an old process, is adopted by a new one.
    let g1 = old.next_generation(KEY).await;
    old.save(KEY, &stored(g1, "tok-by-v1"), ttl).await;
    let adopted = new.load(KEY).await.unwrap().expect("v1 session visible");
    assert_eq!(
        (adopted.generation, adopted.token.expose_secret()),
        (g1, "tok-by-v1")
    );
    assert!(adopted.expires_in.unwrap() > Duration::from_secs(59));
    // ... and copied into the v2 format.
    let mut raw = raw_connection(&redis.url()).await;
    let v2_gen: String = redis::cmd("HGET")
        .arg(new.session_key(KEY))
        .arg("gen")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(v2_gen, g1.to_string());

    // A login by a new process is seen by old processes, and generations
    // keep growing across formats.
    let g2 = new.next_generation(KEY).await.unwrap();
    assert!(g2 > g1);
    assert!(
        new.save(KEY, &stored(g2, "tok-by-v2"), Some(ttl))
            .await
            .unwrap()
    );
    let seen = old.load(KEY).await.expect("v2 session visible to v1");
    assert_eq!(
        (seen.generation, seen.token.expose_secret()),
        (g2, "tok-by-v2")
    );
    // An idle session in use keeps its TTL in both formats.
    assert!(new.touch(KEY, g2, Duration::from_secs(90)).await.unwrap());
    assert!(pttl(&mut raw, &old.key(KEY, "session")).await > 89_000);
    let g3 = old.next_generation(KEY).await;
    assert!(g3 > g2, "the v1 counter was kept in step");
    // An old process's newer login wins over the new one's copy, and fences
    // a slow new process's older save.
    old.save(KEY, &stored(g3, "tok-by-v1-again"), ttl).await;
    assert_eq!(new.load(KEY).await.unwrap().unwrap().generation, g3);
    assert!(
        !new.save(KEY, &stored(g2, "stale"), Some(ttl))
            .await
            .unwrap()
    );
    assert_eq!(old.load(KEY).await.unwrap().generation, g3);
    // A rejection handled by a new process removes the session in both
    // formats (so no old process adopts the rejected token).
    assert!(new.remove(KEY, Some(g3)).await.unwrap());
    assert!(old.load(KEY).await.is_none());
    assert!(new.load(KEY).await.unwrap().is_none());

    // The login lock excludes across formats.
    let lease = Duration::from_secs(5);
    assert!(old.try_lock(KEY, "v1-holder", lease).await);
    assert!(
        new.try_lock(KEY, lease).await.unwrap().is_none(),
        "v1 holds it"
    );
    old.unlock(KEY, "v1-holder").await;
    let token = new.try_lock(KEY, lease).await.unwrap().expect("free");
    assert!(!old.try_lock(KEY, "v1-holder", lease).await, "v2 holds it");
    assert!(
        new.extend_lock(KEY, &token, Duration::from_secs(8))
            .await
            .unwrap()
    );
    assert!(
        pttl(&mut raw, &old.key(KEY, "lock")).await > 7000,
        "v1 lock extended"
    );
    old.unlock(KEY, "v1-holder").await;
    assert!(!old.try_lock(KEY, "v1-holder", lease).await, "still held");
    new.unlock(KEY, &token).await.unwrap();
    assert!(
        old.try_lock(KEY, "v1-holder", lease).await,
        "released in both"
    );
    old.unlock(KEY, "v1-holder").await;

    // Old and new contenders at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let new = new.clone();
        let mut conn = old.conn.clone();
        let v1_lock = old.key(KEY, "lock");
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                new.try_lock(KEY, lease).await.unwrap().is_some()
            } else {
                redis::cmd("SET")
                    .arg(v1_lock)
                    .arg(format!("v1-{i}"))
                    .arg("NX")
                    .arg("PX")
                    .arg(5000)
                    .query_async::<Option<String>>(&mut conn)
                    .await
                    .unwrap()
                    .is_some()
            }
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    redis::cmd("DEL")
        .arg(old.key(KEY, "lock"))
        .arg(format!("t:v2:{{{KEY}}}:lock"))
        .query_async::<()>(&mut raw)
        .await
        .unwrap();

    // One failure budget: failures recorded by either are counted once.
    let window = Duration::from_secs(30);
    assert_eq!(old.record_failure(KEY, window).await, 1);
    assert_eq!(old.record_failure(KEY, window).await, 2);
    assert_eq!(new.failures(KEY, window).await.unwrap().count, 2);
    let c = new
        .record_failure(KEY, window, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(c.count, 3, "not 4: its own failure is not counted twice");
    assert_eq!(old.failures(KEY).await, 3, "old processes see it");
    new.record_failure(KEY, window, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(old.record_failure(KEY, window).await, 5);
    let c = new.failures(KEY, window).await.unwrap();
    assert_eq!(c.count, 5, "{c:?}");
    assert!(c.resets_in.unwrap() <= window);
    // A provider lockout recorded by a new process reaches old ones too.
    new.set_failures(KEY, 4, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(new.failures(KEY, window).await.unwrap().count, 9);
    assert_eq!(old.failures(KEY).await, 9);
    assert!(pttl(&mut raw, &old.key(KEY, "failures")).await > 59_000);
    assert_eq!(old.record_failure(KEY, window).await, 10);
    assert_eq!(new.failures(KEY, window).await.unwrap().count, 10);
    // An operator's reset through a new process clears both formats.
    new.reset_failures(KEY).await.unwrap();
    assert_eq!(new.failures(KEY, window).await.unwrap().count, 0);
    assert_eq!(old.failures(KEY).await, 0);

    // When the old counter's fixed window ends, its failures stop counting;
    // the new processes' own failures keep sliding.
    let short = Duration::from_millis(400);
    old.record_failure(KEY, short).await;
    new.record_failure(KEY, short, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(new.failures(KEY, short).await.unwrap().count, 2);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(new.failures(KEY, short).await.unwrap().count, 0);
    assert_eq!(old.failures(KEY).await, 0);
    new.reset_failures(KEY).await.unwrap();

    // Across v1 windows: a new process's failure from the previous v1 window
    // still slides in its own set, and is counted once beside the old
    // processes' failures of the current v1 window.
    let w = Duration::from_millis(600);
    new.record_failure(KEY, w, Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        new.record_failure(KEY, w, Duration::ZERO)
            .await
            .unwrap()
            .count,
        2
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    // The first failure has left the window; the v1 counter's window (started
    // by it) is over: an old process starts a new one.
    assert_eq!(old.record_failure(KEY, w).await, 1);
    assert_eq!(new.failures(KEY, w).await.unwrap().count, 2);
    assert_eq!(
        new.record_failure(KEY, w, Duration::ZERO)
            .await
            .unwrap()
            .count,
        3
    );
    assert_eq!(old.failures(KEY).await, 2);
    new.reset_failures(KEY).await.unwrap();

    // Once no old process remains, `write_legacy_v1(false)`: v1 keys are
    // neither read nor written.
    let pure = store_v2_only(&redis).await;
    let g4 = old.next_generation("later").await;
    old.save("later", &stored(g4, "tok-v1-only"), ttl).await;
    assert!(pure.load("later").await.unwrap().is_none());
    assert!(old.try_lock("later", "v1-holder", lease).await);
    assert!(pure.try_lock("later", lease).await.unwrap().is_some());
    old.record_failure("later", window).await;
    assert_eq!(pure.failures("later", window).await.unwrap().count, 0);
    let g5 = pure.next_generation("later").await.unwrap();
    pure.save("later", &stored(g5, "tok-v2-only"), Some(ttl))
        .await
        .unwrap();
    pure.record_failure("later", window, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(old.load("later").await.unwrap().generation, g4);
    assert_eq!(old.failures("later").await, 1);
}
