//! Cost reports for finance (SPEC §2 `vigil report cost`): transactions, spans, tokens and
//! cost of the `spans` table per group over a half-open time range, with exact cost sums.
//!
//! A [`CostReport`] holds the time bounds and the [`GroupKey`]s of one request; it compiles
//! to one read-only SQL statement over `spans` ([`CostReport::sql`]) and runs on a
//! [`QueryEngine`] over one snapshot ([`CostReport::run`]). Parsing the user's words (RFC 3339
//! or a date, `agent,model`) is here too ([`CostReport::parse`]), so the HTTP API and the CLI
//! accept exactly the same input and report the same errors. Rendering (table, CSV, JSON,
//! Parquet) and the front ends live in the root crate.
//!
//! # Exactness
//! `spans.cost_usd` is a float64 and float sums depend on the order of the additions, which a
//! parallel aggregation does not fix. So each span's cost is first rounded to a fixed point of
//! 10⁻¹² USD ([`COST_SCALE`], half away from zero, as `CAST(cost_usd AS DECIMAL(38, 12))`
//! does) and everything after that is integer arithmetic on `Decimal128(38, 12)`: the groups of
//! a report add up exactly to its ungrouped total, which is exactly
//! `SELECT SUM(CAST(cost_usd AS DECIMAL(38, 12))) FROM spans WHERE time >= from AND time < to`.
//!
//! ```ignore
//! let report = CostReport::parse("2026-11-01", "2026-11-30", "agent,model")?;
//! let result = report.run(&engine).await?; // one row per (agent, model)
//! ```

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Decimal128Array};
use arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate};
use schemas::tables::{DATE_COLUMN, partition_date};

use crate::error::{Error, Result};
use crate::{QueryEngine, QueryResult};

/// Decimal digits after the point of every USD figure of a report: costs are exact multiples
/// of 10⁻¹² USD.
pub const COST_SCALE: i8 = 12;

/// Precision of the `Decimal128` USD columns: up to 10²⁶ USD before the point.
pub const COST_PRECISION: u8 = 38;

/// The measure columns of a report, in output order, after the group-key columns.
pub const MEASURES: [&str; 10] = [
    "transactions",
    "spans",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_per_transaction",
    "unpriced_spans",
];

/// `value × 10^-scale` (a `Decimal128` cell) in plain decimal notation, as every front end
/// writes USD figures, without trailing fractional zeros:
/// `exact_decimal(3_500_000_000, 12)` is `0.0035`, `exact_decimal(-5, 0)` is `-5`.
pub fn exact_decimal(value: i128, scale: i8) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let digits = value.unsigned_abs().to_string();
    if scale <= 0 {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        return if value == 0 {
            "0".into()
        } else {
            format!("{sign}{digits}{zeros}")
        };
    }
    let scale = usize::from(scale.unsigned_abs());
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let fraction = fraction.trim_end_matches('0');
    match (fraction.is_empty(), value == 0) {
        (_, true) => "0".into(),
        (true, false) => format!("{sign}{whole}"),
        (false, false) => format!("{sign}{whole}.{fraction}"),
    }
}

/// The valid group keys, as error messages list them.
pub const VALID_GROUP_KEYS: &str = "agent, agent_version, model, provider, service, service_version, resource.<key>, day, week, month";

/// Longest accepted resource attribute key, in bytes.
const MAX_RESOURCE_KEY: usize = 256;

/// The SQL condition of an unpriced span: no cost, but token usage that a price would apply
/// to. It is the collector's own test of "priceable" (a price-table row prices a span only when
/// it reports input or output tokens) and the definition `transactions.unpriced_spans` uses.
pub const UNPRICED_CONDITION: &str =
    "cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)";

/// Which edge of the time range a bound is; a date means midnight UTC at the start of that
/// day for [`Bound::From`] and at the end of it for [`Bound::To`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The inclusive lower bound (`from`).
    From,
    /// The exclusive upper bound (`to`).
    To,
}

impl Bound {
    fn parameter(self) -> &'static str {
        match self {
            Bound::From => "from",
            Bound::To => "to",
        }
    }
}

/// A resource attribute key to group by: non-empty, at most 256 bytes of ASCII letters,
/// digits and `.` `_` `-` `/` `:` `@`. Anything else is refused, so a key can never carry SQL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceKey(String);

impl ResourceKey {
    /// Validates `key` (the part after `resource.`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `group_by` when the key is empty, too long or holds a
    /// character outside the allowed set.
    pub fn new(key: &str) -> Result<Self> {
        let invalid = |why: String| invalid("group_by", why);
        if key.is_empty() {
            return Err(invalid(
                "resource. needs an attribute key, e.g. resource.team".into(),
            ));
        }
        if key.len() > MAX_RESOURCE_KEY {
            return Err(invalid(format!(
                "resource attribute key is longer than {MAX_RESOURCE_KEY} bytes"
            )));
        }
        if let Some(bad) = key
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@".contains(*c)))
        {
            return Err(invalid(format!(
                "resource attribute key {key:?} holds {bad:?}; keys may use ASCII letters, \
                 digits and . _ - / : @"
            )));
        }
        Ok(Self(key.to_owned()))
    }

    /// The attribute key, e.g. `team`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One dimension of a cost report.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// `agent_name`.
    Agent,
    /// `agent_version`.
    AgentVersion,
    /// The model that answered: `response_model`, else `request_model`.
    Model,
    /// `provider` (`gen_ai.provider.name`).
    Provider,
    /// `service_name` (resource `service.name`).
    Service,
    /// `service_version` (resource `service.version`).
    ServiceVersion,
    /// A resource attribute from `resource_attributes`, e.g. `team` or `tenant`;
    /// `service.name` and `service.version` read their typed columns, their only home.
    Resource(ResourceKey),
    /// The UTC day of the span's start time (a `date`).
    Day,
    /// The ISO week (starting Monday, UTC) of the span's start time, as the date of its Monday.
    Week,
    /// The UTC month of the span's start time, as the date of its first day.
    Month,
}

impl GroupKey {
    /// Parses one key as the API and the CLI spell it (`agent`, `resource.team`, `day`, …).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `group_by`, naming the key and listing the valid ones.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "agent" => GroupKey::Agent,
            "agent_version" => GroupKey::AgentVersion,
            "model" => GroupKey::Model,
            "provider" => GroupKey::Provider,
            "service" => GroupKey::Service,
            "service_version" => GroupKey::ServiceVersion,
            "day" => GroupKey::Day,
            "week" => GroupKey::Week,
            "month" => GroupKey::Month,
            _ => match text.strip_prefix("resource.") {
                Some(key) => GroupKey::Resource(ResourceKey::new(key)?),
                None => {
                    return Err(invalid(
                        "group_by",
                        format!("unknown group key {text:?}; valid keys: {VALID_GROUP_KEYS}"),
                    ));
                }
            },
        })
    }

    /// The output column name: the key as it was spelled (`agent`, `resource.team`, `day`).
    pub fn column_name(&self) -> String {
        self.to_string()
    }

    /// The SQL expression over `spans` that yields this key's value.
    fn sql_expr(&self) -> String {
        match self {
            GroupKey::Agent => "agent_name".into(),
            GroupKey::AgentVersion => "agent_version".into(),
            GroupKey::Model => "COALESCE(response_model, request_model)".into(),
            GroupKey::Provider => "provider".into(),
            GroupKey::Service => "service_name".into(),
            GroupKey::ServiceVersion => "service_version".into(),
            GroupKey::Resource(key) => match key.as_str() {
                "service.name" => "service_name".into(),
                "service.version" => "service_version".into(),
                key => format!("resource_attributes[{}]", sql_string(key)),
            },
            GroupKey::Day => "CAST(date_trunc('day', time) AS DATE)".into(),
            GroupKey::Week => "CAST(date_trunc('week', time) AS DATE)".into(),
            GroupKey::Month => "CAST(date_trunc('month', time) AS DATE)".into(),
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            GroupKey::Agent => "agent",
            GroupKey::AgentVersion => "agent_version",
            GroupKey::Model => "model",
            GroupKey::Provider => "provider",
            GroupKey::Service => "service",
            GroupKey::ServiceVersion => "service_version",
            GroupKey::Resource(key) => return write!(f, "resource.{}", key.as_str()),
            GroupKey::Day => "day",
            GroupKey::Week => "week",
            GroupKey::Month => "month",
        };
        f.write_str(name)
    }
}

/// Parses a comma-separated list of group keys (`agent,model`; blanks around keys allowed).
/// An empty or blank list means no grouping: one row, the total.
///
/// # Errors
/// [`Error::InvalidParameter`] for `group_by` on an unknown or empty key or a key given twice.
pub fn parse_group_by(text: &str) -> Result<Vec<GroupKey>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut keys = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(invalid(
                "group_by",
                format!("empty key in {text:?}; valid keys: {VALID_GROUP_KEYS}"),
            ));
        }
        keys.push(GroupKey::parse(part)?);
    }
    check_distinct(&keys)?;
    Ok(keys)
}

/// Parses a time bound: RFC 3339 with an offset (`2026-11-18T09:30:00Z`, nanoseconds kept),
/// or a date `YYYY-MM-DD` meaning UTC midnight at the start of that day for [`Bound::From`]
/// and at its end (the next midnight) for [`Bound::To`], so that `--from 2026-11-01
/// --to 2026-11-30` covers all of November. Returns unix nanoseconds.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `from` or `to` when the text is neither form or lies
/// outside 1677-09-21 … 2262-04-11 (the range of int64 nanoseconds).
pub fn parse_bound(text: &str, bound: Bound) -> Result<i64> {
    let parameter = bound.parameter();
    let text = text.trim();
    let out_of_range = || {
        invalid(
            parameter,
            format!("{text:?} is outside the range of nanosecond timestamps (1677 to 2262)"),
        )
    };
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = match bound {
            Bound::From => date,
            Bound::To => date.succ_opt().ok_or_else(out_of_range)?,
        };
        return day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_utc().timestamp_nanos_opt())
            .ok_or_else(out_of_range);
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.timestamp_nanos_opt().ok_or_else(out_of_range),
        Err(e) => Err(invalid(
            parameter,
            format!(
                "{text:?} is neither RFC 3339 (e.g. 2026-11-18T09:30:00Z) nor a date \
                 (YYYY-MM-DD): {e}"
            ),
        )),
    }
}

/// A cost report request: spans whose start `time` lies in the half-open range
/// `[from, to)`, grouped by `group_by` (none: one row, the total).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostReport {
    /// Inclusive lower bound on `spans.time`, unix nanoseconds (UTC).
    pub from: i64,
    /// Exclusive upper bound on `spans.time`, unix nanoseconds (UTC).
    pub to: i64,
    /// Group keys, in output column order; each at most once.
    pub group_by: Vec<GroupKey>,
}

impl CostReport {
    /// Parses and validates a request as the HTTP API and the CLI receive it: bounds as
    /// [`parse_bound`] reads them, keys as [`parse_group_by`] reads them.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad parameter (`from`, `to`, `group_by`),
    /// including `from` not before `to`.
    pub fn parse(from: &str, to: &str, group_by: &str) -> Result<Self> {
        let report = Self {
            from: parse_bound(from, Bound::From)?,
            to: parse_bound(to, Bound::To)?,
            group_by: parse_group_by(group_by)?,
        };
        report.validate()?;
        Ok(report)
    }

    /// Checks what [`CostReport::parse`] checks, for a request built by hand.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`]: `from` not before `to`, or a group key given twice.
    pub fn validate(&self) -> Result<()> {
        if self.from >= self.to {
            return Err(invalid(
                "from",
                format!(
                    "from ({}) must be before to ({}); the range is [from, to)",
                    rfc3339(self.from),
                    rfc3339(self.to)
                ),
            ));
        }
        check_distinct(&self.group_by)
    }

    /// The report as one SQL statement over `spans`: the group-key columns, then
    /// [`MEASURES`] except `cost_per_transaction` (computed by [`CostReport::run`]), rows
    /// ordered by the keys with nulls last.
    ///
    /// # Errors
    /// As [`CostReport::validate`].
    pub fn sql(&self) -> Result<String> {
        self.validate()?;
        let keys: Vec<(String, String)> = self
            .group_by
            .iter()
            .map(|k| (k.sql_expr(), sql_ident(&k.column_name())))
            .collect();
        let mut select: Vec<String> = keys
            .iter()
            .map(|(expr, alias)| format!("{expr} AS {alias}"))
            .collect();
        select.extend([
            "COUNT(DISTINCT trace_id) AS transactions".to_owned(),
            "COUNT(*) AS spans".to_owned(),
            "SUM(input_tokens) AS input_tokens".to_owned(),
            "SUM(output_tokens) AS output_tokens".to_owned(),
            "SUM(cache_read_tokens) AS cache_read_tokens".to_owned(),
            "SUM(cache_write_tokens) AS cache_write_tokens".to_owned(),
            "SUM(reasoning_tokens) AS reasoning_tokens".to_owned(),
            format!("SUM(CAST(cost_usd AS DECIMAL({COST_PRECISION}, {COST_SCALE}))) AS cost_usd"),
            format!("COUNT(CASE WHEN {UNPRICED_CONDITION} THEN 1 END) AS unpriced_spans"),
        ]);
        // The `date` conditions say nothing the `time` ones do not (a span's `date` is the UTC
        // day of its `time`), but `date` is the Delta partition column: with them a report
        // over one month reads that month's files only.
        let mut sql = format!(
            "SELECT {} FROM spans WHERE time >= {} AND time < {} AND {DATE_COLUMN} >= {} AND {DATE_COLUMN} <= {}",
            select.join(", "),
            sql_string(&rfc3339(self.from)),
            sql_string(&rfc3339(self.to)),
            sql_string(&partition_date(self.from)),
            sql_string(&partition_date(self.to - 1)),
        );
        if !keys.is_empty() {
            let exprs: Vec<&str> = keys.iter().map(|(expr, _)| expr.as_str()).collect();
            let order: Vec<String> = keys
                .iter()
                .map(|(_, alias)| format!("{alias} ASC NULLS LAST"))
                .collect();
            sql.push_str(&format!(
                " GROUP BY {} ORDER BY {}",
                exprs.join(", "),
                order.join(", ")
            ));
        }
        Ok(sql)
    }

    /// Runs the report over one snapshot of `engine`, under its timeout and memory limit.
    ///
    /// On return the result has one row per group that has at least one span in range (with
    /// no group keys: exactly one row, also for an empty range) and the columns: each group
    /// key (`utf8`, or `date` for `day`/`week`/`month`; null where spans lack the value), then
    /// `transactions` (int64: distinct traces with a span in the group), `spans` (int64),
    /// the five token sums (int64, null when no span of the group reported that count),
    /// `cost_usd` (`Decimal128(38, 12)` USD, null when no span of the group is priced),
    /// `cost_per_transaction` (same type: `cost_usd / transactions` rounded half away from
    /// zero to 10⁻¹² USD) and `unpriced_spans` (int64, spans matching
    /// [`UNPRICED_CONDITION`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] as [`CostReport::validate`]; otherwise those of
    /// [`QueryEngine::query`].
    pub async fn run(&self, engine: &QueryEngine) -> Result<QueryResult> {
        let sql = self.sql()?;
        let result = engine.query(&sql).await?;
        with_cost_per_transaction(result)
    }
}

/// Inserts `cost_per_transaction` after `cost_usd`.
fn with_cost_per_transaction(result: QueryResult) -> Result<QueryResult> {
    let cost_type = DataType::Decimal128(COST_PRECISION, COST_SCALE);
    let position = result
        .schema
        .index_of("cost_usd")
        .map_err(|e| Error::Execution(e.to_string()))?;
    let mut fields: Vec<Arc<Field>> = result.schema.fields().iter().cloned().collect();
    fields[position] = Arc::new(Field::new("cost_usd", cost_type.clone(), true));
    fields.insert(
        position + 1,
        Arc::new(Field::new("cost_per_transaction", cost_type.clone(), true)),
    );
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batches = result
        .batches
        .iter()
        .map(|batch| {
            let cost = arrow::compute::cast(batch.column(position), &cost_type)?;
            let transactions = batch
                .column_by_name("transactions")
                .ok_or_else(|| arrow::error::ArrowError::SchemaError("transactions".into()))?;
            let per_transaction: Decimal128Array = cost
                .as_primitive::<Decimal128Type>()
                .iter()
                .zip(transactions.as_primitive::<Int64Type>().iter())
                .map(|(cost, n)| match (cost, n) {
                    (Some(cost), Some(n)) if n > 0 => Some(div_round(cost, i128::from(n))),
                    _ => None,
                })
                .collect::<Decimal128Array>()
                .with_precision_and_scale(COST_PRECISION, COST_SCALE)?;
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns[position] = cost;
            columns.insert(position + 1, Arc::new(per_transaction));
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Execution(e.to_string()))?;
    Ok(QueryResult { schema, batches })
}

/// `n / d` rounded half away from zero (`d > 0`).
fn div_round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d { q + n.signum() } else { q }
}

fn check_distinct(keys: &[GroupKey]) -> Result<()> {
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].contains(key) {
            return Err(invalid("group_by", format!("{key} is given twice")));
        }
    }
    Ok(())
}

fn invalid(parameter: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidParameter {
        parameter,
        message: message.into(),
    }
}

/// RFC 3339 in UTC with nine fractional digits.
fn rfc3339(unix_nanos: i64) -> String {
    DateTime::from_timestamp_nanos(unix_nanos)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// A SQL string literal. Group keys and bounds are validated before they get here; quoting
/// is the second line of defence.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL identifier, quoted so that `resource.team` stays one name.
fn sql_ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
