"""Watches a running `vigil serve` during the monitor benchmark (benches/monitors.sh).

Every second it reads
- the CPU time of the daemon's `vigil-jobs` threads (the runtime that runs monitor
  passes), from /proc/<pid>/task/<tid>/stat, keeping the last reading of every thread so
  that a thread that exits keeps its share, and
- how far the slowest monitor is behind: now minus the newest `window_end` it has written
  to `drift` (a monitor that keeps up stays within one window + lateness + one pass).

    python3 benches/monitor_watch.py <pid> <http-addr> <seconds> <monitors>

Prints the jobs' CPU seconds, their share of one core, and the lag figures.
"""

import json
import os
import sys
import time
import urllib.request

pid, http, seconds, monitors = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
ticks_per_s = os.sysconf("SC_CLK_TCK")


def jobs_ticks():
    """utime + stime of every live `vigil-jobs` thread, by tid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if name.startswith("vigil-jobs"):
            out[tid] = int(fields[11]) + int(fields[12])
    return out


def slowest_window_end():
    """The oldest of the monitors' newest window_end (unix s), None until every monitor wrote one."""
    query = (
        "SELECT COUNT(*) AS monitors, CAST(MIN(last_end) AS BIGINT) AS oldest FROM "
        "(SELECT monitor, MAX(window_end) AS last_end FROM drift GROUP BY monitor)"
    )
    request = urllib.request.Request(
        f"http://{http}/api/v1/sql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        row = json.load(response)["rows"][0]
    count, oldest = row
    if count < monitors or oldest is None:
        return None
    return oldest / 1e9


start_ticks = jobs_ticks()
last = dict(start_ticks)
lags = []
started = time.time()
while time.time() - started < seconds:
    time.sleep(1.0)
    last.update(jobs_ticks())
    end = slowest_window_end()
    if end is not None:
        lags.append(time.time() - end)
elapsed = time.time() - started
cpu = sum(last.values()) - sum(start_ticks.get(t, 0) for t in last)
cpu_s = cpu / ticks_per_s
print(f"jobs CPU (vigil-jobs threads): {cpu_s:.1f} s over {elapsed:.0f} s = {cpu_s / elapsed * 100:.1f} % of one core")
if lags:
    print(
        f"slowest monitor behind now:   max {max(lags):.1f} s, last {lags[-1]:.1f} s "
        f"(keeping up stays below window + lateness + one pass)"
    )
else:
    print("slowest monitor behind now:   no monitor has written a window yet")
