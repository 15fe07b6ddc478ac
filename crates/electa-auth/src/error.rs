//! Electa's typed errors: a non-zero response code and the server's text.

/// What a non-zero Electa response code means, judged from the text (the
/// codes themselves are not documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElectaErrorKind {
    /// Wrong account id or application key
    /// (`Invalid Account or Application Key`).
    InvalidCredentials,
    /// API access is locked after failed logins.
    LockedOut,
    /// Anything else.
    Other,
}

impl ElectaErrorKind {
    /// Classifies an error text (case-insensitive keywords: "lock" means
    /// locked out; "invalid" with "key" or "account" wrong credentials).
    /// Whether an answer to a protected call rejects the session is decided
    /// by [`RejectionRules`](crate::RejectionRules), not by this.
    pub fn classify(text: &str) -> Self {
        let t = text.to_ascii_lowercase();
        if t.contains("lock") {
            Self::LockedOut
        } else if (t.contains("invalid") || t.contains("incorrect") || t.contains("wrong"))
            && (t.contains("key") || t.contains("account"))
        {
            Self::InvalidCredentials
        } else {
            Self::Other
        }
    }
}

/// An Electa error reply, carried as the source of an
/// [`AuthError`](auth_core::AuthError); get it back with
/// `err.provider_error::<ElectaError>()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Electa response code {code}: {message}")]
pub struct ElectaError {
    /// The non-zero response code.
    pub code: i64,
    /// The server's text (a short excerpt).
    pub message: String,
    /// What the text means.
    pub kind: ElectaErrorKind,
}
