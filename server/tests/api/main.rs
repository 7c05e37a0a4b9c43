//! Integration tests: the real server on port 0 against a real PostgreSQL, one fresh
//! database per test (`#[sqlx::test]`, which reads `DATABASE_URL`).

mod helpers;
mod nginx;
mod process;

mod audit;
mod auth;
mod authz;
mod backup;
mod chaos;
mod client;
mod config_errors;
mod dashboard;
mod embedded_database;
mod errors;
mod invalidations;
mod key_list_and_bulk;
mod keys;
mod keyspaces;
mod leaks;
mod lookup;
mod notifications;
mod openapi;
mod operations;
mod owner_limits;
mod portal;
mod portal_hardening;
mod portal_keys;
mod proxies;
mod request_ids;
mod security_headers;
mod sessions;
mod tracing_export;
mod users;
mod verification_log;
mod verify;
mod verify_batch;
mod verify_ops;
mod webhooks;
