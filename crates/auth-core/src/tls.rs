//! TLS backends: which library secures `https://` connections, chosen per
//! client with [`HttpSettings::tls_backend`](crate::HttpSettings::tls_backend)
//! among those compiled in by the features `rustls`, `rustls-ring` and
//! `native-tls`.

use std::fmt;

use crate::{AuthError, HttpSettings};

/// Whether any TLS backend is compiled in.
pub(crate) const TLS_ENABLED: bool = cfg!(any(
    feature = "rustls",
    feature = "rustls-ring",
    feature = "native-tls"
));

/// The TLS library of a client. One variant per TLS feature compiled in;
/// with none, the enum has no variant and only `http://` URLs are usable.
///
/// When [`HttpSettings::tls_backend`](crate::HttpSettings::tls_backend) names
/// none, the first compiled-in backend of [`TlsBackend::ENABLED`] is used:
/// `native-tls`, then `rustls-ring`, then `rustls`. The non-default features
/// come first because they are only on when someone asked for them, whereas
/// `rustls` is on whenever a crate in the dependency graph keeps the default
/// features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsBackend {
    /// rustls with the aws-lc-rs crypto provider (feature `rustls`, the
    /// default), verifying against the system's root certificates
    /// (rustls-platform-verifier).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    Rustls,
    /// rustls with the ring crypto provider (feature `rustls-ring`), same
    /// roots as `Rustls`.
    #[cfg(feature = "rustls-ring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls-ring")))]
    RustlsRing,
    /// The platform's TLS library through native-tls (feature `native-tls`:
    /// OpenSSL on Linux, Secure Transport on Apple systems, SChannel on
    /// Windows), with the system's trust store.
    #[cfg(feature = "native-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-tls")))]
    NativeTls,
}

impl TlsBackend {
    /// The backends compiled in, in order of precedence: the first one is
    /// used when [`HttpSettings::tls_backend`](crate::HttpSettings::tls_backend)
    /// names none. Empty without a TLS feature.
    pub const ENABLED: &'static [TlsBackend] = &[
        #[cfg(feature = "native-tls")]
        TlsBackend::NativeTls,
        #[cfg(feature = "rustls-ring")]
        TlsBackend::RustlsRing,
        #[cfg(feature = "rustls")]
        TlsBackend::Rustls,
    ];

    /// The backend used when none is chosen: the first of
    /// [`ENABLED`](Self::ENABLED); `None` without a TLS feature.
    pub fn preferred() -> Option<TlsBackend> {
        Self::ENABLED.first().copied()
    }

    /// The name of the Cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            #[cfg(feature = "rustls")]
            TlsBackend::Rustls => "rustls",
            #[cfg(feature = "rustls-ring")]
            TlsBackend::RustlsRing => "rustls-ring",
            #[cfg(feature = "native-tls")]
            TlsBackend::NativeTls => "native-tls",
        }
    }
}

impl fmt::Display for TlsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}

/// The error for an `https://` URL (base URL, allowed origin or proxy) when
/// no TLS backend is compiled in.
pub(crate) fn no_tls_error(what: &str, host: &str) -> AuthError {
    AuthError::config(format!(
        "{what} https://{host} needs TLS, but auth-core was built without a TLS backend; \
         enable the feature `rustls` (the default), `rustls-ring` or `native-tls` of the \
         provider crate (or of auth-core / auth-all)"
    ))
}

/// Sets up `builder` for the backend the settings choose, with an explicit
/// crypto provider for rustls (never the process-wide default) and the
/// settings' extra root certificates. Without a TLS feature, `builder` is
/// returned as it is (`https://` URLs are refused before a client is built).
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    settings: &HttpSettings,
) -> Result<reqwest::ClientBuilder, AuthError> {
    let Some(backend) = settings.effective_tls_backend() else {
        return Ok(builder);
    };
    match backend {
        #[cfg(feature = "rustls")]
        TlsBackend::Rustls => {
            let config = shared_rustls_config(backend, settings, || {
                rustls_config(
                    rustls::crypto::aws_lc_rs::default_provider(),
                    settings,
                    backend,
                )
            })?;
            Ok(builder.tls_backend_preconfigured(config))
        }
        #[cfg(feature = "rustls-ring")]
        TlsBackend::RustlsRing => {
            let config = shared_rustls_config(backend, settings, || {
                rustls_config(rustls::crypto::ring::default_provider(), settings, backend)
            })?;
            Ok(builder.tls_backend_preconfigured(config))
        }
        #[cfg(feature = "native-tls")]
        TlsBackend::NativeTls => {
            let mut certs = Vec::new();
            for (index, pem) in settings.root_certificates.iter().enumerate() {
                let parsed = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| bad_root(index, &e.to_string()))?;
                if parsed.is_empty() {
                    return Err(bad_root(index, "no certificate in it"));
                }
                certs.extend(parsed);
            }
            Ok(builder.tls_backend_native().tls_certs_merge(certs))
        }
    }
}

#[cfg(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls"))]
fn bad_root(index: usize, why: &str) -> AuthError {
    AuthError::config(format!(
        "root certificate #{} given to HttpSettings::add_root_certificate is not usable ({why}); \
         pass the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
        index + 1
    ))
}

/// The rustls configuration of `backend` with the settings' extra roots,
/// built once per process by `build` and cloned for every client after
/// that: the verifier and its root store (the heavy part of a client,
/// about 100 KB and milliseconds to load) are shared by every client of
/// every runtime, as is the TLS session cache. A configuration holds no
/// connection, so sharing it across runtimes is safe (pools are per
/// runtime, see `shared.rs`).
#[cfg(any(feature = "rustls", feature = "rustls-ring"))]
fn shared_rustls_config(
    backend: TlsBackend,
    settings: &HttpSettings,
    build: impl FnOnce() -> Result<rustls::ClientConfig, AuthError>,
) -> Result<rustls::ClientConfig, AuthError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    type Configs = Mutex<HashMap<(TlsBackend, [u8; 32]), rustls::ClientConfig>>;
    static CONFIGS: OnceLock<Configs> = OnceLock::new();

    let key = (backend, settings.roots_digest());
    // Built under the lock: clients built at once wait for one build
    // rather than each loading the roots.
    let mut configs = CONFIGS
        .get_or_init(Configs::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(config) = configs.get(&key) {
        return Ok(config.clone());
    }
    let config = build()?;
    configs.insert(key, config.clone());
    Ok(config)
}

/// A rustls configuration like the one reqwest 0.13's `rustls` feature
/// builds (TLS 1.2 and 1.3, the system's roots through
/// rustls-platform-verifier plus the extra roots, ALPN `h2` and `http/1.1`),
/// but with `provider` named explicitly.
#[cfg(any(feature = "rustls", feature = "rustls-ring"))]
fn rustls_config(
    provider: rustls::crypto::CryptoProvider,
    settings: &HttpSettings,
    backend: TlsBackend,
) -> Result<rustls::ClientConfig, AuthError> {
    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let provider = Arc::new(provider);
    let mut extra: Vec<CertificateDer<'static>> = Vec::new();
    for (index, pem) in settings.root_certificates.iter().enumerate() {
        let before = extra.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad_root(index, &e.to_string()))?;
            // Parsed here so that a bad certificate is named as such, not
            // reported as a failure to load the system's roots.
            rustls::RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| bad_root(index, &e.to_string()))?;
            extra.push(cert);
        }
        if extra.len() == before {
            return Err(bad_root(index, "no certificate in it"));
        }
    }
    let roots_error = |e: rustls::Error| {
        AuthError::config(format!(
            "TLS backend {backend}: could not load the root certificates ({e}); install the \
             system's CA certificates (e.g. the ca-certificates package, or point SSL_CERT_FILE \
             at a bundle) or add the CA with HttpSettings::add_root_certificate"
        ))
    };
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone()).map_err(roots_error)?
    } else {
        #[cfg(any(all(unix, not(target_os = "android")), target_os = "windows"))]
        {
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(roots_error)?
        }
        #[cfg(not(any(all(unix, not(target_os = "android")), target_os = "windows")))]
        {
            return Err(AuthError::config(format!(
                "TLS backend {backend}: extra root certificates are not supported on this \
                 platform; install the CA in the system's trust store instead"
            )));
        }
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            AuthError::config(format!(
                "TLS backend {backend}: the crypto provider supports no TLS version ({e})"
            ))
        })?
        .dangerous()
        // Full verification (chain, validity, name), like reqwest's own
        // rustls setup; `dangerous` is only how a verifier is plugged in.
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(all(test, any(feature = "rustls", feature = "rustls-ring")))]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn backend() -> TlsBackend {
        #[cfg(feature = "rustls")]
        return TlsBackend::Rustls;
        #[cfg(not(feature = "rustls"))]
        return TlsBackend::RustlsRing;
    }

    fn fresh(settings: &HttpSettings) -> Result<rustls::ClientConfig, AuthError> {
        #[cfg(feature = "rustls")]
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        #[cfg(not(feature = "rustls"))]
        let provider = rustls::crypto::ring::default_provider();
        rustls_config(provider, settings, backend())
    }

    #[test]
    fn one_rustls_configuration_per_process_and_root_set() {
        let settings = HttpSettings::default();
        let first = shared_rustls_config(backend(), &settings, || fresh(&settings)).unwrap();
        // Another client, from any runtime or none: no second build, and
        // the same provider (and verifier) behind it.
        let second = shared_rustls_config(backend(), &settings, || {
            panic!("the configuration is built once per process")
        })
        .unwrap();
        assert!(Arc::ptr_eq(
            first.crypto_provider(),
            second.crypto_provider()
        ));
        // Other roots are another configuration.
        let other = HttpSettings::default().add_root_certificate(b"other roots".as_slice());
        let mut built = false;
        shared_rustls_config(backend(), &other, || {
            built = true;
            fresh(&settings)
        })
        .unwrap();
        assert!(built);
    }
}
