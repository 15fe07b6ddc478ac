//! The Electa simulator, driven with raw `reqwest`.

mod support;

use std::time::Duration;

use auth_sim::Fault;
use auth_sim::electa::{
    DEMO_APP_KEY, DEMO_CID, ElectaSim, ElectaSimConfig, INVALID_CREDENTIALS_TEXT,
    INVALID_TOKEN_TEXT, LOCKED_TEXT, ReplyMode, XmlFormat,
};
use reqwest::StatusCode;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
const WRONG_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

fn doc(code: i64, data: &str) -> String {
    format!(
        "{DECL}<Response><ResponseCode>{code}</ResponseCode><ResponseData>{data}</ResponseData></Response>"
    )
}

fn endpoint(sim: &ElectaSim, path: &str) -> String {
    format!("{}{path}", sim.base_url())
}

async fn get(url: &str, query: &[(&str, &str)]) -> (StatusCode, String, String) {
    let resp = support::client()
        .get(url)
        .query(query)
        .send()
        .await
        .unwrap();
    split(resp).await
}

async fn post(url: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
    let resp = support::client().post(url).form(form).send().await.unwrap();
    split(resp).await
}

async fn split(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The token from a default-format success document.
fn token_of(body: &str) -> String {
    let prefix = format!("{DECL}<Response><ResponseCode>0</ResponseCode><ResponseData>");
    let rest = body
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("not a success: {body}"));
    rest.strip_suffix("</ResponseData></Response>")
        .unwrap()
        .to_owned()
}

fn cid() -> String {
    DEMO_CID.to_string()
}

async fn sim_with(config: ElectaSimConfig) -> ElectaSim {
    ElectaSim::start(config).await.unwrap()
}

#[tokio::test]
async fn base_url_includes_the_api_path() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    assert_eq!(sim.base_url().path(), "/apps/api");
    assert!(sim.base_url().as_str().starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn token_by_get_and_post_with_any_parameter_case() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    let url = endpoint(&sim, "/token/");
    let cid = cid();
    let (status, ct, body) = post(&url, &[("CID", &cid), ("AppKey", DEMO_APP_KEY)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/xml; charset=utf-8");
    let token = token_of(&body);
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    // The docs' ASP sample: GET with lower-case names, plus Result.
    let (_, _, body) = get(
        &url,
        &[("cid", &cid), ("appkey", DEMO_APP_KEY), ("Result", "xml")],
    )
    .await;
    token_of(&body);
    let (_, _, body) = get(
        &endpoint(&sim, "/token"),
        &[("Cid", &cid), ("APPKEY", DEMO_APP_KEY)],
    )
    .await;
    token_of(&body);
    assert_eq!(sim.counters().logins(&cid), 3);
}

#[tokio::test]
async fn wrong_key_and_missing_parameters() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    let url = endpoint(&sim, "/token/");
    let cid = cid();
    let (status, _, body) = post(&url, &[("CID", &cid), ("AppKey", WRONG_KEY)]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "errors are reported in the document"
    );
    assert_eq!(body, doc(1, INVALID_CREDENTIALS_TEXT));
    let (_, _, body) = post(&url, &[("CID", "999"), ("AppKey", DEMO_APP_KEY)]).await;
    assert_eq!(body, doc(1, INVALID_CREDENTIALS_TEXT), "unknown account");
    let (_, _, body) = post(&url, &[("CID", &cid), ("AppKey", "short")]).await;
    assert_eq!(
        body,
        doc(1, INVALID_CREDENTIALS_TEXT),
        "a key that is not 32 characters"
    );
    let (_, _, body) = post(&url, &[("AppKey", DEMO_APP_KEY)]).await;
    assert_eq!(body, doc(2, "Missing Parameter: CID"));
    let (_, _, body) = post(&url, &[("CID", &cid)]).await;
    assert_eq!(body, doc(2, "Missing Parameter: AppKey"));
    let (_, _, body) = post(&url, &[("CID", "12ab"), ("AppKey", DEMO_APP_KEY)]).await;
    assert_eq!(body, doc(2, "Invalid Parameter: CID must be a number"));
    assert_eq!(sim.failure_count(DEMO_CID), 2);
    assert_eq!(sim.counters().failed_logins(&cid), 2);
    assert_eq!(sim.counters().logins(&cid), 0);
}

#[tokio::test]
async fn five_failures_lock_even_correct_keys_until_the_window_ends() {
    let sim = sim_with(ElectaSimConfig {
        lockout: Duration::from_millis(400),
        ..ElectaSimConfig::default()
    })
    .await;
    let url = endpoint(&sim, "/token/");
    let cid = cid();
    for i in 0..4 {
        let (_, _, body) = post(&url, &[("CID", &cid), ("AppKey", WRONG_KEY)]).await;
        assert_eq!(body, doc(1, INVALID_CREDENTIALS_TEXT), "attempt {i}");
        assert!(!sim.is_locked(DEMO_CID));
    }
    let (_, _, body) = post(&url, &[("CID", &cid), ("AppKey", WRONG_KEY)]).await;
    assert_eq!(
        body,
        doc(1, INVALID_CREDENTIALS_TEXT),
        "the fifth failure is still a plain failure"
    );
    assert!(sim.is_locked(DEMO_CID));
    let (_, _, body) = post(&url, &[("CID", &cid), ("AppKey", DEMO_APP_KEY)]).await;
    assert_eq!(body, doc(3, LOCKED_TEXT), "locked even with the right key");
    assert_eq!(sim.counters().failed_logins(&cid), 6);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(!sim.is_locked(DEMO_CID));
    let (_, _, body) = post(&url, &[("CID", &cid), ("AppKey", DEMO_APP_KEY)]).await;
    token_of(&body);
    assert_eq!(sim.failure_count(DEMO_CID), 0);
}

#[tokio::test]
async fn a_success_resets_the_failure_count_and_old_failures_expire() {
    let sim = sim_with(ElectaSimConfig {
        failure_window: Duration::from_millis(1500),
        ..ElectaSimConfig::default()
    })
    .await;
    let url = endpoint(&sim, "/token/");
    let cid = cid();
    for _ in 0..4 {
        post(&url, &[("CID", &cid), ("AppKey", WRONG_KEY)]).await;
    }
    assert_eq!(sim.failure_count(DEMO_CID), 4);
    let (_, _, body) = post(&url, &[("CID", &cid), ("AppKey", DEMO_APP_KEY)]).await;
    token_of(&body);
    assert_eq!(sim.failure_count(DEMO_CID), 0);
    for _ in 0..4 {
        post(&url, &[("CID", &cid), ("AppKey", WRONG_KEY)]).await;
    }
    tokio::time::sleep(Duration::from_millis(1550)).await;
    assert_eq!(
        sim.failure_count(DEMO_CID),
        0,
        "failures outside the window are forgotten"
    );
    post(&url, &[("CID", &cid), ("AppKey", WRONG_KEY)]).await;
    assert!(!sim.is_locked(DEMO_CID));
    assert_eq!(sim.failure_count(DEMO_CID), 1);
    sim.unlock_all();
    assert_eq!(sim.failure_count(DEMO_CID), 0);
}

#[tokio::test]
async fn users_list_needs_a_live_token() {
    let sim = sim_with(ElectaSimConfig {
        token_ttl: Duration::from_millis(1000),
        ..ElectaSimConfig::default()
    })
    .await;
    let cid = cid();
    let (_, _, body) = post(
        &endpoint(&sim, "/token/"),
        &[("CID", &cid), ("AppKey", DEMO_APP_KEY)],
    )
    .await;
    let token = token_of(&body);
    let list = endpoint(&sim, "/users/list/");
    let (status, ct, body) = get(&list, &[("token", &token)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/xml; charset=utf-8");
    assert_eq!(
        body,
        doc(
            0,
            "<Users><User><UserId>1</UserId><UserName>teacher1</UserName></User><User><UserId>2</UserId><UserName>student1</UserName></User><User><UserId>3</UserId><UserName>student2</UserName></User></Users>"
        )
    );
    let (_, _, body) = post(&list, &[("Token", &token)]).await;
    assert!(body.contains("<UserName>student2</UserName>"));
    let (_, ct, body) = get(&list, &[("token", &token), ("Result", "csv")]).await;
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert_eq!(
        body,
        "UserId,UserName\r\n1,teacher1\r\n2,student1\r\n3,student2\r\n"
    );
    assert_eq!(sim.counters().calls(&cid), 3);

    let (_, _, body) = get(&list, &[("token", "nope")]).await;
    assert_eq!(body, doc(4, INVALID_TOKEN_TEXT));
    let (_, _, body) = get(&list, &[]).await;
    assert_eq!(body, doc(2, "Missing Parameter: token"));

    // Used or not, a token dies token_ttl after issue.
    let issued = std::time::Instant::now();
    let (_, _, body) = get(&list, &[("token", &token)]).await;
    assert!(body.contains("<ResponseCode>0</ResponseCode>"));
    tokio::time::sleep(Duration::from_millis(1050).saturating_sub(issued.elapsed())).await;
    let (_, _, body) = get(&list, &[("token", &token)]).await;
    assert_eq!(body, doc(4, INVALID_TOKEN_TEXT));
    assert_eq!(sim.counters().calls(&cid), 4);
}

#[tokio::test]
async fn expire_all_sessions_invalidates_tokens() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    let (_, _, body) = post(
        &endpoint(&sim, "/token/"),
        &[("CID", &cid()), ("AppKey", DEMO_APP_KEY)],
    )
    .await;
    let token = token_of(&body);
    sim.expire_all_sessions();
    let (_, _, body) = get(&endpoint(&sim, "/users/list/"), &[("token", &token)]).await;
    assert_eq!(body, doc(4, INVALID_TOKEN_TEXT));
}

#[tokio::test]
async fn active_sessions_counts_the_tokens_not_expired() {
    let sim = sim_with(ElectaSimConfig {
        token_ttl: Duration::from_millis(300),
        ..ElectaSimConfig::default()
    })
    .await;
    let (url, cid) = (endpoint(&sim, "/token/"), cid());
    let form = [("CID", cid.as_str()), ("AppKey", DEMO_APP_KEY)];
    assert_eq!(sim.active_sessions(), 0);
    post(&url, &form).await;
    post(&url, &form).await;
    assert_eq!(sim.active_sessions(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sim.active_sessions(), 0);
    post(&url, &form).await;
    assert_eq!(sim.active_sessions(), 1);
    sim.expire_all_sessions();
    assert_eq!(sim.active_sessions(), 0);
}

#[tokio::test]
async fn xml_format_and_csv_mode_are_configurable() {
    let sim = sim_with(ElectaSimConfig {
        xml: XmlFormat {
            root: "ElectaResponse".into(),
            code: "responsecode".into(),
            data: "responsedata".into(),
            declaration: false,
        },
        api_path: "/custom/root/".into(),
        ..ElectaSimConfig::default()
    })
    .await;
    assert_eq!(sim.base_url().path(), "/custom/root");
    let url = endpoint(&sim, "/token/");
    let (_, _, body) = post(&url, &[("CID", &cid()), ("AppKey", WRONG_KEY)]).await;
    assert_eq!(
        body,
        "<ElectaResponse><responsecode>1</responsecode><responsedata>Invalid Account or Application Key</responsedata></ElectaResponse>"
    );
    sim.set_xml_format(XmlFormat::default());
    let (_, _, body) = post(&url, &[("CID", &cid()), ("AppKey", WRONG_KEY)]).await;
    assert_eq!(body, doc(1, INVALID_CREDENTIALS_TEXT));
    sim.set_reply_mode(ReplyMode::Csv);
    let (_, ct, body) = post(&url, &[("CID", &cid()), ("AppKey", WRONG_KEY)]).await;
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert_eq!(
        body,
        "ResponseCode,ResponseData\r\n1,Invalid Account or Application Key\r\n"
    );
    let (_, _, body) = post(&url, &[("CID", &cid()), ("AppKey", DEMO_APP_KEY)]).await;
    assert!(
        body.starts_with("ResponseCode,ResponseData\r\n0,"),
        "{body}"
    );
}

#[tokio::test]
async fn faults_and_unknown_paths() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    let url = endpoint(&sim, "/token/");
    let form = [("CID", cid()), ("AppKey", DEMO_APP_KEY.to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sim.faults().inject(Fault::Html, 1);
    sim.faults().inject(Fault::Malformed, 1);
    let (status, _, body) = post(&url, &form).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("<html>"));
    let (status, _, body) = post(&url, &form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.starts_with('<'));
    let (_, _, body) = post(&url, &form).await;
    token_of(&body);
    let (status, _, _) = get(
        &format!("http://{}/token/", sim.base_url().authority()),
        &[],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the API lives under the API path"
    );
    assert_eq!(sim.counters().logins(&cid()), 1);
}

#[tokio::test]
async fn token_honours_result_xml_and_csv() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    let url = endpoint(&sim, "/token/");
    let cid = cid();
    let (_, ct, body) = post(
        &url,
        &[("CID", &cid), ("AppKey", DEMO_APP_KEY), ("Result", "csv")],
    )
    .await;
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert!(
        body.starts_with("ResponseCode,ResponseData\r\n0,"),
        "{body}"
    );
    let (_, _, body) = get(
        &url,
        &[("CID", &cid), ("AppKey", WRONG_KEY), ("result", "CSV")],
    )
    .await;
    assert_eq!(
        body,
        "ResponseCode,ResponseData\r\n1,Invalid Account or Application Key\r\n"
    );
    // An explicit Result=xml wins over the simulator's CSV mode.
    sim.set_reply_mode(ReplyMode::Csv);
    let (_, ct, body) = post(
        &url,
        &[("CID", &cid), ("AppKey", DEMO_APP_KEY), ("Result", "xml")],
    )
    .await;
    assert_eq!(ct, "text/xml; charset=utf-8");
    token_of(&body);
    assert_eq!(sim.counters().logins(&cid), 2);
}

#[tokio::test]
async fn invalid_token_reply_and_call_errors_are_configurable() {
    let sim = sim_with(ElectaSimConfig::default()).await;
    let (_, _, body) = post(
        &endpoint(&sim, "/token/"),
        &[("CID", &cid()), ("AppKey", DEMO_APP_KEY)],
    )
    .await;
    let token = token_of(&body);
    let list = endpoint(&sim, "/users/list/");
    sim.set_call_error(Some((12, "Course not found")));
    let (_, _, body) = get(&list, &[("token", &token)]).await;
    assert_eq!(body, doc(12, "Course not found"));
    sim.set_call_error(None);
    let (_, _, body) = get(&list, &[("token", &token)]).await;
    assert!(body.contains("<ResponseCode>0</ResponseCode>"), "{body}");
    sim.set_invalid_token_reply(57, "Session timed out");
    let (_, _, body) = get(&list, &[("token", "nope")]).await;
    assert_eq!(body, doc(57, "Session timed out"));
    assert_eq!(sim.counters().calls(&cid()), 1);
}
