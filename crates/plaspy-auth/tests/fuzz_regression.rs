//! Replays the `plaspy_token` fuzz seeds (`fuzz/seeds/plaspy_token/`)
//! through [`PlaspyProvider::parse_login_response`], and checks round trips
//! of the token answer (`expires` and the JWT `exp` fallback) with proptest.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use auth_core::{AuthError, Expiry};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use plaspy_auth::{ExpirySource, PlaspyApiError, PlaspyProvider};
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

const API_KEY: &str = "FUZZ-plaspy-apikey-0c93";

fn provider() -> PlaspyProvider {
    PlaspyProvider::builder()
        .user_name("fuzz")
        .api_key(SecretString::from(API_KEY))
        .base_url("http://127.0.0.1:9/".parse().unwrap())
        .build()
        .unwrap()
}

fn assert_secret_free(err: &AuthError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(API_KEY), "{text}");
}

#[test]
fn fuzz_seeds_parse_without_panicking() {
    let provider = provider();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/plaspy_token");
    let seeds = fuzz_input::seed_files(&dir);
    assert!(seeds.len() >= 5, "expected the committed seeds in {dir:?}");
    for (name, bytes) in seeds {
        let input = fuzz_input::decode(&bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            provider.parse_login_response(input.status, &input.headers, input.body)
        }))
        .unwrap_or_else(|_| panic!("seed {name} panicked"));
        match &outcome {
            Ok(new) => assert!(new.data.expires > Utc::now(), "seed {name}"),
            Err(err) => assert_secret_free(err),
        }
        if let Some(ok) = fuzz_input::expected_ok(&name) {
            assert_eq!(outcome.is_ok(), ok, "seed {name}: {outcome:?}");
        }
    }
}

/// Regression (found by review while writing the fuzz target): a huge
/// configured default lifetime overflowed `DateTime + TimeDelta` and panicked
/// at login when the answer had neither `expires` nor a JWT `exp`. It now
/// saturates.
#[test]
fn huge_default_lifetime_does_not_panic() {
    for lifetime in [
        std::time::Duration::MAX,
        std::time::Duration::from_secs(400_000 * 365 * 24 * 3600),
    ] {
        let provider = PlaspyProvider::builder()
            .user_name("fuzz")
            .api_key(SecretString::from(API_KEY))
            .base_url("http://127.0.0.1:9/".parse().unwrap())
            .default_lifetime(lifetime)
            .build()
            .unwrap();
        let body = br#"{"success":true,"token":"opaque-token"}"#;
        let new = provider
            .parse_login_response(StatusCode::OK, &HeaderMap::new(), body)
            .unwrap();
        assert_eq!(new.data.expiry_source, ExpirySource::DefaultLifetime);
        assert_eq!(new.data.expires, DateTime::<Utc>::MAX_UTC);
    }
}

/// The same through a client against the simulator: the saturated expiry is
/// usable as a session deadline (no overflow in the session cache either).
#[tokio::test]
async fn huge_default_lifetime_works_end_to_end() {
    use auth_sim::plaspy::{
        DEMO_API_KEY, DEMO_USERNAME, ExpiresFormat, PlaspySim, PlaspySimConfig,
    };
    let sim = PlaspySim::start(PlaspySimConfig {
        expires_format: ExpiresFormat::Omitted,
        jwt_exp_claim: false,
        ..PlaspySimConfig::default()
    })
    .await
    .unwrap();
    let client = PlaspyProvider::builder()
        .user_name(DEMO_USERNAME)
        .api_key(SecretString::from(DEMO_API_KEY))
        .base_url(sim.base_url().clone())
        .default_lifetime(std::time::Duration::MAX)
        .build()
        .unwrap()
        .into_client()
        .unwrap();
    let session = client.session().await.unwrap();
    assert_eq!(session.expiry(), Expiry::At(DateTime::<Utc>::MAX_UTC));
    let url = client.provider().endpoint("api/devices").unwrap();
    let response = client.send(client.http().client().get(url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(client.stats().logins, 1);
}

fn jwt(payload: &serde_json::Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode([7u8; 64]),
    )
}

fn parse(
    body: &serde_json::Value,
) -> Result<auth_core::NewSession<plaspy_auth::PlaspyLogin>, AuthError> {
    provider().parse_login_response(
        StatusCode::OK,
        &HeaderMap::new(),
        body.to_string().as_bytes(),
    )
}

/// Seconds from now to a future instant, at most the year 9999.
fn ahead() -> impl Strategy<Value = DateTime<Utc>> {
    (3_600i64..200_000_000_000).prop_map(|secs| {
        let now = Utc::now().timestamp();
        DateTime::from_timestamp((now + secs).min(253_402_300_799), 0).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `{"success":true,"token":..,"expires":..}` gives back the token and
    /// the time, whichever of the accepted `expires` forms is used.
    #[test]
    fn token_answer_round_trips(
        token in "[A-Za-z0-9._~+/=-]{1,300}",
        expires in ahead(),
        millis in 0u32..1000,
        form in 0usize..4,
    ) {
        let expires = expires + chrono::Duration::milliseconds(i64::from(millis));
        let text = match form {
            0 => expires.to_rfc3339_opts(SecondsFormat::Secs, true),
            1 => expires.to_rfc3339_opts(SecondsFormat::Millis, false),
            // .NET's round-trip form of an unspecified-kind DateTime.
            2 => format!("{}.{:07}", expires.format("%Y-%m-%dT%H:%M:%S"), millis * 10_000),
            _ => expires.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap()).to_rfc3339(),
        };
        let want = if form == 0 {
            DateTime::from_timestamp(expires.timestamp(), 0).unwrap()
        } else {
            expires
        };
        let new = parse(&json!({"success": true, "token": token, "expires": text})).unwrap();
        prop_assert_eq!(new.token.expose_secret(), token.as_str());
        prop_assert_eq!(new.data.expires, want);
        prop_assert_eq!(new.data.expiry_source, ExpirySource::Expires);
        prop_assert_eq!(new.expiry, Expiry::At(want));
    }

    /// Without a usable `expires`, the JWT's `exp` (number or string) is used.
    #[test]
    fn jwt_exp_fallback_round_trips(
        exp in ahead(),
        as_string in any::<bool>(),
        expires in prop::option::of(prop::sample::select(vec!["", "soon", "2024-13-45T99:00:00Z"])),
        name in "[a-z]{1,12}",
    ) {
        let claim = if as_string { json!(exp.timestamp().to_string()) } else { json!(exp.timestamp()) };
        let token = jwt(&json!({"unique_name": name, "exp": claim, "iss": "plaspy"}));
        let mut body = json!({"success": true, "token": token});
        if let Some(expires) = expires {
            body["expires"] = json!(expires);
        }
        let new = parse(&body).unwrap();
        prop_assert_eq!(new.token.expose_secret(), token.as_str());
        prop_assert_eq!(new.data.expires, exp);
        prop_assert_eq!(new.data.expiry_source, ExpirySource::JwtExp);
    }

    /// `{"success":false,"error":..}` gives back the server's text (whatever
    /// the status) in a typed error.
    #[test]
    fn failure_answer_round_trips(
        error in "[A-Za-z0-9.,'!?-]{1,30}( [A-Za-z0-9.,'!?-]{1,30}){0,3}",
        status in prop::sample::select(vec![200u16, 400, 401, 403, 500]),
    ) {
        let body = json!({"success": false, "error": error}).to_string();
        let status = StatusCode::from_u16(status).unwrap();
        let err = provider().parse_login_response(status, &HeaderMap::new(), body.as_bytes()).unwrap_err();
        let typed = err.provider_error::<PlaspyApiError>().unwrap();
        prop_assert_eq!(&typed.message, &error);
        prop_assert_eq!(typed.status, status.as_u16());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `parse_api_response` never panics, never quotes the API key, and maps
    /// the documented statuses whatever the body: 429 to `Throttled`, 5xx to
    /// a retryable error, other failures to a non-retryable one.
    #[test]
    fn api_replies_never_panic_or_leak_the_key(
        status in 100u16..600,
        error in proptest::option::of("[ -~]{0,80}"),
        success in proptest::option::of(any::<bool>()),
        usage in proptest::option::of(0u64..1_000_000),
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        as_json in any::<bool>(),
        retry_after in proptest::option::of(0u64..100_000),
    ) {
        let Ok(status) = StatusCode::from_u16(status) else { return Ok(()); };
        let body = if as_json {
            let mut v = json!({"apiUsage": usage, "apiDailyUsage": usage});
            if let Some(s) = success { v["success"] = json!(s); }
            if let Some(e) = &error { v["error"] = json!(format!("{e} {API_KEY}")); }
            v.to_string().into_bytes()
        } else {
            raw
        };
        let mut headers = HeaderMap::new();
        if let Some(secs) = retry_after {
            headers.insert(reqwest::header::RETRY_AFTER, secs.to_string().parse().unwrap());
        }
        match provider().parse_api_response(status, &headers, &body) {
            Ok(reply) => prop_assert!(status.is_success(), "{status}: {reply:?}"),
            Err(err) => {
                assert_secret_free(&err);
                if status == StatusCode::TOO_MANY_REQUESTS {
                    prop_assert!(matches!(err, AuthError::Throttled { .. }), "{err:?}");
                } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                    prop_assert!(err.is_retryable(), "{status}: {err:?}");
                } else if status.is_client_error() {
                    prop_assert!(!err.is_retryable(), "{status}: {err:?}");
                }
            }
        }
    }
}
