//! Fidelity: the request examples of seed 000, replayed verbatim (with the
//! placeholders filled in) through the simulator, and its statements about
//! replies through the client's parser. Sources: `tests/fixtures/README.md`.

use auth_core::Provider;
use auth_sim::ctc::{
    CtcSim, CtcSimConfig, DEMO_APP_KEY, DEMO_DEVICE_ID, DEMO_PASSWORD, DEMO_USERNAME, LoginBody,
    avl_latest_path,
};
use ctc_auth::{CtcProvider, Instance, LOGIN_PATH};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `'name': value` pairs of the seed's Python-style example, with its
/// placeholders replaced by the simulator's demo account.
fn pairs(text: &str) -> Vec<(String, String)> {
    let fill = |v: &str| {
        let v = v.trim().trim_end_matches(',').trim();
        match v {
            "<application key for your client>" | "<application key for your client" => {
                DEMO_APP_KEY.to_owned()
            }
            "<username>" => DEMO_USERNAME.to_owned(),
            "<password>" => DEMO_PASSWORD.to_owned(),
            other => other.to_owned(),
        }
    };
    text.lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split('\'').collect();
            match parts.len() {
                // 'name' : 'value'
                n if n >= 5 => Some((parts[1].to_owned(), fill(parts[3]))),
                // 'name': <placeholder>
                3 => Some((
                    parts[1].to_owned(),
                    fill(parts[2].trim_start().trim_start_matches(':')),
                )),
                _ => None,
            }
        })
        .collect()
}

fn provider(sim: &CtcSim) -> CtcProvider {
    CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()))
        .build()
        .unwrap()
}

#[test]
fn the_seed_examples_are_read_as_written() {
    let login = pairs(&fixture("seed000_login_request.txt"));
    let names: Vec<&str> = login.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Content-Type",
            "calamp-services-app",
            "username",
            "password"
        ]
    );
    let call = pairs(&fixture("seed000_call_headers.txt"));
    assert_eq!(
        call,
        [
            (
                "Accept".to_owned(),
                "application/json;charset=UTF-8".to_owned()
            ),
            ("calamp-services-app".to_owned(), DEMO_APP_KEY.to_owned()),
        ]
    );
}

#[tokio::test]
async fn seed_login_and_call_replayed_against_the_simulator() {
    for login_body in [LoginBody::Json, LoginBody::PlainText, LoginBody::Html] {
        let sim = CtcSim::start(CtcSimConfig {
            login_body,
            ..CtcSimConfig::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let (headers, form): (Vec<_>, Vec<_>) = pairs(&fixture("seed000_login_request.txt"))
            .into_iter()
            .partition(|(k, _)| k != "username" && k != "password");
        let mut request = http.post(sim.base_url().join(LOGIN_PATH).unwrap()).body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        );
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        // "The HTTP status for a successful login will be 200. The response
        // will include a cookie with an authorization token."
        let status = response.status();
        assert_eq!(status, StatusCode::OK);
        let reply_headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let session = provider(&sim)
            .parse_login_response(status, &reply_headers, &body)
            .unwrap_or_else(|e| panic!("{login_body:?}: {e}"));
        let token = session.token.expose_secret().to_owned();
        // "ALL subsequent API calls require the appKey and authToken in the
        // header": the seed's example header plus the cookie.
        let call = |token: String| {
            let mut request = http.get(
                sim.base_url()
                    .join(&avl_latest_path(DEMO_DEVICE_ID))
                    .unwrap(),
            );
            for (name, value) in pairs(&fixture("seed000_call_headers.txt")) {
                request = request.header(name, value);
            }
            request
                .header("Cookie", format!("authToken={token}"))
                .send()
        };
        assert_eq!(call(token.clone()).await.unwrap().status(), StatusCode::OK);
        // "If the authentication token becomes unexpectedly invalid, CTC will
        // return an HTTP 401 error": the simulator does, and the client reads
        // it as "log in again".
        sim.expire_all_sessions();
        let rejected = call(token).await.unwrap();
        assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);
        assert!(provider(&sim).is_rejected(rejected.status(), b""));
    }
}

/// The seed's reply statement as a parser input: status 200 and a cookie
/// with the token, whatever (undocumented) body comes with it.
#[test]
fn a_200_with_the_cookie_is_a_login_whatever_the_body() {
    let p = CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(
            url::Url::parse("http://127.0.0.1:9").unwrap(),
        ))
        .build()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_static("authToken=AbC123; Path=/; HttpOnly"),
    );
    for body in [
        &b"OK"[..],
        b"<html><body>Welcome</body></html>",
        b"",
        br#"{"user":{"username":"x"}}"#,
    ] {
        let session = p
            .parse_login_response(StatusCode::OK, &headers, body)
            .unwrap();
        assert_eq!(session.token.expose_secret(), "AbC123");
    }
    // Without the cookie, the same bodies are errors that say what is missing.
    let err = p
        .parse_login_response(StatusCode::OK, &HeaderMap::new(), b"OK")
        .unwrap_err();
    assert!(
        matches!(err, auth_core::AuthError::UnexpectedResponse { .. }),
        "{err:?}"
    );
}
