//! Cached `Authenticated::session()` hot path: single-threaded and with every
//! core contending, plus the number of heap allocations per cached read.
//!
//! Run: `cargo bench -p auth-core --bench session`

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use auth_core::reqwest::RequestBuilder;
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, NewSession, Provider, Session, async_trait,
};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug)]
struct Static(auth_core::url::Url);

#[async_trait]
impl Provider for Static {
    type Data = ();
    fn name(&self) -> &'static str {
        "bench"
    }
    fn cache_key(&self) -> String {
        "bench:key".into()
    }
    fn base_url(&self) -> &auth_core::url::Url {
        &self.0
    }
    async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        Ok(NewSession::new(
            SecretString::from("bench-token"),
            Expiry::AfterIssue(Duration::from_secs(3600)),
            (),
        ))
    }
    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }
}

/// Polls a cached `session()` once: the hot path completes without waiting.
fn cached_read(client: &Authenticated<Static>) -> Arc<Session<()>> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(client.session());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(session)) => session,
        Poll::Ready(Err(e)) => panic!("cached read failed: {e}"),
        Poll::Pending => panic!("cached read waited"),
    }
}

fn warm_client(rt: &tokio::runtime::Runtime) -> Authenticated<Static> {
    let client =
        Authenticated::new(Static("https://bench.example".parse().expect("url"))).expect("client");
    rt.block_on(client.session()).expect("login");
    client
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = warm_client(&rt);

    let allocs = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            std::hint::black_box(cached_read(&client));
        }
    });
    println!(
        "allocations in 10,000 cached session() reads: {} ({} bytes)",
        allocs.count_total, allocs.bytes_total
    );

    let mut group = c.benchmark_group("session");
    group.bench_function("cached_single_thread", |b| {
        b.iter(|| std::hint::black_box(cached_read(&client)))
    });

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    group.bench_function(format!("cached_contended_{threads}_threads"), |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let client = client.clone();
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        for _ in 0..iters {
                            std::hint::black_box(cached_read(&client));
                        }
                        start.elapsed()
                    })
                })
                .collect();
            // Per-call latency as each thread saw it, all cores busy.
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
