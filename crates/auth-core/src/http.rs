//! HTTP plumbing shared by the providers: a client with timeouts, a body
//! reader with a size cap, base-URL checks, and redacted body excerpts.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::AuthError;

/// How long an excerpt of a server body quoted in an error may be.
const EXCERPT_CHARS: usize = 160;

/// Timeouts, size caps and transport policy for the HTTP calls a client makes.
#[derive(Debug, Clone)]
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
        }
    }
}

/// A `reqwest::Client` together with the [`HttpSettings`] it was built from.
///
/// Cloning is cheap (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
}

impl HttpClient {
    /// Builds a client (rustls, timeouts from `settings`).
    pub fn new(settings: HttpSettings) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(settings.user_agent.clone())
            .https_only(false)
            .build()
            .map_err(|e| AuthError::config(format!("could not build the HTTP client: {e}")))?;
        Ok(Self { client, settings })
    }

    /// Wraps a client the application already has. Its own timeouts apply;
    /// `settings` supplies the body cap and the transport policy.
    pub fn from_client(client: reqwest::Client, settings: HttpSettings) -> Self {
        Self { client, settings }
    }

    /// The underlying `reqwest::Client`, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The settings in force.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends a request, mapping transport failures to [`AuthError::Transport`].
    pub async fn send(
        &self,
        provider: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, AuthError> {
        request
            .send()
            .await
            .map_err(|e| AuthError::transport(provider, e))
    }

    /// Reads a whole response body, refusing more than `max_body` bytes.
    pub async fn read_body(
        &self,
        provider: &'static str,
        response: Response,
    ) -> Result<(StatusCode, Bytes), AuthError> {
        read_body_capped(provider, response, self.settings.max_body).await
    }

    /// Checks a base URL against the transport policy: `https`, or `http` to a
    /// loopback host, or `http` anywhere when `allow_insecure_http` is set.
    pub fn check_base_url(&self, url: &Url) -> Result<(), AuthError> {
        check_base_url(url, self.settings.allow_insecure_http)
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

/// Checks a base URL: `https`, or `http` to loopback, or `http` anywhere when
/// `allow_insecure_http` is set. Credentials embedded in the URL are refused.
pub fn check_base_url(url: &Url, allow_insecure_http: bool) -> Result<(), AuthError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuthError::config(
            "the base URL must not embed credentials; configure them on the builder",
        ));
    }
    match url.scheme() {
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
/// `path` is ignored so it cannot escape the prefix.
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
/// 429 to [`AuthError::Throttled`] (honouring `Retry-After` in seconds), the
/// rest to [`AuthError::UnexpectedResponse`].
pub fn status_error(
    provider: &'static str,
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[&SecretString],
) -> AuthError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return AuthError::Throttled {
            provider,
            retry_after,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_policy() {
        let ok = |s: &str, insecure| check_base_url(&Url::parse(s).unwrap(), insecure).is_ok();
        assert!(ok("https://api.example.com", false));
        assert!(ok("http://127.0.0.1:8080", false));
        assert!(ok("http://localhost:1", false));
        assert!(ok("http://[::1]:1", false));
        assert!(!ok("http://api.example.com", false));
        assert!(ok("http://api.example.com", true));
        assert!(!ok("ftp://api.example.com", true));
        assert!(!ok("https://user:pw@api.example.com", false));
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
