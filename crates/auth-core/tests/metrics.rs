//! Feature `metrics`: the counters and histograms after a tour-like flow
//! (logins, a refresh, a re-login, failed logins, a local refusal, a store
//! outage), with the `provider` and `outcome` labels only: no account, no
//! secret. One test in a binary of its own: the recorder is global.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    AccountRegistry, AuthError, Authenticated, BackoffPolicy, Expiry, FailureCount, LockToken,
    RefreshPolicy, StoredSession, TokenStore, async_trait,
};
use common::{Fake, Mode, PASSWORD};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// A store that is always down.
#[derive(Debug)]
struct DownStore;

fn down<T>() -> Result<T, AuthError> {
    Err(AuthError::Store("connection refused".into()))
}

#[async_trait]
impl TokenStore for DownStore {
    async fn load(&self, _: &str) -> Result<Option<StoredSession>, AuthError> {
        down()
    }
    async fn save(
        &self,
        _: &str,
        _: &StoredSession,
        _: Option<Duration>,
    ) -> Result<bool, AuthError> {
        down()
    }
    async fn remove(&self, _: &str, _: Option<u64>) -> Result<bool, AuthError> {
        down()
    }
    async fn touch(&self, _: &str, _: u64, _: Duration) -> Result<bool, AuthError> {
        down()
    }
    async fn next_generation(&self, _: &str) -> Result<u64, AuthError> {
        down()
    }
    async fn try_lock(&self, _: &str, _: Duration) -> Result<Option<LockToken>, AuthError> {
        down()
    }
    async fn extend_lock(&self, _: &str, _: &LockToken, _: Duration) -> Result<bool, AuthError> {
        down()
    }
    async fn unlock(&self, _: &str, _: &LockToken) -> Result<(), AuthError> {
        down()
    }
    async fn failures(&self, _: &str, _: Duration) -> Result<FailureCount, AuthError> {
        down()
    }
    async fn record_failure(
        &self,
        _: &str,
        _: Duration,
        _: Duration,
    ) -> Result<FailureCount, AuthError> {
        down()
    }
    async fn set_failures(&self, _: &str, _: u32, _: Duration) -> Result<(), AuthError> {
        down()
    }
    async fn reset_failures(&self, _: &str) -> Result<(), AuthError> {
        down()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tour_like_flow_counts_with_provider_and_outcome_labels_only() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let mut server = mockito::Server::new_async().await;
    server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .create_async()
        .await;
    server
        .mock("GET", "/data")
        .with_status(200)
        .create_async()
        .await;
    // Two logins of its own (first, and after the 401), one refresh ahead
    // of a 1 s expiry.
    let c = Authenticated::builder(
        Fake::new(Expiry::AfterIssue(Duration::from_secs(1)), Duration::ZERO).at(&server.url()),
    )
    .min_login_interval(Duration::ZERO)
    .refresh_policy(RefreshPolicy::new(
        Duration::from_millis(600),
        Duration::ZERO,
    ))
    .build()
    .unwrap();
    c.get("data").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.session().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.stats().refreshes, 1, "{:?}", c.stats());
    // A failed login, then a local refusal while backing off.
    let failing = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .backoff(BackoffPolicy::default().initial(Duration::from_secs(60)))
        .build()
        .unwrap();
    failing.provider().set_mode(Mode::Unavailable);
    failing.session().await.unwrap_err();
    let refused = failing.session().await.unwrap_err();
    assert!(
        matches!(refused, AuthError::BackingOff { .. }),
        "{refused:?}"
    );
    // A store outage: the login goes on without the shared lock and store.
    let degraded = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .store(Arc::new(DownStore))
        .build()
        .unwrap();
    degraded.session().await.unwrap();
    // An account registry: a build, a hit, an idle eviction.
    let registry = AccountRegistry::<Fake>::builder()
        .idle_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let fake = || Fake::new(Expiry::UntilRejected, Duration::ZERO);
    registry.get_or_create(fake()).unwrap();
    registry.get_or_create(fake()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(registry.evict_idle(), 1);

    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut histograms = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        for label in key.labels() {
            assert!(
                matches!(label.key(), "provider" | "outcome"),
                "unexpected label {label:?}"
            );
            let value = label.value();
            assert!(
                !value.contains("acct") && !value.contains("tok-") && !value.contains(PASSWORD)
            );
        }
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                seen.insert(name, n);
            }
            DebugValue::Histogram(samples) => {
                assert!(!samples.is_empty());
                histograms += 1;
            }
            DebugValue::Gauge(_) => {}
        }
    }
    let count = |name: &str| seen.get(name).copied().unwrap_or(0);
    assert_eq!(
        count("auth_logins_total{provider=fake,outcome=success}"),
        4,
        "{seen:?}"
    );
    assert_eq!(
        count("auth_logins_total{provider=fake,outcome=failure}"),
        1,
        "{seen:?}"
    );
    assert_eq!(count("auth_relogins_total{provider=fake}"), 1, "{seen:?}");
    assert_eq!(count("auth_refreshes_total{provider=fake}"), 1, "{seen:?}");
    assert_eq!(
        count("auth_local_refusals_total{provider=fake,outcome=backing_off}"),
        1,
        "{seen:?}"
    );
    assert!(
        count("auth_store_degradations_total{provider=fake}") >= 1,
        "{seen:?}"
    );
    assert_eq!(count("auth_registry_builds_total{provider=fake}"), 1);
    assert_eq!(count("auth_registry_hits_total{provider=fake}"), 1);
    assert_eq!(
        count("auth_registry_evictions_total{provider=fake,outcome=idle}"),
        1,
        "{seen:?}"
    );
    assert_eq!(histograms, 2, "success and failure latencies");
}
