#!/usr/bin/env bash
# End-to-end ingest benchmark: starts a release `vigil serve` on a fresh data directory,
# drives it with the load generator (benches/loadgen.rs), and reports durable spans/s,
# daemon CPU per span, peak RSS, stored bytes per span and query latencies.
#
#   benches/e2e.sh [http|grpc|json] [seconds] [connections] [traces-per-request] [extra serve flags...]
#   benches/e2e.sh metrics [seconds] [connections] [points-per-request] [extra serve flags...]
#
# `json` sends the same traces as OTLP/HTTP JSON. `metrics` sends GenAI metric data points
# (histograms, a sum, a gauge) over OTLP/HTTP
# protobuf to /v1/metrics and reports durable points/s; the acknowledged points are checked
# against `SELECT count(*) FROM metrics` at the end.
#
# With VIGIL_BENCH_SECURE=1 the daemon requires a bearer token and speaks TLS (a CA and a
# certificate for localhost made with openssl); the load generator sends the token and
# trusts the CA, as a production agent would. VIGIL_BENCH_SECURE=token or =tls turns on
# only one of the two.
#
# Figures go to BENCHMARKS.md with this command line.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-http}; seconds=${2:-30}; connections=${3:-16}; traces=${4:-50}; shift $(( $# < 4 ? $# : 4 ))
target=${CARGO_TARGET_DIR:-target}
# The daemon in release; the load generator in the dev profile (its dependencies build at
# opt-level 1), which reuses the test build instead of a second release build of DataFusion.
# VIGIL_BIN: benchmark an already built release binary instead of building one here.
if [ -z "${VIGIL_BIN:-}" ]; then
  cargo build --release --workspace --quiet
fi
# VIGIL_LOADGEN: a load generator built elsewhere (e.g. `cargo build --release --bench
# loadgen`), instead of the debug build made here.
if [ -z "${VIGIL_LOADGEN:-}" ]; then
  cargo build --workspace --benches --quiet
fi
loadgen=${VIGIL_LOADGEN:-$(ls -t "$target"/debug/deps/loadgen-* | grep -v '\.d$' | head -n 1)}
vigil="${VIGIL_BIN:-$target/release/vigil}"
data=$(mktemp -d /tmp/vigil-bench.XXXXXX)
secure=()
client=()
host=127.0.0.1
secure_mode=${VIGIL_BENCH_SECURE:-0}
with_token=0; with_tls=0
case $secure_mode in
  1) with_token=1; with_tls=1 ;;
  token) with_token=1 ;;
  tls) with_tls=1 ;;
esac
pki="$data.pki"; mkdir -p "$pki"
: > "$pki/vigil.toml"
if [ $with_token = 1 ]; then
  export VIGIL_TOKEN_BENCH=$(openssl rand -hex 32)
  cat >> "$pki/vigil.toml" <<TOML
[[auth.token]]
name = "bench"
scopes = ["ingest", "read"]
secret_env = "VIGIL_TOKEN_BENCH"
TOML
  client+=(--token "$VIGIL_TOKEN_BENCH")
fi
if [ $with_tls = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=bench-ca -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$pki/ext"
  openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 1 -extfile "$pki/ext" -out "$pki/server.pem" 2>/dev/null
  cat >> "$pki/vigil.toml" <<TOML
[tls]
cert_file = "$pki/server.pem"
key_file = "$pki/server.key"
TOML
  client+=(--ca-file "$pki/ca.pem")
  host=localhost
fi
if [ "$secure_mode" != 0 ]; then
  secure=(--config "$pki/vigil.toml")
fi
"$vigil" serve --data-dir "$data" --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 \
  --http-addr 127.0.0.1:0 --pg-addr 127.0.0.1:0 "${secure[@]}" "$@" 2> "$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until grep -q "vigil is ready" "$data.log"; do sleep 0.1; done
endpoint() { python3 -c "import json,sys; print(json.load(open('$data/endpoints.json'))['$1'])"; }
http=$(endpoint http)
port() { endpoint "$1" | sed 's/.*://'; }
table=spans; unit=spans; size=(--traces "$traces")
case $protocol in
  http) addr="--http $host:$(port otlp_http)" ;;
  grpc) addr="--grpc $host:$(port otlp_grpc)" ;;
  json) addr="--http $host:$(port otlp_http)"; size+=(--json) ;;
  metrics) addr="--http $host:$(port otlp_http)"; table=metrics; unit=points
    size=(--metrics --points "$traces") ;;
esac
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
cpu_before=$(cpu)
# shellcheck disable=SC2086
/usr/bin/time -f "load generator CPU:   %U s user + %S s system" -o "$data.loadcpu" \
  "$loadgen" $addr --connections "$connections" --seconds "$seconds" "${size[@]}" "${client[@]}" | tee "$data.load"
cat "$data.loadcpu"
cpu_after=$(cpu)
spans=$(awk "/^accepted $unit:/ {print \$3}" "$data.load")
echo "daemon CPU:           $(( (cpu_after - cpu_before) / ticks )) s for $spans $unit = $(python3 -c "print(round(($cpu_after-$cpu_before)/$ticks/$spans*1e6, 2))") µs/${unit%s} (both cores)"
echo "peak RSS:             $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status)"
scheme=http; [ $with_tls = 1 ] && scheme=https
api="$scheme://$host:${http##*:}"
curl_auth=()
[ $with_tls = 1 ] && curl_auth+=(--cacert "$pki/ca.pem")
[ $with_token = 1 ] && curl_auth+=(-H "Authorization: Bearer $VIGIL_TOKEN_BENCH")
q() { curl -s "${curl_auth[@]}" -H 'Content-Type: application/json' "$api/api/v1/sql" -d "{\"query\": \"$1\"}" "${@:2}"; }
sql() { q "$1" -o /dev/null -w '%{time_total}'; }
stored=$(q "SELECT count(*) FROM $table" | python3 -c "import json,sys; print(json.load(sys.stdin)['rows'][0][0])")
echo "count(*) FROM $table: $stored (acknowledged: $spans)"
if [ "$stored" -lt "$spans" ]; then echo "LOST: $(( spans - stored )) acknowledged $unit are not in $table" >&2; fi
if [ "$table" = metrics ]; then
  echo "p99 of one metric over all points (query time): $(sql "SELECT histogram_quantile(0.99, histogram_merge(bounds, bucket_counts)) FROM metrics WHERE metric = 'gen_ai.client.operation.duration'") s"
  kill -TERM $pid; wait $pid || true
  trap - EXIT
  echo "data directory: $data"
  exit 0
fi
trace=$(q "SELECT trace_id FROM spans LIMIT 1" | python3 -c "import json,sys; print(json.load(sys.stdin)['rows'][0][0])")
echo "trace by id (hot):    $(sql "SELECT * FROM spans WHERE trace_id = '$trace'") s"
kill -TERM $pid; wait $pid || true
trap - EXIT
du_bytes=$(find "$data/tables/spans" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$data/tables/spans" -name '*.parquet' | wc -l)
echo "stored (before compaction): $du_bytes bytes in $files files = $(python3 -c "print(round($du_bytes/$spans, 1))") B/span"
echo "data directory: $data"
