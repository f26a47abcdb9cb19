//! Query results as the HTTP API and `vigil sql` print them (SPEC §7): JSON with typed
//! cells, CSV and an aligned text table; cost reports in [`cost`]; JSON, CSV and Arrow IPC
//! batch by batch, as the API streams them, in [`stream`].

pub mod cost;
pub mod stream;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value, json};

use analytics::QueryResult;

/// `{"columns":[{"name","type"}],"rows":[[...]]}`: timestamps as RFC 3339 strings with
/// nanoseconds, integers and floats as numbers (non-finite floats as the strings `NaN`,
/// `inf`, `-inf`), maps as objects, lists as arrays, null as null.
pub fn to_json(result: &QueryResult) -> Value {
    let columns: Vec<Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| json!({"name": f.name(), "type": type_name(f.data_type())}))
        .collect();
    let mut rows = Vec::with_capacity(result.num_rows());
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            rows.push(Value::Array(
                batch
                    .columns()
                    .iter()
                    .map(|c| cell(c.as_ref(), row))
                    .collect(),
            ));
        }
    }
    json!({"columns": columns, "rows": rows})
}

/// CSV with a header row. Null is an empty field; maps and lists are JSON text.
///
/// # Errors
/// Only if writing to memory fails.
pub fn to_csv(result: &QueryResult) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(result.schema.fields().iter().map(|f| f.name().as_str()))?;
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            writer.write_record(batch.columns().iter().map(|c| text_cell(c.as_ref(), row)))?;
        }
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// An aligned text table (the default of `vigil sql`).
pub fn to_table(result: &QueryResult) -> String {
    let headers: Vec<String> = result
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| text_cell(c.as_ref(), row))
                    .collect(),
            );
        }
    }
    text_table(&headers, &rows)
}

/// Lays out text cells as an aligned table with a row count.
pub fn text_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let mut out = String::new();
    out.push_str(&rule);
    out.push_str(&line(headers));
    out.push_str(&rule);
    for row in rows {
        out.push_str(&line(row));
    }
    out.push_str(&rule);
    out.push_str(&format!(
        "{} row{}\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out
}

/// Rebuilds a result from the JSON of [`to_json`] (for `vigil sql --server`): columns
/// and rows as they came, for printing.
pub fn json_rows(value: &Value) -> Option<(Vec<String>, Vec<Vec<Value>>)> {
    let columns = value
        .get("columns")?
        .as_array()?
        .iter()
        .map(|c| c.get("name")?.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    let rows = value
        .get("rows")?
        .as_array()?
        .iter()
        .map(|r| r.as_array().cloned())
        .collect::<Option<Vec<_>>>()?;
    Some((columns, rows))
}

/// A short, stable type name: `utf8`, `int64`, `float64`, `bool`, `timestamp(ns, UTC)`,
/// `map<utf8, utf8>`, `list<…>`; other types as Arrow prints them.
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "utf8".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(unit, tz) => {
            let unit = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp({unit}, {tz})"),
                None => format!("timestamp({unit})"),
            }
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => {
                format!(
                    "map<{}, {}>",
                    type_name(fields[0].data_type()),
                    type_name(fields[1].data_type())
                )
            }
            other => format!("map<{other}>"),
        },
        DataType::List(f) | DataType::LargeList(f) => format!("list<{}>", type_name(f.data_type())),
        other => other.to_string(),
    }
}

fn nanos(unit: &TimeUnit, value: i64) -> i64 {
    match unit {
        TimeUnit::Second => value.saturating_mul(1_000_000_000),
        TimeUnit::Millisecond => value.saturating_mul(1_000_000),
        TimeUnit::Microsecond => value.saturating_mul(1_000),
        TimeUnit::Nanosecond => value,
    }
}

/// RFC 3339 with nine fractional digits, `Z` for UTC.
pub fn rfc3339_nanos(unix_nanos: i64, utc: bool) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(unix_nanos);
    if utc {
        t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string()
    }
}

fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(|| Value::String(x.to_string()), Value::Number)
}

/// One cell as a typed JSON value.
pub fn cell(array: &dyn Array, row: usize) -> Value {
    use arrow::datatypes as t;
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => json!(array.as_primitive::<t::Int8Type>().value(row)),
        DataType::Int16 => json!(array.as_primitive::<t::Int16Type>().value(row)),
        DataType::Int32 => json!(array.as_primitive::<t::Int32Type>().value(row)),
        DataType::Int64 => json!(array.as_primitive::<t::Int64Type>().value(row)),
        DataType::UInt8 => json!(array.as_primitive::<t::UInt8Type>().value(row)),
        DataType::UInt16 => json!(array.as_primitive::<t::UInt16Type>().value(row)),
        DataType::UInt32 => json!(array.as_primitive::<t::UInt32Type>().value(row)),
        DataType::UInt64 => json!(array.as_primitive::<t::UInt64Type>().value(row)),
        DataType::Float32 => float(f64::from(array.as_primitive::<t::Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<t::Float64Type>().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_owned()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_owned()),
        DataType::Timestamp(unit, tz) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<t::TimestampSecondType>().value(row),
                TimeUnit::Millisecond => array
                    .as_primitive::<t::TimestampMillisecondType>()
                    .value(row),
                TimeUnit::Microsecond => array
                    .as_primitive::<t::TimestampMicrosecondType>()
                    .value(row),
                TimeUnit::Nanosecond => array
                    .as_primitive::<t::TimestampNanosecondType>()
                    .value(row),
            };
            Value::String(rfc3339_nanos(nanos(unit, raw), tz.is_some()))
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let entries = map.value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            let mut object = Map::new();
            for i in 0..entries.len() {
                let key = match cell(keys.as_ref(), i) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, cell(values.as_ref(), i));
            }
            Value::Object(object)
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Value::Array((0..list.len()).map(|i| cell(list.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            Value::Array((0..list.len()).map(|i| cell(list.as_ref(), i)).collect())
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), cell(c.as_ref(), row)))
                    .collect(),
            )
        }
        _ => Value::String(display(array, row)),
    }
}

fn display(array: &dyn Array, row: usize) -> String {
    ArrayFormatter::try_new(array, &FormatOptions::default())
        .map_or_else(|e| e.to_string(), |f| f.value(row).to_string())
}

/// One cell as text: strings as they are, null empty, nested values as JSON.
pub fn text_cell(array: &dyn Array, row: usize) -> String {
    json_text(&cell(array, row))
}

/// A JSON value as a plain text cell.
pub fn json_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
