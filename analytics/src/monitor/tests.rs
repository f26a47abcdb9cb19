//! Monitor config validation and the per-series Phase I → Phase II logic.

use std::collections::BTreeMap;

use super::*;
use schemas::window::WindowPhase;

fn config(extra: &str) -> MonitorConfig {
    toml::from_str(&format!(
        "name = \"m\"\nsignal = \"score:accuracy\"\nwindow = \"1m\"\n{extra}"
    ))
    .expect("parses")
}

#[test]
fn config_errors_name_the_key() {
    let cases = [
        (
            "detector = \"cusum\"\nh = 5.0\nbaseline = { windows = 5 }",
            "monitor[3].k",
        ),
        (
            "detector = \"ewma\"\nlambda = 1.5\nL = 3.0\nbaseline = { windows = 5 }",
            "monitor[3].lambda",
        ),
        (
            "detector = \"nope\"\nbaseline = { windows = 5 }",
            "monitor[3].detector",
        ),
        (
            "detector = \"p_chart\"\nbaseline = { p = 0.1 }",
            "monitor[3].detector",
        ),
        (
            "detector = \"cusum\"\nk = 0.5\nh = 5.0\nbaseline = { windows = 1 }",
            "monitor[3].baseline",
        ),
        (
            "detector = \"ks\"\nalpha = 0.01\nbaseline = { mean = 1.0, sd = 1.0 }",
            "monitor[3].baseline",
        ),
        (
            "detector = \"cusum\"\nk = 0.5\nh = 5.0\nbaseline = { windows = 5 }\ngroup_by = [\"nope\"]",
            "monitor[3].group_by",
        ),
        (
            "detector = \"cusum\"\nk = 0.5\nh = 5.0\nbaseline = { windows = 5 }\nwhere = \"a = 1; DROP TABLE spans\"",
            "monitor[3].where",
        ),
        (
            "detector = \"cusum\"\nk = 0.5\nh = 5.0\nbaseline = { windows = 5 }\nmax_series = 0",
            "monitor[3].max_series",
        ),
    ];
    for (extra, key) in cases {
        let error = config(extra).validate(3).expect_err(extra);
        assert_eq!(error.key, key, "{extra}: {error}");
    }
    let ok = config(
        "detector = \"cusum\"\nk = 0.5\nh = 5.0\nbaseline = { windows = 5 }\ngroup_by = [\"agent_name\"]\nwhere = \"agent_name <> 'x'\"",
    );
    assert!(ok.validate(0).is_ok());
    let mut bad_signal = ok.clone();
    bad_signal.signal = "latency_p42".into();
    assert_eq!(bad_signal.validate(0).unwrap_err().key, "monitor[0].signal");
}

fn window(i: i64, value: f64) -> WindowMeasure {
    WindowMeasure {
        start_ns: i * 60_000_000_000,
        series: "all".into(),
        labels: BTreeMap::new(),
        n: 10,
        d: None,
        value: Some(value),
        sample: Vec::new(),
        kpis: BTreeMap::new(),
    }
}

#[test]
fn phase_one_collects_then_the_detector_runs_and_the_state_round_trips() {
    let monitor = config("detector = \"cusum\"\nk = 0.5\nh = 5.0\nbaseline = { windows = 4 }")
        .validate(0)
        .unwrap();
    let mut state = SeriesState::new(&monitor).unwrap();
    // Phase I: 10, 12, 10, 12 → x̄ = 11, MR̄ = 2, σ̂ = 2 / 1.128 (Montgomery §6.4).
    for (i, v) in [10.0, 12.0, 10.0, 12.0].into_iter().enumerate() {
        let row = state
            .observe(&monitor, &window(i as i64, v))
            .unwrap()
            .unwrap();
        assert_eq!(row.figures.phase, WindowPhase::Baseline);
        assert!(!row.figures.alarm && row.figures.statistic.is_none());
    }
    let Phase::Monitoring { .. } = state.phase else {
        panic!("Phase I ends after 4 windows");
    };
    // The state travels through JSON (the drift row) and resumes identically.
    let mut resumed: SeriesState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let sigma = 2.0 / 1.128;
    let low = 11.0 - 6.0 * sigma; // C⁻ = (μ0 − K) − x = 5.5σ > H = 5σ: alarm at once.
    let a = state.observe(&monitor, &window(4, low)).unwrap().unwrap();
    let b = resumed.observe(&monitor, &window(4, low)).unwrap().unwrap();
    assert_eq!(a, b);
    assert!(a.figures.alarm, "{a:?}");
    assert!((a.figures.baseline_mean.unwrap() - 11.0).abs() < 1e-12);
    assert!((a.figures.baseline_sd.unwrap() - sigma).abs() < 1e-12);
    // A window without a value changes nothing.
    let mut empty = window(5, 0.0);
    empty.value = None;
    let before = state.clone();
    assert!(state.observe(&monitor, &empty).unwrap().is_none());
    assert_eq!(state, before);
}

#[test]
fn drift_rows_make_a_batch_of_the_drift_schema() {
    let monitor = config("detector = \"shewhart\"\nbaseline = { mean = 1.0, sd = 0.1 }")
        .validate(0)
        .unwrap();
    let mut state = SeriesState::new(&monitor).unwrap();
    let mut w = window(0, 1.5);
    w.labels.insert("agent_name".into(), Some("support".into()));
    w.kpis.insert("min".into(), Some(1.0));
    let row = state.observe(&monitor, &w).unwrap().unwrap();
    assert!(row.figures.alarm, "5σ above the mean breaks rule we1");
    let batch = drift_batch(&[row]).unwrap();
    assert_eq!(batch.schema(), schemas::tables::Table::Drift.schema());
    assert_eq!(batch.num_rows(), 1);
}

#[test]
fn a_phase_one_without_variation_goes_on_until_the_data_vary() {
    let monitor = config("detector = \"ewma\"\nlambda = 0.2\nL = 3.0\nbaseline = { windows = 3 }")
        .validate(0)
        .unwrap();
    let mut state = SeriesState::new(&monitor).unwrap();
    // A percentile that never moves: MR̄ = 0 gives no σ, so every window stays in Phase I,
    // with a row that says why, and the state keeps only the latest windows.
    for i in 0..10 {
        let row = state.observe(&monitor, &window(i, 5.0)).unwrap().unwrap();
        assert_eq!(row.figures.phase, WindowPhase::Baseline);
        if i >= 2 {
            let details: serde_json::Value =
                serde_json::from_str(row.details.as_deref().unwrap()).unwrap();
            assert!(
                details["baseline_extended"]
                    .as_str()
                    .unwrap()
                    .contains("do not vary"),
                "{details}"
            );
        }
        let Phase::Baseline { values, .. } = &state.phase else {
            panic!("still Phase I at window {i}");
        };
        assert!(values.len() <= 2, "{values:?}");
    }
    // Once the latest three windows vary, they are the baseline: 5, 5, 7 → x̄ = 17/3,
    // MR̄ = (0 + 2) / 2 = 1, σ̂ = 1 / 1.128 (Montgomery §6.4).
    let row = state.observe(&monitor, &window(10, 7.0)).unwrap().unwrap();
    assert_eq!(row.figures.phase, WindowPhase::Baseline);
    assert!(
        (row.figures.baseline_mean.unwrap() - 17.0 / 3.0).abs() < 1e-12,
        "{row:?}"
    );
    assert!(
        (row.figures.baseline_sd.unwrap() - 1.0 / 1.128).abs() < 1e-12,
        "{row:?}"
    );
    assert!(matches!(state.phase, Phase::Monitoring { .. }));
}

#[test]
fn a_p_chart_phase_one_without_nonconforming_goes_on() {
    let monitor: MonitorConfig = toml::from_str(
        "name = \"m\"\nsignal = \"escalation_rate\"\nwindow = \"1m\"\ndetector = \"p_chart\"\nbaseline = { windows = 2 }",
    )
    .unwrap();
    let monitor = monitor.validate(0).unwrap();
    let mut state = SeriesState::new(&monitor).unwrap();
    let rate = |i: i64, d: i64| WindowMeasure {
        d: Some(d),
        n: 100,
        ..window(i, d as f64 / 100.0)
    };
    for i in 0..4 {
        let row = state.observe(&monitor, &rate(i, 0)).unwrap().unwrap();
        assert_eq!(row.figures.phase, WindowPhase::Baseline);
    }
    // The latest two windows: 0 + 4 of 200 → p̄ = 0.02.
    state.observe(&monitor, &rate(4, 4)).unwrap().unwrap();
    let Phase::Monitoring { detector } = &state.phase else {
        panic!("Phase I ends once a window has escalations");
    };
    let json = serde_json::to_value(detector).unwrap();
    assert!(json.to_string().contains("0.02"), "{json}");
}

#[test]
fn a_pass_builds_only_the_transaction_columns_its_monitors_read() {
    let read = Signal::TokensPerTransaction.columns_read(
        Some("\"agent_version\" = '2.0' AND cost_usd > 0"),
        &["agent_name".to_owned()],
    );
    let read: Vec<&str> = read.into_iter().collect();
    assert_eq!(
        read,
        [
            "agent_name",
            "agent_version",
            "cost_usd",
            "input_tokens",
            "output_tokens"
        ]
    );
    assert_eq!(
        Signal::EscalationRate
            .columns_read(None, &[])
            .into_iter()
            .collect::<Vec<_>>(),
        ["escalated"]
    );
}
