//! The error type of the core layer.

/// Everything that can go wrong inside the core. The HTTP layers map it to their own
/// error types; none of these messages is ever shown to a client as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or answered with an error.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database never became reachable within the start-up budget.
    #[error("database unreachable after {attempts} attempts over {waited_ms} ms")]
    Unreachable {
        /// How many connection attempts were made.
        attempts: u32,
        /// How long was waited in total, in milliseconds.
        waited_ms: u128,
        /// The last connection error.
        #[source]
        last: sqlx::Error,
    },
}

/// Shorthand for results of the core layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
