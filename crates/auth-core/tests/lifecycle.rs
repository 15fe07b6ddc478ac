//! Session lifecycle: single flight, expiry, refresh ahead, cancellation,
//! back-off and lockout, with a fake provider and tokio's paused clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    AuthError, Authenticated, BackoffPolicy, Expiry, LockoutRule, MemoryStore, RefreshPolicy,
};
use common::{Fake, Mode};
use secrecy::ExposeSecret;

fn client(fake: Fake) -> Authenticated<Fake> {
    Authenticated::builder(fake)
        .refresh_policy(RefreshPolicy::new(Duration::from_secs(10), Duration::ZERO))
        .build()
        .unwrap()
}

async fn many_sessions(client: &Authenticated<Fake>, n: usize) -> Vec<u64> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.session().await.map(|s| s.generation()) })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn thousand_cold_callers_make_one_login() {
    let c = client(Fake::new(
        Expiry::AfterIssue(Duration::from_secs(1200)),
        Duration::from_millis(200),
    ));
    let gens = many_sessions(&c, 1000).await;
    assert_eq!(c.provider().started(), 1);
    assert!(gens.iter().all(|g| *g == 1));
    assert_eq!(c.stats().logins, 1);
}

#[tokio::test(start_paused = true)]
async fn thousand_callers_at_expiry_make_one_login() {
    let c = client(Fake::new(
        Expiry::AfterIssue(Duration::from_secs(100)),
        Duration::from_millis(200),
    ));
    c.session().await.unwrap();
    // Past the deadline, and past the refresh window.
    tokio::time::advance(Duration::from_secs(101)).await;
    let gens = many_sessions(&c, 1000).await;
    assert_eq!(c.provider().started(), 2);
    assert!(
        gens.iter().all(|g| *g == 2),
        "every caller gets the new session"
    );
}

#[tokio::test(start_paused = true)]
async fn login_errors_reach_every_waiter_and_are_not_repeated() {
    let fake = Fake::new(Expiry::UntilRejected, Duration::from_millis(100));
    fake.set_mode(Mode::WrongCredentials);
    let c = client(fake);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.session().await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.is_invalid_credentials(), "{err:?}");
    }
    assert_eq!(c.provider().started(), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelled_leader_does_not_strand_waiters() {
    let c = client(Fake::new(Expiry::UntilRejected, Duration::from_secs(5)));
    let leader = {
        let c = c.clone();
        tokio::spawn(async move { c.session().await.map(|s| s.generation()) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.session().await.map(|s| s.generation()) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // The waiter drives the same login to completion.
    assert_eq!(waiter.await.unwrap().unwrap(), 1);
    assert_eq!(c.provider().started(), 1);
}

#[tokio::test(start_paused = true)]
async fn login_dropped_by_everyone_runs_to_its_end() {
    let c = client(Fake::new(Expiry::UntilRejected, Duration::from_secs(5)));
    let first = {
        let c = c.clone();
        tokio::spawn(async move { c.session().await.map(|s| s.generation()) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    first.abort();
    let _ = first.await;
    assert_eq!(c.provider().started(), 1);
    let s = tokio::time::timeout(Duration::from_secs(60), c.session())
        .await
        .expect("the next caller is not stuck")
        .unwrap();
    assert_eq!(s.generation(), 1);
    assert_eq!(
        c.provider().started(),
        1,
        "the abandoned login went on (it may have reached the server) and the next caller got its session"
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_is_done_by_one_caller_while_others_use_the_current_session() {
    let c = client(Fake::new(
        Expiry::AfterIssue(Duration::from_secs(100)),
        Duration::from_secs(2),
    ));
    assert_eq!(c.session().await.unwrap().generation(), 1);
    tokio::time::advance(Duration::from_secs(91)).await; // inside the 10 s margin
    // The caller that finds the refresh due starts it in the background and,
    // like everyone else while it is in flight, gets generation 1 at once.
    for _ in 0..50 {
        let s = tokio::time::timeout(Duration::from_millis(1), c.session())
            .await
            .expect("callers do not wait for the refresh")
            .unwrap();
        assert_eq!(s.generation(), 1);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(c.session().await.unwrap().generation(), 2);
    assert_eq!(c.provider().started(), 2);
    assert_eq!(c.stats().refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn failed_login_backs_off_without_contacting_the_server() {
    let fake = Fake::new(Expiry::UntilRejected, Duration::ZERO);
    fake.set_mode(Mode::WrongCredentials);
    let c = Authenticated::builder(fake)
        .backoff(BackoffPolicy::default().jitter(0.0))
        .build()
        .unwrap();
    assert!(c.session().await.unwrap_err().is_invalid_credentials());
    let err = c.session().await.unwrap_err();
    assert!(matches!(err, AuthError::BackingOff { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_millis(500)));
    assert_eq!(c.provider().started(), 1);
    tokio::time::advance(Duration::from_millis(501)).await;
    c.provider().set_mode(Mode::Succeed);
    assert_eq!(c.session().await.unwrap().generation(), 1);
    assert_eq!(c.provider().started(), 2);
}

#[tokio::test(start_paused = true)]
async fn lockout_rule_caps_attempts_and_recovers_after_the_window() {
    let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO);
    fake.lockout = Some(LockoutRule::new(4, Duration::from_secs(900)));
    // Server errors that may have been processed count against the rule
    // (credential rejections stop earlier, see tests/adversity.rs).
    fake.set_mode(Mode::ServerError);
    let c = Authenticated::builder(fake)
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap();
    let mut locked = 0;
    for _ in 0..100 {
        match c.session().await {
            Err(AuthError::LockedOut { retry_after, .. }) => {
                assert!(retry_after <= Duration::from_secs(900));
                locked += 1;
            }
            Err(e) => assert!(e.counts_as_login_attempt(), "{e:?}"),
            Ok(_) => panic!("the server fails every login"),
        }
    }
    assert_eq!(
        c.provider().started(),
        4,
        "the server saw at most 4 attempts"
    );
    assert_eq!(locked, 96);
    tokio::time::advance(Duration::from_secs(901)).await;
    c.provider().set_mode(Mode::Succeed);
    assert!(c.session().await.is_ok());
    assert_eq!(c.provider().started(), 5);
}

#[tokio::test(start_paused = true)]
async fn lockout_rule_cannot_be_loosened() {
    let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO);
    fake.lockout = Some(LockoutRule::new(4, Duration::from_secs(900)));
    let err = Authenticated::builder(fake)
        .lockout_rule(Some(LockoutRule::new(10, Duration::from_secs(900))))
        .build()
        .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn invalidating_an_old_generation_keeps_the_newer_session() {
    let c = client(Fake::new(Expiry::UntilRejected, Duration::ZERO));
    let s1 = c.session().await.unwrap();
    c.invalidate(&s1).await;
    let s2 = c.session().await.unwrap();
    assert_eq!(s2.generation(), 2);
    // A late rejection of generation 1 must not discard generation 2.
    c.invalidate(&s1).await;
    let again = c.session().await.unwrap();
    assert_eq!(again.generation(), 2);
    assert_eq!(again.token().expose_secret(), "tok-2");
    assert_eq!(c.provider().started(), 2);
}

#[tokio::test(start_paused = true)]
async fn clients_sharing_a_store_share_the_session() {
    let store = Arc::new(MemoryStore::new());
    let a = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .store(store.clone())
        .build()
        .unwrap();
    let b = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
        .store(store)
        .build()
        .unwrap();
    let sa = a.session().await.unwrap();
    let sb = b.session().await.unwrap();
    assert_eq!(sa.generation(), sb.generation());
    assert_eq!(sb.token().expose_secret(), "tok-1");
    assert_eq!(b.provider().started(), 0, "b adopted a's session");
    assert_eq!(b.stats().adopted, 1);
    // b's rejection of the shared session makes a new one that a adopts
    // after its own copy is rejected too.
    b.invalidate(&sb).await;
    let sb2 = b.session().await.unwrap();
    assert_eq!(sb2.generation(), 2);
    a.invalidate(&sa).await;
    let sa2 = a.session().await.unwrap();
    assert_eq!(sa2.generation(), 2);
    assert_eq!(a.provider().started() + b.provider().started(), 2);
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_expire_without_use() {
    let c = client(Fake::new(
        Expiry::Idle(Duration::from_secs(300)),
        Duration::ZERO,
    ));
    let s = c.session().await.unwrap();
    tokio::time::advance(Duration::from_secs(200)).await;
    s.touch();
    tokio::time::advance(Duration::from_secs(200)).await;
    assert_eq!(
        c.session().await.unwrap().generation(),
        1,
        "use slid the deadline"
    );
    tokio::time::advance(Duration::from_secs(301)).await;
    assert_eq!(c.session().await.unwrap().generation(), 2);
}

#[tokio::test(start_paused = true)]
async fn lockout_limit_holds_for_clients_waiting_on_a_shared_login_lock() {
    use auth_core::TokenStore;
    let rule = LockoutRule::new(4, Duration::from_secs(900));
    let store = Arc::new(MemoryStore::new());
    let key = "fake:http://127.0.0.1:acct";
    for _ in 0..3 {
        store
            .record_failure(key, rule.window, Duration::ZERO)
            .await
            .unwrap();
    }
    let make = || {
        let mut fake = Fake::new(Expiry::UntilRejected, Duration::from_millis(100));
        fake.lockout = Some(rule);
        fake.set_mode(Mode::WrongCredentials);
        Authenticated::builder(fake)
            .store(store.clone())
            .backoff(BackoffPolicy::none())
            .build()
            .unwrap()
    };
    // Two processes' clients: both pass the first check at 3 failures; the
    // second waits for the first's login lock, and must re-check after it.
    let (a, b) = (make(), make());
    let (ra, rb) = tokio::join!(a.session(), b.session());
    let errors = [ra.unwrap_err(), rb.unwrap_err()];
    assert_eq!(
        a.provider().started() + b.provider().started(),
        1,
        "only one attempt fits under the limit: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, AuthError::LockedOut { .. }))
    );
}
