//! The engine under faults production brings: callers that give up, login
//! code that panics, outages, zero lifetimes, failing stores. Real time on a
//! multi-thread runtime wherever a stall or a race is the point (a paused
//! clock would skip over the stall).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use auth_core::{
    AuthError, Authenticated, BackoffPolicy, Expiry, FailureCount, LockToken, LockoutRule,
    MemoryStore, StoredSession, TokenStore, async_trait,
};
use common::{Fake, Mode};

const KEY: &str = "fake:http://127.0.0.1:acct";

fn electa_rule() -> LockoutRule {
    LockoutRule::new(4, Duration::from_secs(900))
}

fn with_rule(mut fake: Fake) -> Fake {
    fake.lockout = Some(electa_rule());
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_leaves_no_lock_behind() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let fake = Fake::new(Expiry::UntilRejected, Duration::from_millis(800));
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .build()
        .unwrap();
    // A request timeout drops the caller 100 ms into an 800 ms login.
    let gave_up = tokio::time::timeout(Duration::from_millis(100), c.session()).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let s = tokio::time::timeout(Duration::from_secs(5), c.session())
        .await
        .expect("the next caller must not wait for a stranded lock")
        .unwrap();
    let waited = started.elapsed();
    println!("after a caller gave up, the next caller waited {waited:?}");
    assert_eq!(s.generation(), 1);
    assert_eq!(c.provider().started(), 1, "the login was not repeated");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    // The lock was released: another client of the store takes it at once.
    assert!(
        store
            .try_lock(KEY, Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_counted_when_every_caller_gave_up() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(300)));
    fake.set_mode(Mode::WrongCredentials);
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(100), c.session()).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.provider().started(), 1);
    assert_eq!(c.stats().failed_logins, 1, "the failure was recorded");
    assert_eq!(
        store
            .failures(KEY, electa_rule().window)
            .await
            .unwrap()
            .count,
        1,
        "and counted against the lockout budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_login_is_an_error_and_the_next_call_logs_in() {
    let fake = Fake::new(Expiry::UntilRejected, Duration::from_millis(20));
    fake.set_mode(Mode::Panic);
    let c = Authenticated::builder(fake)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.session().await })
        })
        .collect();
    for w in waiters {
        let err = w.await.expect("a waiter never panics").unwrap_err();
        assert!(matches!(err, AuthError::LoginPanicked { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }
    assert_eq!(c.provider().started(), 1, "one flight for all waiters");
    c.provider().set_mode(Mode::Succeed);
    let s = c.session().await.expect("a fresh flight after the panic");
    assert_eq!(s.generation(), 1);
}

#[test]
fn policies_that_could_panic_are_refused_at_build() {
    let build = |backoff: BackoffPolicy, rule: Option<LockoutRule>| {
        let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO);
        fake.lockout = rule;
        Authenticated::builder(fake)
            .backoff(backoff)
            .build()
            .map(|_| ())
    };
    let bad_backoffs = [
        BackoffPolicy::default().jitter(1.5),
        BackoffPolicy::default().jitter(-0.1),
        BackoffPolicy::default().multiplier(0.5),
        BackoffPolicy::default().multiplier(f64::NAN),
        BackoffPolicy::default()
            .initial(Duration::from_secs(10))
            .max(Duration::from_secs(1)),
    ];
    for backoff in bad_backoffs {
        let err = build(backoff, None).unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{backoff:?}: {err}");
    }
    for rule in [
        LockoutRule::new(4, Duration::ZERO),
        LockoutRule::new(0, Duration::from_secs(1)),
    ] {
        assert!(
            build(BackoffPolicy::default(), Some(rule)).is_err(),
            "{rule:?}"
        );
    }
    assert!(build(BackoffPolicy::default(), Some(electa_rule())).is_ok());
    let zero = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .lock_lease(Duration::ZERO)
        .build();
    assert!(zero.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_never_blocks_a_caller_with_a_valid_session() {
    let fake = Fake::new(
        Expiry::AfterIssue(Duration::from_millis(1500)),
        Duration::from_millis(600),
    );
    let c = Authenticated::builder(fake)
        .refresh_policy(auth_core::RefreshPolicy::new(
            Duration::from_millis(1000),
            Duration::ZERO,
        ))
        .min_login_interval(Duration::ZERO)
        .build()
        .unwrap();
    let first = c.session().await.unwrap();
    // Refresh is due after half the lifetime (750 ms).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let started = Instant::now();
    let s = c.session().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "the caller paid for the refresh: {:?}",
        started.elapsed()
    );
    assert_eq!(s.generation(), first.generation(), "the current session");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        c.session().await.unwrap().generation(),
        2,
        "refreshed in the background"
    );
    assert_eq!(c.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_valid_session_and_counts() {
    let fake = Fake::new(
        Expiry::AfterIssue(Duration::from_millis(2000)),
        Duration::from_millis(50),
    );
    let c = Authenticated::builder(fake)
        .refresh_policy(auth_core::RefreshPolicy::new(
            Duration::from_millis(1000),
            Duration::ZERO,
        ))
        .backoff(
            BackoffPolicy::default()
                .initial(Duration::from_secs(10))
                .max(Duration::from_secs(10))
                .multiplier(1.0)
                .jitter(0.0),
        )
        .min_login_interval(Duration::ZERO)
        .build()
        .unwrap();
    let first = c.session().await.unwrap();
    c.provider().set_mode(Mode::ServerError);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..20 {
        let s = c.session().await.expect("static stability");
        assert_eq!(s.generation(), first.generation());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.stats().failed_logins, 1, "counted with the guard");
    assert_eq!(
        c.provider().started(),
        2,
        "backing off: one refresh attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_lifetimes_do_not_turn_calls_into_logins() {
    let fake = Fake::new(Expiry::AfterIssue(Duration::ZERO), Duration::from_millis(5));
    let c = Authenticated::new(fake).unwrap();
    for _ in 0..10 {
        c.session().await.unwrap();
    }
    assert_eq!(c.provider().started(), 1, "10 calls, one login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_still_allows_an_immediate_relogin_under_the_floor() {
    let fake = Fake::new(Expiry::AfterIssue(Duration::ZERO), Duration::from_millis(5));
    let c = Authenticated::new(fake).unwrap();
    let s = c.session().await.unwrap();
    c.invalidate(&s).await;
    assert_eq!(c.session().await.unwrap().generation(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_lockout_window_slides_and_successes_do_not_erase_it() {
    let store = Arc::new(MemoryStore::new());
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(10)));
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let attempt = |mode| {
        let c = c.clone();
        async move {
            c.provider().set_mode(mode);
            if let Some(s) = c.cached() {
                c.invalidate(&s).await;
            }
            c.session().await.map(|_| ())
        }
    };
    // A failure, 5 minutes, 2 failures, a success, 1 failure: 4 in the
    // window.
    assert!(attempt(Mode::ServerError).await.is_err());
    tokio::time::advance(Duration::from_secs(300)).await;
    for _ in 0..2 {
        assert!(attempt(Mode::ServerError).await.is_err());
    }
    attempt(Mode::Succeed).await.unwrap();
    assert!(attempt(Mode::ServerError).await.is_err());
    let err = attempt(Mode::ServerError).await.unwrap_err();
    assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
    assert_eq!(c.provider().started(), 5);
    // Sliding: 15 minutes after the first failure one slot frees, not four.
    tokio::time::advance(Duration::from_secs(601)).await;
    assert!(attempt(Mode::ServerError).await.is_err());
    let err = attempt(Mode::ServerError).await.unwrap_err();
    assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
    assert_eq!(c.provider().started(), 6);
}

#[tokio::test(start_paused = true)]
async fn only_answers_that_prove_no_processing_spend_nothing() {
    for (mode, counted) in [
        (Mode::Unavailable, false),
        (Mode::Throttled, false),
        (Mode::ServerError, true),
        (Mode::WrongCredentials, true),
    ] {
        let store = Arc::new(MemoryStore::new());
        let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(10)));
        fake.set_mode(mode);
        let c = Authenticated::builder(fake)
            .store(store.clone())
            .backoff(BackoffPolicy::none())
            .build()
            .unwrap();
        c.session().await.unwrap_err();
        let failures = store.failures(KEY, electa_rule().window).await.unwrap();
        assert_eq!(failures.count, u32::from(counted), "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_spends_nothing_and_retry_after_is_honoured() {
    let store = Arc::new(MemoryStore::new());
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::ZERO));
    fake.set_mode(Mode::ConnectRefused);
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    c.session().await.unwrap_err();
    assert_eq!(
        store
            .failures(KEY, electa_rule().window)
            .await
            .unwrap()
            .count,
        0
    );
    c.provider().set_mode(Mode::Throttled);
    c.session().await.unwrap_err();
    let err = c.session().await.unwrap_err();
    match err {
        AuthError::BackingOff { retry_after, .. } => {
            assert!(retry_after > Duration::from_millis(1500), "{retry_after:?}")
        }
        other => panic!("expected BackingOff honouring Retry-After, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn repeated_credential_rejections_stop_until_reset() {
    // No lockout rule (a CTC-like provider): the default budget is 3.
    let fake = Fake::new(Expiry::UntilRejected, Duration::from_millis(10));
    fake.set_mode(Mode::WrongCredentials);
    let c = Authenticated::builder(fake)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    for _ in 0..3 {
        let err = c.session().await.unwrap_err();
        assert!(err.is_invalid_credentials(), "{err:?}");
    }
    for _ in 0..5 {
        tokio::time::advance(Duration::from_secs(3600)).await;
        let err = c.session().await.unwrap_err();
        assert!(
            matches!(err, AuthError::CredentialsBlocked { failures: 3, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("reset"), "{err}");
        assert!(!err.is_retryable());
    }
    assert_eq!(c.provider().started(), 3);
    c.provider().set_mode(Mode::Succeed);
    c.reset();
    assert_eq!(c.session().await.unwrap().generation(), 1);
    assert_eq!(c.provider().started(), 4);
}

#[tokio::test(start_paused = true)]
async fn electa_budget_is_its_lockout_rule() {
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(10)));
    fake.set_mode(Mode::WrongCredentials);
    let c = Authenticated::builder(fake)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    for _ in 0..4 {
        assert!(c.session().await.unwrap_err().is_invalid_credentials());
    }
    tokio::time::advance(Duration::from_secs(3600)).await;
    let err = c.session().await.unwrap_err();
    assert!(
        matches!(err, AuthError::CredentialsBlocked { failures: 4, .. }),
        "{err:?}"
    );
    assert_eq!(c.provider().started(), 4);
}

/// A store that is down (every call fails) until switched on.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
    failures_written: AtomicU32,
}

impl FlakyStore {
    fn check(&self) -> Result<(), AuthError> {
        if self.down.load(Ordering::SeqCst) {
            Err(AuthError::Store("redis timed out after 500 ms".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl TokenStore for FlakyStore {
    async fn load(&self, key: &str) -> Result<Option<StoredSession>, AuthError> {
        self.check()?;
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &str,
        session: &StoredSession,
        ttl: Option<Duration>,
    ) -> Result<bool, AuthError> {
        self.check()?;
        self.inner.save(key, session, ttl).await
    }
    async fn remove(&self, key: &str, generation: Option<u64>) -> Result<bool, AuthError> {
        self.check()?;
        self.inner.remove(key, generation).await
    }
    async fn touch(&self, key: &str, generation: u64, ttl: Duration) -> Result<bool, AuthError> {
        self.check()?;
        self.inner.touch(key, generation, ttl).await
    }
    async fn next_generation(&self, key: &str) -> Result<u64, AuthError> {
        self.check()?;
        self.inner.next_generation(key).await
    }
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, AuthError> {
        self.check()?;
        self.inner.try_lock(key, ttl).await
    }
    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, AuthError> {
        self.check()?;
        self.inner.extend_lock(key, token, ttl).await
    }
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), AuthError> {
        self.check()?;
        self.inner.unlock(key, token).await
    }
    async fn failures(&self, key: &str, window: Duration) -> Result<FailureCount, AuthError> {
        self.check()?;
        self.inner.failures(key, window).await
    }
    async fn record_failure(
        &self,
        key: &str,
        window: Duration,
        ago: Duration,
    ) -> Result<FailureCount, AuthError> {
        self.check()?;
        self.failures_written.fetch_add(1, Ordering::SeqCst);
        self.inner.record_failure(key, window, ago).await
    }
    async fn set_failures(&self, key: &str, count: u32, ttl: Duration) -> Result<(), AuthError> {
        self.check()?;
        self.inner.set_failures(key, count, ttl).await
    }
    async fn reset_failures(&self, key: &str) -> Result<(), AuthError> {
        self.check()?;
        self.inner.reset_failures(key).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_outage_never_widens_the_lockout_budget() {
    let store = Arc::new(FlakyStore::default());
    // Three failures are in the shared window already.
    for _ in 0..3 {
        store
            .record_failure(KEY, electa_rule().window, Duration::ZERO)
            .await
            .unwrap();
    }
    store.down.store(true, Ordering::SeqCst);
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(10)));
    fake.set_mode(Mode::WrongCredentials);
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    // While the store is down this process spends at most one failure.
    for _ in 0..10 {
        let _ = c.session().await;
        tokio::time::advance(Duration::from_secs(10)).await;
    }
    assert_eq!(c.provider().started(), 1);
    // When the store returns, that failure is written there: the shared
    // window now holds 4, and nobody may try again.
    store.down.store(false, Ordering::SeqCst);
    let err = c.session().await.unwrap_err();
    assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
    assert_eq!(
        store
            .failures(KEY, electa_rule().window)
            .await
            .unwrap()
            .count,
        4
    );
    assert_eq!(c.provider().started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_numbered_while_the_store_is_down_stay_ordered() {
    let store = Arc::new(FlakyStore::default());
    // Another process's session, numbered by a store floored at its clock.
    let before = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap();
    store.down.store(true, Ordering::SeqCst);
    let c = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .store(store.clone())
        .build()
        .unwrap();
    let s = c.session().await.unwrap();
    assert!(s.generation() >= before, "{} < {before}", s.generation());
    // When the store returns, the session is newer than what it held.
    store.down.store(false, Ordering::SeqCst);
    let stale = StoredSession {
        token: secrecy::SecretString::from("tok-older"),
        issued_at: chrono::Utc::now(),
        expiry: Expiry::UntilRejected,
        generation: before - 1,
        data: serde_json::json!(0),
        expires_in: None,
        credentials: None,
    };
    assert!(store.save(KEY, &stale, None).await.unwrap());
    c.invalidate(&s).await;
    let next = c.session().await.unwrap();
    assert!(next.generation() > s.generation());
}

#[tokio::test(start_paused = true)]
async fn a_store_that_lost_its_failures_does_not_reopen_this_process_budget() {
    let store = Arc::new(MemoryStore::new());
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(10)));
    fake.set_mode(Mode::ServerError);
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    for _ in 0..4 {
        c.session().await.unwrap_err();
    }
    // A Redis restart without persistence: the shared window is empty.
    store.reset_failures(KEY).await.unwrap();
    let err = c.session().await.unwrap_err();
    assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
    assert_eq!(c.provider().started(), 4);
}

#[tokio::test(start_paused = true)]
async fn fail_closed_makes_no_attempt_while_the_store_is_down() {
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let fake = with_rule(Fake::new(Expiry::UntilRejected, Duration::from_millis(10)));
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .fail_closed_when_store_down(true)
        .build()
        .unwrap();
    let err = c.session().await.unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
    assert_eq!(c.provider().started(), 0);
    store.down.store(false, Ordering::SeqCst);
    c.session().await.unwrap();
    assert_eq!(c.provider().started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_lock_lease_outlives_a_slow_login() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let make = || {
        Authenticated::builder(Fake::new(
            Expiry::UntilRejected,
            Duration::from_millis(1200),
        ))
        .store(store.clone())
        .lock_lease(Duration::from_millis(300))
        .lock_poll_interval(Duration::from_millis(20))
        .build()
        .unwrap()
    };
    let (a, b) = (make(), make());
    let (ra, rb) = tokio::join!(a.session(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.session().await
    });
    assert_eq!(ra.unwrap().generation(), rb.unwrap().generation());
    assert_eq!(
        a.provider().started() + b.provider().started(),
        1,
        "the lease was extended: no second login in parallel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_in_use_stay_shared() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let make = || {
        Authenticated::builder(Fake::new(
            Expiry::Idle(Duration::from_millis(300)),
            Duration::from_millis(5),
        ))
        .store(store.clone())
        .build()
        .unwrap()
    };
    let (a, b) = (make(), make());
    let s = a.session().await.unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.record_use(&s);
    }
    let adopted = b.session().await.unwrap();
    assert_eq!(adopted.generation(), s.generation());
    assert_eq!(b.provider().started(), 0, "B adopted A's session after 1 s");
    assert_eq!(b.stats().adopted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_final_for_a_login_in_flight() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let fake = Fake::new(Expiry::UntilRejected, Duration::from_millis(300));
    let c = Authenticated::builder(fake)
        .store(store.clone())
        .build()
        .unwrap();
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.session().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.logout().await.unwrap();
    let result = pending.await.unwrap();
    assert!(
        matches!(result, Err(AuthError::LoggedOut { .. })),
        "{result:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(c.cached().is_none(), "nothing installed");
    assert!(store.load(KEY).await.unwrap().is_none(), "nothing saved");
}

#[tokio::test(start_paused = true)]
async fn a_stored_session_is_judged_by_the_store_clock() {
    // The writer's wall clock ran 10 minutes ahead: its `issued_at` and
    // `At` deadline are 10 minutes off, but the store's TTL says 60 s left.
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let skew = chrono::Duration::minutes(10);
    let stored = StoredSession {
        token: secrecy::SecretString::from("tok-from-a-skewed-writer"),
        issued_at: chrono::Utc::now() + skew,
        expiry: Expiry::At(chrono::Utc::now() + skew + chrono::Duration::seconds(60)),
        generation: 7,
        data: serde_json::json!(7),
        expires_in: None,
        credentials: None,
    };
    store
        .save(KEY, &stored, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let c = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .store(store.clone())
        .build()
        .unwrap();
    let s = c.session().await.unwrap();
    assert_eq!(s.generation(), 7, "adopted");
    let left = s.expires_in().unwrap();
    assert!(
        left <= Duration::from_secs(60) && left >= Duration::from_secs(58),
        "deadline from the store's clock, not the writer's: {left:?}"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        c.session().await.unwrap().generation(),
        8,
        "no dead token used"
    );
}
