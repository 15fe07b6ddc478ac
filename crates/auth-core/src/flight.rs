//! The single-flight login: one task per login, owned by the client, not by
//! the callers waiting for it.
//!
//! A login runs in its own Tokio task, so a caller that stops waiting (a
//! request timeout, a client disconnect) never cancels a login that may
//! already have reached the provider. Whoever waits, the outcome is
//! recorded: the session installed and saved (unless the client was logged
//! out meanwhile), or the failure counted and the back-off set; the store's
//! login lock is released, and extended while the login runs. A panic in the
//! provider's login code becomes [`AuthError::LoginPanicked`] for every
//! waiter, and the next call starts a fresh flight.
//!
//! A runtime shutdown drops a flight in progress: its waiters get
//! [`AuthError::LoginAborted`] and its lock lease expires by itself.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::time::Instant;
use tracing::Instrument;

use crate::AuthError;
use crate::client::{Inner, Reason};
use crate::metrics;
use crate::provider::Provider;
use crate::rotation;
use crate::session::{Freshness, NewSession, Session};
use crate::store::LockToken;

pub(crate) type LoginResult<D> = Result<Arc<Session<D>>, AuthError>;
type SharedLogin<D> = Shared<BoxFuture<'static, LoginResult<D>>>;

/// The login in flight, if any.
pub(crate) struct FlightSlot<D> {
    current: Mutex<Option<(u64, SharedLogin<D>)>>,
}

impl<D> Default for FlightSlot<D> {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
        }
    }
}

impl<D> FlightSlot<D> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, SharedLogin<D>)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear(&self, id: u64) {
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|(current, _)| *current == id) {
            *slot = None;
        }
    }
}

/// Joins the login in flight, or starts one.
pub(crate) fn join<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
    reason: Reason,
) -> SharedLogin<P::Data> {
    let mut slot = inner.flight.lock();
    match slot.as_ref() {
        Some((_, flight)) if flight.peek().is_none() => flight.clone(),
        _ => start(inner, &mut slot, seen, reason),
    }
}

/// Starts a login in the background unless one is in flight.
pub(crate) fn start_if_idle<P: Provider>(inner: &Arc<Inner<P>>, seen: u64, reason: Reason) {
    let mut slot = inner.flight.lock();
    if slot
        .as_ref()
        .is_none_or(|(_, flight)| flight.peek().is_some())
    {
        drop(start(inner, &mut slot, seen, reason));
    }
}

/// Clears the slot when the flight's task ends, however it ends.
struct ClearOnExit<P: Provider> {
    inner: Arc<Inner<P>>,
    id: u64,
}

impl<P: Provider> Drop for ClearOnExit<P> {
    fn drop(&mut self) {
        self.inner.flight.clear(self.id);
    }
}

fn start<P: Provider>(
    inner: &Arc<Inner<P>>,
    slot: &mut Option<(u64, SharedLogin<P::Data>)>,
    seen: u64,
    reason: Reason,
) -> SharedLogin<P::Data> {
    // A caller that finds no session because the last one was just rejected
    // starts the same re-login the rejected request would have.
    let highest = inner.highest_generation.load(Ordering::Relaxed);
    let reason = if reason == Reason::Missing
        && highest > 0
        && inner.rejected_generation.load(Ordering::Relaxed) >= highest
    {
        Reason::Rejected
    } else {
        reason
    };
    let id = inner.flight_ids.fetch_add(1, Ordering::Relaxed) + 1;
    let logout_epoch = inner.logout_epoch.load(Ordering::SeqCst);
    let span = tracing::info_span!(
        "auth.login",
        provider = inner.provider.name(),
        key = %inner.key,
        reason = reason.as_str(),
        generation = tracing::field::Empty,
    );
    let task_inner = Arc::clone(inner);
    let task = tokio::spawn(
        async move {
            // Made on the first poll: a task dropped unpolled (a runtime
            // shutting down) must not lock the slot, which `start` holds.
            // Its completed flight is replaced by the next `join`.
            let exit = ClearOnExit {
                inner: task_inner,
                id,
            };
            let result = obtain_session(&exit.inner, seen, reason, logout_epoch).await;
            drop(exit);
            result
        }
        .instrument(span),
    );
    let provider = inner.provider.name();
    let outcome: BoxFuture<'static, LoginResult<P::Data>> = Box::pin(async move {
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(AuthError::LoginPanicked { provider }),
            Err(_) => Err(AuthError::LoginAborted { provider }),
        }
    });
    let flight = outcome.shared();
    *slot = Some((id, flight.clone()));
    flight
}

async fn obtain_session<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
    reason: Reason,
    logout_epoch: u64,
) -> LoginResult<P::Data> {
    // Another flight may have replaced the session since the caller looked.
    if let Some(current) = inner.cache.load_full()
        && current.generation() > seen
        && !current.is_expired()
    {
        return Ok(current);
    }
    let name = inner.provider.name();
    let fingerprint = inner.credential_fingerprint();
    inner
        .guard
        .check(inner.store.as_ref(), &inner.key)
        .await
        .inspect_err(|e| metrics::local_refusal(name, e))?;
    // A secret rejected elsewhere is checked under the lock, after a session
    // obtained with the new secret had its chance to be adopted.
    let lock = match acquire_login_lock(inner, seen).await? {
        LockOutcome::Adopted(session) => return Ok(session),
        LockOutcome::Held(lock) => lock,
    };
    // Check again under the lock: while this process waited, the holder may
    // have failed and spent the shared budget. Without the lock (the store
    // is unreachable), this is the check that keeps the local budget.
    let may_log_in = match inner.guard.check(inner.store.as_ref(), &inner.key).await {
        Ok(()) => rotation::check_not_rejected(inner, fingerprint.as_deref()).await,
        Err(error) => {
            metrics::local_refusal(name, &error);
            Err(error)
        }
    };
    if let Err(error) = may_log_in {
        release(inner, lock.as_ref()).await;
        return Err(error);
    }
    let started = tokio::time::Instant::now();
    let outcome = login_under_lease(inner, lock.as_ref()).await;
    metrics::login(name, outcome.is_ok(), started.elapsed());
    let fingerprint = rotation::settled(fingerprint, inner.credential_fingerprint());
    let result = match outcome {
        Ok(new) => {
            inner.guard.record_success();
            install(inner, new, fingerprint, reason, logout_epoch).await
        }
        Err(error) => {
            inner.counters.failed_logins.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "login failed");
            inner
                .guard
                .record_failure(inner.store.as_ref(), &inner.key, &error)
                .await;
            rotation::record_outcome(inner, fingerprint.as_deref(), &error).await;
            Err(error)
        }
    };
    release(inner, lock.as_ref()).await;
    result
}

/// Runs the provider's login with its timeout, catching a panic, while
/// extending the lock's lease.
async fn login_under_lease<P: Provider>(
    inner: &Arc<Inner<P>>,
    lock: Option<&LockToken>,
) -> Result<NewSession<P::Data>, AuthError> {
    let name = inner.provider.name();
    let timeout = inner.provider.login_timeout();
    let login = AssertUnwindSafe(tokio::time::timeout(
        timeout,
        inner.provider.login(&inner.http),
    ))
    .catch_unwind();
    let login = async {
        match login.await {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err(AuthError::Timeout {
                provider: name,
                after: timeout,
            }),
            Err(_panic) => {
                tracing::error!("the provider's login code panicked");
                Err(AuthError::LoginPanicked { provider: name })
            }
        }
    };
    let Some(lock) = lock else {
        return login.await;
    };
    let lease = inner.timing.lock_lease;
    let renew = async {
        let mut every = tokio::time::interval_at(Instant::now() + lease / 3, lease / 3);
        loop {
            every.tick().await;
            match inner.store.extend_lock(&inner.key, lock, lease).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        "the login lock's lease was lost; another process may log in too"
                    );
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not extend the login lock's lease");
                }
            }
        }
    };
    let mut login = std::pin::pin!(login);
    tokio::select! {
        result = &mut login => return result,
        () = renew => {}
    }
    // The lease is lost; the login goes on without it (it may already have
    // reached the provider).
    login.await
}

async fn release<P: Provider>(inner: &Arc<Inner<P>>, lock: Option<&LockToken>) {
    if let Some(lock) = lock
        && let Err(error) = inner.store.unlock(&inner.key, lock).await
    {
        tracing::warn!(%error, "could not release the login lock; its lease expires by itself");
    }
}

enum LockOutcome<D> {
    Adopted(Arc<Session<D>>),
    /// The lock, or `None` when the store is unavailable (degraded mode:
    /// single flight in this process only, the guard's local budget).
    Held(Option<LockToken>),
}

/// Takes the store's login lock; while another process holds it, re-reads the
/// store for the session that process is obtaining.
async fn acquire_login_lock<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
) -> Result<LockOutcome<P::Data>, AuthError> {
    let lease = inner.timing.lock_lease;
    let patience = inner.provider.login_timeout() + lease * 2;
    let give_up = Instant::now() + patience;
    loop {
        if let Some(session) = adopt_stored(inner, seen).await {
            return Ok(LockOutcome::Adopted(session));
        }
        match inner.store.try_lock(&inner.key, lease).await {
            Ok(Some(lock)) => {
                // Double-check: the previous holder may have saved a session
                // between our read and our lock.
                if let Some(session) = adopt_stored(inner, seen).await {
                    release(inner, Some(&lock)).await;
                    return Ok(LockOutcome::Adopted(session));
                }
                return Ok(LockOutcome::Held(Some(lock)));
            }
            Ok(None) => {
                if Instant::now() >= give_up {
                    return Err(AuthError::Timeout {
                        provider: inner.provider.name(),
                        after: patience,
                    });
                }
                tokio::time::sleep(inner.timing.lock_poll).await;
            }
            Err(error) => {
                metrics::store_degraded(inner.provider.name());
                tracing::warn!(%error, "token store unavailable; logging in without the shared lock");
                return Ok(LockOutcome::Held(None));
            }
        }
    }
}

/// A session from the store that is newer than anything this process saw
/// rejected or expired, installed in the cache.
async fn adopt_stored<P: Provider>(
    inner: &Arc<Inner<P>>,
    seen: u64,
) -> Option<Arc<Session<P::Data>>> {
    let stored = match inner.store.load(&inner.key).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return None,
        Err(error) => {
            metrics::store_degraded(inner.provider.name());
            tracing::warn!(%error, "token store unavailable; not reading shared sessions");
            return None;
        }
    };
    let floor = seen.max(inner.rejected_generation.load(Ordering::Relaxed));
    if stored.generation <= floor || stored.is_expired() {
        return None;
    }
    let data = match serde_json::from_value(stored.data.clone()) {
        Ok(data) => data,
        Err(error) => {
            // The category only: serde's text may quote stored values.
            tracing::warn!(
                category = ?error.classify(),
                "ignoring a stored session this version cannot read"
            );
            return None;
        }
    };
    let session = Arc::new(Session::from_stored(stored, data, &inner.refresh));
    if session.freshness(Instant::now()) == Freshness::Expired {
        return None;
    }
    rotation::note_adopted(inner, session.credentials.as_deref());
    inner
        .highest_generation
        .fetch_max(session.generation(), Ordering::Relaxed);
    inner.cache.store(Some(Arc::clone(&session)));
    inner.counters.adopted.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        generation = session.generation(),
        "adopted a session from the token store"
    );
    Some(session)
}

/// Caches a freshly issued session and saves it to the store, unless the
/// client was logged out since the flight started.
async fn install<P: Provider>(
    inner: &Arc<Inner<P>>,
    new: NewSession<P::Data>,
    credentials: Option<String>,
    reason: Reason,
    logout_epoch: u64,
) -> LoginResult<P::Data> {
    let floor = inner.timing.min_login_interval;
    if let Some(lifetime) = new.lifetime()
        && lifetime < floor
    {
        tracing::warn!(
            lifetime_ms = lifetime.as_millis() as u64,
            floor_ms = floor.as_millis() as u64,
            "the provider's token lifetime is below the minimum login interval; the session is used for the interval unless rejected"
        );
    }
    let local_next = inner
        .highest_generation
        .load(Ordering::Relaxed)
        .max(inner.rejected_generation.load(Ordering::Relaxed))
        + 1;
    let generation = match inner.store.next_generation(&inner.key).await {
        Ok(g) => g.max(local_next),
        Err(error) => {
            // Ordered across processes as far as their clocks agree: stores
            // that share sessions floor their numbers at their clock in
            // microseconds too (auth-redis does).
            metrics::store_degraded(inner.provider.name());
            tracing::warn!(%error, "token store unavailable; numbering the session by the clock");
            let micros = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
            local_next.max(micros)
        }
    };
    inner
        .highest_generation
        .fetch_max(generation, Ordering::Relaxed);
    let mut session = Session::from_new(new, generation, &inner.refresh, floor);
    session.credentials = credentials;
    let session = Arc::new(session);
    {
        let _installing = inner.install_lock.lock().unwrap_or_else(|p| p.into_inner());
        if inner.logout_epoch.load(Ordering::SeqCst) != logout_epoch {
            drop(_installing);
            return discard_after_logout(inner, &session).await;
        }
        inner.cache.store(Some(Arc::clone(&session)));
    }
    tracing::Span::current().record("generation", generation);
    let counters = &inner.counters;
    counters.logins.fetch_add(1, Ordering::Relaxed);
    match reason {
        Reason::Refresh => {
            counters.refreshes.fetch_add(1, Ordering::Relaxed);
            metrics::refresh(inner.provider.name());
        }
        Reason::Rejected => {
            counters.relogins.fetch_add(1, Ordering::Relaxed);
            metrics::relogin(inner.provider.name());
        }
        Reason::Missing => {}
    }
    tracing::info!(generation, expiry = ?session.expiry(), "logged in");
    match session.to_stored() {
        Ok(stored) => match inner
            .store
            .save(&inner.key, &stored, session.store_ttl())
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::debug!("the store holds a newer session; not replacing it"),
            Err(error) => {
                metrics::store_degraded(inner.provider.name());
                tracing::warn!(%error, "could not save the session to the token store")
            }
        },
        Err(error) => tracing::warn!(
            category = ?error.classify(),
            "could not serialize the session for the token store"
        ),
    }
    // A logout that ran while saving removed what was stored before it;
    // remove what this flight stored after it.
    if inner.logout_epoch.load(Ordering::SeqCst) != logout_epoch {
        inner
            .cache
            .compare_and_swap(&Some(Arc::clone(&session)), None);
        return discard_after_logout(inner, &session).await;
    }
    Ok(session)
}

/// Ends a session obtained by a flight that a logout overtook.
async fn discard_after_logout<P: Provider>(
    inner: &Arc<Inner<P>>,
    session: &Session<P::Data>,
) -> LoginResult<P::Data> {
    tracing::info!("logged out while this login was in flight; discarding its session");
    if let Err(error) = inner
        .store
        .remove(&inner.key, Some(session.generation()))
        .await
    {
        tracing::warn!(%error, "could not remove the session from the token store");
    }
    if let Err(error) = inner.provider.logout(&inner.http, session).await {
        tracing::debug!(%error, "could not end the discarded session on the provider");
    }
    Err(AuthError::LoggedOut {
        provider: inner.provider.name(),
    })
}
