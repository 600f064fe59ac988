"""The workload: a DAG of MVM layers and GPEU operations with feature-map shapes.

Every node produces one feature map, seen as a grid of `height x width` pixels of `channels` values
(a Conv OFM is C x H x W; a token tensor [1, T, D] is D x T x 1; a Gemm output [1, F] is F x 1 x 1). The
importer tracks which ONNX axes are spatial through Transpose/Reshape, so a channels-last [1, H, W, C] tensor
is still C x H x W.
Every edge says which input pixels one output pixel reads (`Access`), separably per spatial axis, so
sets, dependencies and the simulator all derive receptive fields from the same op semantics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np

from cimopt.errors import InputError


@dataclass(frozen=True)
class AxisMap:
    """Output index `o` along one axis reads input indices `lo(o) .. hi(o)` (inclusive).

    `lo(o) = floor((num*o + offset) / den)`, `hi(o) = floor((num*o + offset + extent) / den)`.
    A window partly outside the input is clipped; one wholly outside reads nothing (padding).
    Conv/pool: num=stride, offset=-pad, extent=dilation*(k-1). Nearest upsample by f: den=f.
    Broadcast of a size-1 axis: num=0. Slice start s step t: num=t, offset=s.
    """

    num: int = 1
    den: int = 1
    offset: int = 0
    extent: int = 0

    def window(self, o: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        """Clipped `(lo, hi)` arrays for output indices `o`; `lo > hi` marks an empty window."""
        o = np.asarray(o, dtype=np.int64)
        lo = (self.num * o + self.offset) // self.den
        hi = (self.num * o + self.offset + self.extent) // self.den
        empty = (hi < 0) | (lo >= n_in)
        lo = np.clip(lo, 0, n_in - 1)
        hi = np.clip(hi, 0, n_in - 1)
        lo = np.where(empty, 1, lo)
        hi = np.where(empty, 0, hi)
        return lo, hi


IDENTITY = AxisMap()


@dataclass(frozen=True)
class Access:
    """Which input pixels one output pixel reads: a separable window, or the whole input."""

    rows: AxisMap = IDENTITY
    cols: AxisMap = IDENTITY
    full: bool = False


ELEMENTWISE = Access()
WHOLE = Access(full=True)


@dataclass(frozen=True)
class Edge:
    """An input of a node: the producing node's name and how its pixels are read."""

    source: str
    access: Access = ELEMENTWISE


@dataclass(frozen=True)
class FeatureMap:
    """Shape of a node's output: `channels` values at each of `height x width` pixels."""

    channels: int
    height: int
    width: int
    dims: tuple[int, ...] = ()  # the ONNX tensor shape, for display

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def elements(self) -> int:
        return self.channels * self.height * self.width


@dataclass(frozen=True)
class Node:
    """Common part of every workload node."""

    name: str
    op: str
    inputs: tuple[Edge, ...]
    out: FeatureMap


@dataclass(frozen=True)
class GraphInput(Node):
    """A graph input: available at cycle 0."""


#: Every `GpeuOp.kind` the importer and builder produce (a hardware file's [gpeu] costs are keyed by these, plus
#: "default" for the rest); what each covers is listed in the importer's docstring.
GPEU_KINDS = ("activation", "concat", "elementwise", "matmul", "norm", "other", "pad", "pool", "reduce", "reshape",
              "resize", "slice", "softmax")


@dataclass(frozen=True)
class GpeuOp(Node):
    """A non-MVM operation run by a tile's GPEU; `kind` (one of GPEU_KINDS) selects its cost in the hardware file."""

    kind: str = "other"


@dataclass(frozen=True)
class Layer(Node):
    """An MVM layer (Conv, Gemm, MatMul with a constant operand) that lives in crossbars.

    Its weight matrix per group is `group_rows x group_cols`; `rows = group_rows`
    (Cin/groups*kh*kw) and `cols = group_cols * groups` (Cout), as a researcher reads them.
    """

    groups: int = 1
    group_rows: int = 1
    group_cols: int = 1
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)

    @property
    def rows(self) -> int:
        return self.group_rows

    @property
    def cols(self) -> int:
        return self.group_cols * self.groups

    @property
    def pixels(self) -> int:
        """MVMs per inference on one copy: one per output pixel."""
        return self.out.pixels

    @property
    def macs(self) -> int:
        return self.pixels * self.group_rows * self.group_cols * self.groups


@dataclass(frozen=True)
class Workload:
    """A network as a DAG of nodes in ONNX node order (a topological order)."""

    name: str
    nodes: tuple[Node, ...]
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for node in self.nodes:
            for edge in node.inputs:
                if edge.source not in seen:
                    raise ValueError(f"node {node.name!r} reads {edge.source!r}, which is not defined before it")
            if node.name in seen:
                raise ValueError(f"node name {node.name!r} is used twice")
            seen.add(node.name)

    @cached_property
    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def node(self, name: str) -> Node:
        return self.by_name[name]

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """MVM layers in graph order; their position is the layer index everywhere else."""
        return tuple(n for n in self.nodes if isinstance(n, Layer))

    @cached_property
    def layer_index(self) -> dict[str, int]:
        return {layer.name: i for i, layer in enumerate(self.layers)}

    @property
    def gpeu_ops(self) -> tuple[GpeuOp, ...]:
        return tuple(n for n in self.nodes if isinstance(n, GpeuOp))

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The DAG, node attribute `node` holding the typed node."""
        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.name, node=n)
            for e in n.inputs:
                g.add_edge(e.source, n.name)
        return g

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the structure, to tie a saved schedule to its model."""
        blob = json.dumps([[type(n).__name__, asdict(n)] for n in self.nodes], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def conv_access(kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int],
                dilation: tuple[int, int] = (1, 1)) -> Access:
    """Receptive window of a conv or pooling window (pads: top, left, bottom, right)."""
    return Access(
        rows=AxisMap(num=stride[0], offset=-pads[0], extent=dilation[0] * (kernel[0] - 1)),
        cols=AxisMap(num=stride[1], offset=-pads[1], extent=dilation[1] * (kernel[1] - 1)),
    )


def require_layers(workload: Workload) -> Workload:
    """The workload itself when it has an MVM layer to map and schedule, else an InputError naming the model.

    The importer accepts a model without MVM layers (it is a valid graph); every command that maps, schedules or
    simulates one calls this first."""
    if not workload.layers:
        raise InputError(f"model {workload.name!r} has no MVM layer (Conv/Gemm/MatMul with constant weights): "
                         "nothing to map onto crossbars")
    return workload
