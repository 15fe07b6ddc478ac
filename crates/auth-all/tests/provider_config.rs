//! `ProviderConfig` on its own: typed environment values, other serde
//! formats, common settings, and one client against a simulator. (The
//! five-provider scenarios are in the workspace's `integration-tests`.)
#![cfg(all(
    feature = "ctc",
    feature = "plaspy",
    feature = "wialon",
    feature = "cielo24",
    feature = "electa",
    feature = "sim",
    feature = "toml"
))]

use std::time::Duration;

use auth_all::sim::plaspy::{DEMO_API_KEY, DEMO_USERNAME, PlaspySim};
use auth_all::{
    AuthError, Cielo24CredentialPlacement, Cielo24PasswordHeader, CommonSettings, ProviderConfig,
};
use secrecy::ExposeSecret;

#[tokio::test]
async fn connects_to_the_simulator_from_toml() {
    let sim = PlaspySim::start(Default::default()).await.unwrap();
    let text = format!(
        "provider = \"plaspy\"\nuser_name = \"{DEMO_USERNAME}\"\napi_key = \"{DEMO_API_KEY}\"\nbase_url = \"{}\"\ntimeout_secs = 5\n",
        sim.base_url()
    );
    let config = ProviderConfig::from_toml_str(&text).unwrap();
    assert_eq!(config.common().timeout_secs, Some(5.0));
    let client = config.connect().unwrap();
    assert_eq!(client.provider_name(), "plaspy");
    let url = sim.base_url().join("api/devices").unwrap();
    let response = client
        .send(client.http_client().get(url.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client.send(client.http_client().get(url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sim.counters().logins(DEMO_USERNAME), 1);
    assert_eq!(client.stats().logins, 1);
    client.logout().await.unwrap();
}

#[test]
fn environment_values_are_parsed_by_type() {
    let config = ProviderConfig::from_vars(
        "",
        [
            ("PROVIDER", " Cielo24 "),
            ("CIELO24_USERNAME", "media"),
            ("CIELO24_PASSWORD", "pw"),
            ("CIELO24_SANDBOX", "YES"),
            ("CIELO24_API_VERSION", "1"),
            ("CIELO24_CREDENTIAL_PLACEMENT", "query"),
            ("CIELO24_PASSWORD_HEADER", "x-auth-key"),
            ("CIELO24_IDLE_TIMEOUT_SECS", "90.5"),
            ("CIELO24_MAX_BODY_BYTES", "65536"),
            ("UNRELATED", "ignored"),
        ],
    )
    .unwrap();
    let ProviderConfig::Cielo24(s) = &config else {
        panic!("{config:?}")
    };
    assert_eq!(s.username, "media");
    assert_eq!(s.password.as_ref().unwrap().expose_secret(), "pw");
    assert!(s.secure_key.is_none());
    assert!(s.sandbox);
    assert_eq!(s.api_version, Some(1));
    assert_eq!(s.credential_placement, Cielo24CredentialPlacement::Query);
    assert_eq!(s.password_header, Cielo24PasswordHeader::XAuthKey);
    assert_eq!(s.idle_timeout_secs, Some(90.5));
    assert_eq!(s.common.max_body_bytes, Some(65536));
    let provider = s.clone().into_provider().unwrap();
    assert_eq!(provider.base_url().as_str(), "https://sandbox.cielo24.com/");

    for (value, expected) in [("1", true), ("on", true), ("False", false), ("0", false)] {
        let config = ProviderConfig::from_vars(
            "X",
            [
                ("X_PROVIDER", "wialon"),
                ("X_WIALON_TOKEN", "t"),
                ("X_WIALON_ALLOW_INSECURE_HTTP", value),
                ("X_WIALON_FLAGS", "7"),
            ],
        )
        .unwrap();
        let ProviderConfig::Wialon(s) = config else {
            panic!()
        };
        assert_eq!(s.allow_insecure_http, expected, "{value}");
        assert_eq!(s.flags, Some(7));
    }

    let err = ProviderConfig::from_vars(
        "X",
        [
            ("X_PROVIDER", "cielo24"),
            ("X_CIELO24_USERNAME", "u"),
            ("X_CIELO24_CREDENTIAL_PLACEMENT", "body"),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "cielo24 settings: X_CIELO24_CREDENTIAL_PLACEMENT: unknown variant `body`, expected `headers` or `query`"
    );
}

#[test]
fn any_self_describing_format_works() {
    let value = serde_json::json!({
        "provider": "electa",
        "api_url": "https://live.example.com/apps/api",
        "cid": 7,
        "app_key": "UO86CN11XY73SF72TT40PG18ZE76VV71",
        "token_param": "tok",
    });
    let config: ProviderConfig = serde_json::from_value(value).unwrap();
    let ProviderConfig::Electa(s) = config else {
        panic!()
    };
    let provider = s.into_provider().unwrap();
    assert_eq!(provider.cid(), 7);
    assert_eq!(
        provider.token_url().as_str(),
        "https://live.example.com/apps/api/token/"
    );
}

#[test]
fn common_settings_become_http_settings() {
    let common = CommonSettings {
        timeout_secs: Some(2.5),
        connect_timeout_secs: Some(0.25),
        max_body_bytes: Some(1000),
        user_agent: Some("fleet/1".into()),
        ..Default::default()
    };
    let http = common.http_settings(true).unwrap();
    assert_eq!(http.timeout, Duration::from_millis(2500));
    assert_eq!(http.connect_timeout, Duration::from_millis(250));
    assert_eq!(http.max_body, 1000);
    assert_eq!(http.user_agent, "fleet/1");
    assert!(http.allow_insecure_http);

    let defaults = CommonSettings::default().http_settings(false).unwrap();
    assert_eq!(defaults.timeout, auth_all::HttpSettings::default().timeout);

    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = CommonSettings {
            timeout_secs: Some(bad),
            ..Default::default()
        }
        .http_settings(false)
        .unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{bad}: {err:?}");
    }
    let err = CommonSettings {
        user_agent: Some("a\nb".into()),
        ..Default::default()
    }
    .http_settings(false)
    .unwrap_err();
    assert!(err.to_string().contains("user_agent"), "{err}");
    let err = CommonSettings {
        max_body_bytes: Some(0),
        ..Default::default()
    }
    .http_settings(false)
    .unwrap_err();
    assert!(err.to_string().contains("max_body_bytes"), "{err}");
}

#[test]
fn common_settings_choose_the_tls_backend_and_add_a_root_certificate() {
    for &backend in auth_all::TlsBackend::ENABLED {
        let http = CommonSettings {
            tls_backend: Some(backend.feature().to_owned()),
            ..Default::default()
        }
        .http_settings(false)
        .unwrap();
        assert_eq!(http.effective_tls_backend(), Some(backend));
    }
    let err = CommonSettings {
        tls_backend: Some("schannel".into()),
        ..Default::default()
    }
    .http_settings(false)
    .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("tls_backend"), "{err}");

    let path = std::env::temp_dir().join(format!("auth-all-ca-{}.pem", std::process::id()));
    std::fs::write(
        &path,
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let http = CommonSettings {
        root_certificate_file: Some(path.clone()),
        ..Default::default()
    }
    .http_settings(false)
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        format!("{http:?}").contains("root_certificates: 1"),
        "{http:?}"
    );
    let err = CommonSettings {
        root_certificate_file: Some(path.clone()),
        ..Default::default()
    }
    .http_settings(false)
    .unwrap_err();
    assert!(err.to_string().contains("root_certificate_file"), "{err}");

    if let Some(first) = auth_all::TlsBackend::preferred() {
        let config = ProviderConfig::from_toml_str(&format!(
            "provider = \"plaspy\"\nuser_name = \"u\"\napi_key = \"k\"\ntls_backend = \"{first}\"\n"
        ))
        .unwrap();
        assert_eq!(
            config.common().tls_backend.as_deref(),
            Some(first.feature())
        );
    }
}

#[test]
fn a_wialon_fleet_share_becomes_the_request_limits() {
    use auth_all::core::Provider;
    use auth_all::wialon::DEFAULT_REQUEST_LIMITS;

    let token = "a".repeat(72);
    let config =
        ProviderConfig::from_toml_str(&format!("provider = \"wialon\"\ntoken = \"{token}\"\n"))
            .unwrap();
    let ProviderConfig::Wialon(s) = config else {
        panic!()
    };
    let whole = s.into_provider().unwrap().request_limits().unwrap();
    assert_eq!(whole, DEFAULT_REQUEST_LIMITS);
    assert_eq!(whole.in_flight(), Some(9));

    let config = ProviderConfig::from_toml_str(&format!(
        "provider = \"wialon\"\ntoken = \"{token}\"\nsession_shared_by = 3\n"
    ))
    .unwrap();
    let ProviderConfig::Wialon(s) = config else {
        panic!()
    };
    let share = s.into_provider().unwrap().request_limits().unwrap();
    assert_eq!(share.in_flight(), Some(3));
    assert_eq!(share.rate(), Some((3, Duration::from_secs(1))));

    let config = ProviderConfig::from_toml_str(&format!(
        "provider = \"wialon\"\ntoken = \"{token}\"\nsession_shared_by = 0\n"
    ))
    .unwrap();
    let ProviderConfig::Wialon(s) = config else {
        panic!()
    };
    let err = s.into_provider().unwrap_err();
    assert!(err.to_string().contains("session_shared_by"), "{err}");
}

#[test]
fn a_proxy_from_configuration_is_a_secret_until_it_is_used() {
    let text = "provider = \"plaspy\"\nuser_name = \"u\"\napi_key = \"k\"\nproxy = \"http://fleet:pr0xy-pass@proxy.internal:3128\"\n";
    let config = ProviderConfig::from_toml_str(text).unwrap();
    assert!(!format!("{config:?}").contains("pr0xy-pass"));
    let http = config.common().http_settings(false).unwrap();
    assert_eq!(
        http.proxy_url().map(|u| u.host_str()),
        Some(Some("proxy.internal"))
    );
    assert!(!format!("{http:?}").contains("pr0xy-pass"));
    config.connect().unwrap();

    let bad = "provider = \"plaspy\"\nuser_name = \"u\"\napi_key = \"k\"\nproxy = \"not a url pr0xy-pass\"\n";
    let err = ProviderConfig::from_toml_str(bad)
        .unwrap()
        .connect()
        .unwrap_err();
    assert!(err.to_string().contains("proxy"), "{err}");
    assert!(!err.to_string().contains("pr0xy-pass"), "{err}");
}
