"""Constant folding: initializers, Constant nodes, weight-only graph inputs, and nodes whose inputs are all constant.

Constants are not compute. Small constant values (shape arithmetic, Reshape targets, Slice bounds, Resize
scales ...) are evaluated with ONNX's reference evaluator; large ones keep only their shape, and a weight whose
data is absent (external data missing, a weight-only graph input) is stood in for by zeros, so only shapes
derived from it are kept, never values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper, numpy_helper

from cimopt.errors import InputError
from cimopt.onnx.axes import Dims, broadcast, norm_axis
from cimopt.onnx.graph import attrs
from cimopt.onnx.pointwise import NARY_OPS
from cimopt.onnx.tensors import Tensor

if TYPE_CHECKING:
    from cimopt.onnx.importer import Importer

#: Constant values are evaluated only when their inputs hold at most this many elements in all.
VALUE_LIMIT = 1 << 20
#: Initializers with more elements than this are never read (only their shape is used).
LOAD_LIMIT = 1 << 16
FLOAT_ELEMS = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                         onnx.TensorProto.BFLOAT16})
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


def run_node(opset_import: Sequence[onnx.OperatorSetIdProto], node: onnx.NodeProto,
             feeds: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
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
    opsets = [helper.make_opsetid(o.domain, o.version) for o in opset_import]
    res = iter(ReferenceEvaluator(helper.make_model(g, opset_imports=opsets)).run(
        None, {i: np.asarray(feeds[k]) for k, i in enumerate(ins) if i}))
    return [np.asarray(next(res)) if o else None for o in outs]


def load_initializer(imp: Importer, t: onnx.TensorProto) -> np.ndarray | None:
    """A small initializer's value (from external data when it lives there); None for large or unreadable ones.
    External files read (or looked for) are noted in `imp.external_files`: the result depends on them."""
    if math.prod(t.dims) > LOAD_LIMIT:
        return None
    try:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            if imp.base_dir is None:
                return None
            imp.external_files.update(e.value for e in t.external_data if e.key == "location")
            from onnx.external_data_helper import load_external_data_for_tensor

            c = onnx.TensorProto()
            c.CopyFrom(t)
            with warnings.catch_warnings():  # onnx warns about odd keys in damaged files
                warnings.simplefilter("ignore")
                load_external_data_for_tensor(c, str(imp.base_dir))
            return numpy_helper.to_array(c)
        return numpy_helper.to_array(t)
    except Exception:  # a missing or short external file: keep the shape only
        return None


def weight_only_inputs(g: onnx.GraphProto) -> set[str]:
    """Graph inputs (without initializer) used only as weight operands, possibly through pass-through ops.

    They are assumed to be constant weights supplied at load time (the zoo's shape-only files declare every
    weight this way), so a Conv/Gemm/MatMul reading one is an MVM layer."""
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


def is_const_node(imp: Importer, node: onnx.NodeProto) -> bool:
    """Constant: every input is (Shape and Size are, as every shape is static here)."""
    if node.op_type in ("Shape", "Size") and node.domain in ("", "ai.onnx"):
        return True
    return all(imp.tensors[n].const for n in node.input if n)


def const_node(imp: Importer, node: onnx.NodeProto) -> None:
    """Record the outputs of a constant node: values when they can be evaluated, else shapes."""
    evaluated = eval_const(imp, node)
    for k, o in enumerate(node.output):
        if not o:
            continue
        if evaluated is not None and k < len(evaluated) and evaluated[k] is not None:
            imp.tensors[o] = evaluated[k]
        else:
            imp.tensors[o] = Tensor(const_dims(imp, node, k), True)


def eval_const(imp: Importer, node: onnx.NodeProto) -> list[Tensor | None] | None:
    """Evaluate a constant node: its outputs' values, or only their shapes when a float input's value is
    unknown (a weight without data: zeros stand in for it; integer inputs, which may steer shapes, never)."""
    op = node.op_type
    a = attrs(node)
    if op == "Constant":
        return [constant_attr(node, a)]
    ins = [imp.tensors[n] if n else None for n in node.input]
    if op in ("Shape", "Size"):
        dims = ins[0].dims
        if dims is None:
            return None
        if op == "Size":
            return [Tensor((), True, np.array(math.prod(dims), dtype=np.int64), elem=onnx.TensorProto.INT64)]
        r = len(dims)
        start = min(max(norm_axis(a.get("start", 0), r), 0), r)
        end = min(max(norm_axis(a.get("end", r), r), 0), r)
        v = np.array(dims[start:end], dtype=np.int64)
        return [Tensor(v.shape, True, v, elem=onnx.TensorProto.INT64)]
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
        results = run_node(imp.model.opset_import, node, feeds)
    except Exception:
        return None
    out: list[Tensor | None] = []
    for v in results:
        if v is None:
            out.append(None)
            continue
        try:
            elem = helper.np_dtype_to_tensor_dtype(v.dtype)
        except Exception:
            elem = 0
        out.append(Tensor(tuple(int(d) for d in v.shape), True, None if proxy else v, elem=elem))
    return out


def constant_attr(node: onnx.NodeProto, a: dict) -> Tensor | None:
    """The tensor a Constant node holds (its value only when small and stored inline)."""
    for attr in node.attribute:
        if attr.name == "value":
            t = attr.t
            dims = tuple(int(d) for d in t.dims)
            if t.data_location == onnx.TensorProto.EXTERNAL or math.prod(t.dims) > LOAD_LIMIT:
                return Tensor(dims, True, elem=t.data_type)
            return Tensor(dims, True, numpy_helper.to_array(t), elem=t.data_type)
    for key, dtype, elem in (("value_float", np.float32, onnx.TensorProto.FLOAT),
                             ("value_floats", np.float32, onnx.TensorProto.FLOAT),
                             ("value_int", np.int64, onnx.TensorProto.INT64),
                             ("value_ints", np.int64, onnx.TensorProto.INT64)):
        if key in a:
            v = np.array(a[key], dtype=dtype)
            return Tensor(v.shape, True, v, elem=elem)
    return None


def const_dims(imp: Importer, node: onnx.NodeProto, k: int) -> Dims | None:
    """Shape of a constant whose value is not evaluated (a large or external weight)."""
    o = node.output[k]
    op, a = node.op_type, attrs(node)
    ins = [imp.tensors[n] if n else None for n in node.input]
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
                ax = norm_axis(a.get("axis", 1), r)
                return (math.prod(d0[:ax]), math.prod(d0[ax:]))
            if op in ("Squeeze", "Unsqueeze", "Reshape"):
                return reshape_like_dims(imp, node, d0, a)
            if op in NARY_OPS:
                return broadcast([t.dims for t in ins if t is not None and t.dims is not None])
    except (InputError, ValueError, IndexError):
        pass
    return imp.inferred.get(o) or imp.declared.get(o)


def reshape_like_dims(imp: Importer, node: onnx.NodeProto, d0: Dims, a: dict) -> Dims:
    """Output shape of a constant Reshape, Squeeze or Unsqueeze."""
    op, r = node.op_type, len(d0)
    if op == "Reshape":
        shape = [int(x) for x in imp.value(node, 1, "the target shape")]
        out = [d0[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
        if -1 in out:
            known = math.prod(x for x in out if x != -1)
            out[out.index(-1)] = math.prod(d0) // known if known else 0
        return tuple(out)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(x) for x in imp.value(node, 1, "the axes")]
    if op == "Squeeze":
        if axes is None:
            return tuple(d for d in d0 if d != 1)
        drop = {norm_axis(x, r) for x in axes}
        return tuple(d for i, d in enumerate(d0) if i not in drop)
    out_r = r + len(axes)
    ins = sorted(norm_axis(x, out_r) for x in axes)
    out, it = [], iter(d0)
    for i in range(out_r):
        out.append(1 if i in ins else next(it))
    return tuple(out)
