//! cielo24 API authentication (account/login): API token with idle expiry, password or secure key, typed errors.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
