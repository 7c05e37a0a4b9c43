//! Who may see and change which keys. Owners act only on their own keys, within the policy
//! an admin set on their account; another owner's key is "not found", never "forbidden",
//! so its existence does not leak. Auditors read everything and change nothing.

use uuid::Uuid;

use crate::error::{Error, Result};
pub use crate::identity::Actor;
use crate::identity::Role;
use crate::identity::users::User;
use crate::scope::Scope;

/// What an actor may do with keys.
impl Actor {
    /// `Forbidden` for auditors (read-only).
    pub fn check_may_change_keys(self) -> Result<()> {
        match self.role {
            Role::Admin | Role::Owner => Ok(()),
            Role::Auditor => Err(Error::Forbidden(
                "auditors can read keys but not change them".into(),
            )),
        }
    }

    /// The owner whose keys alone this caller may see: `None` for admins and auditors.
    /// Repository queries filter on it, so other owners' rows are never even locked.
    pub fn only_own(self) -> Option<Uuid> {
        (!self.role.reads_everything()).then_some(self.id)
    }

    /// Whether an admin-set owner policy binds this caller (owners; admins are not bound).
    pub fn bound_by_policy(self) -> bool {
        self.role == Role::Owner
    }
}

/// `Forbidden` when `scopes` are outside the owner's allowed set.
pub fn check_scopes(owner: &User, scopes: &[Scope]) -> Result<()> {
    let Some(allowed) = &owner.allowed_scopes else {
        return Ok(());
    };
    let outside: Vec<&str> = scopes
        .iter()
        .map(Scope::as_str)
        .filter(|s| !allowed.iter().any(|a| a == s))
        .collect();
    if outside.is_empty() {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "scopes: not allowed by your policy: {} (allowed: {})",
            outside.join(", "),
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        )))
    }
}

/// `Forbidden` when holding `live + adding` keys would exceed the owner's `max_keys`.
pub fn check_key_count(owner: &User, live: i64, adding: i64) -> Result<()> {
    match owner.max_keys {
        Some(max) if live + adding > i64::from(max) => Err(Error::Forbidden(format!(
            "max_keys: your policy allows {max} live keys; you hold {live} and asked for {adding} more"
        ))),
        _ => Ok(()),
    }
}
