#!/usr/bin/env bash
# Before against after on a machine whose speed drifts by the hour: one benches/e2e.sh run
# per RUN, in the order given (so alternate them: A B A B ...), one line each.
#
#   benches/alternate.sh PROTOCOL TRACES RUN...
#   benches/alternate.sh http 1 /tmp/vigil-before /tmp/vigil-after /tmp/vigil-before /tmp/vigil-after
#   benches/alternate.sh http 10 ./vigil ./vigil,MIMALLOC_PURGE_DELAY=100
#
# RUN: a vigil binary, optionally followed by ,NAME=VALUE settings put in the daemon's
# environment for that run. 15 s runs, 16 connections; VIGIL_LOADGEN as in benches/e2e.sh.
# Wrap in benches/quiet.sh so that no build shares the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=$1 traces=$2
shift 2
for run in "$@"; do
  IFS=, read -r -a parts <<< "$run"
  out=$(env "${parts[@]:1}" VIGIL_BIN="${parts[0]}" benches/e2e.sh "$protocol" 15 16 "$traces" 2>&1)
  echo "$run $protocol $traces: $(echo "$out" |
    grep -E 'accepted (spans|points)/s|latency|daemon CPU|peak RSS|count' | tr -s ' ' | paste -sd ';' -)"
  # e2e.sh keeps its data directory for inspection; these runs do not need it.
  data=$(echo "$out" | sed -n 's/^data directory: //p')
  if [ -n "$data" ]; then rm -rf "$data" "$data".*; fi
done
