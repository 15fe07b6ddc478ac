//! cielo24 simulator.
