//! Replays the Wialon seed's `token/login` request signature and response
//! template (verbatim in `tests/fixtures/`, see its README for the seed
//! lines) through the simulator and the client's parser.

use std::collections::BTreeSet;

use auth_sim::wialon::{DEMO_SUBUSER, DEMO_TOKEN, WialonSim, WialonSimConfig};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use wialon_token::{LoginFlags, WialonProvider};

/// Seed lines 5-7: `svc=token/login&params={"token":..,"operateAs":..,"fl":..}`.
const REQUEST: &str = include_str!("fixtures/seed_token_login_request.txt");
/// Seed lines 34-95: the response template.
const RESPONSE: &str = include_str!("fixtures/seed_token_login_response.txt");

/// The names `"name":` in `text` (not the escaped ones inside JSON text).
fn field_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let name = &after[..end];
        let escaped = start > 0 && rest.as_bytes()[start - 1] == b'\\';
        if !escaped
            && after[end + 1..].starts_with(':')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            names.insert(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    names
}

/// The names `\"name\":` inside the escaped `token` text of the template.
fn escaped_field_names(text: &str) -> BTreeSet<String> {
    text.split("\\\"")
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':'))
        .map(|w| w[0].to_owned())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect()
}

/// Every key of `value`, recursively.
fn keys(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

/// The template with its placeholders filled, comments and `...` lines
/// removed, and the commas the seed omits added.
fn instantiate(template: &str) -> String {
    let mut text = template.to_owned();
    while let Some(start) = text.find("/*") {
        let end = text[start..]
            .find("*/")
            .map_or(text.len(), |e| start + e + 2);
        text.replace_range(start..end, "");
    }
    let text = text
        // The session id is a secret the parser drops wherever it is echoed:
        // give it a value of its own, not the "x" of every other text.
        .replace(
            "\"eid\":<text>",
            "\"eid\":\"0123456789abcdef0123456789abcdef\"",
        )
        .replace("\\\"<text>\\\"", "\\\"x\\\"")
        .replace("{<text>}", "{}")
        .replace("\"<service_name>\"", "\"svc\"")
        .replace("<text>", "\"x\"")
        .replace("<uint>", "1")
        .replace("<int>", "1")
        .replace("<long>", "1")
        .replace("<bool>", "true")
        // The escaped token text misses two commas (`"ct":1"at"`, `"fl":1"p"`).
        .replace(":1\\\"", ":1,\\\"");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "..." && *l != "...,")
        .collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        let next_is_field = lines.get(i + 1).is_some_and(|n| n.starts_with('"'));
        if next_is_field && !line.ends_with([',', '{', '[']) {
            out.push(',');
        }
    }
    // Trailing commas left by the removed `...` lines.
    let mut json = String::new();
    for c in out.chars() {
        if (c == '}' || c == ']') && json.ends_with(',') {
            json.pop();
        }
        json.push(c);
    }
    json
}

#[test]
fn the_seed_template_is_not_json_as_printed() {
    // Where the seed is wrong: the template misses commas even with its
    // placeholders filled (see tests/fixtures/README.md).
    let filled_only = RESPONSE.replace("<text>", "\"x\"").replace("<uint>", "1");
    assert!(serde_json::from_str::<Value>(&filled_only).is_err());
    assert!(serde_json::from_str::<Value>(&instantiate(RESPONSE)).is_ok());
}

#[tokio::test]
async fn the_simulator_answers_every_field_of_the_seed_response() {
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let documented = field_names(RESPONSE);
    assert!(documented.contains("eid") && documented.contains("mappsmax"));
    let token_fields = escaped_field_names(RESPONSE);
    assert_eq!(
        token_fields,
        ["app", "ct", "at", "dur", "fl", "p", "items"]
            .map(String::from)
            .into()
    );
    // Every flag, as the seed's request signature allows (`fl`).
    let params = r#"{"token":"TOKEN","fl":-1}"#.replace("TOKEN", DEMO_TOKEN);
    let reply: Value = reqwest::Client::new()
        .post(sim.ajax_url())
        .form(&[("svc", "token/login"), ("params", params.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut produced = BTreeSet::new();
    keys(&reply, &mut produced);
    let missing: Vec<&String> = documented.difference(&produced).collect();
    assert!(missing.is_empty(), "documented, not produced: {missing:?}");
    let token: Value = serde_json::from_str(reply["token"].as_str().unwrap()).unwrap();
    let mut produced = BTreeSet::new();
    keys(&token, &mut produced);
    assert!(token_fields.is_subset(&produced));
}

#[tokio::test]
async fn the_seed_request_signature_is_what_the_client_sends() {
    // The seed's parameters: token, operateAs, fl.
    let documented = field_names(REQUEST);
    assert_eq!(
        documented,
        ["token", "operateAs", "fl"].map(String::from).into()
    );
    assert!(REQUEST.starts_with("svc=token/login&params="));
    let mut server = mockito::Server::new_async().await;
    let expected = documented.clone();
    let m = server
        .mock("POST", "/wialon/ajax.html")
        .match_request(move |req| {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(req.body().unwrap())
                    .into_owned()
                    .collect();
            let params: Value = serde_json::from_str(&form["params"]).unwrap();
            let sent: BTreeSet<String> = params.as_object().unwrap().keys().cloned().collect();
            form["svc"] == "token/login" && sent == expected
        })
        .with_header("content-type", "application/json")
        .with_body(instantiate(RESPONSE))
        .create_async()
        .await;
    let provider = WialonProvider::builder()
        .token(DEMO_TOKEN)
        .operate_as(DEMO_SUBUSER)
        .flags(LoginFlags::all())
        .host(server.url())
        .build()
        .unwrap();
    let client = WialonProvider::into_client(provider).unwrap();
    let session = client.session().await.unwrap();
    m.assert_async().await;
    assert_eq!(session.data().user.as_ref().unwrap().name, "x");

    // The same request against the simulator: the sub-user session.
    let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
    let provider = WialonProvider::builder()
        .token(DEMO_TOKEN)
        .operate_as(DEMO_SUBUSER)
        .flags(LoginFlags::all())
        .host(sim.base_url().as_str())
        .build()
        .unwrap();
    let session = WialonProvider::into_client(provider)
        .unwrap()
        .session()
        .await
        .unwrap();
    assert_eq!(session.data().user.as_ref().unwrap().name, DEMO_SUBUSER);
    assert!(session.data().token.is_some());
}

#[test]
fn the_seed_response_parses_with_every_documented_block() {
    let provider = WialonProvider::builder().token(DEMO_TOKEN).build().unwrap();
    let body = instantiate(RESPONSE);
    let session = provider
        .parse_login_response(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
        .unwrap();
    let info = &session.data;
    assert_eq!(info.user_name.as_deref(), Some("x"));
    assert_eq!(info.ping_interval, Some(1));
    assert!(info.gis_sid.is_some());
    let user = info.user.as_ref().unwrap();
    assert_eq!((user.name.as_str(), user.id, user.class), ("x", 1, Some(1)));
    assert_eq!(user.property("language"), Some("x"));
    assert!(user.extra.contains_key("ap") && user.extra.contains_key("mappsmax"));
    assert_eq!(info.classes.len(), 7);
    let features = info.features.as_ref().unwrap();
    assert!(features.unlim);
    assert_eq!(features.services.get("svc"), Some(&true));
    let token = info.token.as_ref().unwrap();
    assert_eq!(
        (token.app.as_str(), token.items.as_slice()),
        ("x", &[1][..])
    );
}
