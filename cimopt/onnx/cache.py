"""An on-disk cache of imported workloads, so that a model already seen skips `import onnx` (about a second) and
the import itself.

Where: `$CIMOPT_CACHE_DIR` when set (an empty value, `0`, `off` or `none` turns the cache off), else
`$XDG_CACHE_HOME/cimopt/workloads`, else `~/.cache/cimopt/workloads`; the directory is created private (0700).
One JSON file per entry (never pickle: reading an entry cannot run code). Safe to delete at any time.

Never stale: the key is a SHA-256 over the model file's bytes, the workload name, the source of this package
and of cimopt/workload.py, and the Python, numpy and onnx versions; an entry also records every external data file
the import read (with its hash, or its absence) and is used only while those are unchanged. A damaged or
unreadable entry is a miss. Entries are written atomically (temporary file + rename), so concurrent runs are
safe, and a cache that cannot be written (read-only home) is silently skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from cimopt.workload import Access, AxisMap, Edge, FeatureMap, GpeuOp, GraphInput, Layer, Node, Workload

ENV = "CIMOPT_CACHE_DIR"
FORMAT = 1
_OFF = {"", "0", "off", "none"}
_NODE_TYPES: dict[str, type[Node]] = {"GraphInput": GraphInput, "GpeuOp": GpeuOp, "Layer": Layer}


def cache_dir() -> Path | None:
    """The cache directory (not created here), or None when the cache is turned off."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no home directory to be found: no cache
        return None
    return Path(base) / "cimopt" / "workloads"


@cache
def _code_digest() -> str:
    """Hash of everything that decides an import's result besides the file: this package, workload.py, versions."""
    h = hashlib.sha256(f"{FORMAT}|python {sys.version_info[:2]}|numpy {np.__version__}|onnx {_onnx_version()}".encode())
    here = Path(__file__).resolve().parent
    for f in sorted(here.glob("*.py")) + [here.parent / "workload.py"]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _onnx_version() -> str:
    try:
        return metadata.version("onnx")
    except metadata.PackageNotFoundError:
        return "?"


def cache_key(data: bytes, name: str) -> str:
    """The entry's key: model bytes, workload name and the importer's code."""
    h = hashlib.sha256(_code_digest().encode())
    h.update(hashlib.sha256(data).digest())
    h.update(name.encode())
    return h.hexdigest()


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def lookup(directory: Path, key: str, base_dir: Path) -> Workload | None:
    """The cached workload for `key`, when present, intact and its external data files are unchanged."""
    try:
        entry = json.loads((directory / f"{key}.json").read_text())
        if entry["format"] != FORMAT or entry["key"] != key:
            return None
        if any(_file_hash(base_dir / rel) != digest for rel, digest in entry["external"].items()):
            return None
        workload = decode(entry["workload"])
        return workload if workload.fingerprint == entry["fingerprint"] else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(directory: Path, key: str, base_dir: Path, workload: Workload, external: set[str]) -> None:
    """Write the entry atomically; any failure only means no caching."""
    entry = {"format": FORMAT, "key": key, "fingerprint": workload.fingerprint,
             "external": {rel: _file_hash(base_dir / rel) for rel in sorted(external)},
             "workload": encode(workload)}
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f, separators=(",", ":"))
            os.replace(tmp, directory / f"{key}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


def encode(workload: Workload) -> dict:
    """The workload as JSON-able data (decode inverts it exactly)."""
    return {"name": workload.name, "warnings": list(workload.warnings),
            "nodes": [[type(n).__name__, asdict(n)] for n in workload.nodes]}


def _tuples(v: object) -> object:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _edge(d: dict) -> Edge:
    a = d["access"]
    return Edge(d["source"], Access(AxisMap(**a["rows"]), AxisMap(**a["cols"]), a["full"]))


def decode(data: dict) -> Workload:
    nodes = []
    for kind, d in data["nodes"]:
        fields = {k: _tuples(v) for k, v in d.items() if k not in ("inputs", "out")}
        out = d["out"]
        fm = FeatureMap(out["channels"], out["height"], out["width"], tuple(out["dims"]))
        nodes.append(_NODE_TYPES[kind](inputs=tuple(_edge(e) for e in d["inputs"]), out=fm, **fields))
    return Workload(data["name"], tuple(nodes), tuple(data["warnings"]))
