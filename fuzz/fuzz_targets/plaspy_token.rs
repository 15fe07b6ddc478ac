//! Plaspy `POST /api/Auth/Token` answers: `success`/`token`/`expires`/`error`
//! JSON (any status), the RFC 3339 `expires` and the JWT `exp` fallback.
#![no_main]

use std::sync::LazyLock;

use auth_core::Expiry;
use libfuzzer_sys::fuzz_target;
use plaspy_auth::{PlaspyProvider};
use secrecy::{ExposeSecret, SecretString};
use vendor_auth_fuzz::assert_no_secret;

const API_KEY: &str = "FUZZ-plaspy-apikey-0c93";

static PROVIDER: LazyLock<PlaspyProvider> = LazyLock::new(|| {
    PlaspyProvider::builder()
            .user_name("fuzz")
            .api_key(SecretString::from(API_KEY))
            .base_url("http://127.0.0.1:9/".parse().unwrap())
            .build()
            .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let input = fuzz_input::decode(data);
    match PROVIDER.parse_login_response(input.status, &input.headers, input.body) {
        Ok(new) => {
            assert!(!new.token.expose_secret().trim().is_empty());
            // Whatever `expires` or `exp` said, the session expires in the
            // future (a past time falls back to the default lifetime).
            assert_eq!(new.expiry, Expiry::At(new.data.expires));
            assert!(new.data.expires > chrono::Utc::now());
        }
        Err(err) => assert_no_secret(&format!("{err} {err:?}"), &[API_KEY]),
    }
});
