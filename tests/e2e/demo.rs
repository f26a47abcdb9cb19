//! `vigil demo` end to end, as a newcomer runs it (no config, a temporary data
//! directory) but on free ports and with `--json` event lines on stdout: within three
//! minutes the built-in rollback hook receives a signed alert about the drifting agent
//! (the demo emits its `webhook` event only after the signature verified) and says which
//! rollback it would perform, `GET /api/v1/alerts` lists the alert as firing, the
//! overview page shows it firing, and SIGINT
//! stops everything with exit 0 and the temporary directory deleted.
//!
//! Every wait is on a line the demo prints (readiness, the webhook, the stop), with a
//! deadline.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::binary;

/// SPEC §2 and issue 11: data, drift and an alert within this.
const ALERT_DEADLINE: Duration = Duration::from_secs(180);

/// Waits for the next event line whose `event` is `name`, returning it and the events
/// passed over on the way.
fn next_event(
    events: &mpsc::Receiver<Value>,
    name: &str,
    deadline: Instant,
    seen: &mut Vec<Value>,
) -> Value {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if event["event"] == name => return event,
            Ok(event) => seen.push(event),
            Err(e) => panic!("no {name:?} event ({e}); events so far: {seen:#?}"),
        }
    }
}

/// The demo process, killed if the test fails before it stopped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_pages_its_rollback_hook_about_the_drifting_agent_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Running(
        Command::new(binary())
            .args(["demo", "--json"])
            .args([
                "--http-addr",
                "127.0.0.1:0",
                "--otlp-http-addr",
                "127.0.0.1:0",
            ])
            .args([
                "--otlp-grpc-addr",
                "127.0.0.1:0",
                "--pg-addr",
                "127.0.0.1:0",
            ])
            // The temporary data directory goes under the test's own, deleted either way.
            .env("TMPDIR", tmp.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil demo"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if std::env::var_os("VIGIL_TEST_LOG").is_some() {
                eprintln!("[vigil demo] {line}");
            }
        }
    });
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON event line ({e}): {line}"));
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = started + ALERT_DEADLINE;

    let ready = next_event(&events, "ready", deadline, &mut seen);
    let http = ready["http"].as_str().unwrap().to_owned();
    assert_eq!(ready["dashboard"], format!("http://{http}/"));
    assert_eq!(ready["temporary"], true);
    let data_dir = std::path::PathBuf::from(ready["data_dir"].as_str().unwrap());
    assert!(data_dir.starts_with(tmp.path()), "{data_dir:?}");
    assert!(data_dir.is_dir());

    let backfilled = next_event(&events, "backfilled", deadline, &mut seen);
    assert_eq!(backfilled["windows"], 30);
    assert!(backfilled["transactions"].as_u64().unwrap() > 3_000);

    // The first notification about the drifting agent, its signature verified.
    let webhook = loop {
        let webhook = next_event(&events, "webhook", deadline, &mut seen);
        assert_eq!(webhook["verified"], true);
        if webhook["status"] == "firing" {
            break webhook;
        }
    };
    let alerted_after = started.elapsed();
    let alerts = webhook["alerts"].as_array().unwrap();
    assert!(!alerts.is_empty());
    for alert in alerts {
        assert_eq!(alert["series"], "billing", "{webhook:#}");
        let monitor = alert["monitor"].as_str().unwrap();
        assert_eq!(
            alert["dashboard_url"],
            format!("http://{http}/monitors/{monitor}?series=billing")
        );
    }
    let rollback = next_event(&events, "rollback", deadline, &mut seen);
    assert_eq!(rollback["agent"], "billing");
    assert_eq!(rollback["from"], "v42");
    assert_eq!(rollback["to"], "v41");
    assert!(
        seen.iter()
            .any(|e| e["event"] == "deployed" && e["agent"] == "billing"),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|e| e["event"] == "rejected"),
        "a delivery failed verification: {seen:#?}"
    );

    // The API shows it firing, and only the drifting agent alerts.
    let body: Value = reqwest::blocking::get(format!("http://{http}/api/v1/alerts"))
        .unwrap()
        .json()
        .unwrap();
    let listed = body["alerts"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|a| a["state"] == "firing" && a["labels"]["agent_name"] == "billing"),
        "{body:#}"
    );
    for alert in listed {
        assert_eq!(alert["labels"]["agent_name"], "billing", "{body:#}");
    }

    // The overview (the demo's dashboard URL) shows billing firing, in words.
    let overview = reqwest::blocking::get(ready["dashboard"].as_str().unwrap())
        .unwrap()
        .text()
        .unwrap();
    assert!(
        overview.contains(r#"data-series="billing" data-state="firing""#),
        "{overview}"
    );
    assert!(
        !overview.contains(r#"data-series="refunds" data-state="firing""#),
        "{overview}"
    );

    // Ctrl-C: the fleet stops, then the daemon, then the hook; exit 0.
    let status = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stop_deadline = Instant::now() + Duration::from_secs(60);
    next_event(&events, "stopping", stop_deadline, &mut seen);
    next_event(&events, "stopped", stop_deadline, &mut seen);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "vigil demo exited with {status}");
    assert!(!data_dir.exists(), "{data_dir:?} was not deleted");
    eprintln!(
        "vigil demo: alert at the hook after {:.0} s, stopped after {:.0} s",
        alerted_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
