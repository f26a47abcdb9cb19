#!/usr/bin/env bash
# The WAL's own counters over one load run: group commits, appends (requests) per commit,
# the mean commit time, and how the segments began (`vigil_wal_segments_total{start}`:
# prepared = zero-filled ahead, recycled = a spare written over, new).
#
#   benches/diagnose/wal.sh PROTOCOL TRACES SECONDS
set -euo pipefail
cd "$(dirname "$0")/../.."
protocol=$1 traces=$2 seconds=$3
. benches/lib.sh
start_daemon
scrape() {
  curl -s "http://$(endpoint http)/metrics" |
    grep -E '^vigil_wal_(group_commits_total|appends_total|segments_total|commit_seconds_(sum|count))' || true
}
scrape > "$data.before"
load "$protocol" "$traces" "$seconds" | grep -E 'accepted|requests/s|latency'
scrape > "$data.after"
python3 - "$data.before" "$data.after" <<'PY'
import sys
def read(path):
    values = {}
    for line in open(path):
        name, value = line.rsplit(None, 1)
        values[name] = values.get(name, 0.0) + float(value)
    return values
before, after = read(sys.argv[1]), read(sys.argv[2])
d = {k: after[k] - before.get(k, 0.0) for k in after}
def total(prefix):
    return sum(v for k, v in d.items() if k.startswith(prefix))
commits, appends = total("vigil_wal_group_commits_total"), total("vigil_wal_appends_total")
seconds, count = total("vigil_wal_commit_seconds_sum"), total("vigil_wal_commit_seconds_count")
print(f"group commits: {commits:.0f}, appends: {appends:.0f} ({appends / max(commits, 1):.2f} per commit)")
print(f"mean commit: {seconds / max(count, 1) * 1e6:.0f} µs; the writer inside a commit {seconds:.2f} s")
for k, v in sorted(d.items()):
    if k.startswith("vigil_wal_segments_total"):
        print(f"{k}: {v:.0f}")
PY
rm -f "$data.before" "$data.after"
