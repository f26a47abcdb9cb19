use std::sync::Arc;
use std::sync::mpsc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use schemas::paths::wal_segment_name;
use schemas::tables::Table;

use super::*;

pub(super) fn batch(values: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
}

pub(super) fn values(record: &WalRecord) -> Vec<i64> {
    record
        .batches
        .iter()
        .flat_map(|(_, b)| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect()
}

pub(super) fn segment(records: &[(u64, &[i64])]) -> Vec<u8> {
    let mut bytes = framing::segment_header().to_vec();
    for (seq, vals) in records {
        let payload = encode_payload(&[(Table::Spans, batch(vals))]).unwrap();
        framing::frame(&mut bytes, *seq, &payload);
    }
    bytes
}

#[test]
fn payload_round_trips_batches_of_several_tables() {
    let payload =
        encode_payload(&[(Table::Spans, batch(&[1, 2])), (Table::Scores, batch(&[3]))]).unwrap();
    let decoded = decode_payload(&payload).unwrap();
    assert_eq!(decoded.len(), 2);
    assert_eq!(decoded[0].0, Table::Spans);
    assert_eq!(decoded[1].0, Table::Scores);
    assert_eq!(decoded[0].1, batch(&[1, 2]));
}

#[test]
fn every_cut_of_the_last_record_is_a_torn_tail() {
    let whole = segment(&[(1, &[10]), (2, &[20, 21])]);
    let first_end = segment(&[(1, &[10])]).len();
    for cut in first_end..whole.len() {
        let read = framing::read_segment(&whole[..cut], 1);
        assert_eq!(read.records.len(), 1, "cut at {cut}");
        assert_eq!(read.valid_len, first_end);
        assert!(!read.stale_tail);
    }
    let read = framing::read_segment(&whole, 1);
    assert_eq!((read.records.len(), read.valid_len), (2, whole.len()));
}

#[test]
fn a_flipped_bit_stops_reading_at_that_record() {
    let mut bytes = segment(&[(1, &[10]), (2, &[20])]);
    let first_end = segment(&[(1, &[10])]).len();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let read = framing::read_segment(&bytes, 1);
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.valid_len, first_end);
    assert!(!read.stale_tail);
}

#[test]
fn replay_truncates_the_torn_tail_and_quarantines_a_corrupt_older_segment() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    std::fs::create_dir_all(&dir).unwrap();
    let mut older = segment(&[(1, &[1]), (2, &[2])]);
    let n = older.len();
    older[n - 1] ^= 1; // record 2 corrupt: the segment is quarantined, record 1 still replays
    std::fs::write(dir.join(wal_segment_name(1)), &older).unwrap();
    let mut last = segment(&[(3, &[3]), (4, &[4])]);
    last.truncate(last.len() - 3); // torn write of record 4
    std::fs::write(dir.join(wal_segment_name(3)), &last).unwrap();

    let replay = super::replay(&dir, true).unwrap();
    let seen: Vec<u64> = replay.records.iter().map(|r| r.sequence).collect();
    assert_eq!(seen, vec![1, 3]);
    assert_eq!(replay.quarantined.len(), 1);
    assert!(replay.quarantined[0].starts_with(data.path().join("wal").join("quarantine")));
    let intact = segment(&[(3, &[3])]).len() as u64;
    assert_eq!(replay.truncated_bytes, last.len() as u64 - intact);
    assert_eq!(
        std::fs::metadata(dir.join(wal_segment_name(3)))
            .unwrap()
            .len(),
        intact
    );
    assert_eq!(replay.last_sequence, 3);
    // The repaired directory replays the same way, with nothing left to repair.
    let again = super::replay(&dir, true).unwrap();
    assert_eq!(again.records.len(), 1);
    assert_eq!(again.truncated_bytes, 0);
}

#[test]
fn read_only_replay_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    std::fs::create_dir_all(&dir).unwrap();
    let mut torn = segment(&[(1, &[1]), (2, &[2])]);
    torn.truncate(torn.len() - 1);
    std::fs::write(dir.join(wal_segment_name(1)), &torn).unwrap();
    let replay = super::replay(&dir, false).unwrap();
    assert_eq!(replay.records.len(), 1);
    assert_eq!(std::fs::read(dir.join(wal_segment_name(1))).unwrap(), torn);
}

#[test]
fn reading_stops_at_a_record_out_of_sequence() {
    // A reused segment: records 7 and 8 written over a segment that held 2, 3 and 4 (all
    // records here are the same size, so record 4 follows intact).
    let old = segment(&[(2, &[2]), (3, &[3]), (4, &[4])]);
    let new = segment(&[(7, &[7]), (8, &[8])]);
    let mut reused = new.clone();
    reused.extend_from_slice(&old[new.len()..]);
    let read = framing::read_segment(&reused, 7);
    let seen: Vec<u64> = read.records.iter().map(|r| r.sequence).collect();
    assert_eq!(seen, vec![7, 8]);
    assert_eq!(read.valid_len, new.len());
    assert!(
        read.stale_tail,
        "an intact record numbered below the next is old content"
    );
    // Old content that starts mid-record fails its CRC: read as a torn tail.
    let mut torn = new.clone();
    torn.extend_from_slice(&old[new.len() + 3..]);
    let read = framing::read_segment(&torn, 7);
    assert_eq!((read.records.len(), read.valid_len), (2, new.len()));
    assert!(!read.stale_tail);
    // A record numbered past the next one is no old content but damage.
    let skipped = segment(&[(7, &[7]), (9, &[9])]);
    let read = framing::read_segment(&skipped, 7);
    assert_eq!(read.records.len(), 1);
    assert!(!read.stale_tail);
    // And the segment's first record must be the one its name gives.
    assert!(framing::read_segment(&new, 6).records.is_empty());
}

#[test]
fn replay_cuts_a_reused_segments_old_tail_without_calling_it_torn() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(wal_segment_name(1)),
        segment(&[(1, &[1]), (2, &[2])]),
    )
    .unwrap();
    // Segment 3 reuses a file that held records 1 to 4 of an earlier segment.
    let mut reused = segment(&[(3, &[3])]);
    let written = reused.len() as u64;
    let old = segment(&[(1, &[1]), (2, &[2]), (3, &[30]), (4, &[40])]);
    let second = segment(&[(1, &[1])]).len();
    reused.extend_from_slice(&old[second..]);
    std::fs::write(dir.join(wal_segment_name(3)), &reused).unwrap();

    let read_only = super::replay(&dir, false).unwrap();
    let seen: Vec<u64> = read_only.records.iter().map(|r| r.sequence).collect();
    assert_eq!(seen, vec![1, 2, 3]);
    assert_eq!(
        std::fs::read(dir.join(wal_segment_name(3))).unwrap(),
        reused,
        "a read-only replay changes nothing"
    );
    let replay = super::replay(&dir, true).unwrap();
    let seen: Vec<(u64, Vec<i64>)> = replay
        .records
        .iter()
        .map(|r| (r.sequence, values(r)))
        .collect();
    assert_eq!(seen, vec![(1, vec![1]), (2, vec![2]), (3, vec![3])]);
    assert_eq!(replay.truncated_bytes, 0, "old records are no torn write");
    assert!(replay.quarantined.is_empty());
    assert_eq!(replay.last_sequence, 3);
    assert_eq!(
        std::fs::metadata(dir.join(wal_segment_name(3)))
            .unwrap()
            .len(),
        written,
        "the old tail is cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_segments_are_reused_and_replay_reads_only_new_records() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    // Only removed segments as spares here: `wal/prepare/tests.rs` has the prepared ones.
    let config = WalConfig {
        segment_bytes: 600,
        prepare_segments: false,
        ..WalConfig::default()
    };
    let wal: Wal = Wal::open(&dir, config.clone(), 1, Vec::new(), Box::new(|_, _| {})).unwrap();
    let names = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    // Records 1..=12, one per group: several segments of about 600 bytes.
    for i in 1..=12 {
        assert_eq!(
            wal.append(vec![(Table::Spans, batch(&[i]))]).await.unwrap(),
            i as u64
        );
    }
    assert!(wal.closed_segments() >= 3);
    wal.remove_through(12).unwrap();
    let spares: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.starts_with("spare-"))
        .collect();
    assert_eq!(
        spares.len(),
        2,
        "two removed segments kept as spares: {spares:?}"
    );
    // Rotations now write over the spares instead of creating files.
    for i in 13..=20 {
        wal.append(vec![(Table::Spans, batch(&[i * 10]))])
            .await
            .unwrap();
    }
    assert!(
        names(&dir).iter().all(|n| !n.starts_with("spare-")),
        "both spares reused: {:?}",
        names(&dir)
    );
    // Read as after a crash now (the active segment may hold old records past its
    // last one): every record after 12, once, nothing torn or quarantined.
    let copy = data.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for name in names(&dir) {
        std::fs::copy(dir.join(&name), copy.join(&name)).unwrap();
    }
    let replay = super::replay(&copy, true).unwrap();
    let after: Vec<(u64, Vec<i64>)> = replay
        .records
        .iter()
        .filter(|r| r.sequence > 12)
        .map(|r| (r.sequence, values(r)))
        .collect();
    assert_eq!(
        after,
        (13..=20)
            .map(|i| (i as u64, vec![i * 10]))
            .collect::<Vec<_>>()
    );
    assert_eq!(replay.truncated_bytes, 0);
    assert!(replay.quarantined.is_empty());
    assert_eq!(replay.last_sequence, 20);
    // A clean stop: the final removal deletes the segments and every spare.
    wal.close();
    wal.remove_through(20).unwrap();
    assert!(names(&dir).is_empty(), "left: {:?}", names(&dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_durable_in_order_and_survive_reopen() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    let (seen_tx, seen_rx) = mpsc::channel();
    let on_durable: writer::OnDurable = Box::new(move |seq, _| seen_tx.send(seq).unwrap());
    // Tiny segments so that rotation and removal are exercised.
    let config = WalConfig {
        segment_bytes: 600,
        ..WalConfig::default()
    };
    let wal: Arc<Wal> = Arc::new(Wal::open(&dir, config, 1, Vec::new(), on_durable).unwrap());
    // One at a time first (each its own group commit, so segments rotate), then a
    // concurrent burst that the writer groups into fewer records.
    let mut sequences = Vec::new();
    for i in 0..20 {
        sequences.push(wal.append(vec![(Table::Spans, batch(&[i]))]).await.unwrap());
    }
    assert_eq!(sequences, (1..=20).collect::<Vec<_>>());
    let tasks: Vec<_> = (20..40)
        .map(|i| {
            let wal = wal.clone();
            tokio::spawn(
                async move { wal.append(vec![(Table::Spans, batch(&[i]))]).await.unwrap() },
            )
        })
        .collect();
    for t in tasks {
        sequences.push(t.await.unwrap());
    }
    sequences.sort();
    sequences.dedup();
    let last = *sequences.last().unwrap();
    assert_eq!(
        sequences,
        (1..=last).collect::<Vec<_>>(),
        "records are numbered without gaps"
    );
    let callbacks: Vec<u64> = seen_rx.try_iter().collect();
    assert_eq!(
        callbacks, sequences,
        "on_durable runs once per record, in order"
    );
    assert!(wal.closed_segments() > 0);
    let removed = wal.remove_through(20).unwrap();
    assert!(removed > 0);
    wal.close();
    assert!(matches!(
        wal.append(vec![(Table::Spans, batch(&[0]))]).await,
        Err(Error::Closed)
    ));

    let replay = super::replay(&dir, true).unwrap();
    let mut values_seen: Vec<i64> = replay
        .records
        .iter()
        .filter(|r| r.sequence > 20)
        .flat_map(values)
        .collect();
    values_seen.sort();
    assert_eq!(
        values_seen,
        (20..40).collect::<Vec<_>>(),
        "every append after the removed records is replayed, once"
    );
    assert_eq!(replay.last_sequence, last);
}

#[test]
fn a_group_becomes_one_batch_per_table_in_table_order() {
    let appended = vec![
        (Table::Spans, batch(&[1, 2])),
        (Table::Scores, batch(&[7])),
        (Table::Spans, batch(&[3])),
        (Table::Spans, batch(&[4, 5])),
    ];
    let joined = writer::coalesce(appended.into_iter()).unwrap();
    let tables: Vec<Table> = joined.iter().map(|(t, _)| *t).collect();
    assert_eq!(tables, vec![Table::Spans, Table::Scores]);
    assert_eq!(
        values(&WalRecord {
            sequence: 1,
            batches: joined[..1].to_vec()
        }),
        vec![1, 2, 3, 4, 5],
        "the spans of three appends, in arrival order"
    );
    assert_eq!(joined[1].1.num_rows(), 1, "a lone batch is kept as it is");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_empty_segment_with_the_next_name_is_never_removed_as_closed() {
    // A run that replays to sequence 3 and stops without writing leaves segment 4 empty;
    // the next run starts segment 4 again and must not list it as closed.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(wal_segment_name(1)),
        segment(&[(1, &[1]), (2, &[2]), (3, &[3])]),
    )
    .unwrap();
    std::fs::write(dir.join(wal_segment_name(4)), framing::segment_header()).unwrap();
    let replay = super::replay(&dir, true).unwrap();
    assert_eq!(replay.last_sequence, 3);
    let wal: Wal = Wal::open(
        &dir,
        WalConfig::default(),
        4,
        replay.segments,
        Box::new(|_, _| {}),
    )
    .unwrap();
    assert_eq!(
        wal.append(vec![(Table::Spans, batch(&[4]))]).await.unwrap(),
        4
    );
    assert_eq!(
        wal.remove_through(4).unwrap(),
        1,
        "only segment 1 is closed"
    );
    wal.close();
    let replay = super::replay(&dir, true).unwrap();
    assert_eq!(
        replay
            .records
            .iter()
            .map(|r| r.sequence)
            .collect::<Vec<_>>(),
        vec![4]
    );
}

/// A record of an older version holds an `audit` batch without `node`: it decodes into
/// the current schema, `node` null. Batches of the current schema come back as they were.
#[test]
fn an_older_records_batch_decodes_with_the_new_nullable_columns_null() {
    use arrow::array::{Array, ArrayRef, StringArray, TimestampNanosecondArray};

    let current = Table::Audit.schema();
    let node = schemas::tables::audit_columns::NODE;
    let old = Arc::new(Schema::new(
        current
            .fields()
            .iter()
            .filter(|f| f.name() != node)
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = old
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.data_type() {
                DataType::Int64 => Arc::new(Int64Array::from(vec![1, 2])),
                DataType::Utf8 => Arc::new(StringArray::from(vec!["a", "b"])),
                _ => Arc::new(TimestampNanosecondArray::from(vec![5, 6]).with_timezone("UTC")),
            }
        })
        .collect();
    let old_batch = RecordBatch::try_new(old, columns).unwrap();
    let spans = RecordBatch::new_empty(Table::Spans.schema());
    let payload = encode_payload(&[
        (Table::Audit, old_batch.clone()),
        (Table::Spans, spans.clone()),
    ])
    .unwrap();
    let decoded = decode_payload(&payload).unwrap();
    let audit = &decoded[0].1;
    assert_eq!(audit.schema(), current);
    assert_eq!(audit.column_by_name(node).unwrap().null_count(), 2);
    for field in old_batch.schema().fields() {
        assert_eq!(
            audit.column_by_name(field.name()).unwrap(),
            old_batch.column_by_name(field.name()).unwrap()
        );
    }
    assert_eq!(decoded[1].1, spans);
    // A batch that is not an older form of its table's schema is left alone.
    let other =
        decode_payload(&encode_payload(&[(Table::Audit, batch(&[1, 2]))]).unwrap()).unwrap();
    assert_eq!(
        values(&WalRecord {
            sequence: 1,
            batches: other
        }),
        vec![1, 2]
    );
}

#[test]
fn a_record_sealed_in_place_is_the_record_frame_writes() {
    // The writer encodes the payload after room kept for the header and writes the header
    // once the sequence is known; the bytes must be those of `frame`, which replay reads.
    let batches = [(Table::Spans, batch(&[5, 6])), (Table::Scores, batch(&[7]))];
    let mut framed = Vec::new();
    framing::frame(&mut framed, 42, &encode_payload(&batches).unwrap());
    let mut record = vec![0xAB; 3];
    framing::unsealed_record(&mut record);
    framing::encode_payload_into(&mut record, &batches).unwrap();
    framing::seal(&mut record, 42);
    assert_eq!(record, framed);
    // The header's CRC is CRC32C(sequence ‖ payload), as records of earlier versions have it.
    let mut covered = 42u64.to_le_bytes().to_vec();
    covered.extend_from_slice(&record[HEADER_LEN..]);
    assert_eq!(record[4..8], crc32c::crc32c(&covered).to_le_bytes());
    let mut bytes = framing::segment_header().to_vec();
    bytes.extend_from_slice(&record);
    let read = framing::read_segment(&bytes, 42);
    assert_eq!(read.valid_len, bytes.len());
    assert_eq!(read.records[0].sequence, 42);
    assert_eq!(values(&read.records[0]), vec![5, 6, 7]);
}

/// Test rows: values appended under the group's lock, finished into one `spans` batch of
/// the test schema.
#[derive(Default)]
struct Values(Vec<i64>);

impl GroupRows for Values {
    type Sizes = usize;

    fn with_sizes(sizes: usize) -> Self {
        Values(Vec::with_capacity(sizes))
    }

    fn sizes(&self) -> usize {
        self.0.len()
    }

    fn finish(self) -> Result<Vec<(Table, RecordBatch)>> {
        Ok(if self.0.is_empty() {
            Vec::new()
        } else {
            vec![(Table::Spans, batch(&self.0))]
        })
    }
}

/// A WAL whose writer stops in the callback of record 1 until `release` is sent, so that
/// the appends made meanwhile wait, deterministically, in one group.
fn held_wal(
    dir: &std::path::Path,
    config: WalConfig,
) -> (Wal<Values>, mpsc::Receiver<u64>, mpsc::Sender<()>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let on_durable: writer::OnDurable = Box::new(move |seq, _| {
        entered_tx.send(seq).unwrap();
        if seq == 1 {
            release_rx.recv().unwrap();
        }
    });
    let wal = Wal::open(dir, config, 1, Vec::new(), on_durable).unwrap();
    (wal, entered, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_while_the_writer_is_busy_share_one_set_of_rows_and_one_record() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    let (wal, entered, release) = held_wal(&dir, WalConfig::default());
    let first = wal.append_rows(8, |v| v.0.push(0), Vec::new()).unwrap();
    assert_eq!(entered.recv().unwrap(), 1, "the writer holds record 1");
    let waiting: Vec<_> = (1..=3)
        .map(|i| {
            wal.append_rows(8, |v| v.0.extend([i * 10, i * 10 + 1]), Vec::new())
                .unwrap()
        })
        .collect();
    // A ready batch (the scores API, drift rows) joins the same group.
    let batch_append = wal
        .append_rows(8, |_| {}, vec![(Table::Scores, batch(&[99]))])
        .unwrap();
    assert_eq!(wal.waiting(), 4);
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    for w in waiting {
        assert_eq!(
            w.await.unwrap(),
            2,
            "every waiter of the group gets its record"
        );
    }
    assert_eq!(batch_append.await.unwrap(), 2);
    assert_eq!(wal.waiting(), 0);
    wal.close();

    let replay = super::replay(&dir, true).unwrap();
    assert_eq!(replay.records.len(), 2);
    let record = &replay.records[1];
    assert_eq!(record.sequence, 2);
    let tables: Vec<Table> = record.batches.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        tables,
        vec![Table::Spans, Table::Scores],
        "one batch per table"
    );
    assert_eq!(
        values(&WalRecord {
            sequence: 2,
            batches: record.batches[..1].to_vec(),
        }),
        vec![10, 11, 20, 21, 30, 31],
        "the three appends' rows, in arrival order, in one batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_queue_depth_an_append_is_refused_without_touching_the_group() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    let config = WalConfig {
        queue_depth: 2,
        ..WalConfig::default()
    };
    let (wal, entered, release) = held_wal(&dir, config);
    let first = wal.append_rows(8, |v| v.0.push(1), Vec::new()).unwrap();
    entered.recv().unwrap();
    let a = wal.append_rows(8, |v| v.0.push(2), Vec::new()).unwrap();
    let b = wal.append_rows(8, |v| v.0.push(3), Vec::new()).unwrap();
    let refused = wal.append_rows(8, |_| panic!("fill of a refused append ran"), Vec::new());
    assert!(matches!(refused, Err(Error::Overloaded(_))));
    release.send(()).unwrap();
    assert_eq!(
        (first.await.unwrap(), a.await.unwrap(), b.await.unwrap()),
        (1, 2, 2)
    );
    wal.close();
    let replay = super::replay(&dir, true).unwrap();
    assert_eq!(values(&replay.records[1]), vec![2, 3]);
}

/// A size-limited tmpfs (as `tests/e2e/full_disk.rs` mounts), unmounted on drop.
pub(super) struct SmallDisk(pub(super) tempfile::TempDir);

impl SmallDisk {
    pub(super) fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs failed: this test needs root (CAP_SYS_ADMIN), as CI has"
        );
        SmallDisk(dir)
    }

    /// Fills the disk to the last byte with one file, whose path it returns (removing it
    /// frees the space again).
    pub(super) fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.0.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        for chunk in [1 << 16, 4096, 1] {
            let block = vec![0xA5u8; chunk];
            while file.write_all(&block).is_ok() {}
        }
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_fails_every_waiter_of_its_group_and_stores_none_of_it() {
    let disk = SmallDisk::mount("1m");
    let dir = disk.0.path().join("wal");
    let (wal, entered, release) = held_wal(&dir, WalConfig::default());
    let first = wal.append_rows(8, |v| v.0.push(0), Vec::new()).unwrap();
    assert_eq!(entered.recv().unwrap(), 1);
    // Three appends of 4,000 values each (more than the page the segment has left).
    let group: Vec<_> = (1..=3i64)
        .map(|i| {
            wal.append_rows(
                32_000,
                |v| v.0.extend(i * 10_000..i * 10_000 + 4_000),
                Vec::new(),
            )
            .unwrap()
        })
        .collect();
    // Fill the disk while the writer waits, then let it write the group.
    let filler = disk.fill();
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    for append in group {
        match append.await {
            Err(Error::Failed(message)) => assert!(message.contains("disk full"), "{message}"),
            other => panic!("a waiter of the failed group got {other:?}"),
        }
    }
    assert!(wal.fault().is_some_and(|f| f.no_space));
    // Space again: the next append takes the next sequence, and nothing of the failed
    // group is in the log.
    std::fs::remove_file(&filler).unwrap();
    let after = wal.append_rows(8, |v| v.0.push(7), Vec::new()).unwrap();
    assert_eq!(after.await.unwrap(), 2);
    assert!(wal.fault().is_none());
    wal.close();
    let replay = super::replay(&dir, true).unwrap();
    let stored: Vec<Vec<i64>> = replay.records.iter().map(values).collect();
    assert_eq!(stored, vec![vec![0], vec![7]]);
    assert_eq!(replay.truncated_bytes, 0, "the failed record was cut back");
}
