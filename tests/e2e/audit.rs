//! The audit log: `config.loaded` at every start, chained across restarts, checked by
//! `vigil audit verify` against a server and a data directory, and broken by someone who
//! rewrites the stored Delta table with another tool (the Python `deltalake` package).
//! Two nodes writing one set of tables keep a chain each; a data directory written before
//! node ids keeps its chain ("no node") beside the new node's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::daemon::{Daemon, binary};

const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn verify<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
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

/// The `audit` Delta table of a data directory's own tables.
fn audit_table(data: &Path) -> PathBuf {
    data.join("tables").join("audit")
}

/// The node id a daemon of `data` runs as (its `endpoints.json`; by default the host
/// name).
fn node_id(data: &Path) -> String {
    let endpoints: Value =
        serde_json::from_slice(&std::fs::read(data.join("endpoints.json")).unwrap()).unwrap();
    endpoints["node_id"].as_str().unwrap().to_owned()
}

/// Runs `tests/python/<script>` on the `audit` Delta table at `table`.
fn python(script: &str, table: &Path, args: &[&str]) -> Value {
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(table)
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

fn tamper(table: &Path, action: &str, seq: u64, node: Option<&str>) {
    let seq = seq.to_string();
    let mut args = vec![action, seq.as_str()];
    args.extend(node);
    python("tamper_audit.py", table, &args);
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

    // Against the running server: one chain, this node's (by default the host name).
    let node = node_id(&data);
    let output = verify(&["--server", &daemon.api("")]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!(
            "audit: node {node}: 2 rows, chain intact (last seq 2, hash {})",
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
        stdout(&output).starts_with(&format!(
            "audit: node {node}: 4 rows, chain intact (last seq 4, hash "
        )),
        "{output:?}"
    );

    // Another tool recomputes the same hashes from the documented encoding.
    let table = audit_table(&data);
    assert_eq!(
        python("verify_audit.py", &table, &[]),
        json!({ "rows": 4, "broken": null, "chains": { &node: { "rows": 4, "broken": null } } })
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
    tamper(&table, "edit", 3, None);
    let output = verify(&["--data-dir", data_arg]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!("audit: node {node}: chain broken at seq 3: hash does not match the row (edited?)")
    );
    assert_eq!(python("verify_audit.py", &table, &[])["broken"], json!(3));

    // Someone deletes seq 2: the chain breaks at seq 3.
    tamper(&audit_table(&copy), "delete", 2, None);
    let output = verify(&["--data-dir", copy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!("audit: node {node}: chain broken at seq 3: seq 2 is missing (rows deleted?)")
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

/// The lines of a successful `vigil audit verify`.
fn verified<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<String> {
    let output = verify(args);
    assert!(output.status.success(), "{output:?}");
    stdout(&output).lines().map(str::to_owned).collect()
}

/// Two daemons with their own data directories and node ids write one local table set
/// (`[storage] tables`): each records its `config.loaded` at every start, the one with
/// the `jobs` role a silence too, and each keeps a chain of its own, numbered from 1.
/// Verify names both; an edit in one node's chain breaks that chain only.
#[test]
fn two_nodes_writing_one_table_set_keep_a_chain_each() {
    let dir = tempfile::tempdir().unwrap();
    let tables = dir.path().join("shared-tables");
    let config = format!(
        "[storage]\ntables = \"{}\"\nflush_interval = \"200ms\"\n",
        tables.display()
    );
    let start = |id: &str, roles: &str| {
        Daemon::start_with_env(
            &dir.path().join(id),
            Some(&config),
            &[("VIGIL_NODE_ID", id), ("VIGIL_ROLES", roles)],
        )
    };
    let a = start("node-a", "ingest,query,jobs");
    let b = start("node-b", "ingest,query");
    let silence = a
        .http
        .post(a.api("/api/v1/silences"))
        .json(&json!({
            "matchers": [{"name": "monitor", "value": "x", "isRegex": false, "isEqual": true}],
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2036-01-01T00:00:00Z",
            "createdBy": "oncall",
            "comment": "two nodes"
        }))
        .send()
        .unwrap();
    assert!(silence.status().is_success(), "{silence:?}");
    assert!(b.terminate().success());
    let b = start("node-b", "ingest,query");
    assert!(b.terminate().success());
    assert!(a.terminate().success());

    let tables_arg = tables.to_str().unwrap();
    let data_a = dir.path().join("node-a");
    let offline = |extra: &[&str]| {
        let mut args = vec!["--data-dir", data_a.to_str().unwrap()];
        args.extend(["--tables", tables_arg, "--node-id", "node-a"]);
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let lines = verified(&offline(&[]));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("audit: node node-a: 2 rows, chain intact (last seq 2, hash "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("audit: node node-b: 2 rows, chain intact (last seq 2, hash "),
        "{lines:?}"
    );
    assert_eq!(verified(&offline(&["--node", "node-b"])), lines[1..]);
    let output = verify(&offline(&["--node", "node-c"]));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stdout(&output), "audit: node node-c: no rows");

    // What each chain holds, as another Delta reader sees it.
    let table = tables.join("audit");
    assert_eq!(
        python("verify_audit.py", &table, &[])["chains"],
        json!({
            "node-a": { "rows": 2, "broken": null },
            "node-b": { "rows": 2, "broken": null },
        })
    );

    // node-b's seq 2 edited: its chain breaks there, node-a's stays intact.
    tamper(&table, "edit", 2, Some("node-b"));
    let output = verify(&offline(&[]));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let out = stdout(&output);
    let lines: Vec<_> = out.lines().collect();
    assert!(
        lines[0].starts_with("audit: node node-a: 2 rows, chain intact"),
        "{out}"
    );
    assert_eq!(
        lines[1],
        "audit: node node-b: chain broken at seq 2: hash does not match the row (edited?)"
    );
}

/// A data directory of the version before node ids: its `audit` table (written here by
/// the Python `deltalake` package, with that version's columns and hashes) has no `node`
/// column. The daemon adds it at start; the old rows stay one chain, `(no node)`, and the
/// node starts its own at seq 1.
#[test]
fn a_data_dir_from_before_node_ids_keeps_its_chain_beside_the_nodes_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let legacy = python("legacy_audit.py", &audit_table(&data), &["3"]);
    let last_hash = legacy["last_hash"].as_str().unwrap().to_owned();
    let legacy_line =
        format!("audit: (no node): 3 rows, chain intact (last seq 3, hash {last_hash})");
    // Offline, before any daemon upgraded it: the missing column reads as null.
    assert_eq!(
        verified(&["--data-dir", data.to_str().unwrap()]),
        std::slice::from_ref(&legacy_line)
    );

    let daemon = Daemon::start(&data, None);
    let node = node_id(&data);
    assert_eq!(
        daemon.count("SELECT count(*) FROM audit WHERE node IS NULL"),
        3
    );
    let expected = |lines: &[String]| {
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], legacy_line);
        assert!(
            lines[1].starts_with(&format!(
                "audit: node {node}: 1 rows, chain intact (last seq 1, hash "
            )),
            "{lines:?}"
        );
    };
    expected(&verified(&["--server", &daemon.api("")]));
    assert!(daemon.terminate().success());

    expected(&verified(&["--data-dir", data.to_str().unwrap()]));
    assert_eq!(
        python("verify_audit.py", &audit_table(&data), &[])["chains"],
        json!({
            "": { "rows": 3, "broken": null },
            &node: { "rows": 1, "broken": null },
        })
    );
}
