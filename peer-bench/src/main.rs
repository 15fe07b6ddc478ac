//! `auth-core` side by side with the token caches users pick instead.
//!
//! One run measures every design on the same workload:
//!
//! * logins per token lifetime with 1,000 concurrent callers at cold start,
//!   at expiry and in a 401 storm (every caller holds the same rejected
//!   token and must come back with a fresh one);
//! * the cached read (ns per call), on one thread and with two threads
//!   contending on one cache, designs interleaved round by round.
//!
//! Run: `cargo run --release --manifest-path peer-bench/Cargo.toml`
//! (`ROUNDS=n` changes the number of rounds, default 5).

use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use auth_core::reqwest::RequestBuilder;
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, RefreshPolicy, Session,
    async_trait,
};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::client::identity::{
    Identity, IdentityFuture, ResolveCachedIdentity, ResolveIdentity, SharedIdentityCache,
    SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use secrecy::{ExposeSecret, SecretString};

/// Concurrent callers in each amplification scenario.
const CALLERS: usize = 1000;
/// How long the fake login takes (the network round trip to the provider).
const LOGIN_LATENCY: Duration = Duration::from_millis(20);
/// Token lifetime in the amplification scenarios.
const SHORT_LIFETIME: Duration = Duration::from_millis(1500);
/// Token lifetime for the cached-read measurements (never expires during them).
const LONG_LIFETIME: Duration = Duration::from_secs(3600);
/// The rejected requests of a 401 storm come back spread over this window
/// (they were sent over it): 2.5 logins long.
const STORM_SPREAD: Duration = Duration::from_millis(50);
/// Target duration of one cached-read sample.
const SAMPLE_TARGET: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The fake provider every design logs in to.

/// A token as the fake provider issues it.
#[derive(Debug)]
struct Token {
    value: String,
    expires_at: Instant,
    expires_at_system: SystemTime,
}

/// Counts logins; each takes [`LOGIN_LATENCY`] and issues `tok-<n>`.
#[derive(Debug)]
struct Backend {
    logins: AtomicU64,
    lifetime: Duration,
}

impl Backend {
    fn new(lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            logins: AtomicU64::new(0),
            lifetime,
        })
    }

    fn logins(&self) -> u64 {
        self.logins.load(Ordering::SeqCst)
    }

    async fn login(&self) -> Token {
        tokio::time::sleep(LOGIN_LATENCY).await;
        let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
        Token {
            value: format!("tok-{n}"),
            expires_at: Instant::now() + self.lifetime,
            expires_at_system: SystemTime::now() + self.lifetime,
        }
    }
}

// ---------------------------------------------------------------------------
// The designs.

/// A token cache as a caller uses it.
trait Design: Send + Sync + 'static {
    /// Row label in the table.
    const NAME: &'static str;
    /// Whether the design can be told that a token was rejected.
    const HANDLES_401: bool = true;
    /// What a read hands back.
    type Tok: Clone + Send + Sync + 'static;

    fn new(backend: Arc<Backend>) -> Self;

    /// A valid token: the cached one, or a login.
    fn token(&self) -> impl Future<Output = Self::Tok> + Send + '_;

    /// The provider rejected `failed` (HTTP 401): forget it and return a
    /// fresh token. `None` when the design has no way to be told.
    fn after_rejection<'a>(
        &'a self,
        failed: &'a Self::Tok,
    ) -> Option<impl Future<Output = Self::Tok> + Send + 'a>;

    /// The token string, to check that callers got a fresh one.
    fn value(tok: &Self::Tok) -> &str;
}

/// This engine: `Authenticated<P>` with a `Provider` whose login is the fake.
struct Engine {
    client: Authenticated<FakeProvider>,
}

#[derive(Debug)]
struct FakeProvider {
    backend: Arc<Backend>,
}

#[async_trait]
impl Provider for FakeProvider {
    type Data = ();
    fn name(&self) -> &'static str {
        "peer-bench"
    }
    fn cache_key(&self) -> String {
        "peer-bench:account".into()
    }
    async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        let token = self.backend.login().await;
        Ok(NewSession::new(
            SecretString::from(token.value),
            Expiry::AfterIssue(self.backend.lifetime),
            (),
        ))
    }
    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }
}

impl Design for Engine {
    const NAME: &'static str = "auth-core `Authenticated`";
    type Tok = Arc<Session<()>>;

    fn new(backend: Arc<Backend>) -> Self {
        let client = Authenticated::builder(FakeProvider { backend })
            // No refresh ahead: the peers have none either (smithy's buffer
            // time is set to zero too), so this measures expiry itself.
            .refresh_policy(RefreshPolicy {
                margin: Duration::ZERO,
                jitter: Duration::ZERO,
            })
            // The bench's 1.5 s tokens are below the engine's default 5 s
            // floor; the peers have no floor, so measure expiry itself.
            .min_login_interval(Duration::ZERO)
            .build()
            .expect("client");
        Self { client }
    }

    async fn token(&self) -> Self::Tok {
        self.client.session().await.expect("session")
    }

    fn after_rejection<'a>(
        &'a self,
        failed: &'a Self::Tok,
    ) -> Option<impl Future<Output = Self::Tok> + Send + 'a> {
        Some(async move {
            // What `send` does on a 401: drop that generation only.
            self.client.invalidate(failed).await;
            self.client.session().await.expect("session")
        })
    }

    fn value(tok: &Self::Tok) -> &str {
        tok.token().expose_secret()
    }
}

/// aws-smithy-runtime's lazy identity cache (what the AWS SDK puts in front
/// of every credentials provider), with a resolver that counts its calls.
struct Smithy {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: RuntimeComponents,
    config: ConfigBag,
}

#[derive(Debug)]
struct CountingResolver {
    backend: Arc<Backend>,
}

impl ResolveIdentity for CountingResolver {
    fn resolve_identity<'a>(
        &'a self,
        _runtime_components: &'a RuntimeComponents,
        _config_bag: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        IdentityFuture::new(async move {
            let token = self.backend.login().await;
            let expiration = token.expires_at_system;
            Ok(Identity::new(token, Some(expiration)))
        })
    }
}

impl Design for Smithy {
    const NAME: &'static str = "aws-smithy `IdentityCache::lazy()`";
    const HANDLES_401: bool = false;
    type Tok = Identity;

    fn new(backend: Arc<Backend>) -> Self {
        let cache = IdentityCache::lazy()
            // Default 10 s: reload that long before expiry. Zero, as for the
            // other designs, so this measures expiry itself.
            .buffer_time(Duration::ZERO)
            .load_timeout(Duration::from_secs(5))
            .build();
        // The lazy cache reads only the time source and the sleep impl; the
        // other required components (endpoint, retry, auth scheme...) are
        // smithy's own placeholders, never called here.
        let components = RuntimeComponentsBuilder::for_tests()
            .with_time_source(Some(SystemTimeSource::new()))
            .with_sleep_impl(Some(TokioSleep::new()))
            .with_identity_cache(Some(cache.clone()))
            .build()
            .expect("runtime components");
        Self {
            cache,
            resolver: SharedIdentityResolver::new(CountingResolver { backend }),
            components,
            config: ConfigBag::base(),
        }
    }

    async fn token(&self) -> Self::Tok {
        // What the orchestrator does for every request.
        self.cache
            .resolve_cached_identity(self.resolver.clone(), &self.components, &self.config)
            .await
            .expect("identity")
    }

    fn after_rejection<'a>(
        &'a self,
        _failed: &'a Self::Tok,
    ) -> Option<impl Future<Output = Self::Tok> + Send + 'a> {
        // The lazy cache has no invalidation: it reloads at expiry only.
        None::<std::future::Ready<Identity>>
    }

    fn value(tok: &Self::Tok) -> &str {
        &tok.data::<Token>().expect("token identity").value
    }
}

/// moka's `future::Cache` with per-entry expiry and `get_with` (which
/// coalesces concurrent loads of one key).
struct Moka {
    backend: Arc<Backend>,
    cache: moka::future::Cache<(), Arc<Token>>,
}

/// Expires an entry when its token does.
struct TokenExpiry;

impl moka::Expiry<(), Arc<Token>> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &(),
        value: &Arc<Token>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.expires_at.saturating_duration_since(created_at))
    }
}

impl Design for Moka {
    const NAME: &'static str = "moka `future::Cache::get_with`";
    type Tok = Arc<Token>;

    fn new(backend: Arc<Backend>) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(1)
            .expire_after(TokenExpiry)
            .build();
        Self { backend, cache }
    }

    fn token(&self) -> impl Future<Output = Self::Tok> + Send + '_ {
        self.cache
            .get_with((), async { Arc::new(self.backend.login().await) })
    }

    fn after_rejection<'a>(
        &'a self,
        _failed: &'a Self::Tok,
    ) -> Option<impl Future<Output = Self::Tok> + Send + 'a> {
        Some(async move {
            self.cache.invalidate(&()).await;
            self.token().await
        })
    }

    fn value(tok: &Self::Tok) -> &str {
        &tok.value
    }
}

/// Hand-rolled: `tokio::sync::Mutex<Option<Token>>`, log in while holding the
/// lock.
struct HandMutex {
    backend: Arc<Backend>,
    slot: tokio::sync::Mutex<Option<Arc<Token>>>,
}

impl Design for HandMutex {
    const NAME: &'static str = "hand-rolled `Mutex<Option<Token>>`";
    type Tok = Arc<Token>;

    fn new(backend: Arc<Backend>) -> Self {
        Self {
            backend,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    async fn token(&self) -> Self::Tok {
        let mut slot = self.slot.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.expires_at > Instant::now()) {
            return Arc::clone(token);
        }
        let token = Arc::new(self.backend.login().await);
        *slot = Some(Arc::clone(&token));
        token
    }

    fn after_rejection<'a>(
        &'a self,
        failed: &'a Self::Tok,
    ) -> Option<impl Future<Output = Self::Tok> + Send + 'a> {
        Some(async move {
            {
                let mut slot = self.slot.lock().await;
                // Clear it only if it is still the token that failed.
                if slot.as_ref().is_some_and(|t| t.value == failed.value) {
                    *slot = None;
                }
            }
            self.token().await
        })
    }

    fn value(tok: &Self::Tok) -> &str {
        &tok.value
    }
}

/// Hand-rolled: `tokio::sync::RwLock<Option<Token>>`, read lock on the fast
/// path; on a miss, write lock and check again before logging in.
struct HandRwLock {
    backend: Arc<Backend>,
    slot: tokio::sync::RwLock<Option<Arc<Token>>>,
}

impl Design for HandRwLock {
    const NAME: &'static str = "hand-rolled `RwLock` + re-check";
    type Tok = Arc<Token>;

    fn new(backend: Arc<Backend>) -> Self {
        Self {
            backend,
            slot: tokio::sync::RwLock::new(None),
        }
    }

    async fn token(&self) -> Self::Tok {
        if let Some(token) = self
            .slot
            .read()
            .await
            .as_ref()
            .filter(|t| t.expires_at > Instant::now())
        {
            return Arc::clone(token);
        }
        let mut slot = self.slot.write().await;
        // Another caller may have logged in while we waited.
        if let Some(token) = slot.as_ref().filter(|t| t.expires_at > Instant::now()) {
            return Arc::clone(token);
        }
        let token = Arc::new(self.backend.login().await);
        *slot = Some(Arc::clone(&token));
        token
    }

    fn after_rejection<'a>(
        &'a self,
        failed: &'a Self::Tok,
    ) -> Option<impl Future<Output = Self::Tok> + Send + 'a> {
        Some(async move {
            {
                let mut slot = self.slot.write().await;
                if slot.as_ref().is_some_and(|t| t.value == failed.value) {
                    *slot = None;
                }
            }
            self.token().await
        })
    }

    fn value(tok: &Self::Tok) -> &str {
        &tok.value
    }
}

// ---------------------------------------------------------------------------
// Amplification: logins per token lifetime.

/// Logins made in each scenario of one round.
#[derive(Debug, Clone, Copy, Default)]
struct Logins {
    cold: u64,
    expiry: u64,
    /// `None`: the design cannot be told about a 401.
    storm_spread: Option<u64>,
    storm_at_once: Option<u64>,
}

/// `CALLERS` tasks ask for a token at the same moment.
async fn burst<D: Design>(design: &Arc<D>) {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let design = Arc::clone(design);
            tokio::spawn(async move {
                black_box(design.token().await);
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller");
    }
}

/// Every caller holds the current token; the provider rejects it. Each
/// caller's 401 arrives after its own delay, then it must get a fresh token.
/// Returns the logins made, `None` if the design cannot handle a 401.
async fn storm<D: Design>(design: &Arc<D>, backend: &Backend, delays: &[Duration]) -> Option<u64> {
    let failed = design.token().await;
    if !D::HANDLES_401 {
        return None;
    }
    let before = backend.logins();
    let tasks: Vec<_> = delays
        .iter()
        .map(|&delay| {
            let design = Arc::clone(design);
            let failed = failed.clone();
            tokio::spawn(async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let fresh = design
                    .after_rejection(&failed)
                    .expect("checked above")
                    .await;
                assert_ne!(
                    D::value(&fresh),
                    D::value(&failed),
                    "{}: a caller got the rejected token back",
                    D::NAME
                );
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller");
    }
    Some(backend.logins() - before)
}

async fn amplification<D: Design>(seed: u64) -> Logins {
    let backend = Backend::new(SHORT_LIFETIME);
    let design = Arc::new(D::new(Arc::clone(&backend)));

    burst(&design).await;
    let cold = backend.logins();

    // Let the token expire, then everyone arrives at once.
    tokio::time::sleep(SHORT_LIFETIME + Duration::from_millis(100)).await;
    let before = backend.logins();
    burst(&design).await;
    let expiry = backend.logins() - before;

    // The same arrival pattern for every design in a round.
    let mut rng = fastrand::Rng::with_seed(seed);
    let spread: Vec<Duration> = (0..CALLERS)
        .map(|_| STORM_SPREAD.mul_f64(rng.f64()))
        .collect();
    let storm_spread = storm(&design, &backend, &spread).await;
    let storm_at_once = storm(&design, &backend, &[Duration::ZERO; CALLERS]).await;

    Logins {
        cold,
        expiry,
        storm_spread,
        storm_at_once,
    }
}

// ---------------------------------------------------------------------------
// Cached reads.

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Time of `iters` cached reads on this thread, inside a tokio task as a
/// caller would make them.
fn read_loop<D: Design>(rt: &tokio::runtime::Runtime, design: &D, iters: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(design.token().await);
        }
        start.elapsed()
    })
}

/// Per-call time with `threads` threads reading one cache at once (the
/// slowest thread's time, as in `crates/auth-core/benches/session.rs`).
fn contended<D: Design>(design: &Arc<D>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let design = Arc::clone(design);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let rt = current_thread_runtime();
                // Warm up this thread's runtime and caches.
                read_loop(&rt, &*design, 1000);
                barrier.wait();
                read_loop(&rt, &*design, iters)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("reader thread"))
        .max()
        .unwrap_or_default()
}

/// One design's cached-read samples (ns per call).
struct Reads {
    name: &'static str,
    single: Vec<f64>,
    contended: Vec<f64>,
    /// Run one sample: (single-thread ns, contended ns).
    sample: Box<dyn FnMut() -> (f64, f64)>,
}

fn reads<D: Design>(rt: &tokio::runtime::Runtime) -> Reads {
    let design = Arc::new(D::new(Backend::new(LONG_LIFETIME)));
    // Log in once, on the multi-thread runtime.
    rt.block_on(design.token());
    let local = current_thread_runtime();
    // Calibrate: enough iterations for SAMPLE_TARGET.
    read_loop(&local, &*design, 10_000);
    let probe = read_loop(&local, &*design, 50_000);
    let per_call = probe.as_secs_f64() / 50_000.0;
    let iters = ((SAMPLE_TARGET.as_secs_f64() / per_call) as u64).clamp(50_000, 5_000_000);
    let sample = Box::new(move || {
        let single = read_loop(&local, &*design, iters);
        let both = contended(&design, 2, iters / 2);
        (
            single.as_secs_f64() * 1e9 / iters as f64,
            both.as_secs_f64() * 1e9 / (iters / 2) as f64,
        )
    });
    Reads {
        name: D::NAME,
        single: Vec::new(),
        contended: Vec::new(),
        sample,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------
// Report.

/// Min and max of a column over the rounds ("1" or "1–3").
struct Range(Option<(u64, u64)>);

impl Range {
    fn of(values: impl IntoIterator<Item = Option<u64>>) -> Self {
        let mut range: Option<(u64, u64)> = None;
        for v in values {
            let Some(v) = v else { return Self(None) };
            range = Some(match range {
                None => (v, v),
                Some((lo, hi)) => (lo.min(v), hi.max(v)),
            });
        }
        Self(range)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("n/a"),
            Some((lo, hi)) if lo == hi => write!(f, "{lo}.0"),
            Some((lo, hi)) => write!(f, "{lo}.0–{hi}.0"),
        }
    }
}

fn main() {
    let rounds: u64 = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "peer-bench: {CALLERS} callers, login {LOGIN_LATENCY:?}, lifetime {SHORT_LIFETIME:?}, \
         401s spread over {STORM_SPREAD:?}, {rounds} rounds, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Logins per lifetime: every design once per round, in turn.
    let mut logins: [Vec<Logins>; 5] = Default::default();
    for round in 0..rounds {
        let seed = 0x5eed + round;
        logins[0].push(rt.block_on(amplification::<Engine>(seed)));
        logins[1].push(rt.block_on(amplification::<Smithy>(seed)));
        logins[2].push(rt.block_on(amplification::<Moka>(seed)));
        logins[3].push(rt.block_on(amplification::<HandMutex>(seed)));
        logins[4].push(rt.block_on(amplification::<HandRwLock>(seed)));
        eprintln!("amplification round {}/{rounds} done", round + 1);
    }

    // Cached reads: one sample of each design per round, interleaved.
    let mut designs = [
        reads::<Engine>(&rt),
        reads::<Smithy>(&rt),
        reads::<Moka>(&rt),
        reads::<HandMutex>(&rt),
        reads::<HandRwLock>(&rt),
    ];
    let read_rounds: u64 = std::env::var("READ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    for round in 0..read_rounds {
        // ABCDE, then EDCBA: no design always runs first.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..designs.len()).collect()
        } else {
            (0..designs.len()).rev().collect()
        };
        for i in order {
            let d = &mut designs[i];
            let (single, both) = (d.sample)();
            d.single.push(single);
            d.contended.push(both);
        }
        eprintln!("cached-read round {}/{read_rounds} done", round + 1);
    }

    println!();
    println!(
        "| design | cold start | at expiry | 401 storm (401s over {} ms) | 401 storm (all at once) | cached read, 1 thread | cached read, 2 threads |",
        STORM_SPREAD.as_millis()
    );
    println!("|---|---|---|---|---|---|---|");
    // Ratios to the engine are taken sample by sample (the same round, a
    // moment apart), so load that drifts during the run cancels out.
    let ratio = |mine: &[f64], engine: &[f64]| {
        let ratios: Vec<f64> = mine.iter().zip(engine).map(|(m, e)| m / e).collect();
        median(&ratios)
    };
    let (engine_single, engine_contended) =
        (designs[0].single.clone(), designs[0].contended.clone());
    for (d, l) in designs.iter().zip(&logins) {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} ns ({:.2}×) | {:.0} ns ({:.2}×) |",
            d.name,
            Range::of(l.iter().map(|l| Some(l.cold))),
            Range::of(l.iter().map(|l| Some(l.expiry))),
            Range::of(l.iter().map(|l| l.storm_spread)),
            Range::of(l.iter().map(|l| l.storm_at_once)),
            median(&d.single),
            ratio(&d.single, &engine_single),
            median(&d.contended),
            ratio(&d.contended, &engine_contended),
        );
    }
    println!();
    println!(
        "logins per token lifetime: min–max over {rounds} rounds; cached read: median of {read_rounds} \
         samples, (×) = median of the per-round ratios to auth-core"
    );
    for d in &designs {
        let fmt = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "  {}: 1 thread [{}] ns, 2 threads [{}] ns",
            d.name,
            fmt(&d.single),
            fmt(&d.contended)
        );
    }
}
