//! A key's log of recent verifications ("why is my key failing?"): what the API and the
//! portal read back, and how it is filtered.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::verify::Code;

/// Most entries in one page of a key's log.
pub const MAX_PAGE: i64 = 200;

/// One logged verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentVerification {
    /// Position in the log (a later entry has a larger id); the cursor of the next page.
    pub id: i64,
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// The answer.
    pub code: Code,
    /// The end user's address, as the calling service sent it (`null`: none sent).
    pub client_ip: Option<String>,
    /// The verifier that asked.
    pub verifier_id: Uuid,
    /// Its name.
    pub verifier_name: Option<String>,
}

/// Which entries of a log to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this answer.
    pub code: Option<Code>,
    /// Only refusals (every answer but `VALID`).
    pub refused: bool,
}

impl LogFilter {
    /// Reads `?code=`: a code's wire name, `refused`, or absent (everything).
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        match raw {
            None => Ok(Self::default()),
            Some("refused") => Ok(Self {
                code: None,
                refused: true,
            }),
            Some(name) => Code::parse(name)
                .filter(|c| *c != Code::NotFound)
                .map(|code| Self {
                    code: Some(code),
                    refused: false,
                })
                .ok_or_else(|| {
                    Error::invalid(
                        "code",
                        "must be refused or a code: VALID, REVOKED, DISABLED, EXPIRED, \
                         FORBIDDEN_IP, INSUFFICIENT_SCOPES, RATE_LIMITED or QUOTA_EXCEEDED",
                    )
                }),
        }
    }
}

/// A page of a key's log with the answers of every kept entry counted by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationLog {
    /// Newest first.
    pub items: Vec<RecentVerification>,
    /// The kept entries by answer (refusals split by reason), whatever the filter.
    pub counts: BTreeMap<String, i64>,
    /// How many entries are kept per key (older ones are dropped).
    pub kept_per_key: usize,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_a_code_refused_or_nothing() {
        assert_eq!(LogFilter::parse(None).expect("none"), LogFilter::default());
        assert!(LogFilter::parse(Some("refused")).expect("refused").refused);
        assert_eq!(
            LogFilter::parse(Some("FORBIDDEN_IP")).expect("code").code,
            Some(Code::ForbiddenIp)
        );
        for bad in ["NOT_FOUND", "valid", "x", "", " VALID"] {
            let err = LogFilter::parse(Some(bad)).expect_err(bad);
            assert!(err.to_string().starts_with("code:"), "{err}");
        }
    }
}
