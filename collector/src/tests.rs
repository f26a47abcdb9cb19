//! Collector-level tests: flush + compaction keep a day in few files, the memory budget
//! refuses instead of growing, and a reopen serves every acknowledged row once.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use schemas::prices::PriceTable;
use schemas::snapshot::SnapshotSource;

use super::*;
use crate::normalize::NormalizeConfig;

const T0: u64 = 1_795_000_000_000_000_000;

fn request(first: u64, spans: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + spans)
        .map(|i| Span {
            trace_id: [i.to_be_bytes(), [7; 8]].concat(),
            span_id: (i | 1 << 60).to_be_bytes().to_vec(),
            name: "chat".into(),
            start_time_unix_nano: T0 + i,
            end_time_unix_nano: T0 + i + 1_000,
            attributes: vec![KeyValue {
                key: "gen_ai.agent.name".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("a".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource::default()),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn normalizer() -> Normalizer {
    Normalizer::new(PriceTable::shipped(), NormalizeConfig::default())
}

fn rows(collector: &Collector) -> (usize, Option<i64>) {
    let snapshot = collector.snapshots().snapshot();
    let spans = snapshot.table(Table::Spans);
    (
        spans.hot.iter().map(|b| b.num_rows()).sum(),
        spans.delta_version,
    )
}

/// Span rows in the store's current version, from its partitions' statistics.
fn stored_spans(store: &Store) -> u64 {
    store
        .partitions(Table::Spans)
        .unwrap()
        .iter()
        .map(|p| p.rows.unwrap())
        .sum()
}

async fn ingest(collector: &Collector, first: u64, spans: u64) -> Result<Option<u64>> {
    let normalized = collector.normalizer().traces(&request(first, spans));
    collector.ingest(&normalized).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushes_compact_into_one_file_per_day_and_reopen_serves_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::open(CollectorConfig::new(dir.path()), normalizer())
        .await
        .unwrap();
    for i in 0..30 {
        ingest(&collector, i * 10, 10).await.unwrap();
        collector.flush().await.unwrap();
    }
    assert_eq!(
        rows(&collector),
        (0, Some(30)),
        "version 0 creates the table at open; every flush is one Delta commit"
    );
    assert_eq!(collector.file_count(Table::Spans).await, 30);
    collector.compact().await.unwrap();
    assert_eq!(
        collector.file_count(Table::Spans).await,
        1,
        "one file for the day's partition"
    );
    // Acknowledged but not flushed, then a hard stop (no shutdown): the WAL has them.
    ingest(&collector, 1_000, 5).await.unwrap();
    let version = rows(&collector).1;
    drop(collector);

    let reopened = Collector::open(CollectorConfig::new(dir.path()), normalizer())
        .await
        .unwrap();
    assert_eq!(
        rows(&reopened),
        (5, version),
        "only the unflushed record is replayed"
    );
    reopened.shutdown().await.unwrap();
    let left = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count();
    assert_eq!(left, 0, "a clean stop leaves no WAL segment behind");
    let reopened = Collector::open(CollectorConfig::new(dir.path()), normalizer())
        .await
        .unwrap();
    assert_eq!(
        rows(&reopened).0,
        0,
        "after a clean stop the WAL holds nothing new"
    );
    let store = Store::open(&CollectorConfig::new(dir.path()))
        .await
        .unwrap();
    assert_eq!(store.committed_sequence(Table::Spans).await.unwrap(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_memory_budget_ingest_is_refused_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CollectorConfig::new(dir.path());
    config.hot_budget_bytes = 64 << 10;
    config.flush_bytes = usize::MAX; // no flush is asked for, so the buffer stays full
    config.flush_interval = Duration::from_secs(3600);
    let collector = Collector::open(config, normalizer()).await.unwrap();
    let mut accepted = 0;
    let refused = loop {
        match ingest(&collector, accepted * 100, 100).await {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "the budget never bit");
    };
    assert!(matches!(refused, Error::Overloaded(_)), "{refused}");
    assert!(refused.is_retryable());
    assert!(
        collector.snapshots().bytes() < 2 * (64 << 10),
        "memory stays near the budget"
    );
    // Once flushed, intake resumes and nothing acknowledged was lost.
    collector.flush().await.unwrap();
    ingest(&collector, 1_000_000, 100).await.unwrap();
    collector.flush().await.unwrap();
    let store = Store::open(&CollectorConfig::new(dir.path()))
        .await
        .unwrap();
    assert_eq!(
        store.committed_sequence(Table::Spans).await.unwrap(),
        accepted + 1
    );
}

/// A data directory written before node ids: its tables' commits carry the `txn`
/// `vigil-wal`. After an upgrade, replay still skips what that id covers, so no row is
/// appended twice; new commits carry `vigil-wal/<node_id>` and the higher of the two
/// counts from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_data_dir_replays_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CollectorConfig::new(dir.path());
    config.node_id = "upgraded".into();
    // Five acknowledged records, then a crash before any flush: all five in the WAL.
    let collector = Collector::open(config.clone(), normalizer()).await.unwrap();
    for i in 0..5 {
        ingest(&collector, i * 10, 10).await.unwrap();
    }
    let records: Vec<_> = (0..3)
        .map(|i| {
            collector
                .normalizer()
                .traces(&request(i * 10, 10))
                .spans
                .unwrap()
        })
        .collect();
    drop(collector);
    // The old binary had committed records 1..=3 under the legacy id before it died.
    let mut store = Store::open(&config).await.unwrap();
    store.write_as_legacy();
    store.append(Table::Spans, &records, 3).await.unwrap();
    drop(store);

    let reopened = Collector::open(config.clone(), normalizer()).await.unwrap();
    assert_eq!(rows(&reopened).0, 20, "records 4 and 5 only are replayed");
    reopened.flush().await.unwrap();
    let store = Store::open(&config).await.unwrap();
    assert_eq!(store.committed_sequence(Table::Spans).await.unwrap(), 5);
    let stored = stored_spans(&store);
    assert_eq!(stored, 50, "every acknowledged span once");

    // Elsewhere than the data directory's own tables, the legacy id is not this node's.
    let mut moved = config.clone();
    moved.tables = schemas::paths::TablesLocation::parse(
        dir.path().join("tables").to_str().unwrap(),
        dir.path(),
        "storage.tables",
    )
    .unwrap();
    moved.data_dir = dir.path().join("other");
    let store = Store::open_read_only(&moved).await.unwrap();
    assert_eq!(
        store.committed_sequence(Table::Spans).await.unwrap(),
        5,
        "this node's own id still counts"
    );
    moved.node_id = "someone-else".into();
    let store = Store::open_read_only(&moved).await.unwrap();
    assert_eq!(store.committed_sequence(Table::Spans).await.unwrap(), 0);
}

/// Direct mode (a node with neither the ingest nor the jobs role): an `Ok` append is a
/// Delta commit already, visible at once; no WAL directory appears, a reopen replays
/// nothing, and the sequence goes on from the `txn` `vigil-direct/<node_id>`. A WAL left
/// with rows the tables lack refuses direct mode instead of dropping them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_commits_each_append_and_keeps_no_wal() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CollectorConfig::new(dir.path());
    config.direct = true;
    let collector = Collector::open(config.clone(), normalizer()).await.unwrap();
    assert_eq!(ingest(&collector, 0, 10).await.unwrap(), Some(1));
    assert_eq!(ingest(&collector, 10, 10).await.unwrap(), Some(2));
    assert_eq!(rows(&collector), (0, Some(2)), "two commits, nothing hot");
    assert_eq!(collector.file_count(Table::Spans).await, 2);
    collector.shutdown().await.unwrap();
    assert!(!dir.path().join("wal").exists(), "no WAL directory");

    let reopened = Collector::open(config.clone(), normalizer()).await.unwrap();
    assert_eq!(rows(&reopened), (0, Some(2)), "nothing to replay");
    assert_eq!(ingest(&reopened, 20, 10).await.unwrap(), Some(3));
    let store = Store::open_read_only(&config).await.unwrap();
    assert_eq!(store.committed_sequence(Table::Spans).await.unwrap(), 3);
    let stored = stored_spans(&store);
    assert_eq!(stored, 30);
    drop(reopened);

    // The same directory with the ingest role: an acknowledged record left unflushed…
    config.direct = false;
    let ingesting = Collector::open(config.clone(), normalizer()).await.unwrap();
    ingest(&ingesting, 100, 5).await.unwrap();
    drop(ingesting);
    // …must not be stranded by a restart without it.
    config.direct = true;
    let refused = Collector::open(config, normalizer()).await.err().unwrap();
    assert!(
        refused.to_string().contains("5 acknowledged rows"),
        "{refused}"
    );
}

/// Requests that arrive while the WAL writer is busy are appended into one set of column
/// builders and written as one record; each keeps its own answer (its sequence, its own
/// rejections), and the record holds exactly what the requests would have built one by
/// one, spans and the scores they carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_one_group_share_builders_and_keep_their_own_rejections() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    let normalizer = normalizer();
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let wal: Wal<GroupBuilders> = Wal::open(
        &dir,
        WalConfig::default(),
        1,
        Vec::new(),
        Box::new(move |seq, _| {
            entered_tx.send(seq).unwrap();
            if seq == 1 {
                release_rx.recv().unwrap();
            }
        }),
    )
    .unwrap();
    let first = request(0, 1);
    let valid = request(10, 3);
    // Two valid spans around one whose trace id is all zero.
    let mut mixed = request(20, 3);
    mixed.resource_spans[0].scope_spans[0].spans[1].trace_id = vec![0; 16];
    // One span carrying an OpenInference evaluation: a `scores` row.
    let mut scored = request(30, 2);
    scored.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .extend([
            KeyValue {
                key: "evaluations.0.evaluation.name".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("helpful".into())),
                }),
                ..Default::default()
            },
            KeyValue {
                key: "evaluations.0.evaluation.score".into(),
                value: Some(AnyValue {
                    value: Some(Value::DoubleValue(0.5)),
                }),
                ..Default::default()
            },
        ]);
    let append = |request| {
        let mapped = normalizer.map_traces(request);
        let bytes = mapped.rows.approx_bytes();
        let durable = wal
            .append_rows(bytes, |b| b.append(&normalizer, mapped.rows), Vec::new())
            .unwrap();
        (durable, mapped.outcome)
    };
    let (held, _) = append(&first);
    assert_eq!(entered.recv().unwrap(), 1, "the writer holds record 1");
    let group: Vec<_> = [&valid, &mixed, &scored].map(append).into();
    assert_eq!(wal.waiting(), 3);
    release.send(()).unwrap();
    assert_eq!(held.await.unwrap(), 1);
    let mut rejected = Vec::new();
    for (durable, outcome) in group {
        assert_eq!(
            durable.await.unwrap(),
            2,
            "one record answers the whole group"
        );
        rejected.push(outcome.rejected);
        if outcome.rejected > 0 {
            assert!(outcome.error_message().contains("trace_id has 16 bytes"));
        }
    }
    assert_eq!(rejected, vec![0, 1, 0], "each request's own rejections");
    wal.close();

    let replay = wal::replay(&dir, true).unwrap();
    let record = &replay.records[1];
    let one_by_one: Vec<Normalized> = [&valid, &mixed, &scored]
        .map(|r| normalizer.traces(r))
        .into();
    let spans: Vec<_> = one_by_one.iter().filter_map(|n| n.spans.clone()).collect();
    let scores: Vec<_> = one_by_one.iter().filter_map(|n| n.scores.clone()).collect();
    let expected = vec![
        (
            Table::Spans,
            arrow::compute::concat_batches(&spans[0].schema(), &spans).unwrap(),
        ),
        (Table::Scores, scores[0].clone()),
    ];
    assert_eq!(record.batches.len(), 2, "one batch per table");
    assert_eq!(record.batches[0].1.num_rows(), 3 + 2 + 2);
    assert_eq!(record.batches[1].1.num_rows(), 1);
    for ((table, got), (want_table, want)) in record.batches.iter().zip(&expected) {
        assert_eq!(table, want_table);
        assert_eq!(got, want, "{table:?} as the requests built one by one");
    }
}
