//! Quantiles of OTLP explicit-bucket histograms, estimated as Prometheus'
//! `histogram_quantile` does for classic histograms.
//!
//! Two SQL functions, registered by [`super::register`]:
//!
//! - `histogram_merge(bounds, bucket_counts)`, an aggregate: adds the bucket counts of its
//!   rows element-wise, as PromQL's `sum by (le) (…)` adds classic-histogram buckets, and
//!   returns `STRUCT<bounds LIST<DOUBLE>, bucket_counts LIST<BIGINT>>`. Every row must have
//!   the same bounds (one histogram layout); rows that differ are an error naming both.
//! - `histogram_quantile(q, histogram)` over what `histogram_merge` returns, and
//!   `histogram_quantile(q, bounds, bucket_counts)` over one data point's buckets: a `DOUBLE`.
//!
//! So `histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))` reads
//! `SELECT histogram_quantile(0.99, histogram_merge(bounds, bucket_counts)) FROM metrics
//! WHERE metric = 'x' AND time > now() - INTERVAL '5 minutes'`, and `sum by (job, le)` is a
//! `GROUP BY`.
//!
//! The pure core is [`bucket_quantile`] (a port of Prometheus' `BucketQuantile`) over
//! cumulative [`Bucket`]s, and [`otlp_buckets`], which turns OTLP's per-bucket counts into
//! them. Not here: exponential (native) histograms, `histogram_fraction`, and turning
//! cumulative-temporality points into per-window deltas (the metric monitors do that).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, ListArray, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, FieldRef, Fields, Float64Type, Int64Type,
};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

#[cfg(test)]
mod tests;

/// SQL name of the scalar function.
pub const QUANTILE: &str = "histogram_quantile";
/// SQL name of the aggregate.
pub const MERGE: &str = "histogram_merge";

/// Registers `histogram_quantile` and `histogram_merge` on `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(HistogramQuantile::new()));
    ctx.register_udaf(AggregateUDF::from(HistogramMerge::new()));
}

/// One bucket of a Prometheus classic histogram: the series with label `le = upper_bound`,
/// whose value `count` is the number of observations ≤ `upper_bound` (cumulative).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// The inclusive upper bound, in the unit of the observations; `+Inf` for the last.
    pub upper_bound: f64,
    /// Observations ≤ `upper_bound`, a float as in Prometheus (a `rate` may be fractional).
    pub count: f64,
}

/// Relative difference between adjacent cumulative counts that [`bucket_quantile`] takes
/// for floating-point noise and ignores: Prometheus' `smallDeltaTolerance`
/// (`promql/quantile.go`).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The `q`-quantile of a classic histogram, exactly as Prometheus computes it: a port of
/// `BucketQuantile` in `promql/quantile.go` of prometheus/prometheus (with
/// `coalesceBuckets`, `ensureMonotonicAndIgnoreSmallDeltas` and `util/almost.Equal`),
/// documented in `docs/querying/functions.md`, `histogram_quantile()`.
///
/// `buckets` are cumulative, in any order. The quantile is interpolated linearly within the
/// bucket the rank `q · count(+Inf)` falls into, and is in the unit of the bounds:
/// - the lowest bucket's lower bound is 0 when its upper bound is positive; when that upper
///   bound is ≤ 0, a quantile in the lowest bucket is that upper bound;
/// - a quantile in the `+Inf` bucket is the upper bound of the second-highest bucket;
/// - `q` NaN → NaN, `q < 0` → `-Inf`, `q > 1` → `+Inf` (checked first, as Prometheus does);
/// - no `+Inf` bucket, fewer than 2 buckets (after buckets with equal bounds are added
///   together) or 0 observations → NaN;
/// - counts that fall from one bucket to the next are raised to the previous count, and
///   relative differences under 1e-12 are ignored (Prometheus reports these as an info
///   annotation; SQL has no channel for it, so they pass silently).
pub fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Prometheus collects buckets from unordered series; the bounds are never NaN there.
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        // Empty input cannot reach Prometheus' function; NaN is what it gives one bucket.
        _ => return f64::NAN,
    }
    coalesce(&mut buckets);
    ensure_monotonic_and_ignore_small_deltas(&mut buckets, SMALL_DELTA_TOLERANCE);
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // Go's `sort.Search(n-1, count >= rank)`, step for step, so that even counts that are
    // NaN (from a float list) land on the same bucket.
    let (mut lo, mut hi) = (0, n - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if buckets[mid].count >= rank {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let b = lo;
    if b == n - 1 {
        return buckets[n - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Adds together buckets with the same upper bound (`coalesceBuckets`); `buckets` sorted.
fn coalesce(buckets: &mut Vec<Bucket>) {
    buckets.dedup_by(|next, kept| {
        let same = next.upper_bound == kept.upper_bound;
        if same {
            kept.count += next.count;
        }
        same
    });
}

/// Prometheus' `ensureMonotonicAndIgnoreSmallDeltas`: a count within `tolerance`
/// (relative) of the last accepted one, or below it, is set to it.
fn ensure_monotonic_and_ignore_small_deltas(buckets: &mut [Bucket], tolerance: f64) {
    let Some(first) = buckets.first() else { return };
    let mut prev = first.count;
    for bucket in &mut buckets[1..] {
        let curr = bucket.count;
        if curr == prev {
            continue;
        }
        // Both branches keep `prev`: the difference is ignored, not accepted.
        if almost_equal(prev, curr, tolerance) || curr < prev {
            bucket.count = prev;
            continue;
        }
        prev = curr;
    }
}

/// Prometheus' `util/almost.Equal` (without its stale-marker case, which SQL never holds):
/// true when `a` and `b` differ by less than `epsilon` times their sum, or both are NaN.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    // f64::MIN_POSITIVE is Go's minNormal, the smallest positive normal float64.
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The cumulative [`Bucket`]s of one OTLP explicit-bucket histogram data point.
///
/// OTLP (`opentelemetry/proto/metrics/v1/metrics.proto`, `HistogramDataPoint`) counts each
/// bucket on its own: bucket `i` is `(bounds[i-1], bounds[i]]`, the first is
/// `(-Inf, bounds[0]]` and the last `(bounds[last], +Inf)`, so
/// `len(bucket_counts) = len(bounds) + 1`. Prometheus' `le` buckets are cumulative; bucket
/// `i` here gets `le = bounds[i]` (`+Inf` for the last) and the sum of counts `0..=i`, as
/// Prometheus' own OTLP translator does. Both lists empty (a point without buckets) gives
/// no buckets, which [`bucket_quantile`] answers with NaN.
///
/// # Errors
/// When `counts` is not one longer than `bounds` (unless both are empty), or the bounds are
/// not finite and strictly increasing (OTLP requires strictly increasing; an infinite bound
/// would collide with the implicit `+Inf` bucket). `function` names the SQL function.
pub fn otlp_buckets(function: &str, bounds: &[f64], counts: &[f64]) -> DfResult<Vec<Bucket>> {
    check_layout(function, bounds, counts.len())?;
    let upper_bounds = bounds
        .iter()
        .copied()
        .chain((!counts.is_empty()).then_some(f64::INFINITY));
    let cumulative = counts.iter().scan(0.0, |total, count| {
        *total += count;
        Some(*total)
    });
    Ok(upper_bounds
        .zip(cumulative)
        .map(|(upper_bound, count)| Bucket { upper_bound, count })
        .collect())
}

/// Checks one data point's layout as [`otlp_buckets`] describes.
fn check_layout(function: &str, bounds: &[f64], counts: usize) -> DfResult<()> {
    if counts != bounds.len() + 1 && !(counts == 0 && bounds.is_empty()) {
        return exec_err!(
            "{function}: {} bounds need {} bucket counts (OTLP: len(bucket_counts) = \
             len(bounds) + 1, the last bucket is (bounds[last], +Inf)), got {counts}",
            bounds.len(),
            bounds.len() + 1
        );
    }
    if let Some(bad) = bounds.iter().position(|b| !b.is_finite()) {
        return exec_err!(
            "{function}: bound {bad} is {}; bounds must be finite (the +Inf bucket is implicit)",
            bounds[bad]
        );
    }
    if let Some(i) = bounds.windows(2).position(|w| w[0] >= w[1]) {
        return exec_err!(
            "{function}: bounds must be strictly increasing (OTLP explicit_bounds), got {} \
             then {} at index {}",
            bounds[i],
            bounds[i + 1],
            i + 1
        );
    }
    Ok(())
}

/// The values of row `row` of a list array of `T`, or an error naming `what` when one is
/// null; the row itself must not be null.
fn row_values<'a, T: ArrowPrimitiveType>(
    list: &'a ListArray,
    row: usize,
    function: &str,
    what: &str,
) -> DfResult<&'a [T::Native]> {
    let values = list.values().as_primitive::<T>();
    let offsets = list.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    if values.null_count() > 0 && (start..end).any(|i| values.is_null(i)) {
        return exec_err!("{function}: {what} holds a null element");
    }
    Ok(&values.values()[start..end])
}

/// `LIST<DOUBLE>` as DataFusion builds it (`item`, nullable).
pub(super) fn float_list() -> DataType {
    DataType::new_list(DataType::Float64, true)
}

/// `LIST<BIGINT>` as DataFusion builds it (`item`, nullable).
fn int_list() -> DataType {
    DataType::new_list(DataType::Int64, true)
}

/// What `histogram_merge` returns: `STRUCT<bounds LIST<DOUBLE>, bucket_counts LIST<BIGINT>>`.
fn merged_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("bounds", float_list(), true),
        Field::new("bucket_counts", int_list(), true),
    ]))
}

/// The element type of a list type, `None` for anything else.
fn element(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// True for list types whose elements satisfy `ok`, and for a bare `NULL`.
fn is_list_of(t: &DataType, ok: impl Fn(&DataType) -> bool) -> bool {
    t == &DataType::Null || element(t).is_some_and(|e| e == &DataType::Null || ok(e))
}

/// `histogram_quantile(q, histogram)` / `histogram_quantile(q, bounds, bucket_counts)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HistogramQuantile {
    signature: Signature,
}

impl HistogramQuantile {
    fn new() -> Self {
        Self {
            // Two shapes, checked and cast in `coerce_types`.
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HistogramQuantile {
    fn name(&self) -> &str {
        QUANTILE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let q_ok = arg_types
            .first()
            .is_some_and(|t| t.is_numeric() || t == &DataType::Null);
        match arg_types {
            [_, DataType::Struct(fields)]
                if q_ok
                    && ["bounds", "bucket_counts"]
                        .iter()
                        .all(|n| fields.find(n).is_some()) =>
            {
                Ok(vec![DataType::Float64, arg_types[1].clone()])
            }
            [_, bounds, counts]
                if q_ok
                    && is_list_of(bounds, DataType::is_numeric)
                    && is_list_of(counts, DataType::is_numeric) =>
            {
                Ok(vec![DataType::Float64, float_list(), float_list()])
            }
            _ => plan_err!(
                "{QUANTILE} takes (q DOUBLE, histogram_merge(bounds, bucket_counts)) or \
                 (q DOUBLE, bounds LIST<DOUBLE>, bucket_counts LIST<BIGINT>), got {arg_types:?}"
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let q = arrays[0].as_primitive::<Float64Type>();
        // The struct's own nulls (no rows merged) ride along as a third input.
        let (bounds, counts, whole): (ArrayRef, ArrayRef, Option<&StructArray>) =
            if let [_, histogram] = arrays.as_slice() {
                let histogram = histogram.as_struct();
                let field = |name: &str| -> DfResult<ArrayRef> {
                    let Some(column) = histogram.column_by_name(name) else {
                        return exec_err!("{QUANTILE}: the histogram has no field {name}");
                    };
                    Ok(cast(column, &float_list())?)
                };
                (field("bounds")?, field("bucket_counts")?, Some(histogram))
            } else {
                (arrays[1].clone(), arrays[2].clone(), None)
            };
        let (bounds, counts) = (bounds.as_list::<i32>(), counts.as_list::<i32>());
        let mut out = Float64Builder::with_capacity(rows);
        for row in 0..rows {
            if q.is_null(row)
                || bounds.is_null(row)
                || counts.is_null(row)
                || whole.is_some_and(|s| s.is_null(row))
            {
                out.append_null();
                continue;
            }
            let b = row_values::<Float64Type>(bounds, row, QUANTILE, "bounds")?;
            let c = row_values::<Float64Type>(counts, row, QUANTILE, "bucket_counts")?;
            let buckets = otlp_buckets(QUANTILE, b, c)?;
            out.append_value(bucket_quantile(q.value(row), buckets));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `histogram_merge(bounds, bucket_counts)`: element-wise sums of bucket counts.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HistogramMerge {
    signature: Signature,
}

impl HistogramMerge {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for HistogramMerge {
    fn name(&self) -> &str {
        MERGE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            [bounds, counts]
                if is_list_of(bounds, DataType::is_numeric)
                    && is_list_of(counts, DataType::is_integer) =>
            {
                Ok(vec![float_list(), int_list()])
            }
            _ => plan_err!(
                "{MERGE} takes (bounds LIST<DOUBLE>, bucket_counts LIST<BIGINT>), got \
                 {arg_types:?}"
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(merged_type())
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::<MergeAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "bounds"),
                float_list(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "bucket_counts"),
                int_list(),
                true,
            )),
        ])
    }
}

/// The running merge of one group: the bounds of the first row with buckets and the sums.
#[derive(Debug, Default)]
struct MergeAccumulator {
    /// `None` until a row with buckets arrives.
    bounds: Option<Vec<f64>>,
    /// Element-wise sums, `bounds.len() + 1` of them.
    counts: Vec<i64>,
}

impl MergeAccumulator {
    /// Adds one data point's buckets. A point without buckets (both lists empty, as OTLP
    /// allows) carries no distribution and is skipped.
    fn add(&mut self, bounds: &[f64], counts: &[i64]) -> DfResult<()> {
        if bounds.is_empty() && counts.is_empty() {
            return Ok(());
        }
        check_layout(MERGE, bounds, counts.len())?;
        let Some(mine) = &self.bounds else {
            self.bounds = Some(bounds.to_vec());
            self.counts = counts.to_vec();
            return Ok(());
        };
        if mine.as_slice() != bounds {
            return exec_err!(
                "{MERGE}: rows have different bounds, {mine:?} and {bounds:?}; buckets of \
                 different layouts cannot be added (GROUP BY bounds, or filter to one layout)"
            );
        }
        for (sum, count) in self.counts.iter_mut().zip(counts) {
            let Some(total) = sum.checked_add(*count) else {
                return exec_err!("{MERGE}: a bucket count overflows BIGINT");
            };
            *sum = total;
        }
        Ok(())
    }

    /// Adds every non-null row of `(bounds, bucket_counts)` lists: input rows and partial
    /// states alike, since both have that shape.
    fn add_lists(&mut self, arrays: &[ArrayRef]) -> DfResult<()> {
        let (bounds, counts) = (arrays[0].as_list::<i32>(), arrays[1].as_list::<i32>());
        for row in 0..bounds.len() {
            if bounds.is_null(row) || counts.is_null(row) {
                continue;
            }
            let b = row_values::<Float64Type>(bounds, row, MERGE, "bounds")?;
            let c = row_values::<Int64Type>(counts, row, MERGE, "bucket_counts")?;
            self.add(b, c)?;
        }
        Ok(())
    }

    /// `(bounds, bucket_counts)` as one-row list arrays, null when nothing was merged.
    fn lists(&self) -> (ArrayRef, ArrayRef) {
        let (bounds, counts) = match &self.bounds {
            Some(bounds) => (
                Some(bounds.iter().map(|b| Some(*b))),
                Some(self.counts.iter().map(|c| Some(*c))),
            ),
            None => (None, None),
        };
        (
            Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>([
                bounds,
            ])),
            Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>([counts])),
        )
    }
}

impl Accumulator for MergeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add_lists(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.add_lists(states)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let (bounds, counts) = self.lists();
        Ok(vec![
            ScalarValue::List(Arc::new(bounds.as_list::<i32>().clone())),
            ScalarValue::List(Arc::new(counts.as_list::<i32>().clone())),
        ])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        if self.bounds.is_none() {
            return ScalarValue::try_from(&merged_type());
        }
        let DataType::Struct(fields) = merged_type() else {
            unreachable!("merged_type is a struct")
        };
        let (bounds, counts) = self.lists();
        let merged = StructArray::try_new(fields, vec![bounds, counts], None)?;
        Ok(ScalarValue::Struct(Arc::new(merged)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .bounds
                .as_ref()
                .map_or(0, |b| b.capacity() * size_of::<f64>())
            + self.counts.capacity() * size_of::<i64>()
    }
}
