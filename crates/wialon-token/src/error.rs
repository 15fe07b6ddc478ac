//! Wialon error codes (`{"error":N}` replies) and how they are classified.

use std::fmt;
use std::sync::Arc;

use auth_core::AuthError;

/// A Wialon error code, as in `{"error":N}`.
///
/// Sources: the error tables of the Remote API docs
/// (<https://sdk.wialon.com/wiki/en/sidebar/remoteapi/apiref/errors/errors>,
/// which adds 11, 14, 1006, 2006 and 2008 to the older Wialon Local tables)
/// and help.wialon.com "Error codes"
/// (<https://help.wialon.com/ru/api/user-guide/error-codes>, which adds -100,
/// -101 and 12). Codes not listed there are [`Other`](Self::Other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WialonErrorCode {
    /// -100: internal error, network timeout (help.wialon.com "Error codes").
    InternalNetworkTimeout,
    /// -101: internal error, invalid network response (help.wialon.com
    /// "Error codes").
    InternalBadNetworkResponse,
    /// 1: invalid session (log in again).
    InvalidSession,
    /// 2: invalid service name.
    InvalidService,
    /// 3: invalid result.
    InvalidResult,
    /// 4: invalid input.
    InvalidInput,
    /// 5: error performing request.
    RequestFailed,
    /// 6: unknown error.
    Unknown,
    /// 7: access denied.
    AccessDenied,
    /// 8: invalid user name or password (for `token/login`: unknown token).
    InvalidCredentials,
    /// 9: authorization server is unavailable.
    AuthServerUnavailable,
    /// 10: reached limit of concurrent requests.
    ConcurrentRequestLimit,
    /// 11: password reset error (sdk.wialon.com errors table).
    PasswordResetError,
    /// 12: the agro subsystem is not loaded (help.wialon.com "Error codes").
    AgroNotLoaded,
    /// 14: billing error (sdk.wialon.com errors table).
    BillingError,
    /// 1001: no messages for the selected interval.
    NoMessages,
    /// 1002: item with such unique property already exists, or billing
    /// restrictions forbid creating it.
    ItemExists,
    /// 1003: only one request is allowed at the moment (has a `reason`).
    OneRequestAtATime,
    /// 1004: limit of messages has been exceeded.
    MessageLimit,
    /// 1005: execution time has exceeded the limit.
    ExecutionTimeLimit,
    /// 1006: too many attempts to enter a two-factor authorization code.
    TwoFactorAttempts,
    /// 1011: your IP has changed or the session has expired (log in again).
    IpChangedOrSessionExpired,
    /// 2006: the unit cannot be transferred to this account (sdk.wialon.com
    /// errors table).
    UnitTransferImpossible,
    /// 2008: the user has no access to the unit (after its transfer to a new
    /// account; sdk.wialon.com errors table).
    NoUnitAccessAfterTransfer,
    /// 2014: the user is a creator of system objects and cannot be bound to a
    /// new account.
    CreatorCannotBeBound,
    /// 2015: the sensor cannot be deleted (used by another sensor).
    SensorInUse,
    /// Any other code, kept as is.
    Other(i64),
}

impl WialonErrorCode {
    /// The code for a number.
    pub fn from_code(code: i64) -> Self {
        match code {
            -100 => Self::InternalNetworkTimeout,
            -101 => Self::InternalBadNetworkResponse,
            1 => Self::InvalidSession,
            2 => Self::InvalidService,
            3 => Self::InvalidResult,
            4 => Self::InvalidInput,
            5 => Self::RequestFailed,
            6 => Self::Unknown,
            7 => Self::AccessDenied,
            8 => Self::InvalidCredentials,
            9 => Self::AuthServerUnavailable,
            10 => Self::ConcurrentRequestLimit,
            11 => Self::PasswordResetError,
            12 => Self::AgroNotLoaded,
            14 => Self::BillingError,
            1001 => Self::NoMessages,
            1002 => Self::ItemExists,
            1003 => Self::OneRequestAtATime,
            1004 => Self::MessageLimit,
            1005 => Self::ExecutionTimeLimit,
            1006 => Self::TwoFactorAttempts,
            1011 => Self::IpChangedOrSessionExpired,
            2006 => Self::UnitTransferImpossible,
            2008 => Self::NoUnitAccessAfterTransfer,
            2014 => Self::CreatorCannotBeBound,
            2015 => Self::SensorInUse,
            other => Self::Other(other),
        }
    }

    /// The number.
    pub fn code(self) -> i64 {
        match self {
            Self::InternalNetworkTimeout => -100,
            Self::InternalBadNetworkResponse => -101,
            Self::InvalidSession => 1,
            Self::InvalidService => 2,
            Self::InvalidResult => 3,
            Self::InvalidInput => 4,
            Self::RequestFailed => 5,
            Self::Unknown => 6,
            Self::AccessDenied => 7,
            Self::InvalidCredentials => 8,
            Self::AuthServerUnavailable => 9,
            Self::ConcurrentRequestLimit => 10,
            Self::PasswordResetError => 11,
            Self::AgroNotLoaded => 12,
            Self::BillingError => 14,
            Self::NoMessages => 1001,
            Self::ItemExists => 1002,
            Self::OneRequestAtATime => 1003,
            Self::MessageLimit => 1004,
            Self::ExecutionTimeLimit => 1005,
            Self::TwoFactorAttempts => 1006,
            Self::IpChangedOrSessionExpired => 1011,
            Self::UnitTransferImpossible => 2006,
            Self::NoUnitAccessAfterTransfer => 2008,
            Self::CreatorCannotBeBound => 2014,
            Self::SensorInUse => 2015,
            Self::Other(n) => n,
        }
    }

    /// The documented meaning.
    pub fn description(self) -> &'static str {
        match self {
            Self::InternalNetworkTimeout => "internal error (network timeout)",
            Self::InternalBadNetworkResponse => "internal error (invalid network response)",
            Self::InvalidSession => "invalid session",
            Self::InvalidService => "invalid service name",
            Self::InvalidResult => "invalid result",
            Self::InvalidInput => "invalid input",
            Self::RequestFailed => "error performing request",
            Self::Unknown => "unknown error",
            Self::AccessDenied => "access denied",
            Self::InvalidCredentials => "invalid user name or password",
            Self::AuthServerUnavailable => "authorization server is unavailable",
            Self::ConcurrentRequestLimit => "reached limit of concurrent requests",
            Self::PasswordResetError => "password reset error",
            Self::AgroNotLoaded => "agro subsystem is not loaded",
            Self::BillingError => "billing error",
            Self::NoMessages => "no messages for selected interval",
            Self::ItemExists => {
                "item with such unique property already exists or cannot be created"
            }
            Self::OneRequestAtATime => "only one request is allowed at the moment",
            Self::MessageLimit => "limit of messages has been exceeded",
            Self::ExecutionTimeLimit => "execution time has exceeded the limit",
            Self::TwoFactorAttempts => "too many attempts to enter a two-factor authorization code",
            Self::IpChangedOrSessionExpired => "your IP has changed or session has expired",
            Self::UnitTransferImpossible => "the unit cannot be transferred to this account",
            Self::NoUnitAccessAfterTransfer => {
                "user has no access to the unit (after its transfer to a new account)"
            }
            Self::CreatorCannotBeBound => {
                "user is a creator for some system objects and cannot be bound to a new account"
            }
            Self::SensorInUse => "sensor cannot be deleted (used in another sensor)",
            Self::Other(_) => "undocumented error",
        }
    }

    /// Whether the session is gone and a new login is needed (1, 1011).
    pub fn needs_login(self) -> bool {
        matches!(self, Self::InvalidSession | Self::IpChangedOrSessionExpired)
    }

    /// Whether trying again later may succeed (9, 10, 1003, and the
    /// internal network errors -100 and -101).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::AuthServerUnavailable
                | Self::ConcurrentRequestLimit
                | Self::OneRequestAtATime
                | Self::InternalNetworkTimeout
                | Self::InternalBadNetworkResponse
        )
    }

    /// Whether the code is a per-session request limit (10 "reached limit
    /// of concurrent requests", 1003 "only one request is allowed at the
    /// moment"): the request was not executed and may be sent again after a
    /// short wait. [`WialonClientExt::call`](crate::WialonClientExt::call) does so
    /// with back-off.
    pub fn is_session_limit(self) -> bool {
        matches!(self, Self::ConcurrentRequestLimit | Self::OneRequestAtATime)
    }

    /// Whether a `token/login` answer with this code means the token itself
    /// is bad (4 malformed, 7 not activated, 8 unknown or expired).
    pub fn rejects_token(self) -> bool {
        matches!(
            self,
            Self::InvalidInput | Self::AccessDenied | Self::InvalidCredentials
        )
    }
}

impl fmt::Display for WialonErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.description())
    }
}

/// A `{"error":N}` reply from Wialon (with its `reason`, for 1003 and
/// others that carry one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WialonError {
    /// The code.
    pub code: WialonErrorCode,
    /// The server's `reason`, when given.
    pub reason: Option<String>,
}

impl fmt::Display for WialonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wialon error {}", self.code)?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

impl WialonError {
    /// An error with this code and no reason.
    pub fn new(code: i64) -> Self {
        Self {
            code: WialonErrorCode::from_code(code),
            reason: None,
        }
    }

    /// Whether the session is gone and a new login is needed.
    pub fn needs_login(&self) -> bool {
        self.code.needs_login()
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.code.is_retryable()
    }

    fn message(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{}: {}", self.code.description(), short(reason)),
            None => self.code.description().to_owned(),
        }
    }

    /// This error as an [`AuthError::Api`] (the typed error is its source).
    pub fn into_api_error(self) -> AuthError {
        AuthError::Api {
            provider: crate::NAME,
            code: self.code.code().to_string(),
            message: self.message(),
            retryable: self.is_retryable(),
            source: Some(Arc::new(self)),
        }
    }

    /// This error as the answer to a login: a bad token (4, 7, 8) is
    /// [`AuthError::InvalidCredentials`], anything else [`AuthError::Api`].
    pub fn into_login_error(self) -> AuthError {
        if self.code.rejects_token() {
            AuthError::InvalidCredentials {
                provider: crate::NAME,
                message: format!("token/login answered error {}", self.message()),
                source: Some(Arc::new(self)),
            }
        } else {
            self.into_api_error()
        }
    }
}

/// A reason quoted in a message: one line, at most 160 characters.
fn short(reason: &str) -> String {
    let line: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for n in [
            -101, -100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 1001, 1002, 1003, 1004, 1005,
            1006, 1011, 2006, 2008, 2014, 2015, 77,
        ] {
            assert_ne!(
                WialonErrorCode::from_code(n) == WialonErrorCode::Other(n),
                n != 77,
                "{n}"
            );
            assert_eq!(WialonErrorCode::from_code(n).code(), n);
        }
        assert_eq!(WialonErrorCode::from_code(77), WialonErrorCode::Other(77));
    }
}
