//! API keys: their format and digest, keyspaces and verifiers, the key model with its
//! derived status, the repository, the access policy and the operations on keys.

pub mod digest;
pub mod format;
pub mod keyspace_store;
pub mod keyspaces;
#[cfg(test)]
mod list_plans;
pub mod listing;
pub mod model;
pub mod policy;
pub mod service;
pub mod store;

pub use digest::KeyHasher;
pub use listing::{KeyCursor, KeyFilter, KeySort, SortColumn};
pub use model::{KeyStatus, KeyView, QuotaPeriod, QuotaSpec, RateLimit};
pub use policy::Actor;
pub use service::{BulkChange, CreatedKey, KeyPatchInput, KeyService, NewKeyInput, RotatedKey};
