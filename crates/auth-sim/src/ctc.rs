//! ctc simulator.
