//! SIGKILL during concurrent load, at several moments: after each restart every
//! acknowledged span is present exactly once (SPEC §3). The WAL segments those runs write
//! into are zero-filled ahead of need, so the kills also leave zeros past the last record.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::daemon::Daemon;
use crate::otlp;

const CLIENTS: u32 = 4;
const TRACES_PER_REQUEST: u64 = 10;

/// Sends until `stop`, returning the hex trace ids the daemon acknowledged with 200.
fn load(
    daemon: &Daemon,
    round: u32,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..CLIENTS)
        .map(|client| {
            let url = daemon.otlp("/v1/traces");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut acked = Vec::new();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<Vec<u8>> = (0..TRACES_PER_REQUEST)
                        .map(|i| otlp::trace_id(round * 100 + client, seq * TRACES_PER_REQUEST + i))
                        .collect();
                    seq += 1;
                    let spans = ids
                        .iter()
                        .flat_map(|id| otlp::agent_trace(id, 1_795_000_000_000_000_000 + seq))
                        .collect();
                    match otlp::post(&http, &url, otlp::encode(&otlp::request("crash", spans))) {
                        Ok(r) if r.status() == 200 => acked.extend(ids.iter().map(hex::encode)),
                        Ok(_) => {}
                        // The daemon died mid-request: not acknowledged, may or may not be stored.
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect()
}

#[test]
fn sigkill_during_load_loses_and_duplicates_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // Frequent flushes so that kills land before, during and after Delta commits.
    let config = "[storage]\nflush_interval = \"150ms\"\n";
    let mut acked: HashSet<String> = HashSet::new();
    for (round, run_for) in [(1u32, 150u64), (2, 700), (3, 1500), (4, 400)] {
        let daemon = Daemon::start(dir.path(), Some(config));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = load(&daemon, round, stop.clone());
        std::thread::sleep(Duration::from_millis(run_for));
        daemon.kill9();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            acked.extend(client.join().unwrap());
        }
        let daemon = Daemon::start(dir.path(), Some(config));
        check(&daemon, &acked, round);
        daemon.kill9();
    }
    assert!(
        acked.len() > 100,
        "the load generated too little to be a test: {}",
        acked.len()
    );
    // A clean stop after all the crashes flushes everything; offline SQL sees the same.
    let daemon = Daemon::start(dir.path(), Some(config));
    check(&daemon, &acked, 99);
    assert!(daemon.terminate().success());
    let output = std::process::Command::new(crate::daemon::binary())
        .args([
            "sql",
            "SELECT count(*) - count(DISTINCT concat(trace_id, span_id)) FROM spans",
            "--format",
            "csv",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().nth(1),
        Some("0")
    );
}

fn check(daemon: &Daemon, acked: &HashSet<String>, round: u32) {
    let rows = daemon.rows(
        "SELECT trace_id, count(*) AS n, count(DISTINCT span_id) AS d FROM spans GROUP BY trace_id",
    );
    let stored: HashMap<String, (i64, i64)> = rows
        .into_iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                (r[1].as_i64().unwrap(), r[2].as_i64().unwrap()),
            )
        })
        .collect();
    for (trace, (n, distinct)) in &stored {
        assert_eq!(
            (*n, *distinct),
            (3, 3),
            "round {round}: trace {trace} stored {n} spans ({distinct} distinct)"
        );
    }
    let missing: Vec<_> = acked.iter().filter(|t| !stored.contains_key(*t)).collect();
    assert!(
        missing.is_empty(),
        "round {round}: {} acknowledged traces lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

/// The names and sizes of the files in the WAL directory.
fn wal_files(data_dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(data_dir.join("wal"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_first_wal_segment_is_zero_filled_before_ready_and_a_clean_stop_empties_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    assert_eq!(
        daemon.metric(r#"vigil_wal_segments_total{start="prepared"}"#),
        Some(1.0)
    );
    let files = wal_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].0.ends_with(".wal") && !files[0].0.starts_with("spare-"));
    assert_eq!(files[0].1, 64 << 20, "a whole segment of zeros");
    assert!(daemon.terminate().success());
    assert_eq!(wal_files(dir.path()), Vec::new());
}
