#!/usr/bin/env bash
# Monitor job benchmark: a release `vigil serve` with 20 monitors x 50 agents
# (benches/monitors.toml) takes ~10 M spans of history, then keeps ingesting at full speed
# while the monitors evaluate each closed 1-minute window. The load is live (current
# timestamps, fresh trace ids per request), so windows fill as in production. Reports the
# ingest rate, the CPU of the jobs runtime (benches/monitor_watch.py), how far the slowest
# monitor fell behind, the windows written, and the PostgreSQL figures of benches/pg.py
# over the same data.
#
#   benches/monitors.sh [preload-seconds] [measured-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
preload=${1:-45}; measured=${2:-200}; connections=${3:-16}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --workspace --quiet
cargo build --workspace --benches --quiet
loadgen=$(ls -t "$target"/debug/deps/loadgen-* | grep -v '\.d$' | head -n 1)
vigil="$target/release/vigil"
data=$(mktemp -d /tmp/vigil-monitors.XXXXXX)
"$vigil" serve --config benches/monitors.toml --data-dir "$data" --otlp-grpc-addr 127.0.0.1:0 \
  --otlp-http-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --pg-addr 127.0.0.1:0 2> "$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until grep -q "vigil is ready" "$data.log"; do sleep 0.1; done
endpoint() { python3 -c "import json,sys; print(json.load(open('$data/endpoints.json'))['$1'])"; }
http=$(endpoint http)
# Sums a metric over all its label sets.
metric() { curl -s "http://$http/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}'; }
export VIGIL_BENCH_AGENTS=50
echo "== preload ($preload s)"
"$loadgen" --http "$(endpoint otlp_http)" --connections "$connections" --seconds "$preload" --traces 50 --live | grep -E "accepted"
echo "== measured ($measured s of ingest while the monitors run)"
pass_before=$(metric vigil_monitor_pass_seconds_sum)
windows_before=$(metric vigil_monitor_windows_total)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
cpu_before=$(cpu)
python3 benches/monitor_watch.py "$pid" "$http" "$measured" 20 > "$data.watch" &
watch=$!
"$loadgen" --http "$(endpoint otlp_http)" --connections "$connections" --seconds "$measured" --traces 50 --live | tee "$data.load" | grep -E "accepted|latency"
wait $watch
cpu_after=$(cpu)
pass_after=$(metric vigil_monitor_pass_seconds_sum)
windows_after=$(metric vigil_monitor_windows_total)
ticks=$(getconf CLK_TCK)
echo "stored spans:         $(curl -s "http://$http/api/v1/sql" -d '{"query": "SELECT count(*) FROM spans"}')"
echo "drift rows written:   $(python3 -c "print(int($windows_after - $windows_before))") during the run"
echo "monitor passes:       $(python3 -c "print(round($pass_after - $pass_before, 2))") s of $measured s = $(python3 -c "print(round(($pass_after - $pass_before) / $measured * 100, 1))") % of the run (wall time of the passes; DataFusion may use both cores inside a pass)"
echo "daemon CPU:           $(python3 -c "print(round(($cpu_after - $cpu_before) / $ticks, 1))") s over $measured s"
echo "errors:               $(metric vigil_monitor_errors_total)"
cat "$data.watch"
echo "== PostgreSQL"
python3 benches/pg.py "$(endpoint pg | cut -d: -f2)"
kill -TERM $pid; wait $pid || true
trap - EXIT
echo "data directory: $data"
