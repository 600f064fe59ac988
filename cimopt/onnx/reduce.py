"""Reductions: same-shape ops that reduce along some axes (the fiber) and broadcast back (softmax, layer and
instance norms, CumSum), and shape-reducing ones (Reduce*, ArgMax/ArgMin, TopK). An output pixel reads the
whole fiber through it: pixels along a reduced pixel axis are all read, channels stay inside the pixel."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import onnx

from cimopt.onnx.axes import axis_access, default_roles, fiber_access, forward_access, full_map, norm_axis
from cimopt.onnx.graph import attrs
from cimopt.onnx.tensors import Out
from cimopt.workload import ELEMENTWISE, WHOLE

if TYPE_CHECKING:
    from cimopt.onnx.importer import Handler, Importer

AxesRule = Callable[["Importer", onnx.NodeProto, dict, int], list[int]]


def _softmax_axes(imp: Importer, node: onnx.NodeProto, a: dict, r: int) -> list[int]:
    axis = norm_axis(a.get("axis", -1 if imp.opset >= 13 else 1), r)
    return [axis] if imp.opset >= 13 else list(range(axis, r))  # before opset 13: the flattened tail


def _trailing_axes(imp: Importer, node: onnx.NodeProto, a: dict, r: int) -> list[int]:
    return list(range(norm_axis(a.get("axis", -1), r), r))


def _from_axis(first: int) -> AxesRule:
    return lambda imp, node, a, r: list(range(first, r))


def _one_axis(imp: Importer, node: onnx.NodeProto, a: dict, r: int) -> list[int]:
    return [norm_axis(a.get("axis", -1), r)]


def _mvn_axes(imp: Importer, node: onnx.NodeProto, a: dict, r: int) -> list[int]:
    return [norm_axis(x2, r) for x2 in a.get("axes", [0, 2, 3])]


def _cumsum_axes(imp: Importer, node: onnx.NodeProto, a: dict, r: int) -> list[int]:
    return [norm_axis(int(imp.value(node, 1, "the axis")), r)]


#: Same-shape ops over a fiber: op -> (the fiber's axes, GPEU kind).
FIBER_RULES: dict[str, tuple[AxesRule, str]] = {
    **dict.fromkeys(("Softmax", "LogSoftmax", "Hardmax"), (_softmax_axes, "softmax")),
    **dict.fromkeys(("LayerNormalization", "RMSNormalization", "SimplifiedLayerNormalization"),
                    (_trailing_axes, "norm")),
    "InstanceNormalization": (_from_axis(2), "norm"),
    "GroupNormalization": (_from_axis(1), "norm"),
    "LpNormalization": (_one_axis, "norm"),
    "MeanVarianceNormalization": (_mvn_axes, "norm"),
    "CumSum": (_cumsum_axes, "reduce"),
}
REDUCE_OPS = frozenset({
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
})


def fiber(imp: Importer, node: onnx.NodeProto, rule: AxesRule, kind: str) -> list[Out | None]:
    """Same shape out; input 0 is read along the fiber, other activation inputs whole."""
    x = imp.t(node, 0)
    dims, r = x.dims, len(x.dims)
    axes = rule(imp, node, attrs(node), r)
    access = {0: fiber_access(dims, x.roles, axes)}
    for k in imp.act(node):
        if k != 0:
            access[k] = WHOLE
    outs: list[Out | None] = [Out(dims, x.roles, access, kind)]
    if node.op_type == "LayerNormalization":  # optional Mean and InvStdDev outputs
        red = tuple(1 if i in axes else d for i, d in enumerate(dims))
        outs += [Out(red, x.roles, {0: fiber_access(dims, x.roles, axes)}, kind)] * 2
    return outs


def _reduced_axes(imp: Importer, node: onnx.NodeProto, a: dict, r: int) -> list[int]:
    if node.op_type in ("ArgMax", "ArgMin"):
        return [norm_axis(a.get("axis", 0), r)]
    axes_v = a.get("axes")
    if axes_v is None and len(node.input) > 1 and node.input[1]:
        axes_v = [int(v) for v in np.asarray(imp.value(node, 1, "the axes")).reshape(-1)]
    if not axes_v:
        axes_v = [] if a.get("noop_with_empty_axes", 0) else list(range(r))
    return sorted({norm_axis(int(v), r) for v in axes_v})


def reduce(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """Reduce* and ArgMax/ArgMin: the reduced axes are dropped (or kept at size 1 with keepdims)."""
    x = imp.t(node, 0)
    xd, r = x.dims, len(x.dims)
    a = attrs(node)
    keep = bool(a.get("keepdims", 1))
    axes = _reduced_axes(imp, node, a, r)
    if not axes:
        return [Out(xd, x.roles, {0: ELEMENTWISE}, "reduce")]
    if keep:
        dims = tuple(1 if i in axes else d for i, d in enumerate(xd))
        roles = x.roles
        access = forward_access(xd, x.roles, dims, roles,
                                lambda c: tuple(np.zeros_like(v) if i in axes else v for i, v in enumerate(c)))
    else:
        dims = tuple(d for i, d in enumerate(xd) if i not in axes)
        roles = default_roles(len(dims))
        access = forward_access(xd, x.roles, dims, roles,
                                lambda c: tuple(v for i, v in enumerate(c) if i not in axes))
    return [Out(dims, roles, {0: access or WHOLE}, "reduce")]


def top_k(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """TopK: K entries along the axis, each reading the whole axis; values and indices alike."""
    x = imp.t(node, 0)
    xd, r = x.dims, len(x.dims)
    axis = norm_axis(attrs(node).get("axis", -1), r)
    kk = int(np.asarray(imp.value(node, 1, "K")).reshape(-1)[0])
    dims = tuple(kk if i == axis else d for i, d in enumerate(xd))
    access = axis_access(xd, x.roles, dims, x.roles, {axis: full_map(xd[axis])}) or WHOLE
    out = Out(dims, x.roles, {0: access}, "reduce")
    return [out, out]


HANDLERS: dict[str, Handler] = {
    **{op: partial(fiber, rule=rule, kind=kind) for op, (rule, kind) in FIBER_RULES.items()},
    **dict.fromkeys(REDUCE_OPS, reduce),
    "TopK": top_k,
}
