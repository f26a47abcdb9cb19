//! Arrow schemas of the stored tables (SPEC §4) and the names of every table and view.
//!
//! `spans`, `scores` and `metrics` (one row per OTLP metric data point, columns in
//! [`metric_columns`]) are stored, as are `drift`, `alerts` and `audit`: the collector
//! writes batches of exactly these schemas to the WAL, the hot buffer and the Delta
//! tables, and the query side reads them back with the same schema. `transactions` is a view over `spans` defined in `analytics`.
//! Each stored table ends with the `date` partition column (`YYYY-MM-DD` of `time`, UTC),
//! the Delta partition that keeps a day's files together and prunes by day.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// A stored table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per span.
    Spans,
    /// One row per evaluation or feedback score.
    Scores,
    /// One row per monitor, series and closed window (written by the monitor scheduler).
    Drift,
    /// Every alert transition, notification and delivery attempt (copied from the alert
    /// dispatcher's records).
    Alerts,
    /// The tamper-evident audit log: who changed what, refused requests, the loaded
    /// config; each row chained to the previous one by SHA-256 (`vigil-audit`).
    Audit,
    /// One row per OTLP metric data point (gauge, sum, histogram, exponential histogram,
    /// summary).
    Metrics,
}

impl Table {
    /// Every stored table, in WAL-record order.
    pub const ALL: [Table; 6] = [
        Table::Spans,
        Table::Scores,
        Table::Drift,
        Table::Alerts,
        Table::Audit,
        Table::Metrics,
    ];

    /// The SQL and directory name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::Scores => "scores",
            Table::Drift => "drift",
            Table::Alerts => "alerts",
            Table::Audit => "audit",
            Table::Metrics => "metrics",
        }
    }

    /// Stable one-byte id used in WAL records. Never renumber.
    pub fn id(self) -> u8 {
        match self {
            Table::Spans => 1,
            Table::Scores => 2,
            Table::Drift => 3,
            Table::Alerts => 4,
            Table::Audit => 5,
            Table::Metrics => 6,
        }
    }

    /// Inverse of [`Table::id`].
    pub fn from_id(id: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The Arrow schema of the table's stored rows.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Spans => SPANS.clone(),
            Table::Scores => SCORES.clone(),
            Table::Drift => DRIFT.clone(),
            Table::Alerts => ALERTS.clone(),
            Table::Audit => AUDIT.clone(),
            Table::Metrics => METRICS.clone(),
        }
    }

    /// The schema of the table's Delta files: [`Table::schema`] with every timestamp stored
    /// as int64 unix nanoseconds (`time` → `time_unix_nano`, `end_time` →
    /// `end_time_unix_nano`, `start_time` → `start_time_unix_nano`) and the derivable `duration_ms` left out. Delta's `timestamp`
    /// type holds microseconds only; storing OTLP's nanoseconds as integers keeps every
    /// value exact and the tables readable by any Delta reader.
    pub fn stored_schema(self) -> SchemaRef {
        match self {
            Table::Spans => STORED_SPANS.clone(),
            Table::Scores => STORED_SCORES.clone(),
            Table::Drift => STORED_DRIFT.clone(),
            Table::Alerts => STORED_ALERTS.clone(),
            Table::Audit => STORED_AUDIT.clone(),
            Table::Metrics => STORED_METRICS.clone(),
        }
    }

    /// Position of this table in [`Table::ALL`], for per-table arrays.
    pub fn index(self) -> usize {
        match self {
            Table::Spans => 0,
            Table::Scores => 1,
            Table::Drift => 2,
            Table::Alerts => 3,
            Table::Audit => 4,
            Table::Metrics => 5,
        }
    }
}

/// Name of the view with one row per trace that has a root span.
pub const TRANSACTIONS_VIEW: &str = "transactions";

/// Name of the partition column every stored table ends with.
pub const DATE_COLUMN: &str = "date";

/// The timestamp type of every time column: nanoseconds, UTC (OTLP's unit).
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// A builder of [`attribute_map_type`] columns, with its Delta field names and nullable
/// values, with room for `capacity` rows of about four entries of 16-byte keys and values.
pub fn attribute_map_builder(
    capacity: usize,
) -> arrow::array::MapBuilder<arrow::array::StringBuilder, arrow::array::StringBuilder> {
    use arrow::array::{MapBuilder, MapFieldNames, StringBuilder};
    let names = MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    };
    // `with_capacity`, not `new`: `new` sizes the map's offsets by its (empty) key
    // builder, so they grew by doubling from one entry in every group commit.
    MapBuilder::with_capacity(
        Some(names),
        StringBuilder::with_capacity(capacity * 4, capacity * 64),
        StringBuilder::with_capacity(capacity * 4, capacity * 64),
        capacity,
    )
    .with_values_field(Arc::new(Field::new("value", DataType::Utf8, true)))
}

/// The `map<utf8, utf8>` type of attribute columns. Entry and field names follow the Delta
/// protocol's Parquet map layout (`key_value`, `key`, `value`), so that batches read back
/// from Delta have the very type the writer produced.
pub fn attribute_map_type() -> DataType {
    DataType::Map(Arc::new(attribute_map_entries()), false)
}

/// The entries field of [`attribute_map_type`].
pub fn attribute_map_entries() -> Field {
    Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    )
}

/// Columns of `spans`, in order. Typed columns are the single home of their value; every
/// other attribute goes to `attributes` / `resource_attributes` (SPEC §4).
pub mod span_columns {
    #![allow(missing_docs)]
    pub const TIME: &str = "time";
    pub const END_TIME: &str = "end_time";
    pub const DURATION_MS: &str = "duration_ms";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const SERVICE_NAME: &str = "service_name";
    pub const SERVICE_VERSION: &str = "service_version";
    pub const AGENT_NAME: &str = "agent_name";
    pub const AGENT_VERSION: &str = "agent_version";
    pub const OPERATION: &str = "operation";
    pub const PROVIDER: &str = "provider";
    pub const REQUEST_MODEL: &str = "request_model";
    pub const RESPONSE_MODEL: &str = "response_model";
    pub const RESPONSE_ID: &str = "response_id";
    pub const CONVERSATION_ID: &str = "conversation_id";
    pub const PROMPT_NAME: &str = "prompt_name";
    pub const PROMPT_VERSION: &str = "prompt_version";
    pub const TOOL_NAME: &str = "tool_name";
    pub const INPUT_TOKENS: &str = "input_tokens";
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    pub const CACHE_READ_TOKENS: &str = "cache_read_tokens";
    pub const CACHE_WRITE_TOKENS: &str = "cache_write_tokens";
    pub const REASONING_TOKENS: &str = "reasoning_tokens";
    pub const COST_USD: &str = "cost_usd";
    pub const PRICE_ID: &str = "price_id";
    pub const CONFIDENCE: &str = "confidence";
    pub const ESCALATED: &str = "escalated";
    pub const ERROR_TYPE: &str = "error_type";
    pub const ATTRIBUTES: &str = "attributes";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
}

static SPANS: LazyLock<SchemaRef> = LazyLock::new(|| {
    use span_columns::*;
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        Field::new(TIME, timestamp_type(), false),
        Field::new(END_TIME, timestamp_type(), false),
        Field::new(DURATION_MS, DataType::Float64, false),
        utf8(TRACE_ID, false),
        utf8(SPAN_ID, false),
        utf8(PARENT_SPAN_ID, true),
        utf8(NAME, false),
        utf8(KIND, false),
        utf8(STATUS_CODE, false),
        utf8(STATUS_MESSAGE, true),
        utf8(SERVICE_NAME, true),
        utf8(SERVICE_VERSION, true),
        utf8(AGENT_NAME, true),
        utf8(AGENT_VERSION, true),
        utf8(OPERATION, true),
        utf8(PROVIDER, true),
        utf8(REQUEST_MODEL, true),
        utf8(RESPONSE_MODEL, true),
        utf8(RESPONSE_ID, true),
        utf8(CONVERSATION_ID, true),
        utf8(PROMPT_NAME, true),
        utf8(PROMPT_VERSION, true),
        utf8(TOOL_NAME, true),
        int(INPUT_TOKENS),
        int(OUTPUT_TOKENS),
        int(CACHE_READ_TOKENS),
        int(CACHE_WRITE_TOKENS),
        int(REASONING_TOKENS),
        Field::new(COST_USD, DataType::Float64, true),
        utf8(PRICE_ID, true),
        Field::new(CONFIDENCE, DataType::Float64, true),
        Field::new(ESCALATED, DataType::Boolean, false),
        utf8(ERROR_TYPE, true),
        Field::new(ATTRIBUTES, attribute_map_type(), true),
        Field::new(RESOURCE_ATTRIBUTES, attribute_map_type(), true),
        utf8(DATE_COLUMN, false),
    ]))
});

/// Stored name of a timestamp column, `None` for other columns.
pub fn stored_time_column(column: &str) -> Option<&'static str> {
    match column {
        "time" => Some(TIME_UNIX_NANO),
        "end_time" => Some(END_TIME_UNIX_NANO),
        "start_time" => Some("start_time_unix_nano"),
        "window_start" => Some("window_start_unix_nano"),
        "window_end" => Some("window_end_unix_nano"),
        "eval_time" => Some("eval_time_unix_nano"),
        _ => None,
    }
}

/// Stored form of `time`.
pub const TIME_UNIX_NANO: &str = "time_unix_nano";
/// Stored form of `end_time`.
pub const END_TIME_UNIX_NANO: &str = "end_time_unix_nano";
/// Columns that are derived when read and never stored.
pub const DERIVED_COLUMNS: [&str; 1] = [span_columns::DURATION_MS];

fn stored(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| !DERIVED_COLUMNS.contains(&f.name().as_str()))
        .map(|f| match stored_time_column(f.name()) {
            Some(name) => Field::new(name, DataType::Int64, f.is_nullable()),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

static STORED_SPANS: LazyLock<SchemaRef> = LazyLock::new(|| stored(&SPANS));
static STORED_SCORES: LazyLock<SchemaRef> = LazyLock::new(|| stored(&SCORES));
static STORED_DRIFT: LazyLock<SchemaRef> = LazyLock::new(|| stored(&DRIFT));
static STORED_ALERTS: LazyLock<SchemaRef> = LazyLock::new(|| stored(&ALERTS));
static STORED_AUDIT: LazyLock<SchemaRef> = LazyLock::new(|| stored(&AUDIT));
static STORED_METRICS: LazyLock<SchemaRef> = LazyLock::new(|| stored(&METRICS));

/// Columns of `drift`, in order: SPEC §4's, then `signal`, `phase` (`baseline` while
/// Phase I collects its windows, then `monitoring`), `labels` (the `group_by` column
/// values of the series), `details` (the detector's own figures as JSON, e.g. C⁺/C⁻ and
/// N⁺/N⁻ for CUSUM), `kpis` (the window's figures beside its value as JSON: confidence
/// deciles and histogram, latency p50/p95/p99, totals) and `state` (the series' detector state after this window, JSON, from
/// which a restart resumes).
pub mod drift_columns {
    #![allow(missing_docs)]
    pub const MONITOR: &str = "monitor";
    pub const SERIES: &str = "series";
    pub const WINDOW_START: &str = "window_start";
    pub const WINDOW_END: &str = "window_end";
    pub const N: &str = "n";
    pub const VALUE: &str = "value";
    pub const BASELINE_MEAN: &str = "baseline_mean";
    pub const BASELINE_SD: &str = "baseline_sd";
    pub const STATISTIC: &str = "statistic";
    pub const UPPER: &str = "upper";
    pub const LOWER: &str = "lower";
    pub const ALARM: &str = "alarm";
    pub const DETECTOR: &str = "detector";
    pub const SIGNAL: &str = "signal";
    pub const PHASE: &str = "phase";
    pub const LABELS: &str = "labels";
    pub const DETAILS: &str = "details";
    pub const KPIS: &str = "kpis";
    pub const STATE: &str = "state";
}

static DRIFT: LazyLock<SchemaRef> = LazyLock::new(|| {
    use drift_columns::*;
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        utf8(MONITOR, false),
        utf8(SERIES, false),
        Field::new(WINDOW_START, timestamp_type(), false),
        Field::new(WINDOW_END, timestamp_type(), false),
        Field::new(N, DataType::Int64, false),
        float(VALUE),
        float(BASELINE_MEAN),
        float(BASELINE_SD),
        float(STATISTIC),
        float(UPPER),
        float(LOWER),
        Field::new(ALARM, DataType::Boolean, false),
        utf8(DETECTOR, false),
        utf8(SIGNAL, false),
        utf8(PHASE, false),
        Field::new(LABELS, attribute_map_type(), true),
        utf8(DETAILS, true),
        utf8(KPIS, true),
        utf8(STATE, false),
        utf8(DATE_COLUMN, false),
    ]))
});

/// Columns of `scores`, in order.
pub mod score_columns {
    #![allow(missing_docs)]
    pub const TIME: &str = "time";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const NAME: &str = "name";
    pub const VALUE: &str = "value";
    pub const LABEL: &str = "label";
    pub const EXPLANATION: &str = "explanation";
    pub const SOURCE: &str = "source";
    pub const SERVICE_NAME: &str = "service_name";
    pub const AGENT_NAME: &str = "agent_name";
    pub const RESPONSE_ID: &str = "response_id";
    pub const ATTRIBUTES: &str = "attributes";
}

/// Values of `scores.source`.
pub mod score_sources {
    #![allow(missing_docs)]
    pub const SPAN_EVENT: &str = "span_event";
    pub const SPAN_ATTRIBUTE: &str = "span_attribute";
    pub const LOG: &str = "log";
    pub const API: &str = "api";
}

static SCORES: LazyLock<SchemaRef> = LazyLock::new(|| {
    use score_columns::*;
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new(TIME, timestamp_type(), false),
        utf8(TRACE_ID, true),
        utf8(SPAN_ID, true),
        utf8(NAME, false),
        Field::new(VALUE, DataType::Float64, true),
        utf8(LABEL, true),
        utf8(EXPLANATION, true),
        utf8(SOURCE, false),
        utf8(SERVICE_NAME, true),
        utf8(AGENT_NAME, true),
        utf8(RESPONSE_ID, true),
        Field::new(ATTRIBUTES, attribute_map_type(), true),
        utf8(DATE_COLUMN, false),
    ]))
});

/// Columns of `alerts`, in order: one row per alert transition, notification decision,
/// delivery attempt and rollback verdict, numbered by `seq` (the alert store's sequence,
/// strictly increasing; the copy into this table is exactly once by it). `kind` is
/// `transition`, `notification`, `attempt` or `verification`; `labels` are the alert's
/// (or the notification's common) labels; `eval_time` is the end of the window that
/// caused a transition; `outcome` is `queued`, `dry_run`, `rollback_disabled`,
/// `delivered`, `retry`, `failed`, `rollback_verified` or `rollback_not_verified`;
/// `http_status` is the HTTP status (or SMTP reply code) of an attempt; `dead_letter` marks
/// the attempt that gave a notification up; `payload` is the body a dry-run or disabled
/// notification would have sent.
pub mod alert_columns {
    #![allow(missing_docs)]
    pub const SEQ: &str = "seq";
    pub const TIME: &str = "time";
    pub const KIND: &str = "kind";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const ALERTNAME: &str = "alertname";
    pub const LABELS: &str = "labels";
    pub const EVAL_TIME: &str = "eval_time";
    pub const FROM_STATE: &str = "from_state";
    pub const TO_STATE: &str = "to_state";
    pub const RECEIVER: &str = "receiver";
    pub const NOTIFICATION_ID: &str = "notification_id";
    pub const ATTEMPT: &str = "attempt";
    pub const OUTCOME: &str = "outcome";
    pub const HTTP_STATUS: &str = "http_status";
    pub const ERROR: &str = "error";
    pub const DEAD_LETTER: &str = "dead_letter";
    pub const DRY_RUN: &str = "dry_run";
    pub const PAYLOAD: &str = "payload";
}

static ALERTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    use alert_columns::*;
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        // Int64, not UInt64: Delta Lake has no unsigned types.
        Field::new(SEQ, DataType::Int64, false),
        Field::new(TIME, timestamp_type(), false),
        utf8(KIND, false),
        utf8(FINGERPRINT, false),
        utf8(ALERTNAME, true),
        Field::new(LABELS, attribute_map_type(), false),
        Field::new(EVAL_TIME, timestamp_type(), true),
        utf8(FROM_STATE, true),
        utf8(TO_STATE, true),
        utf8(RECEIVER, true),
        utf8(NOTIFICATION_ID, true),
        Field::new(ATTEMPT, DataType::Int32, true),
        utf8(OUTCOME, true),
        Field::new(HTTP_STATUS, DataType::Int32, true),
        utf8(ERROR, true),
        Field::new(DEAD_LETTER, DataType::Boolean, false),
        Field::new(DRY_RUN, DataType::Boolean, false),
        utf8(PAYLOAD, true),
        utf8(DATE_COLUMN, false),
    ]))
});

/// Columns of `audit`, in order: one row per audited event, numbered by `seq` (1-based,
/// gapless per node). `actor` is the token name or `anonymous`; `peer` the client address (`""`
/// when none); `action` what was done (`silence.create`, `auth.denied`,
/// `config.loaded`, …); `target` what it was done to (a silence id, `""` when none);
/// `details` JSON text (before and after, reason, counts). `prev_hash` is the previous
/// row's `hash` (64 zeros before `seq` 1) and `hash` the lowercase hex SHA-256 of the row
/// as `vigil-audit` encodes it, so that an edited, deleted, inserted or reordered row
/// breaks the chain. `node` is the writing node's `[cluster] node_id`: each node numbers
/// and chains its own rows. It is nullable because tables written before node ids gain
/// the column when opened and their rows read it as null (one more chain, "no node").
pub mod audit_columns {
    #![allow(missing_docs)]
    pub const SEQ: &str = "seq";
    pub const TIME: &str = "time";
    pub const ACTOR: &str = "actor";
    pub const PEER: &str = "peer";
    pub const ACTION: &str = "action";
    pub const TARGET: &str = "target";
    pub const DETAILS: &str = "details";
    pub const PREV_HASH: &str = "prev_hash";
    pub const HASH: &str = "hash";
    pub const NODE: &str = "node";
}

static AUDIT: LazyLock<SchemaRef> = LazyLock::new(|| {
    use audit_columns::*;
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        // Int64, not UInt64: Delta Lake has no unsigned types.
        Field::new(SEQ, DataType::Int64, false),
        Field::new(TIME, timestamp_type(), false),
        utf8(ACTOR),
        utf8(PEER),
        utf8(ACTION),
        utf8(TARGET),
        utf8(DETAILS),
        utf8(PREV_HASH),
        utf8(HASH),
        Field::new(NODE, DataType::Utf8, true),
        utf8(DATE_COLUMN),
    ]))
});

mod metrics;

use metrics::METRICS;
pub use metrics::{list_type, metric_columns, metric_types, temporalities};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_ends_with_the_date_partition() {
        for table in Table::ALL {
            let schema = table.schema();
            assert_eq!(schema.fields().last().unwrap().name(), DATE_COLUMN);
            assert_eq!(Table::from_id(table.id()), Some(table));
            assert_eq!(Table::ALL[table.index()], table);
        }
    }
}

/// The `date` partition value (`YYYY-MM-DD`, UTC) of a time in unix nanoseconds.
pub fn partition_date(unix_nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(unix_nanos)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod partition_tests {
    #[test]
    fn partition_date_is_the_utc_day() {
        assert_eq!(super::partition_date(0), "1970-01-01");
        // 2026-11-21T23:59:59.999999999Z and one nanosecond later.
        assert_eq!(
            super::partition_date(1_795_305_599_999_999_999),
            "2026-11-21"
        );
        assert_eq!(
            super::partition_date(1_795_305_600_000_000_000),
            "2026-11-22"
        );
    }
}
