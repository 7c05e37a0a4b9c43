//! API keys: their format and digest, keyspaces and verifiers, the key model with its
//! derived status, the repository, the access policy and the operations on keys.
//! [`KeyService`] and [`KeyspaceService`] are the ways in; the stores hold the SQL.

pub mod digest;
pub mod format;
pub mod key_header;
mod keyspace_service;
pub(crate) mod keyspace_store;
#[cfg(test)]
mod list_plans;
pub mod listing;
pub mod model;
pub mod policy;
pub mod service;
pub(crate) mod store;

pub use digest::KeyHasher;
pub(crate) use keyspace_service::parse_name;
pub use keyspace_service::{CreatedVerifier, KeyspaceChanges, KeyspaceService, VerifierView};
pub use keyspace_store::{Keyspace, Verifier, VerifierAuth};
pub use listing::{KeyCursor, KeyFilter, KeySort, SortColumn};
pub use model::{KeyStatus, KeyView, QuotaPeriod, QuotaSpec, RateLimit};
pub use policy::Actor;
pub use service::{BulkChange, CreatedKey, KeyPatchInput, KeyService, NewKeyInput, RotatedKey};
