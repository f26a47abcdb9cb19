//! Rows of the `alerts` table: every transition, notification decision, delivery attempt
//! and rollback verdict.
//!
//! [`records_batch`] turns [`AlertRecord`]s into a batch of the `alerts` table (SPEC §4),
//! whose columns are [`COLUMNS`] in order (a test holds the two together). Records are written to the
//! store in the same transaction as the change they describe and numbered by `seq`, so
//! the root can copy them at least once and drop duplicates by `seq` (or record the last
//! `seq` in its table commit, as it does with the WAL sequence, for exactly once).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use schemas::tables::{Table, attribute_map_builder, partition_date};
use schemas::window::ns_of_time;
use serde::{Deserialize, Serialize};

/// What a record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An alert changed state (`from_state` → `to_state`).
    Transition,
    /// A flush produced a notification: `queued` in the outbox, or not sent because of
    /// `dry_run` or `rollback_disabled` (the body is in `payload`).
    Notification,
    /// One delivery attempt of a queued notification.
    Attempt,
    /// A rollback watch ended: `rollback_verified` or `rollback_not_verified`.
    Verification,
}

impl RecordKind {
    /// The kind's name as stored.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Transition => "transition",
            RecordKind::Notification => "notification",
            RecordKind::Attempt => "attempt",
            RecordKind::Verification => "verification",
        }
    }
}

/// One row of the `alerts` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Store sequence number, strictly increasing, assigned when committed (0 before).
    pub seq: u64,
    /// When it happened (wall clock, UTC).
    pub time: DateTime<Utc>,
    /// What it describes.
    pub kind: RecordKind,
    /// The alert's fingerprint; for a notification or attempt, the fingerprints of its
    /// alerts joined with `,`.
    pub fingerprint: String,
    /// The monitor (`alertname`), or the common one of a notification.
    pub alertname: Option<String>,
    /// The alert's labels, or the notification's common labels, as a JSON object.
    pub labels: String,
    /// Window end of the evaluation that caused a transition or verdict.
    pub eval_time: Option<DateTime<Utc>>,
    /// State before a transition (`inactive`, `pending`, `firing`, `resolved`).
    pub from_state: Option<String>,
    /// State after a transition; `firing`/`resolved` for a notification or attempt.
    pub to_state: Option<String>,
    /// The receiver of a notification or attempt.
    pub receiver: Option<String>,
    /// The notification id (`webhook-id`).
    pub notification_id: Option<String>,
    /// Attempt number, from 1 (0 for notification records; for a verification, the
    /// windows counted).
    pub attempt: Option<u32>,
    /// `queued`, `dry_run`, `rollback_disabled`, `delivered`, `retry`, `failed`,
    /// `rollback_verified`, `rollback_not_verified`.
    pub outcome: Option<String>,
    /// HTTP status of a webhook attempt, or SMTP reply code of an email attempt.
    pub http_status: Option<u16>,
    /// Why an attempt failed.
    pub error: Option<String>,
    /// Whether this attempt moved the notification to the dead letters.
    pub dead_letter: bool,
    /// Whether dry-run mode was on (nothing was sent).
    pub dry_run: bool,
    /// The body a dry-run or disabled notification would have sent.
    pub payload: Option<String>,
}

impl AlertRecord {
    /// An empty record of `kind` at `time`; callers fill the rest.
    pub fn new(kind: RecordKind, time: DateTime<Utc>) -> Self {
        Self {
            seq: 0,
            time,
            kind,
            fingerprint: String::new(),
            alertname: None,
            labels: "{}".to_owned(),
            eval_time: None,
            from_state: None,
            to_state: None,
            receiver: None,
            notification_id: None,
            attempt: None,
            outcome: None,
            http_status: None,
            error: None,
            dead_letter: false,
            dry_run: false,
            payload: None,
        }
    }
}

/// The type of a column in the proposed `alerts` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Timestamp, nanoseconds, UTC.
    TimestampNs,
    /// UTF-8 text.
    Utf8,
    /// Unsigned 64-bit.
    UInt64,
    /// Signed 32-bit (attempt numbers, HTTP statuses).
    Int32,
    /// Boolean.
    Boolean,
}

/// One column: name, type, nullable.
pub type Column = (&'static str, ColumnType, bool);

/// The proposed `alerts` table schema, in [`AlertRecord`] field order.
pub const COLUMNS: &[Column] = &[
    ("seq", ColumnType::UInt64, false),
    ("time", ColumnType::TimestampNs, false),
    ("kind", ColumnType::Utf8, false),
    ("fingerprint", ColumnType::Utf8, false),
    ("alertname", ColumnType::Utf8, true),
    ("labels", ColumnType::Utf8, false),
    ("eval_time", ColumnType::TimestampNs, true),
    ("from_state", ColumnType::Utf8, true),
    ("to_state", ColumnType::Utf8, true),
    ("receiver", ColumnType::Utf8, true),
    ("notification_id", ColumnType::Utf8, true),
    ("attempt", ColumnType::Int32, true),
    ("outcome", ColumnType::Utf8, true),
    ("http_status", ColumnType::Int32, true),
    ("error", ColumnType::Utf8, true),
    ("dead_letter", ColumnType::Boolean, false),
    ("dry_run", ColumnType::Boolean, false),
    ("payload", ColumnType::Utf8, true),
];

/// Dispatcher records as one batch of [`Table::Alerts`]'s schema.
///
/// # Errors
/// Never for records of the dispatcher (their labels are JSON objects of strings).
pub fn records_batch(records: &[AlertRecord]) -> Result<RecordBatch, ArrowError> {
    let len = records.len();
    let mut seq = Int64Builder::with_capacity(len);
    let mut time = TimestampNanosecondBuilder::with_capacity(len).with_timezone("UTC");
    let mut eval_time = TimestampNanosecondBuilder::with_capacity(len).with_timezone("UTC");
    let mut kind = StringBuilder::new();
    let mut fingerprint = StringBuilder::new();
    let mut alertname = StringBuilder::new();
    let mut labels = attribute_map_builder(len);
    let mut from_state = StringBuilder::new();
    let mut to_state = StringBuilder::new();
    let mut receiver = StringBuilder::new();
    let mut notification_id = StringBuilder::new();
    let mut attempt = Int32Builder::with_capacity(len);
    let mut outcome = StringBuilder::new();
    let mut http_status = Int32Builder::with_capacity(len);
    let mut error = StringBuilder::new();
    let mut dead_letter = BooleanBuilder::with_capacity(len);
    let mut dry_run = BooleanBuilder::with_capacity(len);
    let mut payload = StringBuilder::new();
    let mut date = StringBuilder::new();
    let ns = ns_of_time;
    for r in records {
        seq.append_value(i64::try_from(r.seq).unwrap_or(i64::MAX));
        time.append_value(ns(r.time));
        kind.append_value(r.kind.name());
        fingerprint.append_value(&r.fingerprint);
        alertname.append_option(r.alertname.as_deref());
        let map: BTreeMap<String, String> = serde_json::from_str(&r.labels)
            .map_err(|e| ArrowError::ParseError(format!("alert record {}: labels: {e}", r.seq)))?;
        for (key, value) in &map {
            labels.keys().append_value(key);
            labels.values().append_value(value);
        }
        labels.append(true)?;
        eval_time.append_option(r.eval_time.map(ns));
        from_state.append_option(r.from_state.as_deref());
        to_state.append_option(r.to_state.as_deref());
        receiver.append_option(r.receiver.as_deref());
        notification_id.append_option(r.notification_id.as_deref());
        attempt.append_option(r.attempt.map(|a| i32::try_from(a).unwrap_or(i32::MAX)));
        outcome.append_option(r.outcome.as_deref());
        http_status.append_option(r.http_status.map(i32::from));
        error.append_option(r.error.as_deref());
        dead_letter.append_value(r.dead_letter);
        dry_run.append_value(r.dry_run);
        payload.append_option(r.payload.as_deref());
        date.append_value(partition_date(ns(r.time)));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(time.finish()),
        Arc::new(kind.finish()),
        Arc::new(fingerprint.finish()),
        Arc::new(alertname.finish()),
        Arc::new(labels.finish()),
        Arc::new(eval_time.finish()),
        Arc::new(from_state.finish()),
        Arc::new(to_state.finish()),
        Arc::new(receiver.finish()),
        Arc::new(notification_id.finish()),
        Arc::new(attempt.finish()),
        Arc::new(outcome.finish()),
        Arc::new(http_status.finish()),
        Arc::new(error.finish()),
        Arc::new(dead_letter.finish()),
        Arc::new(dry_run.finish()),
        Arc::new(payload.finish()),
        Arc::new(date.finish()),
    ];
    RecordBatch::try_new(Table::Alerts.schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    use schemas::window::time_of_ns as time;

    #[test]
    fn columns_follow_the_struct() {
        let record = AlertRecord::new(RecordKind::Attempt, DateTime::UNIX_EPOCH);
        let json = serde_json::to_value(&record).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        names.sort_unstable();
        let mut fields = fields;
        fields.sort_unstable();
        assert_eq!(fields, names);
    }

    #[test]
    fn the_table_has_the_crate_columns_in_order() {
        let schema = Table::Alerts.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut expected: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        expected.push(schemas::tables::DATE_COLUMN);
        assert_eq!(names, expected);
        for (field, column) in schema.fields().iter().zip(COLUMNS) {
            assert_eq!(field.is_nullable(), column.2, "{}", column.0);
        }
    }

    #[test]
    fn records_become_rows() {
        let at = time(1_767_571_260_000_000_000);
        let mut r = AlertRecord::new(RecordKind::Attempt, at);
        r.seq = 7;
        r.labels = r#"{"alertname":"acc","agent_name":"support"}"#.into();
        r.attempt = Some(3);
        r.http_status = Some(503);
        r.eval_time = Some(at);
        let batch =
            records_batch(&[r.clone(), AlertRecord::new(RecordKind::Transition, at)]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let seq = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(seq.value(0), 7);
        let status = batch
            .column(13)
            .as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(status.value(0), 503);
        assert!(status.is_null(1));
        assert!(batch.column(6).is_null(1), "no eval_time");
        let labels = batch.column(5).as_map();
        assert_eq!(labels.value(0).len(), 2);
        assert_eq!(labels.value(1).len(), 0);
        assert_eq!(
            batch.column(18).as_string::<i32>().value(0),
            "2026-01-05",
            "partitioned by the record's day"
        );
    }
}
