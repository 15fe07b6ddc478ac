//! Per-session request limits a provider declares (Wialon: 10 requests in
//! flight per session): requests beyond them queue instead of being sent, a
//! permit is held until the response body is read or dropped, every path
//! that uses the session honours them, and an exclusive section runs alone.
//! Real time on a multi-thread runtime: the point is what the server sees.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::{AuthError, Authenticated, DynAuthenticated, Expiry, RequestLimits};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use common::Fake;

/// What the server saw.
#[derive(Default)]
struct Load {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Arrival instants of `/work` requests, in arrival order.
    arrivals: Mutex<Vec<Instant>>,
    /// Keep-alive requests received.
    keep_alives: AtomicUsize,
    /// Exclusive requests in progress.
    exclusive_active: AtomicUsize,
    /// Requests that ran alongside an exclusive one.
    exclusive_overlaps: AtomicUsize,
}

async fn work(
    State(load): State<Arc<Load>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> (StatusCode, &'static str) {
    let now = load.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    load.max_in_flight.fetch_max(now, Ordering::SeqCst);
    load.arrivals.lock().unwrap().push(Instant::now());
    let exclusive = headers.contains_key("x-exclusive");
    if exclusive {
        if now != 1 {
            load.exclusive_overlaps.fetch_add(1, Ordering::SeqCst);
        }
        load.exclusive_active.fetch_add(1, Ordering::SeqCst);
    } else if load.exclusive_active.load(Ordering::SeqCst) > 0 {
        load.exclusive_overlaps.fetch_add(1, Ordering::SeqCst);
    }
    let ms = query.get("ms").and_then(|m| m.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if exclusive {
        load.exclusive_active.fetch_sub(1, Ordering::SeqCst);
    }
    load.in_flight.fetch_sub(1, Ordering::SeqCst);
    let rejected = headers
        .get("authorization")
        .is_some_and(|v| v == "Bearer tok-1")
        && query.contains_key("reject_first");
    if rejected {
        (StatusCode::UNAUTHORIZED, "expired")
    } else {
        (StatusCode::OK, "done")
    }
}

async fn keep_alive(State(load): State<Arc<Load>>) -> &'static str {
    load.keep_alives.fetch_add(1, Ordering::SeqCst);
    "alive"
}

async fn server() -> (String, Arc<Load>) {
    let load = Arc::new(Load::default());
    let router = Router::new()
        .route("/work", axum::routing::get(work))
        .route("/keep-alive", axum::routing::get(keep_alive))
        .with_state(Arc::clone(&load));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, load)
}

fn limited(base: &str, limits: RequestLimits) -> Authenticated<Fake> {
    let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO).at(base);
    fake.limits = Some(limits);
    Authenticated::new(fake).unwrap()
}

async fn get(c: &Authenticated<Fake>, url: &str) -> Result<u16, AuthError> {
    let response = c.send(c.http().client().get(url)).await?;
    let status = response.status().as_u16();
    response.text().await.unwrap();
    Ok(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_queue_on_every_client_view() {
    let (base, load) = server().await;
    let c = limited(&base, RequestLimits::new().max_in_flight(3));
    let dynamic: Arc<dyn DynAuthenticated> = Arc::new(c.clone());
    let url = format!("{base}/work?ms=30");
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (c, dynamic, url) = (c.clone(), Arc::clone(&dynamic), url.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    get(&c, &url).await
                } else {
                    let rb = dynamic.http_client().get(&url);
                    let response = dynamic.send(rb).await?;
                    let status = response.status().as_u16();
                    response.text().await.unwrap();
                    Ok(status)
                }
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
    let max = load.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 3, "the server saw {max} requests at once");
    assert_eq!(load.arrivals.lock().unwrap().len(), 30);
    assert_eq!(c.stats().logins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_window_holds_more_requests_than_the_rate_allows() {
    let (base, load) = server().await;
    let window = Duration::from_millis(300);
    let c = limited(&base, RequestLimits::new().max_requests(4, window));
    let url = format!("{base}/work");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { get(&c, &url).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
    let mut arrivals = load.arrivals.lock().unwrap().clone();
    arrivals.sort();
    assert_eq!(arrivals.len(), 16);
    // The fifth request after any request arrives a full window later:
    // the client counts a window from the answer, after the arrival.
    for pair in arrivals.windows(5) {
        let span = pair[4] - pair[0];
        assert!(
            span >= window,
            "5 requests within {span:?}: the limit is 4 per {window:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permit_is_held_until_the_body_is_read_or_dropped() {
    let (base, load) = server().await;
    let c = limited(&base, RequestLimits::new().max_in_flight(1));
    let url = format!("{base}/work");
    let first = c.send(c.http().client().get(&url)).await.unwrap();
    let second = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move { c.send(c.http().client().get(&url)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        load.arrivals.lock().unwrap().len(),
        1,
        "the second request went out while the first body was unread"
    );
    assert_eq!(first.text().await.unwrap(), "done");
    let second = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("reading the first body frees the permit")
        .unwrap()
        .unwrap();
    // Dropping a response unread frees the permit too.
    let third = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move { get(&c, &url).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(load.arrivals.lock().unwrap().len(), 2);
    drop(second);
    let third = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("dropping the second response frees the permit");
    assert_eq!(third.unwrap().unwrap(), 200);
    // The response keeps the URL it came from.
    let response = c.send(c.http().client().get(&url)).await.unwrap();
    assert_eq!(response.url().as_str(), url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_waiting_frees_its_permit() {
    let (base, _load) = server().await;
    let c = limited(&base, RequestLimits::new().max_in_flight(1));
    let slow = format!("{base}/work?ms=5000");
    let gave_up = tokio::time::timeout(Duration::from_millis(200), get(&c, &slow)).await;
    assert!(gave_up.is_err(), "the slow request cannot finish in time");
    let fast = format!("{base}/work");
    let status = tokio::time::timeout(Duration::from_secs(2), get(&c, &fast))
        .await
        .expect("the abandoned request's permit was released")
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_is_retried_under_a_limit_of_one() {
    let (base, load) = server().await;
    let c = limited(&base, RequestLimits::new().max_in_flight(1));
    let url = format!("{base}/work?reject_first=1");
    let status = tokio::time::timeout(Duration::from_secs(5), get(&c, &url))
        .await
        .expect("the retry does not wait for the rejected answer's permit")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(load.arrivals.lock().unwrap().len(), 2);
    assert_eq!(c.stats().relogins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_section_runs_alone() {
    let (base, load) = server().await;
    let c = limited(&base, RequestLimits::new().max_in_flight(4));
    let url = format!("{base}/work?ms=20");
    let background: Vec<_> = (0..12)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..3 {
                    assert_eq!(get(&c, &url).await.unwrap(), 200);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let exclusive_url = format!("{base}/work?ms=30");
    let statuses = c
        .exclusive(async {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let rb = c
                    .http()
                    .client()
                    .get(&exclusive_url)
                    .header("x-exclusive", "1");
                let response = c.send(rb).await.unwrap();
                statuses.push(response.status().as_u16());
                response.text().await.unwrap();
            }
            // A section may nest: it is already alone.
            c.exclusive(async {
                let rb = c
                    .http()
                    .client()
                    .get(&exclusive_url)
                    .header("x-exclusive", "1");
                c.send(rb).await.unwrap().status().as_u16()
            })
            .await;
            statuses
        })
        .await;
    assert_eq!(statuses, [200, 200, 200]);
    for task in background {
        task.await.unwrap();
    }
    assert_eq!(load.exclusive_overlaps.load(Ordering::SeqCst), 0);
    assert!(load.max_in_flight.load(Ordering::SeqCst) <= 4);
    assert_eq!(load.arrivals.lock().unwrap().len(), 12 * 3 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_waits_for_a_permit() {
    let (base, load) = server().await;
    let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&base);
    fake.limits = Some(RequestLimits::new().max_in_flight(1));
    fake.keep_alive_url = Some(format!("{base}/keep-alive"));
    let c = Authenticated::new(fake).unwrap();
    let held = c
        .send(c.http().client().get(format!("{base}/work")))
        .await
        .unwrap();
    c.spawn_keep_alive(Duration::from_millis(100)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        load.keep_alives.load(Ordering::SeqCst),
        0,
        "a keep-alive went out while the only permit was held"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(load.keep_alives.load(Ordering::SeqCst) >= 1);
}

#[test]
fn limits_of_zero_are_refused_at_build() {
    for limits in [
        RequestLimits::new().max_in_flight(0),
        RequestLimits::new().max_requests(0, Duration::from_secs(1)),
        RequestLimits::new().max_requests(9, Duration::ZERO),
    ] {
        let err = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO))
            .request_limits(Some(limits))
            .build()
            .unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    }
}

#[test]
fn a_fleet_share_divides_the_limits_and_keeps_at_least_one() {
    let limits = RequestLimits::new()
        .max_in_flight(9)
        .max_requests(9, Duration::from_secs(1));
    let share = limits.shared_by(4);
    assert_eq!(share.in_flight(), Some(2));
    assert_eq!(share.rate(), Some((2, Duration::from_secs(1))));
    let tiny = limits.shared_by(20);
    assert_eq!(tiny.in_flight(), Some(1));
    assert_eq!(tiny.rate(), Some((1, Duration::from_secs(1))));
    assert_eq!(limits.shared_by(0), limits.shared_by(1));
    assert_eq!(RequestLimits::new().in_flight(), None);
}

#[cfg(feature = "middleware")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleware_queues_and_holds_permits_too() {
    use auth_core::middleware::AuthMiddleware;

    let (base, load) = server().await;
    let c = limited(&base, RequestLimits::new().max_in_flight(2));
    let inner = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(inner)
        .with(AuthMiddleware::new(c.clone()))
        .build();
    let url = format!("{base}/work?ms=30");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let response = client.get(&url).send().await.unwrap();
                let status = response.status().as_u16();
                response.text().await.unwrap();
                status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let max = load.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 2, "the server saw {max} requests at once");
    // Two unread bodies hold both permits: a third request waits.
    let first = client.get(format!("{base}/work")).send().await.unwrap();
    let second = client.get(format!("{base}/work")).send().await.unwrap();
    let third = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/work");
        async move { client.get(&url).send().await.unwrap().status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(load.arrivals.lock().unwrap().len(), 22);
    drop(first);
    let third = tokio::time::timeout(Duration::from_secs(5), third).await;
    assert_eq!(
        third.expect("a dropped body frees its permit").unwrap(),
        200
    );
    drop(second);
}
