//! Where a token may go: the scope check (a request is authorized only for
//! the provider's origin or an origin the user allowed) and redirect
//! handling (credentials never follow a redirect; authorized calls follow
//! same-origin redirects only, authorized again at each hop).

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, TRANSFER_ENCODING};
use reqwest::{Method, Request, RequestBuilder, Response, StatusCode};
use url::Url;

use crate::AuthError;
use crate::authorize::authorize;
use crate::gate::RequestGate;
use crate::http::HttpClient;
use crate::provider::Provider;
use crate::session::Session;

/// Most redirects an authorized call follows before giving up.
pub const MAX_REDIRECTS: usize = 10;

/// Which client sends an authorized request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The API client (the application's, when it supplied one).
    Api,
    /// Our own client: for requests that carry credentials.
    Own,
}

/// `scheme://host:port` of `url`, without path, query or user info.
pub(crate) fn origin_text(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Host and port of `url` (the port only when explicit and not the
/// scheme's default): what a redirect error names.
pub(crate) fn host_text(url: &Url) -> String {
    let host = url.host_str().unwrap_or("an unknown host");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Whether `url` may carry `provider`'s token: its origin is the provider's
/// (the origin of [`Provider::base_url`]) or one allowed on the builder.
pub fn check_scope<P: Provider + ?Sized>(
    provider: &P,
    http: &HttpClient,
    url: &Url,
) -> Result<(), AuthError> {
    let origin = url.origin();
    if origin.is_tuple()
        && (origin == provider.base_url().origin() || http.allowed_origins().contains(&origin))
    {
        return Ok(());
    }
    Err(AuthError::ForeignOrigin {
        provider: provider.name(),
        origin: if origin.is_tuple() {
            origin_text(url)
        } else {
            format!("a {} URL", url.scheme())
        },
    })
}

/// The target of a redirect answer (301, 302, 303, 307, 308, or any other
/// 3xx with a `Location`), resolved against the request URL `from`.
/// `None` when `response` is not a redirect.
pub(crate) fn redirect_target(response: &Response, from: &Url) -> Option<RedirectTarget> {
    let status = response.status();
    if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
        return None;
    }
    let location = response.headers().get(LOCATION)?;
    Some(
        location
            .to_str()
            .ok()
            .and_then(|l| from.join(l.trim()).ok())
            .map_or(RedirectTarget::Invalid, RedirectTarget::Url),
    )
}

/// Where a redirect points.
#[derive(Debug)]
pub(crate) enum RedirectTarget {
    /// A URL.
    Url(Url),
    /// A `Location` that is not a URL.
    Invalid,
}

/// The error for a redirect that is not followed.
pub(crate) fn refused(
    provider: &'static str,
    status: StatusCode,
    target: &RedirectTarget,
) -> AuthError {
    AuthError::Redirect {
        provider,
        status: status.as_u16(),
        target_host: match target {
            RedirectTarget::Url(url) => host_text(url),
            RedirectTarget::Invalid => "an invalid Location".to_owned(),
        },
    }
}

/// The error for a response a supplied client obtained by following a
/// redirect itself (its final URL is not the one requested).
fn followed(provider: &'static str, requested: &Url, response: &Response) -> Option<AuthError> {
    let landed = response.url();
    if landed == requested {
        return None;
    }
    Some(AuthError::Redirect {
        provider,
        status: response.status().as_u16(),
        target_host: format!(
            "{} (the supplied HTTP client followed it: build it with redirect::Policy::none())",
            host_text(landed)
        ),
    })
}

/// Checks the scope of `request`, authorizes it with `session` and sends it;
/// on [`Route::Api`] follows redirects to the same origin only (scheme,
/// host and port, so never https to http), authorizing again at each hop,
/// at most [`MAX_REDIRECTS`] times. A redirect to another origin, or any
/// redirect on [`Route::Own`], is [`AuthError::Redirect`], returned without
/// following it.
pub(crate) async fn send_authorized<P: Provider>(
    http: &HttpClient,
    provider: &P,
    session: &Session<P::Data>,
    request: RequestBuilder,
    route: Route,
    gate: Option<&RequestGate>,
) -> Result<Response, AuthError> {
    let name = provider.name();
    let client = match route {
        Route::Api => http.client(),
        Route::Own => http.own_client(),
    };
    let mut current = request.build().map_err(|e| AuthError::transport(name, e))?;
    let mut hops = 0;
    loop {
        let template = current.try_clone();
        let bodiless = bodiless_copy(&current, current.method().clone());
        let authorized = authorize(provider, http, session, client, current)?;
        let requested = authorized.url().clone();
        let rate = match gate {
            Some(gate) => Some(gate.pace().await),
            None => None,
        };
        let response = client
            .execute(authorized)
            .await
            .map_err(|e| AuthError::transport(name, e))?;
        drop(rate);
        if let Some(error) = followed(name, &requested, &response) {
            return Err(error);
        }
        let from = bodiless.url().clone();
        let Some(target) = redirect_target(&response, &from) else {
            return Ok(response);
        };
        let status = response.status();
        let RedirectTarget::Url(to) = &target else {
            return Err(refused(name, status, &target));
        };
        // Requests that carry credentials beyond the session (keep-alive,
        // key and token management) follow no redirect at all.
        if route == Route::Own || !may_follow(&from, to) {
            return Err(refused(name, status, &target));
        }
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(AuthError::UnexpectedResponse {
                provider: name,
                status: Some(status.as_u16()),
                detail: format!(
                    "more than {MAX_REDIRECTS} redirects; check the base URL and endpoint paths"
                ),
            });
        }
        let to_get = status == StatusCode::SEE_OTHER && bodiless.method() != Method::HEAD
            || matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && bodiless.method() == Method::POST;
        let mut next = if to_get {
            bodiless_copy(&bodiless, Method::GET)
        } else {
            // 307, 308 (and 301/302 of anything but POST) keep the method
            // and the body.
            template.ok_or_else(|| AuthError::UnexpectedResponse {
                provider: name,
                status: Some(status.as_u16()),
                detail: "a same-origin redirect asks to send the request body again, but it is a stream that cannot be repeated; send it to the redirect target directly".to_owned(),
            })?
        };
        *next.url_mut() = to.clone();
        // The next hop is on the same origin: still in scope.
        current = next;
    }
}

/// Whether an authorized call may follow a redirect from `from` to `to`:
/// same scheme, host and port only (so never https to http).
fn may_follow(from: &Url, to: &Url) -> bool {
    let origin = from.origin();
    origin.is_tuple() && origin == to.origin()
}

/// A copy of `request` without body (and without the headers that describe
/// one), with `method`.
fn bodiless_copy(request: &Request, method: Method) -> Request {
    let mut copy = Request::new(method, request.url().clone());
    *copy.headers_mut() = request.headers().clone();
    if copy.method() != request.method() {
        for name in [
            CONTENT_TYPE,
            CONTENT_LENGTH,
            CONTENT_ENCODING,
            TRANSFER_ENCODING,
        ] {
            copy.headers_mut().remove(name);
        }
    }
    *copy.timeout_mut() = request.timeout().copied();
    *copy.version_mut() = request.version();
    copy
}

/// What the middleware does with a response: a redirect goes back to the
/// caller untouched; a response a client obtained by following a redirect
/// is refused.
#[cfg(feature = "middleware")]
pub(crate) fn middleware_response(
    provider: &'static str,
    requested: &Url,
    response: &Response,
) -> Result<bool, AuthError> {
    if let Some(error) = followed(provider, requested, response) {
        return Err(error);
    }
    Ok(response.status().is_redirection())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_redirects_are_followed() {
        let u = |s: &str| Url::parse(s).unwrap();
        let from = u("https://api.example.com/a?token=x");
        assert!(may_follow(&from, &u("https://api.example.com/b")));
        assert!(may_follow(&from, &u("https://api.example.com:443/b")));
        assert!(
            !may_follow(&from, &u("http://api.example.com/b")),
            "https to http"
        );
        assert!(!may_follow(&from, &u("https://api.example.com:8443/b")));
        assert!(!may_follow(&from, &u("https://evil.example.com/b")));
        assert!(!may_follow(&from, &u("https://sub.api.example.com/b")));
        assert!(!may_follow(
            &u("http://127.0.0.1:1/"),
            &u("http://localhost:1/")
        ));
        assert!(!may_follow(
            &u("data:text/plain,x"),
            &u("data:text/plain,x")
        ));
    }

    #[test]
    fn redirect_errors_name_the_host_only() {
        let target = RedirectTarget::Url(
            Url::parse("https://u:p@evil.example:8443/p?token=secret").unwrap(),
        );
        let err = refused("demo", StatusCode::TEMPORARY_REDIRECT, &target);
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("307") && text.contains("evil.example:8443"),
            "{text}"
        );
        assert!(
            !text.contains("secret") && !text.contains("/p") && !text.contains("u:p"),
            "{text}"
        );
    }
}
