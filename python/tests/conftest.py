"""Shared fixtures: the repository, the CLI binary the Python package is compared with, and
CLI runs."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
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


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on a free port of 127.0.0.1 with a bucket `lake`, the AWS settings of
    this process pointing at it; returns a boto3 client."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # moto logs every request: into a file, as a pipe nobody reads would fill and stall it.
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail('moto\'s S3 server did not start: pip install "moto[server]"\n'
                            + log.read().decode())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto did not listen in 60 s"
                time.sleep(0.1)
        settings = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket="lake")
        yield client
    finally:
        server.kill()
        server.wait()
        log.close()
