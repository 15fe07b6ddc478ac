//! Overhead of `Authenticated::send` over raw `reqwest` with a fixed header,
//! against a loopback server: sequential and 64 concurrent tasks.
//!
//! Criterion measures each side; then interleaved rounds (raw, auth, raw,
//! auth ...) give the ratio side by side in one run, printed at the end.
//!
//! Run: `cargo bench -p auth-core --bench overhead`

use std::time::{Duration, Instant};

use auth_core::reqwest::{Client, RequestBuilder};
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, HttpSettings, NewSession, Provider, Session,
    async_trait,
};
use axum::Router;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::{ExposeSecret, SecretString};

const TOKEN: &str = "bench-token-0123456789abcdef";
const SEQUENTIAL: usize = 200;
const TASKS: usize = 64;
const PER_TASK: usize = 8;

#[derive(Debug)]
struct Fixed(auth_core::url::Url);

#[async_trait]
impl Provider for Fixed {
    type Data = ();
    fn name(&self) -> &'static str {
        "bench"
    }
    fn cache_key(&self) -> String {
        "bench:overhead".into()
    }
    fn base_url(&self) -> &auth_core::url::Url {
        &self.0
    }
    async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        Ok(NewSession::new(
            SecretString::from(TOKEN),
            Expiry::AfterIssue(Duration::from_secs(3600)),
            (),
        ))
    }
    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(session.token().expose_secret())
    }
}

async fn serve() -> String {
    let app = Router::new().route("/data", get(|| async { "{\"ok\":true}" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/data")
}

#[derive(Clone)]
struct Sides {
    raw: Client,
    auth: Authenticated<Fixed>,
    url: String,
}

impl Sides {
    async fn raw_once(&self) {
        let r = self
            .raw
            .get(&self.url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("raw send");
        assert!(r.status().is_success());
        r.bytes().await.expect("raw body");
    }

    async fn auth_once(&self) {
        let r = self
            .auth
            .send(self.auth.http().client().get(&self.url))
            .await
            .expect("auth send");
        assert!(r.status().is_success());
        r.bytes().await.expect("auth body");
    }

    async fn sequential(&self, auth: bool) {
        for _ in 0..SEQUENTIAL {
            if auth {
                self.auth_once().await;
            } else {
                self.raw_once().await;
            }
        }
    }

    async fn concurrent(&self, auth: bool) {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let sides = self.clone();
                tokio::spawn(async move {
                    for _ in 0..PER_TASK {
                        if auth {
                            sides.auth_once().await;
                        } else {
                            sides.raw_once().await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sides = rt.block_on(async {
        let url = serve().await;
        // Same settings on both sides: one reqwest::Client configuration.
        let http = HttpClient::new(HttpSettings::default()).expect("client");
        let auth = Authenticated::builder(Fixed(url.parse().expect("url")))
            .http_client(http.client().clone())
            .build()
            .expect("auth");
        auth.session().await.expect("login");
        Sides {
            raw: http.client().clone(),
            auth,
            url,
        }
    });

    let mut group = c.benchmark_group("overhead");
    group.sample_size(20);
    for (name, auth) in [("raw", false), ("auth", true)] {
        group.bench_function(format!("sequential_{SEQUENTIAL}_{name}"), |b| {
            b.to_async(&rt).iter(|| sides.sequential(auth))
        });
        group.bench_function(format!("concurrent_{TASKS}x{PER_TASK}_{name}"), |b| {
            b.to_async(&rt).iter(|| sides.concurrent(auth))
        });
    }
    group.finish();

    // Side by side: alternate the two, many rounds, compare medians.
    for (label, concurrent) in [("sequential", false), ("concurrent", true)] {
        let mut raw = Vec::new();
        let mut auth = Vec::new();
        for round in 0..30 {
            // ABBA order, so drift in machine load hits both sides alike.
            let order = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for side in order {
                let out = if side { &mut auth } else { &mut raw };
                let start = Instant::now();
                rt.block_on(async {
                    if concurrent {
                        sides.concurrent(side).await
                    } else {
                        sides.sequential(side).await
                    }
                });
                out.push(start.elapsed());
            }
        }
        raw.sort();
        auth.sort();
        let (r, a) = (raw[raw.len() / 2], auth[auth.len() / 2]);
        println!(
            "overhead {label}: raw median {:.2} ms, auth median {:.2} ms, ratio auth/raw = {:.3}",
            r.as_secs_f64() * 1e3,
            a.as_secs_f64() * 1e3,
            a.as_secs_f64() / r.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
