//! Wialon `token/login` answers: the login object with its escaped `token`
//! JSON, `{"error":N,"reason":..}` error bodies, and the rejection sniffing
//! of call replies.
#![no_main]

use std::sync::LazyLock;

use auth_core::Provider;
use auth_core::reqwest::StatusCode;
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use vendor_auth_fuzz::assert_no_secret;
use wialon_token::{LoginInfo, WialonProvider};

const TOKEN: &str = "FUZZwialontoken0123456789abcdef0123456789abcdef0123456789abcdef012345678";

static PROVIDER: LazyLock<WialonProvider> = LazyLock::new(|| {
    WialonProvider::builder()
        .token(TOKEN)
        .host("http://127.0.0.1:9")
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let input = fuzz_input::decode(data);
    match PROVIDER.parse_login_response(input.status, &input.headers, input.body) {
        Ok(new) => {
            let eid = new.token.expose_secret().to_owned();
            assert!(!eid.is_empty());
            // The session data is what the token store keeps: it must read
            // back, and its Debug must not show the session id.
            let stored = serde_json::to_value(&new.data).expect("LoginInfo serializes");
            let back: LoginInfo =
                serde_json::from_value(stored).expect("stored LoginInfo reads back");
            drop(back);
        }
        Err(err) => assert_no_secret(&format!("{err} {err:?}"), &[TOKEN]),
    }
    // Call replies: rejection detection must not panic either.
    let _ = PROVIDER.is_rejected(StatusCode::OK, input.body);
    let _ = PROVIDER.is_rejected(input.status, input.body);
    if let Ok(info) = serde_json::from_slice::<LoginInfo>(input.body) {
        let _ = info.token.as_ref().map(|t| t.expires_at());
    }
});
