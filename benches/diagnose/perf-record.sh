#!/usr/bin/env bash
# Samples the daemon's stacks under load, for benches/diagnose/categories.py: `perf record`
# at 299 Hz with DWARF call graphs on a fresh `vigil serve` while the load generator (or,
# with CLIENT=h2load, nghttp2's h2load, as benches/h2load.sh drives it) sends for SECONDS;
# prints the load's summary and the daemon's CPU by thread.
#
#   benches/diagnose/perf-record.sh PROTOCOL TRACES SECONDS OUT.data
#   perf script -i OUT.data -F comm,tid,ip,sym --no-inline > OUT.txt
#   benches/diagnose/categories.py OUT.txt REQUESTS
#
# PROTOCOL: http, grpc or json (h2load: http or grpc). Sampling slows the daemon by about a
# quarter: read the categories as shares of a request's cost, not as timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
protocol=$1 traces=$2 seconds=$3 out=$4
. benches/lib.sh
start_daemon
perf record -e cpu-clock -F 299 --call-graph dwarf,16384 -o "$out" -p "$pid" -- sleep "$seconds" 2> /dev/null &
recorder=$!
if [ "${CLIENT:-loadgen}" = h2load ]; then
  h2load_run "$protocol" "$traces" "$seconds" 16 | grep -E '^(finished|requests)'
else
  load "$protocol" "$traces" "$seconds" | grep -E 'accepted|requests/s|latency'
fi
wait "$recorder" || true
thread_cpu
