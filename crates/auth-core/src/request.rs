//! [`AuthRequestBuilder`]: calls that read like reqwest's,
//! `client.get(path).query(..).send().await`, sent through
//! [`Authenticated::send`] (authorize, one re-login, one retry).

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Body, Method, RequestBuilder, Response};
use serde::Serialize;
use url::Url;

use crate::AuthError;
use crate::client::Authenticated;
use crate::provider::Provider;

/// A request to a provider's API, built like a `reqwest::RequestBuilder`
/// and sent with the session by [`send`](Self::send). Made by
/// [`Authenticated::get`], [`post`](Authenticated::post) and
/// [`request`](Authenticated::request); an invalid path or header is an
/// error when it is sent, before anything goes out.
///
/// ```no_run
/// # use auth_core::{Authenticated, Provider};
/// # async fn demo<P: Provider>(client: Authenticated<P>) -> Result<(), auth_core::AuthError> {
/// let response = client
///     .get("devices")
///     .query(&[("page", "2")])
///     .header("Accept", "application/json")
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct AuthRequestBuilder<P: Provider> {
    client: Authenticated<P>,
    request: Result<RequestBuilder, AuthError>,
}

impl<P: Provider> fmt::Debug for AuthRequestBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The request may already carry parameters the caller considers
        // private: the provider and the method and URL's path only.
        let mut d = f.debug_struct("AuthRequestBuilder");
        d.field("provider", &self.client.provider().name());
        if let Ok(Some(request)) = self
            .request
            .as_ref()
            .map(|r| r.try_clone().and_then(|r| r.build().ok()))
        {
            d.field("method", request.method())
                .field("path", &request.url().path());
        }
        d.finish_non_exhaustive()
    }
}

impl<P: Provider> AuthRequestBuilder<P> {
    pub(crate) fn new(
        client: Authenticated<P>,
        method: Method,
        url: Result<Url, AuthError>,
    ) -> Self {
        let request = url.map(|url| client.http().client().request(method, url));
        Self { client, request }
    }

    /// Applies `f` to the underlying `reqwest::RequestBuilder`, for what the
    /// methods below do not cover (`version`, `multipart` ...).
    pub fn map_request(mut self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.request = self.request.map(f);
        self
    }

    /// Adds a header (a `Cookie` is merged with the session's; a header the
    /// provider sets by default, such as CTC's `Accept`, is replaced).
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map_request(|r| r.header(key, value))
    }

    /// Adds headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map_request(|r| r.headers(headers))
    }

    /// Adds query parameters (serialized with `serde_urlencoded`).
    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        self.map_request(|r| r.query(query))
    }

    /// Sends `form` as a `application/x-www-form-urlencoded` body.
    pub fn form<T: Serialize + ?Sized>(self, form: &T) -> Self {
        self.map_request(|r| r.form(form))
    }

    /// Sends `json` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, json: &T) -> Self {
        self.map_request(|r| r.json(json))
    }

    /// Sends `body` as it is.
    pub fn body(self, body: impl Into<Body>) -> Self {
        self.map_request(|r| r.body(body))
    }

    /// A timeout for this request, instead of the client's.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map_request(|r| r.timeout(timeout))
    }

    /// Sends the request with the session (see [`Authenticated::send`]).
    pub async fn send(self) -> Result<Response, AuthError> {
        self.client.send(self.request?).await
    }
}

impl<P: Provider> Authenticated<P> {
    /// A URL below the provider's base URL: `path` is relative to it (a
    /// leading `/` too); a path that would leave it (`../`, `//host`, an
    /// absolute URL) is [`AuthError::Config`].
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        let provider = self.provider();
        crate::http::endpoint(provider.name(), provider.base_url(), path)
    }

    /// A `GET` of `path`, relative to the provider's base URL (see
    /// [`endpoint`](Self::endpoint)).
    pub fn get(&self, path: &str) -> AuthRequestBuilder<P> {
        AuthRequestBuilder::new(self.clone(), Method::GET, self.endpoint(path))
    }

    /// A `POST` to `path`, relative to the provider's base URL.
    pub fn post(&self, path: &str) -> AuthRequestBuilder<P> {
        AuthRequestBuilder::new(self.clone(), Method::POST, self.endpoint(path))
    }

    /// A request to an absolute URL, which must be on the provider's origin
    /// (or one allowed on the builder): anything else is
    /// [`AuthError::ForeignOrigin`] when sent.
    pub fn request(&self, method: Method, url: Url) -> AuthRequestBuilder<P> {
        AuthRequestBuilder::new(self.clone(), method, Ok(url))
    }
}
