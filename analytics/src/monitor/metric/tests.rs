//! The increments of cumulative and delta streams (resets, lookback, out-of-order points)
//! and the per-window statistics.

use super::*;
use crate::functions::exponential::{BucketSpan, exponential_quantile};

const S: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * S;

fn counter(time_s: i64, start_s: Option<i64>, value: f64) -> Point {
    Point {
        time_ns: time_s * S,
        start_ns: start_s.map(|s| s * S),
        kind: Kind::Sum { monotonic: true },
        cumulative: true,
        payload: Payload::Number(value),
    }
}

fn histogram(time_s: i64, start_s: i64, cumulative: bool, buckets: [f64; 4], sum: f64) -> Point {
    Point {
        time_ns: time_s * S,
        start_ns: Some(start_s * S),
        kind: Kind::Histogram,
        cumulative,
        payload: Payload::Histogram {
            count: buckets.iter().sum(),
            sum: Some(sum),
            bounds: vec![0.1, 0.5, 1.0],
            buckets: buckets.to_vec(),
        },
    }
}

fn stream(series: &str, points: Vec<Point>) -> Stream {
    Stream {
        series: series.into(),
        labels: BTreeMap::new(),
        in_range: vec![true; points.len()],
        points,
    }
}

fn signal(text: &str) -> MetricSignal {
    MetricSignal::parse(text.strip_prefix("metric:").unwrap()).unwrap()
}

/// (window start in minutes, value) of every measured window.
fn values(windows: &[WindowMeasure]) -> Vec<(i64, f64)> {
    windows
        .iter()
        .map(|w| (w.start_ns / MINUTE, w.value.unwrap()))
        .collect()
}

#[test]
fn signals_parse_and_print_as_written() {
    for text in [
        "metric:gen_ai.client.operation.duration:p99",
        "metric:gen_ai.client.token.usage:p50",
        "metric:http.server.request.duration:p95",
        "metric:gen_ai.client.operation.duration:mean",
        "metric:ns:with:colons:rate",
    ] {
        let parsed = super::super::Signal::parse(text).unwrap();
        assert_eq!(parsed.to_string(), text);
    }
    assert_eq!(
        signal("metric:ns:with:colons:rate"),
        MetricSignal {
            name: "ns:with:colons".into(),
            statistic: Statistic::Rate
        }
    );
    for bad in ["metric:x", "metric::p99", "metric:x:p42", "metric:x:"] {
        let error = super::super::Signal::parse(bad).unwrap_err();
        assert!(error.contains("metric"), "{bad}: {error}");
    }
}

/// Prometheus' `increase` over samples 100, 160, 20, 50 (a reset before 20) is
/// (160 − 100) + 20 + (50 − 20) = 110 (docs/querying/functions.md: "any decrease in the
/// value is taken as a counter reset"); split into minutes, the windows add up to it.
#[test]
fn cumulative_counter_with_a_reset_mid_window() {
    let points = vec![
        counter(10, Some(-3600), 100.0),
        counter(70, Some(-3600), 160.0),
        // A restart: a new start time, the count from zero again.
        counter(100, Some(95), 20.0),
        counter(130, Some(95), 50.0),
        // A decrease without a new start time is a reset too.
        counter(150, None, 5.0),
    ];
    let found = increments(&points, MINUTE, LOOKBACK_NS);
    let by_point: Vec<(usize, i64, f64)> = found
        .iter()
        .map(|(i, (w, inc))| match inc.payload {
            Payload::Number(v) => (*i, w / MINUTE, v),
            _ => unreachable!(),
        })
        .collect();
    // The first point only bases the next: its counter started an hour before the lookback.
    assert_eq!(
        by_point,
        vec![(1, 1, 60.0), (2, 1, 20.0), (3, 2, 30.0), (4, 2, 5.0)]
    );
    let rate = signal("metric:calls:rate");
    let (windows, problems) = rate.measure(vec![stream("all", points)], MINUTE);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(values(&windows), vec![(1, 80.0 / 60.0), (2, 35.0 / 60.0)]);
    assert_eq!(windows[0].kpis["increase"], Some(80.0));
    assert_eq!(windows[0].n, 2);
}

#[test]
fn the_previous_point_counts_only_within_the_lookback() {
    // 10 minutes apart: beyond the 5-minute lookback, so the second point has no base.
    let gap = vec![
        counter(0, Some(-3600), 10.0),
        counter(600, Some(-3600), 25.0),
    ];
    assert!(increments(&gap, MINUTE, LOOKBACK_NS).is_empty());
    // A stream that began (from zero) within the lookback counts its whole first value.
    let fresh = vec![counter(200, Some(170), 7.0)];
    let found = increments(&fresh, MINUTE, LOOKBACK_NS);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1.1.payload, Payload::Number(7.0));
    // A window longer than the default lookback looks back one window.
    assert_eq!(MetricSignal::lookback_ns(10 * MINUTE), 10 * MINUTE);
    assert_eq!(
        increments(&gap, 10 * MINUTE, MetricSignal::lookback_ns(10 * MINUTE)).len(),
        1
    );
}

#[test]
fn delta_points_are_summed_per_window() {
    let delta = |time_s: i64, value: f64| Point {
        cumulative: false,
        start_ns: Some((time_s - 10) * S),
        ..counter(time_s, None, value)
    };
    let points = vec![
        delta(10, 3.0),
        delta(20, 4.0),
        delta(70, 1.0),
        delta(80, 0.0),
    ];
    let (windows, problems) =
        signal("metric:calls:rate").measure(vec![stream("all", points)], MINUTE);
    assert!(problems.is_empty());
    assert_eq!(values(&windows), vec![(0, 7.0 / 60.0), (1, 1.0 / 60.0)]);
}

#[test]
fn out_of_order_points_count_as_if_in_order() {
    let ordered = vec![
        counter(5, Some(0), 1.0),
        counter(35, Some(0), 4.0),
        counter(65, Some(0), 10.0),
        counter(95, Some(0), 12.0),
    ];
    let mut shuffled = ordered.clone();
    shuffled.swap(0, 2);
    shuffled.swap(1, 3);
    let rate = signal("metric:calls:rate");
    let (a, _) = rate.measure(vec![stream("all", ordered)], MINUTE);
    let (b, problems) = rate.measure(vec![stream("all", shuffled)], MINUTE);
    assert!(problems.is_empty());
    assert_eq!(a, b);
    // Started at 0 within the lookback: 1 + 3 in the first minute, 6 + 2 in the second.
    assert_eq!(values(&a), vec![(0, 4.0 / 60.0), (1, 8.0 / 60.0)]);
}

/// Two streams' cumulative histograms: each window's bucket increments are merged and the
/// quantile interpolated as Prometheus' `histogram_quantile` does.
#[test]
fn histogram_quantile_per_window_from_merged_increments() {
    // Stream a: +[6, 40, 10, 4] in minute 1; stream b: +[4, 30, 5, 1]. Merged:
    // [10, 70, 15, 5], cumulative le 0.1: 10, le 0.5: 80, le 1.0: 95, +Inf: 100.
    let a = vec![
        histogram(50, 0, true, [1.0, 2.0, 3.0, 0.0], 3.0),
        histogram(110, 0, true, [7.0, 42.0, 13.0, 4.0], 33.0),
    ];
    let b = vec![
        histogram(55, 0, true, [0.0, 0.0, 0.0, 0.0], 0.0),
        histogram(115, 0, true, [4.0, 30.0, 5.0, 1.0], 20.0),
    ];
    let windows_of = |statistic: &str| {
        let (windows, problems) = signal(statistic).measure(
            vec![stream("all", a.clone()), stream("all", b.clone())],
            MINUTE,
        );
        assert!(problems.is_empty(), "{problems:?}");
        windows
    };
    let p50 = windows_of("metric:d:p50");
    // Minute 0 holds stream a's first point, which began at 0 within the lookback: 6
    // observations of its own.
    assert_eq!(p50.len(), 2);
    let minute = &p50[1];
    assert_eq!(minute.start_ns, MINUTE);
    assert_eq!(minute.n, 100);
    // Rank 50 falls in (0.1, 0.5], 40 of its 70: 0.1 + 0.4 · 40/70.
    let expected = 0.1 + 0.4 * 40.0 / 70.0;
    assert!((minute.value.unwrap() - expected).abs() < 1e-12);
    // Rank 95 ends (0.5, 1.0] exactly; rank 99 is in +Inf: the highest finite bound.
    assert_eq!(windows_of("metric:d:p95")[1].value, Some(1.0));
    assert_eq!(windows_of("metric:d:p99")[1].value, Some(1.0));
    assert_eq!(minute.kpis["p99"], Some(1.0));
    assert_eq!(minute.kpis["count"], Some(100.0));
    // Δsum / Δcount = (30 + 20) / 100.
    assert_eq!(windows_of("metric:d:mean")[1].value, Some(0.5));
    assert_eq!(windows_of("metric:d:rate")[1].value, Some(100.0 / 60.0));
}

#[test]
fn a_histogram_reset_counts_the_new_buckets() {
    let points = vec![
        histogram(10, 0, true, [5.0, 5.0, 5.0, 5.0], 10.0),
        histogram(70, 0, true, [6.0, 9.0, 5.0, 5.0], 12.0),
        // The process restarted at 100 s: a new start time.
        histogram(110, 100, true, [0.0, 2.0, 0.0, 0.0], 0.6),
    ];
    let found = increments(&points, MINUTE, LOOKBACK_NS);
    let counts: Vec<Vec<f64>> = found
        .iter()
        .map(|(_, (_, inc))| match &inc.payload {
            Payload::Histogram { buckets, .. } => buckets.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            vec![5.0, 5.0, 5.0, 5.0],
            vec![1.0, 4.0, 0.0, 0.0],
            vec![0.0, 2.0, 0.0, 0.0]
        ]
    );
}

#[test]
fn a_statistic_the_type_lacks_is_a_window_error() {
    let gauge = |time_s: i64, value: f64| Point {
        kind: Kind::Gauge,
        cumulative: false,
        start_ns: None,
        ..counter(time_s, None, value)
    };
    let points = vec![gauge(10, 2.0), gauge(20, 4.0)];
    let (windows, problems) =
        signal("metric:sessions:mean").measure(vec![stream("all", points.clone())], MINUTE);
    assert_eq!(values(&windows), vec![(0, 3.0)]);
    assert_eq!(windows[0].kpis["max"], Some(4.0));
    assert!(problems.is_empty());
    for text in ["metric:sessions:p99", "metric:sessions:rate"] {
        let (windows, problems) = signal(text).measure(vec![stream("all", points.clone())], MINUTE);
        assert!(windows.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("type gauge"), "{}", problems[0]);
        assert!(problems[0].contains("window 0"), "{}", problems[0]);
    }
    let sums = vec![counter(10, Some(5), 1.0)];
    let (_, problems) = signal("metric:calls:mean").measure(vec![stream("all", sums)], MINUTE);
    assert!(
        problems[0].contains("a mean of a metric of type sum"),
        "{problems:?}"
    );
}

#[test]
fn histograms_with_other_bounds_are_not_merged() {
    let mut other = histogram(20, 0, false, [1.0, 1.0, 1.0, 1.0], 1.0);
    if let Payload::Histogram { bounds, .. } = &mut other.payload {
        *bounds = vec![0.2, 0.5, 1.0];
    }
    let (windows, problems) = signal("metric:d:p99").measure(
        vec![
            stream(
                "all",
                vec![histogram(10, 0, false, [1.0, 1.0, 1.0, 1.0], 1.0)],
            ),
            stream("all", vec![other]),
        ],
        MINUTE,
    );
    assert!(windows.is_empty());
    assert!(problems[0].contains("different bounds"), "{problems:?}");
}

#[test]
fn series_are_measured_apart_and_lookback_points_only_base() {
    let mut first = stream(
        "billing",
        vec![
            counter(-30, Some(-3600), 5.0),
            counter(30, Some(-3600), 9.0),
        ],
    );
    // The point at −30 s is in the lookback: no window of its own.
    first.in_range = vec![false, true];
    let second = stream(
        "support",
        vec![counter(40, Some(-3600), 1.0), counter(50, Some(-3600), 3.0)],
    );
    let (windows, problems) = signal("metric:calls:rate").measure(vec![second, first], MINUTE);
    assert!(problems.is_empty());
    let got: Vec<(&str, i64, f64)> = windows
        .iter()
        .map(|w| (w.series.as_str(), w.start_ns, w.value.unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![("billing", 0, 4.0 / 60.0), ("support", 0, 2.0 / 60.0)]
    );
}

#[test]
fn metric_monitor_config_errors_name_the_key() {
    let config = |extra: &str| -> super::super::MonitorConfig {
        toml::from_str(&format!(
            "name = \"m\"\nsignal = \"metric:gen_ai.client.operation.duration:p99\"\n\
             window = \"1m\"\n{extra}"
        ))
        .expect("parses")
    };
    let ok = config(
        "detector = \"shewhart\"\nbaseline = { windows = 20 }\ngroup_by = [\"agent_name\", \"request_model\"]",
    );
    let monitor = ok.validate(0).expect("a valid metric monitor");
    assert!(monitor.signal.is_metric());
    for (extra, key) in [
        // One value per window: nothing to compare distributions of.
        (
            "detector = \"ks\"\nalpha = 0.01\nbaseline = { windows = 20 }",
            "monitor[2].detector",
        ),
        (
            "detector = \"p_chart\"\nbaseline = { p = 0.1 }",
            "monitor[2].detector",
        ),
        // A column of transactions, not of metrics.
        (
            "detector = \"shewhart\"\nbaseline = { windows = 20 }\ngroup_by = [\"trace_id\"]",
            "monitor[2].group_by",
        ),
    ] {
        let error = config(extra).validate(2).expect_err(extra);
        assert_eq!(error.key, key, "{extra}: {error}");
    }
    let mut bad = ok.clone();
    bad.signal = "metric:gen_ai.client.operation.duration:p90".into();
    let error = bad.validate(0).unwrap_err();
    assert_eq!(error.key, "monitor[0].signal");
    assert!(
        error.problem.contains("p50, p95, p99, mean or rate"),
        "{error}"
    );
}

fn exponential(time_s: i64, scale: i32, zero: f64, offset: i32, counts: &[f64], sum: f64) -> Point {
    let buckets = ExponentialBuckets {
        scale,
        zero_count: zero,
        zero_threshold: 0.0,
        positive: BucketSpan {
            offset,
            counts: counts.to_vec(),
        },
        negative: BucketSpan::default(),
    };
    Point {
        time_ns: time_s * S,
        start_ns: Some(0),
        kind: Kind::ExponentialHistogram,
        cumulative: true,
        payload: Payload::Exponential {
            count: buckets.count(),
            sum: Some(sum),
            buckets,
        },
    }
}

#[test]
fn exponential_histogram_quantiles_per_window_across_a_downscale_and_streams() {
    // Stream a, cumulative: at 50 s scale 1, buckets 0..=1 (1, 2^0.5], (2^0.5, 2] hold 1
    // and 1; at 110 s the SDK has downscaled to 0 as larger values came: (1, 2] holds 4 and
    // (2, 4] holds 2, (8, 16] holds 6. Its increase in minute 1, at scale 0: (1, 2] +2,
    // (2, 4] +2, (8, 16] +6. Stream b, delta, at scale 2 in minute 1: (8, 16] is its
    // buckets 12..=15; 2 observations there, and 4 exact zeros.
    let a = vec![
        exponential(50, 1, 0.0, 0, &[1.0, 1.0], 3.0),
        exponential(110, 0, 0.0, 0, &[4.0, 2.0, 0.0, 6.0], 80.0),
    ];
    let mut b = exponential(100, 2, 4.0, 12, &[0.0, 2.0], 22.0);
    b.cumulative = false;
    let windows_of = |statistic: &str| {
        let (windows, problems) = signal(statistic).measure(
            vec![stream("all", a.clone()), stream("all", vec![b.clone()])],
            MINUTE,
        );
        assert!(problems.is_empty(), "{problems:?}");
        windows
    };
    let p99 = windows_of("metric:d:p99");
    let minute = p99.iter().find(|w| w.start_ns == MINUTE).unwrap();
    // Merged at scale 0: zero 4, (1, 2] 2, (2, 4] 2, (8, 16] 8; 16 observations.
    assert_eq!(minute.n, 16);
    let merged = ExponentialBuckets {
        scale: 0,
        zero_count: 4.0,
        zero_threshold: 0.0,
        positive: BucketSpan {
            offset: 0,
            counts: vec![2.0, 2.0, 0.0, 8.0],
        },
        negative: BucketSpan::default(),
    };
    assert_eq!(minute.value, Some(exponential_quantile(0.99, &merged)));
    // From above: rank 0.16 of (8, 16]'s 8, 7.84 from its lower end, interpolated on the
    // log scale: 2^(3 + 7.84/8).
    assert!((minute.value.unwrap() - (3.0 + 7.84 / 8.0_f64).exp2()).abs() < 1e-12);
    // p50: rank 8 from above ends (8, 16] exactly: its lower bound.
    let p50 = windows_of("metric:d:p50");
    assert_eq!(
        p50.iter().find(|w| w.start_ns == MINUTE).unwrap().value,
        Some(8.0)
    );
    // Δsum / Δcount = (80 − 3 + 22) / 16; the rate is of the count.
    let mean = windows_of("metric:d:mean");
    let minute = mean.iter().find(|w| w.start_ns == MINUTE).unwrap();
    assert_eq!(minute.value, Some(99.0 / 16.0));
    assert_eq!(minute.kpis["count"], Some(16.0));
    let rate = windows_of("metric:d:rate");
    let minute = rate.iter().find(|w| w.start_ns == MINUTE).unwrap();
    assert_eq!(minute.value, Some(16.0 / 60.0));
}

#[test]
fn an_exponential_histogram_whose_bucket_shrank_restarted() {
    let points = vec![
        exponential(10, 0, 1.0, 0, &[5.0, 5.0], 30.0),
        // A new process: same start time reported (an SDK that does not set it), but a
        // bucket fell from 5 to 1, so the whole point is the increase.
        exponential(70, 0, 1.0, 0, &[6.0, 1.0], 12.0),
    ];
    let found = increments(&points, MINUTE, LOOKBACK_NS);
    let Payload::Exponential { count, buckets, .. } = &found[1].1.1.payload else {
        panic!("{found:?}");
    };
    assert_eq!(
        (*count, buckets.positive.counts.clone()),
        (8.0, vec![6.0, 1.0])
    );
}

#[test]
fn summaries_give_a_mean_and_a_rate_not_a_quantile() {
    let summary = |time_s: i64, count: f64, sum: f64| Point {
        time_ns: time_s * S,
        start_ns: Some(0),
        kind: Kind::Summary,
        cumulative: true,
        payload: Payload::Summary {
            count,
            sum: Some(sum),
        },
    };
    let points = vec![summary(50, 10.0, 5.0), summary(110, 30.0, 25.0)];
    let measure = |text: &str| signal(text).measure(vec![stream("all", points.clone())], MINUTE);
    let (windows, problems) = measure("metric:rpc.latency:mean");
    assert!(problems.is_empty(), "{problems:?}");
    // Minute 1: Δsum / Δcount = 20 / 20.
    assert_eq!(values(&windows), vec![(0, 0.5), (1, 1.0)]);
    let (windows, _) = measure("metric:rpc.latency:rate");
    assert_eq!(values(&windows)[1], (1, 20.0 / 60.0));
    let (windows, problems) = measure("metric:rpc.latency:p99");
    assert!(windows.is_empty());
    assert!(
        problems[0].contains("a quantile (a summary's quantiles cannot be added")
            && problems[0].contains("type summary"),
        "{problems:?}"
    );
}
