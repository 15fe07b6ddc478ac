//! Authorizing one request: the provider's default headers where the caller
//! set none, the provider's token, one `Cookie` header, and the token scope
//! checked before and after.

use reqwest::header::{COOKIE, HeaderMap, HeaderValue};
use reqwest::{Request, RequestBuilder};

use crate::AuthError;
use crate::http::HttpClient;
use crate::provider::Provider;
use crate::redirect::check_scope;
use crate::session::Session;

/// `request` authorized with `session` for `client`, or why it may not be.
pub(crate) fn authorize<P: Provider>(
    provider: &P,
    http: &HttpClient,
    session: &Session<P::Data>,
    client: &reqwest::Client,
    mut request: Request,
) -> Result<Request, AuthError> {
    check_scope(provider, http, request.url())?;
    let defaults = provider.default_headers();
    for name in defaults.keys() {
        if !request.headers().contains_key(name) {
            for value in defaults.get_all(name) {
                request.headers_mut().append(name.clone(), value.clone());
            }
        }
    }
    let mut authorized = provider
        .authorize(session, RequestBuilder::from_parts(client.clone(), request))
        .build()
        .map_err(|e| AuthError::transport(provider.name(), e))?;
    merge_cookies(authorized.headers_mut());
    // An authorize() that moved the request elsewhere is refused too.
    check_scope(provider, http, authorized.url())?;
    Ok(authorized)
}

/// Joins several `Cookie` headers into one (RFC 6265 section 5.4: a user
/// agent sends one), in order; the result is sensitive when any part was.
fn merge_cookies(headers: &mut HeaderMap) {
    let parts: Vec<&HeaderValue> = headers.get_all(COOKIE).iter().collect();
    if parts.len() < 2 {
        return;
    }
    let sensitive = parts.iter().any(|v| v.is_sensitive());
    let mut joined = Vec::new();
    for part in parts {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(part.as_bytes());
    }
    // Each part was a valid header value, and "; " is too.
    if let Ok(mut value) = HeaderValue::from_bytes(&joined) {
        value.set_sensitive(sensitive);
        headers.insert(COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_joined_in_order_and_stay_sensitive() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1"));
        let mut secret = HeaderValue::from_static("authToken=t");
        secret.set_sensitive(true);
        headers.append(COOKIE, secret);
        merge_cookies(&mut headers);
        let all: Vec<_> = headers.get_all(COOKIE).iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0], "a=1; authToken=t");
        assert!(all[0].is_sensitive());
    }
}
