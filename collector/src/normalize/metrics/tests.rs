//! One request with every point kind: the values in their columns, GenAI attributes
//! promoted through the mapping, the agent from the point or the resource, rejections.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use schemas::prices::PriceTable;

use super::super::{NormalizeConfig, Normalizer};

const T0: u64 = 1_795_000_000_000_000_000;

fn s(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("about {name}"),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn number(
    time: u64,
    attributes: Vec<KeyValue>,
    value: number_data_point::Value,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: T0 - 60_000_000_000,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    }
}

fn histogram(bounds: Vec<f64>, buckets: Vec<u64>) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            // Loses to gen_ai.provider.name: back to the map.
            s("gen_ai.system", "azure"),
            s("gen_ai.request.model", "gpt-4o"),
            s("gen_ai.token.type", "input"),
            s("server.address", "api.openai.com"),
        ],
        start_time_unix_nano: T0 - 60_000_000_000,
        time_unix_nano: T0,
        count: buckets.iter().sum(),
        sum: Some(1234.5),
        min: Some(3.0),
        max: Some(900.0),
        bucket_counts: buckets,
        explicit_bounds: bounds,
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "support"),
                    s("gen_ai.agent.name", "resource-agent"),
                    s("team", "payments"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "genai-sdk".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn normalizer() -> Normalizer {
    Normalizer::new(PriceTable::shipped(), NormalizeConfig::default())
}

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let c = batch.column_by_name(column).unwrap().as_string::<i32>();
    (!c.is_null(row)).then(|| c.value(row).to_owned())
}

fn float(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let c = batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Float64Type>();
    (!c.is_null(row)).then(|| c.value(row))
}

fn int(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let c = batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Int64Type>();
    (!c.is_null(row)).then(|| c.value(row))
}

fn floats(batch: &RecordBatch, column: &str, row: usize) -> Option<Vec<f64>> {
    let c = batch.column_by_name(column).unwrap().as_list::<i32>();
    (!c.is_null(row)).then(|| c.value(row).as_primitive::<Float64Type>().values().to_vec())
}

fn ints(batch: &RecordBatch, column: &str, row: usize) -> Option<Vec<i64>> {
    let c = batch.column_by_name(column).unwrap().as_list::<i32>();
    (!c.is_null(row)).then(|| c.value(row).as_primitive::<Int64Type>().values().to_vec())
}

fn map(batch: &RecordBatch, column: &str, row: usize) -> Vec<(String, String)> {
    let m = batch.column_by_name(column).unwrap().as_map();
    let entries = m.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|j| (keys.value(j).to_owned(), values.value(j).to_owned()))
        .collect()
}

#[test]
fn every_point_kind_becomes_one_row() {
    use number_data_point::Value::{AsDouble, AsInt};
    let metrics = vec![
        metric(
            "queue.depth",
            "{item}",
            Data::Gauge(Gauge {
                data_points: vec![number(
                    T0,
                    vec![s("gen_ai.agent.name", "point-agent")],
                    AsInt(7),
                )],
            }),
        ),
        metric(
            "requests",
            "1",
            Data::Sum(Sum {
                data_points: vec![number(T0, vec![s("error.type", "timeout")], AsDouble(2.5))],
                aggregation_temporality: 1,
                is_monotonic: true,
            }),
        ),
        metric(
            "gen_ai.client.token.usage",
            "{token}",
            Data::Histogram(Histogram {
                data_points: vec![histogram(vec![1.0, 10.0, 100.0], vec![0, 2, 5, 1])],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "latency",
            "s",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: T0,
                    count: 6,
                    sum: Some(12.0),
                    scale: 3,
                    zero_count: 1,
                    zero_threshold: 0.001,
                    positive: Some(Buckets {
                        offset: -2,
                        bucket_counts: vec![1, 0, 4],
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "rpc.duration",
            "ms",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T0,
                    count: 10,
                    sum: 55.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 5.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 10.0,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        ),
    ];
    let out = normalizer().metrics(&request(metrics));
    assert_eq!((out.rejected, out.errors.len()), (0, 0), "{:?}", out.errors);
    let b = out.metrics.expect("rows");
    assert_eq!(b.num_rows(), 5);
    assert_eq!(b.schema(), schemas::tables::Table::Metrics.schema());

    let column = |name| (0..5).map(|r| text(&b, name, r)).collect::<Vec<_>>();
    let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    assert_eq!(
        column("type"),
        some(&[
            "gauge",
            "sum",
            "histogram",
            "exponential_histogram",
            "summary"
        ])
    );
    assert_eq!(
        column("temporality"),
        vec![
            None,
            Some("delta".into()),
            Some("cumulative".into()),
            Some("delta".into()),
            None
        ]
    );
    assert_eq!(
        column("agent_name"),
        some(&[
            "point-agent",
            "resource-agent",
            "resource-agent",
            "resource-agent",
            "resource-agent"
        ])
    );
    assert_eq!(column("service_name"), some(&["support"; 5]));
    assert_eq!(column("scope_name"), some(&["genai-sdk"; 5]));
    assert_eq!(text(&b, "unit", 2).as_deref(), Some("{token}"));
    assert_eq!(
        text(&b, "description", 2).as_deref(),
        Some("about gen_ai.client.token.usage")
    );
    let monotonic = b.column_by_name("monotonic").unwrap().as_boolean();
    assert!(monotonic.is_null(0) && monotonic.value(1) && monotonic.is_null(2));

    // Gauge and sum: the value, ints cast to float.
    assert_eq!(float(&b, "value", 0), Some(7.0));
    assert_eq!(float(&b, "value", 1), Some(2.5));
    assert_eq!(text(&b, "error_type", 1).as_deref(), Some("timeout"));
    assert_eq!(int(&b, "count", 1), None);
    let start = b.column_by_name("start_time").unwrap();
    assert_eq!(
        start
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
            .value(0),
        (T0 - 60_000_000_000) as i64
    );
    assert!(start.is_null(3), "no start time: null");

    // Histogram: counts, sum, bounds and buckets exactly; GenAI attributes promoted.
    assert_eq!(int(&b, "count", 2), Some(8));
    assert_eq!(float(&b, "sum", 2), Some(1234.5));
    assert_eq!(
        (float(&b, "min", 2), float(&b, "max", 2)),
        (Some(3.0), Some(900.0))
    );
    assert_eq!(floats(&b, "bounds", 2), Some(vec![1.0, 10.0, 100.0]));
    assert_eq!(ints(&b, "bucket_counts", 2), Some(vec![0, 2, 5, 1]));
    assert_eq!(float(&b, "value", 2), None);
    for (column, value) in [
        ("operation", "chat"),
        ("provider", "openai"),
        ("request_model", "gpt-4o"),
        ("token_type", "input"),
    ] {
        assert_eq!(text(&b, column, 2).as_deref(), Some(value), "{column}");
    }
    assert_eq!(text(&b, "response_model", 2), None);
    let mut attributes = map(&b, "attributes", 2);
    attributes.sort();
    assert_eq!(
        attributes,
        vec![
            ("gen_ai.system".into(), "azure".into()),
            ("server.address".into(), "api.openai.com".into())
        ]
    );
    assert_eq!(
        map(&b, "resource_attributes", 2),
        vec![("team".into(), "payments".into())],
        "service.name and the agent have columns"
    );
    assert_eq!(
        map(&b, "resource_attributes", 0),
        vec![
            ("team".into(), "payments".into()),
            ("gen_ai.agent.name".into(), "resource-agent".into())
        ],
        "the point's own agent wins; the resource's stays in its map"
    );
    assert!(map(&b, "attributes", 0).is_empty());

    // Exponential histogram.
    let scale = b
        .column_by_name("scale")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert_eq!(scale.value(3), 3);
    assert!(scale.is_null(2));
    assert_eq!(int(&b, "zero_count", 3), Some(1));
    let zero_threshold = b
        .column_by_name("zero_threshold")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(zero_threshold.value(3), 0.001);
    assert!(zero_threshold.is_null(2));
    let offset = b
        .column_by_name("positive_offset")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert_eq!(offset.value(3), -2);
    assert_eq!(ints(&b, "positive_counts", 3), Some(vec![1, 0, 4]));
    assert_eq!(ints(&b, "negative_counts", 3), Some(vec![]));
    assert_eq!(ints(&b, "positive_counts", 2), None);

    // Summary: two parallel lists.
    assert_eq!(int(&b, "count", 4), Some(10));
    assert_eq!(float(&b, "sum", 4), Some(55.0));
    assert_eq!(floats(&b, "quantiles", 4), Some(vec![0.5, 0.99]));
    assert_eq!(floats(&b, "quantile_values", 4), Some(vec![5.0, 10.0]));
    assert_eq!(floats(&b, "quantiles", 2), None);
}

#[test]
fn invalid_points_are_rejected_one_by_one() {
    use number_data_point::Value::AsInt;
    let metrics = vec![
        metric(
            "ok_and_zero_time",
            "1",
            Data::Gauge(Gauge {
                data_points: vec![number(T0, vec![], AsInt(1)), number(0, vec![], AsInt(2))],
            }),
        ),
        metric(
            "bad_buckets",
            "ms",
            Data::Histogram(Histogram {
                data_points: vec![
                    histogram(vec![1.0, 2.0], vec![1, 1]),
                    histogram(vec![1.0], vec![]),
                ],
                aggregation_temporality: 1,
            }),
        ),
        Metric {
            name: "no_data".into(),
            ..Default::default()
        },
        metric(
            "",
            "1",
            Data::Gauge(Gauge {
                data_points: vec![number(T0, vec![], AsInt(3))],
            }),
        ),
    ];
    let out = normalizer().metrics(&request(metrics));
    assert_eq!(out.rejected, 3);
    let b = out.metrics.clone().expect("the valid rest");
    assert_eq!(
        b.num_rows(),
        2,
        "the valid gauge point and the bucketless histogram"
    );
    let message = out.error_message();
    assert!(message.contains("time_unix_nano is 0"), "{message}");
    assert!(
        message.contains("2 bucket counts for 2 explicit bounds, expected 3"),
        "{message}"
    );
    assert!(
        message.contains("\"no_data\" has no data points"),
        "{message}"
    );
    assert!(message.contains("a metric has no name"), "{message}");
    assert_eq!(ints(&b, "bucket_counts", 1), Some(vec![]));
}

#[test]
fn an_empty_request_stores_nothing() {
    let out = normalizer().metrics(&ExportMetricsServiceRequest::default());
    assert!(out.metrics.is_none());
    assert_eq!(out.rejected, 0);
}

#[test]
fn a_spans_token_type_stays_in_its_attribute_map() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "chat".into(),
                    start_time_unix_nano: T0,
                    end_time_unix_nano: T0 + 1,
                    attributes: vec![s("gen_ai.token.type", "input")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let spans = normalizer().traces(&request).spans.expect("one span");
    assert_eq!(
        map(&spans, "attributes", 0),
        vec![("gen_ai.token.type".into(), "input".into())]
    );
}
