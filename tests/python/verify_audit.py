"""Re-verifies Vigil's `audit` hash chain without Vigil: reads the Delta table with the
Python `deltalake` package and recomputes every `hash` with the encoding documented in
docs/operations.md ("Audit log"). Prints {"rows": N, "broken": SEQ or null} as JSON."""

import hashlib
import json
import os
import struct
import sys

from deltalake import DeltaTable


def row_hash(seq, time_ns, actor, peer, action, target, details, prev_hash):
    h = hashlib.sha256(struct.pack(">Qq", seq, time_ns))
    for text in (actor, peer, action, target, details, prev_hash):
        b = text.encode("utf-8")
        h.update(struct.pack(">Q", len(b)) + b)
    return h.hexdigest()


rows = sorted(DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist(), key=lambda r: r["seq"])
prev, broken = "0" * 64, None
for expected, r in enumerate(rows, start=1):
    fields = (r["actor"], r["peer"], r["action"], r["target"], r["details"], r["prev_hash"])
    if (
        r["seq"] != expected
        or r["prev_hash"] != prev
        or row_hash(r["seq"], r["time_unix_nano"], *fields) != r["hash"]
    ):
        broken = r["seq"]
        break
    prev = r["hash"]
print(json.dumps({"rows": len(rows), "broken": broken}))
sys.stdout.flush()
# delta-rs's runtime threads can abort the interpreter at teardown (delta-io/delta-rs#2184).
os._exit(0)
