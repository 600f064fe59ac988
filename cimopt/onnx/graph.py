"""Reading the ONNX graph: node attributes, static shapes, node order and reachability (networkx), control flow,
and ONNX's own shape inference as a cross-check."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import networkx as nx
import onnx
from onnx import helper

from cimopt.errors import InputError
from cimopt.onnx.axes import Dims

CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan", "SequenceMap"})
#: Recurrent ops: a state carried from step to step along the sequence axis, which no set of pixels can model.
RECURRENT_OPS = frozenset({"LSTM", "GRU", "RNN"})


def short(exc: BaseException) -> str:
    """An exception's text on one line, at most 160 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def label(node: onnx.NodeProto) -> str:
    """How error messages name a node: its name, else its op type."""
    return node.name or node.op_type


def attrs(node: onnx.NodeProto) -> dict:
    """The node's attributes as Python values (strings decoded)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[a.name] = v
    return out


def static_dims(type_proto: onnx.TypeProto) -> Dims | None:
    """The tensor type's shape when every dimension is a known number, else None."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in type_proto.tensor_type.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def check_control_flow(node: onnx.NodeProto, fail: Callable[[str], InputError]) -> None:
    """Control flow (If/Loop/Scan or any node with a subgraph) is an InputError."""
    sub = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
    if node.op_type in CONTROL_FLOW_OPS or sub:
        raise fail(f"node {label(node)!r} ({node.op_type}) is control flow, "
                   "which cimopt does not support (export the model with a fixed structure)")


def check_recurrent(node: onnx.NodeProto, fail: Callable[[str], InputError]) -> None:
    """A recurrent op (LSTM/GRU/RNN) is an InputError naming the node (checked before the graph inputs, whose
    first axis is then the sequence, not a batch)."""
    if node.op_type in RECURRENT_OPS and node.domain in ("", "ai.onnx"):
        raise fail(f"node {label(node)!r} ({node.op_type}) is a recurrent op, which cimopt does not support: its "
                   "state is carried from step to step along the sequence axis (its first input axis), so its MVMs "
                   "are not independent pixels (export the model without recurrent layers)")


def producers(nodes: Sequence[onnx.NodeProto]) -> dict[str, int]:
    """Tensor name -> index of the node producing it (the last one, should a broken file have two)."""
    return {o: i for i, node in enumerate(nodes) for o in node.output if o}


def reaching(graph: nx.DiGraph, targets: Iterable) -> set:
    """The targets and every graph node from which one of them can be reached."""
    keep: set = set()
    for t in targets:
        if t not in keep:
            keep.add(t)
            keep |= nx.ancestors(graph, t)
    return keep


def live_tensors(nodes: Sequence[onnx.NodeProto], outputs: Iterable[str]) -> set[str]:
    """Tensors some graph output depends on: the outputs and every input of a node that feeds one."""
    outputs = list(outputs)
    producer = producers(nodes)
    g = nx.DiGraph()
    g.add_nodes_from(range(len(nodes)))
    g.add_edges_from((producer[n], i) for i, node in enumerate(nodes) for n in node.input if n in producer)
    live = set(outputs)
    for i in reaching(g, {producer[o] for o in outputs if o in producer}):
        live.update(n for n in nodes[i].input if n)
    return live


def topo_order(nodes: Sequence[onnx.NodeProto], known: Iterable[str], outputs: Iterable[str],
               fail: Callable[[str], InputError]) -> list[int]:
    """Node indices in a topological order, keeping the file's order wherever it is one (of all topological
    orders, the lexicographically smallest by node index). `known`: tensors defined outside the nodes
    (initializers, graph inputs); a read of anything else that no node produces is an InputError, as are cycles."""
    known = set(known)
    producer = producers(nodes)
    g = nx.DiGraph()
    g.add_nodes_from(range(len(nodes)))
    for i, node in enumerate(nodes):
        for n in node.input:
            if not n or n in known:
                continue
            if n not in producer:
                raise fail(f"node {label(node)!r} ({node.op_type}) reads tensor {n!r}, "
                           "which no node, initializer or graph input defines (truncated or invalid model)")
            if producer[n] != i:
                g.add_edge(producer[n], i)
    missing = [o for o in outputs if o not in producer and o not in known]
    if missing:
        raise fail(f"graph output {missing[0]!r} is not produced by any node (truncated or invalid model)")
    try:
        return list(nx.lexicographical_topological_sort(g))
    except nx.NetworkXUnfeasible:
        cyclic = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
        stuck = reaching(g.reverse(copy=False), set().union(*cyclic))  # cycles and everything after them
        raise fail(f"the graph has a cycle through node {label(nodes[min(stuck)])!r}") from None


def onnx_inferred_shapes(model: onnx.ModelProto, input_dims: dict[str, Dims], load_limit: int,
                         values: dict[str, object] | None = None) -> tuple[dict[str, Dims], set[str]]:
    """ONNX shape inference (with data propagation) on a copy whose graph inputs carry the static shapes
    `input_dims`.

    Returns the static shapes found and the tensors it gives a shape with unknown dimensions. Initializers with
    more than `load_limit` elements lose their payload first (inference needs shapes only: faster, under 2 GB).
    `values` (tensor name -> numpy array): node outputs whose constant value is known (folded by cimopt); each
    node whose outputs are all known becomes Constant nodes, so shapes that depend on them (an Expand or Reshape
    target computed by ops ONNX's data propagation does not follow) are inferred too.
    Inference is a help, not a requirement: when it fails, both are empty."""
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    del g.value_info[:]
    for t in g.initializer:
        if math.prod(t.dims) > load_limit and t.data_location != onnx.TensorProto.EXTERNAL:
            for fld in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                t.ClearField(fld)
            t.data_location = onnx.TensorProto.EXTERNAL
            t.external_data.add(key="location", value="__cimopt_no_data__")
    for o in g.output:  # declared output types may be stale or symbolic: let inference fill them in
        o.ClearField("type")
    for inp in g.input:
        dims = input_dims.get(inp.name)
        if dims is not None and inp.type.HasField("tensor_type"):
            shape = inp.type.tensor_type.shape
            shape.ClearField("dim")
            for d in dims:
                shape.dim.add().dim_value = d
    if values:
        nodes = []
        for node in g.node:
            outs = [o for o in node.output if o]
            if node.op_type != "Constant" and outs and all(o in values for o in outs):
                nodes += [helper.make_node("Constant", [], [o], value=numpy_helper.from_array(values[o], o))
                          for o in outs]
            else:
                nodes.append(node)
        del g.node[:]
        g.node.extend(nodes)
    inferred: dict[str, Dims] = {}
    dynamic: set[str] = set()
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:
        return inferred, dynamic
    for vi in list(m.graph.value_info) + list(m.graph.output):
        dims = static_dims(vi.type)
        if dims is not None:
            inferred[vi.name] = dims
        elif vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            dynamic.add(vi.name)
    return inferred, dynamic
