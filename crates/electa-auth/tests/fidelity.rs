//! Fidelity: seed 004's examples (the ASP snippet's request, the parameter
//! table's spellings, the unsuccessful sample) replayed verbatim through the
//! simulator and the client's parser. Sources: `tests/fixtures/README.md`.

use std::time::Duration;

use auth_core::{AuthError, Authenticated, BackoffPolicy};
use auth_sim::electa::{
    DEMO_APP_KEY, DEMO_CID, ElectaSim, ElectaSimConfig, INVALID_CREDENTIALS_TEXT,
};
use electa_auth::protocol::{parse_login_reply, parse_reply};
use electa_auth::{ElectaProvider, Method, ReplyError};
use secrecy::SecretString;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn sim() -> ElectaSim {
    ElectaSim::start(ElectaSimConfig::default()).await.unwrap()
}

/// `<API_URL>` + a seed path such as `/token/?cid=..`.
fn api(sim: &ElectaSim, path_and_query: &str) -> String {
    format!(
        "{}{}",
        sim.base_url().as_str().trim_end_matches('/'),
        path_and_query.trim()
    )
}

#[test]
fn the_seed_sample_account_passes_the_builder() {
    // The ASP snippet's account id and the parameter table's sample key.
    let provider = ElectaProvider::builder()
        .api_url("https://electa.example/apps/api".parse().unwrap())
        .cid(11_267_192)
        .app_key(SecretString::from("UO86CN11XY73SF72TT40PG18ZE76VV71"))
        .build()
        .unwrap();
    assert!(!format!("{provider:?}").contains("UO86CN11XY73SF72TT40PG18ZE76VV71"));
    assert_eq!(DEMO_CID, 11_267_192);
    assert_eq!(DEMO_APP_KEY, "UO86CN11XY73SF72TT40PG18ZE76VV71");
}

#[tokio::test]
async fn the_asp_snippet_request_replayed_against_the_simulator() {
    let sim = sim().await;
    let request = fixture("seed004_asp_request.txt");
    let response = reqwest::get(api(&sim, &request)).await.unwrap();
    assert_eq!(response.status(), 200);
    let reply = parse_login_reply(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(reply.code, 0);
    assert!(!reply.data.is_empty(), "a session token");
    // The snippet's `Result = "xml"`, had it been sent, changes nothing.
    let with_result = format!("{}&Result=xml", request.trim());
    let body = reqwest::get(api(&sim, &with_result))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(parse_reply(&body).unwrap().code, 0);
    assert_eq!(sim.counters().logins(&DEMO_CID.to_string()), 2);
}

#[tokio::test]
async fn the_parameter_table_spellings_by_get_and_post_are_accepted() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let cid = DEMO_CID.to_string();
    // "Supported HTML Methods: GET / POST"; the table names `CID`, `AppKey`.
    let by_get = http
        .get(api(&sim, "/token/"))
        .query(&[("CID", cid.as_str()), ("AppKey", DEMO_APP_KEY)])
        .send()
        .await
        .unwrap();
    let by_post = http
        .post(api(&sim, "/token/"))
        .form(&[("CID", cid.as_str()), ("AppKey", DEMO_APP_KEY)])
        .send()
        .await
        .unwrap();
    for response in [by_get, by_post] {
        let reply = parse_login_reply(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(reply.code, 0, "{}", reply.data);
    }
}

#[tokio::test]
async fn a_wrong_key_gets_the_documented_text() {
    let sim = sim().await;
    let response = reqwest::get(api(
        &sim,
        "/token/?cid=11267192&appkey=ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ))
    .await
    .unwrap();
    let body = response.text().await.unwrap();
    // The seed's unsuccessful sample, with its lost `<` restored.
    let sample = fixture("seed004_unsuccessful_sample.txt");
    assert!(
        body.contains(&format!("<{}", sample.trim())),
        "the simulator's failure reply does not contain the seed's sample: {body}"
    );
    let reply = parse_reply(body.as_bytes()).unwrap();
    assert_ne!(reply.code, 0);
    assert_eq!(reply.data, INVALID_CREDENTIALS_TEXT);
}

#[test]
fn the_unsuccessful_sample_alone_is_a_typed_error_never_a_success() {
    // Verbatim, as cut off in the saved page: no root, no code, no `<`.
    // Not XML, so read as CSV, which it is not either.
    let sample = fixture("seed004_unsuccessful_sample.txt");
    assert!(matches!(
        parse_login_reply(sample.as_bytes()),
        Err(ReplyError::BadCsv { lines: 1 })
    ));
    // With its `<` back it is XML, but without the response code the seed
    // promises: a missing code, not a success.
    let completed = format!("<{}", sample.trim());
    assert!(matches!(
        parse_reply(completed.as_bytes()),
        Err(ReplyError::MissingCode)
    ));
}

#[tokio::test]
async fn the_client_reads_the_unsuccessful_sample_as_wrong_credentials() {
    // The sample inside a reply with a non-zero code: the client's login
    // fails as invalid credentials, quoting the documented text, and does
    // not try again on its own.
    let mut server = mockito::Server::new_async().await;
    let login = server
        .mock("POST", "/token/")
        .with_status(200)
        .with_header("content-type", "text/xml")
        .with_body(format!(
            "<Response><ResponseCode>1</ResponseCode><{}</Response>",
            fixture("seed004_unsuccessful_sample.txt").trim()
        ))
        .expect(1)
        .create_async()
        .await;
    let provider = ElectaProvider::builder()
        .api_url(server.url().parse().unwrap())
        .cid(DEMO_CID)
        .app_key(SecretString::from(DEMO_APP_KEY))
        .method(Method::Post)
        .build()
        .unwrap();
    let client = Authenticated::builder(provider)
        .backoff(BackoffPolicy::none())
        .min_login_interval(Duration::ZERO)
        .build()
        .unwrap();
    let error = client.session().await.unwrap_err();
    assert!(
        matches!(error, AuthError::InvalidCredentials { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(INVALID_CREDENTIALS_TEXT),
        "{error}"
    );
    assert!(!error.to_string().contains(DEMO_APP_KEY));
    login.assert_async().await;
}
