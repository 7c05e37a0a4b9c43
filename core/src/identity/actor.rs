//! `Actor`: the authenticated caller of an operation, as every service of the core takes
//! it (the role read at this request, so a change of role takes effect at once). What an
//! actor may do with keys is in `keys::policy`; what any caller may do is here.

use uuid::Uuid;

use super::Role;
use super::users::User;
use crate::error::{Error, Result};

/// The authenticated caller of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user id.
    pub id: Uuid,
    /// Their role, as read at this request.
    pub role: Role,
}

impl Actor {
    /// Locksmith itself: the command line, and changes nobody asked for (expiry, purges).
    /// It may do what an admin may; its changes are recorded without an actor.
    pub const SYSTEM: Actor = Actor {
        id: Uuid::nil(),
        role: Role::Admin,
    };

    /// The id to record as the actor of a change: `None` for the system.
    pub fn recorded_id(self) -> Option<Uuid> {
        (self != Self::SYSTEM).then_some(self.id)
    }

    /// Whether the caller may see what belongs to `owner` (a key, a user's own record):
    /// admins and auditors see everything, everyone else only their own.
    pub fn sees(self, owner: Uuid) -> bool {
        self.role.reads_everything() || owner == self.id
    }

    /// `NotFound` unless the caller may see (and so act on) what belongs to `owner`: what
    /// another owner has is "not found", never "forbidden", so its existence does not
    /// leak.
    pub fn check_visible(self, owner: Uuid) -> Result<()> {
        if self.sees(owner) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `Forbidden` unless the caller is an admin.
    pub fn check_admin(self) -> Result<()> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("This needs the admin role.".into()))
        }
    }

    /// `Forbidden` unless the caller reads everything (admin, auditor).
    pub fn check_reader(self) -> Result<()> {
        if self.role.reads_everything() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "This needs the admin or auditor role.".into(),
            ))
        }
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
