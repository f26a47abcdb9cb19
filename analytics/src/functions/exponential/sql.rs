//! The SQL surface of exponential histograms, beside `histogram_quantile` and
//! `histogram_merge` of explicit buckets:
//!
//! - `exponential_histogram_merge(scale, zero_count, positive_offset, positive_counts,
//!   negative_offset, negative_counts[, zero_threshold])`, an aggregate over the `metrics`
//!   columns of those names: adds its rows' buckets at the coarsest scale among them
//!   (PromQL's `sum` of native histograms) and returns `STRUCT<scale INT, zero_count DOUBLE,
//!   positive_offset INT, positive_counts LIST<DOUBLE>, negative_offset INT, negative_counts
//!   LIST<DOUBLE>, zero_threshold DOUBLE>`; rows whose `scale` is null (points of other
//!   types) are skipped; without `zero_threshold` (or where it is null) the zero bucket
//!   holds exact zeros;
//! - `exponential_histogram_quantile(q, histogram)` over what the merge returns, and
//!   `exponential_histogram_quantile(q, scale, zero_count, positive_offset, positive_counts,
//!   negative_offset, negative_counts[, zero_threshold])` over one data point: a `DOUBLE`,
//!   as [`exponential_quantile`] estimates it.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int32Array, ListArray, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int32Type};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::{BucketSpan, ExponentialBuckets, exponential_quantile};
use crate::functions::histogram::float_list;

/// SQL name of the scalar function.
pub const QUANTILE: &str = "exponential_histogram_quantile";
/// SQL name of the aggregate.
pub const MERGE: &str = "exponential_histogram_merge";

/// The columns of an exponential histogram, in argument and field order; the last,
/// `zero_threshold`, may be left out of the arguments.
const FIELDS: [&str; 7] = [
    "scale",
    "zero_count",
    "positive_offset",
    "positive_counts",
    "negative_offset",
    "negative_counts",
    "zero_threshold",
];

/// Whether `n` arguments (beside `q`) are the columns: all of them, or all but
/// `zero_threshold`.
fn column_count_fits(n: usize) -> bool {
    n == FIELDS.len() || n == FIELDS.len() - 1
}

/// Registers `exponential_histogram_quantile` and `exponential_histogram_merge` on `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(Quantile::new()));
    ctx.register_udaf(AggregateUDF::from(Merge::new()));
}

/// The types the columns are cast to, in [`FIELDS`] order.
fn field_types() -> [DataType; 7] {
    [
        DataType::Int32,
        DataType::Float64,
        DataType::Int32,
        float_list(),
        DataType::Int32,
        float_list(),
        DataType::Float64,
    ]
}

/// What `exponential_histogram_merge` returns.
fn merged_type() -> DataType {
    let fields: Vec<Field> = FIELDS
        .iter()
        .zip(field_types())
        .map(|(name, t)| Field::new(*name, t, true))
        .collect();
    DataType::Struct(Fields::from(fields))
}

/// Whether `t` can be cast to `to` for one of the column arguments.
fn castable(t: &DataType, to: &DataType) -> bool {
    match to {
        DataType::List(_) => {
            t == &DataType::Null
                || matches!(t, DataType::List(f) | DataType::LargeList(f)
                    if f.data_type().is_numeric() || f.data_type() == &DataType::Null)
        }
        _ => t.is_numeric() || t == &DataType::Null,
    }
}

/// The columns cast to [`field_types`], from arrays in [`FIELDS`] order.
struct Columns {
    scale: Int32Array,
    zero_count: ArrayRef,
    /// `None` when the arguments leave it out.
    zero_threshold: Option<ArrayRef>,
    positive_offset: Int32Array,
    positive_counts: ListArray,
    negative_offset: Int32Array,
    negative_counts: ListArray,
}

impl Columns {
    fn new(arrays: &[ArrayRef]) -> DfResult<Columns> {
        let cast_all: Vec<ArrayRef> = arrays
            .iter()
            .zip(field_types())
            .map(|(a, t)| cast(a, &t))
            .collect::<Result<_, _>>()?;
        let int = |i: usize| cast_all[i].as_primitive::<Int32Type>().clone();
        let list = |i: usize| cast_all[i].as_list::<i32>().clone();
        Ok(Columns {
            scale: int(0),
            zero_count: cast_all[1].clone(),
            zero_threshold: cast_all.get(6).cloned(),
            positive_offset: int(2),
            positive_counts: list(3),
            negative_offset: int(4),
            negative_counts: list(5),
        })
    }

    /// Row `row` as buckets; `None` when its scale is null (not an exponential histogram).
    fn row(&self, row: usize, function: &str) -> DfResult<Option<ExponentialBuckets>> {
        if self.scale.is_null(row) {
            return Ok(None);
        }
        let span = |offset: &Int32Array, counts: &ListArray, what: &str| -> DfResult<BucketSpan> {
            if counts.is_null(row) {
                return Ok(BucketSpan::default());
            }
            let values = counts.value(row);
            let values = values.as_primitive::<Float64Type>();
            if values.null_count() > 0 {
                return exec_err!("{function}: {what} holds a null element");
            }
            Ok(BucketSpan {
                offset: if offset.is_null(row) {
                    0
                } else {
                    offset.value(row)
                },
                counts: values.values().to_vec(),
            })
        };
        let zero_count = self.zero_count.as_primitive::<Float64Type>();
        let scale = self.scale.value(row);
        if !(-10..=20).contains(&scale) {
            return exec_err!("{function}: scale {scale} is outside OTLP's -10 to 20");
        }
        Ok(Some(ExponentialBuckets {
            scale,
            zero_count: if zero_count.is_null(row) {
                0.0
            } else {
                zero_count.value(row)
            },
            zero_threshold: self
                .zero_threshold
                .as_ref()
                .map(|a| a.as_primitive::<Float64Type>())
                .filter(|a| !a.is_null(row))
                .map_or(0.0, |a| a.value(row)),
            positive: span(
                &self.positive_offset,
                &self.positive_counts,
                "positive_counts",
            )?,
            negative: span(
                &self.negative_offset,
                &self.negative_counts,
                "negative_counts",
            )?,
        }))
    }
}

/// `exponential_histogram_quantile(q, histogram)` or `(q, the columns)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Quantile {
    signature: Signature,
}

impl Quantile {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Quantile {
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
                if q_ok && FIELDS[..6].iter().all(|n| fields.find(n).is_some()) =>
            {
                Ok(vec![DataType::Float64, arg_types[1].clone()])
            }
            [_, rest @ ..]
                if q_ok
                    && column_count_fits(rest.len())
                    && rest
                        .iter()
                        .zip(field_types())
                        .all(|(t, to)| castable(t, &to)) =>
            {
                Ok(std::iter::once(DataType::Float64)
                    .chain(field_types().into_iter().take(rest.len()))
                    .collect())
            }
            _ => plan_err!(
                "{QUANTILE} takes (q DOUBLE, {MERGE}(…)) or (q DOUBLE, scale, zero_count, \
                 positive_offset, positive_counts, negative_offset, negative_counts[, \
                 zero_threshold]), got {arg_types:?}"
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
        let (columns, whole) = if let [_, histogram] = arrays.as_slice() {
            let histogram = histogram.as_struct();
            let mut fields = FIELDS[..6]
                .iter()
                .map(|name| match histogram.column_by_name(name) {
                    Some(column) => Ok(column.clone()),
                    None => exec_err!("{QUANTILE}: the histogram has no field {name}"),
                })
                .collect::<DfResult<Vec<_>>>()?;
            fields.extend(histogram.column_by_name(FIELDS[6]).cloned());
            (Columns::new(&fields)?, Some(histogram))
        } else {
            (Columns::new(&arrays[1..])?, None)
        };
        let mut out = Float64Builder::with_capacity(rows);
        for row in 0..rows {
            let buckets = if q.is_null(row) || whole.is_some_and(|s| s.is_null(row)) {
                None
            } else {
                columns.row(row, QUANTILE)?
            };
            match buckets {
                Some(buckets) => out.append_value(exponential_quantile(q.value(row), &buckets)),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `exponential_histogram_merge(the columns)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Merge {
    signature: Signature,
}

impl Merge {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for Merge {
    fn name(&self) -> &str {
        MERGE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if column_count_fits(arg_types.len())
            && arg_types
                .iter()
                .zip(field_types())
                .all(|(t, to)| castable(t, &to))
        {
            return Ok(field_types()[..arg_types.len()].to_vec());
        }
        plan_err!(
            "{MERGE} takes (scale, zero_count, positive_offset, positive_counts, \
             negative_offset, negative_counts[, zero_threshold]), the metrics columns of those \
             names; got {arg_types:?}"
        )
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(merged_type())
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::<MergeAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(FIELDS
            .iter()
            .zip(field_types())
            .map(|(name, t)| Arc::new(Field::new(format_state_name(args.name, name), t, true)))
            .collect())
    }
}

/// The running merge of one group; `None` until a row with a scale arrives.
#[derive(Debug, Default)]
struct MergeAccumulator {
    merged: Option<ExponentialBuckets>,
}

impl MergeAccumulator {
    /// Adds every row of the columns: input rows and partial states alike.
    fn add(&mut self, arrays: &[ArrayRef]) -> DfResult<()> {
        let columns = Columns::new(arrays)?;
        for row in 0..columns.scale.len() {
            if let Some(buckets) = columns.row(row, MERGE)? {
                match &mut self.merged {
                    Some(merged) => merged.merge(&buckets),
                    None => self.merged = Some(buckets),
                }
            }
        }
        Ok(())
    }

    /// The seven values, null when nothing was merged.
    fn values(&self) -> Vec<ScalarValue> {
        let list = |span: Option<&BucketSpan>| {
            let values = span.map(|s| s.counts.iter().map(|c| Some(*c)));
            ScalarValue::List(Arc::new(
                ListArray::from_iter_primitive::<Float64Type, _, _>([values]),
            ))
        };
        let m = self.merged.as_ref();
        vec![
            ScalarValue::Int32(m.map(|m| m.scale)),
            ScalarValue::Float64(m.map(|m| m.zero_count)),
            ScalarValue::Int32(m.map(|m| m.positive.offset)),
            list(m.map(|m| &m.positive)),
            ScalarValue::Int32(m.map(|m| m.negative.offset)),
            list(m.map(|m| &m.negative)),
            ScalarValue::Float64(m.map(|m| m.zero_threshold)),
        ]
    }
}

impl Accumulator for MergeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.add(states)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(self.values())
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        if self.merged.is_none() {
            return ScalarValue::try_from(&merged_type());
        }
        let DataType::Struct(fields) = merged_type() else {
            unreachable!("merged_type is a struct")
        };
        let columns = self
            .values()
            .iter()
            .map(ScalarValue::to_array)
            .collect::<DfResult<Vec<_>>>()?;
        let merged = StructArray::try_new(fields, columns, None)?;
        Ok(ScalarValue::Struct(Arc::new(merged)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.merged.as_ref().map_or(0, |m| {
                (m.positive.counts.capacity() + m.negative.counts.capacity()) * size_of::<f64>()
            })
    }
}
