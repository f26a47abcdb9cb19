//! OTLP/JSON bodies (the OTLP specification's "JSON Protobuf Encoding") decoded through
//! opentelemetry-proto's serde types, with three repairs on a slow path that only a body the
//! fast path got wrong takes:
//!
//! - **Enum value names.** OTLP asks senders for enum integers (specification PR #2758),
//!   but protobuf's own JSON printers write names (`"SPAN_KIND_SERVER"`), and the
//!   OpenTelemetry Collector's decoder accepts both. So does Vigil, for the four enum
//!   fields of OTLP: a span's `kind`, its `status.code`, a log record's `severityNumber`
//!   and a metric's `aggregationTemporality`. A name that is not one of the enum's is a
//!   400 naming the field.
//! - **Protobuf's field names.** OTLP/JSON keys are lowerCamelCase (`resourceSpans`), but
//!   protobuf's printers write the field names (`resource_spans`) when asked to, and the
//!   Collector's decoder accepts both. serde ignores keys it does not know, so such a body
//!   would lose those fields (the whole request, for `resource_spans`) and be answered OK;
//!   a body with any key in that form, at any depth, is decoded with its keys in
//!   lowerCamelCase (OTLP/JSON has no user-defined object keys: attributes are lists of
//!   `key`/`value`).
//! - **A metric whose data does not decode.** opentelemetry-proto flattens a metric's
//!   `oneof data` into an `Option`, and serde turns any error inside a flattened option
//!   into `None` (opentelemetry-rust issue #3527): a `sum` with one bad field would vanish
//!   and be reported as "no data points". A metric that holds a data field but decoded
//!   without data is decoded again on its own, and its error is the answer.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, Gauge, Histogram, Sum, Summary,
};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An OTLP enum field: its JSON key, the enum's name in messages, and the name → number
/// lookup prost generates for it.
struct EnumField {
    key: &'static str,
    enumeration: &'static str,
    number: fn(&str) -> Option<i32>,
}

const SPAN_KIND: EnumField = EnumField {
    key: "kind",
    enumeration: "SpanKind",
    number: |name| SpanKind::from_str_name(name).map(|v| v as i32),
};
const STATUS_CODE: EnumField = EnumField {
    key: "code",
    enumeration: "StatusCode",
    number: |name| StatusCode::from_str_name(name).map(|v| v as i32),
};
const SEVERITY_NUMBER: EnumField = EnumField {
    key: "severityNumber",
    enumeration: "SeverityNumber",
    number: |name| SeverityNumber::from_str_name(name).map(|v| v as i32),
};
const AGGREGATION_TEMPORALITY: EnumField = EnumField {
    key: "aggregationTemporality",
    enumeration: "AggregationTemporality",
    number: |name| AggregationTemporality::from_str_name(name).map(|v| v as i32),
};

/// The keys of a metric's `oneof data`, in OTLP/JSON.
const METRIC_DATA: [&str; 5] = [
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "summary",
];

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
///
/// # Errors
/// The decoder's complaint (with its line and column where the fast path has them), or the
/// enum field whose value names no value of its enum.
pub fn traces(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    decode(body, |request| {
        let mut named = 0;
        for span in items(request, &["resourceSpans", "scopeSpans", "spans"]) {
            named += number_enum(span, &SPAN_KIND)?;
            if let Some(status) = span.get_mut("status") {
                named += number_enum(status, &STATUS_CODE)?;
            }
        }
        Ok(named)
    })
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
///
/// # Errors
/// As [`traces`].
pub fn logs(body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    decode(body, |request| {
        let mut named = 0;
        for record in items(request, &["resourceLogs", "scopeLogs", "logRecords"]) {
            named += number_enum(record, &SEVERITY_NUMBER)?;
        }
        Ok(named)
    })
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
///
/// # Errors
/// As [`traces`], and a metric whose data field does not decode (named by the metric's
/// `name` and the field).
pub fn metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    let field_names = has_field_name_key(body);
    if !field_names {
        // A metric's only enum field lies inside its data, where serde swallows errors: an
        // error here is never about an enum name.
        let fast = serde_json::from_slice::<ExportMetricsServiceRequest>(body)
            .map_err(|e| e.to_string())?;
        if every_metric_has_data(&fast) {
            return Ok(fast);
        }
    }
    // Protobuf's field names, or a metric without data: none sent (the mapping rejects it
    // with its reason), a temporality by name, or a data field whose error serde swallowed.
    let mut value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if field_names {
        camel_case_keys(&mut value);
    }
    let path = ["resourceMetrics", "scopeMetrics", "metrics"];
    for metric in items(&mut value, &path) {
        for key in ["sum", "histogram", "exponentialHistogram"] {
            if let Some(data) = metric.get_mut(key) {
                number_enum(data, &AGGREGATION_TEMPORALITY)?;
            }
        }
    }
    let request = ExportMetricsServiceRequest::deserialize(&value).map_err(|e| e.to_string())?;
    if !every_metric_has_data(&request) {
        for metric in items(&mut value, &path) {
            data_error(metric)?;
        }
    }
    Ok(request)
}

/// `body` decoded as `T`; on the slow path when it has a key in protobuf's field names
/// ([`has_field_name_key`]: the keys are put in lowerCamelCase) or when the fast path failed
/// on a string where an enum's integer belongs (`number_enums` turns enum names into
/// numbers and returns how many). Only then is the body parsed into a `Value` (a few times
/// the body's size) and decoded from it: other bodies cost one parse, as before.
fn decode<T: DeserializeOwned>(
    body: &[u8],
    number_enums: impl Fn(&mut Value) -> Result<usize, String>,
) -> Result<T, String> {
    let first = if has_field_name_key(body) {
        None
    } else {
        match serde_json::from_slice::<T>(body) {
            Ok(request) => return Ok(request),
            // What serde says of a string in an `i32` field, the type prost gives enums.
            Err(e) if e.to_string().contains(", expected i32") => Some(e.to_string()),
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(e) => return Err(first.unwrap_or_else(|| e.to_string())),
    };
    let renamed = camel_case_keys(&mut value);
    if number_enums(&mut value)? + renamed == 0
        && let Some(first) = first
    {
        return Err(first);
    }
    T::deserialize(&value).map_err(|e| e.to_string())
}

/// Whether `body` has an object key that holds an underscore (`"time_unix_nano": …`), as
/// protobuf's field names do and no OTLP/JSON key does (attributes are lists of `key` /
/// `value` objects, so user-defined names are values). serde skips keys it does not know,
/// so without this check such a key's field would be dropped without a word, wherever it
/// lies in the body.
///
/// An underscore can only lie inside a JSON string; the string is a key when the first
/// unescaped quote after the underscore (the string's closing quote) is followed by a
/// colon. Underscores are found with `memchr`, and each string is looked at once, so a
/// body whose underscores are all in values (`gen_ai.usage.input_tokens`) costs a short
/// scan per such string.
fn has_field_name_key(body: &[u8]) -> bool {
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'_', &body[at..]) {
        let mut end = at + found + 1;
        // The closing quote: one not escaped by an odd run of backslashes.
        loop {
            let Some(quote) = memchr::memchr(b'"', &body[end..]) else {
                return false;
            };
            end += quote;
            let backslashes = body[..end]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count();
            if backslashes % 2 == 0 {
                break;
            }
            end += 1;
        }
        let after = body[end + 1..].iter().find(|b| !b.is_ascii_whitespace());
        if after == Some(&b':') {
            return true;
        }
        at = end + 1;
    }
    false
}

/// Puts every object key of `value` that holds an underscore in lowerCamelCase
/// (`time_unix_nano` → `timeUnixNano`), as protobuf's JSON mapping names fields; returns
/// how many it renamed.
fn camel_case_keys(value: &mut Value) -> usize {
    match value {
        Value::Object(map) => {
            let mut renamed = 0;
            let entries = std::mem::take(map);
            for (key, mut inner) in entries {
                renamed += camel_case_keys(&mut inner);
                if key.contains('_') {
                    renamed += 1;
                    map.insert(lower_camel_case(&key), inner);
                } else {
                    map.insert(key, inner);
                }
            }
            renamed
        }
        Value::Array(items) => items.iter_mut().map(camel_case_keys).sum(),
        _ => 0,
    }
}

/// `resource_spans` → `resourceSpans`: each letter after an underscore upper-cased and the
/// underscores dropped, protobuf's `ToJsonName`.
fn lower_camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The objects at `path` under `request` (each step an array under that key), e.g. every
/// span of `resourceSpans[].scopeSpans[].spans[]`; steps that are missing or not arrays
/// hold none.
fn items<'a>(request: &'a mut Value, path: &[&str]) -> Vec<&'a mut Value> {
    let mut level = vec![request];
    for key in path {
        level = level
            .into_iter()
            .filter_map(|object| object.get_mut(*key).and_then(Value::as_array_mut))
            .flat_map(|array| array.iter_mut())
            .collect();
    }
    level
}

/// Replaces the string at `field.key` of `object` by its enum number; 1 if it did, 0 when
/// there is no string there.
///
/// # Errors
/// When the string names no value of the enum.
fn number_enum(object: &mut Value, field: &EnumField) -> Result<usize, String> {
    let Some(slot) = object.get_mut(field.key) else {
        return Ok(0);
    };
    let Some(name) = slot.as_str() else {
        return Ok(0);
    };
    let number = (field.number)(name).ok_or_else(|| {
        format!(
            "{}: {name:?} is not a value name of the OTLP enum {}; OTLP/JSON sends enum \
             values as integers",
            field.key, field.enumeration
        )
    })?;
    *slot = Value::from(number);
    Ok(1)
}

fn every_metric_has_data(request: &ExportMetricsServiceRequest) -> bool {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .all(|m| m.data.is_some())
}

/// The error of the first data field of `metric` (a JSON object) that does not decode on
/// its own.
fn data_error(metric: &Value) -> Result<(), String> {
    fn check<T: DeserializeOwned>(data: &Value) -> Result<(), serde_json::Error> {
        T::deserialize(data).map(drop)
    }
    for key in METRIC_DATA {
        let Some(data) = metric.get(key) else {
            continue;
        };
        let checked = match key {
            "gauge" => check::<Gauge>(data),
            "sum" => check::<Sum>(data),
            "histogram" => check::<Histogram>(data),
            "exponentialHistogram" => check::<ExponentialHistogram>(data),
            _ => check::<Summary>(data),
        };
        checked.map_err(|e| {
            let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
            format!("metric {name:?}: {key}: {e}")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
