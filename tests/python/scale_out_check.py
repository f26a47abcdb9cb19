"""Reads the `spans` table several Vigil nodes wrote, with the Python `deltalake` package
(a Delta reader that is not Vigil), and prints one JSON object:

    {"rows": N, "distinct": N, "duplicates": N, "traces": ["<hex trace id>", ...],
     "operations": {"WRITE": N, "OPTIMIZE": N, ...}, "version": N,
     "duckdb": {"rows": N, "distinct": N}}

`rows` counts the spans of SERVICE, `distinct` their distinct (trace_id, span_id),
`duplicates` the (trace_id, span_id) pairs stored more than once, `traces` the distinct
trace ids; `operations` counts the commits of the table's history by operation;
`duckdb` counts the same rows and distinct (trace_id, span_id) with DuckDB, a query engine
of its own, over the same snapshot (deltalake's Arrow dataset).

Usage: scale_out_check.py TABLE_URI SERVICE [--option KEY=VALUE ...]
"""

import argparse
import json
import os
import sys
from collections import Counter

import duckdb
import pyarrow.compute as pc
from deltalake import DeltaTable

parser = argparse.ArgumentParser()
parser.add_argument("table")
parser.add_argument("service")
parser.add_argument("--option", action="append", default=[])
args = parser.parse_args()
options = dict(o.split("=", 1) for o in args.option)

table = DeltaTable(args.table, storage_options=options or None)
data = table.to_pyarrow_table(columns=["trace_id", "span_id", "service_name"])
data = data.filter(pc.equal(data["service_name"], args.service))
pairs = Counter(zip(data["trace_id"].to_pylist(), data["span_id"].to_pylist()))
operations = Counter(entry.get("operation") for entry in table.history())
con = duckdb.connect()
con.register("spans", table.to_pyarrow_dataset())
duck_rows, duck_distinct = con.execute(
    "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans WHERE service_name = ?",
    [args.service],
).fetchone()
print(
    json.dumps(
        {
            "rows": data.num_rows,
            "distinct": len(pairs),
            "duplicates": sum(1 for n in pairs.values() if n > 1),
            "traces": sorted({t for t, _ in pairs}),
            "operations": dict(operations),
            "version": table.version(),
            "duckdb": {"rows": duck_rows, "distinct": duck_distinct},
        }
    )
)
# delta-rs's runtime threads can abort the interpreter at teardown ("terminate called
# without an active exception", delta-io/delta-rs#2184); the answer is already out.
sys.stdout.flush()
os._exit(0)
