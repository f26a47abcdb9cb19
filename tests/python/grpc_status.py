"""Sends good and bad OTLP/gRPC export requests with the Python `grpcio` client and reports
the status code of each answer (SPEC §3: over the limit RESOURCE_EXHAUSTED, undecodable
INVALID_ARGUMENT, both of which OTLP clients do not retry).

Usage: python3 grpc_status.py --endpoint 127.0.0.1:4317 --limit BYTES [--token SECRET]
Prints one JSON object: {"traces": {CASE: {"code": "OK", "details": "..."}}, "logs": {...},
"metrics": {...}}
with the cases `valid`, `valid_gzip`, `oversize`, `oversize_gzip` (small on the wire,
over the limit once inflated) and `undecodable`, sent with `authorization: Bearer SECRET`,
and `oversize_no_token`, `undecodable_no_token` sent without it.
"""

import argparse
import json

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

START = 1_795_000_000_000_000_000


def resource(padding: int) -> Resource:
    return Resource(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="grpcio-status")),
            KeyValue(key="padding", value=AnyValue(string_value="x" * padding)),
        ]
    )


def traces(padding: int) -> bytes:
    span = Span(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        name="invoke_agent grpcio",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=START,
        end_time_unix_nano=START + 5_000_000,
        attributes=[KeyValue(key="gen_ai.agent.name", value=AnyValue(string_value="grpcio"))],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=resource(padding), scope_spans=[ScopeSpans(spans=[span])])
        ]
    )
    return request.SerializeToString()


def logs(padding: int) -> bytes:
    record = LogRecord(
        time_unix_nano=START,
        event_name="note",
        body=AnyValue(string_value="hello"),
    )
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=resource(padding), scope_logs=[ScopeLogs(log_records=[record])])
        ]
    )
    return request.SerializeToString()


def metrics(padding: int) -> bytes:
    point = NumberDataPoint(time_unix_nano=START, as_int=3)
    metric = Metric(name="queue.depth", gauge=Gauge(data_points=[point]))
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(resource=resource(padding), scope_metrics=[ScopeMetrics(metrics=[metric])])
        ]
    )
    return request.SerializeToString()


SERVICES = {
    "traces": ("/opentelemetry.proto.collector.trace.v1.TraceService/Export", traces),
    "logs": ("/opentelemetry.proto.collector.logs.v1.LogsService/Export", logs),
    "metrics": ("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", metrics),
}


def call(channel: grpc.Channel, method: str, body: bytes, gzip: bool, token) -> dict:
    # No serializers: grpcio sends the bytes as they are, so bad bytes reach the server.
    export = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
    metadata = [("authorization", f"Bearer {token}")] if token else None
    try:
        export(body, timeout=30, compression=compression, metadata=metadata)
        return {"code": "OK", "details": ""}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details() or ""}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--token")
    args = parser.parse_args()
    answers = {}
    garbage = b"\xff\xff\xff\x0f\x01\x02"
    with grpc.insecure_channel(args.endpoint) as channel:
        for signal, (method, message) in SERVICES.items():
            over = message(args.limit + 1000)
            assert len(over) > args.limit
            token = args.token
            answers[signal] = {
                "valid": call(channel, method, message(10), False, token),
                "valid_gzip": call(channel, method, message(10), True, token),
                "oversize": call(channel, method, over, False, token),
                "oversize_gzip": call(channel, method, over, True, token),
                "undecodable": call(channel, method, garbage, False, token),
                "oversize_no_token": call(channel, method, over, False, None),
                "undecodable_no_token": call(channel, method, garbage, False, None),
            }
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
