//! A login reply that echoes a secret we sent (password, application key)
//! or the token we received: those fields are dropped before the session is
//! built, printed or stored.

use ctc_auth::{CtcProvider, Instance};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use secrecy::SecretString;

const PASSWORD: &str = "Pa55w0rd-echo-test";
const APP_KEY: &str = "app-key-echo-test-0001";
const TOKEN: &str = "tokenECHO0123456789";

#[test]
fn echoed_secrets_are_dropped_from_the_login_summary() {
    let provider = CtcProvider::builder()
        .username("api.user@example.com")
        .password(SecretString::from(PASSWORD))
        .app_key(SecretString::from(APP_KEY))
        .instance(Instance::Custom("http://127.0.0.1:9/".parse().unwrap()))
        .build()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&format!("authToken={TOKEN}; Path=/")).unwrap(),
    );
    let body = serde_json::json!({
        "user": {"name": "api.user", "password": PASSWORD, "appKey": APP_KEY},
        "request": {"echo": format!("username=api.user&password={PASSWORD}")},
        "session": {"authToken": TOKEN, "note": format!("token {TOKEN}")},
        "kept": "value"
    });
    let session = provider
        .parse_login_response(StatusCode::OK, &headers, body.to_string().as_bytes())
        .unwrap();
    let user = serde_json::to_string(&session.data).unwrap();
    let debug = format!("{:?}", session.data);
    for text in [&user, &debug] {
        for secret in [PASSWORD, APP_KEY, TOKEN] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(session.data.user["kept"], "value");
    assert_eq!(session.data.user["user"]["name"], "api.user");
}
