//! Replays the `electa_xml` fuzz seeds (`fuzz/seeds/electa_xml/`) through
//! [`ElectaProvider::parse_login_response`] and [`parse_reply`], and checks
//! with proptest that XML generated from arbitrary code and data strings
//! (XML-escaped) parses back to the same code and data.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use auth_core::{AuthError, Provider};
use electa_auth::protocol::parse_reply;
use electa_auth::{ElectaError, ElectaProvider};
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

const APP_KEY: &str = "FUZZELECTAAPPKEY0123456789ABCDEF";

fn provider() -> ElectaProvider {
    ElectaProvider::builder()
        .api_url("http://127.0.0.1:9/apps/api".parse().unwrap())
        .cid(4242)
        .app_key(SecretString::from(APP_KEY))
        .build()
        .unwrap()
}

fn assert_secret_free(err: &AuthError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(APP_KEY), "{text}");
}

#[test]
fn fuzz_seeds_parse_without_panicking() {
    let provider = provider();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/electa_xml");
    let seeds = fuzz_input::seed_files(&dir);
    assert!(seeds.len() >= 5, "expected the committed seeds in {dir:?}");
    for (name, bytes) in seeds {
        let input = fuzz_input::decode(&bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(reply) = parse_reply(input.body) {
                assert_eq!(reply.data.trim(), reply.data);
            }
            let _ = provider.rejection(StatusCode::OK, input.body);
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

/// Regression (found by the `electa_xml` fuzz target): quick-xml's error
/// messages quote element and entity names from the body, and they were put
/// into the error as is, so a body naming an element after the key (or a
/// token) leaked it. XML errors are now described without document content.
#[test]
fn xml_errors_do_not_quote_the_body() {
    let provider = provider();
    let mut errors = 0;
    for body in [
        format!("<Ve{APP_KEY}>0</Re>"),
        format!("<R><Code>0</Code><ResponseData>x</{APP_KEY}></R>"),
        format!("<R><Code>0</Code><ResponseData>&{APP_KEY};</ResponseData></R>"),
        format!("<R><Code>0</Code><ResponseData>&#x{APP_KEY};</ResponseData></R>"),
        format!("<R {APP_KEY}><Code>0</Code><ResponseData>x</ResponseData></R>"),
        format!("<R Code=\"&{APP_KEY};\"><ResponseData>x</ResponseData></R>"),
        format!("<?xml {APP_KEY}?><R><Code>0</Code><ResponseData>x</ResponseData></R>"),
    ] {
        // Some of these are accepted by the lenient reader; the others must
        // fail without quoting the key.
        if let Err(err) = parse_reply(body.as_bytes()) {
            errors += 1;
            assert!(!format!("{err} {err:?}").contains(APP_KEY), "{err:?}");
        }
        if let Err(err) =
            provider.parse_login_response(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
        {
            assert_secret_free(&err);
        }
    }
    assert!(errors >= 4, "{errors}");
}

/// Text XML 1.0 can carry (no control characters but tab and newline; no
/// carriage return, which XML normalizes), without surrounding whitespace
/// (the reader trims `ResponseData`).
fn xml_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(|chars| {
        let text: String = chars
            .into_iter()
            .filter(|c| {
                matches!(*c, '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
            })
            .collect();
        text.trim().to_owned()
    })
}

/// Element names the lenient reader accepts, in any case.
fn names() -> impl Strategy<Value = (String, String, String)> {
    (
        prop::sample::select(vec!["Response", "ElectaResponse", "Result", "R"]),
        prop::sample::select(vec!["ResponseCode", "Code", "ReturnCode", "ErrorCode"]),
        prop::sample::select(vec!["ResponseData", "responsedata", "RESPONSEDATA"]),
        any::<bool>(),
    )
        .prop_map(|(root, code, data, upper)| {
            let case = |s: &str| {
                if upper {
                    s.to_ascii_uppercase()
                } else {
                    s.to_owned()
                }
            };
            (case(root), case(code), data.to_owned())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn escaped_xml_round_trips(
        code in any::<i64>(),
        data in xml_text(80),
        (root, code_name, data_name) in names(),
        declaration in any::<bool>(),
        code_first in any::<bool>(),
        cdata in any::<bool>(),
    ) {
        let data_xml = if cdata && !data.contains("]]>") {
            format!("<![CDATA[{data}]]>")
        } else {
            quick_xml::escape::escape(data.as_str()).into_owned()
        };
        let code_el = format!("<{code_name}> {code} </{code_name}>");
        let data_el = format!("<{data_name}>{data_xml}</{data_name}>");
        let (first, second) = if code_first { (code_el, data_el) } else { (data_el, code_el) };
        let decl = if declaration { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" } else { "" };
        let xml = format!("{decl}<{root}>\n  {first}\n  {second}\n</{root}>");
        let reply = parse_reply(xml.as_bytes()).unwrap();
        prop_assert_eq!(reply.code, code);
        prop_assert_eq!(&reply.data, &data);

        // The login: code 0 with a token-like text is a session; a non-zero
        // code is a typed error carrying the code.
        let outcome = provider().parse_login_response(StatusCode::OK, &HeaderMap::new(), xml.as_bytes());
        match outcome {
            Ok(new) => {
                prop_assert_eq!(code, 0);
                prop_assert_eq!(new.token.expose_secret(), data.as_str());
            }
            Err(err) => {
                assert_secret_free(&err);
                if code != 0 {
                    if let Some(typed) = err.provider_error::<ElectaError>() {
                        prop_assert_eq!(typed.code, code);
                    } else {
                        prop_assert!(matches!(err, AuthError::LockedOut { .. }), "{err:?}");
                    }
                } else {
                    prop_assert!(data.is_empty() || data.chars().any(|c| c.is_whitespace() || c.is_control()));
                }
            }
        }
    }

    /// Code as an attribute of the root element.
    #[test]
    fn code_attribute_round_trips(code in any::<i64>(), data in xml_text(40)) {
        let xml = format!(
            "<Result Code=\"{code}\"><ResponseData>{}</ResponseData></Result>",
            quick_xml::escape::escape(data.as_str())
        );
        let reply = parse_reply(xml.as_bytes()).unwrap();
        prop_assert_eq!(reply.code, code);
        prop_assert_eq!(reply.data, data);
    }
}
