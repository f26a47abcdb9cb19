#!/usr/bin/env bash
# OTLP/gRPC against OTLP/HTTP with a client that is not ours: `h2load` (nghttp2, Debian's
# `nghttp2-client`) sends one OTLP body, made by the load generator (benches/loadgen.rs
# `--write-body`), over and over to a release `vigil serve` on a fresh data directory:
# HTTP/2 unary gRPC calls (`-m 1`: one call in flight per connection, as an OpenTelemetry
# SDK's exporter sends) or HTTP/1.1 POSTs to /v1/traces (`--h1`). Reports acknowledged
# spans/s and daemon CPU per span, and checks that `count(*)` holds every acknowledged span.
#
#   benches/h2load.sh [grpc|http] [seconds] [connections] [traces-per-request]
#
# h2load counts an answer with HTTP status 2xx as succeeded; a gRPC error would still be
# a 200, which the `count(*)` check catches (every body's spans are valid, so each
# succeeded call stores them all). Every request repeats the same trace ids, which is
# fine for ingest. VIGIL_BIN and VIGIL_LOADGEN as in benches/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grpc}; seconds=${2:-15}; connections=${3:-16}; traces=${4:-1}
. benches/lib.sh
start_daemon
api=$(endpoint http)
cpu_before=$(awk '{print $14+$15}' /proc/$pid/stat)
out=$(h2load_run "$protocol" "$traces" "$seconds" "$connections")
cpu_after=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "$out" | grep -E '^(finished|requests|status codes|time for request)'
spans=$((traces * 4))
succeeded=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
started=$(echo "$out" | sed -n 's/^requests: [0-9]* total, \([0-9]*\) started.*/\1/p')
stored=$(curl -s -X POST "http://$api/api/v1/sql" -H 'content-type: application/json' \
  -d '{"query":"SELECT count(*) FROM spans"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0][0])')
tck=$(getconf CLK_TCK)
python3 - "$protocol" "$seconds" "$connections" "$spans" "$succeeded" "$started" "$stored" \
  "$(( cpu_after - cpu_before ))" "$tck" <<'PY'
import sys
protocol, seconds, connections, spans, ok, started, stored, ticks, tck = sys.argv[1:]
seconds, spans, ok, started, stored = int(seconds), int(spans), int(ok), int(started), int(stored)
cpu = int(ticks) / int(tck)
print(f"h2load: OTLP/{'gRPC' if protocol == 'grpc' else 'HTTP protobuf'} over {connections} connections for {seconds} s, {spans} spans/request")
print(f"acknowledged spans/s: {ok * spans / seconds:.0f}")
print(f"daemon CPU:           {cpu:.1f} s = {cpu / max(ok * spans, 1) * 1e6:.2f} µs/span (both cores)")
print(f"count(*) FROM spans:  {stored} (acknowledged {ok * spans}, sent {started * spans})")
if not ok * spans <= stored <= started * spans:
    sys.exit("FAIL: stored spans are not between the acknowledged and the sent")
PY
