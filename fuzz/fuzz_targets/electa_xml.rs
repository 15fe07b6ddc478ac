//! Electa `/token/` answers: the lenient XML reader (any root, a `*code`
//! element or attribute, `ResponseData`), CSV/HTML detection, the
//! classification of error texts, and the rejection check of call replies.
#![no_main]

use std::sync::LazyLock;

use auth_core::Provider;
use auth_core::reqwest::StatusCode;
use electa_auth::ElectaProvider;
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};
use vendor_auth_fuzz::assert_no_secret;

const APP_KEY: &str = "FUZZELECTAAPPKEY0123456789ABCDEF";

static PROVIDER: LazyLock<ElectaProvider> = LazyLock::new(|| {
    ElectaProvider::builder()
        .api_url("http://127.0.0.1:9/apps/api".parse().unwrap())
        .cid(4242)
        .app_key(SecretString::from(APP_KEY))
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
        Err(err) => assert_no_secret(&format!("{err} {err:?}"), &[APP_KEY]),
    }
    if let Ok(reply) = electa_auth::protocol::parse_reply(input.body) {
        assert_eq!(reply.data.trim(), reply.data);
        let _ = format!("{reply:?}");
    }
    let _ = PROVIDER.rejection(StatusCode::OK, input.body);
});
