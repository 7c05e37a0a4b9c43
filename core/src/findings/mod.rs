//! Findings on keys: a leaked secret (reported by a scanner, see [`crate::leaks`]) or
//! unusual use (found by the [`Detector`] in the usage the hot path already counts).
//! Each is recorded once, with an event (`key.leaked`, `key.anomaly`) and an audit row,
//! shown on the key's page and the overview until acknowledged, and met by its
//! keyspace's policy (notify, disable, revoke).

pub mod detect;
mod detector;
mod history_store;
mod model;
pub(crate) mod record;
mod service;
pub(crate) mod store;

pub use detect::AnomalyRules;
pub use detector::{Detector, Evaluation, MAX_KEYS_PER_EVALUATION};
pub use model::{
    AnomalyAction, Finding, FindingAction, FindingFilter, FindingKind, LeakAction, NewFinding,
    Severity,
};
pub use service::{FindingService, OpenFindings};

#[cfg(test)]
mod tests;
