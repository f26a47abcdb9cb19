//! The `metrics` table: one row per OTLP metric data point.
//!
//! Every point type shares one row shape: the columns a type does not have are null
//! (a gauge has no `count`, a histogram no `value`). Explicit-bounds histograms keep
//! their bounds and bucket counts as lists, exponential histograms their scale, zero
//! count and both bucket ranges, summaries their quantiles as two parallel lists
//! (`quantiles[i]` is the quantile whose value is `quantile_values[i]`): plain
//! `list<float64>` columns read as arrays in DataFusion and over the PostgreSQL wire
//! (`float8[]`), where a list of structs has no wire form.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{DATE_COLUMN, attribute_map_type, timestamp_type};

/// Columns of `metrics`, in order. `time` is the point's time, `start_time` the start
/// of its aggregation interval (null when the point has none). `operation`, `provider`,
/// `request_model`, `response_model`, `token_type`, `error_type` and `agent_name` are the
/// GenAI attributes promoted as on `spans` (the same mapping); every other point
/// attribute is in `attributes`, every resource attribute but `service.name` in
/// `resource_attributes`.
pub mod metric_columns {
    #![allow(missing_docs)]
    pub const TIME: &str = "time";
    pub const START_TIME: &str = "start_time";
    pub const SERVICE_NAME: &str = "service_name";
    pub const AGENT_NAME: &str = "agent_name";
    pub const METRIC: &str = "metric";
    pub const DESCRIPTION: &str = "description";
    pub const UNIT: &str = "unit";
    pub const TYPE: &str = "type";
    pub const TEMPORALITY: &str = "temporality";
    pub const MONOTONIC: &str = "monotonic";
    pub const OPERATION: &str = "operation";
    pub const PROVIDER: &str = "provider";
    pub const REQUEST_MODEL: &str = "request_model";
    pub const RESPONSE_MODEL: &str = "response_model";
    pub const TOKEN_TYPE: &str = "token_type";
    pub const ERROR_TYPE: &str = "error_type";
    pub const VALUE: &str = "value";
    pub const COUNT: &str = "count";
    pub const SUM: &str = "sum";
    pub const MIN: &str = "min";
    pub const MAX: &str = "max";
    pub const BOUNDS: &str = "bounds";
    pub const BUCKET_COUNTS: &str = "bucket_counts";
    pub const SCALE: &str = "scale";
    pub const ZERO_COUNT: &str = "zero_count";
    pub const ZERO_THRESHOLD: &str = "zero_threshold";
    pub const POSITIVE_OFFSET: &str = "positive_offset";
    pub const POSITIVE_COUNTS: &str = "positive_counts";
    pub const NEGATIVE_OFFSET: &str = "negative_offset";
    pub const NEGATIVE_COUNTS: &str = "negative_counts";
    pub const QUANTILES: &str = "quantiles";
    pub const QUANTILE_VALUES: &str = "quantile_values";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const ATTRIBUTES: &str = "attributes";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
}

/// Values of `metrics.type`: the OTLP data kind of the point's metric.
pub mod metric_types {
    #![allow(missing_docs)]
    pub const GAUGE: &str = "gauge";
    pub const SUM: &str = "sum";
    pub const HISTOGRAM: &str = "histogram";
    pub const EXPONENTIAL_HISTOGRAM: &str = "exponential_histogram";
    pub const SUMMARY: &str = "summary";
}

/// Values of `metrics.temporality` (null for gauges, summaries and an unspecified one).
pub mod temporalities {
    #![allow(missing_docs)]
    pub const DELTA: &str = "delta";
    pub const CUMULATIVE: &str = "cumulative";
}

/// `list<item>` with nullable items named `element`, the Delta protocol's Parquet list
/// layout, so that lists read back from Delta have the very type the writer produced
/// (as [`attribute_map_type`] does for maps).
pub fn list_type(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("element", item, true)))
}

pub(super) static METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    use metric_columns::*;
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    let int32 = |name: &str| Field::new(name, DataType::Int32, true);
    let floats = |name: &str| Field::new(name, list_type(DataType::Float64), true);
    let ints = |name: &str| Field::new(name, list_type(DataType::Int64), true);
    Arc::new(Schema::new(vec![
        Field::new(TIME, timestamp_type(), false),
        Field::new(START_TIME, timestamp_type(), true),
        utf8(SERVICE_NAME, true),
        utf8(AGENT_NAME, true),
        utf8(METRIC, false),
        utf8(DESCRIPTION, true),
        utf8(UNIT, true),
        utf8(TYPE, false),
        utf8(TEMPORALITY, true),
        Field::new(MONOTONIC, DataType::Boolean, true),
        utf8(OPERATION, true),
        utf8(PROVIDER, true),
        utf8(REQUEST_MODEL, true),
        utf8(RESPONSE_MODEL, true),
        utf8(TOKEN_TYPE, true),
        utf8(ERROR_TYPE, true),
        float(VALUE),
        // Int64, not UInt64: Delta Lake has no unsigned types (counts past 2^63 saturate).
        int(COUNT),
        float(SUM),
        float(MIN),
        float(MAX),
        floats(BOUNDS),
        ints(BUCKET_COUNTS),
        int32(SCALE),
        int(ZERO_COUNT),
        int32(POSITIVE_OFFSET),
        ints(POSITIVE_COUNTS),
        int32(NEGATIVE_OFFSET),
        ints(NEGATIVE_COUNTS),
        floats(QUANTILES),
        floats(QUANTILE_VALUES),
        utf8(SCOPE_NAME, true),
        Field::new(ATTRIBUTES, attribute_map_type(), true),
        Field::new(RESOURCE_ATTRIBUTES, attribute_map_type(), true),
        // Added after the first release of the table: last before `date`, as tables
        // written before gain it at open.
        float(ZERO_THRESHOLD),
        utf8(DATE_COLUMN, false),
    ]))
});
