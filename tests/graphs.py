"""Small workloads for tests: hand-checkable chains and random DAGs (hypothesis strategies)."""

from __future__ import annotations

from hypothesis import strategies as st

from cimopt.builder import WorkloadBuilder
from cimopt.workload import Workload


def pointwise_chain(n_layers: int = 2, size: int = 4) -> Workload:
    """1x1 convs on a size x size input: set i of every layer needs only set i of the previous one."""
    b = WorkloadBuilder(f"pw{n_layers}")
    x = b.input(4, size, size)
    for i in range(n_layers):
        x = b.conv(x, 4, k=1, name=f"pw{i}")
    return b.build()


def residual_block(size: int = 6) -> Workload:
    b = WorkloadBuilder("resblock")
    x = b.input(4, size, size)
    a = b.relu(b.conv(x, 8, name="stem"))
    y = b.relu(b.conv(a, 8, name="c1"))
    y = b.conv(y, 8, name="c2")
    short = b.conv(a, 8, k=1, name="shortcut")
    s = b.relu(b.add(y, short))
    g = b.global_pool(s)
    b.gemm(g, 10, name="fc")
    return b.build()


def yolo_like(size: int = 16) -> Workload:
    """Conv/maxpool trunk, a stride-1 maxpool with asymmetric padding, upsample + concat head (TinyYOLO's shape)."""
    b = WorkloadBuilder("yolo-like")
    x = b.input(3, size, size)
    c1 = b.conv(x, 8, name="c1")
    p1 = b.maxpool(c1, 2)
    c2 = b.conv(p1, 16, name="c2")
    p2 = b.maxpool(c2, 2)
    c3 = b.conv(p2, 16, name="c3")
    h1 = b.conv(c3, 8, k=1, name="head1")
    r = b.conv(c3, 8, k=1, name="route")
    u = b.upsample(r, 2)
    cat = b.concat([u, c2])
    b.conv(cat, 8, name="head2")
    del h1
    return b.build()


@st.composite
def random_dags(draw) -> Workload:
    """Random small CNN DAGs: chains with optional residual adds, concats, pools and upsampling."""
    size = draw(st.sampled_from([4, 6, 8]))
    b = WorkloadBuilder("random")
    outs = [b.input(draw(st.integers(1, 8)), size, size)]
    for i in range(draw(st.integers(2, 5))):
        src = outs[-1]
        kind = draw(st.sampled_from(["conv", "conv", "conv1", "res", "cat", "pool_up", "strided"]))
        shape = b._shape(src)
        if kind == "conv":
            x = b.conv(src, draw(st.integers(1, 8)), k=3, name=f"l{i}")
        elif kind == "conv1":
            x = b.conv(src, draw(st.integers(1, 8)), k=1, name=f"l{i}")
        elif kind == "res":
            y = b.conv(src, shape.channels, name=f"l{i}")
            x = b.add(b.relu(y), src)
        elif kind == "cat":
            y = b.conv(src, 4, k=1, name=f"l{i}")
            x = b.concat([y, src])
        elif kind == "strided" and shape.height >= 4:
            x = b.conv(src, 4, k=3, stride=2, name=f"l{i}")
        elif shape.height >= 2 and shape.height % 2 == 0:
            p = b.maxpool(src, 2)
            y = b.conv(p, 4, name=f"l{i}")
            x = b.upsample(y, 2)
        else:
            x = b.conv(src, 4, name=f"l{i}")
        outs.append(x)
    return b.build()
