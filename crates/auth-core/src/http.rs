//! HTTP plumbing shared by the providers: a client with timeouts, a body
//! reader with a size cap, base-URL checks, and redacted body excerpts.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::AuthError;
use crate::shared::{SharedClient, shared_client};
use crate::tls::TlsBackend;

/// How long an excerpt of a server body quoted in an error may be.
const EXCERPT_CHARS: usize = 160;

/// Timeouts, size caps and transport policy for the HTTP calls a client makes.
///
/// Built from [`Default`] with setters, so that fields can be added:
///
/// ```
/// use std::time::Duration;
/// use auth_core::HttpSettings;
/// let settings = HttpSettings::default()
///     .timeout(Duration::from_secs(15))
///     .proxy("http://user:pass@proxy.internal:3128".parse().unwrap());
/// assert_eq!(settings.timeout, Duration::from_secs(15));
/// assert!(!format!("{settings:?}").contains("pass"));
/// ```
///
/// `https://` needs a TLS backend: see [`tls_backend`](Self::tls_backend)
/// and the crate's "TLS backends" section.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Time allowed to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, response body included. Default 30 s.
    pub timeout: Duration,
    /// Largest response body read from an authentication endpoint. Default 1 MiB.
    pub max_body: usize,
    /// Largest API response body read when a provider needs the body to tell
    /// whether the session was rejected (Wialon, cielo24). Default 64 MiB.
    pub max_api_body: usize,
    /// Allow plain `http://` to non-loopback hosts. Off by default: tokens and
    /// keys must not cross a network in clear text.
    pub allow_insecure_http: bool,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// An explicit proxy for every request (see [`proxy`](Self::proxy)).
    proxy: Option<Url>,
    /// The TLS backend chosen with [`tls_backend`](Self::tls_backend).
    tls_backend: Option<TlsBackend>,
    /// PEM texts given to [`add_root_certificate`](Self::add_root_certificate).
    pub(crate) root_certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("max_api_body", &self.max_api_body)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("user_agent", &self.user_agent)
            // A proxy URL may carry a user and password: host and port only.
            .field(
                "proxy",
                &self.proxy.as_ref().map(crate::redirect::host_text),
            )
            .field("tls_backend", &self.effective_tls_backend())
            .field("root_certificates", &self.root_certificates.len())
            .finish()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body: 1024 * 1024,
            max_api_body: 64 * 1024 * 1024,
            allow_insecure_http: false,
            user_agent: concat!("vendor-auth/", env!("CARGO_PKG_VERSION")).to_owned(),
            proxy: None,
            tls_backend: None,
            root_certificates: Vec::new(),
        }
    }
}

impl HttpSettings {
    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`max_body`](Self::max_body).
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets [`max_api_body`](Self::max_api_body).
    #[must_use]
    pub fn max_api_body(mut self, bytes: usize) -> Self {
        self.max_api_body = bytes;
        self
    }

    /// Sets [`allow_insecure_http`](Self::allow_insecure_http).
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sets [`user_agent`](Self::user_agent).
    #[must_use]
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Sends every request (logins and calls) through this proxy
    /// (`http://`, `https://` or `socks5://`; a user and password in the URL
    /// are sent to the proxy, never shown in `Debug`). Without it, reqwest
    /// reads the `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` environment
    /// variables.
    #[must_use]
    pub fn proxy(mut self, url: Url) -> Self {
        self.proxy = Some(url);
        self
    }

    /// The explicit proxy, if one is set.
    pub fn proxy_url(&self) -> Option<&Url> {
        self.proxy.as_ref()
    }

    /// Secures `https://` connections with this backend, one of those
    /// compiled in ([`TlsBackend::ENABLED`]). Without this call the first of
    /// [`TlsBackend::ENABLED`] is used ([`TlsBackend::preferred`]):
    /// `native-tls`, then `rustls-ring`, then `rustls`. Whichever it is, the
    /// rustls backends are built with their own crypto provider (aws-lc-rs
    /// or ring), never rustls's process-wide default.
    #[must_use]
    pub fn tls_backend(mut self, backend: TlsBackend) -> Self {
        self.tls_backend = Some(backend);
        self
    }

    /// The TLS backend clients built from these settings use: the one
    /// chosen with [`tls_backend`](Self::tls_backend), else
    /// [`TlsBackend::preferred`]; `None` without a TLS feature.
    pub fn effective_tls_backend(&self) -> Option<TlsBackend> {
        self.tls_backend.or_else(TlsBackend::preferred)
    }

    /// Also trusts the certificates of `pem` (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks), besides the system's root
    /// certificates: for a private or managed deployment whose server
    /// certificate comes from its own CA. Every backend uses them. A text
    /// that holds no usable certificate makes the client's build fail with
    /// [`AuthError::Config`].
    ///
    /// ```
    /// use auth_core::HttpSettings;
    /// # let ca_pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
    /// // let ca_pem = std::fs::read("/etc/vendor/ca.pem")?;
    /// let settings = HttpSettings::default().add_root_certificate(ca_pem);
    /// assert!(format!("{settings:?}").contains("root_certificates: 1"));
    /// ```
    #[must_use]
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// SHA-256 of the extra root certificates, each prefixed with its
    /// length: what tells two sets of roots apart, for the caches of TLS
    /// configurations and shared clients.
    pub(crate) fn roots_digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for pem in &self.root_certificates {
            hash.update((pem.len() as u64).to_be_bytes());
            hash.update(pem);
        }
        hash.finalize().into()
    }

    /// A `reqwest::ClientBuilder` set up as the clients built from these
    /// settings: TLS backend and root certificates, proxy, timeouts, user
    /// agent, no redirects, no `Referer`. Start from it to build a client
    /// for [`AuthenticatedBuilder::http_client`](crate::AuthenticatedBuilder::http_client):
    /// it needs no further TLS set-up, whatever backends are compiled in
    /// (a plain `reqwest::Client::new()` relies on reqwest's own default,
    /// which with only `rustls-ring` has no crypto provider).
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, AuthError> {
        let mut builder = reqwest::Client::builder();
        if let Some(url) = &self.proxy {
            if url.scheme() == "https" && !crate::tls::TLS_ENABLED {
                return Err(crate::tls::no_tls_error(
                    "the proxy",
                    &crate::redirect::host_text(url),
                ));
            }
            let proxy = reqwest::Proxy::all(url.as_str()).map_err(|_| {
                AuthError::config(format!(
                    "the proxy {} is not usable (scheme http, https or socks5)",
                    crate::redirect::host_text(url)
                ))
            })?;
            builder = builder.proxy(proxy);
        }
        let builder = crate::tls::configure(builder, self)?;
        Ok(builder
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(self.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .https_only(false))
    }
}

/// The HTTP clients of an [`Authenticated`](crate::Authenticated) client,
/// with the [`HttpSettings`] they were built from.
///
/// Two `reqwest::Client`s:
///
/// * **our own**, built here: it never follows a redirect
///   (`redirect::Policy::none()`) and sends no `Referer`. Every request that
///   carries credentials (login, logout, keep-alive, key and token
///   management) goes through it, whatever client the application supplied;
///   a 3xx answer there is [`AuthError::Redirect`].
/// * **the API client**, used for authorized calls: our own, or the one the
///   application supplied with
///   [`AuthenticatedBuilder::http_client`](crate::AuthenticatedBuilder::http_client).
///   A supplied client must not follow redirects (build it with
///   `.redirect(reqwest::redirect::Policy::none())`): reqwest moves custom
///   headers, query and body to the next hop. A response that shows the
///   client followed one anyway is refused with [`AuthError::Redirect`].
///
/// Cloning is cheap (the connection pools are shared).
#[derive(Debug, Clone)]
pub struct HttpClient {
    own: reqwest::Client,
    api: reqwest::Client,
    supplied: bool,
    settings: HttpSettings,
    allowed_origins: Vec<url::Origin>,
    shared: Sharing,
}

/// How an [`HttpClient`] takes part in its runtime's shared client.
#[derive(Debug, Clone)]
enum Sharing {
    /// Built in a runtime: `own` is that runtime's shared client, kept
    /// alive here.
    Settled { _shared: Arc<SharedClient> },
    /// Built outside any runtime: `own` is a client of its own, used until
    /// the first request made inside a runtime binds every clone of this
    /// client to that runtime's shared client (one pool per host, as for
    /// clients built in the runtime).
    Deferred(Arc<OnceLock<Arc<SharedClient>>>),
}

impl HttpClient {
    /// Our own client (the TLS backend, timeouts and proxy of `settings`, no
    /// redirects, no `Referer`), used for every request.
    ///
    /// Inside a Tokio runtime, the clients built with the same transport
    /// settings (timeouts, user agent, proxy, TLS backend and roots) share
    /// one `reqwest::Client`: one connection pool per host and one TLS
    /// set-up for any number of accounts. Never across runtimes (a pooled
    /// connection belongs to the runtime that opened it). A client built
    /// outside a runtime (before it starts) joins the shared client of the
    /// runtime its first request is made in. The TLS configuration (root
    /// store, verifier) is built once per process whatever the runtime.
    pub fn new(settings: HttpSettings) -> Result<Self, AuthError> {
        let (own, shared) = own_or_shared(&settings)?;
        Ok(Self {
            api: own.clone(),
            own,
            supplied: false,
            settings,
            allowed_origins: Vec::new(),
            shared,
        })
    }

    /// Uses `client`, a client the application already has, for authorized
    /// calls only; requests that carry credentials go through a client of
    /// our own built from `settings`. `settings` also supplies the body cap
    /// and the transport policy.
    ///
    /// `client` must not follow redirects: build it with
    /// `.redirect(reqwest::redirect::Policy::none())`. reqwest cannot report
    /// a client's redirect policy, so this is checked on every response: one
    /// whose final URL differs from the request's is refused with
    /// [`AuthError::Redirect`].
    pub fn from_client(client: reqwest::Client, settings: HttpSettings) -> Result<Self, AuthError> {
        let (own, shared) = own_or_shared(&settings)?;
        Ok(Self {
            own,
            api: client,
            supplied: true,
            settings,
            allowed_origins: Vec::new(),
            shared,
        })
    }

    /// Also authorizes requests to these origins (besides the provider's
    /// own). Each URL must pass [`check_base_url`]; only its origin (scheme,
    /// host, port) counts.
    pub fn with_allowed_origins(
        mut self,
        urls: impl IntoIterator<Item = Url>,
    ) -> Result<Self, AuthError> {
        for url in urls {
            self.check_base_url(&url)?;
            let origin = url.origin();
            if !origin.is_tuple() {
                return Err(AuthError::config(format!(
                    "{} has no origin to allow",
                    url.scheme()
                )));
            }
            if !self.allowed_origins.contains(&origin) {
                self.allowed_origins.push(origin);
            }
        }
        Ok(self)
    }

    /// The origins allowed besides the provider's own.
    pub fn allowed_origins(&self) -> &[url::Origin] {
        &self.allowed_origins
    }

    /// The client to build requests with (the API client). Whatever client
    /// built a request, [`send`](Self::send) sends it with our own.
    pub fn client(&self) -> &reqwest::Client {
        if self.supplied {
            &self.api
        } else {
            self.own_client()
        }
    }

    /// Our own client: no redirects, no `Referer`.
    pub fn own_client(&self) -> &reqwest::Client {
        match &self.shared {
            Sharing::Settled { .. } => &self.own,
            Sharing::Deferred(bound) => {
                if let Some(shared) = bound.get() {
                    return &shared.client;
                }
                // First use inside a runtime: join its shared client. The
                // settings built `own` already, so building again succeeds;
                // should it not, `own` stays in use.
                match shared_client(&self.settings, || own_client(&self.settings)) {
                    Ok(Some(shared)) => &bound.get_or_init(|| shared).client,
                    _ => &self.own,
                }
            }
        }
    }

    /// Whether the API client was supplied by the application.
    pub fn is_supplied(&self) -> bool {
        self.supplied
    }

    /// The settings in force.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends a request that carries credentials (a login, logout,
    /// keep-alive, key or token management call) with our own client,
    /// whichever client built it. Transport failures become
    /// [`AuthError::Transport`] (URL stripped); a redirect is not followed
    /// and becomes [`AuthError::Redirect`].
    pub async fn send(
        &self,
        provider: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, AuthError> {
        let request = request
            .build()
            .map_err(|e| AuthError::transport(provider, e))?;
        let from = request.url().clone();
        let response = self
            .own_client()
            .execute(request)
            .await
            .map_err(|e| AuthError::transport(provider, e))?;
        if let Some(target) = crate::redirect::redirect_target(&response, &from) {
            return Err(crate::redirect::refused(
                provider,
                response.status(),
                &target,
            ));
        }
        Ok(response)
    }

    /// Reads a whole response body, refusing more than `max_body` bytes.
    pub async fn read_body(
        &self,
        provider: &'static str,
        response: Response,
    ) -> Result<(StatusCode, Bytes), AuthError> {
        read_body_capped(provider, response, self.settings.max_body).await
    }

    /// Sends a request that carries credentials (as [`send`](Self::send))
    /// and reads the whole answer, the body capped at
    /// [`HttpSettings::max_body`].
    pub async fn exchange(
        &self,
        provider: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpReply, AuthError> {
        let response = self.send(provider, request).await?;
        HttpReply::read(provider, response, self.settings.max_body).await
    }

    /// Reads the whole answer to an API call (one sent with
    /// [`Authenticated::send`](crate::Authenticated::send)), the body
    /// capped at [`HttpSettings::max_api_body`].
    pub async fn read_api(
        &self,
        provider: &'static str,
        response: Response,
    ) -> Result<HttpReply, AuthError> {
        HttpReply::read(provider, response, self.settings.max_api_body).await
    }

    /// Checks a base URL against the transport policy: `https` (with a TLS
    /// backend compiled in), or `http` to a loopback host, or `http`
    /// anywhere when `allow_insecure_http` is set.
    pub fn check_base_url(&self, url: &Url) -> Result<(), AuthError> {
        check_base_url(url, self.settings.allow_insecure_http)
    }
}

/// The runtime's shared client for `settings`, or one of our own outside a
/// runtime.
fn own_or_shared(settings: &HttpSettings) -> Result<(reqwest::Client, Sharing), AuthError> {
    match shared_client(settings, || own_client(settings))? {
        Some(shared) => Ok((shared.client.clone(), Sharing::Settled { _shared: shared })),
        None => Ok((
            own_client(settings)?,
            Sharing::Deferred(Arc::new(OnceLock::new())),
        )),
    }
}

fn own_client(settings: &HttpSettings) -> Result<reqwest::Client, AuthError> {
    settings
        .client_builder()?
        .build()
        .map_err(|e| AuthError::config(format!("could not build the HTTP client: {e}")))
}

/// An answer read whole: status, headers and body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpReply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body, read up to the cap.
    pub body: Bytes,
}

impl HttpReply {
    /// Status, headers and body.
    pub fn into_parts(self) -> (StatusCode, http::HeaderMap, Bytes) {
        (self.status, self.headers, self.body)
    }

    /// Reads `response` whole; a body over `limit` bytes is
    /// [`AuthError::BodyTooLarge`].
    pub async fn read(
        provider: &'static str,
        response: Response,
        limit: usize,
    ) -> Result<Self, AuthError> {
        let headers = response.headers().clone();
        let (status, body) = read_body_capped(provider, response, limit).await?;
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

/// Reads a response body with a size cap.
pub async fn read_body_capped(
    provider: &'static str,
    mut response: Response,
    limit: usize,
) -> Result<(StatusCode, Bytes), AuthError> {
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(AuthError::BodyTooLarge { provider, limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AuthError::transport(provider, e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(AuthError::BodyTooLarge { provider, limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body.freeze()))
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Checks a base URL: `https` (when a TLS backend is compiled in: without
/// one, an `https` URL is [`AuthError::Config`] naming the features to
/// enable), or `http` to loopback, or `http` anywhere when
/// `allow_insecure_http` is set. Credentials embedded in the URL are refused.
pub fn check_base_url(url: &Url, allow_insecure_http: bool) -> Result<(), AuthError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuthError::config(
            "the base URL must not embed credentials; configure them on the builder",
        ));
    }
    match url.scheme() {
        "https" if !crate::tls::TLS_ENABLED => Err(crate::tls::no_tls_error(
            "the URL",
            url.host_str().unwrap_or("?"),
        )),
        "https" => Ok(()),
        "http" if is_loopback(url) || allow_insecure_http => Ok(()),
        "http" => Err(AuthError::config(format!(
            "refusing plain http to {}: use https (or set allow_insecure_http for a trusted network)",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(AuthError::config(format!(
            "unsupported URL scheme {other:?}; use https"
        ))),
    }
}

/// `url` with a trailing `/` on its path, so that relative joins stay below
/// it (`https://host/prefix` + `api/x` gives `https://host/prefix/api/x`).
pub fn as_directory(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// `path` below `base`, keeping `base`'s path prefix; a leading `/` on
/// `path` is ignored so it cannot escape the prefix. Prefer [`endpoint`],
/// which also refuses paths that would leave the base.
pub fn join_below(base: &Url, path: &str) -> Result<Url, url::ParseError> {
    as_directory(base.clone()).join(path.trim_start_matches('/'))
}

/// Parses an HTTP date (RFC 9110: the IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and asctime
/// forms recipients must accept).
pub fn parse_http_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    if let Ok(date) = chrono::DateTime::parse_from_rfc2822(text) {
        return Some(date.with_timezone(&chrono::Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

/// The server's clock when it answered: its `Date` header. Pass it to
/// [`NewSession::with_server_date`](crate::NewSession::with_server_date) so an
/// absolute expiry is measured on the clock that set it.
pub fn server_date(headers: &http::HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
}

/// A provider endpoint: `path` (with an optional query) below `base`.
///
/// The result always stays on `base`'s origin and below its path: a path
/// that is an absolute URL, starts with `//` (another host), contains a
/// backslash, or holds a `.`/`..` segment (plain or percent-encoded) is
/// refused with [`AuthError::Config`]. One leading `/` is allowed and
/// ignored.
pub fn endpoint(provider: &'static str, base: &Url, path: &str) -> Result<Url, AuthError> {
    let refuse = |why: &str| {
        AuthError::config(format!(
            "invalid {provider} endpoint path {path:?}: {why}; pass a path relative to the configured base URL"
        ))
    };
    if path.starts_with("//") {
        return Err(refuse("a path starting with // names another host"));
    }
    if path.contains('\\') {
        return Err(refuse("backslashes are not allowed"));
    }
    if path.chars().any(char::is_control) {
        return Err(refuse("control characters are not allowed"));
    }
    let path_part = path.split(['?', '#']).next().unwrap_or_default();
    if path_part.contains(':') && Url::parse(path).is_ok() {
        return Err(refuse("absolute URLs are not allowed"));
    }
    for segment in path_part.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if decoded == "." || decoded == ".." {
            return Err(refuse("dot segments are not allowed"));
        }
    }
    let directory = as_directory(base.clone());
    let url = directory
        .join(path.strip_prefix('/').unwrap_or(path))
        .map_err(|e| refuse(&e.to_string()))?;
    if url.origin() != base.origin() || !url.path().starts_with(directory.path()) {
        return Err(refuse("it leaves the base URL"));
    }
    Ok(url)
}

/// Removes, recursively, every value of a login reply that equals or
/// contains one of `secrets` (a password, key or token we sent, or the
/// token we received): object members (also by key) and array elements
/// holding such a string are dropped, and so are strings that hold one
/// percent-encoded. A secret shorter than 8 characters is matched only as
/// a whole value. Returns how many values were dropped.
///
/// Called by every provider before a session is built from a reply, so an
/// echoed secret never reaches `Debug` output, the session data or a token
/// store.
pub fn drop_echoed_secrets(value: &mut serde_json::Value, secrets: &[&SecretString]) -> usize {
    let needles: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose_secret())
        .filter(|s| !s.is_empty())
        .collect();
    if needles.is_empty() {
        return 0;
    }
    drop_in(value, &needles)
}

/// Whether `text` equals or contains one of `secrets` (also
/// percent-encoded; secrets shorter than 8 characters only as the whole
/// text): a reply field that must be dropped, see [`drop_echoed_secrets`].
pub fn echoes_secret(text: &str, secrets: &[&SecretString]) -> bool {
    let needles: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose_secret())
        .filter(|s| !s.is_empty())
        .collect();
    echoes(text, &needles)
}

/// Secrets shorter than this are matched only as a whole value: a
/// one-character "secret" would be found inside any text.
const MIN_CONTAINED_SECRET: usize = 8;

fn echoes(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| {
        let found = |needle: &str| {
            text == needle || (needle.len() >= MIN_CONTAINED_SECRET && text.contains(needle))
        };
        found(n) || {
            let encoded: String = url::form_urlencoded::byte_serialize(n.as_bytes()).collect();
            encoded != *n && found(&encoded)
        }
    })
}

fn drop_in(value: &mut serde_json::Value, needles: &[&str]) -> usize {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|key, v| {
                !echoes(key, needles) && !matches!(v, Value::String(s) if echoes(s, needles))
            });
            let mut dropped = before - map.len();
            for v in map.values_mut() {
                dropped += drop_in(v, needles);
            }
            dropped
        }
        Value::Array(items) => {
            let before = items.len();
            items.retain(|v| !matches!(v, Value::String(s) if echoes(s, needles)));
            let mut dropped = before - items.len();
            for v in items.iter_mut() {
                dropped += drop_in(v, needles);
            }
            dropped
        }
        _ => 0,
    }
}

/// A short, single-line excerpt of a body for an error message, with every
/// occurrence of the given secrets replaced by `[REDACTED]`.
pub fn excerpt(body: &[u8], secrets: &[&SecretString]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for secret in secrets {
        let s = secret.expose_secret();
        if !s.is_empty() {
            text = text.replace(s, "[REDACTED]");
        }
    }
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = collapsed.chars().take(EXCERPT_CHARS).collect();
    if collapsed.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("<empty body>");
    }
    out
}

/// Whether a body looks like an HTML page (a proxy or gateway error page).
pub fn looks_like_html(body: &[u8]) -> bool {
    let head: String = String::from_utf8_lossy(&body[..body.len().min(256)])
        .trim_start()
        .chars()
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<head")
}

/// Describes a body that could not be parsed: an HTML page, an empty body, or
/// a redacted excerpt. Used to build [`AuthError::UnexpectedResponse`].
pub fn unexpected_body(
    provider: &'static str,
    status: StatusCode,
    body: &[u8],
    what: &str,
    secrets: &[&SecretString],
) -> AuthError {
    let detail = if looks_like_html(body) {
        format!("expected {what}, got an HTML page (a proxy or gateway error?)")
    } else if body.is_empty() {
        format!("expected {what}, got an empty body")
    } else {
        format!("expected {what}, got: {}", excerpt(body, secrets))
    };
    AuthError::UnexpectedResponse {
        provider,
        status: Some(status.as_u16()),
        detail,
    }
}

/// Parses a JSON body, mapping failures to [`AuthError::UnexpectedResponse`]
/// with a redacted excerpt.
pub fn parse_json<T: DeserializeOwned>(
    provider: &'static str,
    status: StatusCode,
    body: &[u8],
    what: &str,
    secrets: &[&SecretString],
) -> Result<T, AuthError> {
    serde_json::from_slice(body).map_err(|e| {
        let mut err = unexpected_body(provider, status, body, what, secrets);
        if let AuthError::UnexpectedResponse { detail, .. } = &mut err
            && !looks_like_html(body)
            && !body.is_empty()
        {
            detail.push_str(&format!(" ({})", e.classify_str()));
        }
        err
    })
}

/// The text of a serde error with every quoted value replaced by `…`:
/// serde quotes the offending value (`invalid type: string "…"`,
/// ``unknown variant `…` ``, ``integer `…` ``), which may be provider data or
/// a secret. Field names (``missing field `name` ``) and positions stay, so
/// the message still says what was wrong. Use it wherever a serde error
/// about provider data reaches a log line or an error.
pub fn serde_error_without_values(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let mut out = String::with_capacity(text.len());
    // The quote character being skipped, if any.
    let mut skipping: Option<char> = None;
    for c in text.chars() {
        match skipping {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                skipping = None;
            }
            Some(_) => {}
            None if c == '"' => {
                out.push(c);
                skipping = Some(c);
            }
            // A backtick quotes a field name after "field ", a value
            // anywhere else.
            None if c == '`' && !out.ends_with("field ") => {
                out.push(c);
                skipping = Some(c);
            }
            None => out.push(c),
        }
    }
    if skipping.is_some() {
        out.push('…');
    }
    out
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "JSON of the wrong shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

/// Maps an HTTP status that is neither success nor a provider-specific error:
/// 429 to [`AuthError::Throttled`] (honouring `Retry-After` in seconds or as
/// an HTTP date, see [`retry_after`]), the rest to
/// [`AuthError::UnexpectedResponse`].
pub fn status_error(
    provider: &'static str,
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[&SecretString],
) -> AuthError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return AuthError::Throttled {
            provider,
            retry_after: retry_after(headers, chrono::Utc::now()),
        };
    }
    unexpected_body(
        provider,
        status,
        body,
        &format!("a successful response, got HTTP {}", status.as_u16()),
        secrets,
    )
}

/// The `Retry-After` of a response as a wait from `now`: delay-seconds
/// (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the
/// obsolete RFC 850 and asctime forms). A date in the past gives zero.
pub fn retry_after(
    headers: &http::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// Parses a `Retry-After` value, see [`retry_after`].
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_policy() {
        let ok = |s: &str, insecure| check_base_url(&Url::parse(s).unwrap(), insecure).is_ok();
        assert_eq!(
            ok("https://api.example.com", false),
            crate::tls::TLS_ENABLED
        );
        assert!(ok("http://127.0.0.1:8080", false));
        assert!(ok("http://localhost:1", false));
        assert!(ok("http://[::1]:1", false));
        assert!(!ok("http://api.example.com", false));
        assert!(ok("http://api.example.com", true));
        assert!(!ok("ftp://api.example.com", true));
        assert!(!ok("https://user:pw@api.example.com", false));
    }

    #[test]
    fn https_needs_a_tls_backend() {
        let url = Url::parse("https://api.example.com/x").unwrap();
        let proxied =
            HttpSettings::default().proxy(Url::parse("https://proxy.example:3128").unwrap());
        if crate::tls::TLS_ENABLED {
            assert!(check_base_url(&url, false).is_ok());
            assert!(proxied.client_builder().is_ok());
            return;
        }
        assert_eq!(HttpSettings::default().effective_tls_backend(), None);
        let err = check_base_url(&url, false).unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{err:?}");
        let text = err.to_string();
        for part in ["api.example.com", "rustls", "rustls-ring", "native-tls"] {
            assert!(text.contains(part), "the message names {part}: {text}");
        }
        let err = proxied.client_builder().unwrap_err();
        assert!(
            matches!(&err, AuthError::Config(t) if t.contains("proxy.example")),
            "{err:?}"
        );
        // plain http to loopback still works without TLS
        assert!(HttpClient::new(HttpSettings::default()).is_ok());
        assert!(check_base_url(&Url::parse("http://127.0.0.1:1").unwrap(), false).is_ok());
    }

    #[test]
    fn joins_stay_below_the_base_path() {
        let base = Url::parse("https://h.example/apps/api").unwrap();
        assert_eq!(
            as_directory(base.clone()).as_str(),
            "https://h.example/apps/api/"
        );
        for path in ["token/", "/token/"] {
            assert_eq!(
                join_below(&base, path).unwrap().as_str(),
                "https://h.example/apps/api/token/"
            );
        }
        let root = Url::parse("https://h.example").unwrap();
        assert_eq!(
            join_below(&root, "api/x").unwrap().as_str(),
            "https://h.example/api/x"
        );
    }

    #[test]
    fn endpoints_cannot_escape_the_base() {
        let base = Url::parse("https://h.example/apps/api").unwrap();
        let ok = |p: &str| endpoint("p", &base, p).unwrap().to_string();
        assert_eq!(ok("token/"), "https://h.example/apps/api/token/");
        assert_eq!(ok("/token/?a=1"), "https://h.example/apps/api/token/?a=1");
        assert_eq!(ok("x/y.json"), "https://h.example/apps/api/x/y.json");
        for bad in [
            "../x",
            "a/../../x",
            "//evil.example/x",
            "https://evil.example/x",
            "http:evil",
            "%2e%2e/x",
            "%2E./x",
            ".%2e/x",
            "a/%2e%2e/%2e%2e/x",
            "./x",
            "..",
            "a\\..\\x",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            let err = endpoint("p", &base, bad).unwrap_err();
            assert!(matches!(err, AuthError::Config(_)), "{bad}: {err:?}");
        }
        let root = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            endpoint("p", &root, "api/x?y=a:b").unwrap().as_str(),
            "http://127.0.0.1:8080/api/x?y=a:b"
        );
    }

    #[test]
    fn retry_after_in_seconds_and_as_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let parse = |v: &str| parse_retry_after(v, now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse("Wednesday, 21-Oct-15 07:28:30 GMT"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse("Wed Oct 21 07:29:00 2015"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("soon"), None);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_str(&later.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
                .unwrap(),
        );
        let err = status_error("p", StatusCode::TOO_MANY_REQUESTS, &headers, b"", &[]);
        let wait = err
            .retry_after()
            .expect("an HTTP-date Retry-After is honoured");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn serde_errors_lose_their_values() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            _n: i64,
        }
        let e = serde_json::from_str::<T>(r#"{"_n": "hunter2-secret"}"#).unwrap_err();
        assert!(e.to_string().contains("hunter2-secret"));
        let text = serde_error_without_values(&e);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("invalid type: string \"…\""), "{text}");
        let e = serde_json::from_str::<T>(r#"{}"#).unwrap_err();
        assert!(serde_error_without_values(&e).contains("missing field `_n`"));
        #[derive(serde::Deserialize, Debug)]
        enum E {
            _A,
        }
        let e = serde_json::from_str::<E>(r#""secret-variant""#).unwrap_err();
        let text = serde_error_without_values(&e);
        assert!(!text.contains("secret-variant"), "{text}");
        assert!(text.contains("unknown variant `…`"), "{text}");
    }

    #[test]
    fn echoed_secrets_are_dropped_everywhere() {
        let token = SecretString::from("tok-0123456789abcdef");
        let password = SecretString::from("p@ss word");
        let mut reply = serde_json::json!({
            "eid": "tok-0123456789abcdef",
            "user": {"nm": "u", "th": "tok-0123456789abcdef", "note": "prefix tok-0123456789abcdef"},
            "list": ["a", "tok-0123456789abcdef", {"pw": "p%40ss+word"}],
            "kept": "p@ss",
            "n": 5
        });
        let dropped = drop_echoed_secrets(&mut reply, &[&token, &password]);
        assert_eq!(dropped, 5, "{reply}");
        assert_eq!(
            reply,
            serde_json::json!({"user": {"nm": "u"}, "list": ["a", {}], "kept": "p@ss", "n": 5})
        );
        let empty = SecretString::from("");
        let mut same = serde_json::json!({"a": "b"});
        assert_eq!(drop_echoed_secrets(&mut same, &[&empty]), 0);
        let short = SecretString::from("+");
        let mut dates = serde_json::json!({"at": "2026-01-01T00:00:00+00:00", "t": "+"});
        assert_eq!(drop_echoed_secrets(&mut dates, &[&short]), 1);
        assert_eq!(
            dates,
            serde_json::json!({"at": "2026-01-01T00:00:00+00:00"})
        );
    }

    #[test]
    fn excerpt_redacts_and_truncates() {
        let secret = SecretString::from("hunter2");
        let body = format!("error: bad key hunter2 {}", "x".repeat(500));
        let e = excerpt(body.as_bytes(), &[&secret]);
        assert!(!e.contains("hunter2"));
        assert!(e.contains("[REDACTED]"));
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"", &[]), "<empty body>");
    }

    #[test]
    fn http_dates_in_every_form() {
        let expected = chrono::DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(expected), "{text}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::DATE,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(server_date(&headers), Some(expected));
    }

    #[test]
    fn html_detection() {
        assert!(looks_like_html(b"  <!DOCTYPE html><html>"));
        assert!(looks_like_html(b"<HTML><body>502</body>"));
        assert!(!looks_like_html(b"{\"a\":1}"));
    }

    #[test]
    fn json_errors_are_typed() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            _a: u32,
        }
        let err = parse_json::<T>("p", StatusCode::OK, b"{\"_a\":", "a token", &[]).unwrap_err();
        assert!(err.to_string().contains("truncated JSON"), "{err}");
        let err = parse_json::<T>(
            "p",
            StatusCode::BAD_GATEWAY,
            b"<html>bad</html>",
            "a token",
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("HTML page"), "{err}");
    }
}
