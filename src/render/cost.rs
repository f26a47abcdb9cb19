//! Cost reports as the HTTP API and `vigil report cost` print them: CSV, JSON, Parquet and an
//! aligned text table. One renderer for both, so a report fetched from a server and one read
//! offline from a data directory are the same bytes.
//!
//! USD columns are `Decimal128(38, 12)` (`analytics::report`): CSV, the table and JSON write
//! them as exact decimal text without trailing zeros (`0.0035`), never through a float; in
//! JSON that text is a number literal. Null is an empty CSV field and JSON `null`. Parquet
//! keeps the Arrow types (USD as `DECIMAL(38, 12)`, days as `DATE`).

use std::sync::Arc;

use analytics::QueryResult;
use analytics::report::exact_decimal;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Decimal128Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::render;

/// Media type of Parquet (IANA, 2024).
pub const PARQUET_MEDIA_TYPE: &str = "application/vnd.apache.parquet";

/// CSV with a header row: the columns in report order, null as an empty field, USD as exact
/// decimal text, dates as `YYYY-MM-DD`.
///
/// # Errors
/// Only if writing to memory fails.
pub fn to_csv(result: &QueryResult) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(result.schema.fields().iter().map(|f| f.name().as_str()))?;
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            writer.write_record(batch.columns().iter().map(|c| text_cell(c.as_ref(), row)))?;
        }
    }
    Ok(writer.into_inner().map_err(|e| e.into_error())?)
}

/// The JSON of `POST /api/v1/sql`: `{"columns":[{"name","type"}],"rows":[[...]]}`, with USD
/// cells as exact number literals and USD columns typed `decimal(38, 12)`.
///
/// # Errors
/// Only if serializing to memory fails.
pub fn to_json(result: &QueryResult) -> anyhow::Result<Vec<u8>> {
    let columns: Vec<serde_json::Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": type_name(f.data_type())}))
        .collect();
    let mut out = br#"{"columns":"#.to_vec();
    serde_json::to_writer(&mut out, &columns)?;
    out.extend_from_slice(br#","rows":["#);
    let mut first_row = true;
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            out.push(b'[');
            for (i, column) in batch.columns().iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match decimal_text(column.as_ref(), row) {
                    // Exact decimal text is a valid JSON number literal.
                    Some(text) => out.extend_from_slice(text.as_bytes()),
                    None => serde_json::to_writer(&mut out, &render::cell(column.as_ref(), row))?,
                }
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// A Parquet file (zstd) with the report's Arrow schema.
///
/// # Errors
/// If encoding fails.
pub fn to_parquet(result: &QueryResult) -> anyhow::Result<Vec<u8>> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, Arc::clone(&result.schema), Some(properties))?;
    for batch in &result.batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(out)
}

/// Lays out the CSV of [`to_csv`] as the aligned text table of `vigil sql`, so that the
/// table read from a server (which answers CSV) and the one read offline are identical.
///
/// # Errors
/// If `csv` is not CSV with a header row.
pub fn table_from_csv(csv: &[u8]) -> anyhow::Result<String> {
    let mut reader = csv::Reader::from_reader(csv);
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|r| Ok(r?.iter().map(str::to_owned).collect()))
        .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
    Ok(render::text_table(&headers, &rows))
}

fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Decimal128(precision, scale) => format!("decimal({precision}, {scale})"),
        other => render::type_name(other),
    }
}

fn text_cell(array: &dyn Array, row: usize) -> String {
    decimal_text(array, row).unwrap_or_else(|| render::text_cell(array, row))
}

/// A non-null `Decimal128` cell as exact decimal text; `None` for other cells.
fn decimal_text(array: &dyn Array, row: usize) -> Option<String> {
    match array.data_type() {
        DataType::Decimal128(_, scale) if !array.is_null(row) => Some(exact_decimal(
            array.as_primitive::<Decimal128Type>().value(row),
            *scale,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_exactly_without_trailing_zeros() {
        for (value, scale, text) in [
            (3_500_000_000, 12, "0.0035"),
            (600_000_000_000, 12, "0.6"),
            (12_000_000_000_000, 12, "12"),
            (1, 12, "0.000000000001"),
            (-1, 12, "-0.000000000001"),
            (0, 12, "0"),
            (
                123_456_789_012_345_678_901_234_567_890,
                12,
                "123456789012345678.90123456789",
            ),
            (-5, 0, "-5"),
            (5, -2, "500"),
            (i128::MIN, 12, "-170141183460469231731687303.715884105728"),
        ] {
            assert_eq!(exact_decimal(value, scale), text, "{value} scale {scale}");
        }
    }
}
