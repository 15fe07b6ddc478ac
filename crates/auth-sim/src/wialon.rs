//! wialon simulator.
