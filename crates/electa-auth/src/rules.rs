//! [`RejectionRules`]: which answers to a protected call mean "log in again".

use auth_core::{AuthError, Rejection};

use crate::protocol::Reply;

/// The documented text of a wrong account id or application key (the only
/// error text Electa documents).
pub const INVALID_CREDENTIALS_TEXT: &str = "Invalid Account or Application Key";

/// Which answers to a protected call reject the session.
///
/// Electa documents no code or text for an expired or unknown token. An
/// answer with code 0 keeps the session. A non-zero code whose code is in
/// [`rejected_codes`](Self::rejected_codes), or whose `ResponseData`
/// contains one of [`rejected_patterns`](Self::rejected_patterns)
/// (case-insensitive), rejects it: the client logs in again and retries
/// once. Any other non-zero code "maybe" rejects it
/// ([`Rejection::MaybeRejected`]): the client logs in again speculatively,
/// at most once per
/// [`speculative_relogin_interval`](auth_core::AuthenticatedBuilder::speculative_relogin_interval)
/// (10 minutes by default), and if the fresh session gets the same code,
/// returns it as an API error and keeps the session.
///
/// The default rejects the documented credential text
/// ([`INVALID_CREDENTIALS_TEXT`]): on a protected call it means the token
/// does not (or no longer) identify the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionRules {
    /// Non-zero response codes that reject the session. Default none.
    pub rejected_codes: Vec<i64>,
    /// Case-insensitive substrings of `ResponseData` that reject the
    /// session. Default [`INVALID_CREDENTIALS_TEXT`].
    pub rejected_patterns: Vec<String>,
}

impl Default for RejectionRules {
    fn default() -> Self {
        Self {
            rejected_codes: Vec::new(),
            rejected_patterns: vec![INVALID_CREDENTIALS_TEXT.to_owned()],
        }
    }
}

impl RejectionRules {
    /// What a reply to a protected call says about the session.
    pub fn classify(&self, reply: &Reply) -> Rejection {
        if reply.code == 0 {
            return Rejection::NotRejected;
        }
        let text = reply.data.to_lowercase();
        if self.rejected_codes.contains(&reply.code)
            || self
                .rejected_patterns
                .iter()
                .any(|p| text.contains(&p.to_lowercase()))
        {
            Rejection::Rejected
        } else {
            Rejection::MaybeRejected {
                code: reply.code.to_string(),
            }
        }
    }

    /// Checks the rules: no empty pattern, no code 0 (success).
    pub(crate) fn validate(&self) -> Result<(), AuthError> {
        if self.rejected_patterns.iter().any(|p| p.trim().is_empty()) {
            return Err(AuthError::config(
                "electa: a rejection pattern must not be empty",
            ));
        }
        if self.rejected_codes.contains(&0) {
            return Err(AuthError::config(
                "electa: response code 0 is a success, not a rejection",
            ));
        }
        Ok(())
    }
}
