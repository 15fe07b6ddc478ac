//! One HTTP client per Tokio runtime and transport settings, shared by the
//! account clients built on the default path: one connection pool per host
//! and one TLS set-up, however many accounts a process holds.
//!
//! Pooled connections belong to the runtime that opened them (their I/O is
//! driven by its reactor), so a client is never shared across runtimes: the
//! table is keyed by the runtime's id. A client built outside any runtime
//! joins the table at its first request made in one (`HttpClient`'s
//! deferred sharing). Entries are weak: a shared client lives as long as an
//! account client uses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use sha2::{Digest, Sha256};

use crate::AuthError;
use crate::http::HttpSettings;

/// A `reqwest::Client` kept alive by the account clients that use it.
#[derive(Debug)]
pub(crate) struct SharedClient {
    pub(crate) client: reqwest::Client,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    runtime: tokio::runtime::Id,
    /// SHA-256 of the transport settings (the proxy URL may carry a
    /// password: only its digest is kept here).
    transport: [u8; 32],
}

type Table = Mutex<HashMap<Key, Weak<SharedClient>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::default)
}

/// The client shared by this runtime's account clients with the same
/// transport `settings`, built on first use; `None` outside a runtime (the
/// caller builds a client of its own).
pub(crate) fn shared_client(
    settings: &HttpSettings,
    build: impl FnOnce() -> Result<reqwest::Client, AuthError>,
) -> Result<Option<Arc<SharedClient>>, AuthError> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Ok(None);
    };
    let key = Key {
        runtime: runtime.id(),
        transport: transport_digest(settings),
    };
    let mut table = table().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(shared) = table.get(&key).and_then(Weak::upgrade) {
        return Ok(Some(shared));
    }
    // Entries of clients no longer used (and of runtimes gone) go as new
    // ones come.
    table.retain(|_, entry| entry.strong_count() > 0);
    let shared = Arc::new(SharedClient { client: build()? });
    table.insert(key, Arc::downgrade(&shared));
    Ok(Some(shared))
}

/// A digest of what the `reqwest::Client` is built from: two settings with
/// the same digest build interchangeable clients.
fn transport_digest(settings: &HttpSettings) -> [u8; 32] {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    field(&settings.connect_timeout.as_nanos().to_be_bytes());
    field(&settings.timeout.as_nanos().to_be_bytes());
    field(settings.user_agent.as_bytes());
    field(settings.proxy_url().map_or("", |u| u.as_str()).as_bytes());
    let backend = settings.effective_tls_backend().map(|b| b.feature());
    field(backend.unwrap_or("").as_bytes());
    field(&settings.roots_digest());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_digest_tells_transports_apart() {
        let base = HttpSettings::default();
        let same = HttpSettings::default();
        assert_eq!(transport_digest(&base), transport_digest(&same));
        let slower = HttpSettings::default().timeout(Duration::from_secs(99));
        assert_ne!(transport_digest(&base), transport_digest(&slower));
        // Body caps are not transport settings: the client is the same.
        let mut capped = HttpSettings::default();
        capped.max_body = 1;
        assert_eq!(transport_digest(&base), transport_digest(&capped));
    }

    #[test]
    fn outside_a_runtime_nothing_is_shared() {
        let settings = HttpSettings::default();
        let shared = shared_client(&settings, || Ok(reqwest::Client::new())).unwrap();
        assert!(shared.is_none());
    }
}
