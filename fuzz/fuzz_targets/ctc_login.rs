//! CTC login answers: `Set-Cookie: authToken=..` handling (Expires, Max-Age),
//! the JSON login summary and the JSON error bodies.
#![no_main]

use std::sync::LazyLock;

use auth_core::reqwest::header::HeaderValue;
use ctc_auth::{CtcProvider, Instance};
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};
use vendor_auth_fuzz::assert_no_secret;

const PASSWORD: &str = "FUZZ-ctc-password-7d1e";
const APP_KEY: &str = "FUZZ-ctc-appkey-42b9";

static PROVIDER: LazyLock<CtcProvider> = LazyLock::new(|| {
    CtcProvider::builder()
            .username("fuzz.user@example.com")
            .password(SecretString::from(PASSWORD))
            .app_key(SecretString::from(APP_KEY))
            .instance(Instance::Custom("http://127.0.0.1:9/".parse().unwrap()))
            .build()
            .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let input = fuzz_input::decode(data);
    match PROVIDER.parse_login_response(input.status, &input.headers, input.body) {
        Ok(new) => {
            let token = new.token.expose_secret();
            assert!(!token.is_empty());
            // The token must be sendable back as a cookie.
            assert!(HeaderValue::from_str(&format!("authToken={token}")).is_ok());
        }
        Err(err) => assert_no_secret(&format!("{err} {err:?}"), &[PASSWORD, APP_KEY]),
    }
});
