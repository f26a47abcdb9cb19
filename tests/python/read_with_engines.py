"""Reads Vigil's `spans` Delta table with engines that are not Vigil, as docs/scale-out.md's
recipes do, and prints what each one saw as one JSON object:

    {"deltalake": {"rows": N, "input_tokens": N, "min_time_unix_nano": N,
                   "max_end_time_unix_nano": N, "per_agent": {"agent": rows, ...},
                   "dates": ["YYYY-MM-DD", ...]},
     "polars": {...}, "duckdb": {...}, "daft": {...}}

Usage: read_with_engines.py TABLE_URI [--option KEY=VALUE ...] [--engines a,b,...]

TABLE_URI is a local path or an s3:// URL; each --option is a delta-rs / object_store
storage option (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
AWS_ALLOW_HTTP, ...), passed to deltalake and Polars as they are and mapped onto Daft's
S3Config. DuckDB reads through deltalake's pyarrow dataset (its `delta` extension would be
downloaded from the DuckDB extension site at first use, which this machine cannot reach).
An engine whose package is missing is reported as {"error": "..."} rather than skipped
silently, so the caller decides."""

import argparse
import json
import os
import sys


def summary(rows, input_tokens, min_time, max_end, per_agent, dates):
    return {
        "rows": int(rows),
        "input_tokens": int(input_tokens or 0),
        "min_time_unix_nano": int(min_time),
        "max_end_time_unix_nano": int(max_end),
        "per_agent": {str(k): int(v) for k, v in sorted(per_agent)},
        "dates": sorted(str(d) for d in dates),
    }


def with_deltalake(uri, options):
    from deltalake import DeltaTable
    import pyarrow.compute as pc

    table = DeltaTable(uri, storage_options=options or None).to_pyarrow_table()
    agents = table.group_by("agent_name").aggregate([("agent_name", "count")])
    return summary(
        table.num_rows,
        pc.sum(table["input_tokens"]).as_py(),
        pc.min(table["time_unix_nano"]).as_py(),
        pc.max(table["end_time_unix_nano"]).as_py(),
        zip(agents["agent_name"].to_pylist(), agents["agent_name_count"].to_pylist()),
        pc.unique(table["date"]).to_pylist(),
    )


def with_polars(uri, options):
    import polars as pl

    lazy = pl.scan_delta(uri, storage_options=options or None)
    totals = lazy.select(
        pl.len().alias("rows"),
        pl.col("input_tokens").sum(),
        pl.col("time_unix_nano").min(),
        pl.col("end_time_unix_nano").max(),
    ).collect()
    agents = lazy.group_by("agent_name").agg(pl.len()).collect()
    dates = lazy.select(pl.col("date").unique()).collect()["date"].to_list()
    row = totals.row(0)
    return summary(*row, agents.rows(), dates)


def with_duckdb(uri, options):
    import duckdb
    from deltalake import DeltaTable

    dataset = DeltaTable(uri, storage_options=options or None).to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("spans", dataset)
    rows, tokens, first, last = con.execute(
        "SELECT count(*), sum(input_tokens), min(time_unix_nano), max(end_time_unix_nano) FROM spans"
    ).fetchone()
    agents = con.execute("SELECT agent_name, count(*) FROM spans GROUP BY 1").fetchall()
    dates = [d for (d,) in con.execute("SELECT DISTINCT date FROM spans").fetchall()]
    return summary(rows, tokens, first, last, agents, dates)


def daft_io_config(options):
    """Daft's S3Config from object_store option names (None for a local table)."""
    from daft.io import IOConfig, S3Config

    if not options:
        return None
    # object_store takes the keys in either case (AWS_REGION, aws_region).
    option = {k.upper(): v for k, v in options.items()}.get
    endpoint = option("AWS_ENDPOINT_URL")
    return IOConfig(
        s3=S3Config(
            endpoint_url=endpoint,
            key_id=option("AWS_ACCESS_KEY_ID"),
            access_key=option("AWS_SECRET_ACCESS_KEY"),
            region_name=option("AWS_REGION"),
            use_ssl=not (endpoint or "").startswith("http://"),
            force_virtual_addressing=option("AWS_VIRTUAL_HOSTED_STYLE_REQUEST") == "true",
        )
    )


def with_daft(uri, options):
    import daft

    frame = daft.read_deltalake(uri, io_config=daft_io_config(options))
    totals = frame.agg(
        daft.col("time_unix_nano").count().alias("rows"),
        daft.col("input_tokens").sum(),
        daft.col("time_unix_nano").min().alias("min_time"),
        daft.col("end_time_unix_nano").max().alias("max_end"),
    ).to_pydict()
    agents = frame.groupby("agent_name").agg(daft.col("time_unix_nano").count().alias("n")).to_pydict()
    dates = frame.select("date").distinct().to_pydict()["date"]
    return summary(
        totals["rows"][0],
        totals["input_tokens"][0],
        totals["min_time"][0],
        totals["max_end"][0],
        zip(agents["agent_name"], agents["n"]),
        dates,
    )


ENGINES = {"deltalake": with_deltalake, "polars": with_polars, "duckdb": with_duckdb, "daft": with_daft}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    options = dict(o.split("=", 1) for o in args.option)
    answer = {}
    for name in args.engines.split(","):
        try:
            answer[name] = ENGINES[name](args.uri, options)
        except ImportError as e:
            answer[name] = {"error": f"not installed: {e}"}
    print(json.dumps(answer))
    sys.stdout.flush()
    # delta-rs's runtime threads can abort the interpreter at teardown (as in
    # read_delta.py, delta-io/delta-rs#2184); the answer is already out.
    os._exit(0)


if __name__ == "__main__":
    main()
