//! The memory every query of one engine shares: one DataFusion pool and one spill area.
//!
//! [`SharedMemory`] holds a [`FairSpillPool`] of `[query] memory_limit_mib` (the users'
//! share of it; the jobs have their own) wrapped in a [`TrackConsumersPool`], so that a
//! refusal names the largest consumers. Operators that can spill (sorts, grouped
//! aggregations, sort-merge joins) are held to a fair share of what the unspillable ones
//! leave and write the rest to temporary files under the OS temporary directory (at most
//! [`SPILL_FACTOR`] × the pool); operators that cannot spill (a hash join's build side)
//! take memory first come, first served and fail with "resources exhausted" when the pool
//! is full. Each HTTP query also draws through a [`QueryPool`] capped at half the pool, so
//! that one query over the limit fails alone instead of filling the pool and failing the
//! others. The pool counts what operators reserve, not scan buffers or batches in flight;
//! those are bounded by the number of running queries ([`crate::admission`]).

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::disk_manager::{DiskManager, DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::error::{Error, Result};

/// Spill files may hold at most this many times the pool.
pub const SPILL_FACTOR: u64 = 4;

/// Consumers a memory refusal names.
const NAMED_CONSUMERS: usize = 5;

/// One engine's pool and spill area, shared by all its queries.
#[derive(Debug)]
pub struct SharedMemory {
    pool: Arc<dyn MemoryPool>,
    disk: Arc<DiskManager>,
    per_query: usize,
}

impl SharedMemory {
    /// A pool of `total` bytes; one HTTP query may hold at most half of it.
    pub fn new(total: usize) -> Self {
        let pool: Arc<dyn MemoryPool> = Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(total),
            NonZeroUsize::new(NAMED_CONSUMERS).expect("non-zero"),
        ));
        let disk = DiskManagerBuilder::default()
            .with_mode(DiskManagerMode::OsTmpDirectory)
            .with_max_temp_directory_size(SPILL_FACTOR * total as u64)
            .build()
            // The OS temporary directory mode does no I/O until a query spills.
            .expect("building an OS-temp disk manager cannot fail");
        Self {
            pool,
            disk: Arc::new(disk),
            per_query: total / 2,
        }
    }

    /// A runtime for one query: the shared pool behind that query's own cap, the shared
    /// spill area, and a fresh object store registry (each query's Delta tables register
    /// their stores in it).
    ///
    /// # Errors
    /// Never in practice; DataFusion's builder is fallible.
    pub fn query_runtime(&self) -> Result<Arc<RuntimeEnv>> {
        let pool = Arc::new(QueryPool {
            shared: self.pool.clone(),
            limit: self.per_query,
            used: AtomicUsize::new(0),
        });
        self.runtime(pool)
    }

    /// A runtime whose queries draw on the shared pool directly, without a per-query cap:
    /// for a long-lived session (PostgreSQL) whose runtime outlives any one query.
    ///
    /// # Errors
    /// Never in practice; DataFusion's builder is fallible.
    pub fn session_runtime(&self) -> Result<Arc<RuntimeEnv>> {
        self.runtime(self.pool.clone())
    }

    fn runtime(&self, pool: Arc<dyn MemoryPool>) -> Result<Arc<RuntimeEnv>> {
        let mut builder = RuntimeEnvBuilder::new().with_memory_pool(pool);
        builder.disk_manager = Some(self.disk.clone());
        builder.build_arc().map_err(Error::from)
    }

    /// Bytes reserved now by all queries of the pool.
    pub fn reserved(&self) -> usize {
        self.pool.reserved()
    }

    /// Bytes held in spill files now.
    pub fn spilled(&self) -> u64 {
        self.disk.used_disk_space()
    }
}

/// One query's view of the shared pool: every reservation goes to the shared pool, and
/// the query's total may not pass `limit`.
#[derive(Debug)]
struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query pool ({} of {} bytes)", self.limit, self.shared)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "vigil-query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} wanted {additional} more bytes, but this query already holds {before} of \
                 the {} one query may hold (half of [query] memory_limit_mib)",
                reservation.consumer().name(),
                self.limit
            )));
        }
        self.shared
            .try_grow(reservation, additional)
            .inspect_err(|_| {
                self.used.fetch_sub(additional, Ordering::Relaxed);
            })
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_query_is_capped_at_half_the_pool_and_its_reservations_count_in_the_shared_pool() {
        let memory = SharedMemory::new(1000);
        let first = memory.query_runtime().unwrap();
        let second = memory.query_runtime().unwrap();
        let a = MemoryConsumer::new("a").register(&first.memory_pool);
        a.try_grow(400).unwrap();
        assert_eq!(memory.reserved(), 400);
        // Past its own cap: refused, and the shared pool is unchanged.
        let refused = a.try_grow(200).unwrap_err().to_string();
        assert!(
            refused.contains("half of [query] memory_limit_mib"),
            "{refused}"
        );
        assert_eq!(memory.reserved(), 400);
        // Another query has its own cap, within what the pool has left.
        let b = MemoryConsumer::new("b").register(&second.memory_pool);
        b.try_grow(500).unwrap();
        assert_eq!(memory.reserved(), 900);
        assert!(b.try_grow(1).is_err());
        drop(a);
        assert_eq!(memory.reserved(), 500);
    }
}
