//! Plaspy / ALTAGAMA GPS REST API authentication: JWT bearer token with renewal before expiry.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
