//! What a monitor measures per window (SPEC §5 `signal`), and the SQL that measures it.
//!
//! Every signal but the metric ones is one aggregate over the rows of a window:
//! `transactions` for the per-transaction KPIs, `scores` for `score:<name>`. The query for
//! a range of closed windows returns one row per window and series with
//! `window_start` (ns), `series`, `g0…` (the group values), `n`, `d` (nonconforming count,
//! rates only), `value` and `sample` (the raw values, distribution tests only).
//! `metric:NAME:…` signals select the metric's points instead, and [`super::metric`] turns
//! them into per-window figures (cumulative streams into increments first).

pub use super::metric::{MetricSignal, Statistic};
use crate::catalog::{INTERNAL_SCHEMA, SCORES_RAW, scores_sql, transactions_sql};

/// The KPIs a monitor can watch.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// Mean of the window's scores named so (`score:accuracy`).
    Score(String),
    /// Mean transaction confidence.
    Confidence,
    /// Escalated transactions / transactions.
    EscalationRate,
    /// Transactions with an ERROR span / transactions.
    ErrorRate,
    /// Exact percentile (`percentile_cont`) of transaction duration, ms; q in (0, 1).
    Latency(f64),
    /// Mean `cost_usd` over the window's priced transactions, USD.
    CostPerTransaction,
    /// Mean input + output tokens per transaction.
    TokensPerTransaction,
    /// A statistic of an OTLP metric's data points per window (`metric:NAME:p99`).
    Metric(MetricSignal),
}

/// Columns of `transactions` a monitor may filter or group on.
const TRANSACTION_COLUMNS: [&str; 16] = [
    "trace_id",
    "agent_name",
    "agent_version",
    "service_name",
    "service_version",
    "conversation_id",
    "prompt_version",
    "duration_ms",
    "spans",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "unpriced_spans",
    "escalated",
    "error",
    "confidence",
];

/// Columns of `scores` a monitor may filter or group on.
const SCORE_COLUMNS: [&str; 8] = [
    "trace_id",
    "span_id",
    "name",
    "value",
    "label",
    "source",
    "service_name",
    "agent_name",
];

impl std::fmt::Display for Signal {
    /// SPEC §5's spelling, as [`Signal::parse`] reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signal::Score(name) => write!(f, "score:{name}"),
            Signal::Confidence => f.write_str("confidence"),
            Signal::EscalationRate => f.write_str("escalation_rate"),
            Signal::ErrorRate => f.write_str("error_rate"),
            Signal::Latency(q) => write!(f, "latency_p{}", (q * 100.0).round()),
            Signal::CostPerTransaction => f.write_str("cost_per_transaction"),
            Signal::TokensPerTransaction => f.write_str("tokens_per_transaction"),
            Signal::Metric(metric) => metric.fmt(f),
        }
    }
}

impl Signal {
    /// Parses SPEC §5's spelling.
    ///
    /// # Errors
    /// A message listing the valid signals.
    pub fn parse(text: &str) -> Result<Signal, String> {
        Ok(match text {
            "confidence" => Signal::Confidence,
            "escalation_rate" => Signal::EscalationRate,
            "error_rate" => Signal::ErrorRate,
            "latency_p50" => Signal::Latency(0.50),
            "latency_p95" => Signal::Latency(0.95),
            "latency_p99" => Signal::Latency(0.99),
            "cost_per_transaction" => Signal::CostPerTransaction,
            "tokens_per_transaction" => Signal::TokensPerTransaction,
            _ => match (text.strip_prefix("score:"), text.strip_prefix("metric:")) {
                (Some(name), _) if !name.is_empty() => Signal::Score(name.to_owned()),
                (_, Some(rest)) => Signal::Metric(MetricSignal::parse(rest)?),
                _ => {
                    return Err(format!(
                        "unknown signal {text:?}; use score:<name>, metric:<name>:p50|p95|p99|mean|rate, \
                         confidence, escalation_rate, error_rate, latency_p50, latency_p95, latency_p99, \
                         cost_per_transaction or tokens_per_transaction"
                    ));
                }
            },
        })
    }

    /// Whether the window value is a proportion d/n (`p_chart` applies).
    pub fn is_rate(&self) -> bool {
        matches!(self, Signal::EscalationRate | Signal::ErrorRate)
    }

    /// `transactions`, `scores` or `metrics`.
    pub fn source_name(&self) -> &'static str {
        match self {
            Signal::Score(_) => "scores",
            Signal::Metric(_) => "metrics",
            _ => "transactions",
        }
    }

    /// Columns `where` and `group_by` may use.
    pub fn columns(&self) -> &'static [&'static str] {
        match self {
            Signal::Score(_) => &SCORE_COLUMNS,
            Signal::Metric(_) => &super::metric::METRIC_COLUMNS,
            _ => &TRANSACTION_COLUMNS,
        }
    }

    /// The row expression (over [`Signal::source`]'s rows) whose aggregate is the window
    /// value: `value`, `confidence`, `duration_ms`, … (the pages order a window's worst
    /// transactions by it). A metric signal's window value is no aggregate of one row
    /// expression; its `value` column (gauges and sums) stands in.
    pub fn measure(&self) -> &'static str {
        match self {
            Signal::Score(_) | Signal::Metric(_) => "value",
            Signal::Confidence => "confidence",
            Signal::EscalationRate => "CASE WHEN escalated THEN 1 ELSE 0 END",
            Signal::ErrorRate => "CASE WHEN error THEN 1 ELSE 0 END",
            Signal::Latency(_) => "duration_ms",
            Signal::CostPerTransaction => "cost_usd",
            Signal::TokensPerTransaction => {
                "COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)"
            }
        }
    }

    /// Figures recorded beside the window value (the `kpis` column of `drift`), as
    /// (name, SQL aggregate): the confidence distribution (deciles 1, 5, 9 and a
    /// ten-bin histogram over [0, 1]), all three latency percentiles (exact), the
    /// nonconforming count of a rate, and the window's totals of cost and tokens. None
    /// for a metric signal, whose figures are computed in Rust
    /// ([`super::metric::Accumulator::finish`]).
    pub fn kpis(&self) -> Vec<(String, String)> {
        let x = self.measure();
        let percentile = |q: f64| format!("percentile_cont({q}) WITHIN GROUP (ORDER BY {x})");
        match self {
            Signal::Confidence => {
                let mut out = vec![
                    ("p10".to_owned(), percentile(0.1)),
                    ("p50".to_owned(), percentile(0.5)),
                    ("p90".to_owned(), percentile(0.9)),
                ];
                // Bin b holds [b/10, (b+1)/10); the last bin also holds 1.0.
                for b in 0..10 {
                    let upper = if b == 9 {
                        format!("{x} <= 1.0")
                    } else {
                        format!("{x} < {}", f64::from(b + 1) / 10.0)
                    };
                    out.push((
                        format!("bin{b}"),
                        format!(
                            "SUM(CASE WHEN {x} >= {} AND {upper} THEN 1 ELSE 0 END)",
                            f64::from(b) / 10.0
                        ),
                    ));
                }
                out
            }
            Signal::Latency(_) => vec![
                ("p50".to_owned(), percentile(0.5)),
                ("p95".to_owned(), percentile(0.95)),
                ("p99".to_owned(), percentile(0.99)),
            ],
            Signal::EscalationRate | Signal::ErrorRate => {
                vec![("nonconforming".to_owned(), format!("SUM({x})"))]
            }
            Signal::CostPerTransaction => vec![
                ("total_usd".to_owned(), format!("SUM({x})")),
                ("transactions".to_owned(), "COUNT(*)".to_owned()),
            ],
            Signal::TokensPerTransaction => vec![("total_tokens".to_owned(), format!("SUM({x})"))],
            Signal::Score(_) => vec![
                ("min".to_owned(), format!("MIN({x})")),
                ("max".to_owned(), format!("MAX({x})")),
            ],
            Signal::Metric(_) => Vec::new(),
        }
    }

    /// Whether the signal reads `scores`.
    pub fn is_score(&self) -> bool {
        matches!(self, Signal::Score(_))
    }

    /// Whether the signal reads `metrics`.
    pub fn is_metric(&self) -> bool {
        matches!(self, Signal::Metric(_))
    }

    /// Whether the signal reads `transactions` (and so may share a pass's transactions).
    pub fn reads_transactions(&self) -> bool {
        !self.is_score() && !self.is_metric()
    }

    /// The transactions whose root starts in `[from_ns, to_ns)`, as a SQL relation of
    /// `time` and `columns` (the planner then drops the sums nobody reads).
    pub fn transactions_between(from_ns: i64, to_ns: i64, columns: &[&str]) -> String {
        let columns: String = columns.iter().map(|c| format!(", \"{c}\"")).collect();
        format!(
            "SELECT time{columns} FROM ({}) tx",
            Signal::Confidence.source(from_ns, to_ns)
        )
    }

    /// For a score signal: how many of its scores in `[from_ns, to_ns)` lack their trace,
    /// agent or service (and so need resolving against spans), as one `BIGINT` `n`.
    pub fn incomplete_scores_sql(&self, from_ns: i64, to_ns: i64) -> Option<String> {
        let Signal::Score(name) = self else {
            return None;
        };
        Some(format!(
            "SELECT COUNT(*) AS n FROM {INTERNAL_SCHEMA}.{SCORES_RAW} \
             WHERE time >= {} AND time < {} AND name = {} \
               AND (trace_id IS NULL OR agent_name IS NULL OR service_name IS NULL)",
            ts(from_ns),
            ts(to_ns),
            quote(name)
        ))
    }

    /// The columns of its source a monitor of this signal may read: those its measure,
    /// `filter` and `group_by` name. A superset: a word of the filter that happens to be a
    /// column name inside a string literal only adds a column.
    pub fn columns_read(
        &self,
        filter: Option<&str>,
        group_by: &[String],
    ) -> std::collections::BTreeSet<&'static str> {
        let text = format!(
            "{} {} {}",
            self.measure(),
            filter.unwrap_or_default(),
            group_by.join(" ")
        );
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter_map(|word| self.columns().iter().find(|c| **c == word).copied())
            .collect()
    }

    /// The source rows with `time` in `[from_ns, to_ns)`, as a SQL relation: the
    /// transactions (roots in the range, sums over the spans near it), the named scores,
    /// or the named metric's data points.
    pub fn source(&self, from_ns: i64, to_ns: i64) -> String {
        let range = format!("time >= {} AND time < {}", ts(from_ns), ts(to_ns));
        match self {
            Signal::Metric(metric) => format!(
                "SELECT * FROM metrics WHERE {range} AND metric = {}",
                quote(&metric.name)
            ),
            // A score that does not carry its trace, agent or service is resolved against
            // the spans that start at most ten minutes before it (evaluations and feedback
            // come after the response), so the cost follows the window, not history.
            Signal::Score(name) => scores_sql(
                &format!("{range} AND name = {}", quote(name)),
                &format!(
                    "time >= {} AND time < {}",
                    ts(from_ns - SCORE_SPAN_LOOKBACK_NS),
                    ts(to_ns)
                ),
                Some(SCORE_SPAN_LOOKBACK_NS),
            ),
            // A transaction's spans are summed from a minute before the window (clock skew
            // between services) to ten minutes after it (children start after their root;
            // agent runs longer than that are cut), so the cost of a window follows the
            // data near it, not history.
            _ => transactions_sql(
                &format!(
                    "time >= {} AND time < {}",
                    ts(from_ns - SKEW_NS),
                    ts(to_ns + TRANSACTION_SPAN_NS)
                ),
                &format!("r.time >= {} AND r.time < {}", ts(from_ns), ts(to_ns)),
            ),
        }
    }

    /// Which rows the signal aggregates: monitors with equal keys (and equal filter,
    /// grouping and windows) are measured by one query ([`windows_sql`]).
    pub fn source_key(&self) -> String {
        match self {
            Signal::Score(name) => format!("score:{name}"),
            Signal::Metric(metric) => format!("metric:{}", metric.name),
            _ => "transactions".to_owned(),
        }
    }

    /// This signal's columns of a window query, named `{prefix}n`, `{prefix}d`,
    /// `{prefix}value`, `{prefix}sample` (when `sample`) and `{prefix}kpi_<name>`.
    fn window_columns(&self, prefix: &str, sample: bool) -> String {
        let x = self.measure();
        let (n, d, value) = match self {
            Signal::EscalationRate | Signal::ErrorRate => (
                "COUNT(*)".to_owned(),
                format!("CAST(SUM({x}) AS BIGINT)"),
                format!("CAST(SUM({x}) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE)"),
            ),
            Signal::Latency(q) => (
                format!("COUNT({x})"),
                "CAST(NULL AS BIGINT)".to_owned(),
                format!("percentile_cont({q}) WITHIN GROUP (ORDER BY {x})"),
            ),
            _ => (
                format!("COUNT({x})"),
                "CAST(NULL AS BIGINT)".to_owned(),
                format!("AVG(CAST({x} AS DOUBLE))"),
            ),
        };
        let sample = if sample {
            format!(
                ", array_agg(CAST({x} AS DOUBLE)) FILTER (WHERE {x} IS NOT NULL) AS {prefix}sample"
            )
        } else {
            String::new()
        };
        let kpis: String = self
            .kpis()
            .iter()
            .map(|(name, expr)| format!(", CAST({expr} AS DOUBLE) AS {prefix}kpi_{name}"))
            .collect();
        format!("{n} AS {prefix}n, {d} AS {prefix}d, {value} AS {prefix}value{sample}{kpis}")
    }

    /// The source rows with `time` in `[from_ns, to_ns)`: `shared`, a relation holding the
    /// transactions of a wider range (a pass's), or built here.
    fn source_in(
        &self,
        (from_ns, to_ns): (i64, i64),
        shared: Option<&str>,
        complete_scores: bool,
    ) -> String {
        if let (Signal::Score(name), true) = (self, complete_scores) {
            return format!(
                "SELECT * FROM {INTERNAL_SCHEMA}.{SCORES_RAW} WHERE time >= {} AND time < {} AND name = {}",
                ts(from_ns),
                ts(to_ns),
                quote(name)
            );
        }
        match shared {
            Some(name) if self.reads_transactions() => format!(
                "SELECT * FROM {name} WHERE time >= {} AND time < {}",
                ts(from_ns),
                ts(to_ns)
            ),
            _ => self.source(from_ns, to_ns),
        }
    }
}

/// One monitor's part of a window query: its signal, and whether it needs the raw values
/// (distribution tests).
#[derive(Debug, Clone, Copy)]
pub struct Measure<'a> {
    /// What is measured.
    pub signal: &'a Signal,
    /// Whether the raw values are returned too.
    pub sample: bool,
}

/// The query for every window in `[from_ns, to_ns)` (both on window boundaries, ns) of
/// several monitors over the same source ([`Signal::source_key`]), filter and grouping:
/// the rows are read and grouped once, and each measure `j` gets its own columns prefixed
/// `m{j}_`. One row per window and series: `window_start` (ns), `series`, `g0…` (the group
/// values), `first_ns` (the series' first row in the window, for [`super::cap`]), then
/// per measure `n`, `d` (nonconforming count, rates only), `value`, `sample`
/// (distribution tests only) and `kpi_<name>`. `shared` names a relation holding
/// the transactions of a wider range (a pass's), read instead of building them again.
/// `complete_scores` says that no score of the range lacks its trace, agent or service
/// ([`Signal::incomplete_scores_sql`] counted none): the stored scores are then read as
/// they are, without the joins that resolve them.
///
/// For metric signals (every measure then reads the same metric) it is instead
/// [`MetricSignal::points_sql`]: the points, which [`MetricSignal::windows`] measures.
///
/// # Panics
/// When `measures` is empty.
pub fn windows_sql(
    measures: &[Measure<'_>],
    filter: Option<&str>,
    group_by: &[String],
    window_ns: i64,
    range: (i64, i64),
    shared: Option<&str>,
    complete_scores: bool,
) -> String {
    if let Signal::Metric(metric) = measures[0].signal {
        return metric.points_sql(filter, group_by, window_ns, range);
    }
    let groups: Vec<String> = group_by.iter().map(|c| format!("\"{c}\"")).collect();
    let series = series_sql(group_by);
    let group_values: String = groups
        .iter()
        .enumerate()
        .map(|(i, g)| format!(", CAST({g} AS VARCHAR) AS g{i}"))
        .collect();
    let columns: Vec<String> = measures
        .iter()
        .enumerate()
        .map(|(j, m)| m.signal.window_columns(&format!("m{j}_"), m.sample))
        .collect();
    let filter = filter.map_or_else(|| "TRUE".to_owned(), |f| format!("({f})"));
    let group_list: String = (0..groups.len()).map(|i| format!(", g{i}")).collect();
    format!(
        "SELECT CAST(date_bin(INTERVAL '{window_ns} nanoseconds', time) AS BIGINT) AS window_start, \
                {series} AS series{group_values}, \
                CAST(MIN(time) AS BIGINT) AS first_ns, {columns} \
         FROM ({source}) src WHERE {filter} \
         GROUP BY 1, 2{group_list} ORDER BY 1, 2",
        columns = columns.join(", "),
        source = measures[0].signal.source_in(range, shared, complete_scores),
    )
}

/// The SQL expression of a row's series name: the `group_by` values joined with `,` (a
/// null as empty), `'all'` without grouping.
pub fn series_sql(group_by: &[String]) -> String {
    if group_by.is_empty() {
        return "'all'".to_owned();
    }
    let parts: Vec<String> = group_by
        .iter()
        .map(|g| format!("COALESCE(CAST(\"{g}\" AS VARCHAR), '')"))
        .collect();
    format!("concat_ws(',', {})", parts.join(", "))
}

impl Signal {
    /// The first and last `time` of the signal's source at or after `from_ns` (all of it
    /// for `None`), as `lo`, `hi` nanoseconds; both null when there is none. One query
    /// serves every monitor on the same source ([`Signal::source_name`]): for scores it
    /// spans all score names (metrics: all metric names), which at worst starts a monitor
    /// at an earlier, empty window.
    pub fn extent_sql(&self, from_ns: Option<i64>) -> String {
        let since = from_ns.map_or_else(|| "TRUE".to_owned(), |f| format!("time >= {}", ts(f)));
        // Scores as stored: the `scores` view would resolve every score against all spans
        // only for their times.
        let table = match self {
            Signal::Score(_) => format!("{INTERNAL_SCHEMA}.{SCORES_RAW} WHERE"),
            Signal::Metric(_) => "metrics WHERE".to_owned(),
            _ => "spans WHERE parent_span_id IS NULL AND".to_owned(),
        };
        format!(
            "SELECT CAST(MIN(time) AS BIGINT) AS lo, CAST(MAX(time) AS BIGINT) AS hi FROM {table} {since}"
        )
    }
}

/// How long before its root a span of a transaction may start (clock skew), ns.
const SKEW_NS: i64 = 60_000_000_000;
/// How long after its root a span of a transaction may start, ns.
const TRANSACTION_SPAN_NS: i64 = 600_000_000_000;
/// How long before a score its span may start for a monitor to resolve the score's
/// trace, agent and service from it, ns.
const SCORE_SPAN_LOOKBACK_NS: i64 = 600_000_000_000;

/// A timestamp literal of the same type as the time columns.
pub(super) fn ts(ns: i64) -> String {
    format!("arrow_cast({ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))')")
}

/// A SQL string literal.
pub(super) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
