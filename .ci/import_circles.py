#!/usr/bin/env python3
"""Import circles between tierscore's modules: prints who uses whom and fails on a circle.

    python3 .ci/import_circles.py [--graph]

Reads every `crate::…` and `super::…` path in src/ (use lines, grouped or not, and paths
written inline; comments skipped) and checks two levels:

- the top-level modules of src/ (pipeline, plan, rules, exec, …): no circle at all, so the
  data path reads one way;
- the submodules inside each folder (rules::compiled, rules::interpreter, …): no circle among
  siblings. A submodule may use its parent's own items (mod.rs), as Rust code does with a
  stage's error type, so edges to the folder's root are not counted there.

--graph prints the top-level edges too. Exit code 1 names each circle found.
"""
import re
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(path: Path) -> list[str]:
    """The module path of a source file: src/rules/compiled/ops.rs -> [rules, compiled, ops]."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts in (["lib"], ["main"]):
        return []
    return parts


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix: str, body: str) -> None:
        depth, start = 0, 0
        for i, ch in enumerate(body + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                item = body[start:i]
                start = i + 1
                if not item:
                    continue
                if "{" in item:
                    head, rest = item.split("{", 1)
                    walk(prefix + head, rest[:-1])
                else:
                    out.append(prefix + item)

    walk("", tree)
    return out


def paths_in(text: str) -> list[str]:
    """Every path a file names that starts at `crate` or `super`."""
    found = []
    for use in re.finditer(r"\buse\s+([^;]*);", text):
        found += [p for p in expand(use.group(1)) if p.startswith(("crate::", "super::"))]
    without_uses = re.sub(r"\buse\s+[^;]*;", "", text)
    found += re.findall(rf"\b(?:crate|super)(?:::{IDENT})+", without_uses)
    return found


def resolve(path: str, here: list[str], modules: set) -> tuple | None:
    """The module a path names (the longest module prefix), absolute."""
    segments = path.split("::")
    if segments[0] == "crate":
        base, rest = [], segments[1:]
    else:
        # `super` is the module above: a file's folder, or a folder's (mod.rs) parent.
        base = here[:-1]
        rest = segments[1:]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    full = base + rest
    for n in range(len(full), 0, -1):
        if tuple(full[:n]) in modules:
            return tuple(full[:n])
    return None


def circles(edges: dict) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    modules = {tuple(module_of(f)) for f in files if module_of(f)}
    top = defaultdict(set)
    inner = defaultdict(lambda: defaultdict(set))
    for f in files:
        here = module_of(f)
        if not here:
            continue
        for path in paths_in(strip_comments(f.read_text())):
            target = resolve(path, here, modules)
            if target is None:
                continue
            if target[0] != here[0]:
                top[here[0]].add(target[0])
            elif len(here) >= 2 and len(target) >= 2 and here[1] != target[1]:
                inner[here[0]][here[1]].add(target[1])

    if "--graph" in sys.argv:
        for module in sorted(top):
            print(f"{module} -> {', '.join(sorted(top[module]))}")
    found = [" <-> ".join(c) for c in circles(top)]
    for folder, edges in sorted(inner.items()):
        found += [f"{folder}::{{{' <-> '.join(c)}}}" for c in circles(edges)]
    names = sorted({m[0] for m in modules})
    if found:
        for circle in found:
            print(f"import circle: {circle}")
        return 1
    print(f"no import circle among {len(names)} modules and their submodules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
