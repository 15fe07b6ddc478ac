//! Credential rotation in the engine: the next login uses the new secret,
//! the current session keeps serving, lockout state is kept, and clients
//! sharing a store learn of the rotation through keyed fingerprints.
//!
//! Several clients sharing one `MemoryStore` stand for processes sharing a
//! Redis store (auth-redis runs the same checks against a real server).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Acct, Service};

use auth_core::rotation::credential_material;
use auth_core::{AuthError, Authenticated, BackoffPolicy, LockoutRule, MemoryStore, TokenStore};
use secrecy::{ExposeSecret, SecretString};

/// The account the tests log in to.
const ALICE: &str = "alice";

/// The service, accepting `password` for alice.
fn account(password: &str) -> Arc<Service> {
    let service = Service::new();
    service.set_password(ALICE, password);
    service
}

fn client(provider: Acct, store: &Arc<MemoryStore>) -> Authenticated<Acct> {
    Authenticated::builder(provider)
        .store(Arc::clone(store) as Arc<dyn TokenStore>)
        .min_login_interval(Duration::ZERO)
        .lock_poll_interval(Duration::from_millis(5))
        // The tests look at which logins go out, not at the pauses between.
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_login_uses_the_new_secret_and_the_session_keeps_serving() {
    let account = account("old-pass");
    let store = Arc::new(MemoryStore::new());
    let client = client(Acct::new(&account, ALICE, "old-pass"), &store);
    let first = client.session().await.unwrap();

    account.set_password(ALICE, "new-pass");
    client.rotate_credentials(secret("new-pass")).await.unwrap();
    // Still the session the old secret obtained: no login, no disturbance.
    let same = client.session().await.unwrap();
    assert_eq!(same.generation(), first.generation());
    assert_eq!(account.logins(), 1);

    // Rejected: the re-login uses the new secret, first time.
    client.invalidate(&same).await;
    let next = client.session().await.unwrap();
    assert!(next.generation() > first.generation());
    assert_eq!(account.logins(), 2);
    assert_eq!(account.rejected(), 0);
    let stats = client.stats();
    assert_eq!((stats.rotations, stats.failed_logins), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_new_secret_is_refused_before_the_provider_sees_it() {
    let account = account("p0");
    let store = Arc::new(MemoryStore::new());
    let client = client(Acct::new(&account, ALICE, "p0"), &store);
    let error = client
        .rotate_credentials(secret(""))
        .await
        .expect_err("an empty password is refused");
    assert!(matches!(error, AuthError::Config(_)), "{error}");
    // Nothing was replaced: the old secret still logs in.
    client.session().await.unwrap();
    assert_eq!(client.stats().rotations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_processes_do_not_spend_the_lockout_budget() {
    let account = account("p0");
    let store = Arc::new(MemoryStore::new());
    let lockout = Some(LockoutRule::new(5, Duration::from_secs(900)));
    let make = |password: &str| {
        let mut provider = Acct::new(&account, ALICE, password);
        provider.lockout = lockout;
        client(provider, &store)
    };
    let (a, b, c) = (make("p0"), make("p0"), make("p0"));
    let session = a.session().await.unwrap();

    // The password changes at the provider; the fleet's session dies.
    account.set_password(ALICE, "p1");
    a.invalidate(&session).await;

    // A tries the old secret once: the provider rejects it.
    let error = a.session().await.unwrap_err();
    assert!(error.is_invalid_credentials(), "{error}");
    assert_eq!(account.rejected(), 1);

    // B holds the same old secret: it learns from the store and does not try.
    b.invalidate(&session).await;
    let error = b.session().await.unwrap_err();
    assert!(
        matches!(error, AuthError::StaleCredentials { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("rotate_credentials"), "{error}");
    assert_eq!(
        account.rejected(),
        1,
        "B's stale secret never reached the provider"
    );
    assert_eq!(b.stats().stale_credentials_refused, 1);

    // The failure A spent stays counted after rotation (the provider counted it).
    c.rotate_credentials(secret("p1")).await.unwrap();
    let failures = store
        .failures(c.cache_key(), Duration::from_secs(900))
        .await
        .unwrap();
    assert_eq!(failures.count, 1);

    // C, rotated, logs in; B adopts C's session instead of failing, and
    // notes that the secret changed elsewhere.
    c.invalidate(&session).await;
    let fresh = c.session().await.unwrap();
    let adopted = b.session().await.unwrap();
    assert_eq!(adopted.generation(), fresh.generation());
    assert!(adopted.is_adopted());
    assert_eq!(b.stats().credentials_changed_elsewhere, 1);
    assert_eq!(account.rejected(), 1);

    // The stored session carries a keyed fingerprint: not the secret, not a
    // plain hash of it.
    let stored = store.load(c.cache_key()).await.unwrap().unwrap();
    let fingerprint = stored.credentials.expect("a fingerprint is stored");
    assert_eq!(fingerprint.len(), 32);
    assert!(!fingerprint.contains("p1"));
    let material = credential_material(&[&secret("p1")]);
    let expected = store.credential_fingerprint(c.cache_key(), material.expose_secret());
    assert_eq!(Some(fingerprint), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_lifts_the_stop_after_repeated_rejections() {
    let account = account("right");
    let store = Arc::new(MemoryStore::new());
    let client = client(Acct::new(&account, ALICE, "wrong"), &store);
    let mut last = None;
    for _ in 0..6 {
        let error = client.session().await.unwrap_err();
        let blocked = matches!(error, AuthError::CredentialsBlocked { .. });
        last = Some(error);
        if blocked {
            break;
        }
    }
    assert!(
        matches!(last, Some(AuthError::CredentialsBlocked { .. })),
        "{last:?}"
    );
    client.rotate_credentials(secret("right")).await.unwrap();
    client.session().await.unwrap();
    assert_eq!(account.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_back_to_a_rejected_secret_is_an_explicit_choice() {
    let account = account("p1");
    let store = Arc::new(MemoryStore::new());
    let a = client(Acct::new(&account, ALICE, "p0"), &store);
    let b = client(Acct::new(&account, ALICE, "p0"), &store);
    assert!(a.session().await.unwrap_err().is_invalid_credentials());
    assert!(matches!(
        b.session().await.unwrap_err(),
        AuthError::StaleCredentials { .. }
    ));
    // The provider's password is set back to p0, and B is told so: B tries.
    account.set_password(ALICE, "p0");
    b.rotate_credentials(secret("p0")).await.unwrap();
    b.session().await.unwrap();
    assert_eq!(account.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_during_a_login_leaves_the_sessions_secret_unknown() {
    let account = Service::slow(Duration::from_millis(300));
    account.set_password(ALICE, "p0");
    let store = Arc::new(MemoryStore::new());
    let client = client(Acct::new(&account, ALICE, "p0"), &store);
    let login = tokio::spawn({
        let client = client.clone();
        async move { client.session().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.rotate_credentials(secret("p1")).await.unwrap();
    login.await.unwrap().unwrap();
    let stored = store.load(client.cache_key()).await.unwrap().unwrap();
    assert_eq!(
        stored.credentials, None,
        "the login read the old secret; the fingerprint taken after it is the new one"
    );
}

/// An application that reloads its configuration rebuilds the provider and
/// hands it to the running client: the secrets move over, the identity
/// must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_to_takes_the_secrets_of_an_updated_configuration_of_the_same_account() {
    let account = account("old-pass");
    account.set_password("bob", "bobs-pass");
    let store = Arc::new(MemoryStore::new());
    let client = client(Acct::new(&account, ALICE, "old-pass"), &store);
    let first = client.session().await.unwrap();

    // Another account's configuration: refused, nothing replaced.
    let error = client
        .rotate_to(&Acct::new(&account, "bob", "bobs-pass"))
        .await
        .expect_err("another account");
    assert!(
        matches!(&error, AuthError::Config(m) if m.contains("another account")),
        "{error}"
    );
    assert!(!error.to_string().contains("bobs-pass"));
    assert_eq!(client.stats().rotations, 0);
    client.invalidate(&first).await;
    client.session().await.expect("the old secret still in use");

    account.set_password(ALICE, "new-pass");
    client
        .rotate_to(&Acct::new(&account, ALICE, "new-pass"))
        .await
        .unwrap();
    let current = client.cached().unwrap();
    client.invalidate(&current).await;
    client.session().await.expect("the new secret logs in");
    assert_eq!(account.rejected(), 0, "no login with a stale secret");
    assert_eq!(client.stats().rotations, 1);
}
