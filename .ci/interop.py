"""Reads tierscore outputs the way data teams do and checks them, values included.

Usage: python3 .ci/interop.py OUTPUT_DIR...   (run from the repository root: the manifests'
input paths are relative to where `tierscore run` ran)

For every output, with pyarrow (hive-partitioned dataset) and DuckDB (read_parquet with
hive_partitioning):
  - _SUCCESS exists, rows in = scored + rejected, the rejects file has its rows and columns;
  - both readers see the same rows with the same values (id, tier, score, every factor), as
    many as the manifest says, per tier too;
  - column types are as documented (factors and score DOUBLE, reasons a list of strings, the
    id in the input's type);
  - the manifest's statistics (score, per tier, per factor: count, min, max, mean) are those of
    the values read back;
  - under `combine: weighted_sum`, score = sum of weight x factor (weights from the manifest);
  - threshold tiers: each row's tier is the first level whose `min` its score reaches; rank and
    ABC tiers: the manifest's tier_cutoffs (count, highest, lowest) are those of the rows read
    back, and the levels do not overlap;
  - every passed-through input column equals the input file's value for that id;
  - every file written (part files and rejects) reads with pyarrow's page checksum verification,
    and a copy with one byte flipped in a page is refused on its checksum.
Failures exit with a message (never a bare assert, which `python -O` would skip).
"""

import json
import math
import pathlib
import sys
import tempfile

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

REL_TOL = 1e-9


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def close(a, b):
    return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b), 1.0)


def check_summary(what, summary, values):
    """A manifest Summary (count, min, max, mean) against the values it summarises."""
    check(summary["count"] == len(values), f"{what}: count {summary['count']} != {len(values)}")
    if not values:
        return
    check(summary["min"] == min(values), f"{what}: min {summary['min']} != {min(values)}")
    check(summary["max"] == max(values), f"{what}: max {summary['max']} != {max(values)}")
    mean = math.fsum(values) / len(values)
    check(close(summary["mean"], mean), f"{what}: mean {summary['mean']} != {mean}")


def read_back(out, manifest):
    """Every scored row, read by pyarrow and by DuckDB, as {id: (tier, score, factors...)}."""
    factors = [f["name"] for f in manifest["factors"]]
    id_name = manifest["output"]["id"]
    columns = [id_name, "tier", "score"] + factors
    partitioned = manifest["output"]["partition_by"] == "tier"

    data = out / manifest["output"]["data_dir"]
    dataset = ds.dataset(data, format="parquet", partitioning="hive" if partitioned else None,
                         exclude_invalid_files=False, ignore_prefixes=["_", "."])
    table = dataset.to_table()
    check(table.num_rows == manifest["rows"]["scored"],
          f"pyarrow reads {table.num_rows} rows, the manifest says {manifest['rows']['scored']} scored")
    if partitioned:
        table = table.set_column(table.schema.get_field_index("tier"), "tier",
                                 pc.cast(table["tier"], pa.string()))
    ours = {}
    for row in table.select(columns).to_pylist():
        key = row[id_name]
        check(key not in ours, f"pyarrow: id {key} twice")
        ours[key] = tuple(row[c] for c in columns[1:])

    source = f"read_parquet('{data}/**/*.parquet', hive_partitioning = {'true' if partitioned else 'false'})"
    con = duckdb.connect()
    quoted = ", ".join(f'"{c}"' for c in columns)
    duck = {row[0]: tuple(row[1:]) for row in con.execute(f"SELECT {quoted} FROM {source}").fetchall()}
    check(len(duck) == len(ours), f"DuckDB reads {len(duck)} rows, pyarrow {len(ours)}")
    for key, values in ours.items():
        check(duck.get(key) == values, f"id {key}: pyarrow reads {values}, DuckDB {duck.get(key)}")

    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall())
    for name in factors + ["score"]:
        check(types[name] == "DOUBLE", f"{name} is {types[name]} in DuckDB, not DOUBLE")
        check(table.schema.field(name).type == pa.float64(), f"{name} is {table.schema.field(name).type}")
    if "reasons" in manifest["output"]["columns"]:
        reasons = table.schema.field("reasons").type
        check(pa.types.is_list(reasons) and pa.types.is_string(reasons.value_type),
              f"reasons is {reasons}")
        check(types["reasons"] == "VARCHAR[]", f"reasons is {types['reasons']} in DuckDB")
    return table, ours


def check_page_checksums(path):
    """pyarrow verifies the page checksums of `path`, and refuses a copy with the last byte of
    each column chunk's last page flipped."""
    pq.read_table(path, page_checksum_verification=True)
    metadata = pq.ParquetFile(path).metadata
    data = path.read_bytes()
    for group in range(metadata.num_row_groups):
        for column in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(column)
            start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
            damaged = bytearray(data)
            damaged[start + chunk.total_compressed_size - 1] ^= 0xFF
            with tempfile.NamedTemporaryFile(suffix=".parquet") as copy:
                copy.write(damaged)
                copy.flush()
                try:
                    pq.read_table(copy.name, page_checksum_verification=True)
                    refused = ""
                except OSError as error:
                    refused = str(error)
            check("CRC checksum verification failed" in refused,
                  f"{path}: row group {group}, column {chunk.path_in_schema}: a flipped byte "
                  f"in its last page was not refused on its checksum ({refused or 'read'})")


def check_output(out):
    manifest = json.loads((out / "_manifest.json").read_text())
    check(manifest["tool"] == "tierscore", f"tool is {manifest['tool']}")
    check((out / "_SUCCESS").exists(), "_SUCCESS missing")
    rows = manifest["rows"]
    check(rows["input"] == rows["scored"] + rows["rejected"], f"rows do not add up: {rows}")
    pipeline = yaml.safe_load(pathlib.Path(manifest["pipeline"]["path"]).read_text())
    factors = [f["name"] for f in manifest["factors"]]
    id_name = manifest["output"]["id"]

    table, rows_by_id = read_back(out, manifest)
    scores = [r[1] for r in rows_by_id.values()]
    check_summary("score", manifest["score"], scores)
    levels = manifest["tiers"]
    for level in levels:
        in_tier = [r[1] for r in rows_by_id.values() if r[0] == level["name"]]
        check(level["count"] == len(in_tier), f"tier {level['name']}: count {level['count']} != {len(in_tier)}")
        check_summary(f"tier {level['name']} score", level["score"], in_tier)
    for i, factor in enumerate(manifest["factors"]):
        check_summary(f"factor {factor['name']}", factor, [r[2 + i] for r in rows_by_id.values()])

    score_spec = pipeline.get("score") or {}
    if "script" not in score_spec:
        weights = [f["weight"] for f in manifest["factors"]]
        for key, (tier, score, *values) in rows_by_id.items():
            total = 0.0
            for weight, value in zip(weights, values):
                total += weight * value
            check(close(score, total), f"id {key}: score {score} != sum of weight x factor {total}")

    if all("min" in level for level in levels[:-1]) and levels[:-1]:
        for key, (tier, score, *_) in rows_by_id.items():
            expected = next((l["name"] for l in levels[:-1] if score >= l["min"]), levels[-1]["name"])
            check(tier == expected, f"id {key}: tier {tier}, but score {score} makes it {expected}")
    cutoffs = manifest.get("tier_cutoffs")
    if cutoffs:
        of = (pipeline.get("tiers") or {}).get("of")
        ranked = {}
        if of:
            of_values = dict(zip(table[id_name].to_pylist(), table[of].to_pylist()))
        for key, (tier, score, *_) in rows_by_id.items():
            ranked.setdefault(tier, []).append(of_values[key] if of else score)
        lowest_above = math.inf
        for level in cutoffs["levels"]:
            values = ranked.get(level["name"], [])
            check(level["count"] == len(values), f"cutoff {level['name']}: count {level['count']} != {len(values)}")
            if values:
                check(level["highest"] == max(values) and level["lowest"] == min(values),
                      f"cutoff {level['name']}: {level['highest']}..{level['lowest']} != {max(values)}..{min(values)}")
                check(max(values) <= lowest_above, f"cutoff {level['name']} overlaps the level above")
                lowest_above = min(values)
        counted = sum(level["count"] for level in cutoffs["levels"])
        check(cutoffs["population"] == counted,
              f"cutoff population {cutoffs['population']} != {counted} rows in the levels")

    inputs = pa.concat_tables([pq.read_table(i["path"]) for i in manifest["inputs"]])
    check(table.schema.field(id_name).type == inputs.schema.field(id_name).type,
          f"id is {table.schema.field(id_name).type}, the input's {inputs.schema.field(id_name).type}")
    passed = [c for c in manifest["output"]["columns"]
              if c in inputs.column_names and c != id_name and c not in factors]
    if passed:
        by_id = {r[id_name]: r for r in inputs.select([id_name] + passed).to_pylist()}
        for row in table.select([id_name] + passed).to_pylist():
            source = by_id[row[id_name]]
            for c in passed:
                check(row[c] == source[c], f"id {row[id_name]}: {c} is {row[c]!r}, the input's {source[c]!r}")

    rejects = pq.read_table(out / manifest["output"]["rejects_file"])
    check(rejects.num_rows == rows["rejected"], f"the rejects have {rejects.num_rows} rows, {rows}")
    check(rejects.column_names == [id_name, "source_file", "row_number", "factor", "code", "message",
                                    "inputs", "run_id"],
          f"rejects columns {rejects.column_names}")

    for file in manifest["output"]["files"] + [manifest["output"]["rejects"]]:
        check_page_checksums(out / file["path"])

    print(f"interop: ok: {manifest['pipeline']['name']}: {rows['scored']} scored rows in "
          f"{sum(1 for l in levels if l['count'])} tiers, {rows['rejected']} rejected; pyarrow and "
          f"DuckDB read the same values, which agree with _manifest.json"
          + (f" and pass through {', '.join(passed)} unchanged" if passed else "")
          + "; every page carries its checksum")


def main(outputs):
    if not outputs:
        raise SystemExit("usage: python3 .ci/interop.py OUTPUT_DIR...")
    for out in outputs:
        try:
            check_output(pathlib.Path(out))
        except Failed as failure:
            raise SystemExit(f"interop: FAILED: {out}: {failure}")


if __name__ == "__main__":
    main(sys.argv[1:])
