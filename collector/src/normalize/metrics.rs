//! `ExportMetricsServiceRequest` → `metrics` rows: one row per data point.
//!
//! Every point of every metric becomes a row of [`Table::Metrics`]; its metric's name,
//! description, unit, kind, temporality and monotonicity are repeated on it. The GenAI
//! attributes of a point (`gen_ai.operation.name`, `gen_ai.provider.name`, the models,
//! `gen_ai.token.type`, `error.type`, `gen_ai.agent.name` and their other spellings) go to
//! typed columns through the same [`schemas::mapping`] as span attributes; the rest stay in
//! the maps. A point is rejected, with a message, when its time is 0 or past 2262, or when a
//! histogram's bucket counts do not number its bounds plus one; the valid rest is kept (OTLP
//! partial success). Exemplars are not stored.

mod builders;

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use schemas::mapping::SpanField;
use schemas::tables::{metric_types, temporalities};

use super::group::Kind;
use super::value;
use super::{Mapped, Normalized, Normalizer, Rows};
pub(super) use builders::MetricBuilders;

/// The mapping fields that have a `metrics` column, in [`Promoted`] slot order.
const PROMOTED: [SpanField; 7] = [
    SpanField::AgentName,
    SpanField::Operation,
    SpanField::Provider,
    SpanField::RequestModel,
    SpanField::ResponseModel,
    SpanField::TokenType,
    SpanField::ErrorType,
];

/// The slot of `field` in [`PROMOTED`], `None` when `metrics` has no column for it.
fn promoted_slot(field: SpanField) -> Option<usize> {
    PROMOTED.iter().position(|f| *f == field)
}

/// The attribute that won a promoted column: its mapping priority, key and value.
#[derive(Clone, Copy)]
struct Slot<'a> {
    priority: u8,
    key: &'a str,
    value: &'a AnyValue,
}

/// A point's (or resource's) attributes split into promoted columns and the map.
pub(super) struct Attributes<'a> {
    slots: [Option<Slot<'a>>; PROMOTED.len()],
    map: Vec<(&'a str, Option<Cow<'a, str>>)>,
}

impl<'a> Attributes<'a> {
    /// Routes `attributes` through `normalizer`'s mapping: keys of a field in `promote`
    /// fill its slot (the best priority wins, the losers go to the map); every other key
    /// goes to the map.
    fn split(normalizer: &Normalizer, attributes: &'a [KeyValue], promote: &[SpanField]) -> Self {
        let mut out = Attributes {
            slots: [None; PROMOTED.len()],
            map: Vec::with_capacity(attributes.len()),
        };
        for kv in attributes {
            let value = kv.value.as_ref();
            let entry = normalizer
                .mapping
                .lookup(&kv.key)
                .filter(|e| promote.contains(&e.field));
            let (Some(entry), Some(value)) = (entry, value) else {
                out.map.push((&kv.key, value.and_then(value::to_text)));
                continue;
            };
            let Some(index) = promoted_slot(entry.field) else {
                out.map.push((&kv.key, value::to_text(value)));
                continue;
            };
            let new = Slot {
                priority: entry.priority,
                key: &kv.key,
                value,
            };
            match &mut out.slots[index] {
                Some(old) if old.priority <= new.priority => {
                    out.map.push((new.key, value::to_text(new.value)))
                }
                Some(old) => {
                    let loser = std::mem::replace(old, new);
                    out.map.push((loser.key, value::to_text(loser.value)));
                }
                slot @ None => *slot = Some(new),
            }
        }
        out
    }

    fn slot(&self, field: SpanField) -> Option<&Slot<'a>> {
        self.slots[promoted_slot(field)?].as_ref()
    }

    fn text(&self, field: SpanField) -> Option<Cow<'a, str>> {
        value::to_text(self.slot(field)?.value)
    }
}

/// The typed part of a resource: the service, the agent it names (if any) and the rest.
pub(super) struct ResourceRow<'a> {
    service_name: Option<Cow<'a, str>>,
    attributes: Attributes<'a>,
}

/// What every point of one metric shares.
pub(super) struct MetricRow<'a> {
    metric: &'a Metric,
    scope_name: Option<&'a str>,
    kind: &'static str,
    temporality: Option<&'static str>,
    monotonic: Option<bool>,
}

/// One data point of any kind.
#[derive(Clone, Copy)]
pub(super) enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    Exponential(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

impl<'a> Point<'a> {
    fn attributes(self) -> &'a [KeyValue] {
        match self {
            Point::Number(p) => &p.attributes,
            Point::Histogram(p) => &p.attributes,
            Point::Exponential(p) => &p.attributes,
            Point::Summary(p) => &p.attributes,
        }
    }

    /// (start, time), unix ns.
    fn times(self) -> (u64, u64) {
        match self {
            Point::Number(p) => (p.start_time_unix_nano, p.time_unix_nano),
            Point::Histogram(p) => (p.start_time_unix_nano, p.time_unix_nano),
            Point::Exponential(p) => (p.start_time_unix_nano, p.time_unix_nano),
            Point::Summary(p) => (p.start_time_unix_nano, p.time_unix_nano),
        }
    }

    /// Why the point cannot be stored, if it cannot.
    fn problem(self) -> Option<String> {
        let (start, time) = self.times();
        if time == 0 {
            return Some("time_unix_nano is 0".into());
        }
        if time > i64::MAX as u64 || start > i64::MAX as u64 {
            return Some("time is beyond the year 2262".into());
        }
        if let Point::Histogram(p) = self
            && !p.bucket_counts.is_empty()
            && p.bucket_counts.len() != p.explicit_bounds.len() + 1
        {
            return Some(format!(
                "{} bucket counts for {} explicit bounds, expected {}",
                p.bucket_counts.len(),
                p.explicit_bounds.len(),
                p.explicit_bounds.len() + 1
            ));
        }
        None
    }
}

/// OTLP `AggregationTemporality` → `metrics.temporality`.
fn temporality(code: i32) -> Option<&'static str> {
    match code {
        1 => Some(temporalities::DELTA),
        2 => Some(temporalities::CUMULATIVE),
        _ => None,
    }
}

impl Normalizer {
    /// Maps an OTLP metrics export onto `metrics`, one row per data point (see the module
    /// documentation for what is promoted and what is rejected). A metric without data
    /// stores nothing and is named in `errors` (a warning: nothing is counted rejected).
    pub fn metrics(&self, request: &ExportMetricsServiceRequest) -> Normalized {
        self.map_metrics(request).into_normalized(self)
    }

    /// [`Normalizer::metrics`] up to the columns: every point checked (the rejections
    /// counted in [`Mapped::outcome`]) and its attributes split, the rows still borrowed
    /// from `request`, ready to be appended to a group's builders.
    pub fn map_metrics<'a>(&self, request: &'a ExportMetricsServiceRequest) -> Mapped<'a> {
        let mut out = Normalized::default();
        let points: usize = request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(point_count)
            .sum();
        let mut rows = PointRows {
            resources: Vec::with_capacity(request.resource_metrics.len()),
            metrics: Vec::new(),
            points: Vec::with_capacity(points),
        };
        for resource_metrics in &request.resource_metrics {
            let resource = self.resource_row(
                resource_metrics
                    .resource
                    .as_ref()
                    .map_or(&[][..], |r| &r.attributes),
            );
            rows.resources.push(resource);
            for scope_metrics in &resource_metrics.scope_metrics {
                let scope_name = scope_metrics
                    .scope
                    .as_ref()
                    .map(|s| s.name.as_str())
                    .filter(|n| !n.is_empty());
                for metric in &scope_metrics.metrics {
                    self.metric_rows(metric, scope_name, &mut rows, &mut out);
                }
            }
        }
        Mapped {
            rows: Rows(Kind::Metrics(rows)),
            outcome: out,
        }
    }

    /// `service.name` to its column, an agent name to the agent fallback of every point,
    /// the rest to `resource_attributes`.
    fn resource_row<'a>(&self, attributes: &'a [KeyValue]) -> ResourceRow<'a> {
        let service_name = attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(value::to_text);
        let mut split = Attributes::split(self, attributes, &[SpanField::AgentName]);
        split.map.retain(|(key, _)| *key != "service.name");
        ResourceRow {
            service_name,
            attributes: split,
        }
    }

    fn metric_rows<'a>(
        &self,
        metric: &'a Metric,
        scope_name: Option<&'a str>,
        rows: &mut PointRows<'a>,
        out: &mut Normalized,
    ) {
        let (kind, points, temporality_code, monotonic): (_, Vec<Point<'a>>, _, _) =
            match &metric.data {
                None => {
                    if out.errors.len() < Normalized::MAX_ERRORS {
                        out.errors
                            .push(format!("metric {:?} has no data points", metric.name));
                    }
                    return;
                }
                Some(Data::Gauge(g)) => (
                    metric_types::GAUGE,
                    g.data_points.iter().map(Point::Number).collect(),
                    0,
                    None,
                ),
                Some(Data::Sum(s)) => (
                    metric_types::SUM,
                    s.data_points.iter().map(Point::Number).collect(),
                    s.aggregation_temporality,
                    Some(s.is_monotonic),
                ),
                Some(Data::Histogram(h)) => (
                    metric_types::HISTOGRAM,
                    h.data_points.iter().map(Point::Histogram).collect(),
                    h.aggregation_temporality,
                    None,
                ),
                Some(Data::ExponentialHistogram(h)) => (
                    metric_types::EXPONENTIAL_HISTOGRAM,
                    h.data_points.iter().map(Point::Exponential).collect(),
                    h.aggregation_temporality,
                    None,
                ),
                Some(Data::Summary(s)) => (
                    metric_types::SUMMARY,
                    s.data_points.iter().map(Point::Summary).collect(),
                    0,
                    None,
                ),
            };
        let metric_index = rows.metrics.len();
        let resource = rows.resources.len() - 1;
        rows.metrics.push(MetricRow {
            metric,
            scope_name,
            kind,
            temporality: temporality(temporality_code),
            monotonic,
        });
        for point in points {
            if metric.name.is_empty() {
                out.reject(|| "a metric has no name".into());
                continue;
            }
            if let Some(problem) = point.problem() {
                out.reject(|| format!("point of metric {:?}: {problem}", metric.name));
                continue;
            }
            rows.points.push(PointRow {
                metric: metric_index,
                resource,
                point,
                attributes: Attributes::split(self, point.attributes(), &PROMOTED),
            });
        }
    }
}

/// A metrics export's checked points, borrowed from the request.
pub(super) struct PointRows<'a> {
    pub resources: Vec<ResourceRow<'a>>,
    pub metrics: Vec<MetricRow<'a>>,
    pub points: Vec<PointRow<'a>>,
}

/// One valid data point: its metric and resource (indices into [`PointRows`]) and its
/// attributes, split.
pub(super) struct PointRow<'a> {
    pub metric: usize,
    pub resource: usize,
    pub point: Point<'a>,
    pub attributes: Attributes<'a>,
}

impl PointRows<'_> {
    /// Appends every point to `b`.
    pub(super) fn append_to(&self, b: &mut MetricBuilders) {
        for p in &self.points {
            b.append(
                &self.metrics[p.metric],
                p.point,
                &p.attributes,
                &self.resources[p.resource],
            );
        }
    }
}

/// Data points of `metric`, for builder capacity.
fn point_count(metric: &Metric) -> usize {
    match &metric.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}

#[cfg(test)]
mod tests;
