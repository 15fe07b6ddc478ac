//! The shape every provider shares: provider defaults on the trait (refresh
//! margin), one switch for plain HTTP, calls that read like reqwest
//! (`client.get(path)`), and authorization that merges with the headers a
//! caller set (one `Cookie` header, the caller's `Accept` kept).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::reqwest::header::{ACCEPT, COOKIE, HeaderMap, HeaderValue};
use auth_core::reqwest::{Method, RequestBuilder};
use auth_core::url::Url;
use auth_core::{
    AuthError, Authenticated, Expiry, HttpClient, HttpSettings, NewSession, Provider,
    RefreshPolicy, Session, async_trait,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, Uri};
use common::Fake;
use secrecy::{ExposeSecret, SecretString};

#[test]
fn the_provider_refresh_policy_applies_unless_overridden() {
    let declared = RefreshPolicy::new(Duration::from_secs(120), Duration::from_secs(5));
    let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO);
    fake.refresh = Some(declared);
    let client = Authenticated::new(fake).unwrap();
    assert_eq!(client.refresh_policy(), declared);

    let mut fake = Fake::new(Expiry::UntilRejected, Duration::ZERO);
    fake.refresh = Some(declared);
    let own = RefreshPolicy::new(Duration::from_secs(30), Duration::ZERO);
    let client = Authenticated::builder(fake)
        .refresh_policy(own)
        .build()
        .unwrap();
    assert_eq!(client.refresh_policy(), own);
}

#[test]
fn plain_http_to_a_remote_host_needs_the_one_http_setting() {
    let remote = || Fake::new(Expiry::UntilRejected, Duration::ZERO).at("http://example.com/");
    let err = Authenticated::new(remote()).unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("allow_insecure_http"), "{err}");
    let settings = HttpSettings::default().allow_insecure_http(true);
    Authenticated::builder(remote())
        .http_settings(settings)
        .build()
        .unwrap();
    // Loopback and https need nothing.
    Authenticated::new(Fake::new(Expiry::UntilRejected, Duration::ZERO).at("http://127.0.0.1:9/"))
        .unwrap();
    Authenticated::new(Fake::new(Expiry::UntilRejected, Duration::ZERO).at("https://example.com/"))
        .unwrap();
}

/// What a server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: AxumHeaders,
    body: Bytes,
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Seen>>>>,
    method: axum::http::Method,
    uri: Uri,
    headers: AxumHeaders,
    body: Bytes,
) -> &'static str {
    seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        headers,
        body,
    });
    "ok"
}

async fn server() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new().fallback(record).with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, seen)
}

/// A provider that sends its token as a cookie and wants JSON by default,
/// as CTC does.
#[derive(Debug)]
struct CookieProvider {
    base: Url,
}

#[async_trait]
impl Provider for CookieProvider {
    type Data = ();

    fn name(&self) -> &'static str {
        "cookie"
    }

    fn cache_key(&self) -> String {
        format!("cookie:{}", self.base)
    }

    fn base_url(&self) -> &Url {
        &self.base
    }

    async fn login(&self, _http: &HttpClient) -> Result<NewSession<()>, AuthError> {
        Ok(NewSession::new(
            SecretString::from("tok"),
            Expiry::UntilRejected,
            (),
        ))
    }

    fn default_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers
    }

    fn authorize(&self, session: &Session<()>, request: RequestBuilder) -> RequestBuilder {
        request.header(
            COOKIE,
            format!("authToken={}", session.token().expose_secret()),
        )
    }
}

fn all(headers: &AxumHeaders, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn authorization_merges_with_the_callers_headers() {
    let (base, seen) = server().await;
    let client = Authenticated::new(CookieProvider {
        base: Url::parse(&format!("{base}/api/")).unwrap(),
    })
    .unwrap();
    client
        .get("items")
        .header(COOKIE, "theme=dark")
        .header(ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    client.get("items").send().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        all(&seen[0].headers, "cookie"),
        ["theme=dark; authToken=tok"]
    );
    assert_eq!(all(&seen[0].headers, "accept"), ["text/csv"]);
    assert_eq!(all(&seen[1].headers, "cookie"), ["authToken=tok"]);
    assert_eq!(all(&seen[1].headers, "accept"), ["application/json"]);
}

#[tokio::test]
async fn calls_read_like_reqwest_relative_to_the_base() {
    let (base, seen) = server().await;
    let client = Authenticated::new(
        Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&format!("{base}/v2/")),
    )
    .unwrap();
    let response = client
        .get("/devices")
        .query(&[("page", "2")])
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");
    client
        .post("devices")
        .json(&HashMap::from([("name", "truck")]))
        .send()
        .await
        .unwrap();
    client
        .post("devices/form")
        .form(&[("a", "1")])
        .send()
        .await
        .unwrap();
    let absolute = Url::parse(&format!("{base}/elsewhere/on/the/origin")).unwrap();
    client
        .request(Method::PUT, absolute)
        .body("raw")
        .send()
        .await
        .unwrap();
    {
        let seen = seen.lock().unwrap();
        let lines: Vec<_> = seen
            .iter()
            .map(|s| format!("{} {}", s.method, s.uri))
            .collect();
        assert_eq!(
            lines,
            [
                "GET /v2/devices?page=2",
                "POST /v2/devices",
                "POST /v2/devices/form",
                "PUT /elsewhere/on/the/origin",
            ]
        );
        assert!(
            seen.iter()
                .all(|s| s.headers["authorization"] == "Bearer tok-1")
        );
        assert_eq!(&seen[1].body[..], br#"{"name":"truck"}"#);
        assert_eq!(&seen[2].body[..], b"a=1");
        assert_eq!(&seen[3].body[..], b"raw");
    }
    // A path that leaves the base, and a foreign absolute URL, are errors
    // before anything is sent.
    let err = client.get("../admin").send().await.unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    let err = client
        .request(Method::GET, Url::parse("https://example.com/x").unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::ForeignOrigin { .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(client.stats().logins, 1);
}

#[tokio::test]
async fn an_explicit_proxy_carries_the_calls() {
    // The "proxy" is a loopback server: a request for another host arrives
    // there in absolute form. Nothing leaves the machine.
    let (proxy, seen) = server().await;
    let settings = HttpSettings::default()
        .allow_insecure_http(true)
        .proxy(Url::parse(&format!("http://fleet:pr0xy-pass@{}", &proxy[7..])).unwrap());
    assert!(!format!("{settings:?}").contains("pr0xy-pass"));
    let client = Authenticated::builder(
        Fake::new(Expiry::UntilRejected, Duration::ZERO).at("http://api.example.invalid/"),
    )
    .http_settings(settings)
    .build()
    .unwrap();
    let response = client.get("data").send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "http://api.example.invalid/data");
    assert_eq!(seen[0].headers["authorization"], "Bearer tok-1");
    // The proxy's own credentials go to the proxy, as Proxy-Authorization.
    assert!(seen[0].headers.contains_key("proxy-authorization"));
}
