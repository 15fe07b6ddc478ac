//! electa simulator.
