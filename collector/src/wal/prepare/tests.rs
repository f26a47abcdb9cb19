use std::path::Path;
use std::time::{Duration, Instant};

use schemas::paths::{WAL_PREPARING_NAME, wal_prepared_spare_name, wal_segment_name};
use schemas::tables::Table;

use crate::wal::tests::{SmallDisk, batch, segment, values};
use crate::wal::{Wal, WalConfig, framing, replay};

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "quarantine")
        .collect();
    names.sort();
    names
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Waits until `ready` holds for the directory: the preparer is a thread of its own, and
/// its file appearing is the signal.
fn wait_for(dir: &Path, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let names = names(dir);
        if ready(&names) {
            return names;
        }
        assert!(Instant::now() < deadline, "still {names:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn zeros_to_the_end_are_a_prepared_tail_and_zeros_before_data_are_damage() {
    let records = segment(&[(1, &[10]), (2, &[20])]);
    let mut prepared = records.clone();
    prepared.resize(records.len() + 4096, 0);
    let read = framing::read_segment(&prepared, 1);
    assert_eq!(read.records.len(), 2);
    assert_eq!(read.valid_len, records.len());
    assert!(
        read.stale_tail,
        "the zeros of a prepared segment are no torn write"
    );

    // A zeroed block with a record after it is damage, as it always was.
    let first_end = segment(&[(1, &[10])]).len();
    let mut damaged = segment(&[(1, &[10])]);
    damaged.resize(first_end + 64, 0);
    damaged.extend_from_slice(&records[first_end..]);
    let read = framing::read_segment(&damaged, 1);
    assert_eq!((read.records.len(), read.valid_len), (1, first_end));
    assert!(!read.stale_tail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_zero_filled_ahead_and_replay_cuts_the_zeros_without_calling_them_torn() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wal");
    let config = WalConfig {
        segment_bytes: 64 << 10,
        ..WalConfig::default()
    };
    // What a crash left in the middle of a preparation.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(WAL_PREPARING_NAME), [0u8; 100]).unwrap();
    let wal: Wal = Wal::open(&dir, config.clone(), 1, Vec::new(), Box::new(|_, _| {})).unwrap();
    // The first segment was prepared before the first record: as long as a segment, zeros
    // past its magic. The half-written file is gone.
    let first = dir.join(wal_segment_name(1));
    assert_eq!(names(&dir), vec![wal_segment_name(1)]);
    assert_eq!(len(&first), config.segment_bytes);

    // Records until the segment is half full: the next one is prepared beside it.
    let mut sequence = 0;
    while len_of_records(&first) < config.segment_bytes / 2 {
        sequence = wal
            .append(vec![(Table::Spans, batch(&[sequence as i64 + 1; 256]))])
            .await
            .unwrap();
    }
    let prepared = wal_prepared_spare_name(0);
    wait_for(&dir, |names| names.contains(&prepared));
    assert_eq!(len(&dir.join(&prepared)), config.segment_bytes);
    assert_eq!(
        len(&first),
        config.segment_bytes,
        "records write over the zeros"
    );

    // A crash now: replay reads every record and cuts the zeros, nothing torn.
    let copy = data.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(&first, copy.join(wal_segment_name(1))).unwrap();
    let read = replay(&copy, true).unwrap();
    assert_eq!(read.last_sequence, sequence);
    assert_eq!(read.records.len() as u64, sequence);
    assert_eq!(read.truncated_bytes, 0);
    assert!(read.quarantined.is_empty());
    assert!(len(&copy.join(wal_segment_name(1))) < config.segment_bytes);

    // On until the rotation: the next segment is the prepared file, renamed.
    while names(&dir).contains(&prepared) {
        sequence = wal
            .append(vec![(Table::Spans, batch(&[sequence as i64 + 1; 256]))])
            .await
            .unwrap();
    }
    let rotated = wait_for(&dir, |names| names.len() >= 2);
    let second = rotated
        .iter()
        .find(|n| n.ends_with(".wal") && **n != wal_segment_name(1) && !n.starts_with("spare-"))
        .expect("a second segment");
    assert_eq!(len(&dir.join(second)), config.segment_bytes);
    assert_eq!(
        len(&first),
        len_of_records(&first),
        "a closed segment ends at its last record"
    );

    // A clean stop leaves nothing, prepared spares included.
    wal.close();
    wal.remove_through(sequence).unwrap();
    assert!(names(&dir).is_empty(), "left: {:?}", names(&dir));
    let read = replay(&dir, true).unwrap();
    assert!(read.records.is_empty());
}

/// The bytes of `path` up to the end of its records (what replay reads as intact).
fn len_of_records(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let read = framing::read_segment(&bytes, 1);
    read.valid_len as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_nearly_full_disk_no_segment_is_prepared() {
    let disk = SmallDisk::mount("1m");
    let dir = disk.0.path().join("wal");
    let config = WalConfig {
        segment_bytes: 512 << 10,
        ..WalConfig::default()
    };
    let wal: Wal = Wal::open(&dir, config, 1, Vec::new(), Box::new(|_, _| {})).unwrap();
    let first = dir.join(wal_segment_name(1));
    assert_eq!(
        len(&first),
        framing::segment_header().len() as u64,
        "no zeros: 1 MiB holds less than three 512 KiB segments"
    );
    let sequence = wal.append(vec![(Table::Spans, batch(&[7]))]).await.unwrap();
    wal.close();
    assert_eq!(names(&dir), vec![wal_segment_name(1)]);
    let read = replay(&dir, true).unwrap();
    assert_eq!(
        read.records.iter().map(values).collect::<Vec<_>>(),
        vec![vec![7]]
    );
    assert_eq!(read.last_sequence, sequence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_disk_records_go_on_into_the_prepared_segment_until_it_is_full() {
    let disk = SmallDisk::mount("4m");
    let dir = disk.0.path().join("wal");
    let config = WalConfig {
        segment_bytes: 1 << 20,
        ..WalConfig::default()
    };
    let wal: Wal = Wal::open(&dir, config.clone(), 1, Vec::new(), Box::new(|_, _| {})).unwrap();
    let first = dir.join(wal_segment_name(1));
    assert_eq!(
        len(&first),
        config.segment_bytes,
        "4 MiB has room to prepare"
    );

    // The disk fills to the last byte.
    let filler = disk.fill();

    // Records are still acknowledged while they fit in the prepared segment's zeros (and
    // there is no room to prepare another); past it, the disk is full.
    let mut acknowledged = Vec::new();
    let refusal = loop {
        let value = acknowledged.len() as i64 + 1;
        match wal
            .append(vec![(Table::Spans, batch(&[value; 2048]))])
            .await
        {
            Ok(sequence) => acknowledged.push((sequence, value)),
            Err(e) => break e,
        }
        assert!(
            acknowledged.len() < 1_000,
            "the disk never refused a record"
        );
    };
    assert!(
        matches!(&refusal, crate::error::Error::Failed(m) if m.contains("disk full")),
        "{refusal:?}"
    );
    let in_zeros = acknowledged.len();
    assert!(
        len_of_records(&first) > config.segment_bytes - (32 << 10),
        "the records filled the prepared segment ({in_zeros} of them)"
    );
    assert!(!names(&dir).iter().any(|n| n.starts_with("spare-")));

    // Room again: the next record is acknowledged, and replay has every acknowledged
    // record and nothing of the refused one.
    std::fs::remove_file(&filler).unwrap();
    let value = in_zeros as i64 + 1_000;
    let sequence = wal
        .append(vec![(Table::Spans, batch(&[value; 2048]))])
        .await
        .unwrap();
    acknowledged.push((sequence, value));
    wal.close();
    let read = replay(&dir, true).unwrap();
    let stored: Vec<(u64, i64)> = read
        .records
        .iter()
        .map(|r| (r.sequence, values(r)[0]))
        .collect();
    assert_eq!(stored, acknowledged);
    assert_eq!(read.truncated_bytes, 0);
}
