//! TLS backends against an HTTPS server on loopback: a certificate from a
//! test CA (rcgen), served with tokio-rustls (ring). Every compiled-in
//! backend completes a request once the CA is added as a root, and refuses
//! the server without it or when the certificate comes from another CA.
#![cfg(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls"))]

mod common;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuthError, Authenticated, Expiry, HttpClient, HttpSettings, TlsBackend};
use common::Fake;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

/// A certificate authority of the test's own.
struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost, and its key.
    fn server_cert(
        &self,
    ) -> (
        pki_types::CertificateDer<'static>,
        pki_types::PrivateKeyDer<'static>,
    ) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "auth-core test server");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            cert.der().clone(),
            pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }
}

/// An HTTPS server on 127.0.0.1 with a certificate from `ca`: answers
/// every request `200 ok` over HTTP/1.1, one request per connection. It
/// stops with the test's runtime.
async fn https_server(ca: &TestCa) -> String {
    let (cert, key) = ca.server_cert();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://{addr}")
}

fn settings(backend: TlsBackend) -> HttpSettings {
    HttpSettings::default()
        .tls_backend(backend)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
}

async fn get(settings: HttpSettings, url: &str) -> Result<String, AuthError> {
    let http = HttpClient::new(settings)?;
    let response = http.send("test", http.client().get(url)).await?;
    let (status, body) = http.read_body("test", response).await?;
    assert_eq!(status, 200);
    Ok(String::from_utf8(body.to_vec()).unwrap())
}

/// The error and its sources, as one text.
fn chain(error: &AuthError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(" / ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn each_enabled_backend_completes_a_request_to_a_server_of_an_added_root() {
    let ca = TestCa::new("auth-core test CA");
    let url = https_server(&ca).await;
    assert!(!TlsBackend::ENABLED.is_empty());
    for &backend in TlsBackend::ENABLED {
        let body = get(settings(backend).add_root_certificate(&ca.pem), &url)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", chain(&e)));
        assert_eq!(body, "ok", "{backend}");
    }
}

#[tokio::test]
async fn each_enabled_backend_refuses_a_certificate_from_an_untrusted_ca() {
    let trusted = TestCa::new("auth-core trusted CA");
    let other = TestCa::new("auth-core untrusted CA");
    let url = https_server(&other).await;
    for &backend in TlsBackend::ENABLED {
        for settings in [
            settings(backend).add_root_certificate(&trusted.pem),
            // the system's roots only
            settings(backend),
        ] {
            let err = get(settings, &url).await.unwrap_err();
            assert!(
                matches!(err, AuthError::Transport { .. }),
                "{backend}: {err:?}"
            );
            let text = chain(&err).to_ascii_lowercase();
            assert!(
                text.contains("certificate") || text.contains("issuer"),
                "{backend}: the error names the certificate problem: {text}"
            );
        }
    }
}

#[tokio::test]
async fn an_authenticated_client_sends_over_https_with_each_backend() {
    let ca = TestCa::new("auth-core test CA");
    let url = https_server(&ca).await;
    for &backend in TlsBackend::ENABLED {
        let client =
            Authenticated::builder(Fake::new(Expiry::UntilRejected, Duration::ZERO).at(&url))
                .http_settings(settings(backend).add_root_certificate(&ca.pem))
                .build()
                .unwrap();
        let response = client
            .send(client.http().client().get(format!("{url}/data")))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", chain(&e)));
        assert_eq!(response.status(), 200, "{backend}");
    }
}

#[tokio::test]
async fn a_client_builder_from_the_settings_trusts_the_added_root() {
    let ca = TestCa::new("auth-core test CA");
    let url = https_server(&ca).await;
    for &backend in TlsBackend::ENABLED {
        let client = settings(backend)
            .add_root_certificate(&ca.pem)
            .client_builder()
            .unwrap()
            .build()
            .unwrap();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok", "{backend}");
    }
}

#[test]
fn the_default_backend_follows_the_documented_precedence() {
    let expected = [
        #[cfg(feature = "native-tls")]
        TlsBackend::NativeTls,
        #[cfg(feature = "rustls-ring")]
        TlsBackend::RustlsRing,
        #[cfg(feature = "rustls")]
        TlsBackend::Rustls,
    ];
    assert_eq!(TlsBackend::ENABLED, expected);
    assert_eq!(TlsBackend::preferred(), Some(expected[0]));
    let defaults = HttpSettings::default();
    assert_eq!(defaults.effective_tls_backend(), Some(expected[0]));
    for &backend in TlsBackend::ENABLED {
        let chosen = HttpSettings::default().tls_backend(backend);
        assert_eq!(chosen.effective_tls_backend(), Some(backend));
        let shown = format!("{chosen:?}");
        assert!(shown.contains(&format!("{backend:?}")), "{shown}");
        // every backend builds a client with the system's roots alone
        HttpClient::new(chosen).unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}

#[test]
fn a_root_certificate_that_is_not_pem_is_a_config_error() {
    for &backend in TlsBackend::ENABLED {
        for pem in [
            &b"not a certificate"[..],
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let err = HttpClient::new(settings(backend).add_root_certificate(pem)).unwrap_err();
            assert!(matches!(err, AuthError::Config(_)), "{backend}: {err:?}");
            let text = err.to_string();
            assert!(
                text.contains("add_root_certificate") && text.contains("PEM"),
                "{backend}: the message says what to pass: {text}"
            );
        }
    }
}
