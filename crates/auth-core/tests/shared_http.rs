//! Account clients built separately on the default path share one HTTP
//! client per runtime: one connection pool per host (counted here as the
//! connections a loopback server accepts), while two runtimes in one process
//! each keep working with their own.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::{Authenticated, Expiry};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use common::Fake;

/// A loopback server answering `/data` and recording each connection's
/// client address (one per TCP connection).
struct Server {
    base: String,
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl Server {
    async fn start() -> Self {
        let peers = Arc::new(Mutex::new(HashSet::new()));
        let seen = Arc::clone(&peers);
        let app = Router::new().route(
            "/data",
            get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock().unwrap().insert(peer);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self { base, peers }
    }

    fn connections(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

fn account(base: &str) -> Fake {
    Fake::new(Expiry::UntilRejected, Duration::ZERO).at(base)
}

async fn call(client: &Authenticated<Fake>) {
    let response = client
        .get("data")
        .send()
        .await
        .expect("the call goes through");
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_built_separately_share_one_pool_per_host() {
    let server = Server::start().await;
    let clients: Vec<_> = (0..50)
        .map(|_| Authenticated::new(account(&server.base)).unwrap())
        .collect();
    // One after the other: a shared pool needs about one connection for
    // all (a connection goes back to the pool just after its answer is
    // read, so the next call may occasionally open another); one pool per
    // client opens one each.
    for client in &clients {
        call(client).await;
    }
    assert!(
        server.connections() <= 5,
        "50 account clients on the default path opened {} connections",
        server.connections()
    );
}

/// Clients built before the runtime starts (a synchronous `main`, a
/// configuration loader) join the pool of the runtime they are first used
/// in.
#[test]
fn clients_built_outside_a_runtime_share_the_pool_of_the_runtime_they_run_in() {
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server_runtime.block_on(Server::start());
    let clients: Vec<_> = (0..50)
        .map(|_| Authenticated::new(account(&server.base)).unwrap())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for client in &clients {
            call(client).await;
        }
    });
    assert!(
        server.connections() <= 5,
        "50 account clients built outside a runtime opened {} connections",
        server.connections()
    );
}

#[test]
fn two_runtimes_in_one_process_each_work() {
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A server on a runtime of its own, alive throughout.
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server_runtime.block_on(Server::start());
    let base = server.base.clone();

    let on_first = first.block_on(async {
        let client = Authenticated::new(account(&base)).unwrap();
        call(&client).await;
        client
    });
    second.block_on(async {
        let client = Authenticated::new(account(&base)).unwrap();
        call(&client).await;
    });
    // The first runtime's connection is its own: gone with it, and a client
    // built on the second runtime afterwards is not handed that pool.
    drop(on_first);
    drop(first);
    second.block_on(async {
        let client = Authenticated::new(account(&base)).unwrap();
        tokio::time::timeout(Duration::from_secs(10), call(&client))
            .await
            .expect("a client built after another runtime ended still works");
    });
    assert!(server.connections() >= 2, "one pool per runtime");
}
