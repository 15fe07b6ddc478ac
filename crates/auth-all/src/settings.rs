//! [`ConnectOptions`]: what connecting a configured provider needs besides
//! its settings (each provider crate owns its settings type, feature
//! `serde`; the shared readers are in `auth_core::settings`).

use std::sync::Arc;

use auth_core::settings::ProviderSettings;
use auth_core::{AuthError, Authenticated, DynAuthenticated, HttpSettings, Provider, TokenStore};

/// Options for [`ProviderConfig::connect_with`](crate::ProviderConfig::connect_with)
/// that cannot come from a configuration file: a shared token store (e.g.
/// `auth_redis::RedisStore`, so a fleet of processes shares sessions) and a
/// shared `reqwest::Client`.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    store: Option<Arc<dyn TokenStore>>,
    http_client: Option<auth_core::reqwest::Client>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("store", &self.store)
            .field("http_client", &self.http_client.is_some())
            .finish()
    }
}

impl ConnectOptions {
    /// No store (each client keeps its sessions in memory) and a client of
    /// its own per provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep sessions, login locks and failure counts in `store` (shared by
    /// every client connected with these options; keys differ per account).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Send authorized calls through this `reqwest::Client` (its own
    /// timeouts apply to them; the configured `timeout_secs` and
    /// `connect_timeout_secs` are then ignored for calls). Logins, logouts,
    /// keep-alives and key or token management still go through a client
    /// of each provider's own that never follows redirects.
    ///
    /// The client must not follow redirects: build it with
    /// `.redirect(reqwest::redirect::Policy::none())` (see
    /// `auth_core::AuthenticatedBuilder::http_client`).
    #[must_use]
    pub fn http_client(mut self, client: auth_core::reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Builds an [`Authenticated`] client of `provider`.
    #[cfg_attr(
        not(any(
            feature = "ctc",
            feature = "plaspy",
            feature = "wialon",
            feature = "cielo24",
            feature = "electa"
        )),
        allow(dead_code)
    )]
    pub(crate) fn build<P: Provider>(
        &self,
        provider: P,
        http: HttpSettings,
        customize: impl FnOnce(auth_core::AuthenticatedBuilder<P>) -> auth_core::AuthenticatedBuilder<P>,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let mut builder = Authenticated::builder(provider).http_settings(http);
        if let Some(store) = &self.store {
            builder = builder.store(Arc::clone(store));
        }
        if let Some(client) = &self.http_client {
            builder = builder.http_client(client.clone());
        }
        Ok(Box::new(customize(builder).build()?))
    }

    /// Builds a client from one provider's settings.
    #[cfg_attr(
        not(any(
            feature = "ctc",
            feature = "plaspy",
            feature = "wialon",
            feature = "cielo24",
            feature = "electa"
        )),
        allow(dead_code)
    )]
    pub(crate) fn connect<S: ProviderSettings>(
        &self,
        settings: S,
    ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        let http = settings.http_settings()?;
        self.build(settings.into_provider()?, http, |b| b)
    }
}
