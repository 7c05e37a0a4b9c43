//! Verification usage: counts per key, outcome and hour, gathered in memory on the hot
//! path ([`UsageBuffer`]) and written in batches ([`store`]), and read back as a series
//! for `GET /v1/keys/{id}/usage` and the portal.

pub mod buffer;
pub mod network;
pub mod recent;
pub mod series;
pub(crate) mod store;

pub use buffer::{LoggedVerification, UsageBatch, UsageBuffer};
pub use network::network_of;
pub use series::{Granularity, UsageBucket, UsageRange};

use crate::verify::Code;

/// The columns usage is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `VALID`.
    Valid,
    /// `RATE_LIMITED`.
    RateLimited,
    /// `QUOTA_EXCEEDED`.
    QuotaExceeded,
    /// `FORBIDDEN_IP` and `INSUFFICIENT_SCOPES`: the key is good but not for this use.
    Forbidden,
    /// `REVOKED`, `DISABLED` and `EXPIRED`.
    Other,
}

impl Outcome {
    /// The column of `code`; `None` for `NOT_FOUND`, which belongs to no key.
    pub fn of(code: Code) -> Option<Self> {
        Some(match code {
            Code::NotFound => return None,
            Code::Valid => Self::Valid,
            Code::RateLimited => Self::RateLimited,
            Code::QuotaExceeded => Self::QuotaExceeded,
            Code::ForbiddenIp | Code::InsufficientScopes => Self::Forbidden,
            Code::Revoked | Code::Disabled | Code::Expired => Self::Other,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_but_not_found_has_a_column() {
        for code in Code::ORDER {
            assert_eq!(
                Outcome::of(code).is_none(),
                code == Code::NotFound,
                "{code:?}"
            );
        }
        assert_eq!(Outcome::of(Code::ForbiddenIp), Some(Outcome::Forbidden));
        assert_eq!(
            Outcome::of(Code::InsufficientScopes),
            Some(Outcome::Forbidden)
        );
        assert_eq!(Outcome::of(Code::Expired), Some(Outcome::Other));
    }
}
