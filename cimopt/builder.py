"""Build a Workload in Python, without ONNX: for tests, notebooks and synthetic studies."""

from __future__ import annotations

from dataclasses import dataclass, field

from cimopt.workload import (
    ELEMENTWISE,
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


def _out_size(n: int, k: int, s: int, p0: int, p1: int, d: int = 1) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


@dataclass
class WorkloadBuilder:
    """Appends nodes in order; every method returns the new node's name."""

    name: str = "custom"
    nodes: list[Node] = field(default_factory=list)

    def _shape(self, name: str) -> FeatureMap:
        return next(n.out for n in self.nodes if n.name == name)

    def _add(self, node: Node) -> str:
        self.nodes.append(node)
        return node.name

    def _auto(self, prefix: str) -> str:
        return f"{prefix}{len(self.nodes)}"

    def input(self, channels: int, height: int, width: int, name: str = "input") -> str:
        return self._add(GraphInput(name, "Input", (), FeatureMap(channels, height, width)))

    def conv(self, src: str, out_channels: int, k: int = 3, stride: int = 1, pad: int | None = None,
             groups: int = 1, dilation: int = 1, name: str | None = None) -> str:
        s = self._shape(src)
        p = (dilation * (k - 1)) // 2 if pad is None else pad
        h = _out_size(s.height, k, stride, p, p, dilation)
        w = _out_size(s.width, k, stride, p, p, dilation)
        return self._add(Layer(
            name or self._auto("conv"), "Conv",
            (Edge(src, conv_access((k, k), (stride, stride), (p, p, p, p), (dilation, dilation))),),
            FeatureMap(out_channels, h, w),
            groups=groups, group_rows=s.channels // groups * k * k, group_cols=out_channels // groups,
            kernel=(k, k), stride=(stride, stride), pads=(p, p, p, p), dilation=(dilation, dilation)))

    def gemm(self, src: str, out_features: int, name: str | None = None) -> str:
        s = self._shape(src)
        return self._add(Layer(name or self._auto("fc"), "Gemm", (Edge(src, WHOLE),),
                               FeatureMap(out_features, 1, 1), group_rows=s.elements, group_cols=out_features))

    def gpeu(self, op: str, kind: str, srcs: list[str], out: FeatureMap, access: list[Access] | None = None,
             name: str | None = None) -> str:
        acc = access or [ELEMENTWISE] * len(srcs)
        return self._add(GpeuOp(name or self._auto(op.lower()), op, tuple(Edge(s, a) for s, a in zip(srcs, acc, strict=False)),
                                out, kind=kind))

    def relu(self, src: str, name: str | None = None) -> str:
        return self.gpeu("Relu", "activation", [src], self._shape(src), name=name)

    def add(self, a: str, b: str, name: str | None = None) -> str:
        return self.gpeu("Add", "elementwise", [a, b], self._shape(a), name=name)

    def concat(self, srcs: list[str], name: str | None = None) -> str:
        s = self._shape(srcs[0])
        c = sum(self._shape(x).channels for x in srcs)
        return self.gpeu("Concat", "concat", srcs, FeatureMap(c, s.height, s.width), name=name)

    def maxpool(self, src: str, k: int = 2, stride: int | None = None, pad: int = 0, name: str | None = None) -> str:
        s = self._shape(src)
        st = stride or k
        out = FeatureMap(s.channels, _out_size(s.height, k, st, pad, pad), _out_size(s.width, k, st, pad, pad))
        return self.gpeu("MaxPool", "pool", [src], out, [conv_access((k, k), (st, st), (pad,) * 4)], name=name)

    def upsample(self, src: str, factor: int = 2, name: str | None = None) -> str:
        s = self._shape(src)
        m = AxisMap(den=factor)
        return self.gpeu("Resize", "resize", [src], FeatureMap(s.channels, s.height * factor, s.width * factor),
                         [Access(m, m)], name=name)

    def global_pool(self, src: str, name: str | None = None) -> str:
        s = self._shape(src)
        return self.gpeu("GlobalAveragePool", "pool", [src], FeatureMap(s.channels, 1, 1), [WHOLE], name=name)

    def build(self) -> Workload:
        return Workload(self.name, tuple(self.nodes))


def conv_chain(n_layers: int = 3, channels: int = 4, size: int = 8, k: int = 3, relu: bool = True) -> Workload:
    """The golden example of docs/model.md: `n_layers` 3x3/s1/p1 convs with ReLU on a `size` x `size` input."""
    b = WorkloadBuilder(f"chain{n_layers}x{size}")
    x = b.input(channels, size, size)
    for i in range(n_layers):
        x = b.conv(x, channels, k=k, name=f"conv{i}")
        if relu:
            x = b.relu(x, name=f"relu{i}")
    return b.build()
