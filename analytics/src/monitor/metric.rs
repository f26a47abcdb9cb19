//! Metric signals (`metric:NAME:p50|p95|p99|mean|rate`): a KPI per window measured from the
//! OTLP data points of the `metrics` table, as Prometheus measures its series.
//!
//! The SQL of [`MetricSignal::points_sql`] only selects the points of one metric (and the
//! monitor's `where`) in the window range plus a lookback; the arithmetic is done here, in
//! Rust, because it is per stream and ordered in time, which SQL aggregates are not:
//!
//! 1. **Streams.** Points are split into streams: one per metric, type, temporality,
//!    service, agent, scope, promoted GenAI attributes, point attributes and resource
//!    attributes (OTLP's "timeseries" identity, Prometheus' label set). Each stream is
//!    sorted by time, so points that arrived out of order count as if in order.
//! 2. **Increments** ([`increments`]). Delta temporality: every point is its own increment.
//!    Cumulative: a point's increment is its value minus the stream's previous point's,
//!    when that point is at most the lookback before the window start; a counter reset —
//!    the start time changed, or a monotonic value (a histogram's count or a bucket)
//!    decreased — counts the whole new value, as Prometheus' `increase`/`rate` do ("any
//!    decrease in the value is taken as a counter reset", `docs/querying/functions.md`;
//!    `promql/functions.go`, `extrapolatedRate`). A point without a previous one counts
//!    its whole value only when its start time lies within the lookback (the stream began
//!    there from zero, as Prometheus' created-timestamp zero ingestion adds a 0 sample at
//!    the start time); otherwise it is only the base of the next increment. So a window's
//!    increase is the value at its last point minus the value at the last point before it.
//!    Unlike Prometheus' `rate`, the point before the window is used and nothing is
//!    extrapolated to the window edges (Prometheus' `rate` reads only the points inside
//!    its range and extrapolates, `extrapolatedRate`). Gauges are taken as they are.
//!    An exponential histogram's increase is taken bucket by bucket after the earlier
//!    point is brought to the later one's scale (the SDKs lower the scale as the range of
//!    observations grows); a bucket that decreased is a reset. A summary's increase is
//!    that of its count and sum.
//! 3. **Windows** ([`Accumulator`]). A series (`group_by` values) adds the increments of
//!    its streams per window (the window of the point's time): histogram bucket counts
//!    element-wise (PromQL's `sum by (le)`), exponential histograms bucket by bucket at the
//!    coarsest scale among them (as PromQL's `sum` adds native histograms), then
//!    - `p50|p95|p99`: [`bucket_quantile`] of the merged buckets, Prometheus'
//!      `histogram_quantile` interpolation (the very function SQL's `histogram_quantile`
//!      calls), or for exponential histograms [`exponential_quantile`], Prometheus'
//!      interpolation for native histograms (exponential within a bucket; the function
//!      SQL's `exponential_histogram_quantile` calls);
//!    - `mean`: Δsum / Δcount of a histogram or a summary, the mean of a gauge's values;
//!    - `rate`: the increase per second of a sum, or of a histogram's or a summary's count.
//!
//! A statistic the metric's type does not have (the p99 of a gauge or of a summary, whose
//! quantiles cannot be added across points or streams; the rate of a gauge; the mean of a
//! sum) is a per-window error: the config cannot know a metric's type, the data says it.
//! The window is then skipped for that series and the problem logged, naming the metric
//! and its type.

use std::collections::{BTreeMap, HashMap};

use arrow::array::RecordBatch;
use schemas::tables::{metric_columns as col, metric_types};

use super::series::WindowMeasure;
use crate::functions::exponential::ExponentialBuckets;
use read::read_points;

mod accumulator;
mod read;
#[cfg(test)]
mod tests;

pub use accumulator::Accumulator;

/// What a metric signal computes per window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// The q-quantile of a histogram's observations in the window (q = 0.5, 0.95, 0.99),
    /// in the metric's unit.
    Quantile(f64),
    /// Δsum / Δcount of a histogram; the mean of a gauge's values.
    Mean,
    /// Increase per second of a sum (or of a histogram's count), 1/s in the metric's unit.
    Rate,
}

/// `metric:NAME:STATISTIC`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSignal {
    /// The OTLP metric name (may contain dots and colons).
    pub name: String,
    /// What is computed per window.
    pub statistic: Statistic,
}

/// How far before a window start the previous point of a cumulative stream may lie for
/// the window's first point to count its difference to it: Prometheus' default
/// `--query.lookback-delta`, 5 minutes, or the window when longer, ns.
pub const LOOKBACK_NS: i64 = 300_000_000_000;

/// Columns of `metrics` a metric monitor may group on (attributes that are not promoted to
/// a column can be picked with `where`, e.g. `attributes['tenant'] = 'acme'`).
pub const METRIC_COLUMNS: [&str; 11] = [
    col::SERVICE_NAME,
    col::AGENT_NAME,
    col::OPERATION,
    col::PROVIDER,
    col::REQUEST_MODEL,
    col::RESPONSE_MODEL,
    col::TOKEN_TYPE,
    col::ERROR_TYPE,
    col::SCOPE_NAME,
    col::UNIT,
    col::METRIC,
];

/// The columns whose values identify a stream (beside the metric name).
const STREAM_COLUMNS: [&str; 13] = [
    col::TYPE,
    col::TEMPORALITY,
    col::SERVICE_NAME,
    col::AGENT_NAME,
    col::SCOPE_NAME,
    col::OPERATION,
    col::PROVIDER,
    col::REQUEST_MODEL,
    col::RESPONSE_MODEL,
    col::TOKEN_TYPE,
    col::ERROR_TYPE,
    col::ATTRIBUTES,
    col::RESOURCE_ATTRIBUTES,
];

impl std::fmt::Display for MetricSignal {
    /// `metric:NAME:p99`, as [`MetricSignal::parse`] reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let statistic = match self.statistic {
            Statistic::Quantile(q) => format!("p{}", (q * 100.0).round()),
            Statistic::Mean => "mean".into(),
            Statistic::Rate => "rate".into(),
        };
        write!(f, "metric:{}:{statistic}", self.name)
    }
}

impl MetricSignal {
    /// Parses what follows `metric:`: `NAME:p50|p95|p99|mean|rate`.
    ///
    /// # Errors
    /// A message naming what is wrong (no name, an unknown statistic).
    pub fn parse(rest: &str) -> Result<MetricSignal, String> {
        let Some((name, statistic)) = rest.rsplit_once(':') else {
            return Err(format!(
                "metric:{rest:?} needs a statistic: metric:<name>:p50|p95|p99|mean|rate"
            ));
        };
        if name.is_empty() {
            return Err("metric:<name>:<statistic> needs a metric name".into());
        }
        let statistic = match statistic {
            "p50" => Statistic::Quantile(0.50),
            "p95" => Statistic::Quantile(0.95),
            "p99" => Statistic::Quantile(0.99),
            "mean" => Statistic::Mean,
            "rate" => Statistic::Rate,
            other => {
                return Err(format!(
                    "unknown metric statistic {other:?}; use p50, p95, p99, mean or rate"
                ));
            }
        };
        Ok(MetricSignal {
            name: name.to_owned(),
            statistic,
        })
    }

    /// The lookback of a monitor with windows of `window_ns`: [`LOOKBACK_NS`] or the
    /// window, whichever is longer.
    pub fn lookback_ns(window_ns: i64) -> i64 {
        LOOKBACK_NS.max(window_ns)
    }

    /// The points of this metric that the windows in `[from_ns, to_ns)` need: those in the
    /// range and in the lookback before it, that pass `filter`, ordered by time. Columns:
    /// `series`, `g0…` (the group values), `stream_…` (what identifies a stream),
    /// `time_ns`, `start_ns`, `in_range` (false for lookback points), `type`,
    /// `temporality`, `monotonic`, `value`, `count`, `sum`, `bounds`, `bucket_counts`,
    /// `scale`, `zero_count`, `positive_offset`, `positive_counts`, `negative_offset`,
    /// `negative_counts`, `zero_threshold`.
    pub fn points_sql(
        &self,
        filter: Option<&str>,
        group_by: &[String],
        window_ns: i64,
        (from_ns, to_ns): (i64, i64),
    ) -> String {
        let series = super::signal::series_sql(group_by);
        let group_values: String = group_by
            .iter()
            .enumerate()
            .map(|(i, g)| format!(", CAST(\"{g}\" AS VARCHAR) AS g{i}"))
            .collect();
        let stream: String = STREAM_COLUMNS
            .iter()
            .map(|c| format!(", \"{c}\" AS \"stream_{c}\""))
            .collect();
        let filter = filter.map_or_else(|| "TRUE".to_owned(), |f| format!("({f})"));
        format!(
            "SELECT {series} AS series{group_values}{stream}, \
                    CAST(time AS BIGINT) AS time_ns, CAST(start_time AS BIGINT) AS start_ns, \
                    time >= {from} AS in_range, \
                    type, temporality, monotonic, CAST(value AS DOUBLE) AS value, \
                    CAST(count AS DOUBLE) AS count, sum, bounds, bucket_counts, scale, \
                    CAST(zero_count AS DOUBLE) AS zero_count, positive_offset, positive_counts, \
                    negative_offset, negative_counts, zero_threshold \
             FROM (SELECT * FROM metrics WHERE metric = {name} AND time >= {lo} AND time < {hi}) src \
             WHERE {filter} ORDER BY time_ns",
            name = super::signal::quote(&self.name),
            from = super::signal::ts(from_ns),
            lo = super::signal::ts(from_ns - Self::lookback_ns(window_ns)),
            hi = super::signal::ts(to_ns),
        )
    }

    /// The windows of the range of a [`MetricSignal::points_sql`] result, measured: in
    /// window order, each window's series in order of name; and the problems met (a
    /// window a statistic does not apply to, unreadable points), each naming the series
    /// and window. The lookback's points serve only as the base of the first increments.
    pub fn windows(
        &self,
        batches: &[RecordBatch],
        group_by: &[String],
        window_ns: i64,
    ) -> (Vec<WindowMeasure>, Vec<String>) {
        let mut problems = Vec::new();
        let mut streams: HashMap<String, Stream> = HashMap::new();
        for batch in batches {
            if let Err(e) = read_points(batch, group_by, &mut streams) {
                problems.push(format!("{}: {e}", self));
                return (Vec::new(), problems);
            }
        }
        let (out, found) = self.measure(streams.into_values().collect(), window_ns);
        problems.extend(found);
        (out, problems)
    }

    /// [`MetricSignal::windows`] over streams already read: each is sorted by time, turned
    /// into increments, and added up per series and window.
    fn measure(
        &self,
        mut streams: Vec<Stream>,
        window_ns: i64,
    ) -> (Vec<WindowMeasure>, Vec<String>) {
        let mut problems = Vec::new();
        let lookback = Self::lookback_ns(window_ns);
        // (series, window start) → what its streams added up to.
        let mut windows: BTreeMap<(String, i64), (Accumulator, &Stream)> = BTreeMap::new();
        for stream in &mut streams {
            let mut order: Vec<usize> = (0..stream.points.len()).collect();
            order.sort_by_key(|&i| stream.points[i].time_ns);
            stream.points = order.iter().map(|&i| stream.points[i].clone()).collect();
            stream.in_range = order.iter().map(|&i| stream.in_range[i]).collect();
        }
        for stream in &streams {
            for (i, (window, increment)) in increments(&stream.points, window_ns, lookback) {
                if !stream.in_range[i] {
                    continue;
                }
                windows
                    .entry((stream.series.clone(), window))
                    .or_insert_with(|| (Accumulator::default(), stream))
                    .0
                    .add(increment);
            }
        }
        let mut out = Vec::new();
        for ((series, start_ns), (accumulator, stream)) in windows {
            match accumulator.finish(self.statistic, window_ns) {
                Ok(Some(figures)) => out.push(WindowMeasure {
                    start_ns,
                    series,
                    labels: stream.labels.clone(),
                    n: figures.n,
                    d: None,
                    value: Some(figures.value),
                    sample: Vec::new(),
                    kpis: figures.kpis,
                }),
                Ok(None) => {}
                Err(e) => problems.push(format!("{self} series {series:?} window {start_ns}: {e}")),
            }
        }
        // Window order, as the SQL of the other signals returns them.
        out.sort_by(|a, b| (a.start_ns, &a.series).cmp(&(b.start_ns, &b.series)));
        (out, problems)
    }
}

/// The OTLP data kind of a point, with what its arithmetic needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A gauge: values taken as they are.
    Gauge,
    /// A sum; a monotonic one's decrease is a reset.
    Sum {
        /// `is_monotonic`.
        monotonic: bool,
    },
    /// An explicit-bucket histogram.
    Histogram,
    /// An exponential histogram.
    ExponentialHistogram,
    /// A summary: its count and sum are read, its quantiles are not.
    Summary,
    /// A type this version does not know.
    Other(String),
}

impl Kind {
    fn name(&self) -> &str {
        match self {
            Kind::Gauge => metric_types::GAUGE,
            Kind::Sum { .. } => metric_types::SUM,
            Kind::Histogram => metric_types::HISTOGRAM,
            Kind::ExponentialHistogram => metric_types::EXPONENTIAL_HISTOGRAM,
            Kind::Summary => metric_types::SUMMARY,
            Kind::Other(name) => name,
        }
    }
}

/// One data point of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Time of the point, ns since the epoch.
    pub time_ns: i64,
    /// Start of its aggregation interval, ns; `None` when the point has none.
    pub start_ns: Option<i64>,
    /// Its data kind.
    pub kind: Kind,
    /// Cumulative (else delta; gauges have none).
    pub cumulative: bool,
    /// What the point holds.
    pub payload: Payload,
}

/// The numbers of a point, or of an increment.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A gauge's or a sum's value.
    Number(f64),
    /// A histogram's count, sum (when recorded), bounds and per-bucket counts
    /// (`len(buckets) = len(bounds) + 1`, OTLP's layout).
    Histogram {
        /// Observations.
        count: f64,
        /// Sum of the observations, when recorded.
        sum: Option<f64>,
        /// Explicit bounds.
        bounds: Vec<f64>,
        /// Count per bucket.
        buckets: Vec<f64>,
    },
    /// An exponential histogram's count, sum (when recorded) and buckets.
    Exponential {
        /// Observations.
        count: f64,
        /// Sum of the observations, when recorded.
        sum: Option<f64>,
        /// Scale, zero bucket and bucket spans.
        buckets: ExponentialBuckets,
    },
    /// A summary's count and sum.
    Summary {
        /// Observations.
        count: f64,
        /// Sum of the observations.
        sum: Option<f64>,
    },
}

/// One stream's points and the series it belongs to.
struct Stream {
    series: String,
    labels: BTreeMap<String, Option<String>>,
    points: Vec<Point>,
    /// Per point (in the same order once sorted): not a lookback point.
    in_range: Vec<bool>,
}

/// An increment of one stream, tagged with the kind it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Increment {
    /// The data kind of the stream.
    pub kind: Kind,
    /// A gauge's value, a sum's increase, or a histogram's increase per bucket.
    pub payload: Payload,
}

/// A stream's increments, each with the index of the point it belongs to and that point's
/// window start, in time order; `points` sorted by time. See the module docs for the
/// rules (step 2).
pub fn increments(
    points: &[Point],
    window_ns: i64,
    lookback_ns: i64,
) -> Vec<(usize, (i64, Increment))> {
    let mut out = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let window = point.time_ns.div_euclid(window_ns) * window_ns;
        let since = window - lookback_ns;
        let payload = if !point.cumulative || point.kind == Kind::Gauge {
            Some(point.payload.clone())
        } else {
            let previous = i
                .checked_sub(1)
                .map(|j| &points[j])
                .filter(|p| p.time_ns >= since && p.kind == point.kind);
            match previous {
                Some(previous) if !is_reset(previous, point) => {
                    difference(&previous.payload, &point.payload)
                }
                // A reset: the counter started again from zero.
                Some(_) => Some(point.payload.clone()),
                // The stream began within the lookback, from zero at its start time.
                None if point
                    .start_ns
                    .is_some_and(|s| s >= since && s < point.time_ns) =>
                {
                    Some(point.payload.clone())
                }
                None => None,
            }
        };
        if let Some(payload) = payload {
            out.push((
                i,
                (
                    window,
                    Increment {
                        kind: point.kind.clone(),
                        payload,
                    },
                ),
            ));
        }
    }
    out
}

/// Whether `point` restarted its cumulative stream after `previous`: its start time
/// changed, or a monotonic count decreased (Prometheus: "any decrease in the value is
/// taken as a counter reset"), or the histogram layout changed.
fn is_reset(previous: &Point, point: &Point) -> bool {
    if let (Some(a), Some(b)) = (previous.start_ns, point.start_ns)
        && a != b
    {
        return true;
    }
    match (&previous.payload, &point.payload) {
        (Payload::Number(a), Payload::Number(b)) => {
            matches!(point.kind, Kind::Sum { monotonic: true }) && b < a
        }
        (
            Payload::Histogram {
                count: c0,
                bounds: b0,
                buckets: k0,
                ..
            },
            Payload::Histogram {
                count: c1,
                bounds: b1,
                buckets: k1,
                ..
            },
        ) => {
            c1 < c0
                || b0 != b1
                || k0.len() != k1.len()
                || k0.iter().zip(k1).any(|(before, after)| after < before)
        }
        (
            Payload::Exponential {
                count: c0,
                buckets: b0,
                ..
            },
            Payload::Exponential {
                count: c1,
                buckets: b1,
                ..
            },
        ) => c1 < c0 || b1.minus(b0).is_none(),
        (Payload::Summary { count: c0, .. }, Payload::Summary { count: c1, .. }) => c1 < c0,
        _ => true,
    }
}

/// `point − previous`, both of the same kind and layout (not a reset).
fn difference(previous: &Payload, point: &Payload) -> Option<Payload> {
    match (previous, point) {
        (Payload::Number(a), Payload::Number(b)) => Some(Payload::Number(b - a)),
        (
            Payload::Histogram {
                count: c0,
                sum: s0,
                buckets: k0,
                ..
            },
            Payload::Histogram {
                count,
                sum,
                bounds,
                buckets,
            },
        ) => Some(Payload::Histogram {
            count: count - c0,
            sum: sum.zip(*s0).map(|(s1, s0)| s1 - s0),
            bounds: bounds.clone(),
            buckets: buckets.iter().zip(k0).map(|(b, a)| b - a).collect(),
        }),
        (
            Payload::Exponential {
                count: c0,
                sum: s0,
                buckets: b0,
            },
            Payload::Exponential {
                count,
                sum,
                buckets,
            },
        ) => Some(Payload::Exponential {
            count: count - c0,
            sum: sum.zip(*s0).map(|(s1, s0)| s1 - s0),
            buckets: buckets.minus(b0)?,
        }),
        (Payload::Summary { count: c0, sum: s0 }, Payload::Summary { count, sum }) => {
            Some(Payload::Summary {
                count: count - c0,
                sum: sum.zip(*s0).map(|(s1, s0)| s1 - s0),
            })
        }
        _ => None,
    }
}
