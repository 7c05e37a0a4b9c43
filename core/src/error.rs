//! The error type of the core layer.

/// Everything that can go wrong inside the core. The HTTP layers map it to their own
/// error types; internal causes are logged there and never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule of one field; the message is safe to show.
    #[error("{field}: {message}")]
    Invalid {
        /// The field as the caller named it (`quota.limit`, `items[3].name`).
        field: String,
        /// What is wrong with it, e.g. "must be 1 to 100 characters".
        message: String,
    },
    /// The change conflicts with existing state (e.g. a duplicate email); safe to show.
    #[error("{0}")]
    Conflict(String),
    /// No such object, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller may not do this; the message is safe to show.
    #[error("{0}")]
    Forbidden(String),
    /// Items of an all-or-nothing batch that cannot be processed; nothing was changed.
    #[error("{} item(s) of the batch cannot be processed; nothing was changed", .0.len())]
    Batch(Vec<ItemError>),
    /// A dependency is away and the request cannot be answered safely without it (e.g.
    /// an unknown key while the database is unreachable); the message is safe to show.
    #[error("{0}")]
    Unavailable(String),
    /// The caller is over an abuse limit; it may try again after the duration.
    #[error("too many requests; retry after {} s", .0.as_secs())]
    Throttled(std::time::Duration),
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database never became reachable within the start-up budget.
    #[error("database unreachable after {attempts} attempts over {waited_ms} ms: {last}")]
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

/// Why one item of a batch failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemError {
    /// The item's position in the request (from 0).
    pub index: usize,
    /// The item's id, for batches of ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<uuid::Uuid>,
    /// What is wrong with it; names the field.
    pub detail: String,
}

impl Error {
    /// An `Invalid` error for `field`.
    pub fn invalid(field: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            message: problem.to_string(),
        }
    }

    /// The same error about `field` instead (a service's field as a form names it).
    #[must_use]
    pub fn renamed(self, from: &str, to: &str) -> Self {
        match self {
            Self::Invalid { field, message } if field == from => Self::Invalid {
                field: to.to_owned(),
                message,
            },
            other => other,
        }
    }
}

/// Whether `err` is a unique violation of the named constraint or index.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint))
}

/// Shorthand for results of the core layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
