//! One Arrow builder per `metrics` column.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, ListBuilder, MapBuilder, TimestampNanosecondBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use schemas::mapping::SpanField;
use schemas::tables::Table;

use super::super::builders::{self, Bools, DateBuilder, Floats, Ints, Strings};
use super::{Attributes, MetricRow, Point, ResourceRow};

/// A `list<element>` builder of the `metrics` list columns.
fn list<B: arrow::array::ArrayBuilder>(values: B, item: DataType) -> ListBuilder<B> {
    ListBuilder::new(values).with_field(Arc::new(Field::new("element", item, true)))
}

/// A u64 count as Int64 (Delta has no unsigned types), saturating past 2^63.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A float column's value: non-finite values (NaN, ±∞) are stored as null.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

pub(in crate::normalize) struct MetricBuilders {
    rows: usize,
    time: TimestampNanosecondBuilder,
    start_time: TimestampNanosecondBuilder,
    service_name: Strings,
    agent_name: Strings,
    metric: Strings,
    description: Strings,
    unit: Strings,
    kind: Strings,
    temporality: Strings,
    monotonic: Bools,
    promoted: [Strings; 6],
    value: Floats,
    count: Ints,
    sum: Floats,
    min: Floats,
    max: Floats,
    bounds: ListBuilder<Floats>,
    bucket_counts: ListBuilder<Ints>,
    scale: Int32Builder,
    zero_count: Ints,
    positive_offset: Int32Builder,
    positive_counts: ListBuilder<Ints>,
    negative_offset: Int32Builder,
    negative_counts: ListBuilder<Ints>,
    quantiles: ListBuilder<Floats>,
    quantile_values: ListBuilder<Floats>,
    scope_name: Strings,
    attributes: MapBuilder<Strings, Strings>,
    resource_attributes: MapBuilder<Strings, Strings>,
    zero_threshold: Floats,
    date: DateBuilder,
}

/// The promoted string columns after `agent_name`, in schema order.
const PROMOTED_COLUMNS: [SpanField; 6] = [
    SpanField::Operation,
    SpanField::Provider,
    SpanField::RequestModel,
    SpanField::ResponseModel,
    SpanField::TokenType,
    SpanField::ErrorType,
];

impl MetricBuilders {
    pub(in crate::normalize) fn with_capacity(n: usize) -> Self {
        let s = || Strings::with_capacity(n, n * 16);
        let floats = || list(Floats::with_capacity(n * 8), DataType::Float64);
        let ints = || list(Ints::with_capacity(n * 8), DataType::Int64);
        Self {
            rows: 0,
            time: builders::timestamp_builder(n),
            start_time: builders::timestamp_builder(n),
            service_name: s(),
            agent_name: s(),
            metric: Strings::with_capacity(n, n * 32),
            description: s(),
            unit: s(),
            kind: s(),
            temporality: s(),
            monotonic: Bools::with_capacity(n),
            promoted: std::array::from_fn(|_| s()),
            value: Floats::with_capacity(n),
            count: Ints::with_capacity(n),
            sum: Floats::with_capacity(n),
            min: Floats::with_capacity(n),
            max: Floats::with_capacity(n),
            bounds: floats(),
            bucket_counts: ints(),
            scale: Int32Builder::with_capacity(n),
            zero_count: Ints::with_capacity(n),
            positive_offset: Int32Builder::with_capacity(n),
            positive_counts: ints(),
            negative_offset: Int32Builder::with_capacity(n),
            negative_counts: ints(),
            quantiles: floats(),
            quantile_values: floats(),
            scope_name: s(),
            attributes: builders::map_builder(n),
            resource_attributes: builders::map_builder(n),
            zero_threshold: Floats::with_capacity(n),
            date: DateBuilder::with_capacity(n),
        }
    }

    /// Appends one valid point (see `Point::problem`).
    pub(in crate::normalize) fn append<'a>(
        &mut self,
        row: &MetricRow<'a>,
        point: Point<'a>,
        attributes: &Attributes<'a>,
        resource: &ResourceRow<'a>,
    ) {
        self.rows += 1;
        let (start, time) = point.times();
        self.time.append_value(time as i64);
        self.start_time
            .append_option((start != 0).then_some(start as i64));
        self.service_name
            .append_option(resource.service_name.as_deref());
        // The point's own agent wins; the resource's is the fallback, and when the point
        // overrides it, it stays in the resource map so that nothing sent is lost.
        let own_agent = attributes.text(SpanField::AgentName);
        let resource_agent = resource.attributes.text(SpanField::AgentName);
        self.agent_name
            .append_option(own_agent.as_deref().or(resource_agent.as_deref()));
        let metric = row.metric;
        self.metric.append_value(&metric.name);
        self.description
            .append_option(Some(metric.description.as_str()).filter(|d| !d.is_empty()));
        self.unit
            .append_option(Some(metric.unit.as_str()).filter(|u| !u.is_empty()));
        self.kind.append_value(row.kind);
        self.temporality.append_option(row.temporality);
        self.monotonic.append_option(row.monotonic);
        for (builder, field) in self.promoted.iter_mut().zip(PROMOTED_COLUMNS) {
            builder.append_option(attributes.text(field).as_deref());
        }
        self.append_values(point);
        self.scope_name.append_option(row.scope_name);

        builders::append_map(
            &mut self.attributes,
            attributes.map.iter().map(|(k, v)| (*k, v.as_deref())),
        );
        let overridden = own_agent
            .is_some()
            .then(|| resource.attributes.slot(SpanField::AgentName))
            .flatten()
            .map(|slot| (slot.key, super::value::to_text(slot.value)));
        let resource_map = resource
            .attributes
            .map
            .iter()
            .chain(overridden.iter())
            .map(|(k, v): &(&str, Option<Cow<'_, str>>)| (*k, v.as_deref()));
        builders::append_map(&mut self.resource_attributes, resource_map);
        self.date.append(time as i64);
    }

    /// The kind-specific columns; those a kind does not have are null.
    fn append_values(&mut self, point: Point<'_>) {
        let (mut value, mut n, mut sum, mut min, mut max) = (None, None, None, None, None);
        let (mut bounds, mut buckets): (Option<&[f64]>, Option<&[u64]>) = (None, None);
        let (mut scale, mut zero_count, mut zero_threshold) = (None, None, None);
        let (mut positive, mut negative) = (None, None);
        let mut quantiles = None;
        match point {
            Point::Number(p) => {
                value = match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => finite(d),
                    Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
                    None => None,
                };
            }
            Point::Histogram(p) => {
                n = Some(count(p.count));
                sum = p.sum.and_then(finite);
                min = p.min.and_then(finite);
                max = p.max.and_then(finite);
                bounds = Some(&p.explicit_bounds);
                buckets = Some(&p.bucket_counts);
            }
            Point::Exponential(p) => {
                n = Some(count(p.count));
                sum = p.sum.and_then(finite);
                min = p.min.and_then(finite);
                max = p.max.and_then(finite);
                scale = Some(p.scale);
                zero_count = Some(count(p.zero_count));
                zero_threshold = finite(p.zero_threshold);
                positive = Some(
                    p.positive
                        .as_ref()
                        .map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..])),
                );
                negative = Some(
                    p.negative
                        .as_ref()
                        .map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..])),
                );
            }
            Point::Summary(p) => {
                n = Some(count(p.count));
                sum = finite(p.sum);
                quantiles = Some(&p.quantile_values);
            }
        }
        self.value.append_option(value);
        self.count.append_option(n);
        self.sum.append_option(sum);
        self.min.append_option(min);
        self.max.append_option(max);
        append_floats(&mut self.bounds, bounds.map(|b| b.iter().copied()));
        append_counts(&mut self.bucket_counts, buckets);
        self.scale.append_option(scale);
        self.zero_count.append_option(zero_count);
        self.zero_threshold.append_option(zero_threshold);
        self.positive_offset.append_option(positive.map(|(o, _)| o));
        append_counts(&mut self.positive_counts, positive.map(|(_, c)| c));
        self.negative_offset.append_option(negative.map(|(o, _)| o));
        append_counts(&mut self.negative_counts, negative.map(|(_, c)| c));
        append_floats(
            &mut self.quantiles,
            quantiles.map(|q| q.iter().map(|q| q.quantile)),
        );
        append_floats(
            &mut self.quantile_values,
            quantiles.map(|q| q.iter().map(|q| q.value)),
        );
    }

    pub(in crate::normalize) fn finish(mut self) -> RecordBatch {
        let [
            operation,
            provider,
            request_model,
            response_model,
            token_type,
            error_type,
        ] = &mut self.promoted;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.agent_name.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.monotonic.finish()),
            Arc::new(operation.finish()),
            Arc::new(provider.finish()),
            Arc::new(request_model.finish()),
            Arc::new(response_model.finish()),
            Arc::new(token_type.finish()),
            Arc::new(error_type.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.bounds.finish()),
            Arc::new(self.bucket_counts.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.zero_count.finish()),
            Arc::new(self.positive_offset.finish()),
            Arc::new(self.positive_counts.finish()),
            Arc::new(self.negative_offset.finish()),
            Arc::new(self.negative_counts.finish()),
            Arc::new(self.quantiles.finish()),
            Arc::new(self.quantile_values.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.zero_threshold.finish()),
            self.date.finish(),
        ];
        builders::batch(Table::Metrics, columns)
    }
}

/// Appends a list of floats, or null.
fn append_floats(builder: &mut ListBuilder<Floats>, values: Option<impl Iterator<Item = f64>>) {
    match values {
        Some(values) => {
            for v in values {
                builder.values().append_value(v);
            }
            builder.append(true);
        }
        None => builder.append(false),
    }
}

/// Appends a list of counts as Int64, or null.
fn append_counts(builder: &mut ListBuilder<Ints>, counts: Option<&[u64]>) {
    match counts {
        Some(counts) => {
            for c in counts {
                builder.values().append_value(count(*c));
            }
            builder.append(true);
        }
        None => builder.append(false),
    }
}
