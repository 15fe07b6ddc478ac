//! Fuzz targets for the response parsers of the vendor-auth provider crates.
//!
//! Run one with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/seeds/<target>`
//! (targets: `ctc_login`, `plaspy_token`, `wialon_login`, `cielo24_login`,
//! `electa_xml`). Each target decodes its input with [`fuzz_input::decode`]
//! (the format the seed regression tests of the provider crates use too) and
//! hands status, headers and body to the crate's `parse_login_response`, the
//! function the crate's `Provider::login` calls after the HTTP exchange.

/// Asserts that the text (an error's `Display` or `Debug`) holds none of the
/// secrets.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a secret leaked into an error: {text}"
        );
    }
}
