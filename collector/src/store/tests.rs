//! The store keeps `drift` sorted by monitor, series and window start: every append writes
//! in that order, and compaction rewrites only the days that gained files, without
//! changing the rows or the WAL sequence the table records.

use std::collections::BTreeMap;
use std::fs::File;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::tables::{DATE_COLUMN, Table, partition_date};
use serde_json::json;

use super::*;

const MINUTE: i64 = 60_000_000_000;
/// 2026-11-20T23:57:00Z: three minutes before midnight.
const LATE: i64 = 1_795_132_800_000_000_000 + 1_437 * MINUTE;

type Key = (String, String, i64);

/// The drift rows a monitor pass writes for the windows starting at `starts`: every
/// series of every monitor, in window order, as the daemon appends them.
fn pass(starts: &[i64]) -> RecordBatch {
    let mut text = Vec::new();
    for &start in starts {
        for monitor in ["m-latency", "m-accuracy", "b-cost"] {
            for series in ["agent-2", "agent-10", "agent-1"] {
                let row = json!({
                    "monitor": monitor,
                    "series": series,
                    "window_start": start,
                    "window_end": start + MINUTE,
                    "n": 3,
                    "value": start as f64,
                    "alarm": false,
                    "detector": "cusum",
                    "signal": "latency_p95",
                    "phase": "monitoring",
                    "labels": {"agent_name": series},
                    "state": "{}",
                    "date": partition_date(start),
                });
                serde_json::to_writer(&mut text, &row).unwrap();
                text.push(b'\n');
            }
        }
    }
    let mut reader = arrow::json::ReaderBuilder::new(Table::Drift.schema())
        .with_batch_size(1 << 16)
        .build(std::io::Cursor::new(text))
        .unwrap();
    reader.next().unwrap().unwrap()
}

/// Every data file of `table` in its current version: its path, its `date` and its
/// batches as read back.
fn data_files(store: &Store, table: Table) -> Vec<(String, String, Vec<RecordBatch>)> {
    let mut out = Vec::new();
    for uri in store.tables[table.index()].get_file_uris().unwrap() {
        // A `file://` URL or a plain path.
        let path = url::Url::parse(&uri)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .unwrap_or_else(|| uri.clone().into());
        let date = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|d| d.to_str())
            .and_then(|d| d.strip_prefix("date="))
            .unwrap()
            .to_owned();
        let batches = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.push((path.to_string_lossy().into_owned(), date, batches));
    }
    out
}

/// Every data file of `table` (with `drift`'s columns) in its current version: its `date`
/// and its rows' keys in file order.
fn files(store: &Store, table: Table) -> BTreeMap<String, (String, Vec<Key>)> {
    let mut out = BTreeMap::new();
    for (path, date, batches) in data_files(store, table) {
        let mut keys = Vec::new();
        for batch in batches {
            let text = |name| batch.column_by_name(name).unwrap().as_string::<i32>();
            let (monitor, series) = (text("monitor"), text("series"));
            let start = batch
                .column_by_name("window_start_unix_nano")
                .unwrap()
                .as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                keys.push((
                    monitor.value(i).to_owned(),
                    series.value(i).to_owned(),
                    start.value(i),
                ));
            }
        }
        out.insert(path, (date, keys));
    }
    out
}

/// Every row's key, in any file, sorted.
fn all_keys(store: &Store) -> Vec<Key> {
    let mut keys: Vec<Key> = files(store, Table::Drift)
        .into_values()
        .flat_map(|(_, keys)| keys)
        .collect();
    keys.sort();
    keys
}

fn assert_sorted(store: &Store) {
    for (path, (_, keys)) in files(store, Table::Drift) {
        assert!(keys.is_sorted(), "{path} is not in key order: {keys:?}");
    }
}

fn files_per_date(store: &Store) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (date, _) in files(store, Table::Drift).into_values() {
        *out.entry(date).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_written_sorted_and_compaction_sorts_only_the_days_that_grew() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&CollectorConfig::new(dir.path()))
        .await
        .unwrap();
    let (day1, day2) = (partition_date(LATE), partition_date(LATE + 3 * MINUTE));
    // Windows from 23:57 to 00:03, two per append (one flush of two passes), the rows
    // of each pass in the order the monitors were configured.
    let starts: Vec<i64> = (0..6).map(|i| LATE + i * MINUTE).collect();
    for (sequence, windows) in starts.chunks(2).enumerate() {
        store
            .append(
                Table::Drift,
                &[pass(&windows[..1]), pass(&windows[1..])],
                sequence as u64 + 1,
            )
            .await
            .unwrap();
    }
    assert_sorted(&store);
    assert_eq!(
        files_per_date(&store),
        BTreeMap::from([(day1.clone(), 2), (day2.clone(), 2)]),
        "the second append holds 23:59 and 00:00"
    );
    let rows = all_keys(&store);
    assert_eq!(rows.len(), 6 * 9);

    let version = store.compact(Table::Drift, Duration::ZERO).await.unwrap();
    assert!(version.is_some());
    assert_sorted(&store);
    assert_eq!(
        files_per_date(&store),
        BTreeMap::from([(day1.clone(), 1), (day2.clone(), 1)])
    );
    assert_eq!(all_keys(&store), rows, "the same rows");
    assert_eq!(store.committed_sequence(Table::Drift).await.unwrap(), 3);
    let day1_file: Vec<String> = files(&store, Table::Drift)
        .into_iter()
        .filter(|(_, (date, _))| *date == day1)
        .map(|(path, _)| path)
        .collect();

    // Nothing grew: no partition is rewritten (vacuum may still commit the deletion of
    // the files the rewrite replaced).
    let before = files(&store, Table::Drift);
    store.compact(Table::Drift, Duration::ZERO).await.unwrap();
    assert_eq!(files(&store, Table::Drift), before);

    // A later pass adds to the second day only; the first day's file stays as it is.
    store
        .append(Table::Drift, &[pass(&[LATE + 6 * MINUTE])], 4)
        .await
        .unwrap();
    store.compact(Table::Drift, Duration::ZERO).await.unwrap();
    assert_sorted(&store);
    let after = files(&store, Table::Drift);
    assert!(after.contains_key(&day1_file[0]), "day 1 was not rewritten");
    assert_eq!(after.len(), 2);
    assert_eq!(all_keys(&store).len(), 7 * 9);

    // Every column of every row survives the appends and rewrites.
    let written: Vec<RecordBatch> = (0..7)
        .map(|i| to_stored(Table::Drift, &pass(&[LATE + i * MINUTE])).unwrap())
        .collect();
    let key = cluster_key(Table::Drift).unwrap();
    let expected = sort_batch(
        &arrow::compute::concat_batches(&Table::Drift.stored_schema(), &written).unwrap(),
        key,
    )
    .unwrap();
    let mut stored = Vec::new();
    for uri in store.tables[Table::Drift.index()].get_file_uris().unwrap() {
        let path = url::Url::parse(&uri)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .unwrap_or_else(|| uri.clone().into());
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        stored.extend(reader.map(Result::unwrap));
    }
    let schema = stored[0].schema();
    let actual = sort_batch(
        &arrow::compute::concat_batches(&schema, &stored).unwrap(),
        key,
    )
    .unwrap();
    for field in Table::Drift.stored_schema().fields() {
        let name = field.name();
        if name == DATE_COLUMN {
            continue; // in the path, not in the file
        }
        assert_eq!(
            actual.column_by_name(name).unwrap().as_ref(),
            expected.column_by_name(name).unwrap().as_ref(),
            "{name}"
        );
    }

    // The WAL sequence survives the rewrites, in the log as a reopen reads it.
    let reopened = Store::open(&CollectorConfig::new(dir.path()))
        .await
        .unwrap();
    assert_eq!(reopened.committed_sequence(Table::Drift).await.unwrap(), 4);
    assert_eq!(all_keys(&reopened).len(), 7 * 9);
}

#[test]
fn only_drift_is_clustered_and_its_key_is_stored() {
    for table in Table::ALL {
        let Some(key) = cluster_key(table) else {
            assert_ne!(table, Table::Drift);
            continue;
        };
        assert_eq!(table, Table::Drift);
        for column in key {
            assert!(
                table.stored_schema().field_with_name(column).is_ok(),
                "{column} is not a stored column of {}",
                table.name()
            );
        }
    }
}

/// Of two nodes creating a table at once, one creates it and the other reads it back:
/// here the second create finds version 0 written (put-if-absent fails) and carries on
/// with the winner's table, as a node that lost the race does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_lost_the_race_carries_on_with_the_winners_table() {
    let dir = tempfile::tempdir().unwrap();
    let location = TablesLocation::under_data_dir(dir.path());
    let first = create(&location, Table::Spans).await.unwrap();
    assert_eq!(first.version(), Some(0));
    let second = create(&location, Table::Spans).await.unwrap();
    assert_eq!(
        second.version(),
        Some(0),
        "no second version 0 or 1 was written"
    );
    let log = dir.path().join("tables/spans/_delta_log");
    let entries = std::fs::read_dir(&log)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(entries, 1);

    // And two whole stores opening at once: one creates each table, neither fails.
    let config = CollectorConfig::new(dir.path().join("both"));
    let (a, b) = tokio::join!(Store::open(&config), Store::open(&config));
    let (a, b) = (a.unwrap(), b.unwrap());
    for table in Table::ALL {
        assert_eq!((a.version(table), b.version(table)), (Some(0), Some(0)));
    }
}

/// A table another writer created with another schema is refused, naming it and its URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_created_with_another_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let location = TablesLocation::under_data_dir(dir.path());
    let url = location.table_url(Table::Scores);
    std::fs::create_dir_all(location.local_dir().unwrap().join("scores")).unwrap();
    let other = deltalake::kernel::StructField::new(
        "something_else",
        deltalake::kernel::DataType::STRING,
        true,
    );
    handle(&location, Table::Scores)
        .unwrap()
        .create()
        .with_columns([other])
        .await
        .unwrap();
    let e = create(&location, Table::Scores)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("table scores at ") && e.contains(url.as_str()),
        "{e}"
    );
    assert!(e.contains("another schema"), "{e}");
}

/// `schema` without the column `name`: the schema an older version of Vigil wrote.
fn without(schema: &arrow::datatypes::Schema, name: &str) -> arrow::datatypes::SchemaRef {
    Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| f.name() != name)
            .cloned()
            .collect::<Vec<_>>(),
    ))
}

/// Two `audit` rows of `schema` (with or without `node`) from JSON lines.
fn audit_rows(schema: arrow::datatypes::SchemaRef, first_seq: i64, time: &str) -> RecordBatch {
    let mut text = Vec::new();
    for seq in first_seq..first_seq + 2 {
        let row = json!({
            "seq": seq, "time": time, "time_unix_nano": LATE + seq,
            "actor": "vigil", "peer": "", "action": "config.loaded", "target": "",
            "details": "{}", "prev_hash": "p", "hash": "h", "date": partition_date(LATE),
        });
        serde_json::to_writer(&mut text, &row).unwrap();
        text.push(b'\n');
    }
    arrow::json::ReaderBuilder::new(schema)
        .build(std::io::Cursor::new(text))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

/// A table written by an older version (an `audit` without `node`, rows in its files and
/// in a WAL record) gains the column when two stores open it at once; the record replays
/// into the current schema and appends; old rows read the column as null, and compaction
/// merges old and new files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_newer_nullable_column_gains_it_at_open() {
    use deltalake::datafusion::prelude::SessionContext;
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;

    let dir = tempfile::tempdir().unwrap();
    let location = TablesLocation::under_data_dir(dir.path());
    let node = schemas::tables::audit_columns::NODE;
    let old_stored = without(&Table::Audit.stored_schema(), node);
    let columns: deltalake::kernel::StructType =
        deltalake::kernel::normalize_for_delta(&old_stored)
            .as_ref()
            .try_into_kernel()
            .unwrap();
    std::fs::create_dir_all(location.local_dir().unwrap().join("audit")).unwrap();
    let old = handle(&location, Table::Audit)
        .unwrap()
        .create()
        .with_columns(columns.fields().cloned())
        .with_partition_columns([DATE_COLUMN])
        .await
        .unwrap()
        .write(vec![audit_rows(old_stored, 1, "")])
        .with_partition_columns([DATE_COLUMN])
        .await
        .unwrap();
    assert_eq!(old.version(), Some(1));
    // What the old version's WAL held: a batch of its audit schema.
    let wal_payload = crate::wal::encode_payload(&[(
        Table::Audit,
        audit_rows(
            without(&Table::Audit.schema(), node),
            3,
            "2026-11-20T23:57:00Z",
        ),
    )])
    .unwrap();

    // Two nodes upgrade it at once: both carry on, the column is added once.
    let config = CollectorConfig::new(dir.path());
    let (a, b) = tokio::join!(Store::open(&config), Store::open(&config));
    let (mut a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.version(Table::Audit), b.version(Table::Audit)),
        (Some(2), Some(2))
    );
    let reopened = Store::open(&config).await.unwrap();
    assert_eq!(
        reopened.version(Table::Audit),
        Some(2),
        "nothing left to add"
    );

    let replayed = crate::wal::decode_payload(&wal_payload).unwrap();
    assert_eq!(replayed[0].1.schema(), Table::Audit.schema());
    let mut current = audit_rows(Table::Audit.schema(), 5, "2026-11-20T23:57:00Z");
    let nodes = arrow::array::StringArray::from(vec![Some("ingest-1"); 2]);
    let index = Table::Audit.schema().index_of(node).unwrap();
    let mut columns = current.columns().to_vec();
    columns[index] = Arc::new(nodes);
    current = RecordBatch::try_new(Table::Audit.schema(), columns).unwrap();
    a.append(Table::Audit, &[replayed[0].1.clone(), current], 1)
        .await
        .unwrap();
    a.compact(Table::Audit, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(a.file_count(Table::Audit), 1, "old and new files merged");

    let delta = a.tables[Table::Audit.index()].clone();
    let ctx = SessionContext::new();
    delta.update_datafusion_session(&ctx.state()).unwrap();
    ctx.register_table("audit", delta.table_provider().await.unwrap())
        .unwrap();
    let batches = ctx
        .sql("SELECT seq, node FROM audit ORDER BY seq")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let seqs = batch
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    let nodes = arrow::compute::cast(batch.column(1), &arrow::datatypes::DataType::Utf8).unwrap();
    let nodes: Vec<_> = nodes.as_string::<i32>().iter().collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        nodes,
        vec![None, None, None, None, Some("ingest-1"), Some("ingest-1")]
    );
}

/// `scores` rows (hot form) with the given times, their `name` numbering them from `first`.
fn scores(times: &[i64], first: usize) -> RecordBatch {
    let mut text = Vec::new();
    for (i, &time) in times.iter().enumerate() {
        let row = json!({
            "time": time,
            "name": format!("s{}", first + i),
            "value": 0.5,
            "source": "api",
            "attributes": {"k": "v"},
            "date": partition_date(time),
        });
        serde_json::to_writer(&mut text, &row).unwrap();
        text.push(b'\n');
    }
    let mut reader = arrow::json::ReaderBuilder::new(Table::Scores.schema())
        .build(std::io::Cursor::new(text))
        .unwrap();
    reader.next().unwrap().unwrap()
}

/// An append writes a flush's hot batches through delta-rs' Parquet writer itself
/// (`write.rs`): each `date` gets its rows in flush order, a batch that straddles midnight
/// is split between the two days, and every file has the Arrow schema the table's log
/// states (the one delta-rs' own write gave them, maps as `key_value`), partition column
/// aside. The commit records the WAL sequence and the operation's metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_writes_each_day_its_rows_in_order_with_the_logs_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&CollectorConfig::new(dir.path()))
        .await
        .unwrap();
    let (day1, day2) = (partition_date(LATE), partition_date(LATE + 3 * MINUTE));
    let hot = [
        scores(&[LATE, LATE + MINUTE], 0),
        scores(
            &[LATE + 2 * MINUTE, LATE + 3 * MINUTE, LATE + 2 * MINUTE],
            2,
        ),
        scores(&[LATE + 4 * MINUTE], 5),
    ];
    let version = store.append(Table::Scores, &hot, 7).await.unwrap();
    assert_eq!(store.committed_sequence(Table::Scores).await.unwrap(), 7);

    let delta = &store.tables[Table::Scores.index()];
    let logged = delta.snapshot().unwrap().snapshot().arrow_schema();
    let mut names = BTreeMap::new();
    for (_, date, batches) in data_files(&store, Table::Scores) {
        let mut rows = Vec::new();
        for batch in batches {
            assert_eq!(
                batch.schema().fields(),
                &without(&logged, DATE_COLUMN).fields().clone(),
                "{date}"
            );
            let name = batch.column_by_name("name").unwrap().as_string::<i32>();
            rows.extend(name.iter().map(|n| n.unwrap().to_owned()));
        }
        assert!(names.insert(date, rows).is_none(), "one file per day");
    }
    assert_eq!(
        names,
        BTreeMap::from([
            (
                day1,
                vec!["s0".into(), "s1".into(), "s2".into(), "s4".into()]
            ),
            (day2, vec!["s3".into(), "s5".into()]),
        ])
    );
    let entry = delta
        .log_store()
        .read_commit_entry(version as u64)
        .await
        .unwrap()
        .unwrap();
    let info: serde_json::Value = std::str::from_utf8(&entry)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| a.get("commitInfo").is_some())
        .unwrap();
    let metrics = &info["commitInfo"]["operationMetrics"];
    assert_eq!(metrics["num_added_files"], 2);
    assert_eq!(metrics["num_added_rows"], 6);
    assert_eq!(info["commitInfo"]["operation"], "WRITE");
}

/// A compaction's write is planned in one partition, the writer's own. delta-rs puts a
/// metrics node over the input, which DataFusion's default session (a partition per core)
/// splits round-robin, and then hash-repartitions by `date`: that queued a whole rewrite
/// ahead of the writer ([`write_session`] says why). A session of one target partition
/// plans no split anywhere.
#[tokio::test]
async fn a_rewrite_is_planned_in_one_partition() {
    use deltalake::datafusion::datasource::{MemTable, provider_as_source};
    use deltalake::datafusion::logical_expr::{LogicalPlanBuilder, cast};
    use deltalake::datafusion::physical_plan::ExecutionPlan;

    let session = write_session();
    assert_eq!(session.config().target_partitions(), 1);

    let stored: Vec<RecordBatch> = (0..3)
        .map(|i| to_stored(Table::Drift, &pass(&[LATE + i * MINUTE])).unwrap())
        .collect();
    let source = MemTable::try_new(Table::Drift.stored_schema(), vec![stored]).unwrap();
    let input = LogicalPlanBuilder::scan("drift", provider_as_source(Arc::new(source)), None)
        .unwrap()
        .build()
        .unwrap();
    let casts = Table::Drift
        .stored_schema()
        .fields()
        .iter()
        .map(|f| cast(col(f.name()), f.data_type().clone()).alias(f.name()))
        .collect::<Vec<_>>();
    let sink = LogicalPlanBuilder::from(input)
        .project(casts)
        .and_then(LogicalPlanBuilder::build)
        .unwrap();
    let planned: Arc<dyn ExecutionPlan> = session.create_physical_plan(&sink).await.unwrap();
    assert_eq!(
        planned.properties().output_partitioning().partition_count(),
        1
    );
}
