//! `[retention]` with back-dated data: spans over OTLP/HTTP, scores over the API and
//! metric points over OTLP/JSON, five days of each, under a two-day limit. The expired
//! days go (rows and files), the younger ones stay to the row, and after `kill -9` and a
//! restart (WAL replay) nothing comes back; `check-config` reads what is left.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::daemon::{Daemon, binary};
use crate::otlp;

const DAY_NS: i64 = 86_400_000_000_000;

/// Days before today the data is dated: 5 and 3 expire under a two-day limit (day
/// `today - 3` ends at `today - 2` midnight, two days before today's midnight), 2, 1 and 0
/// stay.
const AGES: [i64; 5] = [5, 3, 2, 1, 0];

fn config(data: &Path) -> String {
    format!(
        "data_dir = {:?}\n\
         [storage]\nflush_interval = \"1s\"\ncompact_interval = \"1s\"\nvacuum_retention = \"0s\"\n\
         [retention]\nspans = \"2d\"\nscores = \"2d\"\nmetrics = \"2d\"\ninterval = \"1s\"\n",
        data.display().to_string()
    )
}

/// Sends, in one request per table (so each day's rows arrive together), two spans, a
/// score and a metric point dated `age` days before `now` for every age.
fn send(daemon: &Daemon, now: i64) {
    let mut spans = Vec::new();
    for (i, age) in AGES.iter().enumerate() {
        let start = (now - age * DAY_NS) as u64;
        spans.extend(
            otlp::agent_trace(&otlp::trace_id(7, i as u64), start)
                .into_iter()
                .take(2),
        );
    }
    daemon.export("retention", spans);

    let scores: Vec<Value> = AGES
        .iter()
        .enumerate()
        .map(|(i, age)| {
            let time = DateTime::from_timestamp_nanos(now - age * DAY_NS);
            json!({"trace_id": hex::encode(otlp::trace_id(7, i as u64)), "name": "thumbs",
                   "value": 1.0, "time": time.to_rfc3339()})
        })
        .collect();
    let response = daemon
        .http
        .post(daemon.api("/api/v1/scores"))
        .json(&scores)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);

    let points: Vec<Value> = AGES
        .iter()
        .map(|age| json!({"timeUnixNano": (now - age * DAY_NS).to_string(), "asDouble": *age as f64}))
        .collect();
    let body = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "queue.size", "gauge": {"dataPoints": points}}]}]}]});
    let response = daemon
        .http
        .post(daemon.otlp("/v1/metrics"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The value of a `/metrics` sample (`name{labels}`), if present.
fn sample(daemon: &Daemon, series: &str) -> Option<f64> {
    let text = daemon
        .http
        .get(daemon.api("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `/metrics` until `done` holds (the job runs every second; no event says when).
fn wait_for(daemon: &Daemon, what: &str, done: impl Fn(&Daemon) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(daemon) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn deleted(daemon: &Daemon, table: &str) -> Option<f64> {
    sample(
        daemon,
        &format!("vigil_retention_partitions_deleted_total{{table=\"{table}\"}}"),
    )
}

/// Rows per `date` of `table`, oldest first.
fn days(daemon: &Daemon, table: &str) -> Vec<(String, i64)> {
    daemon
        .rows(&format!(
            "SELECT date, count(*) FROM {table} GROUP BY date ORDER BY date"
        ))
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_i64().unwrap()))
        .collect()
}

fn parquet_files(data: &Path, table: &str, date: &str) -> usize {
    std::fs::read_dir(data.join("tables").join(table).join(format!("date={date}"))).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "parquet")
        })
        .count()
    })
}

#[test]
fn expired_days_are_dropped_with_their_files_and_stay_gone_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(&data);
    let now = Utc::now();
    let date = |age: i64| {
        (now - chrono::Duration::days(age))
            .format("%Y-%m-%d")
            .to_string()
    };
    let (kept, gone): (Vec<i64>, Vec<i64>) = AGES.iter().partition(|age| **age < 3);

    let daemon = Daemon::start(&data, Some(&config));
    send(&daemon, now.timestamp_nanos_opt().unwrap());
    for table in ["spans", "scores", "metrics"] {
        wait_for(&daemon, table, |d| {
            deleted(d, table) == Some(gone.len() as f64)
        });
    }
    let expected = |per_day: i64| -> Vec<(String, i64)> {
        let mut days: Vec<_> = kept.iter().map(|age| (date(*age), per_day)).collect();
        days.sort();
        days
    };
    let check = |daemon: &Daemon| {
        assert_eq!(days(daemon, "spans"), expected(2));
        assert_eq!(days(daemon, "scores"), expected(1));
        assert_eq!(days(daemon, "metrics"), expected(1));
        assert_eq!(
            daemon.count("SELECT count(*) FROM spans WHERE time < now() - INTERVAL '3' DAY"),
            0
        );
    };
    check(&daemon);
    for (table, rows) in [("spans", 4.0), ("scores", 2.0), ("metrics", 2.0)] {
        let series = format!("vigil_retention_rows_deleted_total{{table=\"{table}\"}}");
        assert_eq!(sample(&daemon, &series), Some(rows), "{series}");
    }
    let bytes = sample(
        &daemon,
        "vigil_retention_bytes_deleted_total{table=\"spans\"}",
    )
    .unwrap();
    assert!(bytes > 0.0, "{bytes}");
    // The removed files leave the disk at the next vacuum (vacuum_retention 0s).
    wait_for(&daemon, "the vacuum", |_| {
        gone.iter().all(|age| {
            ["spans", "scores", "metrics"]
                .iter()
                .all(|t| parquet_files(&data, t, &date(*age)) == 0)
        })
    });
    for age in &kept {
        assert!(
            parquet_files(&data, "spans", &date(*age)) > 0,
            "day -{age} is on disk"
        );
    }

    // A hard stop, and a start that replays the WAL: nothing expired comes back, so the
    // new process's first runs find nothing to delete.
    daemon.kill9();
    let daemon = Daemon::start(&data, Some(&config));
    check(&daemon);
    wait_for(&daemon, "a run after the restart", |d| {
        sample(d, "vigil_retention_last_run_timestamp_seconds").is_some()
    });
    for table in ["spans", "scores", "metrics"] {
        assert_eq!(deleted(&daemon, table), Some(0.0), "{table}");
    }
    check(&daemon);

    // check-config reads the same data directory (read-only, the daemon running).
    let path = dir.path().join("check.toml");
    std::fs::write(&path, &config).unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let next = expires_line(&date(2));
    for table in ["spans", "scores", "metrics"] {
        let line = format!("  {table}: 2days; next: {} ", date(2));
        assert!(text.contains(&line), "{line:?} in\n{text}");
    }
    assert!(text.contains(&next), "{next:?} in\n{text}");
    assert!(text.contains("  audit: forever; oldest day "), "{text}");
    assert!(daemon.terminate().success());
}

/// When the day `date` expires under two days: the midnight after it, plus two days.
fn expires_line(date: &str) -> String {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let at = (day + chrono::Duration::days(3))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    format!("at {}", at.format("%Y-%m-%dT%H:%M:%SZ"))
}
