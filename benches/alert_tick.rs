//! The alert engine's cost per change with many alerts: 100,000 firing alerts of one
//! monitor in one notification group, of which 10 get a newer evaluation per change.
//!
//! - `entries`: [`Dispatcher::submit`] as it is, writing only the touched entries (10
//!   alerts and their 10 group members) in one fsynced redb transaction.
//! - `whole_state`: what a change cost when the whole state was one blob (before
//!   per-entry storage): the engine cloned, the change applied to the clone, the new and
//!   the old state encoded as JSON to see whether anything changed, and the blob written
//!   and fsynced. Emulated here on the same engine (the old dispatcher is gone); the
//!   write is a plain file with `fdatasync` instead of a redb transaction, which only
//!   flatters the old way.
//!
//! ```text
//! cargo bench --bench alert_tick
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use alerts::engine::{Engine, EngineState, ReceiverRoute, Settings};
use alerts::receiver::{AlertingConfig, ReceiverConfig, validate_receivers};
use alerts::testing::{ManualClock, RecordingNotifier};
use alerts::{AlertRule, Dispatcher, DispatcherOptions, Evaluation, Notifier, Outcome};
use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use schemas::window::{WindowFigures, WindowPhase};

const ALERTS: usize = 100_000;
const CHANGED: usize = 10;

fn t(sec: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap()
}

/// An alarm of series `agent-{i}` for the window ending at `sec`.
fn alarm(i: usize, sec: i64) -> Evaluation {
    Evaluation {
        monitor: "acc".into(),
        series: format!("agent-{i}"),
        labels: BTreeMap::from([("agent_name".to_owned(), format!("agent-{i}"))]),
        at: t(sec),
        figures: Some(WindowFigures {
            detector: "cusum".into(),
            value: Some(0.81),
            statistic: Some(5.3),
            upper: Some(5.0),
            lower: Some(-5.0),
            baseline_mean: Some(0.9),
            baseline_sd: Some(0.05),
            window_start: t(sec - 60),
            window_end: t(sec),
            n: 42,
            phase: WindowPhase::Monitoring,
            alarm: true,
        }),
        outcome: Outcome::Alarm,
        annotations: BTreeMap::new(),
    }
}

#[derive(serde::Deserialize)]
struct Doc {
    alerting: AlertingConfig,
    receiver: Vec<ReceiverConfig>,
}

fn setup(path: std::path::PathBuf) -> Dispatcher {
    let doc: Doc = toml::from_str(
        "[alerting]\ngroup_wait = \"0s\"\ngroup_interval = \"1h\"\nrepeat_interval = \"4h\"\n\
         [[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\
         secret_env = \"HOOK_SECRET\"\ngroup_by = [\"alertname\"]\n",
    )
    .unwrap();
    let env = |var: &str| {
        (var == "HOOK_SECRET").then(|| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
    };
    let receivers = validate_receivers(&doc.alerting, &doc.receiver, None, &env).unwrap();
    let notifier: Arc<dyn Notifier> = Arc::new(RecordingNotifier::new());
    Dispatcher::open(DispatcherOptions {
        path,
        alerting: doc.alerting,
        external_url: "http://vigil.test".into(),
        rules: vec![AlertRule {
            receivers: vec!["hook".into()],
            ..AlertRule::new("acc")
        }],
        receivers,
        notifiers: BTreeMap::from([("hook".to_owned(), notifier)]),
        clock: Arc::new(ManualClock::new(t(0))),
        jitter_seed: Some(7),
    })
    .unwrap()
}

fn tick(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = runtime.block_on(async {
        let d = setup(dir.path().join("alerts.redb"));
        let all: Vec<Evaluation> = (0..ALERTS).map(|i| alarm(i, 60)).collect();
        d.submit(all, t(60)).await.unwrap();
        d
    });
    assert_eq!(runtime.block_on(dispatcher.alerts(t(60))).len(), ALERTS);
    // Each change: the next window of 10 of the series, still alarming.
    let window = AtomicI64::new(60);
    let changed = || {
        let sec = window.fetch_add(60, Ordering::Relaxed) + 60;
        (0..CHANGED)
            .map(|i| alarm(i * 997, sec))
            .collect::<Vec<_>>()
    };
    let mut group = c.benchmark_group("alert_tick_100k_alerts_10_changed");
    group.sample_size(20);
    group.bench_function("entries", |b| {
        b.to_async(&runtime)
            .iter(|| async { dispatcher.submit(changed(), t(60)).await.unwrap() })
    });

    // The old way, on an engine holding the same state.
    let mut engine = Engine::new(
        vec![AlertRule {
            receivers: vec!["hook".into()],
            ..AlertRule::new("acc")
        }],
        vec![ReceiverRoute {
            route: alerts::group::Route {
                receiver: "hook".into(),
                group_by: alerts::group::GroupBy::Labels(vec!["alertname".into()]),
                group_wait: std::time::Duration::ZERO,
                group_interval: std::time::Duration::from_secs(3600),
                repeat_interval: std::time::Duration::from_secs(4 * 3600),
                send_resolved: true,
            },
            rollback: false,
            max_alerts: 0,
        }],
        Settings {
            external_url: "http://vigil.test".into(),
            dry_run: false,
            rollback_hooks: true,
            resolved_retention: std::time::Duration::from_secs(900),
            silence_retention: std::time::Duration::from_secs(5 * 86_400),
        },
        EngineState::default(),
    )
    .unwrap();
    let all: Vec<Evaluation> = (0..ALERTS).map(|i| alarm(i, 60)).collect();
    engine.submit(&all, t(60));
    engine.tick(t(60));
    let _ = engine.take_touched();
    let blob = dir.path().join("state.json");
    group.bench_function("whole_state", |b| {
        b.iter(|| {
            let mut next = engine.clone();
            let mut out = next.submit(&changed(), t(60));
            out.extend(next.tick(t(60)));
            let _ = next.take_touched();
            let state = serde_json::to_vec(next.state()).unwrap();
            let unchanged = state == serde_json::to_vec(engine.state()).unwrap();
            assert!(!unchanged);
            let mut file = std::fs::File::create(&blob).unwrap();
            file.write_all(&state).unwrap();
            file.sync_data().unwrap();
            engine = next;
        })
    });
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
