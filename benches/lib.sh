# Shared by benches/h2load.sh and the scripts in benches/diagnose (sourced, not run): the
# binaries, a daemon on a fresh data directory with every listener on 127.0.0.1 port 0, and
# one load run, from the load generator or from nghttp2's h2load.
#
# VIGIL_BIN and VIGIL_LOADGEN as in benches/e2e.sh: binaries built elsewhere, instead of the
# release daemon and the dev-profile load generator built here. For `perf` to name the
# daemon's functions, build it with `cargo build --profile release-debug --bin vigil`.

target=${CARGO_TARGET_DIR:-target}
if [ -z "${VIGIL_BIN:-}" ]; then
  cargo build --release --bin vigil --quiet
fi
if [ -z "${VIGIL_LOADGEN:-}" ]; then
  cargo build --benches --quiet
fi
vigil=${VIGIL_BIN:-$target/release/vigil}
loadgen=${VIGIL_LOADGEN:-$(ls -t "$target"/debug/deps/loadgen-* | grep -v '\.d$' | head -n 1)}

# Starts `vigil serve` on a fresh data directory; sets $pid and $data. Extra arguments go to
# `vigil serve` (e.g. `--config FILE`).
start_daemon() {
  data=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench.XXXXXX")
  "$vigil" serve --data-dir "$data" --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 \
    --http-addr 127.0.0.1:0 --pg-addr 127.0.0.1:0 "$@" 2> "$data.log" &
  pid=$!
  trap stop_daemon EXIT
  until grep -q "vigil is ready" "$data.log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$data.log" >&2; exit 1; }
    sleep 0.1
  done
}

# The address of one of the daemon's listeners, by its name in endpoints.json (http,
# otlp_http, otlp_grpc, pg).
endpoint() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
    "$data/endpoints.json" "$1"
}

# Runs the load generator against the daemon: load PROTOCOL TRACES SECONDS, PROTOCOL being
# http, grpc or json; 16 connections. The array load_wrapper, if set, is put before it (e.g.
# `/usr/bin/time`).
load_wrapper=()
load() {
  local protocol=$1 traces=$2 seconds=$3 flags=()
  case $protocol in
    http) flags=(--http "$(endpoint otlp_http)") ;;
    grpc) flags=(--grpc "$(endpoint otlp_grpc)") ;;
    json) flags=(--http "$(endpoint otlp_http)" --json) ;;
    *) echo "protocol is http, grpc or json" >&2; exit 2 ;;
  esac
  "${load_wrapper[@]}" "$loadgen" "${flags[@]}" --connections 16 --seconds "$seconds" --traces "$traces"
}

# Sends one body of the load generator's over and over with nghttp2's `h2load`, one request
# in flight per connection, and prints h2load's report: h2load_run PROTOCOL TRACES SECONDS
# CONNECTIONS, PROTOCOL being grpc (unary calls over HTTP/2) or http (HTTP/1.1 POSTs).
h2load_run() {
  local protocol=$1 traces=$2 seconds=$3 connections=$4 url client=()
  command -v h2load > /dev/null || { echo "h2load not found: apt-get install nghttp2-client" >&2; exit 1; }
  "$loadgen" "--$protocol" x --traces "$traces" --write-body "$data.body"
  case $protocol in
    grpc)
      url="http://$(endpoint otlp_grpc)/opentelemetry.proto.collector.trace.v1.TraceService/Export"
      client=(-H 'content-type: application/grpc' -H 'te: trailers') ;;
    http)
      url="http://$(endpoint otlp_http)/v1/traces"
      client=(--h1 -H 'content-type: application/x-protobuf') ;;
    *) echo "protocol is grpc or http" >&2; exit 2 ;;
  esac
  h2load -D "$seconds" -c "$connections" -m 1 -t 1 -d "$data.body" "${client[@]}" "$url"
  rm -f "$data.body"
}

# CPU seconds of the daemon's threads, summed by thread name.
thread_cpu() {
  local ticks t
  ticks=$(getconf CLK_TCK)
  for t in /proc/"$pid"/task/*; do
    echo "$(cat "$t/comm" 2>/dev/null) $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
  done | awk -v t="$ticks" 'NF == 2 {a[$1] += $2} END {for (k in a) printf "%-16s %.2f s\n", k, a[k] / t}' |
    sort -k2 -nr
}

stop_daemon() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data" "$data.log" "$data.body"
}
