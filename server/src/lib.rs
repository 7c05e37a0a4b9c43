//! The Locksmith server: configuration, start-up, the HTTP stack and the embedded
//! PostgreSQL. The binary `locksmith` is a thin command line over this library, which
//! integration tests drive directly.

pub mod api;
pub mod audit_export;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod command_error;
pub mod commands;
pub mod config;
pub mod embedded_pg;
pub mod http;
pub mod portal;
pub mod reload;
pub mod secrets;
pub mod session_store;
pub mod startup;
pub mod state;
pub mod telemetry;
