//! The alert record copier: the dispatcher's [`::alerts::AlertRecord`]s (transitions, notification
//! decisions, delivery attempts, verdicts) into the `alerts` table through the
//! collector's durable write path, exactly once.

use std::sync::Arc;
use std::time::Duration;

use ::alerts::Dispatcher;
use ::alerts::record::records_batch;
use analytics::QueryEngine;
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use collector::Collector;
use schemas::tables::Table;
use tokio::sync::watch;

/// Records copied per `alerts` append.
const COPY_BATCH: usize = 1024;

/// Copies the dispatcher's records into the `alerts` table, exactly once.
///
/// A record is acknowledged to the dispatcher (which then forgets it) only after the
/// collector has made its row durable, so a crash between the two leaves it in both; at
/// start the copier reads the highest `seq` the table holds (WAL included) and
/// acknowledges through it instead of copying again. So every record lands once.
pub struct RecordCopier {
    dispatcher: Arc<Dispatcher>,
    collector: Arc<Collector>,
    /// The highest `seq` in the `alerts` table.
    copied: u64,
}

impl RecordCopier {
    /// Reads the highest stored `seq` and acknowledges the dispatcher's records through it.
    ///
    /// # Errors
    /// When the `alerts` table cannot be read or the dispatcher cannot acknowledge.
    pub async fn start(
        dispatcher: Arc<Dispatcher>,
        engine: &QueryEngine,
        collector: Arc<Collector>,
    ) -> anyhow::Result<Self> {
        let result = engine
            .query("SELECT CAST(max(seq) AS BIGINT) FROM alerts")
            .await?;
        let stored = result
            .batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| b.column(0).as_primitive::<Int64Type>())
            .filter(|c| c.is_valid(0))
            .map_or(0, |c| u64::try_from(c.value(0)).unwrap_or(0));
        let newest = *dispatcher.record_seq().borrow();
        let copied = if stored > newest {
            // The store is older than the table (restored from a backup, or deleted): its
            // sequence starts again below the table's, so acknowledging through the
            // table's maximum would drop new records. Copy all of them instead.
            tracing::warn!(
                stored,
                newest,
                "the alert store's records are numbered below the alerts table's; copying all of them"
            );
            0
        } else {
            dispatcher.ack_records(stored).await?;
            stored
        };
        Ok(Self {
            dispatcher,
            collector,
            copied,
        })
    }

    /// Copies every record committed so far. Returns how many.
    ///
    /// # Errors
    /// When the collector refuses the rows (overload, shutdown) or the dispatcher's store
    /// fails; what was not copied is copied by the next call.
    pub async fn copy_available(&mut self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let records = self
                .dispatcher
                .records_after(self.copied, COPY_BATCH)
                .await?;
            let Some(last) = records.last().map(|r| r.seq) else {
                return Ok(total);
            };
            let batch = records_batch(&records)?;
            self.collector.append(vec![(Table::Alerts, batch)]).await?;
            self.copied = last;
            total += records.len();
            // The rows are durable: the store may forget them. A failure here only means
            // they are offered again, and skipped by the next start's maximum.
            if let Err(e) = self.dispatcher.ack_records(last).await {
                tracing::warn!(error = %e, "alert records copied but not acknowledged");
            }
        }
    }

    /// Copies records as they are committed until `stop` turns true, and returns the
    /// copier for a last copy after the dispatcher has drained.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Self {
        let mut committed = self.dispatcher.record_seq();
        loop {
            let wait = match self.copy_available().await {
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "alert records not stored yet; retrying");
                    Some(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = async {
                    match wait {
                        Some(d) => tokio::time::sleep(d).await,
                        None => { let _ = committed.changed().await; }
                    }
                } => {}
                _ = stop.wait_for(|s| *s) => return self,
            }
        }
    }
}

/// Starts a [`RecordCopier`], retrying every second until the `alerts` table can be read
/// (or `stop`), then runs it. `None` if stopped before it could start.
pub async fn copy_records(
    dispatcher: Arc<Dispatcher>,
    engine: Arc<QueryEngine>,
    collector: Arc<Collector>,
    mut stop: watch::Receiver<bool>,
) -> Option<RecordCopier> {
    loop {
        match RecordCopier::start(dispatcher.clone(), &engine, collector.clone()).await {
            Ok(copier) => return Some(copier.run(stop).await),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alerts table; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}
