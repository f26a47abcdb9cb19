//! [`latest_rows`] against the window-function query it replaced, over `drift` rows in
//! several Delta `date` partitions and in the hot buffer.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, TimestampNanosecondArray};
use arrow::record_batch::RecordBatch;
use deltalake::protocol::SaveMode;
use schemas::snapshot::{Snapshot, SnapshotSource, TableSnapshot};
use schemas::tables::{DATE_COLUMN, Table, stored_time_column};
use schemas::window::{WindowFigures, WindowPhase, time_of_ns};

use super::*;
use crate::{QueryConfig, QueryEngine};

const MINUTE: i64 = 60_000_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00Z.
const NOV20: i64 = 1_795_132_800_000_000_000;

fn row(monitor: &str, series: &str, start_ns: i64, end_ns: i64) -> DriftRow {
    DriftRow {
        monitor: monitor.into(),
        series: series.into(),
        labels: BTreeMap::from([("agent_name".into(), Some(series.into()))]),
        figures: WindowFigures {
            detector: "cusum".into(),
            window_start: time_of_ns(start_ns),
            window_end: time_of_ns(end_ns),
            n: 3,
            value: Some(end_ns as f64 / DAY as f64),
            statistic: Some(0.5),
            upper: Some(5.0),
            lower: Some(-5.0),
            baseline_mean: Some(1.0),
            baseline_sd: None,
            phase: WindowPhase::Monitoring,
            alarm: false,
        },
        signal: "score:accuracy".into(),
        details: Some("{}".into()),
        kpis: None,
        state: format!("{{\"end\":{end_ns}}}"),
    }
}

/// Windows of `length` ns from `first_ns` up to (not past) `last_end_ns`.
fn windows(
    monitor: &str,
    series: &str,
    first_ns: i64,
    length: i64,
    last_end_ns: i64,
) -> Vec<DriftRow> {
    (0..)
        .map(|i| first_ns + i * length)
        .take_while(|start| start + length <= last_end_ns)
        .map(|start| row(monitor, series, start, start + length))
        .collect()
}

/// A batch of [`Table::schema`] as stored: times as int64 ns under their stored names.
fn stored(batch: &RecordBatch) -> RecordBatch {
    let columns: Vec<ArrayRef> = Table::Drift
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| match stored_time_column(field.name()) {
            Some(_) => {
                let times = column
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .unwrap();
                Arc::new(Int64Array::new(times.values().clone(), None)) as ArrayRef
            }
            None => column.clone(),
        })
        .collect();
    RecordBatch::try_new(Table::Drift.stored_schema(), columns).unwrap()
}

/// `drift` as a daemon holds it: `stored` rows in a Delta table under the data directory,
/// `hot` rows not flushed yet.
struct Drift {
    version: i64,
    hot: Vec<RecordBatch>,
}

impl SnapshotSource for Drift {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            tables: Table::ALL
                .iter()
                .map(|&table| TableSnapshot {
                    table,
                    delta_version: (table == Table::Drift).then_some(self.version),
                    hot: if table == Table::Drift {
                        self.hot.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }
}

async fn engine(dir: &std::path::Path, stored_rows: &[DriftRow], hot: &[DriftRow]) -> QueryEngine {
    let table_dir = schemas::paths::table_dir(dir, Table::Drift);
    std::fs::create_dir_all(&table_dir).unwrap();
    let url = url::Url::from_directory_path(&table_dir).unwrap();
    let mut delta = deltalake::DeltaTableBuilder::from_url(url)
        .unwrap()
        .build()
        .unwrap();
    // Two commits, so a partition holds more than one file.
    let (first, second) = stored_rows.split_at(stored_rows.len() / 2);
    for rows in [first, second] {
        delta = delta
            .write(vec![stored(&drift_batch(rows).unwrap())])
            .with_save_mode(SaveMode::Append)
            .with_partition_columns([DATE_COLUMN])
            .await
            .unwrap();
    }
    let source = Drift {
        version: delta.version().unwrap() as i64,
        hot: vec![drift_batch(hot).unwrap()],
    };
    QueryEngine::new(
        Arc::new(source),
        schemas::paths::TablesLocation::under_data_dir(dir),
        QueryConfig::default(),
    )
}

/// The query `latest_rows` ran before it took two steps: a window over all of `drift`.
async fn old_latest_rows(engine: &QueryEngine, filter: &str) -> Vec<DriftRow> {
    let result = engine
        .query(&format!(
            "SELECT * FROM (SELECT *, row_number() OVER \
               (PARTITION BY monitor, series ORDER BY window_end DESC) AS latest \
             FROM drift {filter}) WHERE latest = 1 ORDER BY monitor, series"
        ))
        .await
        .unwrap();
    drift_rows(&result.batches).unwrap()
}

#[tokio::test]
async fn latest_rows_equal_the_window_query_across_days_and_midnight() {
    let (day1, day2, day3) = (NOV20, NOV20 + DAY, NOV20 + 2 * DAY);
    let mut stored_rows = Vec::new();
    let mut hot = Vec::new();
    // Hourly windows over three days; the last ones are still hot.
    let hourly = windows("m1", "a", day1, HOUR, day3 + 10 * HOUR);
    let (old, new) = hourly.split_at(hourly.len() - 3);
    stored_rows.extend_from_slice(old);
    hot.extend_from_slice(new);
    // A series that stopped on the first day.
    stored_rows.extend(windows("m1", "b", day1, HOUR, day1 + 5 * HOUR));
    // 20-minute windows from 20:30 on day 2: the last one, 23:50–00:10, straddles
    // midnight and is stored in day 2's partition, although it ends on day 3.
    stored_rows.extend(windows(
        "m1",
        "c",
        day2 + 20 * HOUR + 30 * MINUTE,
        20 * MINUTE,
        day3 + 10 * MINUTE,
    ));
    // Daily windows: the last one ends at exactly midnight and is day 2's.
    stored_rows.extend(windows("m2", "x", day1, DAY, day3));
    // The window changed from 1 minute to 2 days: the last row started on day 1.
    stored_rows.extend(windows("m2", "y", day1, MINUTE, day1 + 10 * MINUTE));
    stored_rows.push(row("m2", "y", day1 + 12 * HOUR, day3 + 12 * HOUR));
    // A name that needs quoting, and a monitor the restore does not ask for.
    stored_rows.extend(windows("m2", "o'brien, \"q\"", day2, HOUR, day2 + 3 * HOUR));
    stored_rows.extend(windows("other", "a", day1, HOUR, day3 + 20 * HOUR));

    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), &stored_rows, &hot).await;
    let partitions = std::fs::read_dir(schemas::paths::table_dir(dir.path(), Table::Drift))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("date=")
        })
        .count();
    assert_eq!(partitions, 3, "the stored rows span three date partitions");

    let asked = latest_rows(&engine, Some(&["m1", "m2"])).await.unwrap();
    let expected = old_latest_rows(&engine, "WHERE monitor IN ('m1', 'm2')").await;
    assert_eq!(asked.len(), 6, "{asked:#?}");
    assert_eq!(asked, expected);
    let ends: Vec<(&str, &str, i64)> = asked
        .iter()
        .map(|r| (r.monitor.as_str(), r.series.as_str(), r.end_ns()))
        .collect();
    assert_eq!(
        ends,
        [
            ("m1", "a", day3 + 10 * HOUR),
            ("m1", "b", day1 + 5 * HOUR),
            ("m1", "c", day3 + 10 * MINUTE),
            ("m2", "o'brien, \"q\"", day2 + 3 * HOUR),
            ("m2", "x", day3),
            ("m2", "y", day3 + 12 * HOUR),
        ]
    );

    let all = latest_rows(&engine, None).await.unwrap();
    assert_eq!(all, old_latest_rows(&engine, "").await);
    assert_eq!(all.len(), 7);
    assert!(latest_rows(&engine, Some(&[])).await.unwrap().is_empty());
    assert!(
        latest_rows(&engine, Some(&["none"]))
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_partitions_read_are_the_days_the_latest_windows_started() {
    let latest = |end_ns, shortest_ns, longest_ns| LatestEnd {
        monitor: "m".into(),
        series: "s".into(),
        end_ns,
        shortest_ns,
        longest_ns,
    };
    let day = |ns| partition_date(ns);
    let cases = [
        // One-minute windows within a day: that day only.
        (
            vec![latest(NOV20 + HOUR, MINUTE, MINUTE)],
            vec![(day(NOV20), day(NOV20))],
        ),
        // Ending at midnight: the day before.
        (
            vec![latest(NOV20 + DAY, MINUTE, MINUTE)],
            vec![(day(NOV20), day(NOV20))],
        ),
        // Straddling midnight: the day it started.
        (
            vec![latest(NOV20 + DAY + 10 * MINUTE, 20 * MINUTE, 20 * MINUTE)],
            vec![(day(NOV20), day(NOV20))],
        ),
        // Windows of one minute to two days: every day the last one may have started.
        (
            vec![latest(NOV20 + 2 * DAY + HOUR, MINUTE, 2 * DAY)],
            vec![(day(NOV20), day(NOV20 + 2 * DAY))],
        ),
        // Overlapping ranges merge; disjoint ones do not.
        (
            vec![
                latest(NOV20 + 5 * DAY + HOUR, MINUTE, MINUTE),
                latest(NOV20 + HOUR, MINUTE, MINUTE),
                latest(NOV20 + 5 * DAY + 10 * MINUTE, 20 * MINUTE, 2 * DAY),
                latest(NOV20 + 5 * DAY + 30 * MINUTE, 20 * MINUTE, DAY + HOUR),
            ],
            vec![
                (day(NOV20), day(NOV20)),
                (day(NOV20 + 3 * DAY), day(NOV20 + 5 * DAY)),
            ],
        ),
    ];
    for (latest, expected) in cases {
        assert_eq!(date_ranges(&latest), expected, "{latest:?}");
    }
}
