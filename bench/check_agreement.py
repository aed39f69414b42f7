#!/usr/bin/env python3
"""Checks that a peer (bench/peers/*_cv.py) computed the same thing as tierscore.

Reads tierscore's hive-partitioned scored rows (OUT/scored/tier=NAME/part-*.parquet; the
rejects and the manifest sit beside `scored/`) with pyarrow.dataset and the peer's output (a
Parquet file, or a directory hive-partitioned by tier like tierscore's scored/, as the peers
write with --same-work), joins them on the id column, and asserts for every joined customer:
  - each of the six factors and the score within 1e-9 relative: |a - b| <= 1e-9 * max(|a|, |b|)
    (so 0 must meet 0 exactly; both null counts as equal, one null does not)
  - the tier equal
  - each of the columns region, industry, tier_rank, reasons that the peer has (the --same-work
    output has them all) exactly equal: the same strings, the same integer, the same list of
    strings in the same order (null meets only null; an empty list is not null).
It also asserts which rows are compared: with --rows N exactly N peer rows, every one found in
tierscore's output (the pandas peer scores a slice); without it, the peer and tierscore hold the
same customers. It prints the count compared, the extra columns compared, and how many values
were not bit-for-bit equal.

Run:  python3 bench/check_agreement.py OUT_TIERSCORE PEER [--rows N] [--id customer_id]
      (PEER: the peer's Parquet file, or its directory with --same-work)
Exit 0 when they agree, 1 with the first disagreements listed otherwise.
"""

import argparse
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

FACTORS = ["economic", "margin", "risk", "loyalty", "referral", "strategic"]
NUMBERS = FACTORS + ["score"]
REL_TOL = 1e-9
# Compared exactly when the peer has them (the peers' --same-work output: what tierscore writes).
EXTRA = ["region", "industry", "tier_rank", "reasons"]


def exact(t, p):
    """The rows where t and p differ, comparing exactly (null equal only to null): strings,
    integers, or lists of strings element by element. Both arrays already in the same type."""
    t, p = t.combine_chunks(), p.combine_chunks()
    t_null = t.is_null().to_numpy(zero_copy_only=False)
    p_null = p.is_null().to_numpy(zero_copy_only=False)
    if not pa.types.is_list(t.type):
        same = pc.fill_null(pc.equal(t, p), False).to_numpy(zero_copy_only=False)
        return np.where(~(same | (t_null & p_null)))[0]
    # Lists: the same length on both sides, then the flattened items one for one.
    t_len = pc.fill_null(pc.list_value_length(t), -1).to_numpy(zero_copy_only=False)
    p_len = pc.fill_null(pc.list_value_length(p), -1).to_numpy(zero_copy_only=False)
    bad = (t_null != p_null) | (t_len != p_len)
    rows = np.where(~bad & ~t_null)[0]
    t_rows, p_rows = t.take(rows), p.take(rows)
    t_items, p_items = pc.list_flatten(t_rows), pc.list_flatten(p_rows)
    same = (pc.fill_null(pc.equal(t_items, p_items), False).to_numpy(zero_copy_only=False)
            | (t_items.is_null().to_numpy(zero_copy_only=False)
               & p_items.is_null().to_numpy(zero_copy_only=False)))
    parents = pc.list_parent_indices(t_rows).to_numpy(zero_copy_only=False)
    bad[rows[np.unique(parents[~same])]] = True
    return np.where(bad)[0]


def normalised(column):
    """Large strings and lists as plain ones, integers as int64, so both sides compare alike."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pc.cast(column, pa.list_(pa.string()))
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.int64())
    return column


def main():
    parser = argparse.ArgumentParser(description="compare a peer's output with tierscore's")
    parser.add_argument("tierscore_out", help="tierscore output directory (scored/tier=NAME/ folders)")
    parser.add_argument("peer", help="the peer's Parquet file, or its directory hive-partitioned "
                                     "by tier (tier=NAME/*.parquet, the --same-work output)")
    parser.add_argument("--rows", type=int, help="the peer must have exactly N rows (a slice)")
    parser.add_argument("--id", default="customer_id", help="the id column (default customer_id)")
    args = parser.parse_args()

    columns = [args.id] + NUMBERS + ["tier"]
    ours = ds.dataset(f"{args.tierscore_out}/scored", format="parquet", partitioning="hive")
    problems = []
    if os.path.isdir(args.peer):
        # A directory is the --same-work output: every extra column must be on both sides, so a
        # peer (or a tierscore output) without one cannot pass unchecked.
        peer = ds.dataset(args.peer, format="parquet", partitioning="hive")
        for name, schema in (("tierscore", ours.schema), ("peer", peer.schema)):
            missing = [c for c in EXTRA if c not in schema.names]
            if missing:
                problems.append(f"{name}: no {', '.join(missing)} column (--same-work writes them)")
        extras = [c for c in EXTRA if c in peer.schema.names and c in ours.schema.names]
        peer = peer.to_table(columns=columns + extras)
    else:
        names = pq.read_schema(args.peer).names
        extras = [c for c in EXTRA if c in names and c in ours.schema.names]
        peer = pq.read_table(args.peer, columns=columns + extras)
    ours = ours.to_table(columns=columns + extras)
    # The extra columns are compared by row number after the join (Acero joins no list columns).
    ours_extra, peer_extra = ours.select(extras), peer.select(extras)
    ours = ours.select(columns).append_column("_row", pa.array(np.arange(ours.num_rows)))
    peer = peer.select(columns).append_column("_row", pa.array(np.arange(peer.num_rows)))
    # Both sides as plain strings so the join and the comparison see the same types.
    ours = ours.set_column(ours.schema.get_field_index("tier"), "tier",
                           pc.cast(ours["tier"], pa.string()))
    peer = peer.set_column(peer.schema.get_field_index("tier"), "tier",
                           pc.cast(peer["tier"], pa.string()))
    if pa.types.is_large_string(peer.schema.field(args.id).type):
        peer = peer.set_column(0, args.id, pc.cast(peer[args.id], pa.string()))

    for name, table in (("tierscore", ours), ("peer", peer)):
        if pc.count_distinct(table[args.id]).as_py() != table.num_rows:
            problems.append(f"{name}: duplicate ids")
    joined = ours.rename_columns([c if c == args.id else f"t_{c}"
                                  for c in columns + ["_row"]]).join(
        peer.rename_columns([c if c == args.id else f"p_{c}" for c in columns + ["_row"]]),
        keys=args.id, join_type="inner")
    n = joined.num_rows
    if n == 0:
        problems.append("no row in both outputs: nothing was compared")

    if args.rows is not None:
        if peer.num_rows != args.rows:
            problems.append(f"the peer has {peer.num_rows} rows, expected {args.rows}")
        if n != peer.num_rows:
            problems.append(f"{peer.num_rows - n} peer ids are not in tierscore's output")
    elif not (n == peer.num_rows == ours.num_rows):
        problems.append(f"rows: tierscore {ours.num_rows}, peer {peer.num_rows}, "
                        f"in both {n}")

    ids = joined[args.id].to_numpy(zero_copy_only=False)
    inexact = {}
    for c in NUMBERS:
        t = joined[f"t_{c}"].to_numpy(zero_copy_only=False).astype(np.float64)
        p = joined[f"p_{c}"].to_numpy(zero_copy_only=False).astype(np.float64)
        t_null, p_null = np.isnan(t), np.isnan(p)   # nulls come back as NaN (none are NaN)
        both = ~t_null & ~p_null
        with np.errstate(invalid="ignore"):
            ok = np.abs(t - p) <= REL_TOL * np.maximum(np.abs(t), np.abs(p))
        bad = np.where((t_null != p_null) | (both & ~ok))[0]
        inexact[c] = int(np.sum(both & (t != p)))
        if len(bad):
            examples = ", ".join(f"{ids[i]}: tierscore {float(t[i])!r} peer {float(p[i])!r}" for i in bad[:5])
            problems.append(f"{c}: {len(bad)} rows differ beyond {REL_TOL:g} relative ({examples})")
    t_tier = joined["t_tier"].to_numpy(zero_copy_only=False)
    p_tier = joined["p_tier"].to_numpy(zero_copy_only=False)
    bad = np.where(t_tier != p_tier)[0]
    if len(bad):
        t_score = joined["t_score"].to_numpy(zero_copy_only=False)
        examples = ", ".join(f"{ids[i]}: tierscore {t_tier[i]} peer {p_tier[i]} "
                             f"(score {float(t_score[i])!r})" for i in bad[:5])
        problems.append(f"tier: {len(bad)} rows differ ({examples})")
    for c in extras:
        t = normalised(ours_extra[c]).take(joined["t__row"])
        p = normalised(peer_extra[c]).take(joined["p__row"])
        bad = exact(t, p)
        if len(bad):
            examples = ", ".join(f"{ids[i]}: tierscore {t[int(i)].as_py()!r} "
                                 f"peer {p[int(i)].as_py()!r}" for i in bad[:5])
            problems.append(f"{c}: {len(bad)} rows differ ({examples})")

    not_bitwise = ", ".join(f"{c} {k}" for c, k in inexact.items() if k) or "none"
    if problems:
        print(f"DISAGREE {args.peer}: {n} rows compared", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)
    also = f", {', '.join(extras)} equal" if extras else ""
    print(f"agree: {n} rows compared ({len(NUMBERS)} numbers within {REL_TOL:g} relative, "
          f"tiers equal{also}; values not bit-for-bit equal: {not_bitwise})")


if __name__ == "__main__":
    main()
