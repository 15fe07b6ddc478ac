//! Where credentials and tokens go: redirects, token scope, supplied
//! clients and the middleware. Every server is a tiny axum app on an
//! ephemeral loopback port; "the second server" must receive nothing.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::{AuthError, Authenticated, Expiry, HttpClient, HttpSettings};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::Fake;

const STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// One request a server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    authorization: Option<String>,
    referer: Option<String>,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

/// What a server does: redirect `/start` with `status` to `location`
/// (relative to nothing: used as is), answer anything else 200.
#[derive(Clone)]
struct App {
    log: Log,
    status: u16,
    location: String,
}

async fn handle(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    record(&app.log, &parts.method, &parts.uri, &parts.headers, &body);
    if parts.uri.path() == "/start" {
        let status = StatusCode::from_u16(app.status).unwrap();
        return (status, [(header::LOCATION, app.location.clone())], "").into_response();
    }
    (StatusCode::OK, "ok").into_response()
}

fn record(log: &Log, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("?").to_owned())
    };
    log.0.lock().unwrap().push(Seen {
        method: method.clone(),
        path: uri.to_string(),
        authorization: text(header::AUTHORIZATION),
        referer: text(header::REFERER),
        body: body.to_vec(),
    });
}

/// Starts a server; returns its base URL (`http://127.0.0.1:port`) and log.
async fn serve(status: u16, location: impl Into<String>) -> (String, Log) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let app = App {
        log: log.clone(),
        status,
        location: location.into(),
    };
    let router = Router::new().fallback(handle).with_state(app);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), log)
}

/// A server that only records what reaches it (answers 200).
async fn second_server() -> (String, Log) {
    serve(200, "/").await
}

fn client_at(base: &str) -> Authenticated<Fake> {
    Authenticated::new(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(base)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_follows_same_origin_redirects_authorizing_again() {
    for status in STATUSES {
        let (base, log) = serve(status, "/end?x=1").await;
        let c = client_at(&base);
        let response = c
            .send(
                c.http()
                    .client()
                    .post(format!("{base}/start"))
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body("payload"),
            )
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(response.status(), 200, "{status}");
        let seen = log.all();
        assert_eq!(seen.len(), 2, "{status}: {seen:?}");
        let end = &seen[1];
        assert_eq!(end.path, "/end?x=1", "{status}");
        assert_eq!(
            end.authorization.as_deref(),
            Some("Bearer tok-1"),
            "{status}: authorized again at the target"
        );
        assert_eq!(end.referer, None, "{status}: no Referer");
        if status == 307 || status == 308 {
            assert_eq!(end.method, Method::POST, "{status} keeps the method");
            assert_eq!(end.body, b"payload", "{status} keeps the body");
        } else {
            assert_eq!(end.method, Method::GET, "{status} of a POST becomes GET");
            assert!(end.body.is_empty(), "{status}: no body after GET");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_refuses_a_redirect_to_another_origin_without_following_it() {
    for status in STATUSES {
        let (second, second_log) = second_server().await;
        let (base, log) = serve(status, format!("{second}/steal?token=x")).await;
        let c = client_at(&base);
        let err = c
            .send(c.http().client().get(format!("{base}/start")))
            .await
            .unwrap_err();
        let port = second.rsplit(':').next().unwrap();
        match &err {
            AuthError::Redirect {
                status: s,
                target_host,
                ..
            } => {
                assert_eq!(*s, status);
                assert_eq!(target_host, &format!("127.0.0.1:{port}"));
            }
            other => panic!("{status}: expected a redirect error, got {other:?}"),
        }
        assert!(!err.to_string().contains("token=x"), "{err}");
        assert_eq!(log.all().len(), 1);
        assert!(
            second_log.all().is_empty(),
            "{status}: the second server received {:?}",
            second_log.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_follow_a_redirect_even_to_the_same_origin() {
    for status in STATUSES {
        let (second, second_log) = second_server().await;
        for location in [format!("{second}/login"), "/login-again".to_owned()] {
            let (base, log) = serve(status, location).await;
            let http = HttpClient::new(HttpSettings::default()).unwrap();
            let request = http
                .client()
                .post(format!("{base}/start"))
                .header("x-app-key", "app-key-secret")
                .form(&[("password", "hunter2")]);
            let err = http.send("fake", request).await.unwrap_err();
            assert!(
                matches!(err, AuthError::Redirect { status: s, .. } if s == status),
                "{status}: {err:?}"
            );
            assert_eq!(log.all().len(), 1, "{status}: not followed");
        }
        assert!(second_log.all().is_empty(), "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_through_our_own_client_even_when_one_is_supplied() {
    let (second, second_log) = second_server().await;
    let (base, log) = serve(307, format!("{second}/login")).await;
    // reqwest's default client follows redirects.
    let http = HttpClient::from_client(reqwest::Client::new(), HttpSettings::default()).unwrap();
    let request = http
        .client()
        .post(format!("{base}/start"))
        .form(&[("password", "hunter2")]);
    let err = http.send("fake", request).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Redirect { status: 307, .. }),
        "{err:?}"
    );
    assert_eq!(log.all().len(), 1);
    assert!(second_log.all().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplied_client_that_follows_redirects_is_detected() {
    let (base, log) = serve(302, "/end").await;
    let c = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&base))
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    let err = c
        .send(c.http().client().get(format!("{base}/start")))
        .await
        .unwrap_err();
    match &err {
        AuthError::Redirect { target_host, .. } => {
            assert!(target_host.contains("redirect::Policy::none()"), "{err}")
        }
        other => panic!("expected a redirect error, got {other:?}"),
    }
    assert_eq!(log.all().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_goes_only_to_the_provider_origin_or_an_allowed_one() {
    let (base, log) = second_server().await;
    let (other, other_log) = second_server().await;
    let c = client_at(&base);
    for url in [
        format!("{other}/x"),
        format!("{}/x", base.replace("127.0.0.1", "localhost")),
        format!("{}/x", base.replace("http://", "https://")),
    ] {
        let err = c.send(c.http().client().get(&url)).await.unwrap_err();
        assert!(
            matches!(err, AuthError::ForeignOrigin { .. }),
            "{url}: {err:?}"
        );
    }
    assert!(other_log.all().is_empty(), "{:?}", other_log.all());
    assert!(log.all().is_empty());
    c.send(c.http().client().get(format!("{base}/x")))
        .await
        .unwrap();
    assert_eq!(log.all().len(), 1);

    let allowed =
        Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&base))
            .allow_origin(format!("{other}/any/path").parse().unwrap())
            .build()
            .unwrap();
    allowed
        .send(allowed.http().client().get(format!("{other}/x")))
        .await
        .unwrap();
    assert_eq!(
        other_log.all()[0].authorization.as_deref(),
        Some("Bearer tok-1")
    );
}

#[cfg(feature = "middleware")]
mod middleware {
    use super::*;
    use auth_core::middleware::AuthMiddleware;

    fn stack(auth: &Authenticated<Fake>) -> reqwest_middleware::ClientWithMiddleware {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        reqwest_middleware::ClientBuilder::new(inner)
            .with(AuthMiddleware::new(auth.clone()))
            .build()
    }

    fn auth_error(err: reqwest_middleware::Error) -> AuthError {
        match err {
            reqwest_middleware::Error::Middleware(inner) => {
                inner.downcast_ref::<AuthError>().unwrap().clone()
            }
            other => panic!("expected a middleware error, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_middleware_returns_a_redirect_untouched() {
        for status in STATUSES {
            let (second, second_log) = second_server().await;
            let (base, log) = serve(status, format!("{second}/x")).await;
            let auth = client_at(&base);
            let response = stack(&auth)
                .get(format!("{base}/start"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers()[reqwest::header::LOCATION]
                    .to_str()
                    .unwrap(),
                format!("{second}/x")
            );
            assert_eq!(log.all().len(), 1);
            assert!(second_log.all().is_empty(), "{status}");
            assert_eq!(auth.stats().rejections, 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_middleware_refuses_foreign_origins_before_sending() {
        let (base, _) = second_server().await;
        let (other, other_log) = second_server().await;
        let auth = client_at(&base);
        let err = stack(&auth)
            .get(format!("{other}/x"))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(auth_error(err), AuthError::ForeignOrigin { .. }),
            "typed"
        );
        assert!(other_log.all().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_middleware_refuses_a_response_its_client_got_by_following() {
        let (base, log) = serve(302, "/end").await;
        let auth = client_at(&base);
        let following = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(AuthMiddleware::new(auth.clone()))
            .build();
        let err = following
            .get(format!("{base}/start"))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(auth_error(err), AuthError::Redirect { .. }),
            "typed"
        );
        assert_eq!(log.all().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn middleware_transport_errors_have_their_url_stripped() {
        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let auth = client_at(&base);
        let err = stack(&auth)
            .get(format!("{base}/x?api_token=very-secret-token-value"))
            .send()
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("very-secret-token-value"), "{text}");
        assert!(!text.contains("/x?"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_calls_and_keep_alives_follow_no_redirect_even_within_the_origin() {
    for status in STATUSES {
        let (base, log) = serve(status, "/end").await;
        // A supplied client that would follow redirects: not used here.
        let c = Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&base))
            .http_client(reqwest::Client::new())
            .build()
            .unwrap();
        let err = c
            .send_credentials(
                c.http()
                    .client()
                    .post(format!("{base}/start"))
                    .body("h=token"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuthError::Redirect { status: s, .. } if s == status),
            "{status}: {err:?}"
        );
        assert_eq!(log.all().len(), 1, "{status}: not followed");
    }

    // The keep-alive goes through our own client too.
    let (base, log) = serve(307, "/end").await;
    let mut fake = Fake::new(Expiry::Idle(Duration::from_millis(400)), Duration::ZERO).at(&base);
    fake.keep_alive_url = Some(format!("{base}/start"));
    let c = Authenticated::builder(fake)
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    c.session().await.unwrap();
    c.spawn_keep_alive(Duration::from_millis(100)).unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let seen = log.all();
    assert!(!seen.is_empty(), "the keep-alive ran");
    assert!(
        seen.iter().all(|s| s.path == "/start"),
        "a keep-alive followed a redirect: {seen:?}"
    );
}
