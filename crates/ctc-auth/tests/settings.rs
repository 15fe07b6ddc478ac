//! `CtcSettings` (feature `serde`): the crate reads its own configuration,
//! with errors that name the field and never echo a secret.
#![cfg(feature = "serde")]

use auth_core::settings::ProviderSettings;
use ctc_auth::{CtcSettings, Instance, TokenPlacement};

const SECRET: &str = "hunter2-very-secret";

#[test]
fn settings_deserialize_and_build_the_provider() {
    let json = format!(
        r#"{{"username": "api.user@example.com", "password": "{SECRET}", "app_key": "k",
            "instance": "EU", "token_placement": "bearer"}}"#
    );
    let settings: CtcSettings = serde_json::from_str(&json).unwrap();
    assert!(!format!("{settings:?}").contains(SECRET));
    assert_eq!(settings.token_placement, TokenPlacement::Bearer);
    assert_eq!(<CtcSettings as ProviderSettings>::NAME, "ctc");
    let provider = settings.into_provider().unwrap();
    assert_eq!(provider.instance(), &Instance::Eu);
    assert_eq!(provider.token_placement(), TokenPlacement::Bearer);
}

#[test]
fn errors_name_the_field_and_never_echo_a_secret() {
    // A secret of the wrong type is reported by its kind.
    let err = serde_json::from_str::<CtcSettings>(
        r#"{"username": "u", "password": 12345678, "app_key": "k", "instance": "us"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("a number"), "{err}");
    assert!(!err.contains("12345678"), "{err}");
    // An unknown field is refused by name.
    let err = serde_json::from_str::<CtcSettings>(&format!(
        r#"{{"username": "u", "pasword": "{SECRET}", "app_key": "k", "instance": "us"}}"#
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("pasword"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
    // A URL with credentials in it is refused without quoting it.
    let err = serde_json::from_str::<CtcSettings>(&format!(
        r#"{{"username": "u", "password": "p", "app_key": "k", "instance": "https://u:{SECRET}@ctc.example.com"}}"#
    ))
    .unwrap_err()
    .to_string();
    assert!(!err.contains(SECRET), "{err}");
}
