//! Replays the `wialon_login` fuzz seeds (`fuzz/seeds/wialon_login/`)
//! through [`WialonProvider::parse_login_response`] and the rejection check,
//! and checks round trips of the login reply (the escaped `token` JSON) and
//! of error replies with proptest.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use auth_core::{AuthError, Provider};
use chrono::DateTime;
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::json;
use wialon_token::{LoginInfo, TokenInfo, WialonError, WialonErrorCode, WialonProvider};

const TOKEN: &str = "FUZZwialontoken0123456789abcdef0123456789abcdef0123456789abcdef012345678";

fn provider() -> WialonProvider {
    WialonProvider::builder()
        .token(TOKEN)
        .host("http://127.0.0.1:9")
        .build()
        .unwrap()
}

fn assert_secret_free(err: &AuthError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[test]
fn fuzz_seeds_parse_without_panicking() {
    let provider = provider();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/wialon_login");
    let seeds = fuzz_input::seed_files(&dir);
    assert!(seeds.len() >= 5, "expected the committed seeds in {dir:?}");
    for (name, bytes) in seeds {
        let input = fuzz_input::decode(&bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _ = provider.is_rejected(StatusCode::OK, input.body);
            provider.parse_login_response(input.status, &input.headers, input.body)
        }))
        .unwrap_or_else(|_| panic!("seed {name} panicked"));
        match &outcome {
            Ok(new) => {
                // What the token store keeps must read back.
                let stored = serde_json::to_value(&new.data).unwrap();
                let back: LoginInfo = serde_json::from_value(stored).unwrap();
                assert_eq!(back, new.data, "seed {name}");
            }
            Err(err) => assert_secret_free(err),
        }
        if let Some(ok) = fuzz_input::expected_ok(&name) {
            assert_eq!(outcome.is_ok(), ok, "seed {name}: {outcome:?}");
        }
    }
}

fn unix() -> impl Strategy<Value = Option<DateTime<chrono::Utc>>> {
    prop::option::of((1i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()))
}

fn token_info() -> impl Strategy<Value = TokenInfo> {
    (
        "\\PC{0,40}",
        unix(),
        unix(),
        prop::option::of((1u64..10_000_000_000).prop_map(Duration::from_secs)),
        any::<i64>(),
        "\\PC{0,60}",
        prop::collection::vec(any::<i64>(), 0..8),
    )
        .prop_map(
            |(app, created, activated, duration, access_flags, params, items)| TokenInfo {
                app,
                created,
                activated,
                duration,
                access_flags,
                params,
                items,
                extra: Default::default(),
            },
        )
}

fn parse(body: &serde_json::Value) -> Result<auth_core::NewSession<LoginInfo>, AuthError> {
    provider().parse_login_response(
        StatusCode::OK,
        &HeaderMap::new(),
        body.to_string().as_bytes(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The token settings sent as escaped JSON text in `token` come back
    /// intact, and `eid` becomes the session token.
    #[test]
    fn escaped_token_info_round_trips(info in token_info(), eid in "[0-9a-f]{32}", user in "\\PC{1,20}") {
        let escaped = serde_json::to_string(&info).unwrap();
        let body = json!({"eid": eid, "au": user, "tm": 1_700_000_000, "token": escaped});
        let new = parse(&body).unwrap();
        prop_assert_eq!(new.token.expose_secret(), eid.as_str());
        prop_assert_eq!(new.data.user_name.as_deref(), Some(user.as_str()));
        prop_assert_eq!(new.data.token.as_ref(), Some(&info));
        // And the session data survives the token store's serialization.
        let back: LoginInfo = serde_json::from_value(serde_json::to_value(&new.data).unwrap()).unwrap();
        prop_assert_eq!(back, new.data);
    }

    /// `{"error":N,"reason":..}` at login is a typed error with that code
    /// and reason; 1 and 1011 on a call reply mean "log in again".
    #[test]
    fn error_reply_round_trips(code in any::<i64>().prop_filter("0 is success", |c| *c != 0), reason in prop::option::of("\\PC{0,80}")) {
        let mut body = json!({"error": code});
        if let Some(reason) = &reason {
            body["reason"] = json!(reason);
        }
        let err = parse(&body).unwrap_err();
        assert_secret_free(&err);
        let typed = err.provider_error::<WialonError>().unwrap();
        prop_assert_eq!(typed.code, WialonErrorCode::from_code(code));
        prop_assert_eq!(typed.code.code(), code);
        prop_assert_eq!(typed.reason.as_deref(), reason.as_deref());
        prop_assert_eq!(err.is_invalid_credentials(), matches!(code, 4 | 7 | 8));
        let rejected = provider().is_rejected(StatusCode::OK, body.to_string().as_bytes());
        prop_assert_eq!(rejected, matches!(code, 1 | 1011));
    }
}
