#![doc = include_str!("../README.md")]

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
