//! `SignInGate`: what every sign-in passes before its password is checked, whichever door
//! it comes through (the REST token endpoint, the portal, any later one), because
//! [`super::login::login`] is the only way to check a password and it takes the gate.
//!
//! - **A rate per client address** (GCRA), shared with the refresh endpoint: a script
//!   hammering sign-in gets 429 long before the lockout thresholds matter.
//! - **The lockout policy** of [`super::lockout`].
//! - **A bound on concurrent password hashing.** One argon2id check takes 19 MiB and
//!   about 25 ms of a core. Without a bound, a burst of sign-ins queues unbounded work on
//!   the blocking pool: memory grows with the burst and every other request waits for a
//!   core. The gate holds as many hashing permits as there are cores; a bounded number
//!   of attempts may wait for one (briefly), and the rest are refused at once as busy
//!   (503 with `retry-after`), which costs nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::lockout::LockoutPolicy;
use crate::limits::{Limiter, Rate};

/// How many password checks may run at once, and how many may wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimit {
    /// Checks running at once (at least 1).
    pub concurrent: usize,
    /// Checks waiting for a running one to finish; beyond that, refused as busy.
    pub queue: usize,
    /// The longest a check waits for its turn before it is refused as busy.
    pub max_wait: Duration,
}

impl HashingLimit {
    /// One check per core, and eight waiting per core (under 200 ms of work each).
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            concurrent: cores,
            queue: 8 * cores,
            max_wait: Duration::from_secs(2),
        }
    }
}

/// The sign-in gate of one instance (see the module documentation).
#[derive(Debug)]
pub struct SignInGate {
    lockout: LockoutPolicy,
    addresses: Limiter<IpAddr>,
    hashing: Arc<Semaphore>,
    limit: HashingLimit,
    waiting: AtomicUsize,
}

/// What a refused turn is told to wait before trying again.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// A turn at checking a password; dropping it frees the turn.
#[derive(Debug)]
pub struct HashingTurn {
    _permit: OwnedSemaphorePermit,
}

impl SignInGate {
    /// A gate with these limits.
    pub fn new(lockout: LockoutPolicy, per_address: Rate, hashing: HashingLimit) -> Self {
        Self {
            lockout,
            addresses: Limiter::new(per_address),
            hashing: Arc::new(Semaphore::new(hashing.concurrent.max(1))),
            limit: hashing,
            waiting: AtomicUsize::new(0),
        }
    }

    /// The lockout thresholds.
    pub fn lockout(&self) -> &LockoutPolicy {
        &self.lockout
    }

    /// Counts one request from `address`; over the rate, how long to wait.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Duration> {
        self.addresses.check(&address)
    }

    /// Waits for a turn to check a password, or refuses at once when the queue is full
    /// (or after [`HashingLimit::max_wait`]), saying how long to wait before a retry.
    pub async fn hashing_turn(&self) -> Result<HashingTurn, Duration> {
        if let Ok(permit) = Arc::clone(&self.hashing).try_acquire_owned() {
            return Ok(HashingTurn { _permit: permit });
        }
        // Join the queue only while there is room in it.
        let joined = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit.queue).then_some(n + 1)
            })
            .is_ok();
        if !joined {
            metrics::counter!("sign_in_busy_total").increment(1);
            return Err(BUSY_RETRY);
        }
        let turn = tokio::time::timeout(
            self.limit.max_wait,
            Arc::clone(&self.hashing).acquire_owned(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match turn {
            Ok(Ok(permit)) => Ok(HashingTurn { _permit: permit }),
            // Timed out (or the semaphore closed, which this gate never does).
            _ => {
                metrics::counter!("sign_in_busy_total").increment(1);
                Err(BUSY_RETRY)
            }
        }
    }

    /// Forgets addresses whose budget has fully recovered.
    pub fn forget_idle(&self) {
        self.addresses.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(concurrent: usize, queue: usize) -> SignInGate {
        SignInGate::new(
            LockoutPolicy::default(),
            Rate {
                per_minute: 60,
                burst: 2,
            },
            HashingLimit {
                concurrent,
                queue,
                max_wait: Duration::from_millis(200),
            },
        )
    }

    #[tokio::test]
    async fn turns_beyond_the_permits_and_the_queue_are_refused_at_once() {
        let gate = Arc::new(gate(2, 1));
        let first = gate.hashing_turn().await.expect("a permit");
        let second = gate.hashing_turn().await.expect("a permit");
        // The third waits in the queue; the fourth finds the queue full.
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.hashing_turn().await.map(drop) }
        });
        while gate.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            gate.hashing_turn().await.map(drop),
            Err(Duration::from_secs(1))
        );
        drop(first);
        assert_eq!(
            waiting.await.expect("task"),
            Ok(()),
            "the waiter got a turn"
        );
        drop(second);
        assert!(gate.hashing_turn().await.is_ok(), "turns come back");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_the_longest_wait() {
        let gate = gate(1, 4);
        let _held = gate.hashing_turn().await.expect("a permit");
        assert!(gate.hashing_turn().await.is_err());
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0, "it left the queue");
    }

    #[test]
    fn addresses_have_their_own_budget() {
        let gate = gate(1, 0);
        let a: IpAddr = "203.0.113.7".parse().expect("ip");
        let b: IpAddr = "2001:db8::7".parse().expect("ip");
        assert!(gate.check_address(a).is_ok());
        assert!(gate.check_address(a).is_ok());
        assert!(gate.check_address(a).is_err());
        assert!(gate.check_address(b).is_ok());
    }
}
