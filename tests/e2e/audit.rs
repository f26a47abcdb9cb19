//! The audit log: `config.loaded` at every start, chained across restarts, checked by
//! `vigil audit verify` against a server and a data directory, and broken by someone who
//! rewrites the stored Delta table with another tool (the Python `deltalake` package).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::daemon::{Daemon, binary};

const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn verify(args: &[&str]) -> Output {
    Command::new(binary())
        .args(["audit", "verify"])
        .args(args)
        .env_remove("VIGIL_SERVER")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `(seq, actor, action, prev_hash, hash, details)` of every row, in `seq` order.
fn rows(daemon: &Daemon) -> Vec<(i64, String, String, String, String, Value)> {
    daemon
        .rows("SELECT seq, actor, action, prev_hash, hash, details FROM audit ORDER BY seq")
        .into_iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap(),
                r[1].as_str().unwrap().to_owned(),
                r[2].as_str().unwrap().to_owned(),
                r[3].as_str().unwrap().to_owned(),
                r[4].as_str().unwrap().to_owned(),
                serde_json::from_str(r[5].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Starts and stops the daemon once: one more `config.loaded` row.
fn start_and_stop(data: &Path, config: Option<&str>) {
    let daemon = Daemon::start(data, config);
    assert!(daemon.terminate().success());
}

/// Runs `tests/python/<script>` on the data directory's `audit` Delta table.
fn python(script: &str, data: &Path, args: &[&str]) -> Value {
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(data.join("tables").join("audit"))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "deltalake: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn tamper(data: &Path, action: &str, seq: u64) {
    python("tamper_audit.py", data, &[action, &seq.to_string()]);
}

#[test]
fn the_chain_survives_restarts_verifies_and_breaks_when_the_table_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // First start: `config.loaded` is seq 1, chained to the genesis hash.
    let daemon = Daemon::start(&data, None);
    let first = rows(&daemon);
    assert_eq!(first.len(), 1, "{first:?}");
    let (seq, actor, action, prev, hash, details) = &first[0];
    assert_eq!(
        (*seq, actor.as_str(), action.as_str()),
        (1, "vigil", "config.loaded")
    );
    assert_eq!(prev, ZEROS);
    assert_eq!(hash.len(), 64);
    assert_eq!(details["config_file"], Value::Null);
    assert_eq!(details["tokens"], json!([]));
    assert_eq!(details["listeners"]["http"], json!(daemon.endpoints.http));
    assert_eq!(details["listeners"]["pg"], json!(daemon.endpoints.pg));
    assert!(daemon.terminate().success());

    // Second start, with a config file: seq 2 chains to seq 1 and names the file's hash.
    let config = "# audit e2e\nlog_level = \"info\"\n";
    let daemon = Daemon::start(&data, Some(config));
    let both = rows(&daemon);
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[0], first[0], "the stored row is unchanged");
    let (seq, _, action, prev, _, details) = &both[1];
    assert_eq!((*seq, action.as_str()), (2, "config.loaded"));
    assert_eq!(prev, &first[0].4);
    assert_eq!(
        details["config_sha256"],
        json!(hex::encode(Sha256::digest(config.as_bytes())))
    );
    assert!(
        details["config_file"]
            .as_str()
            .unwrap()
            .ends_with("data.toml"),
        "{details}"
    );

    // Against the running server.
    let output = verify(&["--server", &daemon.api("")]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!(
            "audit: 2 rows, chain intact (last seq 2, hash {})",
            both[1].4
        )
    );
    assert!(daemon.terminate().success());

    // Two more starts, then offline.
    start_and_stop(&data, None);
    start_and_stop(&data, None);
    let data_arg = data.to_str().unwrap();
    let output = verify(&["--data-dir", data_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).starts_with("audit: 4 rows, chain intact (last seq 4, hash "),
        "{output:?}"
    );

    // Another tool recomputes the same hashes from the documented encoding.
    assert_eq!(
        python("verify_audit.py", &data, &[]),
        json!({ "rows": 4, "broken": null })
    );

    // A copy for the deletion below.
    let copy = dir.path().join("copy");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());

    // Someone with disk access edits seq 3's actor and writes a new table version.
    tamper(&data, "edit", 3);
    let output = verify(&["--data-dir", data_arg]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        "audit: chain broken at seq 3: hash does not match the row (edited?)"
    );
    assert_eq!(
        python("verify_audit.py", &data, &[]),
        json!({ "rows": 4, "broken": 3 })
    );

    // Someone deletes seq 2: the chain breaks at seq 3.
    tamper(&copy, "delete", 2);
    let output = verify(&["--data-dir", copy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        "audit: chain broken at seq 3: seq 2 is missing (rows deleted?)"
    );
}

#[test]
fn verify_names_usage_and_read_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let output = verify(&["--data-dir", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does not exist"),
        "{output:?}"
    );
    let output = verify(&["--server", "http://127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("reading the audit table"),
        "{output:?}"
    );
}
