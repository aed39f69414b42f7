"""Reads a tierscore output directory the way data teams do and checks it against its manifest.

Usage: python3 .ci/interop.py OUTPUT_DIR

Checks, with pyarrow (hive-partitioned dataset) and DuckDB (read_parquet with hive_partitioning):
row counts and per-tier counts equal _manifest.json, rows in = scored + rejected, column types
are as documented, and _SUCCESS exists.
"""

import json
import pathlib
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main(out: pathlib.Path) -> None:
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["tool"] == "tierscore", manifest["tool"]
    assert (out / "_SUCCESS").exists(), "_SUCCESS missing"
    rows = manifest["rows"]
    assert rows["input"] == rows["scored"] + rows["rejected"], rows
    expected_tiers = {t["name"]: t["count"] for t in manifest["tiers"] if t["count"] > 0}
    factors = [f["name"] for f in manifest["factors"]]

    dataset = ds.dataset(out, format="parquet", partitioning="hive",
                         exclude_invalid_files=False,
                         ignore_prefixes=["_", "."])
    table = dataset.to_table()
    assert table.num_rows == rows["scored"], (table.num_rows, rows)
    counts = table.group_by("tier").aggregate([("score", "count")]).to_pydict()
    pyarrow_tiers = dict(zip(counts["tier"], counts["score_count"]))
    assert pyarrow_tiers == expected_tiers, (pyarrow_tiers, expected_tiers)
    schema = table.schema
    for name in factors + ["score"]:
        assert schema.field(name).type == pa.float64(), (name, schema.field(name).type)
    reasons = schema.field("reasons").type
    assert pa.types.is_list(reasons) and pa.types.is_string(reasons.value_type), reasons
    assert schema.field("customer_id").type == pa.string()

    rejects = pq.read_table(out / "_rejects.parquet")
    assert rejects.num_rows == rows["rejected"], (rejects.num_rows, rows)
    assert rejects.column_names == ["customer_id", "source_file", "row_number", "factor", "message"]

    glob = str(out / "tier=*" / "*.parquet")
    con = duckdb.connect()
    duck = dict(con.execute(
        f"SELECT tier, count(*) FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY tier"
    ).fetchall())
    assert duck == expected_tiers, (duck, expected_tiers)
    total = con.execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()[0]
    assert total == rows["scored"], (total, rows)
    types = dict(con.execute(
        f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning = true))"
    ).fetchall())
    assert all(types[f] == "DOUBLE" for f in factors + ["score"]), types
    assert types["reasons"] == "VARCHAR[]", types

    print(f"interop: ok: {rows['scored']} scored rows in {len(expected_tiers)} tiers, "
          f"{rows['rejected']} rejected; pyarrow and DuckDB agree with _manifest.json")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
