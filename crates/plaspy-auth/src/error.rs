//! The typed error Plaspy returns.

use std::fmt;

/// A failed token request: `{"success":false,"error":".."}` (whatever the
/// HTTP status), or an ASP.NET Core problem-details answer.
///
/// Carried as the source of [`AuthError::InvalidCredentials`] and
/// [`AuthError::Api`]; retrieve it with [`AuthError::provider_error`].
///
/// [`AuthError::InvalidCredentials`]: auth_core::AuthError::InvalidCredentials
/// [`AuthError::Api`]: auth_core::AuthError::Api
/// [`AuthError::provider_error`]: auth_core::AuthError::provider_error
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaspyApiError {
    /// HTTP status of the answer.
    pub status: u16,
    /// The server's `error` text (or problem title), a short redacted excerpt.
    pub message: String,
}

impl fmt::Display for PlaspyApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

impl std::error::Error for PlaspyApiError {}
