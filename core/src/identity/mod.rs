//! Who may sign in and what they may do: users, roles, passwords and login lockout.

pub mod actor;
pub mod admin;
pub mod email;
pub mod gate;
pub mod lockout;
pub mod login;
pub mod password;
pub mod revocation;
pub mod role;
pub mod tokens;
pub mod users;

pub use actor::Actor;
pub use email::Email;
pub use password::{Password, PasswordError, PasswordHash};
pub use role::Role;
