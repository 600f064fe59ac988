"""One import, ONNX model -> Workload, in three passes over the nodes in topological order:

1. *Constants* (constants.py): initializers, Constant nodes, weight-only graph inputs, and nodes whose inputs are
   all constant are not compute.
2. *Shapes*: every activation tensor gets a static shape, computed by cimopt itself for every supported op
   (ONNX's own shape inference is a cross-check, and the fallback for ops cimopt does not know). A shape that
   neither gives (a constant the reference evaluator cannot fold, say) is asked of ONNX's inference again, with
   every constant value cimopt folded so far in the graph (`Importer.shape`, at most `REFINED_RUNS` times), before
   an op is refused.
3. *Semantics*: each op is handled by its family's table (HANDLERS below): Conv/Gemm/MatMul with a constant
   weight become `Layer`s, everything else a `GpeuOp` whose input `Access` says which input pixels each output
   pixel reads. An op in no table reads whole inputs, as a GPEU op of kind "other", with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx
import numpy as np
import onnx

from cimopt.errors import InputError
from cimopt.onnx import constants, graph, movement, mvm, pointwise, reduce, windowed
from cimopt.onnx.axes import Dims, canon_roles, default_roles, fmap
from cimopt.onnx.graph import label, short, static_dims
from cimopt.onnx.tensors import Out, Tensor
from cimopt.workload import WHOLE, Edge, GpeuOp, GraphInput, Layer, Node, Workload

#: Model metadata a file may carry to say its weight-only graph inputs are weights by design (the zoo's
#: shape-only files): no warning then.
WEIGHTS_AS_INPUTS_KEY = "cimopt.weights"
WEIGHTS_AS_INPUTS = "graph-inputs"

#: ONNX shape inference reruns with cimopt's folded constants per import (each costs a whole-graph inference).
REFINED_RUNS = 4

#: An op handler: the node -> one `Out` per ONNX output (None: output not produced).
Handler = Callable[["Importer", onnx.NodeProto], list[Out | None]]


def _merge_tables(*tables: dict[str, Handler]) -> dict[str, Handler]:
    merged: dict[str, Handler] = {}
    for table in tables:
        twice = merged.keys() & table.keys()
        if twice:
            raise AssertionError(f"ops handled by two families: {sorted(twice)}")
        merged.update(table)
    return merged


#: Every op cimopt models (domain "" / ai.onnx): op type -> handler, one table per op family.
HANDLERS: dict[str, Handler] = _merge_tables(mvm.HANDLERS, windowed.HANDLERS, pointwise.HANDLERS, reduce.HANDLERS,
                                             movement.HANDLERS)


@dataclass
class Importer:
    """State of one import: the tensors known so far and the workload nodes emitted."""

    model: onnx.ModelProto
    name: str
    source: str
    base_dir: Path | None
    use_onnx_inference: bool = True
    opset: int = 0
    tensors: dict[str, Tensor] = field(default_factory=dict)
    inferred: dict[str, Dims] = field(default_factory=dict)
    declared: dict[str, Dims] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    dynamic: set[str] = field(default_factory=set)  # tensors ONNX inference gives a shape with unknown dims
    external_files: set[str] = field(default_factory=set)  # external data files read (relative to base_dir)
    refined: dict[str, Dims] = field(default_factory=dict)  # ONNX inference with cimopt's folded constants
    refined_values: int = -1  # how many folded values `refined` was computed with (-1: not yet)
    refined_runs: int = 0  # reruns so far, at most REFINED_RUNS per import

    # ------------------------------------------------------------------ helpers for the handlers

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
        return constants.run_node(self.model.opset_import, node, feeds)

    def value(self, node: onnx.NodeProto, k: int, what: str) -> np.ndarray | None:
        """The constant value of input `k` (None when absent); an InputError when it is needed but unknown."""
        if k >= len(node.input) or not node.input[k]:
            return None
        t = self.tensors[node.input[k]]
        if t.value is None:
            why = "is computed from activations" if not t.const else "is not known (external data missing?)"
            raise self.fail(f"node {label(node)!r} ({node.op_type}): {what} {why}")
        return t.value

    def act(self, node: onnx.NodeProto) -> list[int]:
        """Positions of the node's activation inputs."""
        return [k for k, n in enumerate(node.input) if n and not self.tensors[n].const]

    def t(self, node: onnx.NodeProto, k: int) -> Tensor:
        return self.tensors[node.input[k]]

    def shape(self, name: str) -> Dims | None:
        """The static shape of tensor `name`: cimopt's own, else ONNX shape inference's (or the file's
        value_info), else ONNX shape inference rerun with every constant cimopt has folded so far; None when
        none of them knows it."""
        t = self.tensors.get(name)
        if t is not None and t.dims is not None:
            return t.dims
        dims = self.inferred.get(name) or self.declared.get(name)
        if dims is not None or not self.use_onnx_inference:
            return dims
        values = {n: v.value for n, v in self.tensors.items() if v.const and v.value is not None}
        if len(values) != self.refined_values and self.refined_runs < REFINED_RUNS:  # new constants since then
            self.refined_runs += 1
            self.refined, _ = graph.onnx_inferred_shapes(self.model, self.input_shapes(), constants.LOAD_LIMIT,
                                                         values)
            self.refined_values = len(values)
        dims = self.refined.get(name)
        if dims is not None and t is not None:
            self.tensors[name] = replace(t, dims=dims)
        return dims

    def input_shapes(self) -> dict[str, Dims]:
        g = self.model.graph
        return {i.name: self.tensors[i.name].dims for i in g.input if self.tensors[i.name].dims is not None}

    def dims_of(self, node: onnx.NodeProto, k: int) -> Dims:
        d = self.shape(node.input[k])
        if d is None:
            raise self.fail(f"node {label(node)!r} ({node.op_type}): the shape of input {k} "
                            f"({node.input[k]!r}) is unknown")
        return d

    def unknown(self, node: onnx.NodeProto, why: str) -> list[Out | None]:
        """An op cimopt does not model: a GPEU op of kind 'other' reading all of every activation input."""
        act = self.act(node)
        outs: list[Out | None] = []
        assumed = False
        for o in node.output:
            if not o:
                outs.append(None)
                continue
            dims = self.shape(o)
            if dims is None and o in self.dynamic:
                raise self.fail(f"node {label(node)!r} ({node.op_type}): output {o!r} has a dynamic shape; cimopt "
                                "needs static shapes")
            if dims is None:
                dims = self.dims_of(node, act[0])
                assumed = True
            outs.append(Out(dims, default_roles(len(dims)), dict.fromkeys(act, WHOLE), "other"))
        extra = "; output shape assumed equal to its input's" if assumed else ""
        self.warnings.append(f"node {label(node)!r}: {why}; treated as a GPEU op of kind 'other' that reads whole "
                             f"inputs{extra}")
        return outs

    # ------------------------------------------------------------------ passes

    def run(self) -> Workload:
        g = self.model.graph
        self.opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0) or \
            onnx.defs.onnx_opset_version()
        if not g.node and not g.input:
            raise self.fail("not an ONNX model (it holds no graph)")
        for node in g.node:
            graph.check_control_flow(node, self.fail)
            graph.check_recurrent(node, self.fail)
        for node in g.node:
            self.used.update(n for n in node.input if n)
        for o in g.output:
            self.used.add(o.name)
        self.init_constants_and_inputs()
        if self.use_onnx_inference:
            self.inferred, self.dynamic = graph.onnx_inferred_shapes(self.model, self.input_shapes(),
                                                                     constants.LOAD_LIMIT)
        nodes = list(g.node)
        outputs = [o.name for o in g.output]
        live = graph.live_tensors(nodes, outputs)
        for i in graph.topo_order(nodes, self.tensors.keys(), outputs, self.fail):
            if any(o in live for o in nodes[i].output):  # else it reaches no graph output
                self.import_node(nodes[i], i)
        return self.finish()

    def import_node(self, node: onnx.NodeProto, index: int) -> None:
        """Constant or activation node; any unexpected failure is an InputError naming the node."""
        try:
            if constants.is_const_node(self, node):
                constants.const_node(self, node)
            else:
                self.activation_node(node, index)
        except InputError:
            raise
        except Exception as exc:  # a malformed node (missing attribute, inconsistent shapes ...)
            raise self.fail(f"node {label(node)!r} ({node.op_type}): cannot import it: "
                            f"{type(exc).__name__}: {short(exc)}") from None

    def init_constants_and_inputs(self) -> None:
        g = self.model.graph
        for t in g.initializer:
            self.tensors[t.name] = Tensor(tuple(int(d) for d in t.dims), True, constants.load_initializer(self, t),
                                          elem=t.data_type)
        for st in g.sparse_initializer:
            self.tensors[st.values.name] = Tensor(tuple(int(d) for d in st.dims), True, elem=st.values.data_type)
        for vi in list(g.value_info) + list(g.output):
            dims = static_dims(vi.type)
            if dims is not None:
                self.declared[vi.name] = dims
        weight_inputs = constants.weight_only_inputs(g)
        self.warn_weight_inputs([i.name for i in g.input if i.name in weight_inputs and i.name not in self.tensors])
        one_d = windowed.one_d_inputs(g)
        for inp in g.input:
            if inp.name in self.tensors:
                continue
            if inp.name in weight_inputs:
                self.tensors[inp.name] = Tensor(static_dims(inp.type), True, elem=inp.type.tensor_type.elem_type)
                continue
            dims = self.input_dims(inp)
            roles = windowed.ROLES_1D if inp.name in one_d and len(dims) == 3 else default_roles(len(dims))
            name = self.unique(inp.name or "input")
            self.nodes.append(GraphInput(name, "Input", (), fmap(dims, roles)))
            self.tensors[inp.name] = Tensor(dims, False, roles=roles, node=name)

    def warn_weight_inputs(self, names: list[str]) -> None:
        """One warning naming the graph inputs taken as constant weights (none for a file that declares its
        weights are graph inputs: metadata `WEIGHTS_AS_INPUTS_KEY`, as the zoo's shape-only files do)."""
        meta = {p.key: p.value for p in self.model.metadata_props}
        if not names or meta.get(WEIGHTS_AS_INPUTS_KEY) == WEIGHTS_AS_INPUTS:
            return
        shown = ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        s, are, they = ("s", "are", "they") if len(names) > 1 else ("", "is", "it")
        self.warnings.append(f"graph input{s} {shown} without initializer {are} used only as weights "
                             f"(Conv/Gemm/MatMul operands): taken as CONSTANT weights supplied at load time; if {they} "
                             f"change{'' if s else 's'} per inference, the MVM layers reading {'them' if s else 'it'} "
                             "cannot live in crossbars and this mapping is wrong")

    def input_dims(self, inp: onnx.ValueInfoProto) -> Dims:
        tt = inp.type.tensor_type if inp.type.HasField("tensor_type") else None
        if tt is None:
            raise self.fail(f"graph input {inp.name!r} is not a tensor")
        if not tt.HasField("shape"):
            raise self.fail(f"graph input {inp.name!r} has no shape (cimopt needs static input shapes)")
        dims = []
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value == 0:
                raise self.fail(f"graph input {inp.name!r}: dimension {axis} has size 0 (shape "
                                f"{[x.dim_value if x.HasField('dim_value') else x.dim_param for x in tt.shape.dim]})"
                                "; the tensor holds no data")
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif axis == 0 and len(tt.shape.dim) >= 2:
                self.warnings.append(f"graph input {inp.name!r}: dynamic batch dimension {d.dim_param or '?'!r} "
                                     "set to 1")
                dims.append(1)
            else:
                raise self.fail(f"graph input {inp.name!r}: dimension {axis} is dynamic ({d.dim_param or 'unknown'!r}); "
                                "cimopt needs static spatial dimensions (export with a fixed input size)")
        if len(dims) >= 3 and dims[0] != 1:
            raise self.fail(f"graph input {inp.name!r}: batch size {dims[0]}, but cimopt schedules one "
                            "inference (batch 1)")
        return tuple(dims)

    def activation_node(self, node: onnx.NodeProto, index: int) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            outs = self.unknown(node, f"operator {op!r} of domain {node.domain!r} is not known")
        elif op in HANDLERS:
            outs = HANDLERS[op](self, node)
        else:
            outs = self.unknown(node, f"operator {op!r} is not known")
        base = node.name or f"{op}_{index}"
        for k, o in enumerate(node.output):
            if not o or o not in self.used or k >= len(outs) or outs[k] is None:
                continue
            self.emit(node, o, outs[k], self.unique(f"{base}_{k}" if op == "Split" or k > 0 else base))
        for k, o in enumerate(node.output):
            if o and o in self.used and o not in self.tensors:
                raise self.fail(f"node {label(node)!r} ({op}): output {k} ({o!r}) is used but cimopt cannot compute "
                                "it")

    def emit(self, node: onnx.NodeProto, o: str, out: Out, name: str) -> None:
        """Append the workload node `name` for output `o` of `node`."""
        self.check_dims(node, o, out.dims)
        out = replace(out, roles=canon_roles(out.dims, out.roles))
        edges: list[Edge] = []
        for pos in sorted(out.access):
            e = Edge(self.tensors[node.input[pos]].node, out.access[pos])
            if e not in edges:
                edges.append(e)
        fm = fmap(out.dims, out.roles)
        if out.layer is not None:
            wn: Node = Layer(name, node.op_type, tuple(edges), fm, **out.layer)
        else:
            wn = GpeuOp(name, node.op_type, tuple(edges), fm, kind=out.kind)
        self.nodes.append(wn)
        self.tensors[o] = Tensor(out.dims, False, roles=out.roles, node=name)

    def check_dims(self, node: onnx.NodeProto, o: str, dims: Dims) -> None:
        ref = self.inferred.get(o)
        if ref is not None and ref != dims:
            self.warnings.append(f"node {label(node)!r} ({node.op_type}): computed shape {list(dims)} "
                                 f"differs from ONNX shape inference {list(ref)}; using the computed one")
        if any(d <= 0 for d in dims):
            raise self.fail(f"node {label(node)!r} ({node.op_type}): output {o!r} has shape {list(dims)}, with a "
                            "zero-sized dimension (it holds no data)")

    def finish(self) -> Workload:
        """Drop nodes that reach no graph output; keep the order."""
        g = nx.DiGraph()
        g.add_nodes_from(n.name for n in self.nodes)
        g.add_edges_from((e.source, n.name) for n in self.nodes for e in n.inputs)
        keep = graph.reaching(g, [self.tensors[o.name].node for o in self.model.graph.output
                                  if o.name in self.tensors and not self.tensors[o.name].const])
        nodes = tuple(n for n in self.nodes if n.name in keep)
        if not any(not isinstance(n, GraphInput) for n in nodes):
            raise self.fail("no computation reaches the graph outputs (are all outputs constant?)")
        return Workload(self.name, nodes, tuple(self.warnings))
