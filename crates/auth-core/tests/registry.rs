//! The account registry: one client per account however many tasks race to
//! create it, the bound on clients (least recently used first), idle
//! eviction, removal, rotation through the registry, and an evicted
//! account's next client adopting the stored session.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Acct, Service};

use auth_core::{AccountRegistry, AuthError, BackoffPolicy, HttpSettings, MemoryStore, TokenStore};
use secrecy::{ExposeSecret, SecretString};

fn key(name: &str) -> String {
    format!("acct|http://127.0.0.1/|{name}")
}

fn registry(max: usize, idle: Option<Duration>) -> AccountRegistry<Acct> {
    AccountRegistry::builder()
        .max_clients(max)
        .idle_timeout(idle)
        .configure(|b| {
            b.min_login_interval(Duration::ZERO)
                .backoff(BackoffPolicy::none())
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_get_or_create_builds_each_account_once() {
    const ACCOUNTS: usize = 20;
    const TASKS: usize = 400;
    let service = Service::new();
    let built = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&built);
    let registry = AccountRegistry::<Acct>::builder()
        .configure(move |b| {
            counted.fetch_add(1, Ordering::SeqCst);
            // A slow build widens the race.
            std::thread::sleep(Duration::from_millis(20));
            b.min_login_interval(Duration::ZERO)
        })
        .build()
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let registry = registry.clone();
        let service = Arc::clone(&service);
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            let name = format!("user-{}", i % ACCOUNTS);
            start.wait().await;
            let client = registry
                .get_or_create(Acct::new(&service, &name, "pw"))
                .unwrap();
            assert_eq!(client.cache_key(), key(&name));
            client.session().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(built.load(Ordering::SeqCst), ACCOUNTS as u64);
    let stats = registry.stats();
    assert_eq!(stats.builds, ACCOUNTS as u64);
    assert_eq!(stats.hits, (TASKS - ACCOUNTS) as u64);
    assert_eq!(stats.clients, ACCOUNTS);
    assert_eq!(stats.build_failures, 0);
    // One client per account: one login each.
    assert_eq!(service.logins(), ACCOUNTS as u64);
    for i in 0..ACCOUNTS {
        let client = registry.get(&key(&format!("user-{i}"))).unwrap();
        assert_eq!(client.stats().logins, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_accounts_are_evicted_in_real_time() {
    let service = Service::new();
    let idle = Duration::from_millis(1000);
    let registry = registry(100, Some(idle));
    for name in ["a", "b"] {
        let client = registry
            .get_or_create(Acct::new(&service, name, "pw"))
            .unwrap();
        client.session().await.unwrap();
    }
    // A job holds `c`'s client all along.
    let c = registry
        .get_or_create(Acct::new(&service, "c", "pw"))
        .unwrap();
    c.session().await.unwrap();
    // The clock starts now for all three (the first builds may be slow).
    for name in ["a", "b", "c"] {
        assert!(registry.get(&key(name)).is_some());
    }
    tokio::time::sleep(idle / 2).await;
    // Handing out `a` makes it recently used.
    assert!(registry.get(&key("a")).is_some());
    assert_eq!(registry.evict_idle(), 0);
    tokio::time::sleep(idle * 7 / 10).await;
    // `b` and `c` have not been handed out for at least 1.2 timeouts, `a`
    // for 0.7; `c` is held, so in use.
    assert_eq!(registry.evict_idle(), 1);
    assert_eq!(registry.keys(), vec![key("a"), key("c")]);
    assert!(!registry.contains(&key("b")));
    assert_eq!(registry.stats().evicted_idle, 1);
    assert_eq!(c.session().await.unwrap().generation(), 1);
    // Once the job lets go, `c` is idle like any other.
    drop(c);
    tokio::time::sleep(idle * 11 / 10).await;
    assert_eq!(registry.evict_idle(), 2);
    assert!(registry.is_empty());
    assert_eq!(service.logins(), 3);
}

#[tokio::test(start_paused = true)]
async fn idle_accounts_are_pruned_as_calls_go_by() {
    let service = Service::new();
    let registry = registry(100, Some(Duration::from_secs(60)));
    for name in ["a", "b", "c"] {
        registry
            .get_or_create(Acct::new(&service, name, "pw"))
            .unwrap();
    }
    tokio::time::advance(Duration::from_secs(61)).await;
    // Any call prunes: here the creation of another account.
    registry
        .get_or_create(Acct::new(&service, "d", "pw"))
        .unwrap();
    assert_eq!(registry.keys(), vec![key("d")]);
    assert_eq!(registry.stats().evicted_idle, 3);
    // And a lookup.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(registry.get(&key("d")).is_none());
    assert!(registry.is_empty());
    assert_eq!(registry.stats().evicted_idle, 4);
}

#[tokio::test]
async fn the_bound_evicts_the_least_recently_used_account() {
    let service = Service::new();
    let registry = registry(3, None);
    for name in ["a", "b", "c"] {
        registry
            .get_or_create(Acct::new(&service, name, "pw"))
            .unwrap();
    }
    // `a` handed out again: `b` is now the least recently used.
    registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    registry
        .get_or_create(Acct::new(&service, "d", "pw"))
        .unwrap();
    assert_eq!(registry.len(), 3);
    assert_eq!(registry.keys(), vec![key("c"), key("a"), key("d")]);
    assert!(registry.get(&key("b")).is_none());
    registry
        .get_or_create(Acct::new(&service, "e", "pw"))
        .unwrap();
    assert_eq!(registry.keys(), vec![key("a"), key("d"), key("e")]);
    let stats = registry.stats();
    assert_eq!(stats.evicted_lru, 2);
    assert_eq!(stats.builds, 5);
    assert_eq!(stats.clients, 3);
}

#[tokio::test]
async fn remove_returns_the_client_and_forgets_the_account() {
    let service = Service::new();
    let registry = registry(10, None);
    let client = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    client.session().await.unwrap();
    let removed = registry.remove(&key("a")).unwrap();
    assert_eq!(removed.cache_key(), key("a"));
    assert!(registry.is_empty());
    assert!(registry.get(&key("a")).is_none());
    assert!(registry.remove(&key("a")).is_none());
    assert_eq!(registry.stats().removed, 1);
    // The removed client still works, with its session.
    assert_eq!(removed.session().await.unwrap().generation(), 1);
    // Nothing was logged out: the next client adopts the stored session.
    let again = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    again.session().await.unwrap();
    assert_eq!(service.logins(), 1);
    assert_eq!(registry.stats().builds, 2);
}

#[tokio::test]
async fn an_evicted_account_adopts_its_stored_session() {
    let service = Service::new();
    let store = Arc::new(MemoryStore::new());
    let registry = AccountRegistry::<Acct>::builder()
        .store(Arc::clone(&store) as Arc<dyn TokenStore>)
        .max_clients(1)
        .idle_timeout(None)
        .build()
        .unwrap();
    let a = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    a.session().await.unwrap();
    drop(a);
    // `b` takes the only place: `a` is evicted, its session stays stored.
    let b = registry
        .get_or_create(Acct::new(&service, "b", "pw"))
        .unwrap();
    b.session().await.unwrap();
    assert_eq!(registry.stats().evicted_lru, 1);
    assert!(!registry.contains(&key("a")));
    assert!(store.load(&key("a")).await.unwrap().is_some());
    assert_eq!(service.logins(), 2);
    // `a` again: a new client, which adopts the session instead of logging in.
    let a = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    let session = a.session().await.unwrap();
    assert_eq!(service.logins(), 2);
    assert_eq!(a.stats().logins, 0);
    assert_eq!(a.stats().adopted, 1);
    assert_eq!(session.token().expose_secret(), "tok-1");
    assert_eq!(registry.stats().builds, 3);
}

#[tokio::test]
async fn rotation_through_the_registry() {
    let service = Service::new();
    service.set_password("a", "old");
    let registry = registry(10, None);
    let client = registry
        .get_or_create(Acct::new(&service, "a", "old"))
        .unwrap();
    let first = client.session().await.unwrap();
    service.set_password("a", "new");
    registry
        .rotate_credentials(&key("a"), SecretString::from("new"))
        .await
        .unwrap();
    assert_eq!(client.stats().rotations, 1);
    // The session keeps serving; the next login uses the new password.
    assert_eq!(
        client.session().await.unwrap().generation(),
        first.generation()
    );
    client.invalidate(&first).await;
    client.session().await.unwrap();
    assert_eq!(service.logins(), 2);
    assert_eq!(client.stats().failed_logins, 0);

    // The provider's checks apply.
    let error = registry
        .rotate_credentials(&key("a"), SecretString::from(""))
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::Config(_)));

    // An unknown account is an error that says what to do.
    let error = registry
        .rotate_credentials(&key("nobody"), SecretString::from("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AuthError::UnknownAccount { key: k, .. } if *k == key("nobody")),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("get_or_create"), "{message}");
    assert!(!error.is_retryable());
}

/// A platform that reloads its customers' configurations hands each one to
/// the registry: a held account's client moves to new secrets, an unknown
/// one is built, unchanged ones are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_update_rotates_a_held_account_to_new_secrets() {
    let service = Service::new();
    service.set_password("a", "old");
    let registry = registry(10, None);
    let client = registry
        .get_or_update(Acct::new(&service, "a", "old"))
        .await
        .unwrap();
    let first = client.session().await.unwrap();
    // The same configuration again: the same client, nothing rotated.
    let again = registry
        .get_or_update(Acct::new(&service, "a", "old"))
        .await
        .unwrap();
    assert_eq!(again.stats().rotations, 0);
    assert_eq!(registry.stats().builds, 1);

    service.set_password("a", "new");
    let updated = registry
        .get_or_update(Acct::new(&service, "a", "new"))
        .await
        .unwrap();
    assert_eq!(registry.stats().builds, 1, "the held client, not a new one");
    assert_eq!(registry.stats().secret_mismatches, 0);
    assert_eq!(client.stats().rotations, 1, "clones share the rotation");
    // The session keeps serving; the next login uses the new password.
    assert_eq!(
        updated.session().await.unwrap().generation(),
        first.generation()
    );
    client.invalidate(&first).await;
    updated.session().await.unwrap();
    assert_eq!((service.logins(), service.rejected()), (2, 0));

    // A secret the provider's checks refuse: an error, nothing replaced.
    let error = registry
        .get_or_update(Acct::new(&service, "a", ""))
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::Config(_)), "{error}");
    assert_eq!(client.stats().rotations, 1);
}

#[tokio::test]
async fn other_secrets_for_a_held_account_keep_the_existing_client() {
    let service = Service::new();
    service.set_password("a", "one");
    let registry = registry(10, None);
    let first = registry
        .get_or_create(Acct::new(&service, "a", "one"))
        .unwrap();
    let second = registry
        .get_or_create(Acct::new(&service, "a", "two"))
        .unwrap();
    // One client: the second call got the first client, with its secret.
    second.session().await.unwrap();
    assert_eq!(first.stats().logins, 1);
    let stats = registry.stats();
    assert_eq!(stats.builds, 1);
    assert_eq!(stats.hits, 1);
    assert_eq!(stats.secret_mismatches, 1);
    // The same secrets are no mismatch.
    registry
        .get_or_create(Acct::new(&service, "a", "one"))
        .unwrap();
    assert_eq!(registry.stats().secret_mismatches, 1);
}

#[tokio::test]
async fn a_failed_build_keeps_nothing_and_the_next_call_builds() {
    let service = Service::new();
    let fail = Arc::new(AtomicBool::new(true));
    let failing = Arc::clone(&fail);
    let registry = AccountRegistry::<Acct>::builder()
        .configure(move |b| {
            if failing.load(Ordering::SeqCst) {
                b.lock_poll_interval(Duration::ZERO)
            } else {
                b
            }
        })
        .build()
        .unwrap();
    let error = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap_err();
    assert!(matches!(error, AuthError::Config(_)), "{error:?}");
    assert!(registry.is_empty());
    assert_eq!(registry.stats().build_failures, 1);
    fail.store(false, Ordering::SeqCst);
    registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    assert_eq!(registry.len(), 1);
    assert_eq!(registry.stats().builds, 1);
}

#[tokio::test]
async fn a_panicking_configuration_keeps_nothing() {
    let service = Service::new();
    let panic = Arc::new(AtomicBool::new(true));
    let panicking = Arc::clone(&panic);
    let registry = AccountRegistry::<Acct>::builder()
        .configure(move |b| {
            assert!(!panicking.load(Ordering::SeqCst), "configuration bug");
            b
        })
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        registry.get_or_create(Acct::new(&service, "a", "pw"))
    }));
    assert!(caught.is_err());
    assert!(registry.is_empty());
    panic.store(false, Ordering::SeqCst);
    registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    assert_eq!(registry.len(), 1);
}

#[test]
fn the_builder_checks_its_settings() {
    let error = AccountRegistry::<Acct>::builder()
        .max_clients(0)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("max_clients"), "{error}");
    let error = AccountRegistry::<Acct>::builder()
        .idle_timeout(Some(Duration::ZERO))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("idle_timeout"), "{error}");
    let registry = AccountRegistry::<Acct>::new().unwrap();
    assert!(registry.is_empty());
    assert_eq!(registry.stats(), Default::default());
}

#[tokio::test]
async fn clients_share_the_registry_http_client_unless_configured_otherwise() {
    let service = Service::new();
    let shared = Duration::from_secs(9);
    let registry = AccountRegistry::<Acct>::builder()
        .http_settings(HttpSettings::default().timeout(shared))
        .build()
        .unwrap();
    let a = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    // The registry's settings: its HTTP client, not one of the client's own.
    assert_eq!(a.http().settings().timeout, shared);
    assert_eq!(registry.http().settings().timeout, shared);
    // A client configured with HTTP settings of its own gets its own.
    let timeout = Duration::from_secs(7);
    let own = AccountRegistry::<Acct>::builder()
        .configure(move |b| b.http_settings(HttpSettings::default().timeout(timeout)))
        .build()
        .unwrap();
    let b = own.get_or_create(Acct::new(&service, "b", "pw")).unwrap();
    assert_eq!(b.http().settings().timeout, timeout);
    assert_ne!(own.http().settings().timeout, timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_waiting_on_a_failed_build_build_once_more() {
    const TASKS: usize = 100;
    let service = Service::new();
    let attempts = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&attempts);
    let registry = AccountRegistry::<Acct>::builder()
        .configure(move |b| {
            let attempt = counted.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            if attempt == 0 {
                // The first build fails while the others wait for it.
                b.lock_poll_interval(Duration::ZERO)
            } else {
                b
            }
        })
        .build()
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let registry = registry.clone();
        let service = Arc::clone(&service);
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            registry
                .get_or_create(Acct::new(&service, "a", "pw"))
                .is_ok()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await.unwrap());
    }
    // One caller got the failure; one more build served everyone else.
    assert_eq!(ok, TASKS - 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    let stats = registry.stats();
    assert_eq!((stats.build_failures, stats.builds), (1, 1));
    assert_eq!(stats.hits, (TASKS - 2) as u64);
    assert_eq!(registry.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bound_holds_under_concurrent_churn() {
    const MAX: usize = 8;
    const ACCOUNTS: usize = 32;
    const TASKS: usize = 8;
    const CALLS: usize = 100;
    let service = Service::new();
    let registry = registry(MAX, None);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let registry = registry.clone();
        let service = Arc::clone(&service);
        tasks.push(tokio::spawn(async move {
            for i in 0..CALLS {
                let name = format!("user-{}", (t * 7 + i * 13) % ACCOUNTS);
                let client = registry
                    .get_or_create(Acct::new(&service, &name, "pw"))
                    .unwrap();
                assert_eq!(client.cache_key(), key(&name));
                // Accounts being built may exceed the bound, by at most
                // one per caller.
                assert!(registry.len() <= MAX + TASKS);
                if i % 10 == 0 {
                    client.session().await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(registry.len() <= MAX);
    let stats = registry.stats();
    assert_eq!(stats.builds + stats.hits, (TASKS * CALLS) as u64);
    assert_eq!(stats.evicted_lru, stats.builds - registry.len() as u64);
}

#[tokio::test]
async fn the_bound_spares_held_clients_until_all_are_held() {
    let service = Service::new();
    let registry = registry(2, None);
    let a = registry
        .get_or_create(Acct::new(&service, "a", "pw"))
        .unwrap();
    registry
        .get_or_create(Acct::new(&service, "b", "pw"))
        .unwrap();
    // `a` is the least recently used but held: `b` goes.
    let c = registry
        .get_or_create(Acct::new(&service, "c", "pw"))
        .unwrap();
    assert_eq!(registry.keys(), vec![key("a"), key("c")]);
    assert_eq!(registry.stats().evicted_in_use, 0);
    // Every client held: the least recently used goes all the same, and
    // its holder keeps a working client.
    registry
        .get_or_create(Acct::new(&service, "d", "pw"))
        .unwrap();
    assert_eq!(registry.keys(), vec![key("c"), key("d")]);
    let stats = registry.stats();
    assert_eq!((stats.evicted_lru, stats.evicted_in_use), (2, 1));
    assert_eq!(a.session().await.unwrap().generation(), 1);
    drop(c);
}
