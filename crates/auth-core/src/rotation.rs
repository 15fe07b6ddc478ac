//! Credential rotation: the secret fields of an account, replaced while the
//! client runs, and the keyed fingerprint by which processes sharing a store
//! learn that the secret changed.
//!
//! An account has two kinds of fields. Its *identity* (provider, base URL,
//! user name, customer id ...) makes up [`Provider::cache_key`] and never
//! changes for a client. Its *secrets* (password, API key, application key)
//! are never part of a key and may be replaced with
//! [`Authenticated::rotate_credentials`](crate::Authenticated::rotate_credentials).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};
use sha2::Sha256;

use crate::client::Inner;
use crate::provider::Provider;
use crate::{AuthError, Authenticated, metrics};

/// How long a rejected secret's fingerprint is remembered in the store: long
/// enough for every process of a fleet to learn of it, short enough that a
/// provider-side change back to that secret is not refused for ever (and
/// [`Authenticated::rotate_credentials`] to that secret forgets it at once).
pub const REJECTED_CREDENTIALS_TTL: Duration = Duration::from_secs(24 * 3600);

/// A provider whose secret fields can be replaced while its client runs.
///
/// Implemented by every provider crate; users call
/// [`Authenticated::rotate_credentials`](crate::Authenticated::rotate_credentials)
/// (or the provider crate's helpers built on it), never
/// [`replace_secrets`](Self::replace_secrets) directly.
pub trait RotateCredentials: Provider {
    /// The secret fields, e.g. a password and an application key.
    type Secrets: Send + 'static;

    /// Checks `secrets` as the provider's builder would and makes them the
    /// ones the next login uses. Must not log in or touch the session.
    fn replace_secrets(&self, secrets: Self::Secrets) -> Result<(), AuthError>;

    /// The secrets the next login would use, for
    /// [`Authenticated::rotate_to`]: taken from a provider built from the
    /// account's updated configuration and given to the running client.
    fn current_secrets(&self) -> Self::Secrets;

    /// What names the account, secrets aside: a provider built from an
    /// updated configuration of the same account has the same identity.
    /// The default is the [`cache_key`](Provider::cache_key), which holds
    /// no secret; a provider whose cache key is derived from a secret
    /// (Wialon's token) leaves that part out.
    fn account_identity(&self) -> String {
        self.cache_key()
    }
}

impl<P: RotateCredentials> Authenticated<P> {
    /// Replaces the account's secret fields (a password, an API key ...)
    /// without a restart. The next login uses the new secret; the current
    /// session keeps serving until the provider rejects it or it expires,
    /// so calls in flight are not disturbed. The lockout state is kept (the
    /// provider counted those failures whatever the secret), but a stop
    /// after repeated credential rejections is lifted.
    ///
    /// Processes sharing the store learn of the change: sessions are stored
    /// with a keyed fingerprint of the secret that logged in, and a secret
    /// the provider rejected is remembered by fingerprint, so a process
    /// still holding it refuses to log in
    /// ([`AuthError::StaleCredentials`]) instead of spending the account's
    /// lockout budget. Errors: the provider's checks of the new secret
    /// (nothing is replaced then).
    pub async fn rotate_credentials(&self, secrets: P::Secrets) -> Result<(), AuthError> {
        let inner = &self.inner;
        inner.provider.replace_secrets(secrets)?;
        inner.guard.credentials_replaced();
        inner.counters.rotations.fetch_add(1, Ordering::Relaxed);
        if let Some(fingerprint) = inner.credential_fingerprint()
            && let Err(error) = inner
                .store
                .clear_rejected_credentials(&inner.key, &fingerprint)
                .await
        {
            metrics::store_degraded(inner.provider.name());
            tracing::warn!(%error, "could not clear a recorded rejection of the new secret");
        }
        tracing::info!(
            "credentials rotated; the current session serves until it is rejected or expires"
        );
        Ok(())
    }

    /// [`rotate_credentials`](Self::rotate_credentials) with the secrets of
    /// `updated`, a provider built from the account's updated
    /// configuration: what an application that reloads its configuration
    /// calls. Only secrets change; `updated` must name the same account
    /// ([`RotateCredentials::account_identity`]: provider, base URL, user
    /// ...), else [`AuthError::Config`] and nothing is replaced. Other
    /// changed settings (timeouts, limits ...) need a new client.
    pub async fn rotate_to(&self, updated: &P) -> Result<(), AuthError> {
        if updated.account_identity() != self.inner.provider.account_identity() {
            return Err(AuthError::config(format!(
                "the updated {} configuration names another account than this client's \
                 (provider, base URL, user or another setting of the account's identity \
                 differs): only secrets rotate; build a new client for another account",
                self.inner.provider.name()
            )));
        }
        self.rotate_credentials(updated.current_secrets()).await
    }
}

/// Refuses a login with a secret that the provider rejected when another
/// client sharing the store used it (this client's own retries of a
/// rejected secret are bounded by its guard instead).
pub(crate) async fn check_not_rejected<P: Provider>(
    inner: &Inner<P>,
    fingerprint: Option<&str>,
) -> Result<(), AuthError> {
    let Some(fingerprint) = fingerprint else {
        return Ok(());
    };
    let own = inner
        .own_rejection
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match inner.store.rejected_credentials(&inner.key).await {
        Ok(Some(rejected)) if rejected == fingerprint && own.as_deref() != Some(fingerprint) => {
            inner
                .counters
                .stale_credentials_refused
                .fetch_add(1, Ordering::Relaxed);
            let error = AuthError::StaleCredentials {
                provider: inner.provider.name(),
            };
            metrics::local_refusal(inner.provider.name(), &error);
            tracing::warn!(
                "login refused locally: another process's login with this secret was rejected; rotate the credentials"
            );
            Err(error)
        }
        Ok(_) => Ok(()),
        // The guard's own rules cover logins while the store is down.
        Err(_) => Ok(()),
    }
}

/// After a failed login: a rejected secret is recorded by fingerprint.
pub(crate) async fn record_outcome<P: Provider>(
    inner: &Inner<P>,
    fingerprint: Option<&str>,
    error: &AuthError,
) {
    let Some(fingerprint) = fingerprint else {
        return;
    };
    if !error.is_invalid_credentials() {
        return;
    }
    *inner
        .own_rejection
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(fingerprint.to_owned());
    if let Err(error) = inner
        .store
        .record_rejected_credentials(&inner.key, fingerprint, REJECTED_CREDENTIALS_TTL)
        .await
    {
        metrics::store_degraded(inner.provider.name());
        tracing::warn!(%error, "could not record the rejected secret in the token store");
    }
}

/// The fingerprint of the secret a login used: taken before and after it, so
/// a rotation during the login leaves the session's secret unknown rather
/// than wrong.
pub(crate) fn settled(before: Option<String>, after: Option<String>) -> Option<String> {
    before.filter(|b| after.as_deref() == Some(b.as_str()))
}

/// Notes a stored session obtained with a different secret than this
/// client's: the secret was rotated elsewhere (or here, and the fleet has
/// not caught up). Reported once per foreign secret.
pub(crate) fn note_adopted<P: Provider>(inner: &Inner<P>, stored: Option<&str>) {
    let (Some(stored), Some(own)) = (stored, inner.credential_fingerprint()) else {
        return;
    };
    if stored == own {
        return;
    }
    let mut seen = inner
        .foreign_credentials
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.as_deref() == Some(stored) {
        return;
    }
    *seen = Some(stored.to_owned());
    inner
        .counters
        .credentials_changed_elsewhere
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        "adopted a session that another process obtained with a different secret; if the credentials were rotated, rotate this client too"
    );
}

/// The current secret fields of a provider, replaceable while logins read
/// them. A clone is independent: replacing the secrets of one does not
/// change the other.
pub struct SecretCell<S> {
    current: ArcSwap<S>,
}

impl<S> SecretCell<S> {
    /// A cell holding `secrets`.
    pub fn new(secrets: S) -> Self {
        Self {
            current: ArcSwap::from_pointee(secrets),
        }
    }

    /// The secrets as of now (a login holds on to them for its duration, so
    /// a rotation during a login does not mix old and new fields).
    pub fn current(&self) -> Arc<S> {
        self.current.load_full()
    }

    /// Makes `secrets` the current ones.
    pub fn replace(&self, secrets: S) {
        self.current.store(Arc::new(secrets));
    }
}

impl<S> Clone for SecretCell<S> {
    fn clone(&self) -> Self {
        Self {
            current: ArcSwap::new(self.current.load_full()),
        }
    }
}

impl<S> fmt::Debug for SecretCell<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCell([REDACTED])")
    }
}

/// The input of a credential fingerprint: the secret fields, each prefixed
/// with its length so that no two field lists give the same bytes. Absent
/// optional fields are passed as empty strings.
pub fn credential_material(fields: &[&SecretString]) -> SecretSlice<u8> {
    let mut bytes = Vec::new();
    for field in fields {
        let field = field.expose_secret().as_bytes();
        bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
        bytes.extend_from_slice(field);
    }
    bytes.into()
}

/// The key of credential fingerprints: HMAC-SHA-256 under a secret that the
/// processes sharing a store hold and the store does not. Without the key a
/// fingerprint cannot be tested against guessed passwords, so one read from
/// the store (or a backup of it) reveals nothing about the secret.
pub struct FingerprintKey(SecretBox<[u8; 32]>);

impl FingerprintKey {
    /// Derives the key from a fleet secret (at least 32 bytes of random
    /// data) and a label naming its use, so one fleet secret can serve
    /// several purposes without one use revealing another's key.
    pub fn derive(fleet_secret: &[u8], label: &str) -> Result<Self, AuthError> {
        if fleet_secret.len() < 32 {
            return Err(AuthError::Config(format!(
                "the fleet secret is {} bytes; use at least 32 random bytes (e.g. `openssl rand -base64 32`)",
                fleet_secret.len()
            )));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(fleet_secret)
            .map_err(|_| AuthError::Config("the fleet secret cannot key HMAC-SHA-256".into()))?;
        mac.update(label.as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(Self(Box::new(key).into()))
    }

    /// A key of random bytes known only to this process: for stores whose
    /// fingerprints never leave it.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&fastrand::u64(..).to_le_bytes());
        }
        Self(Box::new(key).into())
    }

    /// The fingerprint of `material` (see [`credential_material`]) for the
    /// account `cache_key`: 128 bits, in hex. The account is part of the
    /// input, so the same password on two accounts gives two fingerprints.
    pub fn fingerprint(&self, cache_key: &str, material: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts a 32-byte key");
        mac.update(&(cache_key.len() as u64).to_be_bytes());
        mac.update(cache_key.as_bytes());
        mac.update(material);
        let digest = mac.finalize().into_bytes();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn material_separates_fields() {
        let a = credential_material(&[&secret("ab"), &secret("c")]);
        let b = credential_material(&[&secret("a"), &secret("bc")]);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn fingerprint_depends_on_key_account_and_secret() {
        let key = FingerprintKey::derive(&[7u8; 32], "fingerprint").unwrap();
        let other_key = FingerprintKey::derive(&[8u8; 32], "fingerprint").unwrap();
        let m = credential_material(&[&secret("hunter2")]);
        let fp = key.fingerprint("acct-1", m.expose_secret());
        assert_eq!(fp.len(), 32);
        assert_eq!(fp, key.fingerprint("acct-1", m.expose_secret()));
        assert_ne!(fp, key.fingerprint("acct-2", m.expose_secret()));
        assert_ne!(fp, other_key.fingerprint("acct-1", m.expose_secret()));
        let m2 = credential_material(&[&secret("hunter3")]);
        assert_ne!(fp, key.fingerprint("acct-1", m2.expose_secret()));
        // Not a plain hash of the password.
        use sha2::Digest;
        let plain: String = Sha256::digest(b"hunter2")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!plain.contains(&fp));
    }

    #[test]
    fn short_fleet_secret_is_refused() {
        let error = FingerprintKey::derive(b"short", "x").unwrap_err();
        assert!(error.to_string().contains("at least 32"));
    }

    #[test]
    fn cell_clones_are_independent() {
        let cell = SecretCell::new(1);
        let copy = cell.clone();
        cell.replace(2);
        assert_eq!(*cell.current(), 2);
        assert_eq!(*copy.current(), 1);
        assert_eq!(format!("{cell:?}"), "SecretCell([REDACTED])");
    }
}
