//! Reading a query result by column name, whatever Arrow type the engine chose: every
//! column is cast once to the type asked for (`Float64`, `Int64`, `Utf8`, `Boolean`;
//! timestamps read as ns since the epoch).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::Error;

/// The rows of a result, one batch after another.
pub(crate) struct Rows<'a> {
    batches: &'a [RecordBatch],
}

impl<'a> Rows<'a> {
    /// Over `batches`.
    pub(crate) fn new(batches: &'a [RecordBatch]) -> Self {
        Rows { batches }
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn column(&self, name: &str, to: &DataType) -> Result<Vec<ArrayRef>, Error> {
        let shape = |e: arrow::error::ArrowError| Error::Shape(format!("{name}: {e}"));
        self.batches
            .iter()
            .map(|b| {
                let column = b
                    .column_by_name(name)
                    .ok_or_else(|| Error::Shape(format!("no column {name}")))?;
                match column.data_type() {
                    DataType::Timestamp(_, _) if *to == DataType::Int64 => {
                        let ns = cast(column, &DataType::Timestamp(TimeUnit::Nanosecond, None))
                            .map_err(shape)?;
                        cast(&ns, to).map_err(shape)
                    }
                    _ => cast(column, to).map_err(shape),
                }
            })
            .collect()
    }

    /// Column `name` as floats (null → `None`).
    pub(crate) fn f64(&self, name: &str) -> Result<Vec<Option<f64>>, Error> {
        let mut out = Vec::with_capacity(self.len());
        for a in self.column(name, &DataType::Float64)? {
            out.extend(a.as_primitive::<Float64Type>().iter());
        }
        Ok(out)
    }

    /// Column `name` as integers; timestamps as ns since the epoch.
    pub(crate) fn i64(&self, name: &str) -> Result<Vec<Option<i64>>, Error> {
        let mut out = Vec::with_capacity(self.len());
        for a in self.column(name, &DataType::Int64)? {
            out.extend(a.as_primitive::<Int64Type>().iter());
        }
        Ok(out)
    }

    /// Column `name` as text.
    pub(crate) fn str(&self, name: &str) -> Result<Vec<Option<String>>, Error> {
        let mut out = Vec::with_capacity(self.len());
        for a in self.column(name, &DataType::Utf8)? {
            out.extend(a.as_string::<i32>().iter().map(|s| s.map(str::to_owned)));
        }
        Ok(out)
    }

    /// Column `name` (a `Decimal128`, such as a cost report's USD) as exact decimal text
    /// ([`analytics::report::exact_decimal`], as `vigil report cost` writes it); any
    /// other type as text.
    pub(crate) fn decimal(&self, name: &str) -> Result<Vec<Option<String>>, Error> {
        let mut out = Vec::with_capacity(self.len());
        for b in self.batches {
            let column = b
                .column_by_name(name)
                .ok_or_else(|| Error::Shape(format!("no column {name}")))?;
            let DataType::Decimal128(_, scale) = column.data_type() else {
                return self.str(name);
            };
            let values = column.as_primitive::<Decimal128Type>();
            out.extend(
                values
                    .iter()
                    .map(|v| v.map(|v| analytics::report::exact_decimal(v, *scale))),
            );
        }
        Ok(out)
    }

    /// Column `name` as booleans.
    pub(crate) fn bool(&self, name: &str) -> Result<Vec<Option<bool>>, Error> {
        let mut out = Vec::with_capacity(self.len());
        for a in self.column(name, &DataType::Boolean)? {
            out.extend(a.as_boolean().iter());
        }
        Ok(out)
    }

    /// Column `name` (a map of text to text, e.g. `attributes`) as sorted pairs per row.
    pub(crate) fn map(&self, name: &str) -> Result<Vec<Vec<(String, String)>>, Error> {
        let shape = |e: arrow::error::ArrowError| Error::Shape(format!("{name}: {e}"));
        let mut out = Vec::with_capacity(self.len());
        for b in self.batches {
            let column = b
                .column_by_name(name)
                .ok_or_else(|| Error::Shape(format!("no column {name}")))?;
            let Some(map) = column.as_map_opt() else {
                return Err(Error::Shape(format!("{name} is not a map")));
            };
            for row in 0..map.len() {
                if map.is_null(row) {
                    out.push(Vec::new());
                    continue;
                }
                let entries = map.value(row);
                let keys = cast(entries.column(0), &DataType::Utf8).map_err(shape)?;
                let values = cast(entries.column(1), &DataType::Utf8).map_err(shape)?;
                let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
                let mut pairs: Vec<(String, String)> = (0..keys.len())
                    .map(|i| {
                        let v = if values.is_null(i) {
                            ""
                        } else {
                            values.value(i)
                        };
                        (keys.value(i).to_owned(), v.to_owned())
                    })
                    .collect();
                pairs.sort();
                out.push(pairs);
            }
        }
        Ok(out)
    }
}
