#!/usr/bin/env bash
# What a request costs without sampling: `perf stat` on the daemon (CPU, context switches,
# migrations, page faults) and the load generator's own CPU over one run, then the daemon's
# CPU and context switches by thread. Divide by the requests the load generator reports.
#
#   benches/diagnose/perf-stat.sh PROTOCOL TRACES SECONDS
set -euo pipefail
cd "$(dirname "$0")/../.."
protocol=$1 traces=$2 seconds=$3
. benches/lib.sh
start_daemon
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$pid" -- sleep "$seconds" 2> "$data.stat" &
stat=$!
load_wrapper=(/usr/bin/time -f "load generator CPU: %U s user + %S s system")
load "$protocol" "$traces" "$seconds" 2>&1 | grep -E 'accepted spans/s|requests/s|load generator CPU' || true
wait "$stat" || true
grep -E 'task-clock|context-switches|migrations|page-faults' "$data.stat"
rm -f "$data.stat"
thread_cpu
for t in /proc/"$pid"/task/*; do
  echo "$(cat "$t/comm") $(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' "$t/status")"
done | awk '{v[$1] += $2; n[$1] += $3} END {for (k in v) printf "context switches %-16s voluntary %d, involuntary %d\n", k, v[k], n[k]}'
