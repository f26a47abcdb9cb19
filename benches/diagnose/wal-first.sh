#!/usr/bin/env bash
# The WAL writer's `fdatasync` in the first 3 s of load after a start, before any flush has
# left a spare segment: `perf trace -s` on the writer thread (`vigil-wal`) while the load
# generator sends; then the WAL directory as it stands.
#
#   benches/diagnose/wal-first.sh PROTOCOL TRACES
set -euo pipefail
cd "$(dirname "$0")/../.."
protocol=$1 traces=$2
. benches/lib.sh
start_daemon
tid=$(grep -l '^vigil-wal$' /proc/"$pid"/task/*/comm | head -n 1 | cut -d/ -f5)
timeout -s INT 3.5 perf trace -s -t "$tid" 2>&1 | grep -E 'fdatasync|syscall' &
tracer=$!
sleep 0.3
load "$protocol" "$traces" 3 | grep -E 'accepted spans/s'
wait "$tracer" || true
ls -l "$data/wal"
