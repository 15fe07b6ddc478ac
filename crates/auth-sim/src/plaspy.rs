//! plaspy simulator.
