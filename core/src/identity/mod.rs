//! Who may sign in and what they may do: users, roles, passwords, sessions and the
//! sign-in lockout. [`UserService`] and [`SessionService`] are the ways in; the modules
//! behind them hold the rules and the SQL.

pub mod actor;
pub mod email;
pub mod gate;
pub(crate) mod lockout;
pub mod login;
pub mod password;
pub(crate) mod portal_sessions;
pub mod revocation;
pub mod role;
mod session_service;
pub mod tokens;
mod user_service;
pub mod users;

pub use actor::Actor;
pub use email::Email;
pub use password::{Password, PasswordError, PasswordHash};
pub use portal_sessions::PortalSession;
pub use role::Role;
pub use session_service::{Purged, SessionService};
pub use user_service::{NewUserInput, UserPatchInput, UserService};
