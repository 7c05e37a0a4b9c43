//! Connection pool, start-up retries, migrations and the schema-version check.

use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::backoff::Backoff;
use crate::error::{Error, Result};

/// The migrations in `migrations/`, embedded in the binary at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How the connection pool is sized and how long it waits.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Upper bound of open connections.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a caller waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// Idle connections above `min_connections` are closed after this long.
    pub idle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

impl PoolSettings {
    fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .min_connections(self.min_connections)
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(self.idle_timeout)
    }

    /// A pool that connects on first use; it never fails to build.
    pub fn connect_lazy(&self, options: PgConnectOptions) -> PgPool {
        self.pool_options().connect_lazy_with(options)
    }

    /// Connects, retrying with capped exponential back-off for at most `budget`:
    /// a database that starts a few seconds after Locksmith is not an error.
    pub async fn connect_with_retry(
        &self,
        options: PgConnectOptions,
        budget: Duration,
    ) -> Result<PgPool> {
        let started = Instant::now();
        let mut delays = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), budget);
        let mut attempts = 0;
        loop {
            attempts += 1;
            // Custom plans for every execution: the list queries use optional filters
            // (`$1 IS NULL OR col = $1`) that only fold away, letting the planner pick an
            // index per filter shape, when the parameters are known at planning time.
            let options = options
                .clone()
                .options([("plan_cache_mode", "force_custom_plan")]);
            match self.pool_options().connect_with(options).await {
                Ok(pool) => return Ok(pool),
                Err(err) if is_transient(&err) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(attempt = attempts, retry_in_ms = delay.as_millis() as u64, error = %err, "database not reachable yet");
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        return Err(Error::Unreachable {
                            attempts,
                            waited_ms: started.elapsed().as_millis(),
                            last: err,
                        });
                    }
                },
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// Whether retrying can help: a refused or timed-out connection can, a wrong password cannot.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        // 57P03: cannot_connect_now (the server is starting up or shutting down).
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// The schema of Locksmith's database: migrating it, and where it stands. Used by
/// start-up, the command line and the readiness probe; it reads nothing of anyone's data.
#[derive(Clone, Debug)]
pub struct Schema {
    pool: PgPool,
}

impl Schema {
    /// The schema of the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Compares the applied migrations with the embedded ones.
    pub async fn status(&self) -> Result<SchemaStatus> {
        schema_status(&self.pool).await
    }

    /// Whether the database holds no table of its own (a restore's precondition).
    pub async fn is_empty(&self) -> Result<bool> {
        let tables = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM pg_catalog.pg_tables
               WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"#
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(tables == 0)
    }

    /// The connection pool's figures, for the metrics.
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }
}

/// How the connection pool stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub size: u32,
    /// Of those, idle.
    pub idle: usize,
    /// The most it opens.
    pub max: u32,
}

/// Makes sure the database `name` exists on the server reached with `options` (connected
/// to its maintenance database), creating it if not; `true` if it was created.
pub async fn ensure_database(options: &PgConnectOptions, name: &str) -> Result<bool> {
    let mut conn = sqlx::postgres::PgConnection::connect_with(options).await?;
    let created = if database_exists(&mut conn, name).await? {
        false
    } else {
        create_database(&mut conn, name).await?;
        true
    };
    conn.close().await?;
    Ok(created)
}

/// Whether a database of that name exists on the server `conn` is connected to.
async fn database_exists(conn: &mut sqlx::PgConnection, name: &str) -> Result<bool> {
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name
    )
    .fetch_one(conn)
    .await?;
    Ok(exists)
}

/// Creates a database. Identifiers cannot be bound as parameters, so the name is quoted
/// here; it is only ever a constant of ours, never user input.
async fn create_database(conn: &mut sqlx::PgConnection, name: &str) -> Result<()> {
    let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    sqlx::raw_sql(&statement).execute(conn).await?;
    Ok(())
}

/// Where the database schema stands relative to the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest migration version applied successfully, if any.
    pub applied: Option<i64>,
    /// The newest migration version embedded in this binary.
    pub expected: Option<i64>,
    /// Embedded migrations that are not applied, or applied with another checksum.
    pub pending: usize,
    /// Whether an applied migration is unknown to this binary or failed part-way.
    pub diverged: bool,
}

impl SchemaStatus {
    /// The schema is exactly what this binary expects.
    pub fn is_current(&self) -> bool {
        self.pending == 0 && !self.diverged
    }
}

/// Compares the applied migrations with the embedded ones.
pub(crate) async fn schema_status(pool: &PgPool) -> Result<SchemaStatus> {
    let mut conn = pool.acquire().await?;
    // A fresh database has no migrations table: that is "nothing applied", not an error,
    // and a readiness probe must not create it.
    let has_table =
        sqlx::query_scalar!(r#"SELECT to_regclass('_sqlx_migrations') IS NOT NULL AS "exists!""#)
            .fetch_one(&mut *conn)
            .await?;
    if !has_table {
        return Ok(compare(&MIGRATOR, &[], false));
    }
    let applied = conn.list_applied_migrations().await?;
    let dirty = conn.dirty_version().await?;
    Ok(compare(&MIGRATOR, &applied, dirty.is_some()))
}

fn compare(
    migrator: &Migrator,
    applied: &[sqlx::migrate::AppliedMigration],
    dirty: bool,
) -> SchemaStatus {
    let embedded: Vec<_> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .collect();
    let pending = embedded
        .iter()
        .filter(|m| {
            !applied
                .iter()
                .any(|a| a.version == m.version && a.checksum == m.checksum)
        })
        .count();
    let unknown = applied
        .iter()
        .any(|a| !embedded.iter().any(|m| m.version == a.version));
    SchemaStatus {
        applied: applied.iter().map(|a| a.version).max(),
        expected: embedded.iter().map(|m| m.version).max(),
        pending,
        diverged: unknown || dirty,
    }
}

/// Sends `payload` on `channel` (`NOTIFY`), outside any transaction.
pub(crate) async fn notify(pool: &PgPool, channel: &str, payload: &str) -> Result<()> {
    sqlx::query!("SELECT pg_notify($1, $2)", channel, payload)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::migrate::{AppliedMigration, Migration, MigrationType};

    use super::*;

    fn migration(version: i64, sql: &'static str) -> Migration {
        Migration::new(
            version,
            Cow::Borrowed("test"),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )
    }

    fn applied(m: &Migration) -> AppliedMigration {
        AppliedMigration {
            version: m.version,
            checksum: m.checksum.clone(),
        }
    }

    fn migrator(migrations: Vec<Migration>) -> Migrator {
        Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        }
    }

    #[test]
    fn all_applied_is_current() {
        let (a, b) = (migration(1, "select 1"), migration(2, "select 2"));
        let status = compare(
            &migrator(vec![a.clone(), b.clone()]),
            &[applied(&a), applied(&b)],
            false,
        );
        assert!(status.is_current());
        assert_eq!((status.applied, status.expected), (Some(2), Some(2)));
    }

    #[test]
    fn a_missing_migration_is_pending() {
        let (a, b) = (migration(1, "select 1"), migration(2, "select 2"));
        let status = compare(&migrator(vec![a.clone(), b]), &[applied(&a)], false);
        assert_eq!(status.pending, 1);
        assert!(!status.is_current());
    }

    #[test]
    fn an_edited_migration_is_pending() {
        let a = migration(1, "select 1");
        let edited = migration(1, "select 'edited'");
        let status = compare(&migrator(vec![a]), &[applied(&edited)], false);
        assert_eq!(status.pending, 1);
    }

    #[test]
    fn a_newer_database_than_the_binary_has_diverged() {
        let (a, b) = (migration(1, "select 1"), migration(2, "select 2"));
        let status = compare(
            &migrator(vec![a.clone()]),
            &[applied(&a), applied(&b)],
            false,
        );
        assert!(status.diverged);
        assert!(!status.is_current());
    }

    #[test]
    fn a_dirty_migration_is_not_current() {
        let a = migration(1, "select 1");
        assert!(!compare(&migrator(vec![a.clone()]), &[applied(&a)], true).is_current());
    }

    #[test]
    fn the_embedded_migrations_are_ordered_and_unique() {
        let versions: Vec<_> = MIGRATOR.iter().map(|m| m.version).collect();
        assert!(!versions.is_empty());
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}
