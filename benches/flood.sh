#!/usr/bin/env bash
# Query flood benchmark (issue 13): OTLP ingest alone vs during a flood of user queries.
#
#   benches/flood.sh [preload-spans] [seconds] [select-star-clients] [aggregation-clients] [rounds]
#
# Starts a release `vigil serve` (default `[query]` limits) with one monitor (5 s windows
# of latency_p95), pre-loads at least `preload-spans` (default 5,000,000) spans with the
# load generator, then measures `rounds` (default 3) alternating pairs of phases of
# `seconds` (default 30) each:
#   1. ingest alone (`loadgen --live`: spans/s, p99 request latency, refusals);
#   2. ingest while `select-star-clients` (default 16) clients loop `SELECT * FROM spans`
#      over the JSON API and `aggregation-clients` (default 4) loop heavy aggregations
#      (per-trace GROUP BY, percentiles per agent and model).
# Alternating pairs, because one phase's throughput swings by ±15 % with the flush and
# compaction cycle: the kept share is mean(flooded) / mean(alone) over the rounds. It
# reports that, the daemon's peak RSS (VmHWM, reset before each phase), the flood's
# answers by status, the monitor's windows closed during the floods and its lag when the
# last flood stops (now − the newest window's end), the time to the first byte of a 5 M-row
# JSON answer (`SELECT * FROM spans LIMIT 5000000`, idle daemon), and checks that every
# acknowledged span is stored.
#
# VIGIL_BIN / VIGIL_LOADGEN: use binaries built elsewhere instead of building them here
# (`cargo build --release` and `cargo build --release --bench loadgen`).
set -euo pipefail
cd "$(dirname "$0")/.."
preload=${1:-5000000}; seconds=${2:-30}; stars=${3:-16}; aggs=${4:-4}; rounds=${5:-3}
target=${CARGO_TARGET_DIR:-target}
if [ -z "${VIGIL_BIN:-}" ]; then cargo build --release --quiet; fi
if [ -z "${VIGIL_LOADGEN:-}" ]; then cargo build --release --bench loadgen --quiet; fi
vigil=${VIGIL_BIN:-$target/release/vigil}
loadgen=${VIGIL_LOADGEN:-$(ls -t "$target"/release/deps/loadgen-* | grep -v '\.d$' | head -n 1)}
data=$(mktemp -d /tmp/vigil-flood.XXXXXX)
cat > "$data.toml" <<'TOML'
[[monitor]]
name = "flood-latency"
signal = "latency_p95"
window = "5s"
lateness = "2s"
detector = "ewma"
lambda = 0.2
L = 3.0
baseline = { windows = 3 }
TOML
"$vigil" serve --data-dir "$data" --config "$data.toml" --otlp-grpc-addr 127.0.0.1:0 \
  --otlp-http-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --pg-addr 127.0.0.1:0 2> "$data.log" &
pid=$!
flooders=()
stop_flood() { # each client is its own process group: the loop and its curl go together
  for f in "${flooders[@]}"; do kill -- "-$f" 2>/dev/null || true; done
  flooders=()
}
trap 'stop_flood; kill $pid 2>/dev/null || true' EXIT
until grep -q "vigil is ready" "$data.log"; do sleep 0.1; done
endpoint() { python3 -c "import json; print(json.load(open('$data/endpoints.json'))['$1'])"; }
api="http://$(endpoint http)"
otlp=$(endpoint otlp_http)
q() { curl -s -H 'Content-Type: application/json' "$api/api/v1/sql" -d "{\"query\": \"$1\"}"; }
# The first cell of a query's answer, retried while every query slot is taken (429).
cell() {
  local answer
  while :; do
    answer=$(q "$1")
    case $answer in *too_many_queries*) sleep 0.2 ;; *) break ;; esac
  done
  python3 -c "import json,sys; print(json.loads(sys.argv[1])['rows'][0][0])" "$answer"
}
reset_peak() { echo 5 > "/proc/$pid/clear_refs"; }
peak() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status"; }
acknowledged=0
load() { # seconds [extra loadgen flags] -> prints the loadgen report, adds to $acknowledged
  "$loadgen" --http "$otlp" --connections 16 --traces 50 --seconds "$@" > "$data.load"
  acknowledged=$(( acknowledged + $(awk '/^accepted spans:/ {print $3}' "$data.load") ))
}
field() { awk -v k="$1" 'index($0, k) == 1 {print $NF}' "$data.load"; }
p99() { awk '/^latency p50/ {print $7}' "$data.load"; }

echo "== pre-load: at least $preload spans"
while [ "$acknowledged" -lt "$preload" ]; do
  load 60
  echo "  acknowledged so far: $acknowledged ($(field 'accepted spans/s:') spans/s)"
done
stored=$(cell "SELECT count(*) FROM spans")
echo "  stored: $stored   peak RSS: $(peak)"

flood_client() { # query: loops in a new session (its own process group) until killed
  setsid bash -c 'while :; do
    curl -s -o /dev/null --max-time 300 -w "%{http_code}\n" -H "Content-Type: application/json" \
      "$1/api/v1/sql" -d "{\"query\": \"$2\"}" >> "$3" || true
  done' flood "$api" "$1" "$data.codes" &
  flooders+=($!)
}
aggregations=(
  "SELECT trace_id, count(*) AS n, sum(input_tokens) AS tokens FROM spans GROUP BY trace_id ORDER BY n DESC, trace_id LIMIT 10"
  "SELECT agent_name, request_model, approx_percentile_cont(duration_ms, 0.99) AS p99, sum(cost_usd) AS cost FROM spans GROUP BY 1, 2"
)
windows() { curl -s "$api/metrics" | awk '/^vigil_monitor_windows_total\{monitor="flood-latency"\}/ {print $2}'; }
: > "$data.codes"
alones=(); floods=(); flood_peak=0; flood_windows=0
for round in $(seq "$rounds"); do
  echo "== round $round/$rounds: ingest alone, ${seconds}s"
  reset_peak
  load "$seconds" --live
  alones+=("$(field 'accepted spans/s:')")
  echo "  spans/s: ${alones[-1]}   p99: $(p99) ms   refused: $(field 'refused (429/503):')   failed: $(field 'failed:')   peak RSS: $(peak)"

  echo "== round $round/$rounds: ingest during the flood ($stars × SELECT * FROM spans, $aggs × aggregations), ${seconds}s"
  windows_before=$(windows); windows_before=${windows_before:-0}
  reset_peak
  for _ in $(seq "$stars"); do flood_client "SELECT * FROM spans"; done
  for i in $(seq "$aggs"); do flood_client "${aggregations[$(( i % 2 ))]}"; done
  sleep 3
  load "$seconds" --live
  flood_end=$(date +%s.%N)
  windows_after=$(windows); windows_after=${windows_after:-0}
  flood_windows=$(python3 -c "print(int($flood_windows + $windows_after - $windows_before))")
  floods+=("$(field 'accepted spans/s:')")
  peak_now=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
  [ "$peak_now" -gt "$flood_peak" ] && flood_peak=$peak_now
  stop_flood
  echo "  spans/s: ${floods[-1]}   p99: $(p99) ms   refused: $(field 'refused (429/503):')   failed: $(field 'failed:')   peak RSS: ${peak_now} MiB"
done
mean() { python3 -c "import sys; v = [float(x) for x in sys.argv[1:]]; print(round(sum(v) / len(v)))" "$@"; }
alone=$(mean "${alones[@]}"); flooded=$(mean "${floods[@]}")
echo "== over $rounds rounds: alone ${alones[*]} (mean $alone), flooded ${floods[*]} (mean $flooded)"
echo "  kept: $(python3 -c "print(round(100 * $flooded / $alone, 1))") % of the throughput alone; peak RSS during the floods: $flood_peak MiB"
echo "  flood answers by status: $(sort "$data.codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')"
newest=$(cell "SELECT CAST(max(window_end) AS BIGINT) FROM drift WHERE monitor = 'flood-latency'")
echo "  monitor: $flood_windows windows closed during the $(( rounds * (seconds + 3) )) s of floods (one per 5 s expected); lag at the last flood's end: $(python3 -c "print(round($flood_end - $newest / 1e9, 1))") s (window 5 s + lateness 2 s + the 1 s pass ≈ 8 s when keeping up)"

echo "== time to first byte of a 5 M-row JSON answer (idle)"
python3 - "$(endpoint http)" <<'PY'
import http.client, json, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=600)
started = time.monotonic()
conn.request("POST", "/api/v1/sql", json.dumps({"query": "SELECT * FROM spans LIMIT 5000000"}),
             {"Content-Type": "application/json"})
response = conn.getresponse()
first = response.read1(65536)
ttfb = time.monotonic() - started
received = len(first)
while received < 256 << 20:
    chunk = response.read1(1 << 20)
    if not chunk:
        break
    received += len(chunk)
elapsed = time.monotonic() - started
print(f"  status {response.status}, first byte after {ttfb * 1000:.0f} ms; "
      f"{received / 2**20:.0f} MiB in {elapsed:.1f} s ({received / 2**20 / elapsed:.0f} MiB/s), then disconnected")
PY

stored=$(cell "SELECT count(*) FROM spans")
echo "== acknowledged $acknowledged spans, stored $stored"
[ "$stored" -ge "$acknowledged" ] || echo "LOST: $(( acknowledged - stored )) acknowledged spans are not in spans" >&2
kill -TERM $pid; wait $pid || true
trap - EXIT
rm -rf "$data" "$data.toml" "$data.log" "$data.load" "$data.codes"
