use super::{BucketSpan, ExponentialBuckets, exponential_quantile};

fn span(offset: i32, counts: &[f64]) -> BucketSpan {
    BucketSpan {
        offset,
        counts: counts.to_vec(),
    }
}

/// Prometheus' `{{schema:0 count:… z_bucket:Z z_bucket_w:0.001 buckets:[…] n_buckets:[…]}}`:
/// its bucket 0 is `(0.5, 1]`, OTLP's index -1 at scale 0.
fn prometheus(zero_count: f64, positive: &[f64], negative: &[f64]) -> ExponentialBuckets {
    ExponentialBuckets {
        scale: 0,
        zero_count,
        zero_threshold: 0.001,
        positive: span(-1, positive),
        negative: span(-1, negative),
    }
}

fn assert_close(got: f64, want: f64, what: &str) {
    let ok = got == want || (got - want).abs() <= 1e-12 * want.abs().max(1e-300);
    assert!(ok, "{what}: got {got}, want {want}");
}

/// `histogram_quantile_3`'s (q, expected quantile) pairs in `native_histograms.test`.
const HISTOGRAM_QUANTILE_3: &[(f64, f64)] = &[
    (1.001, f64::INFINITY),
    (1.0, 16.0),
    (0.99, 15.34822590920423),
    (0.9, 10.556063286183155),
    (0.7, 1.2030250360821164),
    (0.55, 0.0006),
    (0.5, 0.0),
    (0.45, -0.0006),
    (0.3, -1.2030250360821169),
    (0.1, -10.556063286183155),
    (0.01, -15.34822590920423),
    (0.0, -16.0),
    (-1.0, f64::NEG_INFINITY),
];

/// A histogram's name in the test file, the histogram, and (q, the quantile expected).
type Case = (&'static str, ExponentialBuckets, &'static [(f64, f64)]);

/// The native-histogram cases of `histogram_quantile` in prometheus/prometheus,
/// `promql/promqltest/testdata/native_histograms.test` (commit d15adb9ad7):
/// `histogram_quantile_1` (positive buckets and a zero bucket), `_2` (negative) and `_3`
/// (both), with every quantile that file evaluates and the value it expects.
#[test]
fn quantiles_match_prometheus_native_histogram_tests() {
    let counts = [2.0, 3.0, 0.0, 1.0, 4.0];
    let cases: [Case; 3] = [
        (
            "histogram_quantile_1",
            prometheus(2.0, &counts, &[]),
            &[
                (1.001, f64::INFINITY),
                (1.0, 16.0),
                (0.99, 15.67072476139083),
                (0.9, 12.99603834169977),
                (0.6, 4.594793419988138),
                (0.5, 1.5874010519681994),
                (0.1, 0.0006),
                (0.0, 0.0),
                (-1.0, f64::NEG_INFINITY),
            ],
        ),
        (
            "histogram_quantile_2",
            prometheus(2.0, &[], &counts),
            &[
                (1.001, f64::INFINITY),
                (1.0, 0.0),
                (0.99, -0.00006),
                (0.9, -0.0006),
                (0.5, -1.5874010519681996),
                (0.1, -12.996038341699768),
                (0.0, -16.0),
                (-1.0, f64::NEG_INFINITY),
            ],
        ),
        (
            "histogram_quantile_3",
            prometheus(4.0, &counts, &counts),
            HISTOGRAM_QUANTILE_3,
        ),
    ];
    for (name, histogram, expected) in cases {
        for &(q, want) in expected {
            let got = exponential_quantile(q, &histogram);
            assert_close(got, want, &format!("{name} q={q}"));
        }
    }
    assert!(exponential_quantile(0.5, &ExponentialBuckets::default()).is_nan());
    assert!(exponential_quantile(f64::NAN, &prometheus(2.0, &counts, &[])).is_nan());
}

#[test]
fn downscaling_merges_pairs_of_buckets() {
    // Scale 1: buckets -3..=2 are (2^-1.5, 2^-1], (2^-1, 2^-0.5], (2^-0.5, 1], (1, 2^0.5],
    // (2^0.5, 2], (2, 2^1.5]; at scale 0 they pair up into (0.25, 0.5], (0.5, 1], (1, 2],
    // (2, 4].
    let mut h = ExponentialBuckets {
        scale: 1,
        positive: span(-3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        negative: span(0, &[7.0]),
        ..Default::default()
    };
    h.downscale(0);
    assert_eq!(h.scale, 0);
    assert_eq!(h.positive, span(-2, &[1.0, 5.0, 9.0, 6.0]));
    assert_eq!(h.negative, span(0, &[7.0]));
    assert_eq!(h.count(), 28.0);
    // Three steps more: every bucket of (0.25, 4] falls into scale -3's (2^-8, 1] or (1, 256].
    h.downscale(-3);
    assert_eq!(h.positive, span(-1, &[6.0, 15.0]));
}

#[test]
fn merging_two_scales_equals_the_histogram_of_all_observations() {
    let fine = ExponentialBuckets {
        scale: 2,
        zero_count: 1.0,
        positive: span(4, &[1.0, 1.0, 0.0, 2.0]),
        ..Default::default()
    };
    let coarse = ExponentialBuckets {
        scale: 1,
        positive: span(1, &[3.0]),
        negative: span(-2, &[1.0, 1.0]),
        ..Default::default()
    };
    let mut merged = fine.clone();
    merged.merge(&coarse);
    // Scale 2's buckets 4..=7 are scale 1's 2 and 3.
    let want = ExponentialBuckets {
        scale: 1,
        zero_count: 1.0,
        zero_threshold: 0.0,
        positive: span(1, &[3.0, 2.0, 2.0]),
        negative: span(-2, &[1.0, 1.0]),
    };
    assert_eq!(merged, want);
    let mut other_way = coarse.clone();
    other_way.merge(&fine);
    assert_eq!(other_way, want);
    assert_eq!(merged.count(), fine.count() + coarse.count());
}

#[test]
fn a_wider_zero_bucket_takes_the_buckets_within_it() {
    let mut h = ExponentialBuckets {
        scale: 0,
        zero_count: 1.0,
        // (0.125, 0.25], (0.25, 0.5], (0.5, 1]
        positive: span(-3, &[2.0, 3.0, 4.0]),
        ..Default::default()
    };
    h.merge(&ExponentialBuckets {
        scale: 0,
        zero_count: 5.0,
        zero_threshold: 0.5,
        ..Default::default()
    });
    assert_eq!(h.zero_threshold, 0.5);
    assert_eq!(h.zero_count, 11.0);
    assert_eq!(h.positive, span(-1, &[4.0]));
}

#[test]
fn the_increase_of_a_cumulative_histogram_and_its_resets() {
    let before = ExponentialBuckets {
        scale: 2,
        zero_count: 1.0,
        positive: span(0, &[1.0, 2.0]),
        ..Default::default()
    };
    // The SDK downscaled to 1 as the range grew: 0 and 1 became bucket 0.
    let after = ExponentialBuckets {
        scale: 1,
        zero_count: 2.0,
        positive: span(0, &[5.0, 0.0, 0.0, 1.0]),
        ..Default::default()
    };
    let increase = after.minus(&before).expect("no bucket decreased");
    assert_eq!(increase.scale, 1);
    assert_eq!(increase.zero_count, 1.0);
    assert_eq!(increase.positive, span(0, &[2.0, 0.0, 0.0, 1.0]));
    // A bucket that lost observations: the stream restarted.
    let restarted = ExponentialBuckets {
        scale: 2,
        zero_count: 1.0,
        positive: span(0, &[1.0]),
        ..Default::default()
    };
    assert_eq!(restarted.minus(&before), None);
}

mod in_sql {
    use std::sync::Arc;

    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// `histogram_quantile_3` of Prometheus' `native_histograms.test` in three `metrics`-like
    /// rows, one per partition so that the merge adds partial states: its positive buckets
    /// at scale 1 (the scale-0 buckets split in two), its negative ones at scale 0, and a
    /// gauge's row (no scale), which the merge skips.
    async fn session() -> SessionContext {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
        crate::functions::register(&ctx);
        let sql = "SELECT arrow_cast(column1, 'Int32') AS scale, column2 AS zero_count, \
                   arrow_cast(column3, 'Int32') AS positive_offset, \
                   arrow_cast(column4, 'List(Int64)') AS positive_counts, \
                   arrow_cast(column5, 'Int32') AS negative_offset, \
                   arrow_cast(column6, 'List(Int64)') AS negative_counts, \
                   column7 AS zero_threshold FROM (VALUES \
                   (1, 4, -2, [1, 1, 2, 1, 0, 0, 1, 0, 2, 2], 0, [], 0.001), \
                   (0, 0, 0, [], -1, [2, 3, 0, 1, 4], NULL), \
                   (NULL, NULL, NULL, NULL, NULL, NULL, NULL))";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let schema = batches[0].schema();
        let batch = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
        let partitions = (0..batch.num_rows())
            .map(|i| vec![batch.slice(i, 1)])
            .collect();
        let table = MemTable::try_new(schema, partitions).unwrap();
        ctx.register_table("metrics", Arc::new(table)).unwrap();
        ctx
    }

    fn floats(batches: &[RecordBatch]) -> Vec<Option<f64>> {
        batches
            .iter()
            .flat_map(|b| {
                (0..b.num_columns())
                    .flat_map(|c| b.column(c).as_primitive::<Float64Type>().iter())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every quantile the file evaluates of `histogram_quantile_3` (zero bucket 0.001 wide,
    /// the wider of the rows'), and without `zero_threshold` those in the zero bucket are
    /// 0 (it holds exact zeros then).
    #[tokio::test]
    async fn merged_quantiles_match_prometheus() {
        let ctx = session().await;
        let cases = super::HISTOGRAM_QUANTILE_3;
        let columns: Vec<String> = cases
            .iter()
            .map(|(q, _)| {
                format!(
                    "exponential_histogram_quantile({q}, exponential_histogram_merge(scale, \
                     zero_count, positive_offset, positive_counts, negative_offset, \
                     negative_counts, zero_threshold))"
                )
            })
            .collect();
        let sql = format!("SELECT {} FROM metrics", columns.join(", "));
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        assert_eq!(floats(&batches).len(), cases.len());
        for (got, &(q, want)) in floats(&batches).into_iter().zip(cases) {
            super::assert_close(got.unwrap(), want, &format!("q={q}"));
        }
        let sql = "SELECT exponential_histogram_quantile(0.55, exponential_histogram_merge(scale, \
                   zero_count, positive_offset, positive_counts, negative_offset, \
                   negative_counts)) FROM metrics";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(floats(&batches), vec![Some(0.0)]);
        // One point, the negative row alone (10 observations): rank 4 from the top ends 2
        // into (-2, -1]'s 3, a third of the way up from -2 on the log scale: -2^(2/3).
        let sql = "SELECT exponential_histogram_quantile(0.6, scale, zero_count, positive_offset, \
                   positive_counts, negative_offset, negative_counts) FROM metrics \
                   WHERE positive_offset = 0";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        super::assert_close(
            floats(&batches)[0].unwrap(),
            -(2.0_f64 / 3.0).exp2(),
            "one point",
        );
        // No exponential rows: a null histogram and a null quantile.
        let sql = "SELECT exponential_histogram_quantile(0.5, exponential_histogram_merge(scale, \
                   zero_count, positive_offset, positive_counts, negative_offset, \
                   negative_counts)) FROM metrics WHERE scale IS NULL";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(floats(&batches), vec![None]);
    }

    #[tokio::test]
    async fn wrong_arguments_are_refused_by_name() {
        let ctx = session().await;
        let err = ctx
            .sql("SELECT exponential_histogram_merge(scale, zero_count) FROM metrics")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exponential_histogram_merge takes (scale, zero_count, positive_offset"),
            "{err}"
        );
        let err = ctx
            .sql("SELECT exponential_histogram_quantile(0.5, 'x') FROM metrics")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exponential_histogram_quantile takes"),
            "{err}"
        );
    }
}
