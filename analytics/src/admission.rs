//! Query admission: how many queries run at once, and how long the others wait.
//!
//! An [`Admission`] holds `max_concurrent` permits. A query takes one before it plans and
//! holds it until its last batch is read or its stream is dropped (a cancelled or
//! disconnected client gives it back at once). A query that finds no permit free waits in
//! a FIFO queue (tokio's semaphore is fair) for at most `queue_timeout`, then is refused
//! with [`Error::Busy`], which the HTTP API answers with 429 and `Retry-After` and the
//! PostgreSQL front end with SQLSTATE 53300. Memory is bounded separately, by the shared
//! pool in [`crate::memory`]; permits bound the CPU and the untracked memory (scan buffers,
//! batches in flight) that the pool cannot see.
//!
//! Gauges and counters carry the engine's `pool` label (`queries` for users, `jobs` for the
//! background jobs, which have an admission of their own so that a flood of user queries
//! never delays a monitor): `vigil_query_running`, `vigil_query_queued`,
//! `vigil_query_rejected_total`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// The permits of one engine.
#[derive(Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    queue_timeout: Duration,
    pool: &'static str,
}

impl Admission {
    /// `max_concurrent` permits (at least one); a query waits at most `queue_timeout` for
    /// one. `pool` labels the metrics.
    pub fn new(max_concurrent: usize, queue_timeout: Duration, pool: &'static str) -> Self {
        let max_concurrent = max_concurrent.max(1);
        metrics::gauge!("vigil_query_running", "pool" => pool).set(0.0);
        metrics::gauge!("vigil_query_queued", "pool" => pool).set(0.0);
        metrics::counter!("vigil_query_rejected_total", "pool" => pool).absolute(0);
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            queue_timeout,
            pool,
        }
    }

    /// Takes a permit, waiting in line for at most the queue timeout.
    ///
    /// # Errors
    /// [`Error::Busy`] when no permit came free within the queue timeout.
    ///
    /// # Cancellation
    /// Dropping the future leaves the queue; nothing is held.
    pub async fn admit(&self) -> Result<Permit> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = Queued::enter(self.pool);
                let waited =
                    tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
                        .await;
                drop(queued);
                match waited {
                    Ok(Ok(permit)) => permit,
                    // The semaphore is never closed; a timeout is the only refusal.
                    Ok(Err(_)) | Err(_) => {
                        metrics::counter!("vigil_query_rejected_total", "pool" => self.pool)
                            .increment(1);
                        return Err(Error::Busy {
                            running: self.max_concurrent,
                            waited: self.queue_timeout,
                        });
                    }
                }
            }
        };
        metrics::gauge!("vigil_query_running", "pool" => self.pool).increment(1.0);
        Ok(Permit {
            _permit: permit,
            pool: self.pool,
        })
    }

    /// Queries running now.
    pub fn running(&self) -> usize {
        self.max_concurrent - self.permits.available_permits()
    }
}

/// The right to run one query; given back when dropped.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    pool: &'static str,
}

impl Drop for Permit {
    fn drop(&mut self) {
        metrics::gauge!("vigil_query_running", "pool" => self.pool).decrement(1.0);
    }
}

/// Counts a query in `vigil_query_queued` while it waits, also when its future is dropped.
struct Queued(&'static str);

impl Queued {
    fn enter(pool: &'static str) -> Self {
        metrics::gauge!("vigil_query_queued", "pool" => pool).increment(1.0);
        Self(pool)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        metrics::gauge!("vigil_query_queued", "pool" => self.0).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_admission_queues_then_refuses_and_a_dropped_permit_lets_the_next_in() {
        let queue_timeout = Duration::from_millis(50);
        let admission = Arc::new(Admission::new(2, queue_timeout, "test"));
        let first = admission.admit().await.unwrap();
        let _second = admission.admit().await.unwrap();
        assert_eq!(admission.running(), 2);

        // A third waits the whole queue timeout, then is refused naming the limit.
        let started = std::time::Instant::now();
        let refused = admission.admit().await.unwrap_err();
        assert!(started.elapsed() >= queue_timeout);
        assert!(
            matches!(refused, Error::Busy { running: 2, waited } if waited == queue_timeout),
            "{refused:?}"
        );

        // A waiting query gets the permit a finished one gives back.
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit().await.map(drop) }
        });
        tokio::task::yield_now().await;
        drop(first);
        waiting.await.unwrap().unwrap();
        assert_eq!(admission.running(), 1);
    }
}
