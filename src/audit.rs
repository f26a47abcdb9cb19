//! The audit log's writer: every audited event is sealed into the hash chain of the
//! `audit` table ([`::audit`]) by one task, and appended through the collector (the WAL,
//! or on a node in direct mode a Delta commit: an `Ok` from [`Auditor::record`] means the
//! row is durable).
//!
//! Refused requests are not written one by one: [`Auditor::denied`] counts them per
//! actor, peer and minute ([`::audit::Denials`], bounded), and the task writes one
//! `auth.denied` row per key once its minute is over (and every key at shutdown).
//!
//! Each node writes a chain of its own (rows stamped with its `[cluster] node_id`), so
//! several nodes share one `audit` table without repeating a `seq`. Order at start: the
//! collector has replayed its WAL, so a query on `audit` sees every acknowledged row;
//! the chain resumes from this node's highest `seq`. At stop,
//! [`AuditTask::shutdown`] runs after the listeners stopped and before the collector's
//! final flush.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::audit::{Chain, Denials};
pub use ::audit::{Event, actions};
use analytics::QueryEngine;
use anyhow::Context;
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use collector::Collector;
use parking_lot::Mutex;
use schemas::tables::Table;
use tokio::sync::{mpsc, oneshot, watch};

/// How often closed minutes of refused requests are written.
pub const DENIALS_INTERVAL: Duration = Duration::from_secs(5);

/// Events waiting for the writer; [`Auditor::record`] waits for room beyond this.
const QUEUE: usize = 1024;

/// Events sealed into one append at most.
const BATCH: usize = 256;

/// Denial rows kept for a retry when appends fail (about two minutes of a flood at the
/// bound); older ones are dropped with a warning.
const MAX_PENDING_DENIALS: usize = 2 * ::audit::MAX_KEYS_PER_MINUTE + 2;

/// The handle to the audit log. Cheap to clone; every clone feeds the one writer.
#[derive(Clone)]
pub struct Auditor {
    requests: mpsc::Sender<Request>,
    denials: Arc<Mutex<Denials>>,
}

/// The running writer, stopped by [`AuditTask::shutdown`].
pub struct AuditTask {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Request {
    event: Event,
    done: oneshot::Sender<Result<(), String>>,
}

impl Auditor {
    /// Reads the last stored `(seq, hash)` of node `node`'s chain in `audit` and starts
    /// the writer task on the current runtime; every row it writes is `node`'s. Call it
    /// after [`Collector::open`] (the WAL is replayed then).
    ///
    /// # Errors
    /// When the `audit` table cannot be read.
    pub async fn start(
        collector: Arc<Collector>,
        engine: &QueryEngine,
        node: &str,
    ) -> anyhow::Result<(Auditor, AuditTask)> {
        let last = last_row(engine, node)
            .await
            .context("reading the audit table")?;
        if let Some((seq, _)) = &last {
            tracing::debug!(seq, node, "the audit log resumes");
        }
        let denials = Arc::new(Mutex::new(Denials::new()));
        let (requests, receiver) = mpsc::channel(QUEUE);
        let (stop, stopped) = watch::channel(false);
        let writer = Writer {
            collector,
            chain: Chain::resume(node, last),
            denials: denials.clone(),
            pending: Vec::new(),
        };
        let task = tokio::spawn(writer.run(receiver, stopped));
        Ok((Auditor { requests, denials }, AuditTask { stop, task }))
    }

    /// Seals `event` into the chain and appends it to `audit`. `Ok` means the row is
    /// durable (in an fsynced WAL record, or a Delta commit in direct mode) and visible
    /// to SQL.
    ///
    /// # Errors
    /// When the collector refuses the row (overload, shutdown, I/O), or the audit log is
    /// stopped. The row is then not in the chain; nothing else was numbered in its place.
    pub async fn record(&self, event: Event) -> anyhow::Result<()> {
        let (done, answer) = oneshot::channel();
        self.requests
            .send(Request { event, done })
            .await
            .map_err(|_| anyhow::anyhow!("the audit log is stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the audit log stopped before writing"))?
            .map_err(|e| anyhow::anyhow!("audit log: {e}"))
    }

    /// Counts a refused request of `actor` (the token name, or `anonymous`) from `peer`
    /// for `reason`. Never waits for I/O: the count is written as an `auth.denied` row
    /// once its minute is over.
    pub fn denied(&self, actor: &str, peer: Option<SocketAddr>, reason: &str) {
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        self.denials
            .lock()
            .note(actor, &peer, reason, chrono::Utc::now());
    }
}

impl AuditTask {
    /// Stops the writer: what [`Auditor::record`] queued is written, then every counted
    /// refusal (open minutes too). Call it before the collector's final flush.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the audit writer failed");
        }
    }
}

/// The `config.loaded` event: the config file (path and SHA-256 of its bytes, `null`
/// without one), the tokens by name and scopes (never secrets), the bound listeners.
pub fn config_loaded(
    file: Option<&std::path::Path>,
    tokens: Vec<serde_json::Value>,
    listeners: serde_json::Value,
) -> Event {
    let (path, sha256) = match file {
        Some(path) => {
            let digest = std::fs::read(path)
                .map(|bytes| ::audit::sha256_hex(&bytes))
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            (
                serde_json::Value::from(path.display().to_string()),
                serde_json::Value::from(digest),
            )
        }
        None => (serde_json::Value::Null, serde_json::Value::Null),
    };
    Event::new(::audit::SYSTEM, actions::CONFIG_LOADED).details(serde_json::json!({
        "config_file": path,
        "config_sha256": sha256,
        "tokens": tokens,
        "listeners": listeners,
    }))
}

/// The highest stored `seq` of `node`'s chain and its hash, `None` when the node has no
/// row yet.
async fn last_row(engine: &QueryEngine, node: &str) -> anyhow::Result<Option<(u64, String)>> {
    let node_is = format!("node = '{}'", node.replace('\'', "''"));
    let result = engine
        .query(&format!(
            "SELECT CAST(count(*) AS BIGINT), CAST(max(seq) AS BIGINT) FROM audit WHERE {node_is}"
        ))
        .await?;
    let Some(batch) = result.batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let count = batch.column(0).as_primitive::<Int64Type>().value(0);
    let max = batch.column(1).as_primitive::<Int64Type>();
    if max.is_null(0) {
        return Ok(None);
    }
    let max = max.value(0);
    if count != max {
        tracing::warn!(
            node,
            rows = count,
            last_seq = max,
            "this node's audit rows do not number 1 to its last seq; run `vigil audit verify`"
        );
    }
    let result = engine
        .query(&format!(
            "SELECT hash FROM audit WHERE {node_is} AND seq = {max} LIMIT 1"
        ))
        .await?;
    let hash = result
        .batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_string::<i32>().value(0).to_owned())
        .context("the last audit row vanished")?;
    Ok(Some((u64::try_from(max).unwrap_or(0), hash)))
}

/// The one owner of the chain.
struct Writer {
    collector: Arc<Collector>,
    chain: Chain,
    denials: Arc<Mutex<Denials>>,
    /// Denial events drained but not yet stored (an append failed).
    pending: Vec<Event>,
}

impl Writer {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(DENIALS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(first) = requests.recv() => {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match requests.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    self.answer(batch).await;
                }
                _ = tick.tick() => self.write_denials(false).await,
            }
        }
        requests.close();
        let mut rest = Vec::new();
        while let Some(r) = requests.recv().await {
            rest.push(r);
            if rest.len() == BATCH {
                self.answer(std::mem::take(&mut rest)).await;
            }
        }
        if !rest.is_empty() {
            self.answer(rest).await;
        }
        self.write_denials(true).await;
    }

    /// Writes the requests' events in one append and answers each.
    async fn answer(&mut self, batch: Vec<Request>) {
        let (events, done): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.event, r.done)).unzip();
        let result = self.append(events).await.map_err(|e| format!("{e:#}"));
        for done in done {
            let _ = done.send(result.clone());
        }
    }

    /// Writes the closed minutes' refusals (all of them when `all`), and what an earlier
    /// failure left.
    async fn write_denials(&mut self, all: bool) {
        let drained = {
            let mut denials = self.denials.lock();
            if all {
                denials.drain_all()
            } else {
                denials.drain(chrono::Utc::now())
            }
        };
        self.pending.extend(drained);
        if self.pending.is_empty() {
            return;
        }
        if self.pending.len() > MAX_PENDING_DENIALS {
            let dropped = self.pending.len() - MAX_PENDING_DENIALS;
            self.pending.drain(..dropped);
            tracing::warn!(
                dropped,
                "auth.denied rows dropped: the audit log cannot be written"
            );
        }
        let events = std::mem::take(&mut self.pending);
        if let Err(e) = self.append(events.clone()).await {
            tracing::warn!(error = %format!("{e:#}"), rows = events.len(), "auth.denied rows not stored yet; retrying");
            self.pending = events;
        }
    }

    /// Seals `events` and appends them as one batch; on failure the chain is left as it
    /// was, so the next rows take the same numbers.
    async fn append(&mut self, events: Vec<Event>) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let before = self.chain.clone();
        let now = chrono::Utc::now();
        let rows: Vec<_> = events
            .into_iter()
            .map(|e| self.chain.seal(e, now))
            .collect();
        let stored = async {
            let batch = ::audit::batch(&rows)?;
            self.collector.append(vec![(Table::Audit, batch)]).await?;
            anyhow::Ok(())
        }
        .await;
        match stored {
            Ok(()) => {
                metrics::counter!("vigil_audit_rows_total").increment(rows.len() as u64);
                Ok(())
            }
            Err(e) => {
                metrics::counter!("vigil_audit_append_failures_total").increment(1);
                self.chain = before;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ::audit::{Row, verify, verify_nodes};
    use collector::CollectorConfig;
    use collector::normalize::{NormalizeConfig, Normalizer};
    use schemas::prices::PriceTable;

    use super::*;

    async fn open(dir: &Path) -> (Arc<Collector>, QueryEngine) {
        let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
        let collector = Collector::open(CollectorConfig::new(dir), normalizer)
            .await
            .unwrap();
        let engine = QueryEngine::new(
            collector.snapshots(),
            schemas::paths::TablesLocation::under_data_dir(dir),
            analytics::QueryConfig::default(),
        );
        (collector, engine)
    }

    /// Opens the data dir again as `node`, records one `config.loaded` and stops the
    /// writer, as a restarted daemon does first.
    async fn restarted_as(dir: &Path, node: &str) -> (Arc<Collector>, QueryEngine) {
        let (collector, engine) = open(dir).await;
        let (auditor, task) = Auditor::start(collector.clone(), &engine, node)
            .await
            .unwrap();
        auditor
            .record(config_loaded(None, Vec::new(), serde_json::json!({})))
            .await
            .unwrap();
        task.shutdown().await;
        (collector, engine)
    }

    async fn stored(engine: &QueryEngine) -> Vec<Row> {
        let result = engine
            .query("SELECT * FROM audit ORDER BY node, seq")
            .await
            .unwrap();
        ::audit::rows_from_batches(&result.batches).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_records_and_denials_form_one_chain_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (collector, engine) = open(dir.path()).await;
        let (auditor, task) = Auditor::start(collector.clone(), &engine, "node-a")
            .await
            .unwrap();
        let writes: Vec<_> = (0..20)
            .map(|i| {
                let auditor = auditor.clone();
                tokio::spawn(async move {
                    auditor
                        .record(
                            Event::new("oncall", actions::SILENCE_CREATE).target(format!("s-{i}")),
                        )
                        .await
                })
            })
            .collect();
        for write in futures::future::join_all(writes).await {
            write.unwrap().unwrap();
        }
        // Acknowledged means visible.
        assert_eq!(stored(&engine).await.len(), 20);
        let peer = Some("10.0.0.1:5000".parse().unwrap());
        auditor.denied("anonymous", peer, "no token");
        auditor.denied("anonymous", peer, "bad token");
        auditor.denied("anonymous", peer, "no token");
        // Shutdown writes the open minute's refusals.
        task.shutdown().await;
        assert!(auditor.record(Event::new("oncall", "late")).await.is_err());
        let rows = stored(&engine).await;
        assert_eq!(rows.len(), 21);
        assert!(verify(&rows).intact(), "{:?}", verify(&rows));
        let mut targets: Vec<_> = rows[..20].iter().map(|r| r.target.clone()).collect();
        targets.sort_by_key(|t| t[2..].parse::<u32>().unwrap());
        assert_eq!(
            targets,
            (0..20).map(|i| format!("s-{i}")).collect::<Vec<_>>()
        );
        let denied = &rows[20];
        assert_eq!(
            (denied.action.as_str(), denied.peer.as_str()),
            ("auth.denied", "10.0.0.1:5000")
        );
        let details: serde_json::Value = serde_json::from_str(&denied.details).unwrap();
        assert_eq!(details["count"], 3);
        assert_eq!(
            details["reasons"],
            serde_json::json!(["no token", "bad token"])
        );
        collector.shutdown().await.unwrap();
        drop((collector, engine));

        let (collector, engine) = restarted_as(dir.path(), "node-a").await;
        let rows = stored(&engine).await;
        assert_eq!(rows.len(), 22);
        assert_eq!((rows[21].seq, &rows[21].prev_hash), (22, &rows[20].hash));
        assert_eq!(rows[21].action, "config.loaded");
        assert!(rows.iter().all(|r| r.node == "node-a"));
        assert!(verify(&rows).intact());
        collector.shutdown().await.unwrap();
        drop((collector, engine));

        // Another node on the same table starts a chain of its own; node-a's is unchanged.
        let (collector, engine) = restarted_as(dir.path(), "node-b").await;
        let all = stored(&engine).await;
        assert_eq!(all[..22], rows[..]);
        assert_eq!(
            (
                all[22].node.as_str(),
                all[22].seq,
                all[22].prev_hash.as_str()
            ),
            ("node-b", 1, ::audit::GENESIS_HASH)
        );
        let chains = verify_nodes(&all);
        assert_eq!(
            chains
                .iter()
                .map(|c| (c.node.as_str(), c.report.rows, c.report.intact()))
                .collect::<Vec<_>>(),
            vec![("node-a", 22, true), ("node-b", 1, true)]
        );
        collector.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn config_loaded_names_the_file_and_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, "log_level = \"info\"\n").unwrap();
        let event = config_loaded(
            Some(&path),
            vec![serde_json::json!({ "name": "oncall", "scopes": ["read", "admin"] })],
            serde_json::json!({ "http": "127.0.0.1:8080" }),
        );
        assert_eq!(
            (event.actor.as_str(), event.action.as_str()),
            ("vigil", "config.loaded")
        );
        assert_eq!(
            event.details["config_sha256"],
            ::audit::sha256_hex(b"log_level = \"info\"\n")
        );
        assert_eq!(event.details["config_file"], path.display().to_string());
        assert_eq!(event.details["tokens"][0]["name"], "oncall");
    }
}
