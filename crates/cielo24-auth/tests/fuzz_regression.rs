//! Replays the `cielo24_login` fuzz seeds (`fuzz/seeds/cielo24_login/`)
//! through [`Cielo24Provider::parse_login_response`], and checks round trips
//! of the login reply and of the `{"ErrorType":..,"ErrorComment":..}` error
//! format with proptest.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use auth_core::{AuthError, Provider};
use cielo24_auth::protocol::parse_error;
use cielo24_auth::{Cielo24Error, Cielo24Provider, ErrorType};
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

const PASSWORD: &str = "FUZZ-cielo24-password-5a71";

fn provider() -> Cielo24Provider {
    Cielo24Provider::builder()
        .username("fuzz")
        .password(SecretString::from(PASSWORD))
        .base_url("http://127.0.0.1:9/".parse().unwrap())
        .build()
        .unwrap()
}

fn assert_secret_free(err: &AuthError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[test]
fn fuzz_seeds_parse_without_panicking() {
    let provider = provider();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/cielo24_login");
    let seeds = fuzz_input::seed_files(&dir);
    assert!(seeds.len() >= 5, "expected the committed seeds in {dir:?}");
    for (name, bytes) in seeds {
        let input = fuzz_input::decode(&bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _ = parse_error(input.body);
            let _ = provider.is_rejected(StatusCode::BAD_REQUEST, input.body);
            provider.parse_login_response(input.status, &input.headers, input.body)
        }))
        .unwrap_or_else(|_| panic!("seed {name} panicked"));
        if let Err(err) = &outcome {
            assert_secret_free(err);
        }
        if let Some(ok) = fuzz_input::expected_ok(&name) {
            assert_eq!(outcome.is_ok(), ok, "seed {name}: {outcome:?}");
        }
    }
}

const KNOWN_TYPES: [&str; 15] = [
    "LOGIN_INVALID",
    "ACCOUNT_EXISTS",
    "ACCOUNT_DOES_NOT_EXIST",
    "ACCOUNT_UNPRIVILEGED",
    "BAD_API_TOKEN",
    "INVALID_QUERY",
    "INVALID_OPTION",
    "INVALID_URL",
    "MISSING_PARAMETER",
    "NOT_IMPLEMENTED",
    "ITEM_NOT_FOUND",
    "INVALID_RETURN_HANDLERS",
    "NOT_PARENT_ACCOUNT",
    "NO_CHILDREN_FOUND",
    "UNHANDLED_ERROR",
];

fn error_type() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KNOWN_TYPES.to_vec()).prop_map(str::to_owned),
        "[A-Z][A-Z_]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `{"ApiToken": ..}` gives back the token.
    #[test]
    fn login_reply_round_trips(token in "[0-9a-f]{32}|[A-Za-z0-9._-]{1,100}") {
        let body = json!({"ApiToken": token}).to_string();
        let new = provider().parse_login_response(StatusCode::OK, &HeaderMap::new(), body.as_bytes()).unwrap();
        prop_assert_eq!(new.token.expose_secret(), token.as_str());
    }

    /// The error format parses back to the same type and comment, and the
    /// login maps it to the documented `AuthError` variant.
    #[test]
    fn error_format_round_trips(
        kind in error_type(),
        comment in prop::option::of("[A-Za-z0-9.,:'()-]{1,20}( [A-Za-z0-9.,:'()-]{1,20}){0,5}"),
    ) {
        let mut body = json!({"ErrorType": kind});
        if let Some(comment) = &comment {
            body["ErrorComment"] = json!(comment);
        }
        let body = body.to_string();
        let parsed = parse_error(body.as_bytes()).unwrap();
        prop_assert_eq!(parsed.error_type.as_str(), kind.as_str());
        prop_assert_eq!(parsed.error_type.clone(), ErrorType::from_wire(&kind));
        prop_assert_eq!(&parsed.comment, comment.as_deref().unwrap_or(""));

        let err = provider()
            .parse_login_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes())
            .unwrap_err();
        let typed = err.provider_error::<Cielo24Error>().unwrap();
        prop_assert_eq!(typed.error_type.as_str(), kind.as_str());
        if comment.is_some() {
            prop_assert_eq!(&typed.comment, &parsed.comment);
        }
        let credentials = matches!(kind.as_str(), "LOGIN_INVALID" | "ACCOUNT_UNPRIVILEGED");
        prop_assert_eq!(err.is_invalid_credentials(), credentials);
        if let AuthError::Api { code, .. } = &err {
            prop_assert_eq!(code.as_str(), kind.as_str());
        }
        prop_assert_eq!(
            provider().is_rejected(StatusCode::BAD_REQUEST, body.as_bytes()),
            kind == "BAD_API_TOKEN"
        );
    }
}
