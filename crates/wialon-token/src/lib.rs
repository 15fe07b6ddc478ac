//! Wialon Remote API token login (token/login): sessions, keep-alive, typed errors, token management.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
