"""Tampers with Vigil's `audit` Delta table the way someone with disk access would, using
the Python `deltalake` package: reads the table, changes one row's `actor` (`edit SEQ`)
or drops one row (`delete SEQ`), and writes the result back as a new table version
(`mode="overwrite"`). Prints {"version": V, "rows": N} as JSON."""

import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

path, action, seq = sys.argv[1], sys.argv[2], int(sys.argv[3])
node = sys.argv[4] if len(sys.argv) > 4 else None
table = DeltaTable(path).to_pyarrow_table()
nodes = table["node"].to_pylist() if "node" in table.column_names else [None] * table.num_rows
picked = [s == seq and (node is None or n == node) for s, n in zip(table["seq"].to_pylist(), nodes)]
if action == "edit":
    index = table.schema.get_field_index("actor")
    field = table.schema.field(index)
    actors = ["mallory" if p else a for p, a in zip(picked, table["actor"].to_pylist())]
    table = table.set_column(index, field, pa.array(actors, type=field.type))
elif action == "delete":
    table = table.filter(pc.invert(pa.array(picked)))
else:
    sys.exit(f"unknown action {action}")
write_deltalake(path, table, mode="overwrite", partition_by=["date"])
print(json.dumps({"version": DeltaTable(path).version(), "rows": table.num_rows}))
sys.stdout.flush()
# delta-rs's runtime threads can abort the interpreter at teardown (delta-io/delta-rs#2184).
os._exit(0)
