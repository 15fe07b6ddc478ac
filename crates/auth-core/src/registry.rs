//! [`AccountRegistry`]: the clients of many accounts of one provider in one
//! process, each built once, bounded in number and dropped when idle.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use crate::builder::AuthenticatedBuilder;
use crate::client::Authenticated;
use crate::http::{HttpClient, HttpSettings};
use crate::provider::Provider;
use crate::rotation::RotateCredentials;
use crate::store::{MemoryStore, TokenStore};
use crate::{AuthError, metrics};

/// Default for [`AccountRegistryBuilder::max_clients`].
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// Default for [`AccountRegistryBuilder::idle_timeout`]: one hour.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How every client of a registry is built, besides its provider and store.
type Configure<P> = dyn Fn(AuthenticatedBuilder<P>) -> AuthenticatedBuilder<P> + Send + Sync;

/// Builds an [`AccountRegistry`]; every setting is checked at
/// [`build`](Self::build).
#[must_use]
pub struct AccountRegistryBuilder<P: Provider> {
    store: Option<Arc<dyn TokenStore>>,
    http: Option<HttpClient>,
    http_settings: HttpSettings,
    configure: Option<Arc<Configure<P>>>,
    max_clients: usize,
    idle_timeout: Option<Duration>,
}

impl<P: Provider> fmt::Debug for AccountRegistryBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRegistryBuilder")
            .field("store", &self.store)
            .field("http", &self.http)
            .field("http_settings", &self.http_settings)
            .field("configure", &self.configure.is_some())
            .field("max_clients", &self.max_clients)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl<P: Provider> Default for AccountRegistryBuilder<P> {
    fn default() -> Self {
        Self {
            store: None,
            http: None,
            http_settings: HttpSettings::default(),
            configure: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

impl<P: Provider> AccountRegistryBuilder<P> {
    /// The token store of every client of the registry (sessions, login
    /// locks and failure counts, keyed by account). Default: one
    /// [`MemoryStore`] shared by the registry's clients, so that an evicted
    /// account's next client adopts its session instead of logging in. Use
    /// `auth-redis` to share sessions with other processes too.
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The HTTP settings of the one [`HttpClient`] the registry's clients
    /// share (see [`AuthenticatedBuilder::http`]): one connection pool and
    /// one TLS setup for all accounts, instead of one per account (which
    /// costs milliseconds of CPU per client built, and a connection per
    /// account). Checked at [`build`](Self::build). Default
    /// [`HttpSettings::default`].
    pub fn http_settings(mut self, settings: HttpSettings) -> Self {
        self.http_settings = settings;
        self.http = None;
        self
    }

    /// The [`HttpClient`] the registry's clients share, built by the
    /// caller (e.g. shared with other registries); replaces
    /// [`http_settings`](Self::http_settings).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// How each client is built, applied to
    /// `Authenticated::builder(provider).store(registry_store).http(registry_http)`
    /// before its `build()`: limits, policies, allowed origins ... A `store`
    /// set here replaces the registry's; `http_settings` or `http_client`
    /// set here give the client HTTP clients of its own instead of the
    /// shared one. The closure runs inside
    /// [`AccountRegistry::get_or_create`], whose error is then the
    /// builder's (an invalid setting fails the first account built, not
    /// this `build()`).
    pub fn configure(
        mut self,
        configure: impl Fn(AuthenticatedBuilder<P>) -> AuthenticatedBuilder<P> + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(configure));
        self
    }

    /// The most clients the registry holds. Creating one more evicts the
    /// least recently used account first (see
    /// [`AccountRegistry`]). Must be positive. Default
    /// [`DEFAULT_MAX_CLIENTS`].
    pub fn max_clients(mut self, max: usize) -> Self {
        self.max_clients = max;
        self
    }

    /// Accounts not handed out by the registry for this long are evicted
    /// (`None`: never for idleness, only at the bound). Must be positive.
    /// Default [`DEFAULT_IDLE_TIMEOUT`].
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Builds the registry, after checking its settings.
    pub fn build(self) -> Result<AccountRegistry<P>, AuthError> {
        if self.max_clients == 0 {
            return Err(AuthError::config(
                "max_clients must be at least 1 (it bounds the clients the registry holds)",
            ));
        }
        if self.idle_timeout.is_some_and(|idle| idle.is_zero()) {
            return Err(AuthError::config(
                "idle_timeout must be positive; use None to evict only at max_clients",
            ));
        }
        let http = match self.http {
            Some(http) => http,
            None => HttpClient::new(self.http_settings)?,
        };
        Ok(AccountRegistry {
            shared: Arc::new(Shared {
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                http,
                configure: self.configure,
                max_clients: self.max_clients,
                idle_timeout: self.idle_timeout,
                state: Mutex::new(State::default()),
                counters: Counters::default(),
            }),
        })
    }
}

/// A snapshot of a registry's counters, for operators: totals over all
/// accounts, never per account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryStats {
    /// Clients the registry holds now (accounts being built included).
    pub clients: usize,
    /// Clients built ([`AccountRegistry::get_or_create`] for an account the
    /// registry did not hold).
    pub builds: u64,
    /// Builds that failed (the builder refused the configuration).
    pub build_failures: u64,
    /// Calls answered with a client the registry held.
    pub hits: u64,
    /// Accounts evicted after [`AccountRegistryBuilder::idle_timeout`].
    pub evicted_idle: u64,
    /// Accounts evicted as the least recently used, at
    /// [`AccountRegistryBuilder::max_clients`].
    pub evicted_lru: u64,
    /// Of `evicted_lru`, the clients a caller still held (every client was
    /// in use): a sign that `max_clients` is too low for the accounts in
    /// use at once.
    pub evicted_in_use: u64,
    /// Accounts removed with [`AccountRegistry::remove`].
    pub removed: u64,
    /// [`get_or_create`](AccountRegistry::get_or_create) calls whose provider
    /// carried other secrets than the account's client (which kept its own).
    pub secret_mismatches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    builds: AtomicU64,
    build_failures: AtomicU64,
    hits: AtomicU64,
    evicted_idle: AtomicU64,
    evicted_lru: AtomicU64,
    evicted_in_use: AtomicU64,
    removed: AtomicU64,
    secret_mismatches: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// The clients of many accounts of one provider, keyed by account identity:
/// [`Provider::cache_key`] (provider, base URL, user name ...), never a
/// secret.
///
/// ```rust,no_run
/// # use auth_core::{AccountRegistry, AuthError, Provider};
/// # fn demo<P: Provider>(configs: Vec<P>) -> Result<(), AuthError> {
/// let registry = AccountRegistry::<P>::builder()
///     .max_clients(5_000)
///     .idle_timeout(Some(std::time::Duration::from_secs(30 * 60)))
///     .build()?;
/// for provider in configs {
///     let client = registry.get_or_create(provider)?; // built once per account
///     # let _ = client;
/// }
/// # Ok(()) }
/// ```
///
/// * **Built once.** [`get_or_create`](Self::get_or_create) returns the
///   account's client, building it from the provider on first use. However
///   many tasks ask for one account at once, one client is built; the
///   others wait for it (a build does no I/O: the first call on the client
///   logs in). Accounts are built in parallel with each other.
/// * **Bounded.** At [`max_clients`](AccountRegistryBuilder::max_clients),
///   creating a client first evicts the least recently used account (the
///   one handed out longest ago) whose client no caller holds; when every
///   client is held, the least recently used one all the same
///   ([`RegistryStats::evicted_in_use`]). Accounts being built are never
///   evicted, so the bound may be exceeded by those for the time of their
///   build.
/// * **Idle eviction.** An account not handed out (by `get_or_create` or
///   [`get`](Self::get)) for [`idle_timeout`](AccountRegistryBuilder::idle_timeout)
///   is evicted by the next call of either, or by
///   [`evict_idle`](Self::evict_idle); the check costs nothing when no account
///   is idle (accounts are kept in order of last use). No background task.
///   An account whose client a caller (a job, a login in flight) still
///   holds is in use, not idle: evicting it would free nothing and the
///   next `get_or_create` would build a second client for it.
/// * **Eviction drops the registry's handle only.** Nothing is logged out:
///   the session stays in the store, and the account's next client adopts
///   it instead of logging in. A caller still holding a client evicted at
///   the bound (or removed) keeps a working client.
/// * **Secrets.** A provider passed to `get_or_create` for an account the
///   registry holds is only an identity: the existing client wins and keeps
///   its secrets, never two clients for one account. When the provider's
///   secrets ([`Provider::credential_material`]) differ from the client's,
///   the call is counted ([`RegistryStats::secret_mismatches`]) and logged
///   (once per client); change them with
///   [`rotate_credentials`](Self::rotate_credentials), or
///   [`remove`](Self::remove) the account first. An evicted account is
///   built again from the provider given then: keep the configuration
///   source up to date when rotating.
///
/// Cheap to clone; clones share the accounts.
pub struct AccountRegistry<P: Provider> {
    shared: Arc<Shared<P>>,
}

impl<P: Provider> Clone for AccountRegistry<P> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<P: Provider> fmt::Debug for AccountRegistry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRegistry")
            .field("clients", &self.len())
            .field("max_clients", &self.shared.max_clients)
            .field("idle_timeout", &self.shared.idle_timeout)
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

struct Shared<P: Provider> {
    store: Arc<dyn TokenStore>,
    http: HttpClient,
    configure: Option<Arc<Configure<P>>>,
    max_clients: usize,
    idle_timeout: Option<Duration>,
    state: Mutex<State<P>>,
    counters: Counters,
}

impl<P: Provider> Shared<P> {
    /// The map is never locked while user code (a build) runs, so it is
    /// never poisoned by a panic there.
    fn lock(&self) -> MutexGuard<'_, State<P>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One account: its client once built. Waiters for a build queue on
/// `building`.
struct Slot<P: Provider> {
    client: OnceLock<Authenticated<P>>,
    building: Mutex<()>,
    mismatch_logged: AtomicBool,
}

impl<P: Provider> Slot<P> {
    /// Whether a caller (or a task of the client, such as a login) holds
    /// the client besides the registry; `None` while it is being built.
    /// Called under the registry's lock, where the registry hands out no
    /// clone, so a `false` holds until the lock is released.
    fn held_elsewhere(&self) -> Option<bool> {
        self.client
            .get()
            .map(|client| Arc::strong_count(&client.inner) > 1)
    }

    fn evicted(&self, outcome: &'static str) {
        if let Some(client) = self.client.get() {
            metrics::registry_eviction(client.provider().name(), outcome);
        }
    }

    fn new() -> Self {
        Self {
            client: OnceLock::new(),
            building: Mutex::new(()),
            mismatch_logged: AtomicBool::new(false),
        }
    }
}

struct Entry<P: Provider> {
    slot: Arc<Slot<P>>,
    /// Position in `State::order`.
    tick: u64,
    last_used: Instant,
}

/// The accounts, and their order of last use (oldest first).
struct State<P: Provider> {
    entries: HashMap<Arc<str>, Entry<P>>,
    order: BTreeMap<u64, Arc<str>>,
    tick: u64,
}

impl<P: Provider> Default for State<P> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }
}

impl<P: Provider> State<P> {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn insert(&mut self, key: Arc<str>, slot: Arc<Slot<P>>, now: Instant) {
        let tick = self.next_tick();
        self.order.insert(tick, Arc::clone(&key));
        self.entries.insert(
            key,
            Entry {
                slot,
                tick,
                last_used: now,
            },
        );
    }

    /// Marks `key` used now; returns its slot.
    fn touch(&mut self, key: &str, now: Instant) -> Option<Arc<Slot<P>>> {
        let tick = self.next_tick();
        let (key, entry) = self.entries.get_key_value(key)?;
        let key = Arc::clone(key);
        let old = entry.tick;
        let entry = self.entries.get_mut(&key)?;
        entry.tick = tick;
        entry.last_used = now;
        let slot = Arc::clone(&entry.slot);
        self.order.remove(&old);
        self.order.insert(tick, key);
        Some(slot)
    }

    fn take(&mut self, key: &str) -> Option<Arc<Slot<P>>> {
        let entry = self.entries.remove(key)?;
        self.order.remove(&entry.tick);
        Some(entry.slot)
    }

    /// Whether `key` is still held by `slot` (not removed or replaced).
    fn holds(&self, key: &str, slot: &Arc<Slot<P>>) -> bool {
        self.entries
            .get(key)
            .is_some_and(|entry| Arc::ptr_eq(&entry.slot, slot))
    }

    /// Moves the built accounts idle for `idle` or longer into `evicted`.
    /// An idle account whose client a caller still holds is in use: it is
    /// marked used now instead (evicting it would free nothing, and the
    /// next `get_or_create` would build a second client for the account).
    fn take_idle(&mut self, now: Instant, idle: Duration, evicted: &mut Vec<Arc<Slot<P>>>) -> u64 {
        let mut idle_keys = Vec::new();
        let mut held_keys = Vec::new();
        for key in self.order.values() {
            let entry = &self.entries[key];
            if now.saturating_duration_since(entry.last_used) < idle {
                break;
            }
            match entry.slot.held_elsewhere() {
                None => {}
                Some(true) => held_keys.push(Arc::clone(key)),
                Some(false) => idle_keys.push(Arc::clone(key)),
            }
        }
        for key in &held_keys {
            self.touch(key, now);
        }
        for key in &idle_keys {
            evicted.extend(self.take(key).inspect(|slot| slot.evicted("idle")));
        }
        idle_keys.len() as u64
    }

    /// Evicts built accounts until one more fits under `max`: the least
    /// recently used one whose client no caller holds, else the least
    /// recently used one. Stops early when only accounts being built are
    /// left. Returns the evictions, and those of clients held elsewhere.
    fn make_room(&mut self, max: usize, evicted: &mut Vec<Arc<Slot<P>>>) -> (u64, u64) {
        let (mut count, mut in_use) = (0, 0);
        while self.entries.len() >= max {
            let mut oldest = None;
            let mut oldest_free = None;
            for key in self.order.values() {
                match self.entries[key].slot.held_elsewhere() {
                    None => continue,
                    Some(false) => {
                        oldest_free = Some(key);
                        break;
                    }
                    Some(true) => {
                        oldest.get_or_insert(key);
                    }
                }
            }
            let Some(key) = oldest_free.or(oldest).cloned() else {
                break;
            };
            if oldest_free.is_none() {
                in_use += 1;
            }
            evicted.extend(self.take(&key).inspect(|slot| slot.evicted("bound")));
            count += 1;
        }
        (count, in_use)
    }
}

/// Removes a slot whose build did not finish (an error, or a panic in the
/// configuration closure), so that the next caller builds anew.
struct PendingBuild<'a, P: Provider> {
    shared: &'a Shared<P>,
    key: &'a str,
    slot: &'a Arc<Slot<P>>,
}

impl<P: Provider> Drop for PendingBuild<'_, P> {
    fn drop(&mut self) {
        if self.slot.client.get().is_some() {
            return;
        }
        let mut state = self.shared.lock();
        if state.holds(self.key, self.slot) {
            state.take(self.key);
        }
    }
}

enum Lookup<P: Provider> {
    Hit(Arc<Slot<P>>, Authenticated<P>),
    Pending(Arc<Slot<P>>),
}

impl<P: Provider> AccountRegistry<P> {
    /// A registry with the default settings: a [`MemoryStore`] and an
    /// [`HttpClient`] shared by its clients, [`DEFAULT_MAX_CLIENTS`],
    /// [`DEFAULT_IDLE_TIMEOUT`].
    pub fn new() -> Result<Self, AuthError> {
        Self::builder().build()
    }

    /// A builder to adjust the settings.
    pub fn builder() -> AccountRegistryBuilder<P> {
        AccountRegistryBuilder::default()
    }

    /// The client of `provider`'s account ([`Provider::cache_key`]): the one
    /// the registry holds, or a new one built from `provider` with the
    /// registry's settings. Concurrent calls for one account build one
    /// client; the others wait for it and get it.
    ///
    /// For an account the registry holds, `provider` only names the account:
    /// the existing client is returned with its own secrets (see "Secrets"
    /// on [`AccountRegistry`]). Errors: the client builder's (nothing is
    /// kept then; the next call tries again).
    ///
    /// Synchronous, so usable outside a runtime: a build does no I/O (it
    /// sets up the client's HTTP clients, a few milliseconds at most), and a
    /// caller asking for an account being built waits that long on its
    /// thread. Logging in happens on the client's first call.
    pub fn get_or_create(&self, provider: P) -> Result<Authenticated<P>, AuthError> {
        let key: Arc<str> = provider.cache_key().into();
        let mut evicted = Vec::new();
        let result = loop {
            let lookup = {
                let now = Instant::now();
                let mut state = self.shared.lock();
                self.prune(&mut state, now, &mut evicted);
                match state.touch(&key, now) {
                    Some(slot) => match slot.client.get().cloned() {
                        Some(client) => Lookup::Hit(slot, client),
                        None => Lookup::Pending(slot),
                    },
                    None => {
                        let (lru, in_use) = state.make_room(self.shared.max_clients, &mut evicted);
                        bump(&self.shared.counters.evicted_lru, lru);
                        bump(&self.shared.counters.evicted_in_use, in_use);
                        let slot = Arc::new(Slot::new());
                        state.insert(Arc::clone(&key), Arc::clone(&slot), now);
                        Lookup::Pending(slot)
                    }
                }
            };
            let slot = match lookup {
                Lookup::Hit(slot, client) => break Ok(self.hit(&slot, client, &provider)),
                Lookup::Pending(slot) => slot,
            };
            let _building = slot.building.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(client) = slot.client.get().cloned() {
                break Ok(self.hit(&slot, client, &provider));
            }
            if !self.shared.lock().holds(&key, &slot) {
                // The build we waited for failed and its slot is gone.
                continue;
            }
            let pending = PendingBuild {
                shared: &self.shared,
                key: &key,
                slot: &slot,
            };
            let built = self.build(provider);
            match built {
                Ok(client) => {
                    let _ = slot.client.set(client.clone());
                    drop(pending);
                    bump(&self.shared.counters.builds, 1);
                    metrics::registry_build(client.provider().name());
                    break Ok(client);
                }
                Err(error) => {
                    drop(pending);
                    bump(&self.shared.counters.build_failures, 1);
                    break Err(error);
                }
            }
        };
        // Dropped here, outside the lock: the last handle of an evicted
        // client stops its keep-alive task and its connection pools.
        drop(evicted);
        result
    }

    /// The client of the account `key`, if the registry holds it (marked as
    /// used, like [`get_or_create`](Self::get_or_create)).
    pub fn get(&self, key: &str) -> Option<Authenticated<P>> {
        let mut evicted = Vec::new();
        let client = {
            let now = Instant::now();
            let mut state = self.shared.lock();
            self.prune(&mut state, now, &mut evicted);
            state.touch(key, now)?.client.get().cloned()
        };
        drop(evicted);
        if let Some(client) = &client {
            bump(&self.shared.counters.hits, 1);
            metrics::registry_hit(client.provider().name());
        }
        client
    }

    /// Whether the registry holds the account `key` (not marked as used).
    pub fn contains(&self, key: &str) -> bool {
        self.shared.lock().entries.contains_key(key)
    }

    /// Removes the account `key` and returns its client. Nothing is logged
    /// out: call `logout()` on the returned client to end the session too
    /// (for an account that is being deleted). Clones held elsewhere keep
    /// working.
    pub fn remove(&self, key: &str) -> Option<Authenticated<P>> {
        let slot = self.shared.lock().take(key)?;
        bump(&self.shared.counters.removed, 1);
        slot.client.get().cloned()
    }

    /// Evicts the accounts idle for the idle timeout or longer now, and
    /// returns how many. `get_or_create` and `get` do this as they go;
    /// call this from a periodic job when the registry may see no calls
    /// for long.
    pub fn evict_idle(&self) -> usize {
        let mut evicted = Vec::new();
        {
            let mut state = self.shared.lock();
            self.prune(&mut state, Instant::now(), &mut evicted);
        }
        evicted.len()
    }

    /// How many accounts the registry holds (accounts being built
    /// included; idle ones are counted until they are evicted).
    pub fn len(&self) -> usize {
        self.shared.lock().entries.len()
    }

    /// Whether the registry holds no account.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of the accounts held now, least recently used first.
    pub fn keys(&self) -> Vec<String> {
        self.shared
            .lock()
            .order
            .values()
            .map(|key| key.to_string())
            .collect()
    }

    /// The registry's counters.
    pub fn stats(&self) -> RegistryStats {
        let c = &self.shared.counters;
        RegistryStats {
            clients: self.len(),
            builds: c.builds.load(Ordering::Relaxed),
            build_failures: c.build_failures.load(Ordering::Relaxed),
            hits: c.hits.load(Ordering::Relaxed),
            evicted_idle: c.evicted_idle.load(Ordering::Relaxed),
            evicted_lru: c.evicted_lru.load(Ordering::Relaxed),
            evicted_in_use: c.evicted_in_use.load(Ordering::Relaxed),
            removed: c.removed.load(Ordering::Relaxed),
            secret_mismatches: c.secret_mismatches.load(Ordering::Relaxed),
        }
    }

    /// The store the registry's clients are built with (unless the
    /// configuration closure replaced it).
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.shared.store
    }

    /// The HTTP client the registry's clients share (unless the
    /// configuration closure gave them their own).
    pub fn http(&self) -> &HttpClient {
        &self.shared.http
    }

    fn prune(&self, state: &mut State<P>, now: Instant, evicted: &mut Vec<Arc<Slot<P>>>) {
        if let Some(idle) = self.shared.idle_timeout {
            let count = state.take_idle(now, idle, evicted);
            bump(&self.shared.counters.evicted_idle, count);
        }
    }

    fn build(&self, provider: P) -> Result<Authenticated<P>, AuthError> {
        let builder = Authenticated::builder(provider)
            .store(Arc::clone(&self.shared.store))
            .http(self.shared.http.clone());
        match &self.shared.configure {
            Some(configure) => configure(builder).build(),
            None => builder.build(),
        }
    }

    /// A call answered with the account's client: counts it, and reports a
    /// provider whose secrets differ from the client's.
    fn hit(&self, slot: &Slot<P>, client: Authenticated<P>, provider: &P) -> Authenticated<P> {
        bump(&self.shared.counters.hits, 1);
        metrics::registry_hit(client.provider().name());
        if same_secrets(provider, client.provider()) == Some(false) {
            bump(&self.shared.counters.secret_mismatches, 1);
            if !slot.mismatch_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    provider = client.provider().name(),
                    account = client.cache_key(),
                    "get_or_create was given other secrets for an account the registry holds; its client keeps its own: call the registry's rotate_credentials to change them"
                );
            }
        }
        client
    }
}

impl<P: RotateCredentials> AccountRegistry<P> {
    /// The slot and built client of the account `key`, without marking it
    /// as used.
    fn held(&self, key: &str) -> Option<(Arc<Slot<P>>, Authenticated<P>)> {
        let state = self.shared.lock();
        let slot = Arc::clone(&state.entries.get(key)?.slot);
        let client = slot.client.get().cloned()?;
        Some((slot, client))
    }

    /// Replaces the secrets of the account `key`'s client (see
    /// [`Authenticated::rotate_credentials`]): its next login uses them,
    /// its session keeps serving. Clones of the client share the change.
    /// Does not mark the account as used.
    ///
    /// Errors: [`AuthError::UnknownAccount`] when the registry does not
    /// hold the account (then build it with
    /// [`get_or_create`](Self::get_or_create) from a configuration carrying
    /// the new secrets), or the provider's checks of the new secrets.
    pub async fn rotate_credentials(
        &self,
        key: &str,
        secrets: P::Secrets,
    ) -> Result<(), AuthError> {
        let Some((slot, client)) = self.held(key) else {
            return Err(AuthError::UnknownAccount {
                key: key.to_owned(),
            });
        };
        client.rotate_credentials(secrets).await?;
        slot.mismatch_logged.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// [`get_or_create`](Self::get_or_create) for an application that
    /// reloads its accounts' configurations: when the registry holds the
    /// account and `provider` (built from its current configuration) has
    /// other secrets than the client, the client is rotated to them first
    /// ([`Authenticated::rotate_to`]: the next login uses them, the session
    /// keeps serving). Same secrets: the client as it is. Account not held:
    /// built from `provider`.
    ///
    /// Errors: the provider's checks of the new secrets (nothing replaced),
    /// or the build's.
    pub async fn get_or_update(&self, provider: P) -> Result<Authenticated<P>, AuthError> {
        let key = provider.cache_key();
        let Some((slot, client)) = self.held(&key) else {
            return self.get_or_create(provider);
        };
        // A provider that reports no material: rotate, which is harmless
        // when the secrets are the same.
        if same_secrets(&provider, client.provider()) != Some(true) {
            client.rotate_to(&provider).await?;
            slot.mismatch_logged.store(false, Ordering::Relaxed);
        }
        // Marks the account as used and counts the hit, as any lookup.
        Ok(self.get(&key).unwrap_or(client))
    }
}

/// Whether two providers of one account log in with the same secrets
/// (their [`Provider::credential_material`]); `None` when either does not
/// report it.
fn same_secrets<P: Provider>(a: &P, b: &P) -> Option<bool> {
    Some(a.credential_material()?.expose_secret() == b.credential_material()?.expose_secret())
}
