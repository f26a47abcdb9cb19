//! The expiry rule at its boundaries (UTC days), the section's validation, and a
//! collector that drops expired days, deletes their files, keeps younger days and hot
//! rows, and brings nothing back on a replay.

use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use schemas::paths::table_dir;
use schemas::prices::PriceTable;
use schemas::snapshot::SnapshotSource;

use super::*;
use crate::CollectorConfig;
use crate::normalize::{NormalizeConfig, Normalizer};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn partition(date: &str) -> Partition {
    Partition {
        date: date.into(),
        files: 1,
        bytes: 100,
        rows: Some(10),
    }
}

#[test]
fn a_day_expires_when_its_end_is_the_limit_ago() {
    let two_days = DAY * 2;
    // 2026-12-01 ends at 2026-12-02T00:00Z; two days later is 2026-12-04T00:00Z.
    let cases = [
        (
            "2026-12-04T00:00:00Z",
            true,
            "its end exactly at now - limit",
        ),
        (
            "2026-12-03T23:59:59.999999999Z",
            false,
            "one nanosecond before",
        ),
        (
            "2026-12-03T12:00:00Z",
            false,
            "the day is only partly older",
        ),
        ("2026-12-10T00:00:00Z", true, "long past"),
    ];
    for (now, expected, why) in cases {
        assert_eq!(
            expired(day("2026-12-01"), two_days, at(now)),
            expected,
            "{why}"
        );
    }
    assert_eq!(
        expires_at(day("2026-12-01"), two_days),
        Some(at("2026-12-04T00:00:00Z"))
    );
    // An offset in the clock's text changes nothing: days are UTC.
    assert!(expired(
        day("2026-12-01"),
        two_days,
        at("2026-12-04T01:00:00+01:00")
    ));
    assert!(!expired(
        day("2026-12-01"),
        two_days,
        at("2026-12-03T23:00:00-00:30")
    ));
    // A limit past the calendar's end never expires anything.
    assert_eq!(expires_at(day("2026-12-01"), Duration::MAX), None);
    assert!(!expired(
        day("2026-12-01"),
        Duration::MAX,
        at("2026-12-10T00:00:00Z")
    ));
}

#[test]
fn a_plan_drops_the_expired_days_and_names_the_next() {
    let partitions = ["2026-11-01", "2026-12-03", "2026-12-04", "2026-12-06"].map(partition);
    let now = at("2026-12-06T12:00:00Z");
    let plan = super::plan(Table::Spans, Keep::For(DAY * 2), partitions.to_vec(), now);
    assert_eq!(plan.expired, partitions[..2].to_vec());
    assert_eq!(
        plan.next,
        Some((partitions[2].clone(), Some(at("2026-12-07T00:00:00Z"))))
    );

    let kept = super::plan(Table::Alerts, Keep::Forever, partitions.to_vec(), now);
    assert!(kept.expired.is_empty());
    assert_eq!(kept.next, Some((partitions[0].clone(), None)));

    let odd = super::plan(
        Table::Spans,
        Keep::For(DAY),
        vec![partition("__HIVE_DEFAULT_PARTITION__")],
        now,
    );
    assert!(odd.expired.is_empty(), "a value that is not a date is kept");

    let empty = super::plan(Table::Spans, Keep::For(DAY), Vec::new(), now);
    assert_eq!((empty.expired.len(), empty.next), (0, None));
}

#[test]
fn the_section_has_demanding_defaults_and_names_the_key_of_a_bad_limit() {
    let defaults = RetentionConfig::default().policy().unwrap();
    assert_eq!(defaults, Retention::default());
    for (table, expected) in [
        (Table::Spans, Keep::For(DAY * 30)),
        (Table::Scores, Keep::For(DAY * 30)),
        (Table::Metrics, Keep::For(DAY * 30)),
        (Table::Drift, Keep::For(DAY * 400)),
        (Table::Alerts, Keep::Forever),
        (Table::Audit, Keep::Forever),
    ] {
        assert_eq!(defaults.keep(table), expected, "{}", table.name());
    }
    assert_eq!(defaults.interval, Duration::from_secs(3600));

    let bad = [
        (
            RetentionConfig {
                spans: Keep::For(Duration::from_secs(30 * 60)),
                ..RetentionConfig::default()
            },
            "retention.spans",
            "under one day",
        ),
        (
            RetentionConfig {
                audit: Keep::For(DAY * 365),
                ..RetentionConfig::default()
            },
            "retention.audit",
            "only \"forever\"",
        ),
        (
            RetentionConfig {
                interval: Duration::ZERO,
                ..RetentionConfig::default()
            },
            "retention.interval",
            "greater than 0s",
        ),
    ];
    for (config, key, problem) in bad {
        let error = config.policy().unwrap_err().to_string();
        assert!(error.starts_with(key), "{error}");
        assert!(error.contains(problem), "{error}");
    }
    let forever = RetentionConfig {
        spans: Keep::Forever,
        drift: Keep::Forever,
        ..RetentionConfig::default()
    };
    assert_eq!(forever.policy().unwrap().keep(Table::Spans), Keep::Forever);
}

#[test]
fn keep_reads_durations_and_forever() {
    let read = |text: &str| Keep::deserialize(serde_json::Value::from(text));
    assert_eq!(read("30d").unwrap(), Keep::For(DAY * 30));
    assert_eq!(read("2w").unwrap(), Keep::For(DAY * 14));
    assert_eq!(read("forever").unwrap(), Keep::Forever);
    let error = read("thirty days").unwrap_err().to_string();
    assert!(error.contains("nor \"forever\""), "{error}");
    assert_eq!(Keep::For(DAY * 30).to_string(), "30days");
}

const DAY_NS: u64 = 86_400_000_000_000;

/// One span at noon UTC of `date`, with a trace id unique per `id`.
fn span_request(date: &str, id: u64) -> ExportTraceServiceRequest {
    let noon = day(date).and_hms_opt(12, 0, 0).unwrap().and_utc();
    let start = noon.timestamp_nanos_opt().unwrap() as u64;
    let span = Span {
        trace_id: [id.to_be_bytes(), [7; 8]].concat(),
        span_id: (id | 1 << 60).to_be_bytes().to_vec(),
        name: "chat".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + DAY_NS / 1_000,
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn config(dir: &Path) -> CollectorConfig {
    let mut config = CollectorConfig::new(dir);
    config.vacuum_retention = Duration::ZERO;
    config.retention = RetentionConfig {
        spans: Keep::For(DAY * 2),
        ..RetentionConfig::default()
    }
    .policy()
    .unwrap();
    config
}

async fn ingest(collector: &Collector, date: &str, id: u64) {
    let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let normalized = normalizer.traces(&span_request(date, id));
    collector.ingest(&normalized).await.unwrap();
}

/// The stored `date` partitions of `spans` and the hot rows.
async fn state(collector: &Collector) -> (Vec<(String, Option<u64>)>, usize) {
    let stored = collector
        .store
        .lock()
        .await
        .partitions(Table::Spans)
        .unwrap();
    let hot = collector
        .snapshots()
        .snapshot()
        .table(Table::Spans)
        .hot
        .iter()
        .map(|b| b.num_rows())
        .sum();
    (stored.into_iter().map(|p| (p.date, p.rows)).collect(), hot)
}

fn parquet_files(data_dir: &Path, date: &str) -> usize {
    let dir = table_dir(data_dir, Table::Spans).join(format!("date={date}"));
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_days_go_with_their_files_and_a_replay_brings_nothing_back() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-12-06T12:00:00Z");
    let collector = Collector::open(
        config(dir.path()),
        Normalizer::new(PriceTable::shipped(), NormalizeConfig::default()),
    )
    .await
    .unwrap();
    for (id, date) in ["2026-12-01", "2026-12-03", "2026-12-04", "2026-12-06"]
        .into_iter()
        .enumerate()
    {
        ingest(&collector, date, id as u64).await;
        ingest(&collector, date, 100 + id as u64).await;
    }
    collector.flush().await.unwrap();
    let sequence = collector
        .store
        .lock()
        .await
        .committed_sequence(Table::Spans)
        .await
        .unwrap();
    // Acknowledged, not flushed: in the WAL and the hot buffer, for an expired day.
    ingest(&collector, "2026-12-01", 1_000).await;

    let dropped = collector.enforce_retention(now).await.unwrap();
    assert_eq!(
        dropped.len(),
        1,
        "only spans has a limit that expired anything"
    );
    let dates: Vec<&str> = dropped[0]
        .partitions
        .iter()
        .map(|p| p.date.as_str())
        .collect();
    assert_eq!(dates, ["2026-12-01", "2026-12-03"]);
    assert_eq!(
        dropped[0].files_vacuumed, 2,
        "vacuum_retention 0: deleted at once"
    );
    let kept = vec![
        ("2026-12-04".to_owned(), Some(2)),
        ("2026-12-06".to_owned(), Some(2)),
    ];
    assert_eq!(
        state(&collector).await,
        (kept.clone(), 1),
        "the hot row stays"
    );
    assert_eq!(
        collector
            .snapshots()
            .snapshot()
            .table(Table::Spans)
            .delta_version,
        collector.store.lock().await.version(Table::Spans),
        "queries see the version without the dropped days"
    );
    for (date, files) in [("2026-12-01", 0), ("2026-12-03", 0), ("2026-12-04", 1)] {
        assert_eq!(parquet_files(dir.path(), date), files, "{date}");
    }
    assert_eq!(
        collector
            .store
            .lock()
            .await
            .committed_sequence(Table::Spans)
            .await
            .unwrap(),
        sequence,
        "the delete keeps the table's WAL sequence"
    );
    assert!(
        collector.enforce_retention(now).await.unwrap().is_empty(),
        "nothing left to expire"
    );

    // A hard stop: the WAL still holds every record; replay skips the committed ones.
    drop(collector);
    let reopened = Collector::open(
        config(dir.path()),
        Normalizer::new(PriceTable::shipped(), NormalizeConfig::default()),
    )
    .await
    .unwrap();
    assert_eq!(
        state(&reopened).await,
        (kept.clone(), 1),
        "only the unflushed row is replayed"
    );

    // Flushed, the late row lands in its expired day, and the next run drops it.
    reopened.flush().await.unwrap();
    let dropped = reopened.enforce_retention(now).await.unwrap();
    assert_eq!(
        dropped[0].partitions,
        vec![Partition {
            date: "2026-12-01".into(),
            files: 1,
            bytes: dropped[0].partitions[0].bytes,
            rows: Some(1)
        }]
    );
    assert_eq!(state(&reopened).await, (kept, 0));

    let plans = plan_offline(
        &schemas::paths::TablesLocation::under_data_dir(dir.path()),
        &config(dir.path()).retention,
        at("2026-12-07T00:00:00Z"),
    )
    .await
    .unwrap();
    let spans = &plans[Table::Spans.index()];
    assert_eq!(
        spans
            .expired
            .iter()
            .map(|p| p.date.as_str())
            .collect::<Vec<_>>(),
        ["2026-12-04"]
    );
    assert_eq!(
        spans.next.as_ref().map(|(p, at)| (p.date.as_str(), *at)),
        Some(("2026-12-06", Some(at("2026-12-09T00:00:00Z"))))
    );
    reopened.shutdown().await.unwrap();
}
