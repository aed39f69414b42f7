"""A copy of a shipped pipeline for the bench scripts: its scripts' paths made absolute, its
input and output set, so that it runs from any directory."""

import os

import yaml


def shipped(src, data, out):
    """The pipeline at `src` as a dict, reading `data` and writing to `out`."""
    spec = yaml.safe_load(open(src))
    here = os.path.dirname(os.path.abspath(src))
    for factor in spec["factors"]:
        if "script" in factor:
            factor["script"] = os.path.normpath(os.path.join(here, factor["script"]))
    spec["input"]["path"] = data
    spec["output"]["path"] = out
    return spec


def write(spec, path):
    """Writes the pipeline `spec` to `path`, keys in their order."""
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
