//! # fuzz-input
//!
//! The input format shared by the fuzz targets (`fuzz/`) and the seed
//! regression tests of the provider crates
//! (`crates/*/tests/fuzz_regression.rs`), so both decode a seed exactly the
//! same way. Dev-only: not published.
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
//!
//! ```
//! let input = fuzz_input::decode(b"401\nRetry-After: 5\n\n{\"error\": 1}");
//! assert_eq!(input.status, 401);
//! assert_eq!(input.headers["retry-after"], "5");
//! assert_eq!(input.body, b"{\"error\": 1}");
//! ```
//!
//! Seed files are named for what they promise ([`expected_ok`]); the
//! regression tests replay a seed directory listed by [`seed_files`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::Path;

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

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

/// The files of a seed directory, as (file name, contents), sorted by name
/// (for the regression tests).
///
/// # Panics
///
/// If the directory or one of its files cannot be read (a test without its
/// seeds must fail, not pass vacuously).
pub fn seed_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_empty_line_everything_is_body() {
        let input = decode(b"401\nRetry-After: 5");
        assert_eq!(input.status, StatusCode::OK);
        assert!(input.headers.is_empty());
        assert_eq!(input.body, b"401\nRetry-After: 5");
    }

    #[test]
    fn status_headers_and_body() {
        let input =
            decode(b"302\r\nSet-Cookie: a=1\r\nset-cookie: b=2\nLocation:  /x \n\nbody\n\nmore");
        assert_eq!(input.status, StatusCode::FOUND);
        let cookies: Vec<_> = input.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(input.headers["location"], "/x");
        assert_eq!(input.body, b"body\n\nmore");
    }

    #[test]
    fn invalid_status_and_header_lines_are_tolerated() {
        let input = decode(b"abc\nno colon\nBad Name: v\nGood: v\x01\nOk: 1\n\n");
        assert_eq!(input.status, StatusCode::OK);
        assert_eq!(input.headers.len(), 1);
        assert_eq!(input.headers["ok"], "1");
        assert!(input.body.is_empty());
        assert_eq!(decode(b"\n\n").status, StatusCode::OK);
        assert_eq!(decode(b"99\n\n").status, StatusCode::OK);
    }

    #[test]
    fn seed_names() {
        assert_eq!(expected_ok("ok_login"), Some(true));
        assert_eq!(expected_ok("err_401"), Some(false));
        assert_eq!(expected_ok("crash_max_age"), None);
        assert_eq!(expected_ok("okay"), None);
    }

    #[test]
    fn seed_files_are_sorted_and_skip_directories() {
        let dir = std::env::temp_dir().join(format!("fuzz-input-seeds-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("ok_b"), b"2").unwrap();
        std::fs::write(dir.join("err_a"), b"1").unwrap();
        let files = seed_files(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            files,
            [
                ("err_a".to_owned(), b"1".to_vec()),
                ("ok_b".to_owned(), b"2".to_vec())
            ]
        );
    }
}
