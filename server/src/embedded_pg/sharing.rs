//! Who may stop the embedded cluster: the last Locksmith process using it.
//!
//! `locksmith serve` and the one-shot commands (`user create`, `migrate`, `audit verify`)
//! all open the same private cluster. A one-shot command run beside a serving instance
//! (as the README's first-admin step is) must not stop the cluster under it, and a
//! server must not stop one that a command still uses. Each process therefore holds a
//! *shared* `flock` on `postgres.users.lock` in the data dir for as long as it uses the
//! cluster; on leaving, it tries to turn that into an *exclusive* lock without waiting.
//! Only a process that gets it is alone, and only it stops the cluster, still holding
//! the exclusive lock, so that a process arriving meanwhile waits and then starts the
//! cluster afresh rather than attaching to one being stopped.
//!
//! The kernel drops the lock of a process that dies, so a crashed server never blocks a
//! later stop. Converting a `flock` is not atomic (the shared lock is dropped first), so
//! of two processes leaving at once at least one gets the exclusive lock; the worst case
//! is that both do in turn, and the second finds the cluster already stopped.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{EmbeddedPgError, Result};

/// The lock file's name in the data dir.
const LOCK_FILE: &str = "postgres.users.lock";

/// A shared claim on the cluster, held from start to [`ClusterUse::leave`].
#[derive(Debug)]
pub struct ClusterUse {
    lock: Flock<File>,
    path: PathBuf,
}

impl ClusterUse {
    /// Takes a shared claim, waiting while another process is stopping the cluster.
    pub async fn join(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(super::io_err("opening", &path))?;
        let waiting_for = path.clone();
        let lock = tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockShared))
            .await
            .map_err(|e| EmbeddedPgError::Io {
                action: "locking",
                path: waiting_for.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|(_, errno)| EmbeddedPgError::Io {
                action: "locking",
                path: waiting_for,
                source: std::io::Error::from(errno),
            })?;
        Ok(Self { lock, path })
    }

    /// Whether this process is now the cluster's only user. When it is, the claim has
    /// become exclusive and stays so until `self` is dropped.
    pub fn is_last(&self) -> bool {
        match self.lock.relock(FlockArg::LockExclusiveNonblock) {
            Ok(()) => true,
            Err(nix::errno::Errno::EWOULDBLOCK) => false,
            Err(errno) => {
                tracing::warn!(path = %self.path.display(), %errno, "cannot test the embedded PostgreSQL's users; leaving it running");
                false
            }
        }
    }
}
