#!/usr/bin/env bash
# The table of BENCHMARKS.md by request size: benches/e2e.sh once per cell (OTLP/HTTP, gRPC
# and OTLP/JSON at 1, 10 and 50 traces per request, the 1-trace HTTP and gRPC cells twice,
# alternating), then metric points at 100 per request. 15 s per cell, 16 connections.
#
#   benches/quiet.sh benches/bysize.sh
#
# VIGIL_BIN and VIGIL_LOADGEN as in benches/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
for cell in "http 1" "grpc 1" "http 1" "grpc 1" "http 10" "grpc 10" "json 1" "json 10" \
  "http 50" "grpc 50" "json 50" "metrics 100"; do
  read -r protocol size <<< "$cell"
  out=$(benches/e2e.sh "$protocol" 15 16 "$size" 2>&1)
  echo "$cell: $(echo "$out" |
    grep -E 'accepted|latency|daemon CPU|peak RSS|refused|failed|count' | tr -s ' ' | paste -sd ';' -)"
  # e2e.sh keeps its data directory for inspection; the table does not need it.
  data=$(echo "$out" | sed -n 's/^data directory: //p')
  if [ -n "$data" ]; then rm -rf "$data" "$data".*; fi
done
