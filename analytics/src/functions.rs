//! SQL functions every Vigil session has beyond DataFusion's own: fields of JSON text, and
//! quantiles of OTLP histograms ([`histogram`]: `histogram_quantile`, `histogram_merge`;
//! [`exponential`]: `exponential_histogram_quantile`, `exponential_histogram_merge`, and
//! the buckets the metric monitors merge).
//!
//! Several columns hold JSON text: `drift.kpis` (a window's figures: latency p50/p95/p99,
//! confidence deciles and histogram, totals), `drift.details` and `drift.state`,
//! `audit.details`, and the attribute maps as the PostgreSQL front end shows them. These
//! functions read one value out of such text by its path of object keys, so that a
//! Grafana panel or `psql` can chart `json_get_float(kpis, 'p99')`.
//!
//! The names and meanings follow the `datafusion-functions-json` crate (`json_get_str`,
//! `json_get_int`, `json_get_float`, `json_as_text`), so queries keep working should Vigil
//! take that crate later; it is not used today because its JSON parser turns on features
//! of `lexical-core` that rebuild Arrow and DataFusion. Registered on every session that
//! plans user SQL: [`crate::QueryEngine::context`] (HTTP, `vigil sql`, jobs) and the root's
//! PostgreSQL session. Not here: JSON operators (`->`, `->>`), array indices, JSON output.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int64Builder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use serde_json::Value;

pub mod exponential;
pub mod histogram;

/// Registers [`Kind::ALL`] on `ctx`: `json_get_str`, `json_get_int`, `json_get_float` and
/// `json_as_text`, each `(json text, key, key, …)`; [`histogram::register`]'s
/// `histogram_quantile` and `histogram_merge`; and [`exponential::register`]'s
/// `exponential_histogram_quantile` and `exponential_histogram_merge`.
pub fn register(ctx: &SessionContext) {
    for kind in Kind::ALL {
        ctx.register_udf(ScalarUDF::from(JsonGet::new(kind)));
    }
    histogram::register(ctx);
    exponential::register(ctx);
}

/// Which JSON values a function returns, and as what SQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `json_get_str(json, key, …) -> utf8`: a JSON string's value; null for any other type.
    Str,
    /// `json_get_int(json, key, …) -> int64`: an integer, or a float with an integral value
    /// (`2.0`, `2e3`); null otherwise.
    Int,
    /// `json_get_float(json, key, …) -> float64`: any JSON number; null otherwise.
    Float,
    /// `json_as_text(json, key, …) -> utf8`: any value as text: a string without its
    /// quotes, a number, boolean, object or array as its JSON text; null for JSON `null`.
    Text,
}

impl Kind {
    /// Every function, in the order they are registered.
    pub const ALL: [Kind; 4] = [Kind::Str, Kind::Int, Kind::Float, Kind::Text];

    /// The SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Str => "json_get_str",
            Kind::Int => "json_get_int",
            Kind::Float => "json_get_float",
            Kind::Text => "json_as_text",
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Str | Kind::Text => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
        }
    }
}

/// One of the [`Kind`]s as a DataFusion scalar function. Null when the text is null or not
/// JSON, a key is missing or null, or the value is not of the kind asked for.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonGet {
    kind: Kind,
    signature: Signature,
}

impl JsonGet {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            // Every argument is text: the document, then one key per level.
            signature: Signature::variadic(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

/// Row `row` of `array`, `None` when null.
fn text(array: &StringArray, row: usize) -> Option<&str> {
    (!array.is_null(row)).then(|| array.value(row))
}

/// The value at `keys` inside `doc`, following object keys only.
fn lookup<'a>(doc: &'a Value, keys: &[Option<&str>]) -> Option<&'a Value> {
    keys.iter()
        .try_fold(doc, |value, key| value.as_object()?.get((*key)?))
}

impl ScalarUDFImpl for JsonGet {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if arg_types.len() < 2 {
            return exec_err!(
                "{}(json, key, …) takes the JSON text and at least one key",
                self.kind.name()
            );
        }
        Ok(self.kind.data_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<_>>()?;
        let strings: Vec<_> = arrays.iter().map(|a| a.as_string::<i32>()).collect();
        let values = (0..rows).map(|row| {
            let doc: Value = serde_json::from_str(text(strings[0], row)?).ok()?;
            let keys: Vec<Option<&str>> = strings[1..].iter().map(|k| text(k, row)).collect();
            lookup(&doc, &keys).cloned()
        });
        let out: ArrayRef = match self.kind {
            Kind::Float => {
                let mut b = Float64Builder::with_capacity(rows);
                values.for_each(|v| b.append_option(v.and_then(|v| v.as_f64())));
                Arc::new(b.finish())
            }
            Kind::Int => {
                let mut b = Int64Builder::with_capacity(rows);
                values.for_each(|v| {
                    b.append_option(v.and_then(|v| {
                        v.as_i64().or_else(|| {
                            let f = v.as_f64()?;
                            (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
                        })
                    }));
                });
                Arc::new(b.finish())
            }
            Kind::Str => {
                let mut b = StringBuilder::with_capacity(rows, rows * 8);
                values.for_each(|v| b.append_option(v.as_ref().and_then(Value::as_str)));
                Arc::new(b.finish())
            }
            Kind::Text => {
                let mut b = StringBuilder::with_capacity(rows, rows * 8);
                values.for_each(|v| {
                    b.append_option(match v {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) => Some(s),
                        Some(other) => Some(other.to_string()),
                    });
                });
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A drift row's `kpis` and `details` as the monitor job writes them; each field comes
    /// back typed, and anything absent or of another type is null.
    #[tokio::test]
    async fn fields_of_json_text_come_back_typed() {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql(
                r#"SELECT json_get_float(k, 'p95') AS p95, json_get_int(k, 'bin3') AS bin3,
                          json_get_float(k, 'missing') AS missing, json_as_text(k, 'p50') AS p50,
                          json_get_str(d, 'why') AS why, json_get_str(k, 'p50') AS not_a_string,
                          json_get_float(d, 'nested', 'c_plus') AS c_plus,
                          json_as_text(d, 'nested') AS nested, json_get_float('not json', 'x') AS bad
                   FROM (VALUES ('{"bin3":4.0,"p50":201.5,"p95":290.25}',
                                 '{"why":"flat","nested":{"c_plus":1.5}}')) AS t(k, d)"#,
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let row = text.lines().nth(3).unwrap();
        assert_eq!(
            row,
            "| 290.25 | 4    |         | 201.5 | flat |              | 1.5    | {\"c_plus\":1.5} |     |",
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_call_without_a_key_is_refused() {
        let ctx = SessionContext::new();
        register(&ctx);
        let err = ctx.sql("SELECT json_get_float('{}')").await.unwrap_err();
        assert!(err.to_string().contains("at least one key"), "{err}");
    }
}
