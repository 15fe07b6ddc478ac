//! Cross-crate integration tests live in `tests/`. This library only makes
//! the README's code blocks compile as doc tests.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
