"""Prints an OTLP metrics export as protobuf's own JSON printer writes it.

Usage: python3 protobuf_json.py TIME_UNIX_NANO [--field-names]

`google.protobuf.json_format.MessageToJson` writes lowerCamelCase keys and 64-bit
integers as strings, as OTLP/JSON does, but enum values as their names
("AGGREGATION_TEMPORALITY_CUMULATIVE"), which OTLP asks senders not to do and the
OpenTelemetry Collector accepts. The request: a cumulative monotonic sum
`agent.requests` (asInt 42), a delta histogram `gen_ai.client.operation.duration`
(count 3, sum 1.5, bounds [0.5, 1], counts [1, 1, 1]) and a gauge `queue.size` (3.5),
from service `protobuf-json`. With --field-names, the keys are protobuf's field names
(`resource_metrics`, `preserving_proto_field_name=True`), which OTLP/JSON does not use and
the Collector accepts, from service `protobuf-json-field-names`.
"""

import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

t = int(sys.argv[1])
field_names = "--field-names" in sys.argv[2:]
request = ExportMetricsServiceRequest()
resource = request.resource_metrics.add()
resource.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="protobuf-json-field-names" if field_names else "protobuf-json")))
scope = resource.scope_metrics.add()
requests = scope.metrics.add(name="agent.requests", unit="{request}")
requests.sum.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
requests.sum.is_monotonic = True
requests.sum.data_points.add(start_time_unix_nano=t - 60_000_000_000, time_unix_nano=t, as_int=42)
duration = scope.metrics.add(name="gen_ai.client.operation.duration", unit="s")
duration.histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_DELTA
duration.histogram.data_points.add(
    start_time_unix_nano=t - 60_000_000_000,
    time_unix_nano=t,
    count=3,
    sum=1.5,
    explicit_bounds=[0.5, 1],
    bucket_counts=[1, 1, 1],
)
gauge = scope.metrics.add(name="queue.size", unit="1")
gauge.gauge.data_points.add(time_unix_nano=t, as_double=3.5)
print(json_format.MessageToJson(request, preserving_proto_field_name=field_names))
