//! Who may see and change which keys. Owners act only on their own keys, within the policy
//! an admin set on their account; another owner's key is "not found", never "forbidden",
//! so its existence does not leak. Auditors read everything and change nothing.

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::identity::Role;
use crate::identity::users::User;
use crate::scope::Scope;

/// The authenticated caller of a key operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user id.
    pub id: Uuid,
    /// Their role, as read at this request.
    pub role: Role,
}

impl Actor {
    /// Whether the caller may see a key owned by `owner`.
    pub fn sees(self, owner: Uuid) -> bool {
        self.role.reads_everything() || owner == self.id
    }

    /// `NotFound` unless the caller may see (and so act on) a key owned by `owner`.
    pub fn check_visible(self, owner: Uuid) -> Result<()> {
        if self.sees(owner) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `Forbidden` for auditors (read-only).
    pub fn check_may_change_keys(self) -> Result<()> {
        match self.role {
            Role::Admin | Role::Owner => Ok(()),
            Role::Auditor => Err(Error::Forbidden(
                "auditors can read keys but not change them".into(),
            )),
        }
    }

    /// `Forbidden` unless the caller reads everything (admin, auditor).
    pub fn check_reader(self) -> Result<()> {
        if self.role.reads_everything() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "this needs the admin or auditor role".into(),
            ))
        }
    }

    /// `Forbidden` unless the caller is an admin.
    pub fn check_admin(self) -> Result<()> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("this needs the admin role".into()))
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

impl From<&User> for Actor {
    /// The caller as their user row says now (role read at this request).
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            role: user.role,
        }
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
