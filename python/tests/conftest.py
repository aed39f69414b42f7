"""Shared fixtures: the repository, the CLI binary the Python package is compared with, and
CLI runs."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-12-01"


@pytest.fixture(scope="session")
def cli():
    """Runs the `tierscore` binary (TIERSCORE_BIN, else target/debug/tierscore after
    `cargo build`) and returns the finished process."""
    binary = Path(os.environ.get("TIERSCORE_BIN", REPO / "target" / "debug" / "tierscore"))
    assert binary.exists(), f"{binary} is missing: run `cargo build` or set TIERSCORE_BIN"

    def run(*args, check=True):
        done = subprocess.run(
            [str(binary), "--quiet", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    return run


@pytest.fixture
def local_pipeline(tmp_path):
    """Writes a copy of a shipped pipeline into tmp_path with its paths made absolute (input,
    scripts, output under tmp_path), applying `edit` to the text; returns its path."""

    def write(name, edit=lambda text: text, rules=None):
        text = (REPO / "pipelines" / f"{name}.yaml").read_text()
        text = text.replace("../testdata/", f"{REPO}/testdata/")
        text = text.replace("../rules/", f"{rules or REPO / 'rules'}/")
        text = text.replace(f"../out/{name}", str(tmp_path / "out_from_yaml"))
        path = tmp_path / f"{name}.yaml"
        path.write_text(edit(text))
        return path

    return write


def check_json(cli, pipeline):
    """The problems `tierscore check --format json` reports for `pipeline`."""
    done = cli("check", pipeline, "--format", "json", check=False)
    return json.loads(done.stdout)["problems"]
