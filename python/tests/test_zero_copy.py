"""Arrow crosses into and out of the Rust core without copies: a 1M-row batch is scored, and
neither the buffers nor the process's peak memory show a copy of the input."""

import json
import subprocess
import sys

import pytest

from conftest import AS_OF, REPO

ROWS = 1_000_000
# Bytes per row of a column the pipeline does not read, added to the batch: 512 MB in all.
PADDING = 512

# Runs in a fresh interpreter, so the peak is this measurement's alone.
MEASURE = r"""
import json, sys
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tierscore

def kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

path, pipeline, as_of, padding = sys.argv[1:]
padding = int(padding)
p = tierscore.Pipeline.load(pipeline, params={"as_of": as_of})
batch = pq.read_table(path).combine_chunks().to_batches()[0]
if padding:
    # Written to, so resident before the measurement starts.
    data = pa.py_buffer(np.ones(batch.num_rows * padding, dtype=np.uint8))
    pad = pa.FixedSizeBinaryArray.from_buffers(pa.binary(padding), batch.num_rows, [None, data])
    batch = batch.append_column("padding", pad)
rss_before = kib("VmRSS")
# Reset the peak (VmHWM) to the current RSS: what follows is the scoring's own peak.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
scored, rejects = p.score(batch)
peak = kib("VmHWM")
def addresses(array):
    return {b.address for b in array.buffers() if b is not None}
shared = {
    name: addresses(scored.column(name)) == addresses(batch.column(name))
    for name in ["customer_id", "region", "industry"]
}
print(json.dumps({
    "rows": batch.num_rows,
    "input_bytes": batch.nbytes,
    "scored_bytes": scored.nbytes,
    "rejected": rejects.num_rows,
    "rss_before_kib": rss_before,
    "peak_kib": peak,
    "growth_bytes": (peak - rss_before) * 1024,
    "shared": shared,
}))
"""


@pytest.fixture(scope="session")
def million(cli, tmp_path_factory):
    path = tmp_path_factory.mktemp("million") / "customers.parquet"
    cli("gen", "--rows", ROWS, "--seed", 42, "--out", path)
    return path


def measure(million, padding):
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(million),
         str(REPO / "pipelines" / "customer_value.yaml"), AS_OF, str(padding)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    print(json.dumps(figures))
    assert figures["rows"] == ROWS
    assert figures["rejected"] == 0
    return figures


def test_a_million_row_batch_is_scored_without_copying_its_input(million):
    plain = measure(million, 0)
    padded = measure(million, PADDING)

    # The pass-through output columns are the input's own buffers: not copied in, not out.
    assert all(plain["shared"].values()) and all(padded["shared"].values())
    # A 512 MB column the pipeline does not read adds nothing to the peak: a copy of the
    # input, whole or column by column, would add its 512 MB. The bound, a tenth of the
    # padding, leaves room for the allocator's noise between two processes.
    padding_bytes = ROWS * PADDING
    assert padded["input_bytes"] - plain["input_bytes"] == padding_bytes
    assert padded["growth_bytes"] - plain["growth_bytes"] < padding_bytes // 10, (plain, padded)
