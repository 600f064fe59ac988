"""Pointwise ops: activations, unary and n-ary elementwise math with numpy broadcasting, per-pixel channel norms
and inference no-ops. Each output element reads the same element of each input (through broadcasting)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import onnx

from cimopt.onnx.axes import broadcast, broadcast_access, default_roles
from cimopt.onnx.graph import label
from cimopt.onnx.tensors import Out

if TYPE_CHECKING:
    from cimopt.onnx.importer import Handler, Importer

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

#: op -> (GPEU kind, True when every input broadcasts into the output; False: input 0 gives the shape and only
#: activation inputs besides it count, so parameters such as Clip's bounds or a norm's statistics do not).
RULES: dict[str, tuple[str, bool]] = {
    **dict.fromkeys(ACTIVATION_OPS, ("activation", True)),
    "Clip": ("activation", False),
    **dict.fromkeys(UNARY_OPS | NARY_OPS, ("elementwise", True)),
    "CastLike": ("elementwise", False),
    **dict.fromkeys(PASS_OPS, ("reshape", False)),
    **dict.fromkeys(CHANNEL_NORM_OPS, ("norm", False)),
}


def elementwise(imp: Importer, node: onnx.NodeProto, kind: str, all_inputs: bool) -> list[Out | None]:
    """Broadcast the data inputs; each activation input is read through its broadcast (exact window)."""
    op = node.op_type
    act = imp.act(node)
    data = [k for k, n in enumerate(node.input) if n] if all_inputs else [0] + [k for k in act if k != 0]
    try:
        dims = broadcast([imp.dims_of(node, k) for k in data])
    except ValueError:
        raise imp.fail(f"node {label(node)!r} ({op}): input shapes "
                       f"{[list(imp.dims_of(node, k)) for k in data]} do not broadcast") from None
    src = next((k for k in act if imp.t(node, k).dims == dims), None)
    roles = imp.t(node, src).roles if src is not None else default_roles(len(dims))
    access = {k: broadcast_access(imp.t(node, k).dims, imp.t(node, k).roles, dims, roles) for k in act}
    out = Out(dims, roles, access, kind)
    return [out] + [None] * (len(node.output) - 1)


HANDLERS: dict[str, Handler] = {op: partial(elementwise, kind=kind, all_inputs=every)
                                for op, (kind, every) in RULES.items()}
