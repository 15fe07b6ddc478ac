//! Replays the `ctc_login` fuzz seeds (`fuzz/seeds/ctc_login/`, including
//! inputs that once crashed) through [`CtcProvider::parse_login_response`],
//! and checks round trips of the `authToken` cookie with proptest.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use auth_core::{AuthError, Expiry};
use chrono::{DateTime, Utc};
use ctc_auth::{CtcProvider, Instance};
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};

const PASSWORD: &str = "FUZZ-ctc-password-7d1e";
const APP_KEY: &str = "FUZZ-ctc-appkey-42b9";

fn provider() -> CtcProvider {
    CtcProvider::builder()
        .username("fuzz.user@example.com")
        .password(SecretString::from(PASSWORD))
        .app_key(SecretString::from(APP_KEY))
        .instance(Instance::Custom("http://127.0.0.1:9/".parse().unwrap()))
        .build()
        .unwrap()
}

fn assert_secret_free(err: &AuthError) {
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(PASSWORD) && !text.contains(APP_KEY),
        "{text}"
    );
}

#[test]
fn fuzz_seeds_parse_without_panicking() {
    let provider = provider();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/ctc_login");
    let seeds = fuzz_input::seed_files(&dir);
    assert!(seeds.len() >= 5, "expected the committed seeds in {dir:?}");
    for (name, bytes) in seeds {
        let input = fuzz_input::decode(&bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
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

fn cookie_headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, HeaderValue::from_static("JSESSIONID=1; Path=/"));
    headers.append(SET_COOKIE, HeaderValue::from_str(value).unwrap());
    headers
}

/// Regression (found by the `ctc_login` fuzz target): a `Max-Age` too large
/// for a date panicked in `chrono` (`TimeDelta::seconds` out of bounds, or
/// `DateTime + TimeDelta` overflow). It now means "until rejected".
#[test]
fn huge_max_age_does_not_panic() {
    let provider = provider();
    for max_age in [
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775",
        "9000000000000",
        "300000000000",
    ] {
        let headers = cookie_headers(&format!("authToken=tok; Max-Age={max_age}; Path=/"));
        let new = provider
            .parse_login_response(StatusCode::OK, &headers, b"{}")
            .unwrap();
        assert_eq!(new.token.expose_secret(), "tok");
        match new.expiry {
            Expiry::UntilRejected => assert_eq!(new.data.cookie_expires, None),
            Expiry::At(at) => assert!(at > Utc::now(), "{max_age}: {at}"),
            other => panic!("{max_age}: {other:?}"),
        }
    }
}

/// RFC 6265 `cookie-octet`: what a cookie value may hold unquoted.
const COOKIE_OCTETS: &str = "[\\x21\\x23-\\x2B\\x2D-\\x3A\\x3C-\\x5B\\x5D-\\x7E]{1,120}";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cookie_token_and_expires_round_trip(
        token in COOKIE_OCTETS,
        // Between a day from now and the year 9999, whole seconds.
        ahead in 86_400i64..(253_402_300_799 - 1_800_000_000),
        attributes in prop::sample::select(vec!["", "; Path=/", "; Path=/; HttpOnly; Secure", "; Domain=connect.calamp.com; SameSite=Lax"]),
    ) {
        let expires = DateTime::from_timestamp(Utc::now().timestamp() + ahead, 0).unwrap();
        let http_date = expires.format("%a, %d %b %Y %H:%M:%S GMT");
        let headers = cookie_headers(&format!("authToken={token}{attributes}; Expires={http_date}"));
        let new = provider()
            .parse_login_response(StatusCode::OK, &headers, br#"{"user":{"login":"u"}}"#)
            .unwrap();
        prop_assert_eq!(new.token.expose_secret(), token.as_str());
        prop_assert_eq!(new.data.cookie_expires, Some(expires));
        prop_assert_eq!(new.expiry, Expiry::At(expires));
    }

    #[test]
    fn cookie_token_with_max_age_round_trips(token in COOKIE_OCTETS, max_age in 60i64..10_000_000_000) {
        let before = Utc::now();
        let headers = cookie_headers(&format!("authToken={token}; Max-Age={max_age}; Path=/"));
        let new = provider().parse_login_response(StatusCode::OK, &headers, b"").unwrap();
        prop_assert_eq!(new.token.expose_secret(), token.as_str());
        let at = new.data.cookie_expires.unwrap();
        let secs = (at - before).num_seconds();
        prop_assert!((max_age - 2..=max_age + 2).contains(&secs), "{} vs {}", secs, max_age);
    }

    #[test]
    fn arbitrary_set_cookie_values_never_panic(value in "[ -~]{0,200}", body in "[ -~]{0,100}") {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(SET_COOKIE, v);
        }
        if let Err(err) = provider().parse_login_response(StatusCode::OK, &headers, body.as_bytes()) {
            assert_secret_free(&err);
        }
    }
}
