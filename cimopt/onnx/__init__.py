"""ONNX -> Workload: constants, shapes, op semantics and clear errors (docs/model.md, "Workload" and "ONNX front end").

The importer reads only the graph and the tensor shapes: weights are never needed, so a model is loaded without
its external data (a missing `.data` file is fine). Layout:

- `importer.py`   the passes (constants, shapes, semantics) and the op table `HANDLERS` merged from the families
- `graph.py`      reading the graph: attributes, static shapes, node order and reachability, control flow
- `constants.py`  constant folding (initializers, Constant nodes, weight-only graph inputs, Shape arithmetic)
- `axes.py`       pure axis-role and access helpers (fitting `AxisMap` windows); knows no ONNX
- op families, each with its table `HANDLERS: op -> handler` next to its shape and access rules:
  `mvm.py` (Conv, Gemm, MatMul, Einsum), `windowed.py` (pools, ConvTranspose, Resize),
  `pointwise.py` (activations, elementwise math, channel norms), `reduce.py` (softmax, norms over a fiber,
  Reduce*, ArgMax, TopK), `movement.py` (Reshape, Transpose, Slice, Concat, Pad, Gather ...)
- `cache.py`      the on-disk cache of imported workloads (`load_workload` only)

Adding an op: one entry in its family's table (and one test row). An op in no table is imported as a GPEU op
of kind "other" that reads whole inputs, with a warning. `import onnx` costs about a second, so this package
imports it only when a model is actually parsed: a cache hit never does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cimopt.errors import InputError
from cimopt.onnx import cache

if TYPE_CHECKING:
    import onnx

    from cimopt.workload import Workload

__all__ = ["load_workload", "workload_from_model"]


def load_workload(path: str | Path, name: str | None = None, *, use_cache: bool = True) -> Workload:
    """Import an ONNX file as a Workload (`name` defaults to the file stem); bad input raises InputError.

    Results are cached by the file's content (cache.py: `CIMOPT_CACHE_DIR`, `use_cache=False` to bypass)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: model file not found")
    if not p.is_file():
        raise InputError(f"{p}: not a file")
    name = name or p.stem
    data = p.read_bytes()
    store = cache.cache_dir() if use_cache else None
    key = cache.cache_key(data, name) if store is not None else ""
    if store is not None:
        hit = cache.lookup(store, key, p.parent)
        if hit is not None:
            return hit
    workload, external = _parse_and_import(data, name, p)
    if store is not None:
        cache.store(store, key, p.parent, workload, external)
    return workload


def _parse_and_import(data: bytes, name: str, p: Path) -> tuple[Workload, set[str]]:
    import onnx

    from cimopt.onnx.graph import short

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf DecodeError and friends: the bytes are not a (whole) ONNX model
        raise InputError(f"{p}: not a valid ONNX model (unreadable or truncated file: {short(exc)})") from None
    return _import(model, name, str(p), p.parent)


def workload_from_model(model: onnx.ModelProto, name: str, source: str = "<model>", *,
                        onnx_shape_inference: bool = True) -> Workload:
    """Import an in-memory ONNX model. `source` names it in error messages.

    `onnx_shape_inference=False` skips ONNX's own shape inference, so every shape comes from cimopt's
    propagation (a cross-check used by the tests; ops cimopt does not know then need shapes in value_info).
    """
    return _import(model, name, source, None, onnx_shape_inference)[0]


def _import(model: onnx.ModelProto, name: str, source: str, base_dir: Path | None,
            use_onnx_inference: bool = True) -> tuple[Workload, set[str]]:
    """The workload, and the external data files (relative to `base_dir`) it was read with."""
    import onnx
    from onnx.inliner import inline_local_functions

    from cimopt.onnx.graph import short
    from cimopt.onnx.importer import Importer

    if not isinstance(model, onnx.ModelProto):
        raise InputError(f"{source}: not an ONNX model")
    if not model.HasField("graph"):
        raise InputError(f"{source}: not an ONNX model (it holds no graph)")
    if model.functions:
        try:
            model = inline_local_functions(model)
        except Exception as exc:
            raise InputError(f"{source}: cannot inline the model's local functions: {short(exc)}") from None
    imp = Importer(model, name, source, base_dir, use_onnx_inference)
    return imp.run(), imp.external_files
