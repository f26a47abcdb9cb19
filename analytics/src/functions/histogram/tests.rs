//! Prometheus' own cases for `histogram_quantile`, the OTLP conversion, and the SQL surface.
//!
//! Sources, from prometheus/prometheus (commit d15adb9 of 2026-08-21):
//! - `promql/quantile_test.go`, `TestBucketQuantile_ForcedMonotonicity`: cumulative float
//!   buckets straight into `BucketQuantile`, compared with relative epsilon 1e-12;
//! - `promql/promqltest/testdata/histograms.test`: the classic-histogram
//!   `histogram_quantile` evaluations, compared as `promqltest` does (`almost.Equal`,
//!   relative 1e-6). Their `le` series become OTLP per-bucket counts here (differences of
//!   adjacent cumulative values at the evaluation time); a quantile depends only on the
//!   ratios of counts, so the expected values are the file's.
//! - `docs/querying/functions.md`, `histogram_quantile()`: the special cases.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::*;

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

/// Equal as `promqltest` and testify's `InEpsilon` compare: within `epsilon` relative, or
/// both NaN, or the same infinity.
#[track_caller]
fn assert_close(actual: f64, expected: f64, epsilon: f64, case: &str) {
    assert!(
        almost_equal(actual, expected, epsilon),
        "{case}: got {actual}, expected {expected}"
    );
}

/// A case's name, its buckets as `(upper bound, cumulative count)`, and `(q, expected)`.
type UnitCase<'a> = (&'a str, Vec<(f64, f64)>, &'a [(f64, f64)]);

/// `TestBucketQuantile_ForcedMonotonicity` (`promql/quantile_test.go`), each case's buckets
/// as `(upper bound, cumulative count)` and its `(q, expected)` pairs. The counts are the
/// Go source's literals, digits beyond float64's precision included.
#[test]
#[allow(clippy::excessive_precision)]
fn prometheus_bucket_quantile_unit_cases() {
    let real = |counts: [f64; 11]| {
        [1., 5., 10., 25., 50., 64., 80., 100., 250., 1000., INF]
            .into_iter()
            .zip(counts)
            .collect::<Vec<_>>()
    };
    let real_2 = |counts: [f64; 15]| {
        let bounds = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1., 2.5, 5., 10., 25., 50., 100., INF,
        ];
        bounds.into_iter().zip(counts).collect::<Vec<_>>()
    };
    let simple = [(1., 15.), (0.99, 14.85), (0.9, 13.5), (0.5, 7.5)];
    let real_q = [
        (1., 64.),
        (0.99, 49.64475715376406),
        (0.9, 46.39671690938454),
        (0.5, 31.96098248992002),
    ];
    let real_2_q = [
        (1., 0.1),
        (0.99, 0.03468750000281261),
        (0.9, 0.00463541666671875),
        (0.5, 0.0025752314815104174),
    ];
    let m = 46008473.8585563600;
    let n = 9.888888889;
    #[rustfmt::skip]
    let cases: Vec<UnitCase> = vec![
        ("simple - monotonic",
         vec![(10., 10.), (15., 15.), (20., 15.), (30., 15.), (INF, 15.)], &simple),
        ("simple - non-monotonic middle",
         vec![(10., 10.), (15., 15.), (20., 15.00000000001), (30., 15.), (INF, 15.)], &simple),
        ("real example - monotonic",
         real([6454661.3014166197, 8339611.2001912938, 14118319.2444762159,
               14130031.5272856522, 46001270.3030008152, m, m, m, m, m, m]), &real_q),
        ("real example - non-monotonic",
         real([6454661.3014166225, 8339611.2001912957, 14118319.2444762159,
               14130031.5272856504, 46001270.3030008227, 46008473.8585563824,
               46008473.8585563898, 46008473.8585563824, 46008473.8585563824,
               46008473.8585563898, 46008473.8585563824]), &real_q),
        ("real example 2 - monotonic",
         real_2([9.6, 9.688888889, 9.755555556, 9.844444444, n, n, n, n, n, n, n, n, n, n, n]),
         &real_2_q),
        ("real example 2 - non-monotonic",
         real_2([9.6, 9.688888889, 9.755555556, 9.844444444, n, n, n, n, n, n,
                 9.888888889001, n, 9.888888888999, n, n]), &real_2_q),
    ];
    for (name, buckets, expected) in cases {
        let buckets: Vec<Bucket> = buckets
            .into_iter()
            .map(|(upper_bound, count)| Bucket { upper_bound, count })
            .collect();
        for &(q, want) in expected {
            let got = bucket_quantile(q, buckets.clone());
            assert_close(got, want, 1e-12, &format!("{name}, q = {q}"));
        }
    }
}

/// One classic histogram of `histograms.test` as an OTLP data point.
struct Point {
    name: &'static str,
    bounds: &'static [f64],
    counts: &'static [f64],
}

/// `testhistogram{start="positive"}` at 50m: `le` 0.1, .2, 1e0, +Inf = 50, 70, 110, 120.
const POSITIVE: Point = Point {
    name: "testhistogram{start=\"positive\"}",
    bounds: &[0.1, 0.2, 1.0],
    counts: &[50., 20., 40., 10.],
};
/// `testhistogram{start="negative"}` at 50m: `le` -.2, -0.1, 0.3, +Inf = 10, 20, 20, 30.
const NEGATIVE: Point = Point {
    name: "testhistogram{start=\"negative\"}",
    bounds: &[-0.2, -0.1, 0.3],
    counts: &[10., 10., 0., 10.],
};
/// `testhistogram2` at 7m: `le` 0, 2, 4, 6, +Inf = 0, 1, 2, 3, 3.
const MIDDLES: Point = Point {
    name: "testhistogram2",
    bounds: &[0., 2., 4., 6.],
    counts: &[0., 1., 1., 1., 0.],
};
/// `testhistogram3{start="positive"}` at 50m: `le` 0, 0.1, .2, 1e0, +Inf = 0, 50, 70, 110, 110.
const POSITIVE_3: Point = Point {
    name: "testhistogram3{start=\"positive\"}",
    bounds: &[0., 0.1, 0.2, 1.0],
    counts: &[0., 50., 20., 40., 0.],
};
/// `testhistogram3{start="negative"}` at 50m: `le` -.25, -.2, -0.1, 0.3, +Inf = 0, 10, 20, 20, 20.
const NEGATIVE_3: Point = Point {
    name: "testhistogram3{start=\"negative\"}",
    bounds: &[-0.25, -0.2, -0.1, 0.3],
    counts: &[0., 10., 10., 0., 0.],
};
/// `nonmonotonic_bucket` at 50m: `le` 0.1, 1, 10, 100, 1000, +Inf = 20, 10, 50, 40, 90, 80;
/// OTLP counts are never negative, but the function fixes them as Prometheus does.
const NONMONOTONIC: Point = Point {
    name: "nonmonotonic_bucket",
    bounds: &[0.1, 1., 10., 100., 1000.],
    counts: &[20., -10., 40., -10., 50., -10.],
};
/// `request_duration_seconds_bucket`'s four series (`le` 0.1, 0.2, +Inf), per 5m step.
const REQUESTS: [(&str, &str, [f64; 3]); 4] = [
    ("job1", "ins1", [1., 2., 1.]),
    ("job1", "ins2", [2., 3., 1.]),
    ("job2", "ins1", [3., 1., 2.]),
    ("job2", "ins2", [4., 3., 2.]),
];

/// The classic-histogram `histogram_quantile` cases of `histograms.test`, through
/// [`otlp_buckets`] and [`bucket_quantile`].
#[test]
fn prometheus_histograms_test_cases() {
    #[rustfmt::skip]
    let cases: &[(&Point, &[(f64, f64)])] = &[
        // "Quantile too low", "too high", "invalid", "value in lowest bucket",
        // "value in highest bucket", "Finally some useful quantiles".
        (&POSITIVE, &[(-0.1, -INF), (1.01, INF), (NAN, NAN), (0., 0.), (1., 1.),
                      (0.2, 0.048), (0.5, 0.15), (0.8, 0.72)]),
        (&NEGATIVE, &[(-0.1, -INF), (1.01, INF), (NAN, NAN), (0., -0.2), (1., 0.3),
                      (0.2, -0.2), (0.5, -0.15), (0.8, 0.3)]),
        // "Want results exactly in the middle of the bucket."
        (&MIDDLES, &[(1. / 6., 1.), (0.5, 3.), (5. / 6., 5.)]),
        // "Test histogram_quantile, native and classic."
        (&POSITIVE_3, &[(0., 0.), (0.25, 0.055), (0.5, 0.125), (0.75, 0.45), (1., 1.)]),
        (&NEGATIVE_3, &[(0., -0.25), (0.25, -0.225), (0.5, -0.2), (0.75, -0.15), (1., -0.1)]),
        // "Nonmonotonic buckets, triggering an info annotation."
        (&NONMONOTONIC, &[(0.01, 0.0045), (0.5, 8.5), (0.99, 979.75)]),
        // `empty_bucket` (all zero) and `const_histogram` (rate 0 everywhere):
        // "Zero buckets mean no observations, … any quantile is a NaN."
        (&Point { name: "empty_bucket", bounds: &[0.1, 0.2], counts: &[0., 0., 0.] },
         &[(0.2, NAN)]),
        (&Point { name: "const_histogram", bounds: &[0., 1., 2.], counts: &[0., 0., 0., 0.] },
         &[(1., NAN)]),
    ];
    for (point, expected) in cases {
        let buckets = otlp_buckets(QUANTILE, point.bounds, point.counts).unwrap();
        for &(q, want) in *expected {
            let got = bucket_quantile(q, buckets.clone());
            assert_close(got, want, 1e-6, &format!("{}, q = {q}", point.name));
        }
    }
    // "The unaggregated histogram for comparison": rate(request_duration_seconds_bucket[10m]).
    let unaggregated = [
        (0.11, 0.15),
        (0.09, 0.13333333333333333),
        (0.06, 0.1),
        (0.0675, 0.11666666666666667),
    ];
    for ((job, instance, counts), (p30, p50)) in REQUESTS.into_iter().zip(unaggregated) {
        let buckets = otlp_buckets(QUANTILE, &[0.1, 0.2], &counts).unwrap();
        let case = format!("request_duration_seconds{{job={job}, instance={instance}}}");
        assert_close(bucket_quantile(0.3, buckets.clone()), p30, 1e-6, &case);
        assert_close(bucket_quantile(0.5, buckets), p50, 1e-6, &case);
    }
}

/// The special cases `docs/querying/functions.md` lists for classic histograms.
#[test]
fn documented_special_cases() {
    let b = |pairs: &[(f64, f64)]| {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect::<Vec<_>>()
    };
    let two = b(&[(1., 3.), (INF, 4.)]);
    #[rustfmt::skip]
    let cases: &[(&str, f64, Vec<Bucket>, f64)] = &[
        ("0 observations", 0.5, b(&[(1., 0.), (INF, 0.)]), NAN),
        ("q < 0", -0.5, two.clone(), -INF),
        ("q > 1", 1.5, two.clone(), INF),
        ("q NaN", NAN, two.clone(), NAN),
        ("q checked before the buckets", 2., vec![], INF),
        ("fewer than two buckets", 0.5, b(&[(INF, 4.)]), NAN),
        ("no buckets", 0.5, vec![], NAN),
        ("highest bucket not +Inf", 0.5, b(&[(1., 3.), (2., 4.)]), NAN),
        ("in the highest bucket: upper bound of the second highest", 0.9, two.clone(), 1.),
        ("lowest bucket from 0 when its bound is positive", 0.375, two.clone(), 0.5),
        ("lowest bucket's bound when it is <= 0", 0.375, b(&[(-1., 3.), (INF, 4.)]), -1.),
        ("buckets in any order", 0.375, b(&[(INF, 4.), (1., 3.)]), 0.5),
        ("equal bounds add up", 0.5, b(&[(1., 1.), (1., 1.), (INF, 4.)]), 1.),
    ];
    for (case, q, buckets, want) in cases {
        assert_close(bucket_quantile(*q, buckets.clone()), *want, 0.0, case);
    }
}

#[test]
fn otlp_counts_become_cumulative_le_buckets() {
    let buckets = otlp_buckets(QUANTILE, &[0.5, 1.0, 2.5], &[3., 0., 4., 2.]).unwrap();
    let pairs: Vec<(f64, f64)> = buckets.iter().map(|b| (b.upper_bound, b.count)).collect();
    assert_eq!(pairs, [(0.5, 3.), (1.0, 3.), (2.5, 7.), (INF, 9.)]);
    // A point without buckets (OTLP allows both lists empty) has none; one bucket only +Inf.
    assert!(otlp_buckets(QUANTILE, &[], &[]).unwrap().is_empty());
    assert_eq!(
        otlp_buckets(QUANTILE, &[], &[5.]).unwrap(),
        [Bucket {
            upper_bound: INF,
            count: 5.
        }]
    );
}

#[test]
fn malformed_layouts_are_refused_with_the_reason() {
    #[rustfmt::skip]
    let cases: &[(&[f64], &[f64], &str)] = &[
        (&[1., 2.], &[1., 2.], "2 bounds need 3 bucket counts"),
        (&[1., 2.], &[], "2 bounds need 3 bucket counts"),
        (&[], &[1., 2.], "0 bounds need 1 bucket counts"),
        (&[2., 1.], &[1., 1., 1.], "strictly increasing"),
        (&[1., 1.], &[1., 1., 1.], "strictly increasing"),
        (&[1., NAN], &[1., 1., 1.], "must be finite"),
        (&[1., INF], &[1., 1., 1.], "must be finite"),
    ];
    for (bounds, counts, reason) in cases {
        let err = otlp_buckets(QUANTILE, bounds, counts)
            .unwrap_err()
            .to_string();
        assert!(err.contains(reason), "{bounds:?} {counts:?}: {err}");
    }
}

/// A session with the functions, split into `partitions` so that aggregates run as partial
/// states merged at the end.
fn session(partitions: usize) -> SessionContext {
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    crate::functions::register(&ctx);
    ctx
}

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

/// The `request_duration_seconds` series as a table `t(job, instance, bounds,
/// bucket_counts)`, one row per partition so `histogram_merge` merges partial states.
async fn requests(ctx: &SessionContext) {
    let rows: Vec<String> = REQUESTS
        .iter()
        .map(|(job, instance, [a, b, c])| {
            format!("('{job}', '{instance}', [0.1, 0.2], [{a}, {b}, {c}])")
        })
        .collect();
    let sql = format!(
        "SELECT column1 AS job, column2 AS instance, column3 AS bounds, \
         arrow_cast(column4, 'List(Int64)') AS bucket_counts FROM (VALUES {})",
        rows.join(", ")
    );
    let batches = query(ctx, &sql).await;
    let schema = batches[0].schema();
    let batch = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
    let partitions = (0..batch.num_rows())
        .map(|i| vec![batch.slice(i, 1)])
        .collect();
    let table = MemTable::try_new(schema, partitions).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
}

fn floats(batches: &[RecordBatch], column: usize) -> Vec<Option<f64>> {
    batches
        .iter()
        .flat_map(|b| {
            let a: &Float64Array = b.column(column).as_primitive::<Float64Type>();
            a.iter().collect::<Vec<_>>()
        })
        .collect()
}

/// `histogram_quantile(0.3 | 0.5, sum by (le) (…))` and `sum by (job, le)` of
/// `histograms.test` ("Aggregated histogram: Everything in one", "By job") as SQL.
#[tokio::test]
async fn merged_quantiles_in_sql_match_prometheus_aggregations() {
    let ctx = session(4);
    requests(&ctx).await;
    let all = query(
        &ctx,
        "SELECT histogram_quantile(0.3, histogram_merge(bounds, bucket_counts)),
                histogram_quantile(0.5, histogram_merge(bounds, bucket_counts)) FROM t",
    )
    .await;
    let all: Vec<f64> = [floats(&all, 0), floats(&all, 1)]
        .concat()
        .into_iter()
        .flatten()
        .collect();
    assert_close(all[0], 0.075, 1e-6, "sum by (le), q = 0.3");
    assert_close(all[1], 0.1277777777777778, 1e-6, "sum by (le), q = 0.5");

    let by_job = query(
        &ctx,
        "SELECT job, histogram_quantile(0.3, h) AS p30, histogram_quantile(0.5, h) AS p50
         FROM (SELECT job, histogram_merge(bounds, bucket_counts) AS h FROM t GROUP BY job)
         ORDER BY job",
    )
    .await;
    let expected = [(0.1, 0.14), (0.0642857142857143, 0.1125)];
    for (i, (p30, p50)) in expected.into_iter().enumerate() {
        assert_close(floats(&by_job, 1)[i].unwrap(), p30, 1e-6, "by job, q = 0.3");
        assert_close(floats(&by_job, 2)[i].unwrap(), p50, 1e-6, "by job, q = 0.5");
    }

    // The merged buckets themselves, and the three-argument form over one point's buckets.
    let merged = query(
        &ctx,
        "SELECT histogram_merge(bounds, bucket_counts)['bucket_counts'] AS merged,
                (SELECT histogram_quantile(0.5, bounds, bucket_counts) FROM t
                 WHERE job = 'job1' AND instance = 'ins1') AS one FROM t",
    )
    .await;
    let text = pretty_format_batches(&merged).unwrap().to_string();
    assert!(text.contains("| [10, 9, 6] |"), "{text}");
    // One histogram per bucket layout, as docs/sql.md shows.
    let by_layout = query(
        &ctx,
        "SELECT bounds, histogram_quantile(0.3, histogram_merge(bounds, bucket_counts)) AS p30
         FROM t GROUP BY bounds",
    )
    .await;
    assert_close(
        floats(&by_layout, 1)[0].unwrap(),
        0.075,
        1e-6,
        "GROUP BY bounds",
    );
    // 0.1 + 0.1 · (1 / 2) is 0.15000000000000002 in float64, in Go as here.
    assert_close(
        floats(&merged, 1)[0].unwrap(),
        0.15,
        1e-12,
        "job1/ins1, q = 0.5",
    );
}

/// Nulls and empty inputs follow SQL: no rows merged gives a null histogram and quantile;
/// a null argument gives null; a point without buckets is skipped by the merge.
#[tokio::test]
async fn nulls_and_empty_inputs() {
    let ctx = session(1);
    requests(&ctx).await;
    let batches = query(
        &ctx,
        "SELECT (SELECT histogram_quantile(0.5, histogram_merge(bounds, bucket_counts))
                 FROM t WHERE job = 'none') AS no_rows,
                histogram_quantile(NULL, [1.0], [1, 2]) AS null_q,
                histogram_quantile(0.5, NULL, [1, 2]) AS null_bounds,
                histogram_quantile(0.25, [1.0], [1, 2]) AS one_bound,
                histogram_quantile(0.5, arrow_cast([], 'List(Float64)'),
                                   arrow_cast([], 'List(Int64)')) AS no_buckets,
                histogram_quantile(0.25, [1.0], [1.5, 2.5]) AS float_counts",
    )
    .await;
    let row: Vec<Option<f64>> = (0..6).map(|c| floats(&batches, c)[0]).collect();
    assert_eq!(row[..3], [None, None, None]);
    // (0, 1] holds 1 of 3 observations: rank 0.75 is three quarters into it.
    assert_eq!(row[3], Some(0.75));
    assert!(row[4].unwrap().is_nan());
    // Float counts (a difference of cumulative points, say) are taken as Prometheus does.
    assert_close(row[5].unwrap(), 1.0 / 1.5, 1e-12, "float counts");

    let skipped = query(
        &ctx,
        "SELECT histogram_quantile(0.5, histogram_merge(b, c)) FROM (VALUES
           ([0.1, 0.2], [1, 2, 1]),
           (arrow_cast([], 'List(Float64)'), arrow_cast([], 'List(Int64)')),
           (NULL, [5, 5, 5])) AS p(b, c)",
    )
    .await;
    assert_close(
        floats(&skipped, 0)[0].unwrap(),
        0.15,
        1e-12,
        "empty and null rows skipped",
    );
}

#[tokio::test]
async fn merging_different_layouts_or_bad_shapes_fails_with_the_reason() {
    let ctx = session(2);
    #[rustfmt::skip]
    let cases = [
        ("SELECT histogram_merge(b, c) FROM (VALUES ([0.1, 0.2], [1, 2, 3]), ([0.1, 0.5], [1, 2, 3])) AS p(b, c)",
         "rows have different bounds, [0.1, 0.2] and [0.1, 0.5]"),
        ("SELECT histogram_merge(b, c) FROM (VALUES ([0.1, 0.2], [1, 2])) AS p(b, c)",
         "2 bounds need 3 bucket counts"),
        ("SELECT histogram_quantile(0.5, [0.2, 0.1], [1, 2, 3])", "strictly increasing"),
        ("SELECT histogram_merge(b, c) FROM (VALUES ([0.1], [1.5, 2.5])) AS p(b, c)",
         "histogram_merge takes (bounds LIST<DOUBLE>, bucket_counts LIST<BIGINT>)"),
        ("SELECT histogram_quantile(0.5, [0.1])", "histogram_quantile takes (q DOUBLE"),
        ("SELECT histogram_quantile(0.5, [0.1], [1, NULL])", "bucket_counts holds a null element"),
    ];
    for (sql, reason) in cases {
        let err = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()).unwrap_err(),
            Err(e) => e,
        };
        assert!(err.to_string().contains(reason), "{sql}: {err}");
    }
}

#[test]
fn merge_accumulator_state_round_trips() {
    let mut a = MergeAccumulator::default();
    a.add(&[1., 2.], &[1, 2, 3]).unwrap();
    let state: Vec<ArrayRef> = a
        .state()
        .unwrap()
        .iter()
        .map(|s| s.to_array().unwrap())
        .collect();
    let mut b = MergeAccumulator::default();
    b.add(&[1., 2.], &[10, 20, 30]).unwrap();
    b.merge_batch(&state).unwrap();
    assert_eq!(b.counts, [11, 22, 33]);
    let mut overflow = MergeAccumulator::default();
    overflow.add(&[1.], &[i64::MAX, 0]).unwrap();
    let err = overflow.add(&[1.], &[1, 0]).unwrap_err().to_string();
    assert!(err.contains("overflows BIGINT"), "{err}");
}
