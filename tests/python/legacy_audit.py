"""Writes the `audit` Delta table as Vigil did before node ids, for the upgrade test: the
columns of that version (no `node`; times as int64 `time_unix_nano`; partitioned by
`date`) and ROWS `config.loaded` rows chained with that version's hash (verify_audit's
`row_hash` without a node), written with the Python `deltalake` package.

Usage: legacy_audit.py TABLE_PATH ROWS. Prints {"rows": N, "last_seq": N, "last_hash": H}."""

import datetime
import json
import os
import sys

import pyarrow as pa
from deltalake import write_deltalake

from verify_audit import row_hash

SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("time_unix_nano", pa.int64(), nullable=False),
    ]
    + [
        pa.field(name, pa.string(), nullable=False)
        for name in ("actor", "peer", "action", "target", "details", "prev_hash", "hash", "date")
    ]
)

path, count = sys.argv[1], int(sys.argv[2])
# 2026-11-30T00:00:00Z, one row a minute.
start = 1_795_996_800_000_000_000
rows, prev = [], "0" * 64
for seq in range(1, count + 1):
    time_ns = start + (seq - 1) * 60_000_000_000
    details = json.dumps({"config_file": None, "legacy": seq}, separators=(",", ":"))
    fields = ("vigil", "", "config.loaded", "", details, prev)
    digest = row_hash(seq, time_ns, *fields)
    date = datetime.datetime.fromtimestamp(time_ns // 10**9, datetime.timezone.utc)
    rows.append(
        dict(zip(SCHEMA.names, (seq, time_ns, *fields, digest, date.strftime("%Y-%m-%d"))))
    )
    prev = digest
write_deltalake(path, pa.Table.from_pylist(rows, schema=SCHEMA), partition_by=["date"])
print(json.dumps({"rows": count, "last_seq": count, "last_hash": prev}))
sys.stdout.flush()
# delta-rs's runtime threads can abort the interpreter at teardown (delta-io/delta-rs#2184).
os._exit(0)
