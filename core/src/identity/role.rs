//! Roles and what each may do.

use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads everything, changes nothing.
    Auditor,
    /// Sees and manages only their own keys, within their policy.
    Owner,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Auditor => "auditor",
            Self::Owner => "owner",
        }
    }

    /// Parses the wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "auditor" => Some(Self::Auditor),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// May read every user, key and audit entry.
    pub fn reads_everything(self) -> bool {
        matches!(self, Self::Admin | Self::Auditor)
    }

    /// May manage users, keyspaces and everyone's keys.
    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in [Role::Admin, Role::Auditor, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn least_privilege() {
        assert!(Role::Admin.is_admin() && Role::Admin.reads_everything());
        assert!(!Role::Auditor.is_admin() && Role::Auditor.reads_everything());
        assert!(!Role::Owner.is_admin() && !Role::Owner.reads_everything());
    }
}
