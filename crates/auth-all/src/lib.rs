//! Facade over the vendor auth clients (work in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use auth_core as core;
