//! CalAmp Telematics Cloud (CTC) API login: one login per token lifetime, cookie or bearer token, re-login on 401 within the fair-usage policy.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
