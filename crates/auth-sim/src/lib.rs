//! # auth-sim
//!
//! Stateful local simulators of five vendor authentication APIs (CalAmp CTC,
//! Plaspy/ALTAGAMA GPS, Wialon, cielo24, Electa Live), for tests and demos:
//! no provider offers an offline sandbox.
//!
//! Each simulator runs an axum server on an ephemeral loopback port, keeps
//! state (issued tokens, expiry, lockouts), counts calls per account, and can
//! inject faults into the next requests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cielo24;
pub mod common;
pub mod ctc;
pub mod electa;
pub mod plaspy;
pub mod wialon;

pub use common::{Counters, Fault, Faults, SimHandle, SimServer};

/// Errors starting a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Binding or serving the socket failed.
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The simulator configuration is invalid.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}
