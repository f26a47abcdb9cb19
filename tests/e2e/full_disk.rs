//! A full disk under intake (issue 13): while the WAL cannot write, intake answers 503 with
//! `Retry-After` and `/readyz` says why; intake resumes by itself at the first request
//! after space is freed; every acknowledged span is stored exactly once and no refused one,
//! also after a SIGKILL and replay. The disk is a small tmpfs mounted by the test.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::Daemon;
use crate::otlp;

/// A size-limited tmpfs, unmounted on drop (lazily, in case a file is still open).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs failed: this test needs root (CAP_SYS_ADMIN), as CI has"
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system has no byte left. Returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let block = vec![0xA5u8; chunk];
        while file.write_all(&block).is_ok() {
            written += chunk as u64;
        }
    }
    written
}

/// One request of `traces` traces with fresh ids: their hex ids, and `true` for a 200 or
/// `false` for a 503 that carries `Retry-After` and says "disk full"; panics on anything
/// else.
fn send(daemon: &Daemon, next: &mut u64, traces: u64) -> (Vec<String>, bool) {
    let ids: Vec<Vec<u8>> = (0..traces).map(|i| otlp::trace_id(13, *next + i)).collect();
    *next += traces;
    let spans = ids
        .iter()
        .flat_map(|id| otlp::agent_trace(id, 1_795_000_000_000_000_000))
        .collect();
    let response = otlp::post(
        &daemon.http,
        &daemon.otlp("/v1/traces"),
        otlp::encode(&otlp::request("disk", spans)),
    )
    .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").cloned();
    let body = response.text().unwrap_or_default();
    let ids = ids.iter().map(hex::encode).collect();
    match status {
        200 => (ids, true),
        503 => {
            assert!(retry_after.is_some(), "a 503 carries Retry-After");
            assert!(body.contains("disk full"), "the refusal says why: {body}");
            (ids, false)
        }
        other => panic!("unexpected status {other}: {body}"),
    }
}

fn readyz(daemon: &Daemon) -> (u16, String) {
    let response = daemon.http.get(daemon.api("/readyz")).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn stored(daemon: &Daemon) -> BTreeSet<String> {
    daemon
        .rows("SELECT DISTINCT trace_id FROM spans")
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_full_disk_refuses_intake_until_space_is_freed_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::mount("64m");
    let data: PathBuf = disk.path().join("data");
    // Frequent flushes, so that Delta commits also meet the full disk.
    let config = "[storage]\nflush_interval = \"200ms\"\n";
    let daemon = Daemon::start(&data, Some(config));
    let spans_per_trace = otlp::agent_trace(&otlp::trace_id(0, 1), 1).len() as i64;
    let mut next = 0u64;
    let mut acked = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for _ in 0..20 {
        let (ids, ok) = send(&daemon, &mut next, 10);
        assert!(ok, "a disk with room takes data");
        acked.extend(ids);
    }

    let filler = disk.path().join("filler");
    assert!(fill(&filler) > 0);
    // A record may still fit in the last page of the WAL segment; once a write fails,
    // nothing else writes (one client, no monitors), so the fault stays until space returns.
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 500, "a full disk never refused a request");
        let (ids, ok) = send(&daemon, &mut next, 10);
        if ok {
            acked.extend(ids);
            continue;
        }
        refused.extend(ids);
        break;
    }
    let (status, body) = readyz(&daemon);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("disk full"), "{body}");
    for _ in 0..5 {
        let (ids, ok) = send(&daemon, &mut next, 10);
        assert!(!ok, "still full: refused");
        refused.extend(ids);
    }
    assert!(daemon.healthy(), "the daemon lives on through a full disk");
    // Reads keep working.
    assert_eq!(stored(&daemon), acked);

    std::fs::remove_file(&filler).unwrap();
    let (ids, ok) = send(&daemon, &mut next, 10);
    assert!(
        ok,
        "intake resumes at the first request after space is freed"
    );
    acked.extend(ids);
    let (status, body) = readyz(&daemon);
    assert_eq!(status, 200, "{body}");
    for _ in 0..20 {
        let (ids, ok) = send(&daemon, &mut next, 10);
        assert!(ok);
        acked.extend(ids);
    }

    let check = |daemon: &Daemon, when: &str| {
        assert_eq!(
            stored(daemon),
            acked,
            "{when}: exactly the acknowledged traces"
        );
        assert_eq!(
            daemon.count("SELECT count(*) FROM spans"),
            acked.len() as i64 * spans_per_trace,
            "{when}: each acknowledged span once"
        );
    };
    check(&daemon, "after recovery");
    assert!(refused.is_disjoint(&acked));
    daemon.kill9();
    let daemon = Daemon::start(&data, Some(config));
    check(&daemon, "after SIGKILL and replay");
    drop(daemon);
}
