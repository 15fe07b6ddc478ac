//! Token access flags: the `fl` of `token/update` and of the token settings
//! in a login reply, as typed [`TokenAccess`] flags.

use crate::protocol::{TokenInfo, TokenParams};

bitflags::bitflags! {
    /// Access rights of a token (`fl` of `token/update`; the same value is
    /// in the token settings of a `token/login` reply and of `token/list`).
    ///
    /// Source: help.wialon.com, API "Data format", "Tokens"
    /// (<https://help.wialon.com/es/api/user-guide/data-format/tokens>; the
    /// `fl` parameter of
    /// <https://help.wialon.com/en/api/user-guide/api-reference/token/update>):
    /// 0x100 online tracking, 0x200 viewing data, 0x400 modification of
    /// non-sensitive data, 0x800 modification of sensitive data, 0x1000
    /// modification of critical data and message deletion, 0x2000
    /// communication (sending commands), 0x4000 activation codes
    /// management, -1 unlimited. Each token flag stands for a set of ACL
    /// bits listed on that page. Bits not named here are kept as sent
    /// ([`from_bits_retain`](Self::from_bits_retain)).
    ///
    /// ```
    /// use wialon_token::{TokenAccess, TokenParams};
    /// let access = TokenAccess::ONLINE_TRACKING | TokenAccess::VIEW;
    /// assert_eq!(access.bits(), 0x300);
    /// let params = TokenParams::with_access(access).app("fleet-sync");
    /// assert_eq!(params.access(), access);
    /// assert!(TokenAccess::FULL.contains(TokenAccess::COMMUNICATION));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct TokenAccess: i64 {
        /// Online tracking (0x100).
        const ONLINE_TRACKING = 0x100;
        /// View access to most data (0x200).
        const VIEW = 0x200;
        /// Modification of non-sensitive data (0x400).
        const MODIFY_NON_SENSITIVE = 0x400;
        /// Modification of sensitive data (0x800).
        const MODIFY_SENSITIVE = 0x800;
        /// Modification of critical data, including message deletion (0x1000).
        const MODIFY_CRITICAL = 0x1000;
        /// Communication: sending commands (0x2000).
        const COMMUNICATION = 0x2000;
        /// Management of activation codes (0x4000).
        const ACTIVATION_CODES = 0x4000;
        /// Unlimited access (-1: every bit).
        const FULL = -1;
    }
}

impl TokenAccess {
    /// Whether this is unlimited access (`fl` = -1).
    pub fn is_full(self) -> bool {
        self == Self::FULL
    }
}

impl TokenParams {
    /// Parameters with these typed access flags, activating at once,
    /// unlimited in time.
    pub fn with_access(access: TokenAccess) -> Self {
        Self::new(access.bits())
    }

    /// The access flags as [`TokenAccess`].
    pub fn access(&self) -> TokenAccess {
        TokenAccess::from_bits_retain(self.access_flags)
    }
}

impl TokenInfo {
    /// The access flags as [`TokenAccess`].
    pub fn access(&self) -> TokenAccess {
        TokenAccess::from_bits_retain(self.access_flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_flags_match_the_documented_values_and_keep_unknown_bits() {
        assert_eq!(
            TokenAccess::ONLINE_TRACKING.bits(),
            crate::token_access::ONLINE_TRACKING
        );
        assert_eq!(TokenAccess::VIEW.bits(), crate::token_access::VIEW);
        assert_eq!(
            TokenAccess::MODIFY_NON_SENSITIVE.bits(),
            crate::token_access::MODIFY_NON_SENSITIVE
        );
        assert_eq!(
            TokenAccess::MODIFY_SENSITIVE.bits(),
            crate::token_access::MODIFY_SENSITIVE
        );
        assert_eq!(
            TokenAccess::MODIFY_CRITICAL.bits(),
            crate::token_access::MODIFY_CRITICAL
        );
        assert_eq!(
            TokenAccess::COMMUNICATION.bits(),
            crate::token_access::COMMUNICATION
        );
        assert!(TokenAccess::from_bits_retain(-1).is_full());
        assert_eq!(TokenAccess::ACTIVATION_CODES.bits(), 0x4000);
        let odd = TokenAccess::from_bits_retain(0x8100);
        assert_eq!(odd.bits(), 0x8100);
        assert!(odd.contains(TokenAccess::ONLINE_TRACKING));
        let info = TokenInfo {
            access_flags: 0x300,
            ..TokenInfo::default()
        };
        assert_eq!(
            info.access(),
            TokenAccess::ONLINE_TRACKING | TokenAccess::VIEW
        );
    }
}
