//! [`reqwest-middleware`](https://docs.rs/reqwest-middleware) integration
//! (feature `middleware`).
//!
//! ```no_run
//! # use auth_core::{Authenticated, Provider};
//! # async fn demo<P: Provider>(auth: Authenticated<P>) -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::middleware::AuthMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(AuthMiddleware::new(auth))
//!     .build();
//! let response = client.get("https://api.example.com/data").send().await?;
//! # Ok(()) }
//! ```

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::AuthError;
use crate::client::Authenticated;
use crate::provider::Provider;

/// Authorizes every request with the provider's session; on a rejection it
/// invalidates that session, logs in once (shared with every other rejected
/// request) and retries the request once, when its body can be cloned.
///
/// Errors of the authentication layer reach the caller as
/// `reqwest_middleware::Error::Middleware` wrapping an [`AuthError`]
/// (`err.downcast_ref::<AuthError>()` on the inner `anyhow::Error`).
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

impl<P: Provider> AuthMiddleware<P> {
    fn authorize(
        &self,
        session: &crate::Session<P::Data>,
        request: Request,
    ) -> reqwest_middleware::Result<Request> {
        let builder =
            reqwest::RequestBuilder::from_parts(self.auth.http().client().clone(), request);
        self.auth
            .provider()
            .authorize(session, builder)
            .build()
            .map_err(|e| mw(AuthError::transport(self.auth.provider().name(), e)))
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
        let session = self.auth.session().await.map_err(mw)?;
        let retry = request.try_clone();
        let authorized = self.authorize(&session, request)?;
        let response = next.clone().run(authorized, extensions).await?;
        let (response, rejected) = self.auth.classify(&session, response).await.map_err(mw)?;
        if !rejected {
            return Ok(response);
        }
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
        let response = next.run(authorized, extensions).await?;
        let (response, rejected) = self.auth.classify(&fresh, response).await.map_err(mw)?;
        if rejected {
            self.auth.reject(&fresh).await;
            return Err(mw(AuthError::SessionRejected {
                provider: name,
                retried: true,
            }));
        }
        Ok(response)
    }
}
