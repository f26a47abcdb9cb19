//! Benchmarks (ignored by default): page latency of live traffic, and a thousand alerts
//! fired at once.

use std::time::{Duration, Instant};

use super::{ALERTING, Hook, drops_at, monitor, start, traffic, transaction, wait_rows, webhook};

/// `VmHWM` (peak resident set) of a process, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Live traffic through one drifting window of `window` seconds: one transaction a second
/// at accuracy 0.8 (10 σ low), the last sent just before the window ends. Prints the time
/// from that last span's acknowledgement to the signed webhook's arrival.
fn page_latency(window_s: u64, alerting: &str) {
    let hook = Hook::start(&[], 200);
    let config = format!(
        "{alerting}{}{}",
        monitor("live-accuracy", &["hook"])
            .replace("window = \"1m\"", &format!("window = \"{window_s}s\"")),
        webhook("hook", &hook.url, ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let w = window_s * 1_000_000_000;
    // Start at the beginning of the next window, so the whole window drifts.
    let window_start = (unix_ns() / w + 1) * w;
    let window_end = window_start + w;
    std::thread::sleep(Duration::from_nanos(window_start - unix_ns()));
    let mut seq = 0;
    let mut last_ack = Instant::now();
    let mut last_ack_ns = 0;
    while unix_ns() + 1_000_000_000 < window_end {
        seq += 1;
        daemon.export(
            "support-svc",
            vec![transaction(9, seq, "live", unix_ns(), 0.8)],
        );
        last_ack = Instant::now();
        last_ack_ns = unix_ns();
        std::thread::sleep(Duration::from_millis(950));
    }
    let got = hook.wait("the page", |r| !r.is_empty());
    let latency = last_ack.elapsed();
    let after_end = unix_ns().saturating_sub(window_end);
    assert!(got[0].verified);
    println!(
        "window {window_s}s, {seq} transactions; last span acknowledged {:.1} s before the window end; \
         webhook {:.2} s after that acknowledgement ({:.2} s after the window end)",
        (window_end - last_ack_ns) as f64 / 1e9,
        latency.as_secs_f64(),
        after_end as f64 / 1e9,
    );
}

#[test]
#[ignore = "benchmark, about 2.5 minutes of wall time: cargo test --test e2e alerts::bench -- --ignored --nocapture"]
fn bench_page_latency_at_default_settings() {
    // Default [alerting] (group_wait 30 s), lateness 2 s, a 1-minute window.
    page_latency(60, "");
}

#[test]
#[ignore = "benchmark, about 30 s of wall time: cargo test --test e2e alerts::bench -- --ignored --nocapture"]
fn bench_page_latency_without_group_wait() {
    page_latency(10, "[alerting]\ngroup_wait = \"0s\"\n");
}

#[test]
#[ignore = "benchmark, about a minute: cargo test --test e2e alerts::bench -- --ignored --nocapture"]
fn bench_a_thousand_alerts_at_once() {
    const SERIES: u32 = 1000;
    let hook = Hook::start(&[], 200);
    // group_by ["..."]: one notification per alert, 1,000 in all.
    let config = format!(
        "{ALERTING}{}{}",
        monitor("fleet-accuracy", &["hook"]),
        webhook("hook", &hook.url, "group_by = [\"...\"]"),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let idle_rss = peak_rss_kib(daemon.pid());
    let mut spans = Vec::new();
    for agent in 0..SERIES {
        spans.extend(traffic(
            100 + agent,
            &format!("agent-{agent:04}"),
            0..2,
            drops_at(1),
        ));
    }
    daemon.export("fleet", spans);
    let acked = Instant::now();
    hook.wait("the first page", |r| !r.is_empty());
    let first_at = acked.elapsed();
    let got = hook.wait("1,000 pages", |r| r.len() >= SERIES as usize);
    let last_at = acked.elapsed();
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        SERIES as usize,
        "one notification per alert, none doubled"
    );
    assert!(got.iter().all(|r| r.verified));
    let delivered = wait_rows(
        &daemon,
        "SELECT notification_id FROM alerts WHERE kind = 'attempt' AND outcome = 'delivered'",
        SERIES as usize,
    );
    assert_eq!(delivered.len(), SERIES as usize);
    assert_eq!(
        daemon.count("SELECT count(*) FROM alerts WHERE dead_letter"),
        0
    );
    let records = daemon.count("SELECT count(*) FROM alerts");
    let peak = peak_rss_kib(daemon.pid());
    println!(
        "{SERIES} alerts fired at once: first webhook {:.2} s after the export was acknowledged, \
         the {SERIES}th after {:.2} s ({:.0} notifications/s between first and last); \
         {} received, {} distinct ids, {records} rows in `alerts`; daemon peak RSS {} MiB (idle {} MiB)",
        first_at.as_secs_f64(),
        last_at.as_secs_f64(),
        f64::from(SERIES - 1) / (last_at - first_at).as_secs_f64(),
        got.len(),
        ids.len(),
        peak / 1024,
        idle_rss / 1024,
    );
}
