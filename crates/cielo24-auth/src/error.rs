//! cielo24's typed API errors (`{"ErrorType": .., "ErrorComment": ..}`).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// The `ErrorType` of a cielo24 error reply.
///
/// Types this crate does not know are kept as [`ErrorType::Other`] with
/// their text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorType {
    /// Wrong username or password (`LOGIN_INVALID`).
    LoginInvalid,
    /// An account with that name exists already (`ACCOUNT_EXISTS`).
    AccountExists,
    /// No such account (`ACCOUNT_DOES_NOT_EXIST`).
    AccountDoesNotExist,
    /// The account (or secure key) lacks the rights for the call
    /// (`ACCOUNT_UNPRIVILEGED`).
    AccountUnprivileged,
    /// The API token is invalid or expired: log in again (`BAD_API_TOKEN`).
    BadApiToken,
    /// A malformed query (`INVALID_QUERY`).
    InvalidQuery,
    /// An option has an invalid value (`INVALID_OPTION`).
    InvalidOption,
    /// An invalid URL was given (`INVALID_URL`).
    InvalidUrl,
    /// A required parameter is missing (`MISSING_PARAMETER`).
    MissingParameter,
    /// The call is not implemented (`NOT_IMPLEMENTED`).
    NotImplemented,
    /// The job, key or other item does not exist (`ITEM_NOT_FOUND`).
    ItemNotFound,
    /// Invalid return handlers (`INVALID_RETURN_HANDLERS`).
    InvalidReturnHandlers,
    /// The account is not a parent (enterprise) account
    /// (`NOT_PARENT_ACCOUNT`).
    NotParentAccount,
    /// The account has no sub-accounts (`NO_CHILDREN_FOUND`).
    NoChildrenFound,
    /// An unexpected server-side error (`UNHANDLED_ERROR`).
    UnhandledError,
    /// A type this crate does not know, as sent.
    Other(String),
}

impl ErrorType {
    /// Parses the wire text (unknown texts become [`ErrorType::Other`]).
    pub fn from_wire(text: &str) -> Self {
        match text {
            "LOGIN_INVALID" => Self::LoginInvalid,
            "ACCOUNT_EXISTS" => Self::AccountExists,
            "ACCOUNT_DOES_NOT_EXIST" => Self::AccountDoesNotExist,
            "ACCOUNT_UNPRIVILEGED" => Self::AccountUnprivileged,
            "BAD_API_TOKEN" => Self::BadApiToken,
            "INVALID_QUERY" => Self::InvalidQuery,
            "INVALID_OPTION" => Self::InvalidOption,
            "INVALID_URL" => Self::InvalidUrl,
            "MISSING_PARAMETER" => Self::MissingParameter,
            "NOT_IMPLEMENTED" => Self::NotImplemented,
            "ITEM_NOT_FOUND" => Self::ItemNotFound,
            "INVALID_RETURN_HANDLERS" => Self::InvalidReturnHandlers,
            "NOT_PARENT_ACCOUNT" => Self::NotParentAccount,
            "NO_CHILDREN_FOUND" => Self::NoChildrenFound,
            "UNHANDLED_ERROR" => Self::UnhandledError,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire text, e.g. `"BAD_API_TOKEN"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::LoginInvalid => "LOGIN_INVALID",
            Self::AccountExists => "ACCOUNT_EXISTS",
            Self::AccountDoesNotExist => "ACCOUNT_DOES_NOT_EXIST",
            Self::AccountUnprivileged => "ACCOUNT_UNPRIVILEGED",
            Self::BadApiToken => "BAD_API_TOKEN",
            Self::InvalidQuery => "INVALID_QUERY",
            Self::InvalidOption => "INVALID_OPTION",
            Self::InvalidUrl => "INVALID_URL",
            Self::MissingParameter => "MISSING_PARAMETER",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::ItemNotFound => "ITEM_NOT_FOUND",
            Self::InvalidReturnHandlers => "INVALID_RETURN_HANDLERS",
            Self::NotParentAccount => "NOT_PARENT_ACCOUNT",
            Self::NoChildrenFound => "NO_CHILDREN_FOUND",
            Self::UnhandledError => "UNHANDLED_ERROR",
            Self::Other(text) => text,
        }
    }

    /// Whether a later attempt may succeed without changing the request
    /// (only `UNHANDLED_ERROR`, a server-side failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::UnhandledError)
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::from_wire(&text))
    }
}

/// A cielo24 error reply, carried as the source of an
/// [`AuthError`](auth_core::AuthError); get it back with
/// `err.provider_error::<Cielo24Error>()`.
///
/// ```
/// # use cielo24_auth::{Cielo24Error, ErrorType};
/// # fn check(err: auth_core::AuthError) {
/// if let Some(e) = err.provider_error::<Cielo24Error>() {
///     if e.error_type == ErrorType::AccountUnprivileged { /* ... */ }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cielo24 error {error_type}: {comment}")]
pub struct Cielo24Error {
    /// The error type.
    pub error_type: ErrorType,
    /// The server's `ErrorComment` (a short, secret-redacted excerpt).
    pub comment: String,
}
