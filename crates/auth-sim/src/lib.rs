//! Simulators (being built).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
