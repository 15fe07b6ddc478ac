//! The input format shared by the fuzz targets and the seed regression tests
//! (`crates/*/tests/fuzz_regression.rs` include this file with `#[path]`, so
//! both decode a seed exactly the same way).
//!
//! An input is a tiny HTTP-like answer:
//!
//! ```text
//! 200
//! Set-Cookie: authToken=abc; Path=/
//! Retry-After: 5
//!
//! {"body": "bytes, anything"}
//! ```
//!
//! The first line is the status, the following lines up to the first empty
//! line are headers (`Name: value`), the rest is the body. An input without
//! an empty line (`\n\n`) is all body, with status 200 and no headers, so the
//! fuzzer can also mutate bodies directly. Invalid statuses fall back to 200
//! and invalid header lines are skipped: every byte string decodes.

use auth_core::reqwest::StatusCode;
use auth_core::reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// A decoded input: what a provider's login parser receives.
#[derive(Debug)]
pub struct Input<'a> {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// Response headers (repeated names are kept, in order).
    pub headers: HeaderMap,
    /// Response body.
    pub body: &'a [u8],
}

/// Decodes any byte string into an [`Input`] (never fails, never panics).
pub fn decode(data: &[u8]) -> Input<'_> {
    let Some(split) = data.windows(2).position(|w| w == b"\n\n") else {
        return Input {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: data,
        };
    };
    let (head, body) = (&data[..split], &data[split + 2..]);
    let mut lines = head.split(|b| *b == b'\n').map(trim_cr);
    let status = lines
        .next()
        .and_then(|line| StatusCode::from_bytes(line.trim_ascii()).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(line[..colon].trim_ascii());
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    Input {
        status,
        headers,
        body,
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What a seed's file name promises: `ok_*` seeds must parse, `err_*` seeds
/// must give an error, others (e.g. `crash_*` inputs found by fuzzing) only
/// must not panic.
pub fn expected_ok(name: &str) -> Option<bool> {
    if name.starts_with("ok_") {
        Some(true)
    } else if name.starts_with("err_") {
        Some(false)
    } else {
        None
    }
}

/// The files of a seed directory, sorted by name (for the regression tests).
pub fn seed_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the seed directory {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let path = entry.path();
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}
