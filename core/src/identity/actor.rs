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
    /// `Forbidden` unless the caller is an admin.
    pub fn check_admin(self) -> Result<()> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("this needs the admin role".into()))
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
