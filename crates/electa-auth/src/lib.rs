//! Electa Live API 3.0 authentication (/token/): XML token responses, 20-minute tokens, lockout protection.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
