"""ONNX -> Workload: constants, shapes, op semantics and clear errors (domain.md 3.1 and 3.3).

The importer reads only the graph and the tensor shapes: weights are never needed, so a model is loaded without
its external data (a missing `.data` file is fine). It works in three passes over the nodes in topological order:

1. *Constants.* Initializers, Constant nodes, typed graph inputs used only as weights, and every node whose inputs
   are all constant (including `Shape`/`Size` of a tensor, whose shape is always static here) are constants: they
   are not compute. Small constant values (shape arithmetic, Reshape targets, Slice bounds, Resize scales ...) are
   evaluated with ONNX's reference evaluator; large ones keep only their shape.
2. *Shapes.* Every activation tensor gets a static shape, computed by cimopt itself for every supported op (ONNX's
   own shape inference is used as a cross-check and as the fallback for ops cimopt does not know).
3. *Semantics.* Conv/Gemm/MatMul with a constant weight become `Layer`s; everything else becomes a `GpeuOp`
   whose input `Access` says which input pixels each output pixel reads.

Pixels: every tensor axis has a role, `h` (part of the pixel row), `w` (pixel column) or `c` (values inside
a pixel). Graph inputs and fresh tensors follow workload.py's convention: 4-D NCHW is (h, c, h, w), 3-D [N, T, D]
is (h, h, c), 2-D [B, F] is (h, c), 1-D is (c,). Roles then follow the axes: through Transpose (permuted),
Reshape/Flatten/Squeeze/Unsqueeze (axes matched by size products: splitting or merging channels keeps the
pixels), shape-keeping ops, and MatMul (A's axes, features last). So a channels-last tensor [1, H, W, C] from
Transpose is still H x W pixels of C values, and ViT tokens stay tokens through the attention reshapes. The
`FeatureMap` of a node is read from its roles. Accesses of data-movement ops (Reshape, Transpose, Slice, Concat,
Pad, Gather, DepthToSpace ...) are derived exactly by running the op on an array of element indices and
fitting the smallest `AxisMap` window that contains what each output pixel reads; whatever cannot be
expressed becomes a wider window, at worst `WHOLE`.

GPEU kinds: "activation" (Relu, Sigmoid, Clip, HardSwish, Gelu, Erf, PRelu ...), "elementwise" (Add, Mul, Div,
Pow, Sqrt, Cast ... with broadcasting), "norm" (BatchNormalization, LayerNormalization, InstanceNormalization,
LRN ...), "pool", "concat", "slice" (Slice, Split, Gather), "resize", "reshape" (Reshape, Flatten, Transpose,
Squeeze, Unsqueeze, Expand, Tile, DepthToSpace, SpaceToDepth, and the inference no-ops Identity and Dropout),
"pad", "softmax", "reduce" (Reduce*, ArgMax, TopK, CumSum), "matmul" (MatMul/Gemm of two activations, Einsum)
and "other" (ConvTranspose, and any op cimopt does not know, with a warning; it reads whole inputs).
A graph input with a symbolic batch dimension is imported at batch 1 (with a warning); any other dynamic
dimension, batch > 1 on a 3-D+ input, control flow (If/Loop/Scan) and unreadable files are InputErrors.
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.inliner import inline_local_functions

from cimopt.errors import InputError
from cimopt.workload import (
    ELEMENTWISE,
    IDENTITY,
    WHOLE,
    Access,
    AxisMap,
    Edge,
    FeatureMap,
    GpeuOp,
    GraphInput,
    Layer,
    Node,
    Workload,
    conv_access,
)

Dims = tuple[int, ...]
Roles = tuple[str, ...]

#: Constant values are evaluated only when their inputs hold at most this many elements in all.
VALUE_LIMIT = 1 << 20
#: Initializers with more elements than this are never read (only their shape is used).
LOAD_LIMIT = 1 << 16
#: Data-movement ops whose output has more elements than this get a conservative access instead of an exact one.
INDEX_LIMIT = 1 << 23

ACTIVATION_OPS = frozenset({
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSwish", "HardSigmoid", "Mish", "Softplus", "Softsign",
    "Gelu", "Erf", "Elu", "Selu", "Celu", "ThresholdedRelu", "PRelu", "Swish", "FastGelu", "QuickGelu",
})
UNARY_OPS = frozenset({
    "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Not", "Sin", "Cos",
    "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "IsNaN", "IsInf", "Cast",
    "BitwiseNot", "Shrink", "Trilu",
})
NARY_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Mod", "Where", "Equal", "Less",
    "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "BitwiseAnd", "BitwiseOr",
    "BitwiseXor",
})
PASS_OPS = frozenset({"Identity", "Dropout"})
#: Ops computed per pixel over the channel axis only; kind "norm".
CHANNEL_NORM_OPS = frozenset({"BatchNormalization", "LRN"})
#: Same-shape ops that reduce over some axes (the fiber) and broadcast back: axes by op.
FIBER_OPS = frozenset({
    "Softmax", "LogSoftmax", "Hardmax", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "LpNormalization", "MeanVarianceNormalization", "RMSNormalization", "CumSum", "SimplifiedLayerNormalization",
})
REDUCE_OPS = frozenset({
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
})
POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOL_OPS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
#: Ops that only move data: their access is derived from the op run on element indices; value: data inputs.
MOVE_OPS: dict[str, str] = {
    "Reshape": "reshape", "Flatten": "reshape", "Squeeze": "reshape", "Unsqueeze": "reshape",
    "Transpose": "reshape", "Expand": "reshape", "Tile": "reshape", "DepthToSpace": "reshape",
    "SpaceToDepth": "reshape", "Slice": "slice", "Split": "slice", "Gather": "slice", "GatherElements": "slice",
    "Concat": "concat", "Pad": "pad",
}
FLOAT_ELEMS = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                         onnx.TensorProto.BFLOAT16})
CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan", "SequenceMap"})
#: Inputs that hold weights (by op: input positions), for graph inputs that carry no initializer.
WEIGHT_POSITIONS: dict[str, frozenset[int]] = {
    "Conv": frozenset({1, 2}), "ConvTranspose": frozenset({1, 2}), "Gemm": frozenset({1, 2}),
    "MatMul": frozenset({1}), "BatchNormalization": frozenset({1, 2, 3, 4}),
    "InstanceNormalization": frozenset({1, 2}), "LayerNormalization": frozenset({1, 2}),
    "GroupNormalization": frozenset({1, 2}), "RMSNormalization": frozenset({1}), "PRelu": frozenset({1}),
}
#: Ops a weight may pass through on its way to the MVM (input 0 carries the weight).
WEIGHT_PASS_OPS = frozenset({
    "Identity", "Transpose", "Reshape", "Cast", "Squeeze", "Unsqueeze", "Flatten", "DequantizeLinear",
})


# ----------------------------------------------------------------------------------------------- public API


def load_workload(path: str | Path, name: str | None = None) -> Workload:
    """Import an ONNX file as a Workload (`name` defaults to the file stem); bad input raises InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: model file not found")
    if not p.is_file():
        raise InputError(f"{p}: not a file")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends: the bytes are not a (whole) ONNX model
        raise InputError(f"{p}: not a valid ONNX model (unreadable or truncated file: {_short(exc)})") from None
    return _import(model, name or p.stem, str(p), p.parent)


def workload_from_model(model: onnx.ModelProto, name: str, source: str = "<model>", *,
                        onnx_shape_inference: bool = True) -> Workload:
    """Import an in-memory ONNX model. `source` names it in error messages.

    `onnx_shape_inference=False` skips ONNX's own shape inference, so every shape comes from cimopt's
    propagation (a cross-check used by the tests; ops cimopt does not know then need shapes in value_info).
    """
    return _import(model, name, source, None, onnx_shape_inference)


# ----------------------------------------------------------------------------------------------- internals


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@dataclass(frozen=True)
class _Tensor:
    """What the importer knows of one ONNX tensor."""

    dims: Dims | None
    const: bool
    value: np.ndarray | None = None
    roles: Roles = ()
    node: str = ""  # the workload node producing it (activations only)
    elem: int = 0  # ONNX element type, 0 when unknown


@dataclass(frozen=True)
class _Out:
    """One workload node to emit for one output of an ONNX node."""

    dims: Dims
    roles: Roles
    access: dict[int, Access]  # input position -> access (activation inputs only)
    kind: str = "other"
    layer: dict | None = None  # Layer fields when the node is an MVM layer


def _default_roles(rank: int) -> Roles:
    if rank == 0:
        return ()
    if rank == 1:
        return ("c",)
    if rank == 2:
        return ("h", "c")
    if rank == 3:
        return ("h", "h", "c")
    return ("h", "c") + ("h",) * (rank - 3) + ("w",)


def _canon_roles(dims: Dims, roles: Roles) -> Roles:
    """Size-1 axes take their default role: they carry no pixel, so this changes nothing but comparisons."""
    default = _default_roles(len(dims))
    return tuple(default[a] if d == 1 else r for a, (d, r) in enumerate(zip(dims, roles, strict=True)))


def _rows_roles(rank: int) -> Roles:
    """All axes but the last are pixel rows (a matrix of row vectors)."""
    return ("h",) * (rank - 1) + ("c",) if rank else ()


def _fmap(dims: Dims, roles: Roles) -> FeatureMap:
    c = h = w = 1
    for d, r in zip(dims, roles, strict=True):
        if r == "h":
            h *= d
        elif r == "w":
            w *= d
        else:
            c *= d
    return FeatureMap(c, h, w, tuple(int(d) for d in dims))


def _pixel_coords(dims: Dims, roles: Roles, flat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel row and column of the elements with flat (row-major) indices `flat` (default: all elements)."""
    rank = len(dims)
    dtype = np.int32 if math.prod(dims) < 2**31 else np.int64
    row: np.ndarray = np.zeros((1,) * rank, dtype=dtype)
    col: np.ndarray = np.zeros((1,) * rank, dtype=dtype)
    for axis, (d, r) in enumerate(zip(dims, roles, strict=True)):
        if r == "c" or d == 1:
            continue
        idx = np.arange(d, dtype=dtype).reshape((1,) * axis + (d,) + (1,) * (rank - axis - 1))
        if r == "h":
            row = row * d + idx
        else:
            col = col * d + idx
    full_row = np.broadcast_to(row, dims).ravel()
    full_col = np.broadcast_to(col, dims).ravel()
    if flat is None:
        return full_row, full_col
    return full_row[flat], full_col[flat]


def _full_map(n_in: int) -> AxisMap:
    return AxisMap(num=0, extent=max(n_in - 1, 0))


def _is_full(m: AxisMap, n_out: int, n_in: int) -> bool:
    lo, hi = m.window(np.arange(n_out), n_in)
    return bool(np.all(lo == 0) and np.all(hi == n_in - 1))


def _make_access(rows: AxisMap, cols: AxisMap, fm_out: FeatureMap, fm_in: FeatureMap) -> Access:
    """`Access(rows, cols)`, or WHOLE when every output pixel reads every pixel of a multi-pixel input."""
    if fm_in.pixels > 1 and _is_full(rows, fm_out.height, fm_in.height) and _is_full(cols, fm_out.width,
                                                                                      fm_in.width):
        return WHOLE
    return Access(rows, cols)


def _fit_axis(lo: np.ndarray, hi: np.ndarray, n_in: int) -> AxisMap:
    """The tightest AxisMap whose windows contain `[lo[o], hi[o]]` for every output `o` with `hi[o] >= 0`.

    Candidate slopes (num/den) are tried, each with its tightest offset and extent; the one reading the fewest
    input indices wins (the first on ties), so exact patterns come out in their simplest form.
    """
    n_out = len(lo)
    if n_in == 1:
        return IDENTITY if n_out == 1 else AxisMap(num=0)
    valid = hi >= 0
    o = np.arange(n_out, dtype=np.int64)[valid]
    low, high = lo[valid], hi[valid]
    if len(o) == 0:
        return IDENTITY
    candidates: list[tuple[int, int]] = [(1, 1), (0, 1)]
    ratio = Fraction(n_in, n_out)
    candidates.append((ratio.numerator, ratio.denominator))
    if len(o) >= 2:
        for seq in (low, high):
            slope = Fraction(int(seq[-1] - seq[0]), int(o[-1] - o[0]))
            if slope >= 0:
                s = slope.limit_denominator(max(n_out, 1))
                candidates.append((s.numerator, s.denominator))
                candidates.append((round(slope), 1))
    best: tuple[tuple[int, int, int], AxisMap] | None = None
    seen: set[tuple[int, int]] = set()
    all_o = np.arange(n_out, dtype=np.int64)
    for num, den in candidates:
        if (num, den) in seen or den <= 0 or num < 0:
            continue
        seen.add((num, den))
        off = int(np.min(low * den - num * o + den - 1))
        ext = max(0, int(np.max(high * den - num * o)) - off)
        m = AxisMap(num=num, den=den, offset=off, extent=ext)
        wl, wh = m.window(all_o, n_in)
        if np.any(wl[valid] > low) or np.any(wh[valid] < high):
            continue  # cannot happen by construction; kept as a guard
        cost = (int(np.sum(np.where(wl <= wh, wh - wl + 1, 0))), den, num)
        if best is None or cost < best[0]:
            best = (cost, m)
    return best[1] if best is not None else _full_map(n_in)


def _fit_pairs(out_dims: Dims, out_roles: Roles, in_dims: Dims, in_roles: Roles, out_flat: np.ndarray | None,
               in_flat: np.ndarray) -> Access:
    """The access of a node whose output element `out_flat[i]` (default: `i`) reads input element `in_flat[i]`."""
    fm_out, fm_in = _fmap(out_dims, out_roles), _fmap(in_dims, in_roles)
    orow, ocol = _pixel_coords(out_dims, out_roles, out_flat)
    irow, icol = _pixel_coords(in_dims, in_roles, in_flat)
    maps = []
    for o_idx, i_idx, n_out, n_in in ((orow, irow, fm_out.height, fm_in.height),
                                      (ocol, icol, fm_out.width, fm_in.width)):
        if n_in == 1 or len(i_idx) == 0:
            maps.append(_fit_axis(np.zeros(n_out, np.int64), np.full(n_out, -1 if len(i_idx) == 0 else 0), n_in))
            continue
        if n_out == 1:
            maps.append(_fit_axis(np.array([i_idx.min()], np.int64), np.array([i_idx.max()], np.int64), n_in))
            continue
        lo = np.full(n_out, n_in, dtype=i_idx.dtype)  # same dtype as the values: ufunc.at's fast path
        hi = np.full(n_out, -1, dtype=i_idx.dtype)
        np.minimum.at(lo, o_idx, i_idx)
        np.maximum.at(hi, o_idx, i_idx)
        maps.append(_fit_axis(lo.astype(np.int64), hi.astype(np.int64), n_in))
    return _make_access(maps[0], maps[1], fm_out, fm_in)


def _axis_access(in_dims: Dims, in_roles: Roles, out_dims: Dims, out_roles: Roles,
                 per_axis: dict[int, AxisMap]) -> Access | None:
    """Access of an op that keeps the axes' roles and reads axis `a` through `per_axis[a]` (others unchanged).

    None when the roles differ (the caller then falls back to something more general).
    """
    if in_roles != out_roles or len(in_dims) != len(out_dims):
        return None
    fm_in, fm_out = _fmap(in_dims, in_roles), _fmap(out_dims, out_roles)
    maps = []
    for role, n_in in (("h", fm_in.height), ("w", fm_in.width)):
        axes = [a for a, r in enumerate(in_roles) if r == role and (in_dims[a] > 1 or out_dims[a] > 1)]
        if not axes:
            maps.append(IDENTITY)
        elif len(axes) == 1:
            a = axes[0]
            if a in per_axis:
                maps.append(per_axis[a])
            elif in_dims[a] == out_dims[a]:
                maps.append(IDENTITY)
            elif in_dims[a] == 1:
                maps.append(AxisMap(num=0))
            else:
                maps.append(_full_map(n_in))
        elif all(a not in per_axis and in_dims[a] == out_dims[a] for a in axes):
            maps.append(IDENTITY)
        else:
            maps.append(_full_map(n_in))
    return _make_access(maps[0], maps[1], fm_out, fm_in)


def _fiber_access(dims: Dims, roles: Roles, axes: Sequence[int]) -> Access:
    """Same-shape op whose output element depends on all elements along `axes` (softmax, norms)."""
    fm = _fmap(dims, roles)
    rows = cols = IDENTITY
    for a in axes:
        if dims[a] > 1 and roles[a] == "h":
            rows = _full_map(fm.height)
        elif dims[a] > 1 and roles[a] == "w":
            cols = _full_map(fm.width)
    return _make_access(rows, cols, fm, fm)


def _reshape_roles(in_dims: Dims, in_roles: Roles, out_dims: Dims) -> Roles:
    """Roles after a reshape (row-major order kept). Axes are matched in groups of equal size product; a group
    of output axes takes the role its input axes share (splitting a pixel axis keeps the pixel index); pixel
    axes merged into one axis become one pixel-row axis. Groups that mix channels and pixels: default roles."""
    n_out = len(out_dims)
    out: list[str] = []
    i = j = 0
    try:
        while j < n_out:
            if out_dims[j] == 1:
                out.append("c")
                j += 1
                continue
            while in_dims[i] == 1:
                i += 1
            gi, gj = [i], [j]
            pi, pj = in_dims[i], out_dims[j]
            i, j = i + 1, j + 1
            while pi != pj:
                if pi < pj:
                    pi *= in_dims[i]
                    gi.append(i)
                    i += 1
                else:
                    pj *= out_dims[j]
                    gj.append(j)
                    j += 1
            roles = {in_roles[a] for a in gi if in_dims[a] > 1}
            if len(roles) == 1:
                out += [roles.pop()] * len(gj)
            elif "c" not in roles and len(gj) == 1:
                out.append("h")
            else:
                return _default_roles(n_out)
    except IndexError:
        return _default_roles(n_out)
    return tuple(out)


def _channel_only(in_dims: Dims, in_roles: Roles, out_dims: Dims, out_roles: Roles, touched: set[int]) -> bool:
    """True when an axis-wise op that changes only axes `touched` keeps every pixel where it is."""
    if in_roles != out_roles or len(in_dims) != len(out_dims):
        return False
    for axis, r in enumerate(in_roles):
        if r != "c" and (axis in touched or in_dims[axis] != out_dims[axis]):
            if in_dims[axis] == 1 and out_dims[axis] == 1:
                continue
            return False
    return True


def _broadcast(shapes: Sequence[Dims]) -> Dims:
    return tuple(int(d) for d in np.broadcast_shapes(*shapes))


def _pool_out(n: int, k: int, s: int, p0: int, p1: int, d: int, ceil_mode: bool) -> int:
    span = n + p0 + p1 - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p0:  # the last window must start inside the input (PyTorch, ONNX 19)
        out -= 1
    return out


def _auto_pads(auto_pad: str, n: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
               pads: Sequence[int]) -> list[int]:
    """ONNX pads [begin..., end...] after resolving auto_pad."""
    r = len(n)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for i in range(r):
            out = -(-n[i] // s[i])
            total = max((out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - n[i], 0)
            small, big = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else big)
            ends.append(big if auto_pad == "SAME_UPPER" else small)
        return begins + ends
    if auto_pad == "VALID":
        return [0] * (2 * r)
    return list(pads) if pads else [0] * (2 * r)


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[a.name] = v
    return out


def _static_dims(type_proto: onnx.TypeProto) -> Dims | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in type_proto.tensor_type.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _norm_axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


# ------------------------------------------------------------------------------------------------- importer


@dataclass
class _Importer:
    """State of one import: the tensors known so far and the workload nodes emitted."""

    model: onnx.ModelProto
    name: str
    source: str
    base_dir: Path | None
    use_onnx_inference: bool = True
    opset: int = 0
    tensors: dict[str, _Tensor] = field(default_factory=dict)
    inferred: dict[str, Dims] = field(default_factory=dict)
    declared: dict[str, Dims] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    dynamic: set[str] = field(default_factory=set)  # tensors ONNX inference gives a shape with unknown dims

    # ------------------------------------------------------------------ helpers

    def fail(self, msg: str) -> InputError:
        return InputError(f"{self.source}: {msg}")

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def run_node(self, node: onnx.NodeProto, feeds: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Run one node with ONNX's reference evaluator at the model's opsets (`feeds[k]` None: input absent)."""
        from onnx.reference import ReferenceEvaluator

        ins = [f"i{k}" if v is not None else "" for k, v in enumerate(feeds)]
        while ins and not ins[-1]:
            ins.pop()
        outs = [f"o{k}" if o else "" for k, o in enumerate(node.output)]
        n = onnx.NodeProto()
        n.CopyFrom(node)
        del n.input[:]
        n.input.extend(ins)
        del n.output[:]
        n.output.extend(outs)
        g = helper.make_graph([n], "g", [helper.make_value_info(i, onnx.TypeProto()) for i in ins if i],
                              [helper.make_value_info(o, onnx.TypeProto()) for o in outs if o])
        opsets = [helper.make_opsetid(o.domain, o.version) for o in self.model.opset_import]
        res = iter(ReferenceEvaluator(helper.make_model(g, opset_imports=opsets)).run(
            None, {i: np.asarray(feeds[k]) for k, i in enumerate(ins) if i}))
        return [np.asarray(next(res)) if o else None for o in outs]

    def value(self, node: onnx.NodeProto, k: int, what: str) -> np.ndarray | None:
        """The constant value of input `k` (None when absent); an InputError when it is needed but unknown."""
        if k >= len(node.input) or not node.input[k]:
            return None
        t = self.tensors[node.input[k]]
        if t.value is None:
            why = "is computed from activations" if not t.const else "is not known (external data missing?)"
            raise self.fail(f"node {node.name or node.op_type!r} ({node.op_type}): {what} {why}")
        return t.value

    # ------------------------------------------------------------------ passes

    def run(self) -> Workload:
        g = self.model.graph
        self.opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0) or \
            onnx.defs.onnx_opset_version()
        if not g.node and not g.input:
            raise self.fail("not an ONNX model (it holds no graph)")
        for node in g.node:
            self.check_control_flow(node)
        for node in g.node:
            self.used.update(n for n in node.input if n)
        for o in g.output:
            self.used.add(o.name)
        self.init_constants_and_inputs()
        self.infer()
        nodes = list(g.node)
        live = self.live_tensors(nodes)
        for i in self.topo_order(nodes):
            if not any(o in live for o in nodes[i].output):
                continue  # reaches no graph output
            try:
                if self.is_const_node(nodes[i]):
                    self.const_node(nodes[i])
                else:
                    self.activation_node(nodes[i], i)
            except InputError:
                raise
            except Exception as exc:  # a malformed node (missing attribute, inconsistent shapes ...)
                n = nodes[i]
                raise self.fail(f"node {n.name or n.op_type!r} ({n.op_type}): cannot import it: "
                                f"{type(exc).__name__}: {_short(exc)}") from None
        return self.finish()

    def live_tensors(self, nodes: list[onnx.NodeProto]) -> set[str]:
        """Tensors some graph output depends on."""
        producer = {o: n for n in nodes for o in n.output if o}
        live: set[str] = set()
        stack = [o.name for o in self.model.graph.output]
        while stack:
            t = stack.pop()
            if t in live:
                continue
            live.add(t)
            if t in producer:
                stack.extend(i for i in producer[t].input if i)
        return live

    def check_control_flow(self, node: onnx.NodeProto) -> None:
        sub = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
        if node.op_type in CONTROL_FLOW_OPS or sub:
            raise self.fail(f"node {node.name or node.op_type!r} ({node.op_type}) is control flow, "
                            "which cimopt does not support (export the model with a fixed structure)")

    def init_constants_and_inputs(self) -> None:
        g = self.model.graph
        for t in g.initializer:
            self.tensors[t.name] = _Tensor(tuple(int(d) for d in t.dims), True, self.load_initializer(t),
                                           elem=t.data_type)
        for st in g.sparse_initializer:
            self.tensors[st.values.name] = _Tensor(tuple(int(d) for d in st.dims), True, elem=st.values.data_type)
        for vi in list(g.value_info) + list(g.output):
            dims = _static_dims(vi.type)
            if dims is not None:
                self.declared[vi.name] = dims
        weight_inputs = self.weight_only_inputs()
        for inp in g.input:
            if inp.name in self.tensors:
                continue
            if inp.name in weight_inputs:
                self.tensors[inp.name] = _Tensor(_static_dims(inp.type), True, elem=inp.type.tensor_type.elem_type)
                continue
            dims = self.input_dims(inp)
            roles = _default_roles(len(dims))
            name = self.unique(inp.name or "input")
            self.nodes.append(GraphInput(name, "Input", (), _fmap(dims, roles)))
            self.tensors[inp.name] = _Tensor(dims, False, roles=roles, node=name)

    def load_initializer(self, t: onnx.TensorProto) -> np.ndarray | None:
        if math.prod(t.dims) > LOAD_LIMIT:
            return None
        try:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                if self.base_dir is None:
                    return None
                from onnx.external_data_helper import load_external_data_for_tensor

                c = onnx.TensorProto()
                c.CopyFrom(t)
                with warnings.catch_warnings():  # onnx warns about odd keys in damaged files
                    warnings.simplefilter("ignore")
                    load_external_data_for_tensor(c, str(self.base_dir))
                return numpy_helper.to_array(c)
            return numpy_helper.to_array(t)
        except Exception:  # a missing or short external file: keep the shape only
            return None

    def weight_only_inputs(self) -> set[str]:
        """Graph inputs (without initializer) used only as weight operands, possibly through pass-through ops."""
        g = self.model.graph
        consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
        for node in g.node:
            for k, n in enumerate(node.input):
                if n:
                    consumers.setdefault(n, []).append((node, k))
        const_names = {t.name for t in g.initializer} | {o for n in g.node if n.op_type == "Constant"
                                                         for o in n.output}
        outputs = {o.name for o in g.output}

        def weight_only(name: str, depth: int = 0) -> bool:
            uses = consumers.get(name, [])
            if not uses or name in outputs or depth > 16:
                return False
            for node, k in uses:
                if k in WEIGHT_POSITIONS.get(node.op_type, ()):
                    if node.op_type in ("MatMul", "Gemm") and (not node.input[0] or node.input[0] in const_names):
                        return False
                    continue
                if node.op_type in WEIGHT_PASS_OPS and k == 0 and all(
                        weight_only(o, depth + 1) for o in node.output if o):
                    continue
                return False
            return True

        return {i.name for i in g.input if i.name not in const_names and weight_only(i.name)}

    def input_dims(self, inp: onnx.ValueInfoProto) -> Dims:
        tt = inp.type.tensor_type if inp.type.HasField("tensor_type") else None
        if tt is None:
            raise self.fail(f"graph input {inp.name!r} is not a tensor")
        if not tt.HasField("shape"):
            raise self.fail(f"graph input {inp.name!r} has no shape (cimopt needs static input shapes)")
        dims = []
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif axis == 0 and len(tt.shape.dim) >= 2:
                label = d.dim_param or "?"
                self.warnings.append(f"graph input {inp.name!r}: dynamic batch dimension {label!r} set to 1")
                dims.append(1)
            else:
                label = d.dim_param or "unknown"
                raise self.fail(f"graph input {inp.name!r}: dimension {axis} is dynamic ({label!r}); "
                                "cimopt needs static spatial dimensions (export with a fixed input size)")
        if len(dims) >= 3 and dims[0] != 1:
            raise self.fail(f"graph input {inp.name!r}: batch size {dims[0]}, but cimopt schedules one "
                            "inference (batch 1)")
        return tuple(dims)

    def infer(self) -> None:
        """ONNX shape inference on a copy whose graph inputs carry the static shapes chosen above."""
        if not self.use_onnx_inference:
            return
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        g = m.graph
        del g.value_info[:]
        for t in g.initializer:  # inference needs the shapes only: drop big payloads (faster, under 2 GB)
            if math.prod(t.dims) > LOAD_LIMIT and t.data_location != onnx.TensorProto.EXTERNAL:
                for fld in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                    t.ClearField(fld)
                t.data_location = onnx.TensorProto.EXTERNAL
                t.external_data.add(key="location", value="__cimopt_no_data__")
        for o in g.output:  # declared output types may be stale or symbolic: let inference fill them in
            o.ClearField("type")
        for inp in g.input:
            t = self.tensors.get(inp.name)
            if t is not None and t.dims is not None and inp.type.HasField("tensor_type"):
                shape = inp.type.tensor_type.shape
                shape.ClearField("dim")
                for d in t.dims:
                    shape.dim.add().dim_value = d
        try:
            m = onnx.shape_inference.infer_shapes(m, data_prop=True)
        except Exception:  # inference is a help, not a requirement
            return
        for vi in list(m.graph.value_info) + list(m.graph.output):
            dims = _static_dims(vi.type)
            if dims is not None:
                self.inferred[vi.name] = dims
            elif vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                self.dynamic.add(vi.name)

    def topo_order(self, nodes: list[onnx.NodeProto]) -> list[int]:
        """Node indices in a topological order, keeping the file's order wherever it is one (stable Kahn)."""
        producer: dict[str, int] = {}
        for i, node in enumerate(nodes):
            for o in node.output:
                if o:
                    producer[o] = i
        deps: list[set[int]] = []
        users: dict[int, list[int]] = {}
        for i, node in enumerate(nodes):
            d = set()
            for n in node.input:
                if not n or n in self.tensors:
                    continue
                if n not in producer:
                    raise self.fail(f"node {node.name or node.op_type!r} ({node.op_type}) reads tensor {n!r}, "
                                    "which no node, initializer or graph input defines (truncated or invalid model)")
                if producer[n] != i:
                    d.add(producer[n])
            deps.append(d)
            for j in d:
                users.setdefault(j, []).append(i)
        missing = [o.name for o in self.model.graph.output if o.name not in producer and o.name not in self.tensors]
        if missing:
            raise self.fail(f"graph output {missing[0]!r} is not produced by any node (truncated or invalid model)")
        count = [len(d) for d in deps]
        ready = [i for i, c in enumerate(count) if c == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for j in users.get(i, []):
                count[j] -= 1
                if count[j] == 0:
                    heapq.heappush(ready, j)
        if len(order) != len(nodes):
            stuck = next(nodes[i] for i, c in enumerate(count) if c > 0)
            raise self.fail(f"the graph has a cycle through node {stuck.name or stuck.op_type!r}")
        return order

    # ------------------------------------------------------------------ constants

    def is_const_node(self, node: onnx.NodeProto) -> bool:
        if node.op_type in ("Shape", "Size") and node.domain in ("", "ai.onnx"):
            return True
        return all(self.tensors[n].const for n in node.input if n)

    def const_node(self, node: onnx.NodeProto) -> None:
        evaluated = self.eval_const(node)
        for k, o in enumerate(node.output):
            if not o:
                continue
            if evaluated is not None and k < len(evaluated) and evaluated[k] is not None:
                self.tensors[o] = evaluated[k]
            else:
                self.tensors[o] = _Tensor(self.const_dims(node, k), True)

    def eval_const(self, node: onnx.NodeProto) -> list[_Tensor | None] | None:
        """Evaluate a constant node: its outputs' values, or only their shapes when a float input's value is
        unknown (a weight without data: zeros stand in for it; integer inputs, which may steer shapes, never)."""
        op = node.op_type
        a = _attrs(node)
        if op == "Constant":
            return [self.constant_attr(node, a)]
        ins = [self.tensors[n] if n else None for n in node.input]
        if op in ("Shape", "Size"):
            dims = ins[0].dims
            if dims is None:
                return None
            if op == "Size":
                return [_Tensor((), True, np.array(math.prod(dims), dtype=np.int64), elem=onnx.TensorProto.INT64)]
            r = len(dims)
            start = min(max(_norm_axis(a.get("start", 0), r), 0), r)
            end = min(max(_norm_axis(a.get("end", r), r), 0), r)
            v = np.array(dims[start:end], dtype=np.int64)
            return [_Tensor(v.shape, True, v, elem=onnx.TensorProto.INT64)]
        feeds: list[np.ndarray | None] = []
        proxy = False
        for t in ins:
            if t is None:
                feeds.append(None)
            elif t.value is not None:
                feeds.append(t.value)
            elif t.dims is not None and t.elem in FLOAT_ELEMS and math.prod(t.dims) <= VALUE_LIMIT:
                feeds.append(np.zeros(t.dims, dtype=helper.tensor_dtype_to_np_dtype(t.elem)))
                proxy = True
            else:
                return None
        if sum(int(np.asarray(v).size) for v in feeds if v is not None) > VALUE_LIMIT:
            return None
        try:
            results = self.run_node(node, feeds)
        except Exception:
            return None
        out: list[_Tensor | None] = []
        for v in results:
            if v is None:
                out.append(None)
                continue
            try:
                elem = helper.np_dtype_to_tensor_dtype(v.dtype)
            except Exception:
                elem = 0
            out.append(_Tensor(tuple(int(d) for d in v.shape), True, None if proxy else v, elem=elem))
        return out

    def constant_attr(self, node: onnx.NodeProto, a: dict) -> _Tensor | None:
        for attr in node.attribute:
            if attr.name == "value":
                t = attr.t
                dims = tuple(int(d) for d in t.dims)
                if t.data_location == onnx.TensorProto.EXTERNAL or math.prod(t.dims) > LOAD_LIMIT:
                    return _Tensor(dims, True, elem=t.data_type)
                return _Tensor(dims, True, numpy_helper.to_array(t), elem=t.data_type)
        for key, dtype, elem in (("value_float", np.float32, onnx.TensorProto.FLOAT),
                                 ("value_floats", np.float32, onnx.TensorProto.FLOAT),
                                 ("value_int", np.int64, onnx.TensorProto.INT64),
                                 ("value_ints", np.int64, onnx.TensorProto.INT64)):
            if key in a:
                v = np.array(a[key], dtype=dtype)
                return _Tensor(v.shape, True, v, elem=elem)
        return None

    def const_dims(self, node: onnx.NodeProto, k: int) -> Dims | None:
        """Shape of a constant whose value is not evaluated (a large or external weight)."""
        o = node.output[k]
        op, a = node.op_type, _attrs(node)
        ins = [self.tensors[n] if n else None for n in node.input]
        d0 = ins[0].dims if ins and ins[0] is not None else None
        try:
            if d0 is not None and k == 0:
                r = len(d0)
                if op in ("Identity", "Cast", "CastLike", "DequantizeLinear", "QuantizeLinear", "Dropout",
                          "Neg", "Abs", "Sqrt", "Reciprocal", "Exp"):
                    return d0
                if op == "Transpose":
                    perm = a.get("perm", list(range(r))[::-1])
                    return tuple(d0[p] for p in perm)
                if op == "Flatten":
                    ax = _norm_axis(a.get("axis", 1), r)
                    return (math.prod(d0[:ax]), math.prod(d0[ax:]))
                if op in ("Squeeze", "Unsqueeze", "Reshape"):
                    return self.reshape_like_dims(node, d0, a)
                if op in NARY_OPS:
                    return _broadcast([t.dims for t in ins if t is not None and t.dims is not None])
        except (InputError, ValueError, IndexError):
            pass
        return self.inferred.get(o) or self.declared.get(o)

    def reshape_like_dims(self, node: onnx.NodeProto, d0: Dims, a: dict) -> Dims:
        op, r = node.op_type, len(d0)
        if op == "Reshape":
            shape = [int(x) for x in self.value(node, 1, "the target shape")]
            out = [d0[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
            if -1 in out:
                known = math.prod(x for x in out if x != -1)
                out[out.index(-1)] = math.prod(d0) // known if known else 0
            return tuple(out)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(x) for x in self.value(node, 1, "the axes")]
        if op == "Squeeze":
            if axes is None:
                return tuple(d for d in d0 if d != 1)
            drop = {_norm_axis(x, r) for x in axes}
            return tuple(d for i, d in enumerate(d0) if i not in drop)
        out_r = r + len(axes)
        ins = sorted(_norm_axis(x, out_r) for x in axes)
        out, it = [], iter(d0)
        for i in range(out_r):
            out.append(1 if i in ins else next(it))
        return tuple(out)

    # ------------------------------------------------------------------ activations

    def activation_node(self, node: onnx.NodeProto, index: int) -> None:
        op = node.op_type
        label = node.name or op
        if node.domain not in ("", "ai.onnx"):
            outs = self.unknown(node, f"operator {op!r} of domain {node.domain!r} is not known")
        else:
            handler = self.handler(op)
            outs = handler(node) if handler is not None else self.unknown(node, f"operator {op!r} is not known")
        base = node.name or f"{op}_{index}"
        multi = op == "Split"
        for k, o in enumerate(node.output):
            if not o or o not in self.used or k >= len(outs) or outs[k] is None:
                continue
            out = outs[k]
            self.check_dims(node, o, out.dims)
            out = replace(out, roles=_canon_roles(out.dims, out.roles))
            name = self.unique(f"{base}_{k}" if multi or k > 0 else base)
            edges: list[Edge] = []
            for pos in sorted(out.access):
                e = Edge(self.tensors[node.input[pos]].node, out.access[pos])
                if e not in edges:
                    edges.append(e)
            fm = _fmap(out.dims, out.roles)
            if out.layer is not None:
                wn: Node = Layer(name, op, tuple(edges), fm, **out.layer)
            else:
                wn = GpeuOp(name, op, tuple(edges), fm, kind=out.kind)
            self.nodes.append(wn)
            self.tensors[o] = _Tensor(out.dims, False, roles=out.roles, node=name)
        for k, o in enumerate(node.output):
            if o and o in self.used and o not in self.tensors:
                raise self.fail(f"node {label!r} ({op}): output {k} ({o!r}) is used but cimopt cannot compute it")

    def check_dims(self, node: onnx.NodeProto, o: str, dims: Dims) -> None:
        ref = self.inferred.get(o)
        if ref is not None and ref != dims:
            self.warnings.append(f"node {node.name or node.op_type!r} ({node.op_type}): computed shape {list(dims)} "
                                 f"differs from ONNX shape inference {list(ref)}; using the computed one")
        if any(d <= 0 for d in dims):
            raise self.fail(f"node {node.name or node.op_type!r} ({node.op_type}): output shape {list(dims)} is empty")

    def handler(self, op: str) -> Callable[[onnx.NodeProto], list[_Out | None]] | None:
        if op in ("Conv",):
            return self.conv
        if op == "ConvTranspose":
            return self.conv_transpose
        if op in ("Gemm", "MatMul"):
            return self.matmul
        if op in POOL_OPS:
            return self.pool
        if op in GLOBAL_POOL_OPS:
            return self.global_pool
        if op in ACTIVATION_OPS or op in UNARY_OPS or op in NARY_OPS or op in PASS_OPS or op in CHANNEL_NORM_OPS \
                or op == "CastLike":
            return self.elementwise
        if op in FIBER_OPS:
            return self.fiber
        if op in REDUCE_OPS or op == "TopK":
            return self.reduce
        if op in MOVE_OPS:
            return self.move
        if op in ("Resize", "Upsample"):
            return self.resize
        if op == "Einsum":
            return self.einsum
        return None

    def act(self, node: onnx.NodeProto) -> list[int]:
        """Positions of the node's activation inputs."""
        return [k for k, n in enumerate(node.input) if n and not self.tensors[n].const]

    def t(self, node: onnx.NodeProto, k: int) -> _Tensor:
        return self.tensors[node.input[k]]

    def dims_of(self, node: onnx.NodeProto, k: int) -> Dims:
        d = self.t(node, k).dims
        if d is None:
            raise self.fail(f"node {node.name or node.op_type!r} ({node.op_type}): the shape of input {k} "
                            f"({node.input[k]!r}) is unknown")
        return d

    def unknown(self, node: onnx.NodeProto, why: str) -> list[_Out | None]:
        """An op cimopt does not model: a GPEU op of kind 'other' reading all of every activation input."""
        label = node.name or node.op_type
        act = self.act(node)
        outs: list[_Out | None] = []
        assumed = False
        for o in node.output:
            if not o:
                outs.append(None)
                continue
            dims = self.inferred.get(o) or self.declared.get(o)
            if dims is None and o in self.dynamic:
                raise self.fail(f"node {label!r} ({node.op_type}): output {o!r} has a dynamic shape; cimopt needs "
                                "static shapes")
            if dims is None:
                dims = self.dims_of(node, act[0])
                assumed = True
            outs.append(_Out(dims, _default_roles(len(dims)), dict.fromkeys(act, WHOLE), "other"))
        extra = "; output shape assumed equal to its input's" if assumed else ""
        self.warnings.append(f"node {label!r}: {why}; treated as a GPEU op of kind 'other' that reads whole "
                             f"inputs{extra}")
        return outs

    # --- MVM layers

    def conv(self, node: onnx.NodeProto) -> list[_Out | None]:
        label = node.name or node.op_type
        act = self.act(node)
        if act != [0]:
            return self.unknown(node, "Conv with computed (non-constant) weights")
        x = self.t(node, 0)
        xd = x.dims
        wd = self.t(node, 1).dims
        if wd is None:
            raise self.fail(f"node {label!r} (Conv): the weight shape is unknown")
        r = len(xd)
        if r < 3 or len(wd) != r:
            raise self.fail(f"node {label!r} (Conv): input rank {r} and weight rank {len(wd)} do not match")
        if xd[0] != 1:
            raise self.fail(f"node {label!r} (Conv): batch size {xd[0]}, but cimopt schedules one inference (batch 1)")
        a = _attrs(node)
        groups = int(a.get("group", 1))
        cout, cin_g, kernel = wd[0], wd[1], list(wd[2:])
        if cin_g * groups != xd[1] or cout % groups:
            raise self.fail(f"node {label!r} (Conv): weight {list(wd)} with group={groups} does not fit input "
                            f"{list(xd)}")
        sp = r - 2
        strides = list(a.get("strides", [1] * sp))
        dil = list(a.get("dilations", [1] * sp))
        pads = _auto_pads(a.get("auto_pad", "NOTSET"), xd[2:], kernel, strides, dil, a.get("pads", []))
        out_sp = [_pool_out(xd[2 + i], kernel[i], strides[i], pads[i], pads[sp + i], dil[i], False)
                  for i in range(sp)]
        dims = (1, cout, *out_sp)
        roles = ("h", "c", "h") if sp == 1 else _default_roles(r)
        in_roles = roles if x.roles == roles else x.roles
        per_axis = {2 + i: AxisMap(num=strides[i], offset=-pads[i], extent=dil[i] * (kernel[i] - 1))
                    for i in range(sp)}
        if sp == 2 and x.roles == roles:
            access = conv_access((kernel[0], kernel[1]), (strides[0], strides[1]), (pads[0], pads[1], pads[2],
                                 pads[3]), (dil[0], dil[1]))
        else:
            access = _axis_access(xd, in_roles, dims, roles, per_axis) or WHOLE
        if sp == 2:
            geo = dict(kernel=(kernel[0], kernel[1]), stride=(strides[0], strides[1]),
                       pads=(pads[0], pads[1], pads[2], pads[3]), dilation=(dil[0], dil[1]))
        elif sp == 1:
            geo = dict(kernel=(kernel[0], 1), stride=(strides[0], 1), pads=(pads[0], 0, pads[1], 0),
                       dilation=(dil[0], 1))
        else:
            geo = dict(kernel=(kernel[-2], kernel[-1]), stride=(strides[-2], strides[-1]),
                       pads=(pads[sp - 2], pads[sp - 1], pads[2 * sp - 2], pads[2 * sp - 1]),
                       dilation=(dil[-2], dil[-1]))
        layer = dict(groups=groups, group_rows=cin_g * math.prod(kernel), group_cols=cout // groups, **geo)
        return [_Out(dims, roles, {0: access}, "conv", layer)]

    def conv_transpose(self, node: onnx.NodeProto) -> list[_Out | None]:
        label = node.name or node.op_type
        act = self.act(node)
        xd, wd = self.dims_of(node, 0), self.t(node, 1).dims
        if act != [0] or wd is None or len(xd) != len(wd) or len(xd) < 3:
            return self.unknown(node, "ConvTranspose with a computed or unknown weight")
        a = _attrs(node)
        sp = len(xd) - 2
        groups = int(a.get("group", 1))
        kernel = list(wd[2:])
        strides = list(a.get("strides", [1] * sp))
        dil = list(a.get("dilations", [1] * sp))
        outpad = list(a.get("output_padding", [0] * sp))
        auto = a.get("auto_pad", "NOTSET")
        if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
            out_sp = list(a["output_shape"])[-sp:] if "output_shape" in a else [xd[2 + i] * strides[i]
                                                                               for i in range(sp)]
            totals = [strides[i] * (xd[2 + i] - 1) + outpad[i] + (kernel[i] - 1) * dil[i] + 1 - out_sp[i]
                      for i in range(sp)]
            begins = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        else:
            p = [0] * 2 * sp if auto == "VALID" else list(a.get("pads", [0] * 2 * sp))
            out_sp = [strides[i] * (xd[2 + i] - 1) + outpad[i] + (kernel[i] - 1) * dil[i] + 1 - p[i] - p[sp + i]
                      for i in range(sp)]
            begins = p[:sp]
        dims = (xd[0], wd[1] * groups, *out_sp)
        roles = self.t(node, 0).roles
        # output y reads inputs x with x*s - p + j*d = y, j in [0, k): x in [(y + p - d(k-1)) / s, (y + p) / s]
        per_axis = {2 + i: AxisMap(num=1, den=strides[i], offset=begins[i] - dil[i] * (kernel[i] - 1),
                                   extent=dil[i] * (kernel[i] - 1)) for i in range(sp)}
        access = _axis_access(xd, roles, dims, roles, per_axis) or WHOLE
        self.warnings.append(f"node {label!r}: ConvTranspose is not mapped to crossbars; treated as a GPEU op of "
                             "kind 'other'")
        return [_Out(dims, roles, {0: access}, "other")]

    def matmul(self, node: onnx.NodeProto) -> list[_Out | None]:
        op, label = node.op_type, node.name or node.op_type
        a = _attrs(node)
        act = self.act(node)
        ad, bd = self.dims_of(node, 0), self.t(node, 1).dims
        if op == "Gemm":
            ad2 = ad[::-1] if a.get("transA", 0) else ad
            if bd is None:
                raise self.fail(f"node {label!r} (Gemm): the shape of B is unknown")
            bd2 = bd[::-1] if a.get("transB", 0) else bd
            if len(ad2) != 2 or len(bd2) != 2 or ad2[1] != bd2[0]:
                raise self.fail(f"node {label!r} (Gemm): shapes {list(ad)} and {list(bd)} do not multiply")
            dims = (ad2[0], bd2[1])
            k, n = ad2[1], bd2[1]
        else:
            if bd is None:
                raise self.fail(f"node {label!r} (MatMul): the shape of B is unknown")
            try:
                dims = _matmul_dims(ad, bd)
            except ValueError:
                raise self.fail(f"node {label!r} (MatMul): shapes {list(ad)} and {list(bd)} do not multiply") from None
            k = ad[-1]
            n = bd[-1] if len(bd) > 1 else 1
        a_act, b_act = 0 in act, 1 in act
        # output axes keep A's roles, its last axis (features) is channels
        lead = len(dims) - len(ad) + (0 if len(bd) > 1 else 1)
        a_roles = self.t(node, 0).roles if a_act and len(ad) >= 2 and lead >= 0 and op == "MatMul" else ()
        kept = ("h",) * lead + a_roles[:-1] + ("c",) if a_roles and len(bd) > 1 else _default_roles(len(dims))
        if b_act or not a_act:
            roles = kept
            if not b_act:
                self.warnings.append(f"node {label!r} ({op}): constant left operand; runs on the GPEU")
            return [_Out(dims, roles, dict.fromkeys(act, WHOLE), "matmul")]
        if op == "MatMul" and len([d for d in bd if d != 1]) > 2:
            self.warnings.append(f"node {label!r} (MatMul): batched constant operand {list(bd)}; runs on the GPEU")
            return [_Out(dims, _default_roles(len(dims)), dict.fromkeys(act, WHOLE), "matmul")]
        # an MVM per row of A: every leading axis must be a pixel axis
        pixel_rows = all(r != "c" or d == 1 for r, d in zip(kept[:-1], dims[:-1], strict=True))
        roles = kept if pixel_rows else _rows_roles(len(dims)) if len(dims) >= 4 else _default_roles(len(dims))
        x = self.t(node, 0)
        fm_in = _fmap(ad, x.roles)
        if fm_in.pixels == 1 or (op == "Gemm" and a.get("transA", 0)):
            access = WHOLE
        elif x.roles == roles and ad[:-1] == dims[:-1] and roles[-1] == "c":
            access = ELEMENTWISE
        else:  # element (..., m, j) of A feeds output element (..., m, 0)
            lead = len(dims) - (len(ad) if len(bd) > 1 else len(ad) - 1)

            def to_out(c: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
                zero = np.zeros_like(c[-1])
                return (zero,) * lead + c[:-1] + ((zero,) if len(bd) > 1 else ())

            access = self.forward_access(ad, x.roles, dims, roles, to_out) or WHOLE
        extra = {k2: WHOLE for k2 in act if k2 != 0}
        layer = dict(groups=1, group_rows=int(k), group_cols=int(n))
        return [_Out(dims, roles, {0: access, **extra}, "matmul", layer)]

    # --- GPEU ops

    def pool(self, node: onnx.NodeProto) -> list[_Out | None]:
        label = node.name or node.op_type
        x = self.t(node, 0)
        xd = x.dims
        r = len(xd)
        if r < 3:
            raise self.fail(f"node {label!r} ({node.op_type}): input rank {r} is too small for pooling")
        a = _attrs(node)
        sp = r - 2
        kernel = list(a["kernel_shape"])
        strides = list(a.get("strides", [1] * sp))
        dil = list(a.get("dilations", [1] * sp))
        pads = _auto_pads(a.get("auto_pad", "NOTSET"), xd[2:], kernel, strides, dil, a.get("pads", []))
        ceil_mode = bool(a.get("ceil_mode", 0))
        out_sp = [_pool_out(xd[2 + i], kernel[i], strides[i], pads[i], pads[sp + i], dil[i], ceil_mode)
                  for i in range(sp)]
        dims = (*xd[:2], *out_sp)
        per_axis = {2 + i: AxisMap(num=strides[i], offset=-pads[i], extent=dil[i] * (kernel[i] - 1))
                    for i in range(sp)}
        access = _axis_access(xd, x.roles, dims, x.roles, per_axis)
        if access is None:
            access = WHOLE
        out = _Out(dims, x.roles, {0: access}, "pool")
        return [out, out]  # MaxPool's optional Indices output has the same shape

    def global_pool(self, node: onnx.NodeProto) -> list[_Out | None]:
        x = self.t(node, 0)
        dims = (*x.dims[:2], *([1] * (len(x.dims) - 2)))
        access = _axis_access(x.dims, x.roles, dims, x.roles,
                              {a: AxisMap(num=0, extent=x.dims[a] - 1) for a in range(2, len(x.dims))}) or WHOLE
        return [_Out(dims, x.roles, {0: access}, "pool")]

    def elementwise(self, node: onnx.NodeProto) -> list[_Out | None]:
        op = node.op_type
        act = self.act(node)
        if op in CHANNEL_NORM_OPS or op in PASS_OPS or op in ("CastLike", "Clip"):
            data = [0] + [k for k in act if k != 0]
        else:
            data = [k for k, n in enumerate(node.input) if n]
        try:
            dims = _broadcast([self.dims_of(node, k) for k in data])
        except ValueError:
            raise self.fail(f"node {node.name or op!r} ({op}): input shapes "
                            f"{[list(self.dims_of(node, k)) for k in data]} do not broadcast") from None
        src = next((k for k in act if self.t(node, k).dims == dims), None)
        roles = self.t(node, src).roles if src is not None else _default_roles(len(dims))
        access = {k: self.broadcast_access(node, k, dims, roles) for k in act}
        if op in ACTIVATION_OPS:
            kind = "activation"
        elif op in CHANNEL_NORM_OPS:
            kind = "norm"
        elif op in PASS_OPS:
            kind = "reshape"
        else:
            kind = "elementwise"
        out = _Out(dims, roles, access, kind)
        return [out] + [None] * (len(node.output) - 1)

    def broadcast_access(self, node: onnx.NodeProto, k: int, dims: Dims, roles: Roles) -> Access:
        t = self.t(node, k)
        if t.dims == dims and t.roles == roles:
            return ELEMENTWISE
        size = math.prod(t.dims)
        idx = np.broadcast_to(np.arange(size, dtype=np.int64).reshape(t.dims), dims)
        if idx.size > INDEX_LIMIT:
            return WHOLE
        return _fit_pairs(dims, roles, t.dims, t.roles, None, idx.ravel())

    def fiber(self, node: onnx.NodeProto) -> list[_Out | None]:
        op = node.op_type
        x = self.t(node, 0)
        dims, r = x.dims, len(x.dims)
        a = _attrs(node)
        if op in ("Softmax", "LogSoftmax", "Hardmax"):
            axis = _norm_axis(a.get("axis", -1 if self.opset >= 13 else 1), r)
            axes = [axis] if self.opset >= 13 else list(range(axis, r))
            kind = "softmax"
        elif op in ("LayerNormalization", "RMSNormalization", "SimplifiedLayerNormalization"):
            axes = list(range(_norm_axis(a.get("axis", -1), r), r))
            kind = "norm"
        elif op in ("InstanceNormalization", "GroupNormalization"):
            axes = list(range(1 if op == "GroupNormalization" else 2, r))
            kind = "norm"
        elif op == "LpNormalization":
            axes = [_norm_axis(a.get("axis", -1), r)]
            kind = "norm"
        elif op == "MeanVarianceNormalization":
            axes = [_norm_axis(x2, r) for x2 in a.get("axes", [0, 2, 3])]
            kind = "norm"
        else:  # CumSum
            axes = [_norm_axis(int(self.value(node, 1, "the axis")), r)]
            kind = "reduce"
        access = {0: _fiber_access(dims, x.roles, axes)}
        for k in self.act(node):
            if k != 0:
                access[k] = WHOLE
        outs: list[_Out | None] = [_Out(dims, x.roles, access, kind)]
        if op == "LayerNormalization":  # optional Mean and InvStdDev outputs
            red = tuple(1 if i in axes else d for i, d in enumerate(dims))
            outs += [_Out(red, x.roles, {0: _fiber_access(dims, x.roles, axes)}, kind)] * 2
        return outs

    def reduce(self, node: onnx.NodeProto) -> list[_Out | None]:
        op = node.op_type
        x = self.t(node, 0)
        xd, r = x.dims, len(x.dims)
        a = _attrs(node)
        keep = bool(a.get("keepdims", 1))
        if op in ("ArgMax", "ArgMin"):
            axes = [_norm_axis(a.get("axis", 0), r)]
        elif op == "TopK":
            axis = _norm_axis(a.get("axis", -1), r)
            kk = int(np.asarray(self.value(node, 1, "K")).reshape(-1)[0])
            dims = tuple(kk if i == axis else d for i, d in enumerate(xd))
            access = _axis_access(xd, x.roles, dims, x.roles, {axis: _full_map(xd[axis])}) or WHOLE
            out = _Out(dims, x.roles, {0: access}, "reduce")
            return [out, out]
        else:
            axes_v = a.get("axes")
            if axes_v is None and len(node.input) > 1 and node.input[1]:
                axes_v = [int(v) for v in np.asarray(self.value(node, 1, "the axes")).reshape(-1)]
            if not axes_v:
                axes_v = [] if a.get("noop_with_empty_axes", 0) else list(range(r))
            axes = sorted({_norm_axis(int(v), r) for v in axes_v})
        if not axes:
            return [_Out(xd, x.roles, {0: ELEMENTWISE}, "reduce")]
        if keep:
            dims = tuple(1 if i in axes else d for i, d in enumerate(xd))
            roles = x.roles
        else:
            dims = tuple(d for i, d in enumerate(xd) if i not in axes)
            roles = _default_roles(len(dims))
        if keep:
            access = self.forward_access(xd, x.roles, dims, roles,
                                         lambda c: tuple(np.zeros_like(v) if i in axes else v for i, v in enumerate(c)))
        else:
            access = self.forward_access(xd, x.roles, dims, roles,
                                         lambda c: tuple(v for i, v in enumerate(c) if i not in axes))
        return [_Out(dims, roles, {0: access or WHOLE}, "reduce")]

    def forward_access(self, in_dims: Dims, in_roles: Roles, out_dims: Dims, out_roles: Roles,
                       coord_map: Callable[[tuple[np.ndarray, ...]], tuple[np.ndarray, ...]]) -> Access | None:
        """Access of an op where input element with coordinates `c` feeds output element `coord_map(c)`."""
        size = math.prod(in_dims)
        if size > INDEX_LIMIT:
            return None
        flat = np.arange(size, dtype=np.int64)
        coords = np.unravel_index(flat, in_dims) if in_dims else ()
        out_coords = coord_map(tuple(np.asarray(c, dtype=np.int64) for c in coords))
        out_flat = np.ravel_multi_index(out_coords, out_dims) if out_dims else np.zeros(size, dtype=np.int64)
        return _fit_pairs(out_dims, out_roles, in_dims, in_roles, np.asarray(out_flat, dtype=np.int64), flat)

    def move(self, node: onnx.NodeProto) -> list[_Out | None]:
        """Data movement: run the op on element indices and fit each output pixel's reads."""
        op = node.op_type
        label = node.name or op
        act = self.act(node)
        data = list(range(len(node.input))) if op == "Concat" else [0]
        if any(k not in data for k in act):
            if op in ("Gather", "GatherElements"):  # computed indices: each output reads the whole data
                dd, di = self.dims_of(node, 0), self.dims_of(node, 1)
                ax = _norm_axis(_attrs(node).get("axis", 0), len(dd))
                dims = di if op == "GatherElements" else dd[:ax] + di + dd[ax + 1:]
                return [_Out(dims, _default_roles(len(dims)), dict.fromkeys(act, WHOLE), "slice")]
            raise self.fail(f"node {label!r} ({op}): a shape or index operand is computed from activations")
        feeds: list[np.ndarray | None] = []
        offsets: dict[int, int] = {}
        start = 0
        for k, n in enumerate(node.input):
            if not n:
                feeds.append(None)
                continue
            t = self.tensors[n]
            if k in data:
                if t.dims is None:
                    raise self.fail(f"node {label!r} ({op}): the shape of input {k} ({n!r}) is unknown")
                size = math.prod(t.dims)
                if k in act:
                    feeds.append(np.arange(start, start + size, dtype=np.int64).reshape(t.dims))
                    offsets[k] = start
                    start += size
                else:
                    feeds.append(np.full(t.dims, -1, dtype=np.int64))
            elif op == "Pad" and k == 2:
                feeds.append(None)
            else:
                what = {"Reshape": "the target shape", "Slice": "the slice bounds", "Pad": "the pads",
                        "Tile": "the repeats", "Expand": "the target shape", "Split": "the split sizes",
                        "Gather": "the indices", "Squeeze": "the axes", "Unsqueeze": "the axes"}.get(op, "an operand")
                feeds.append(self.value(node, k, what))
        if op == "Pad" and self.opset >= 11:  # padding reads nothing: mark it -1
            feeds += [None] * (3 - len(feeds))
            feeds[2] = np.array(-1, dtype=np.int64)
        elif op == "Pad":
            node = _with_attr(node, "value", -1.0)
        if start > INDEX_LIMIT:
            self.warnings.append(f"node {label!r} ({op}): tensor too large for an exact access; each output "
                                 "pixel reads the whole input")
            return self.unknown_shape_whole(node, MOVE_OPS[op])
        try:
            results = self.run_node(node, feeds)
        except Exception as exc:
            raise self.fail(f"node {label!r} ({op}): cannot evaluate it on input shapes "
                            f"{[list(self.tensors[node.input[k]].dims or ()) for k in data if node.input[k]]}: "
                            f"{_short(exc)}") from None
        outs: list[_Out | None] = []
        for res in results:
            if res is None:
                outs.append(None)
                continue
            dims = tuple(int(d) for d in res.shape)
            roles = self.move_roles(node, dims, act)
            flat = res.astype(np.int64).ravel()
            touched = self.touched_axes(node, dims)
            access = {}
            for k in act:
                t = self.tensors[node.input[k]]
                if touched is not None and _channel_only(t.dims, t.roles, dims, roles, touched):
                    access[k] = ELEMENTWISE
                    continue
                lo, size = offsets[k], math.prod(t.dims)
                if len(act) == 1 and lo == 0 and flat.min() >= 0:  # every output element reads this input
                    access[k] = _fit_pairs(dims, roles, t.dims, t.roles, None, flat)
                    continue
                mask = (flat >= lo) & (flat < lo + size)
                if not mask.any():
                    continue
                access[k] = _fit_pairs(dims, roles, t.dims, t.roles, np.flatnonzero(mask), flat[mask] - lo)
            outs.append(_Out(dims, roles, access, MOVE_OPS[op]))
        return outs

    def touched_axes(self, node: onnx.NodeProto, out_dims: Dims) -> set[int] | None:
        """Axes an axis-wise data-movement op changes (others are copied as they are); None: not axis-wise."""
        op, a, r = node.op_type, _attrs(node), len(out_dims)
        try:
            if op in ("Concat", "Split", "Gather"):
                return {_norm_axis(a.get("axis", 0), r)}
            if op == "Slice":
                axes = a.get("axes")
                if axes is None and self.opset >= 10:
                    if len(node.input) > 3 and node.input[3]:
                        axes = self.value(node, 3, "the slice axes")
                    else:
                        axes = range(len(np.asarray(self.value(node, 1, "the slice starts")).reshape(-1)))
                if axes is None:
                    axes = range(len(a.get("starts", [])))
                return {_norm_axis(int(x), r) for x in np.asarray(list(axes)).reshape(-1)}
            if op == "Expand":
                d0 = self.dims_of(node, 0)
                return {i for i in range(r) if i < r - len(d0) or d0[i - (r - len(d0))] != out_dims[i]}
            if op == "Tile":
                reps = np.asarray(self.value(node, 1, "the repeats")).reshape(-1)
                return {i for i, x in enumerate(reps) if int(x) != 1}
        except (InputError, ValueError, TypeError):
            return None
        return None

    def move_roles(self, node: onnx.NodeProto, dims: Dims, act: list[int]) -> Roles:
        """Roles of a data-movement output: the axes keep their roles where the op keeps the axes."""
        op = node.op_type
        t = self.tensors[node.input[act[0]]]
        if op == "Transpose" and len(t.roles) == len(dims):
            perm = _attrs(node).get("perm", list(range(len(dims)))[::-1])
            return tuple(t.roles[p] for p in perm)
        if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
            return _reshape_roles(t.dims, t.roles, dims)
        if op in ("DepthToSpace", "SpaceToDepth") or len(t.roles) != len(dims):
            return _default_roles(len(dims))
        return t.roles

    def unknown_shape_whole(self, node: onnx.NodeProto, kind: str) -> list[_Out | None]:
        """Shape from ONNX inference (or the declared value_info), access WHOLE; for oversized or odd cases."""
        outs: list[_Out | None] = []
        for o in node.output:
            dims = self.inferred.get(o) or self.declared.get(o)
            if dims is None:
                raise self.fail(f"node {node.name or node.op_type!r} ({node.op_type}): cannot determine the shape "
                                f"of output {o!r}")
            outs.append(_Out(dims, _default_roles(len(dims)), dict.fromkeys(self.act(node), WHOLE), kind))
        return outs

    def resize(self, node: onnx.NodeProto) -> list[_Out | None]:
        op, label = node.op_type, node.name or node.op_type
        x = self.t(node, 0)
        xd, r = x.dims, len(x.dims)
        a = _attrs(node)
        mode = a.get("mode", "nearest")
        if op == "Upsample" or self.opset < 11:
            scales_v = a.get("scales")
            if scales_v is None:
                scales_v = self.value(node, 1, "the scales")
            scales = [float(s) for s in np.asarray(scales_v).reshape(-1)]
            sizes = None
            ctm = "asymmetric"
            nearest_mode = "floor" if op == "Upsample" else a.get("nearest_mode", "round_prefer_floor")
            if op == "Resize":
                nearest_mode = "floor"
        else:
            scales_v = self.value(node, 2, "the scales") if len(node.input) > 2 and node.input[2] else None
            sizes_v = self.value(node, 3, "the sizes") if len(node.input) > 3 and node.input[3] else None
            if scales_v is not None and np.asarray(scales_v).size == 0:
                scales_v = None
            if sizes_v is not None and np.asarray(sizes_v).size == 0:
                sizes_v = None
            axes = [_norm_axis(v, r) for v in a.get("axes", range(r))]
            scales = [1.0] * r
            sizes = None
            if scales_v is not None:
                for ax, s in zip(axes, np.asarray(scales_v, dtype=np.float64).reshape(-1), strict=True):
                    scales[ax] = float(s)
            elif sizes_v is not None:
                sizes = list(xd)
                sv = [int(v) for v in np.asarray(sizes_v).reshape(-1)]
                policy = a.get("keep_aspect_ratio_policy", "stretch")
                if policy in ("not_larger", "not_smaller"):
                    ratios = [sv[i] / xd[ax] for i, ax in enumerate(axes)]
                    s = min(ratios) if policy == "not_larger" else max(ratios)
                    for ax in axes:
                        sizes[ax] = int(math.floor(xd[ax] * s + 0.5))
                        scales[ax] = s
                else:
                    for i, ax in enumerate(axes):
                        sizes[ax] = sv[i]
                        scales[ax] = sv[i] / xd[ax]
            else:
                raise self.fail(f"node {label!r} (Resize): neither scales nor sizes are given")
            ctm = a.get("coordinate_transformation_mode", "half_pixel")
            nearest_mode = a.get("nearest_mode", "round_prefer_floor")
        dims = tuple(sizes[i] if sizes is not None else int(math.floor(xd[i] * scales[i] + 1e-9)) for i in range(r))
        if ctm == "tf_crop_and_resize":
            return [_Out(dims, x.roles, {0: WHOLE}, "resize")]
        per_axis = {}
        for i in range(r):
            if dims[i] == xd[i] and scales[i] == 1.0:
                continue
            lo, hi = _resize_windows(xd[i], dims[i], scales[i], mode, ctm, nearest_mode,
                                     bool(a.get("antialias", 0)))
            per_axis[i] = _fit_axis(lo, hi, xd[i])
        access = _axis_access(xd, x.roles, dims, x.roles, per_axis) or WHOLE
        return [_Out(dims, x.roles, {0: access}, "resize")]

    def einsum(self, node: onnx.NodeProto) -> list[_Out | None]:
        eq = _attrs(node)["equation"].replace(" ", "")
        shapes = [self.dims_of(node, k) for k in range(len(node.input))]
        try:
            dims = _einsum_dims(eq, shapes)
        except (ValueError, KeyError, IndexError):
            raise self.fail(f"node {node.name or 'Einsum'!r} (Einsum): cannot read equation {eq!r}") from None
        return [_Out(dims, _default_roles(len(dims)), dict.fromkeys(self.act(node), WHOLE), "matmul")]

    # ------------------------------------------------------------------ result

    def finish(self) -> Workload:
        """Drop nodes that reach no graph output; keep the order."""
        producers = {n.name: n for n in self.nodes}
        keep: set[str] = set()
        stack = [self.tensors[o.name].node for o in self.model.graph.output
                 if o.name in self.tensors and not self.tensors[o.name].const]
        while stack:
            n = stack.pop()
            if n in keep:
                continue
            keep.add(n)
            stack.extend(e.source for e in producers[n].inputs)
        nodes = tuple(n for n in self.nodes if n.name in keep)
        if not any(not isinstance(n, GraphInput) for n in nodes):
            raise self.fail("no computation reaches the graph outputs (are all outputs constant?)")
        return Workload(self.name, nodes, tuple(self.warnings))


def _with_attr(node: onnx.NodeProto, name: str, value: float) -> onnx.NodeProto:
    n = onnx.NodeProto()
    n.CopyFrom(node)
    for attr in n.attribute:
        if attr.name == name:
            attr.f = value
            return n
    n.attribute.append(helper.make_attribute(name, value))
    return n


def _matmul_dims(a: Dims, b: Dims) -> Dims:
    """numpy.matmul's output shape."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError("inner dimensions differ")
    batch = _broadcast([a2[:-2], b2[:-2]])
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _einsum_dims(eq: str, shapes: Sequence[Dims]) -> Dims:
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    ell: Dims = ()
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            pre, post = term.split("...")
            n_ell = len(shape) - len(pre) - len(post)
            ell = _broadcast([ell, shape[len(pre):len(pre) + n_ell]])
            letters = list(pre) + list(post)
            dims = list(shape[:len(pre)]) + list(shape[len(pre) + n_ell:])
        else:
            letters, dims = list(term), list(shape)
        for ch, d in zip(letters, dims, strict=True):
            sizes[ch] = max(sizes.get(ch, 1), d)
    if not arrow:
        counts = {ch: lhs.count(ch) for ch in sizes}
        rhs = ("..." if ell else "") + "".join(sorted(ch for ch, c in counts.items() if c == 1))
    out: list[int] = []
    pre, dots, post = rhs.partition("...")
    out += [sizes[ch] for ch in pre]
    if dots:
        out += list(ell)
    out += [sizes[ch] for ch in post]
    return tuple(out)


def _resize_windows(n_in: int, n_out: int, scale: float, mode: str, ctm: str, nearest_mode: str,
                    antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Input index window `[lo, hi]` read by each output index of one resized axis (ONNX Resize formulas)."""
    o = np.arange(n_out, dtype=np.float64)
    if ctm == "half_pixel":
        x = (o + 0.5) / scale - 0.5
    elif ctm == "half_pixel_symmetric":
        adj = n_out / (scale * n_in)
        x = n_in / 2 * (1 - adj) + (o + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        x = (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(o)
    elif ctm == "align_corners":
        x = o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(o)
    elif ctm == "tf_half_pixel_for_nn":
        x = (o + 0.5) / scale
    else:  # asymmetric
        x = o / scale
    eps = 1e-6
    if mode == "nearest":
        if nearest_mode == "floor":
            idx = np.floor(x + eps)
        elif nearest_mode == "ceil":
            idx = np.ceil(x - eps)
        elif nearest_mode == "round_prefer_ceil":
            idx = np.floor(x + 0.5 + eps)
        else:  # round_prefer_floor
            idx = np.ceil(x - 0.5 - eps)
        lo = hi = np.clip(idx, 0, n_in - 1)
    else:  # linear reads floor(x) .. floor(x)+1, cubic floor(x)-1 .. floor(x)+2; antialias widens the filter
        support = 2.0 if mode == "cubic" else 1.0
        if antialias and scale < 1:
            lo = np.clip(np.floor(x - support / scale), 0, n_in - 1)
            hi = np.clip(np.ceil(x + support / scale), 0, n_in - 1)
        else:
            lo = np.clip(np.floor(x - eps) - (support - 1), 0, n_in - 1)
            hi = np.clip(np.floor(x + eps) + support, 0, n_in - 1)
    return lo.astype(np.int64), hi.astype(np.int64)


def _import(model: onnx.ModelProto, name: str, source: str, base_dir: Path | None,
            use_onnx_inference: bool = True) -> Workload:
    if not isinstance(model, onnx.ModelProto):
        raise InputError(f"{source}: not an ONNX model")
    if not model.HasField("graph"):
        raise InputError(f"{source}: not an ONNX model (it holds no graph)")
    if model.functions:
        try:
            model = inline_local_functions(model)
        except Exception as exc:
            raise InputError(f"{source}: cannot inline the model's local functions: {_short(exc)}") from None
    return _Importer(model, name, source, base_dir, use_onnx_inference).run()
