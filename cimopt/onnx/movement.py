"""Data movement: Reshape, Transpose, Slice, Concat, Pad, Gather, DepthToSpace ... Their access is derived
exactly by running the op (ONNX's reference evaluator) on an array of element indices and fitting the smallest
`AxisMap` window that holds what each output pixel reads.

Large tensors: when the index arrays would exceed INDEX_LIMIT elements, an axis-wise op (Concat, Split, Slice,
Gather, Tile, Pad) is solved on a reduced problem first: axes it does not touch are copied unchanged, so they can
be shrunk to size 1. With every untouched axis shrunk, the run gives the output shape, and an input whose pixels
stay where they are (a channel Concat, a channel Slice) reads ELEMENTWISE; otherwise, with only the untouched
channel axes shrunk, the fit is the exact one (a pixel's reads do not depend on how many channels it has). Only
when even that is too large does the op read WHOLE inputs, with a warning.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper

from cimopt.errors import InputError
from cimopt.onnx.axes import (
    INDEX_LIMIT,
    Dims,
    Roles,
    channel_only,
    default_roles,
    fit_pairs,
    norm_axis,
    reshape_roles,
)
from cimopt.onnx.graph import attrs, label, short
from cimopt.onnx.tensors import Out
from cimopt.workload import ELEMENTWISE, WHOLE

if TYPE_CHECKING:
    from cimopt.onnx.importer import Handler, Importer

#: op -> GPEU kind.
MOVE_OPS: dict[str, str] = {
    "Reshape": "reshape", "Flatten": "reshape", "Squeeze": "reshape", "Unsqueeze": "reshape",
    "Transpose": "reshape", "Expand": "reshape", "Tile": "reshape", "DepthToSpace": "reshape",
    "SpaceToDepth": "reshape", "Slice": "slice", "Split": "slice", "Gather": "slice", "GatherElements": "slice",
    "Concat": "concat", "Pad": "pad",
}
#: What a constant operand of the op is, for error messages.
OPERANDS = {"Reshape": "the target shape", "Slice": "the slice bounds", "Pad": "the pads", "Tile": "the repeats",
            "Expand": "the target shape", "Split": "the split sizes", "Gather": "the indices",
            "Squeeze": "the axes", "Unsqueeze": "the axes"}
#: Axis-wise ops whose constant operands name only the axes they touch: other axes may be shrunk.
REDUCIBLE_OPS = frozenset({"Concat", "Split", "Slice", "Gather", "Tile", "Pad"})


def move(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """Data movement: run the op on element indices and fit each output pixel's reads."""
    op = node.op_type
    act = imp.act(node)
    data = list(range(len(node.input))) if op == "Concat" else [0]
    if any(k not in data for k in act):
        return computed_operand(imp, node, act)
    for k in data:
        n = node.input[k] if k < len(node.input) else ""
        if n and imp.shape(n) is None:
            raise imp.fail(f"node {label(node)!r} ({op}): the shape of input {k} ({n!r}) is unknown")
    if sum(math.prod(imp.t(node, k).dims) for k in act) <= INDEX_LIMIT:
        return run_on_indices(imp, node, act, data, frozenset(), exact=True)[0]
    return large(imp, node, act, data)


def computed_operand(imp: Importer, node: onnx.NodeProto, act: list[int]) -> list[Out | None]:
    """A shape or index operand computed from activations: Gather reads the whole data, others are an error."""
    op = node.op_type
    if op in ("Gather", "GatherElements"):
        dd, di = imp.dims_of(node, 0), imp.dims_of(node, 1)
        ax = norm_axis(attrs(node).get("axis", 0), len(dd))
        dims = di if op == "GatherElements" else dd[:ax] + di + dd[ax + 1:]
        return [Out(dims, default_roles(len(dims)), dict.fromkeys(act, WHOLE), "slice")]
    raise imp.fail(f"node {label(node)!r} ({op}): a shape or index operand is computed from activations")


def large(imp: Importer, node: onnx.NodeProto, act: list[int], data: list[int]) -> list[Out | None]:
    """Index arrays over the limit: the reduced problems (module docstring), else WHOLE with a warning."""
    r = len(imp.t(node, act[0]).dims)
    touched = reducible_axes(imp, node, r)
    rough: list[Out | None] | None = None  # right shapes, WHOLE where the access is not known exactly
    if touched is not None and all(len(imp.t(node, k).dims) == r for k in data if node.input[k]):
        untouched = frozenset(range(r)) - touched
        channels = frozenset(a for a in untouched if all(imp.t(node, k).roles[a] == "c" for k in act))
        for shrink, exact in ((untouched, False), (channels, True)):
            if sum(math.prod(_shrunk(imp.t(node, k).dims, shrink)) for k in act) > INDEX_LIMIT:
                continue
            outs, complete = run_on_indices(imp, node, act, data, shrink, exact)
            if complete:
                return outs
            if outs and rough is None:
                rough = outs
    imp.warnings.append(f"node {label(node)!r} ({node.op_type}): tensor too large for an exact access; each output "
                        "pixel reads the whole input")
    return rough if rough is not None else unknown_shape_whole(imp, node, MOVE_OPS[node.op_type])


def _shrunk(dims: Dims, shrink: frozenset[int]) -> Dims:
    return tuple(1 if a in shrink else d for a, d in enumerate(dims))


def run_on_indices(imp: Importer, node: onnx.NodeProto, act: list[int], data: list[int], shrink: frozenset[int],
                   exact: bool) -> tuple[list[Out | None], bool]:
    """Run the op on element indices of its data inputs, axes `shrink` cut to size 1, and fit the accesses.

    `exact=False` (the shrunk axes may be pixels): only channel-only inputs are answered, others read WHOLE.
    Returns the outputs and whether every access is exact."""
    node, feeds, offsets = index_feeds(imp, node, act, data, shrink)
    node, feeds = crop_negative_pads(imp, node, feeds)
    try:
        results = imp.run_node(node, feeds)
    except Exception as exc:
        raise imp.fail(f"node {label(node)!r} ({node.op_type}): cannot evaluate it on input shapes "
                       f"{[list(imp.tensors[node.input[k]].dims or ()) for k in data if node.input[k]]}: "
                       f"{short(exc)}") from None
    for o, res in zip(node.output, results, strict=False):
        if res is not None and 0 in res.shape:
            raise imp.fail(f"node {label(node)!r} ({node.op_type}): output {o!r} has shape {list(res.shape)}, with a "
                           "zero-sized dimension (it holds no data)")
    if shrink and any(res is not None and res.ndim != len(imp.t(node, act[0]).dims) for res in results):
        return [], False  # the op dropped an axis: the shrunk axes cannot be put back
    outs = [None if res is None else fit_output(imp, node, act, offsets, res, shrink, exact) for res in results]
    return [o[0] if o else None for o in outs], all(o[1] for o in outs if o)


def index_feeds(imp: Importer, node: onnx.NodeProto, act: list[int], data: list[int], shrink: frozenset[int]
                ) -> tuple[onnx.NodeProto, list[np.ndarray | None], dict[int, int]]:
    """The node's inputs for the index run: activation inputs hold consecutive element indices (input k from
    `offsets[k]` on), constant data inputs and padding hold -1, operands their values. Returns the node too
    (an old-opset Pad gets its pad value set to -1)."""
    feeds: list[np.ndarray | None] = []
    offsets: dict[int, int] = {}
    start = 0
    for k, n in enumerate(node.input):
        if not n:
            feeds.append(None)
            continue
        if k in data:
            dims = _shrunk(imp.tensors[n].dims, shrink)
            size = math.prod(dims)
            if k in act:
                feeds.append(np.arange(start, start + size, dtype=np.int64).reshape(dims))
                offsets[k] = start
                start += size
            else:
                feeds.append(np.full(dims, -1, dtype=np.int64))
        elif node.op_type == "Pad" and k == 2:
            feeds.append(None)
        else:
            feeds.append(imp.value(node, k, OPERANDS.get(node.op_type, "an operand")))
    if node.op_type == "Pad" and imp.opset >= 11:  # padding reads nothing: mark it -1
        feeds += [None] * (3 - len(feeds))
        feeds[2] = np.array(-1, dtype=np.int64)
    elif node.op_type == "Pad":
        node = with_attr(node, "value", -1.0)
    return node, feeds, offsets


def fit_output(imp: Importer, node: onnx.NodeProto, act: list[int], offsets: dict[int, int], res: np.ndarray,
               shrink: frozenset[int], exact: bool) -> tuple[Out, bool]:
    """One output of the index run -> its Out (element indices read, fitted per activation input), and whether
    every access is exact (with `exact=False`, inputs that are not channel-only read WHOLE)."""
    run_dims = tuple(int(d) for d in res.shape)
    first = imp.t(node, act[0]).dims
    dims = tuple(first[a] if a in shrink else d for a, d in enumerate(run_dims))
    roles = move_roles(imp, node, dims, act)
    flat = res.astype(np.int64).ravel()
    touched = touched_axes(imp, node, dims)
    access = {}
    complete = True
    for k in act:
        t = imp.t(node, k)
        if touched is not None and channel_only(t.dims, t.roles, dims, roles, touched):
            access[k] = ELEMENTWISE
            continue
        if not exact:
            access[k] = WHOLE
            complete = False
            continue
        in_dims = _shrunk(t.dims, shrink)
        lo, size = offsets[k], math.prod(in_dims)
        if len(act) == 1 and lo == 0 and flat.min() >= 0:  # every output element reads this input
            access[k] = fit_pairs(run_dims, roles, in_dims, t.roles, None, flat)
            continue
        mask = (flat >= lo) & (flat < lo + size)
        if not mask.any():
            continue
        access[k] = fit_pairs(run_dims, roles, in_dims, t.roles, np.flatnonzero(mask), flat[mask] - lo)
    return Out(dims, roles, access, MOVE_OPS[node.op_type]), complete


def reducible_axes(imp: Importer, node: onnx.NodeProto, rank: int) -> frozenset[int] | None:
    """The axes an op of REDUCIBLE_OPS touches (all others may be shrunk), None when that is not known."""
    op = node.op_type
    if op not in REDUCIBLE_OPS:
        return None
    if op != "Pad":
        touched = touched_axes(imp, node, (0,) * rank)
        return None if touched is None else frozenset(touched)
    if len(node.input) > 3 and node.input[3]:  # pads for some axes only (opset 18): not worth it
        return None
    try:
        pads = attrs(node).get("pads") if imp.opset < 11 else imp.value(node, 1, "the pads")
        p = [int(x) for x in np.asarray(pads).reshape(-1)]
    except (InputError, ValueError, TypeError):
        return None
    if len(p) != 2 * rank:
        return None
    return frozenset(a for a in range(rank) if p[a] or p[rank + a])


def touched_axes(imp: Importer, node: onnx.NodeProto, out_dims: Dims) -> set[int] | None:
    """Axes an axis-wise data-movement op changes (others are copied as they are); None: not axis-wise."""
    op, a, r = node.op_type, attrs(node), len(out_dims)
    try:
        if op in ("Concat", "Split", "Gather"):
            return {norm_axis(a.get("axis", 0), r)}
        if op == "Slice":
            axes = a.get("axes")
            if axes is None and imp.opset >= 10:
                if len(node.input) > 3 and node.input[3]:
                    axes = imp.value(node, 3, "the slice axes")
                else:
                    axes = range(len(np.asarray(imp.value(node, 1, "the slice starts")).reshape(-1)))
            if axes is None:
                axes = range(len(a.get("starts", [])))
            return {norm_axis(int(x), r) for x in np.asarray(list(axes)).reshape(-1)}
        if op == "Expand":
            d0 = imp.dims_of(node, 0)
            return {i for i in range(r) if i < r - len(d0) or d0[i - (r - len(d0))] != out_dims[i]}
        if op == "Tile":
            reps = np.asarray(imp.value(node, 1, "the repeats")).reshape(-1)
            return {i for i, x in enumerate(reps) if int(x) != 1}
    except (InputError, ValueError, TypeError):
        return None
    return None


def move_roles(imp: Importer, node: onnx.NodeProto, dims: Dims, act: list[int]) -> Roles:
    """Roles of a data-movement output: the axes keep their roles where the op keeps the axes."""
    op = node.op_type
    t = imp.tensors[node.input[act[0]]]
    if op == "Transpose" and len(t.roles) == len(dims):
        perm = attrs(node).get("perm", list(range(len(dims)))[::-1])
        return tuple(t.roles[p] for p in perm)
    if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        return reshape_roles(t.dims, t.roles, dims)
    if op in ("DepthToSpace", "SpaceToDepth") or len(t.roles) != len(dims):
        return default_roles(len(dims))
    return t.roles


def unknown_shape_whole(imp: Importer, node: onnx.NodeProto, kind: str) -> list[Out | None]:
    """Access WHOLE, shape from ONNX inference (or the declared value_info, else a run of the op on int8 zeros);
    for oversized or odd cases."""
    outs: list[Out | None] = []
    run: list[Dims | None] | None = None
    for k, o in enumerate(node.output):
        dims = imp.shape(o)
        if dims is None:
            run = run if run is not None else _shapes_by_running(imp, node)
            dims = run[k] if k < len(run) else None
        if dims is None:
            raise imp.fail(f"node {label(node)!r} ({node.op_type}): cannot determine the shape "
                           f"of output {o!r}")
        outs.append(Out(dims, default_roles(len(dims)), dict.fromkeys(imp.act(node), WHOLE), kind))
    return outs


def _shapes_by_running(imp: Importer, node: onnx.NodeProto) -> list[Dims | None]:
    """Output shapes of a data-movement op run on int8 zeros (one byte per element, no index arrays)."""
    data = list(range(len(node.input))) if node.op_type == "Concat" else [0]
    feeds: list[np.ndarray | None] = []
    try:
        for k, n in enumerate(node.input):
            if not n or (node.op_type == "Pad" and k == 2):
                feeds.append(None)
            elif k in data:
                feeds.append(np.zeros(imp.tensors[n].dims, dtype=np.int8))
            else:
                feeds.append(imp.value(node, k, OPERANDS.get(node.op_type, "an operand")))
        node, feeds = crop_negative_pads(imp, node, feeds)
        return [None if r is None else tuple(int(d) for d in r.shape) for r in imp.run_node(node, feeds)]
    except Exception:
        return []


def crop_negative_pads(imp: Importer, node: onnx.NodeProto, feeds: list[np.ndarray | None]
                       ) -> tuple[onnx.NodeProto, list[np.ndarray | None]]:
    """A Pad with negative pads removes elements (the ONNX spec), which the reference evaluator (numpy.pad)
    refuses: crop the data input (feeds[0]) by the negative pads, then pad by the others. Other nodes pass."""
    if node.op_type != "Pad" or feeds[0] is None:
        return node, feeds
    a = attrs(node)
    key = "pads" if "pads" in a else "paddings"
    raw = a.get(key) if imp.opset < 11 else feeds[1]
    if raw is None:
        return node, feeds
    pads = np.asarray(raw, dtype=np.int64).reshape(-1)
    if not (pads < 0).any():
        return node, feeds
    data = feeds[0]
    r = data.ndim
    has_axes = imp.opset >= 18 and len(feeds) > 3 and feeds[3] is not None
    axes = [norm_axis(int(x), r) for x in np.asarray(feeds[3]).reshape(-1)] if has_axes else list(range(r))
    n = len(axes)
    if len(pads) != 2 * n:
        raise imp.fail(f"node {label(node)!r} (Pad): {len(pads)} pads for {n} axes")
    crop = [slice(None)] * r
    for i, ax in enumerate(axes):
        lo, hi = max(-int(pads[i]), 0), data.shape[ax] - max(-int(pads[n + i]), 0)
        if hi <= lo:
            raise imp.fail(f"node {label(node)!r} (Pad): pads {pads.tolist()} crop axis {ax} (size "
                           f"{imp.tensors[node.input[0]].dims[ax]}) to nothing")
        crop[ax] = slice(lo, hi)
    feeds = list(feeds)
    feeds[0] = data[tuple(crop)]
    rest = np.maximum(pads, 0)
    if imp.opset >= 11:
        feeds[1] = rest
        return node, feeds
    return with_attr(node, key, [int(x) for x in rest]), feeds


def with_attr(node: onnx.NodeProto, name: str, value: float | list[int]) -> onnx.NodeProto:
    """A copy of the node with attribute `name` (a float, or a list of ints) set to `value`."""
    n = onnx.NodeProto()
    n.CopyFrom(node)
    for k, attr in enumerate(n.attribute):
        if attr.name == name:
            del n.attribute[k]
            break
    n.attribute.append(helper.make_attribute(name, value))
    return n


HANDLERS: dict[str, Handler] = dict.fromkeys(MOVE_OPS, move)
