//! The typed error CTC returns.

use std::fmt;

/// An error answer of the CTC API: the HTTP status and, when the body was
/// JSON, the server's error code and message.
///
/// Carried as the source of [`AuthError::InvalidCredentials`] and
/// [`AuthError::Api`]; retrieve it with [`AuthError::provider_error`].
///
/// [`AuthError::InvalidCredentials`]: auth_core::AuthError::InvalidCredentials
/// [`AuthError::Api`]: auth_core::AuthError::Api
/// [`AuthError::provider_error`]: auth_core::AuthError::provider_error
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtcApiError {
    /// HTTP status.
    pub status: u16,
    /// The server's error code, when it sent one (e.g. `INVALID_CREDENTIALS`).
    pub code: Option<String>,
    /// The server's message (a short, redacted excerpt).
    pub message: String,
}

impl fmt::Display for CtcApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CtcApiError {}
