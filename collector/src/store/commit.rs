//! Commits that lose to another writer's: which errors are worth another attempt, and the
//! jittered backoff between attempts.
//!
//! delta-rs already absorbs the common case inside one attempt: when the version it meant
//! to write exists (`If-None-Match: *` / put-if-absent failed), it reads the winning
//! commits, checks them against its own actions and, if they do not conflict (two blind
//! appends never do), writes the next version, up to `max_retries` times (15 by default,
//! [`deltalake::kernel::transaction::CommitProperties::with_max_retries`]) and without a
//! pause. What it gives up on is a logical conflict (an append into partitions a concurrent
//! compaction or retention commit rewrote or removed, two compactions of one day) or its
//! attempts running out under a burst of commits. Those are retried here on a refreshed
//! table, after a pause drawn at random ("full jitter", as AWS recommends for contended
//! retries: <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>)
//! so that writers that collided do not collide again in step.
//!
//! Every retry is counted: `vigil_commit_conflicts_total{table}` (an attempt lost to another
//! writer) and `vigil_commit_retries_total{table}` (another attempt made), both for the
//! attempts made here and for those delta-rs made inside a commit, which it reports with
//! the commit ([`count_inner_retries`]).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use deltalake::DeltaTableError;
use deltalake::kernel::transaction::TransactionError;
use schemas::tables::Table;

/// Attempts per commit, the first included.
pub const COMMIT_ATTEMPTS: u32 = 10;

/// The shortest and the longest pause ceiling between attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Whether `error` means the commit lost to another writer's (so the same work may commit
/// on a refreshed table), not that the work itself failed.
pub fn is_conflict(error: &DeltaTableError) -> bool {
    matches!(
        error,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::VersionAlreadyExists(_)
            }
    )
}

/// The pause before attempt `attempt + 1` (after `attempt` failures, from 1): uniform in
/// [`BACKOFF_MIN`, min(`BACKOFF_MAX`, `BACKOFF_MIN` × 2^(attempt−1))].
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_MIN
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let span = ceiling.saturating_sub(BACKOFF_MIN).as_micros() as u64;
    // A fresh `RandomState` is seeded from the OS once per thread and bumped per use:
    // enough to spread writers apart, and no dependency for it.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    BACKOFF_MIN + Duration::from_micros(random % (span + 1))
}

/// Counts and logs attempt `attempt` of `operation` on `table` lost to another writer;
/// returns the pause before the next one, `None` when the attempts are used up.
pub fn lost(
    table: Table,
    operation: &str,
    attempt: u32,
    error: &DeltaTableError,
) -> Option<Duration> {
    metrics::counter!("vigil_commit_conflicts_total", "table" => table.name()).increment(1);
    if attempt >= COMMIT_ATTEMPTS {
        tracing::error!(
            table = table.name(),
            operation,
            attempts = attempt,
            %error,
            "commit conflicts: giving up"
        );
        return None;
    }
    let pause = backoff(attempt);
    metrics::counter!("vigil_commit_retries_total", "table" => table.name()).increment(1);
    tracing::warn!(
        table = table.name(),
        operation,
        attempt,
        pause_ms = pause.as_millis() as u64,
        %error,
        "commit lost to another writer; retrying"
    );
    Some(pause)
}

/// Counts the `retries` delta-rs made inside the commit that wrote `version` of `table`
/// (each attempt lost to another writer's commit of the same version, then retried), as
/// its `FinalizedCommit` reports them.
pub fn count_inner_retries(table: Table, version: i64, retries: u64) {
    if retries > 0 {
        metrics::counter!("vigil_commit_conflicts_total", "table" => table.name())
            .increment(retries);
        metrics::counter!("vigil_commit_retries_total", "table" => table.name()).increment(retries);
        tracing::info!(
            table = table.name(),
            version,
            retries,
            "commit retried by delta-rs after losing to other writers"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_its_bounds_and_grows() {
        for attempt in 1..=COMMIT_ATTEMPTS {
            let ceiling = (BACKOFF_MIN * (1 << (attempt - 1))).min(BACKOFF_MAX);
            for _ in 0..50 {
                let pause = backoff(attempt);
                assert!(
                    pause >= BACKOFF_MIN && pause <= ceiling,
                    "{attempt}: {pause:?}"
                );
            }
        }
        assert_eq!(backoff(1), BACKOFF_MIN, "the first pause is the minimum");
    }

    #[test]
    fn only_lost_races_are_conflicts() {
        assert!(is_conflict(&DeltaTableError::VersionAlreadyExists(3)));
        assert!(is_conflict(&TransactionError::MaxCommitAttempts(15).into()));
        assert!(!is_conflict(&DeltaTableError::NotATable("x".into())));
    }
}
