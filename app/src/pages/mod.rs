//! One module per page.

pub mod audit;
pub mod check_key;
pub mod forbidden;
pub mod home;
pub mod key;
pub mod key_log;
pub mod keys;
pub mod keyspaces;
pub mod login;
pub mod new_key;
pub mod not_found;
pub mod users;
pub mod webhooks;
