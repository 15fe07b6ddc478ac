//! One HTTP client for every request of a test binary.
//!
//! Building a `reqwest::Client` loads the system's root certificates
//! whichever TLS backend the workspace's features compile in (tens of
//! milliseconds; more with OpenSSL 3, reqwest's default once auth-core's
//! `native-tls` is on, as under `--all-features`), and these tests time
//! tokens in hundreds of milliseconds. The shared client keeps no idle
//! connection: a pooled one would outlive the test runtime that opened it.

use std::sync::LazyLock;

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a plain HTTP client builds")
});

/// The shared client (a cheap clone).
pub(crate) fn client() -> reqwest::Client {
    CLIENT.clone()
}
