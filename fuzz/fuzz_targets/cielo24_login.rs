//! cielo24 `account/login` answers: `{"ApiToken":..}` and the
//! `{"ErrorType":..,"ErrorComment":..}` error format (HTTP 400), plus the
//! `BAD_API_TOKEN` rejection check of call replies.
#![no_main]

use std::sync::LazyLock;

use auth_core::Provider;
use auth_core::reqwest::StatusCode;
use cielo24_auth::Cielo24Provider;
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};
use vendor_auth_fuzz::assert_no_secret;

const PASSWORD: &str = "FUZZ-cielo24-password-5a71";

static PROVIDER: LazyLock<Cielo24Provider> = LazyLock::new(|| {
    Cielo24Provider::builder()
        .username("fuzz")
        .password(SecretString::from(PASSWORD))
        .base_url("http://127.0.0.1:9/".parse().unwrap())
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let input = fuzz_input::decode(data);
    match PROVIDER.parse_login_response(input.status, &input.headers, input.body) {
        Ok(new) => {
            let token = new.token.expose_secret();
            assert!(!token.is_empty());
            assert!(!token.chars().any(|c| c.is_whitespace() || c.is_control()));
        }
        Err(err) => assert_no_secret(&format!("{err} {err:?}"), &[PASSWORD]),
    }
    if let Some(error) = cielo24_auth::protocol::parse_error(input.body) {
        let _ = error.to_string();
    }
    let _ = PROVIDER.is_rejected(StatusCode::BAD_REQUEST, input.body);
    let _ = PROVIDER.is_rejected(input.status, input.body);
});
