#!/usr/bin/env python3
"""Runs every code snippet of README.md and docs/*.md, so that what the documentation shows works.

usage: python3 .ci/snippets.py [--bin PATH] [--list] [FILE...]
       (FILE: README.md or docs/*.md; default: all of them)

A fenced block runs when its tag says how:

  ```sh / ```bash   bash -e (a failing command fails the snippet)
  ```python         python3
  ```sql            DuckDB (the Python package), every statement, results fetched

Any other tag is shown, not run: ```text for what a command prints, ```yaml, ```json,
```rhai for file contents. A block with a run tag that must not run (it builds a release
binary, or CI runs it in a stage of its own) has `<!-- no-run: why -->` on the line before its
fence. A fence without a tag is an error: say what the block is.

Each file's snippets run in order in one scratch copy of the repository (the files git knows
of, as they are in the working tree), with the debug `tierscore` (--bin, default
target/debug/tierscore) first on the PATH, so a snippet can use what an earlier one of the same
file wrote. A failing snippet fails the run naming its file and line, with its output.
"""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

RUN = {"sh": "bash", "bash": "bash", "python": "python", "sql": "sql"}
NO_RUN = re.compile(r"^<!-- no-run: .+ -->$")
FENCE = re.compile(r"^(```+)(.*)$")
TIMEOUT = 600

SQL_RUNNER = """
import sys, duckdb
con = duckdb.connect()
for statement in open(sys.argv[1]).read().split(";"):
    if statement.strip():
        for row in con.sql(statement).fetchall() if con.sql(statement) is not None else []:
            print(*row, sep="\\t")
"""


class Block:
    def __init__(self, path, line, tag, text, no_run):
        self.path, self.line, self.tag, self.text, self.no_run = path, line, tag, text, no_run

    @property
    def where(self):
        return f"{self.path}:{self.line}"


def blocks(root, relative):
    """The fenced blocks of one Markdown file, with the line of each opening fence."""
    lines = (root / relative).read_text().split("\n")
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, tag = match.group(1), match.group(2).strip()
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"snippets: FAILED: {relative}:{start + 1}: the block is never closed")
        i += 1
        before = lines[start - 1].strip() if start > 0 else ""
        if not tag:
            raise SystemExit(f"snippets: FAILED: {relative}:{start + 1}: a fence without a tag; "
                             "tag it (```sh, ```python, ```sql run; ```text, ```yaml … are shown)")
        found.append(Block(relative, start + 1, tag.split()[0], "\n".join(body) + "\n",
                           bool(NO_RUN.match(before))))
    return found


def scratch_copy(root, into):
    """The repository's files as they are in the working tree, without build output."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=root, check=True, capture_output=True).stdout
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = root / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_block(block, work, env):
    script = work / ".snippet"
    script.write_text(block.text)
    kind = RUN[block.tag]
    if kind == "bash":
        command = ["bash", "-e", str(script)]
    elif kind == "python":
        command = [sys.executable, str(script)]
    else:
        command = [sys.executable, "-c", SQL_RUNNER, str(script)]
    try:
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {TIMEOUT} s"
    finally:
        script.unlink()
    return done.returncode == 0, f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--bin", default="target/debug/tierscore")
    parser.add_argument("--list", action="store_true", help="list the blocks and how each is treated")
    args = parser.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    files = args.files or ["README.md"] + sorted(
        str(p.relative_to(root)) for p in (root / "docs").glob("*.md"))
    every = {name: blocks(root, name) for name in files}

    if args.list:
        for found in every.values():
            for b in found:
                how = "not run (no-run)" if b.no_run else ("runs" if b.tag in RUN else "shown")
                print(f"{b.where}\t{b.tag}\t{how}")
        return

    binary = (root / args.bin).resolve()
    if not binary.is_file():
        raise SystemExit(f"snippets: FAILED: no tierscore binary at {binary} (cargo build)")
    env = dict(os.environ, PATH=f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.monotonic()
    ran = shown = skipped = 0
    for name, found in every.items():
        runnable = [b for b in found if b.tag in RUN and not b.no_run]
        shown += sum(b.tag not in RUN for b in found)
        skipped += sum(b.tag in RUN and b.no_run for b in found)
        if not runnable:
            continue
        with tempfile.TemporaryDirectory(prefix="tierscore-snippets-") as tmp:
            work = pathlib.Path(tmp)
            scratch_copy(root, work)
            for block in runnable:
                clock = time.monotonic()
                ok, output = run_block(block, work, env)
                if not ok:
                    print(f"snippets: FAILED: {block.where} ({block.tag}): {output}")
                    sys.exit(1)
                print(f"snippets: ok: {block.where} ({block.tag}, {time.monotonic() - clock:.1f} s)")
                ran += 1
    print(f"snippets: {ran} run, {skipped} marked no-run, {shown} shown (text, yaml, json …) "
          f"in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
