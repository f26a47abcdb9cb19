"""Re-verifies Vigil's `audit` hash chains without Vigil: reads the Delta table with the
Python `deltalake` package, splits the rows by `node` (one chain per node; rows written
before node ids, `node` null or the column missing, are one more chain) and recomputes
every `hash` with the encoding documented in docs/operations.md ("Audit log").

Usage: verify_audit.py TABLE_PATH [STORAGE_OPTIONS_JSON]. Prints {"rows": N, "broken":
the first broken SEQ of any chain or null, "chains": {NODE or "": {"rows": N, "broken":
SEQ or null}}} as JSON. `row_hash` is imported by legacy_audit.py."""

import hashlib
import json
import os
import struct
import sys


def row_hash(seq, time_ns, actor, peer, action, target, details, prev_hash, node=None):
    h = hashlib.sha256(struct.pack(">Qq", seq, time_ns))
    texts = (actor, peer, action, target, details, prev_hash) + ((node,) if node else ())
    for text in texts:
        b = text.encode("utf-8")
        h.update(struct.pack(">Q", len(b)) + b)
    return h.hexdigest()


def verify_chain(rows):
    """The first broken seq of one node's rows (sorted by seq), or None."""
    prev = "0" * 64
    for expected, r in enumerate(rows, start=1):
        fields = (r["actor"], r["peer"], r["action"], r["target"], r["details"], r["prev_hash"])
        if (
            r["seq"] != expected
            or r["prev_hash"] != prev
            or row_hash(r["seq"], r["time_unix_nano"], *fields, r.get("node")) != r["hash"]
        ):
            return r["seq"]
        prev = r["hash"]
    return None


def main():
    from deltalake import DeltaTable

    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    rows = DeltaTable(sys.argv[1], storage_options=options).to_pyarrow_table().to_pylist()
    chains = {}
    for r in sorted(rows, key=lambda r: r["seq"]):
        chains.setdefault(r.get("node") or "", []).append(r)
    report = {node: {"rows": len(c), "broken": verify_chain(c)} for node, c in chains.items()}
    broken = next((c["broken"] for c in report.values() if c["broken"] is not None), None)
    print(json.dumps({"rows": len(rows), "broken": broken, "chains": report}))
    sys.stdout.flush()
    # delta-rs's runtime threads can abort the interpreter at teardown (delta-io/delta-rs#2184).
    os._exit(0)


if __name__ == "__main__":
    main()
