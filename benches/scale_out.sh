#!/usr/bin/env bash
# Aggregate ingest with N ingest nodes on one set of tables (issue 14): a `jobs` node and
# N `ingest` nodes (release `vigil serve`, one data directory each) share a local tables
# directory; one load generator per ingest node runs at once; then the ingest nodes stop
# gracefully (final flush) and a `query` node counts what is stored. Reports per-node and
# aggregate durable spans/s, commit conflicts and retries per node (the
# `vigil_commit_conflicts_total` / `vigil_commit_retries_total` counters, read from each
# node's /metrics before it stops), and acknowledged vs stored.
#
#   benches/scale_out.sh [nodes=2] [seconds=30] [connections-per-node=8] [traces-per-request=50]
#
# On one 2-core machine the nodes compete for the same cores: the figure shows that
# several writers commit correctly side by side, not how a cluster scales. Run it only on
# an otherwise idle machine (`uptime`). Figures go to BENCHMARKS.md with this command line.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-2}; seconds=${2:-30}; connections=${3:-8}; traces=${4:-50}
target=${CARGO_TARGET_DIR:-target}
if [ -z "${VIGIL_BIN:-}" ]; then
  cargo build --release --bin vigil --quiet
fi
if [ -z "${VIGIL_LOADGEN:-}" ]; then
  cargo build --release --bench loadgen --quiet
fi
loadgen=${VIGIL_LOADGEN:-$(ls -t "$target"/release/deps/loadgen-* | grep -v '\.d$' | head -n 1)}
vigil="${VIGIL_BIN:-$target/release/vigil}"
root=$(mktemp -d /tmp/vigil-scale-out.XXXXXX)
cat > "$root/vigil.toml" <<TOML
[storage]
tables = "$root/tables"
[cluster]
TOML
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# start NODE_ID ROLES: runs a node in $root/NODE_ID, waits for "vigil is ready".
start() {
  local dir="$root/$1"
  mkdir -p "$dir"
  VIGIL_NODE_ID=$1 VIGIL_ROLES=$2 "$vigil" serve --config "$root/vigil.toml" --data-dir "$dir" \
    --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    --pg-addr 127.0.0.1:0 2> "$dir.log" &
  pids+=($!)
  until grep -qs "vigil is ready" "$dir.log"; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$dir.log" >&2; exit 1; fi
    sleep 0.1
  done
}
endpoint() { python3 -c "import json; print(json.load(open('$root/$1/endpoints.json'))['$2'])"; }
# counter NODE_ID NAME: the sum of a counter's series in the node's /metrics.
counter() {
  curl -s "http://$(endpoint "$1" http)/metrics" |
    awk -v n="$2" '$1 ~ "^"n"({|$)" {s += $2} END {print s + 0}'
}

start jobs-1 jobs
for i in $(seq 1 "$nodes"); do start "ingest-$i" ingest; done
loads=()
for i in $(seq 1 "$nodes"); do
  "$loadgen" --http "$(endpoint "ingest-$i" otlp_http)" --connections "$connections" \
    --seconds "$seconds" --traces "$traces" > "$root/load-$i.txt" &
  loads+=($!)
done
for p in "${loads[@]}"; do wait "$p"; done
total=0
for i in $(seq 1 "$nodes"); do
  accepted=$(awk '/^accepted spans:/ {print $3}' "$root/load-$i.txt")
  rate=$(awk '/spans\/s/ {print; exit}' "$root/load-$i.txt")
  total=$(( total + accepted ))
  echo "ingest-$i: accepted $accepted spans ($rate); commit conflicts $(counter "ingest-$i" vigil_commit_conflicts_total), retries $(counter "ingest-$i" vigil_commit_retries_total)"
done
echo "aggregate: $total spans in ${seconds} s = $(( total / seconds )) spans/s over $nodes ingest nodes"
echo "jobs-1: commit conflicts $(counter jobs-1 vigil_commit_conflicts_total), retries $(counter jobs-1 vigil_commit_retries_total)"
# Graceful stops: each ingest node flushes what it acknowledged.
for i in $(seq 1 "$nodes"); do
  pid=${pids[$i]}
  kill -TERM "$pid"; wait "$pid" || true
done
start query-1 query
stored=$(curl -s "http://$(endpoint query-1 http)/api/v1/sql" -H 'Content-Type: application/json' \
  -d '{"query": "SELECT count(*) FROM spans"}' | python3 -c "import json,sys; print(json.load(sys.stdin)['rows'][0][0])")
echo "count(*) FROM spans on the query node: $stored (acknowledged: $total)"
if [ "$stored" -lt "$total" ]; then echo "LOST: $(( total - stored )) acknowledged spans are not stored" >&2; fi
echo "tables and logs: $root"
