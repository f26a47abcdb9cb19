"""Sends GenAI metrics to Vigil with the OpenTelemetry Python SDK's OTLP metric exporters.

Usage: python3 send_metrics.py --endpoint http://127.0.0.1:4318 [--protocol http|grpc]
       [--agent NAME]
       python3 send_metrics.py --endpoint 127.0.0.1:4317 --undecodable

Temporality follows OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (delta or
cumulative), read by the exporter itself. Two collection rounds are exported, each with a
force_flush, so that delta and cumulative exports differ:

  round 1: counter `vigil.test.requests` += 1, 2; `gen_ai.client.token.usage` input 100,
           2000, output 50; `gen_ai.client.operation.duration` 0.3, 1.5; gauge
           `vigil.test.queue_depth` = 5
  round 2: counter += 4; token usage input 300, output 20, 5000; duration 0.05;
           gauge = 7

Prints one JSON line: {"failures": N} (exports Vigil did not acknowledge). With
--undecodable, sends bytes that are no ExportMetricsServiceRequest through a raw gRPC call
and prints {"code": "INVALID_ARGUMENT", "details": "..."}.
"""

import argparse
import json

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

# The GenAI semantic conventions' advised bucket boundaries.
TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


def exporter(protocol: str, endpoint: str):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics")


def undecodable(endpoint: str) -> None:
    import grpc

    target = endpoint.removeprefix("http://")
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
        try:
            call(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
            print(json.dumps({"code": "OK", "details": ""}))
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "details": e.details()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", default="http", choices=["http", "grpc"])
    parser.add_argument("--agent", default="python-agent")
    parser.add_argument("--undecodable", action="store_true")
    args = parser.parse_args()
    if args.undecodable:
        undecodable(args.endpoint)
        return

    inner = exporter(args.protocol, args.endpoint)
    failures = []
    original = inner.export

    def checked(metrics_data, timeout_millis: float = 10_000, **kwargs):
        result = original(metrics_data, timeout_millis=timeout_millis, **kwargs)
        if result != MetricExportResult.SUCCESS:
            failures.append(str(result))
        return result

    inner.export = checked
    # A long interval: only force_flush exports, so the rounds are exactly as above.
    reader = PeriodicExportingMetricReader(inner, export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "py-metrics", "gen_ai.agent.name": args.agent}),
    )
    meter = provider.get_meter("vigil-e2e")
    requests = meter.create_counter("vigil.test.requests", unit="{request}", description="Agent requests")
    tokens = meter.create_histogram(
        "gen_ai.client.token.usage",
        unit="{token}",
        description="Number of input and output tokens used.",
        explicit_bucket_boundaries_advisory=TOKEN_BOUNDS,
    )
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration",
        unit="s",
        description="GenAI operation duration.",
        explicit_bucket_boundaries_advisory=DURATION_BOUNDS,
    )
    depth = meter.create_gauge("vigil.test.queue_depth", unit="{item}")
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
    }
    rounds = [
        ([1, 2], [100, 2000], [50], [0.3, 1.5], 5),
        ([4], [300], [20, 5000], [0.05], 7),
    ]
    for adds, inputs, outputs, durations, gauge in rounds:
        for n in adds:
            requests.add(n, {"gen_ai.operation.name": "chat"})
        for v in inputs:
            tokens.record(v, {**chat, "gen_ai.token.type": "input"})
        for v in outputs:
            tokens.record(v, {**chat, "gen_ai.token.type": "output"})
        for v in durations:
            duration.record(v, chat)
        depth.set(gauge)
        provider.force_flush()
    provider.shutdown()
    print(json.dumps({"failures": len(failures)}))


if __name__ == "__main__":
    main()
