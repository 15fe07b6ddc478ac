//! [`reqwest-middleware`](https://docs.rs/reqwest-middleware) integration
//! (feature `middleware`).
//!
//! ```no_run
//! # use auth_core::{Authenticated, Provider};
//! # async fn demo<P: Provider>(auth: Authenticated<P>) -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::middleware::AuthMiddleware;
//!
//! // The client inside must not follow redirects (see `AuthMiddleware`).
//! let inner = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(inner)
//!     .with(AuthMiddleware::new(auth))
//!     .build();
//! let response = client.get("https://api.example.com/data").send().await?;
//! # Ok(()) }
//! ```

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::AuthError;
use crate::client::{Authenticated, Verdict};
use crate::provider::Provider;

/// Authorizes every request with the provider's session; on a rejection it
/// invalidates that session, logs in once (shared with every other rejected
/// request) and retries the request once, when its body can be cloned.
///
/// Errors of the authentication layer reach the caller as
/// `reqwest_middleware::Error::Middleware` wrapping an [`AuthError`]
/// (`err.downcast_ref::<AuthError>()` on the inner `anyhow::Error`).
/// Transport errors reach it as `reqwest_middleware::Error::Reqwest` with
/// their URL stripped (a URL may carry a token).
///
/// Where the token goes:
///
/// * a request is authorized only for the provider's origin or one allowed
///   with [`AuthenticatedBuilder::allow_origin`](crate::AuthenticatedBuilder::allow_origin);
///   any other is refused with [`AuthError::ForeignOrigin`] before it is
///   sent;
/// * a redirect (3xx) is returned to the caller untouched, not followed;
/// * the `reqwest::Client` inside the middleware stack must not follow
///   redirects (`.redirect(reqwest::redirect::Policy::none())`): reqwest
///   would carry custom headers, query and body to the next hop. A response
///   showing it did is refused with [`AuthError::Redirect`].
#[derive(Debug, Clone)]
pub struct AuthMiddleware<P: Provider> {
    auth: Authenticated<P>,
}

impl<P: Provider> AuthMiddleware<P> {
    /// Middleware backed by `auth` (clones share the session).
    pub fn new(auth: Authenticated<P>) -> Self {
        Self { auth }
    }

    /// The client behind the middleware.
    pub fn authenticated(&self) -> &Authenticated<P> {
        &self.auth
    }
}

fn mw(err: AuthError) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(err)
}

/// Strips the URL (which may carry a token) from transport errors.
fn without_url(err: reqwest_middleware::Error) -> reqwest_middleware::Error {
    match err {
        reqwest_middleware::Error::Reqwest(e) => {
            reqwest_middleware::Error::Reqwest(e.without_url())
        }
        other => other,
    }
}

impl<P: Provider> AuthMiddleware<P> {
    fn authorize(
        &self,
        session: &crate::Session<P::Data>,
        request: Request,
    ) -> reqwest_middleware::Result<Request> {
        let http = self.auth.http();
        crate::authorize::authorize(self.auth.provider(), http, session, http.client(), request)
            .map_err(mw)
    }

    /// Sends an authorized request down the stack; the flag tells a redirect,
    /// which goes back to the caller untouched.
    async fn run(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<(Response, bool)> {
        let requested = request.url().clone();
        let rate = match &self.auth.inner.gate {
            Some(gate) => Some(gate.pace().await),
            None => None,
        };
        let response = next.run(request, extensions).await.map_err(without_url)?;
        drop(rate);
        let redirect = crate::redirect::middleware_response(
            self.auth.provider().name(),
            &requested,
            &response,
        )
        .map_err(mw)?;
        Ok((response, redirect))
    }
}

#[async_trait::async_trait]
impl<P: Provider> Middleware for AuthMiddleware<P> {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // One permit covers the request and its retry, which run in turn.
        let permit = self.auth.permit().await;
        let session = self.auth.session().await.map_err(mw)?;
        let retry = request.try_clone();
        let authorized = self.authorize(&session, request)?;
        let (response, redirect) = self.run(authorized, extensions, next.clone()).await?;
        if redirect {
            return Ok(self.auth.hand_over(response, permit));
        }
        let (response, outcome) = self.auth.classify(response).await.map_err(mw)?;
        let speculative = match self.auth.judge(&session, outcome, retry.is_some()) {
            Verdict::Keep => return Ok(self.auth.hand_over(response, permit)),
            Verdict::Reject => None,
            Verdict::Speculate(code) => Some(code),
        };
        self.auth.reject(&session).await;
        let name = self.auth.provider().name();
        let Some(retry) = retry else {
            return Err(mw(AuthError::SessionRejected {
                provider: name,
                retried: false,
            }));
        };
        let fresh = self
            .auth
            .session_after_rejection(session.generation())
            .await
            .map_err(mw)?;
        let authorized = self.authorize(&fresh, retry)?;
        let (response, redirect) = self.run(authorized, extensions, next).await?;
        if redirect {
            return Ok(self.auth.hand_over(response, permit));
        }
        let (response, outcome) = self.auth.classify(response).await.map_err(mw)?;
        if self
            .auth
            .judge_retry(&fresh, outcome, speculative.as_deref())
        {
            self.auth.reject(&fresh).await;
            return Err(mw(AuthError::SessionRejected {
                provider: name,
                retried: true,
            }));
        }
        Ok(self.auth.hand_over(response, permit))
    }
}
