//! A token answer whose `expires` echoes the API key or the token is not
//! read (and so never quoted in the "unreadable expires" warning).

use std::io::Write;
use std::sync::{Arc, Mutex};

use plaspy_auth::{ExpirySource, PlaspyProvider};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::SecretString;

const API_KEY: &str = "api-key-echo-0123456789abcdef";
const TOKEN: &str = "token-echo-0123456789abcdef";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_expires_echoing_a_secret_is_dropped_unlogged() {
    let provider = PlaspyProvider::builder()
        .user_name("demo")
        .api_key(SecretString::from(API_KEY))
        .base_url("http://127.0.0.1:9/".parse().unwrap())
        .build()
        .unwrap();
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for expires in [API_KEY.to_owned(), format!("until {TOKEN}")] {
            let body = serde_json::json!({"success": true, "token": TOKEN, "expires": expires});
            let new = provider
                .parse_login_response(
                    StatusCode::OK,
                    &HeaderMap::new(),
                    body.to_string().as_bytes(),
                )
                .unwrap();
            assert_eq!(new.data.expiry_source, ExpirySource::DefaultLifetime);
        }
    });
    let logged = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(!logged.contains(API_KEY), "{logged}");
    assert!(!logged.contains(TOKEN), "{logged}");
}
