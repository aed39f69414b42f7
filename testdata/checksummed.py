"""Writes testdata/checksummed.parquet: 1,000 customers with page CRC checksums in every page
header, as pyarrow writes them with write_page_checksum=True: a file from another writer than
tierscore's own (src/sink/checksummed.rs), whose checksums tierscore must verify.
tests/hostile/inputs.rs flips a byte in a data page of a copy and expects the run to refuse it.

    python3 testdata/checksummed.py
"""
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

rows = 1000
table = pa.table(
    {
        "customer_id": [f"C{i:08d}" for i in range(1, rows + 1)],
        "revenue": [float((i * 7919) % 100_000) for i in range(rows)],
    }
)
out = pathlib.Path(__file__).with_name("checksummed.parquet")
pq.write_table(table, out, compression="NONE", write_page_checksum=True, data_page_size=4096)
