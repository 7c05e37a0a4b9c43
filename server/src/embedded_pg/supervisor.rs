//! Keeps the embedded cluster up under a running server.
//!
//! With no `DATABASE_URL`, Locksmith *is* the cluster's supervisor: nothing else (systemd,
//! a container runtime) knows the postmaster exists. If it dies (OOM killer, `kill -9`, a
//! crash), a server that only reported `/readyz` 503 would stay broken until a person
//! noticed. The supervisor checks the postmaster every second and starts it again; the
//! pool and the invalidation listener reconnect by themselves. When the cluster cannot be
//! started again after a few attempts with backoff, [`Supervisor::run`] returns the
//! error and the server stops with it, so that whatever supervises Locksmith sees an exit
//! with a clear message rather than a process that answers 503 forever.

use std::time::Duration;

use super::{Cluster, EmbeddedPgError};

/// How often the postmaster is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Restarts tried before giving up; the waits between them double from one second
/// (1 + 2 + 4 + 8 s), which also covers old backends still detaching from shared memory.
const MAX_ATTEMPTS: u32 = 5;

/// Watches one embedded cluster; made by [`super::EmbeddedPostgres::supervisor`].
#[derive(Debug)]
pub struct Supervisor {
    cluster: Cluster,
}

impl Supervisor {
    pub(super) fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    /// Runs until the cluster is lost for good, and returns why. Abort the task before
    /// stopping the cluster on purpose, or it will be started again.
    pub async fn run(self) -> EmbeddedPgError {
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if self.cluster.postmaster_alive() {
                continue;
            }
            tracing::error!(
                cluster = %self.cluster.cluster_dir.display(),
                "the embedded PostgreSQL is not running (its postmaster is gone); restarting it"
            );
            metrics::counter!("embedded_postgres_restarts_total").increment(1);
            if let Err(lost) = self.restart().await {
                return lost;
            }
        }
    }

    async fn restart(&self) -> Result<(), EmbeddedPgError> {
        let mut wait = Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            if self.cluster.postmaster_alive() {
                // Someone else (another server on the same data dir) started it.
                return Ok(());
            }
            match self.cluster.pg_ctl_start().await {
                Ok(()) => {
                    tracing::info!(attempt, "embedded PostgreSQL restarted");
                    return Ok(());
                }
                Err(err) if attempt >= MAX_ATTEMPTS => {
                    return Err(EmbeddedPgError::Lost {
                        attempts: attempt,
                        last: Box::new(err),
                    });
                }
                Err(err) => {
                    tracing::warn!(attempt, error = %err, retry_in = ?wait, "restarting the embedded PostgreSQL failed");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }
}
