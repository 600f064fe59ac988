import numpy as np
import pytest

from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.errors import InputError
from cimopt.granularity import Granularity
from cimopt.hardware import Hardware
from cimopt.sets import build_sets
from cimopt.workload import AxisMap
from tests.conftest import HW


def deps(sg, layer, s):
    """Producer (layer, set) pairs of set `s` of `layer`."""
    g = sg.offset[layer] + s
    src = np.sort(sg.src[sg.dst == g])
    li = sg.layer_of(src)
    return [(int(a), int(b - sg.offset[a])) for a, b in zip(li, src)]


def test_granularity_parsing():
    assert Granularity.parse("rows:4").block_h == 4
    assert Granularity.parse("block:2x3").block_w == 3
    for bad in ("rows:0", "block:2", "cols", "pixels"):
        with pytest.raises(InputError, match="unknown set granularity"):
            Granularity.parse(bad)
    rows, cols = Granularity.parse("block:3x3").edges(8, 7)
    assert rows.tolist() == [0, 3, 6, 8] and cols.tolist() == [0, 3, 6, 7]


def test_axis_map_windows():
    conv = AxisMap(num=2, offset=-1, extent=2)   # 3x3 stride 2 pad 1
    lo, hi = conv.window(np.arange(4), 8)
    assert lo.tolist() == [0, 1, 3, 5] and hi.tolist() == [1, 3, 5, 7]
    up = AxisMap(den=2)                          # nearest upsample x2
    lo, hi = up.window(np.arange(4), 2)
    assert lo.tolist() == [0, 0, 1, 1] and hi.tolist() == [0, 0, 1, 1]
    shifted = AxisMap(offset=-2)                 # second input of a spatial concat at offset 2
    lo, hi = shifted.window(np.arange(4), 2)
    assert (lo > hi).tolist() == [True, True, False, False]


def test_golden_chain_dependencies():
    sg = build_sets(conv_chain(), HW, "pixel")
    assert sg.num_sets == 192 and len(sg.src) == 2 * 484
    assert deps(sg, 1, 0) == [(0, 0), (0, 1), (0, 8), (0, 9)]
    assert len(deps(sg, 2, 9)) == 9
    sg = build_sets(conv_chain(), HW, "row")
    assert deps(sg, 1, 0) == [(0, 0), (0, 1)] and deps(sg, 2, 7) == [(1, 6), (1, 7)]
    assert sg.duration.tolist() == [8] * 24
    sg = build_sets(conv_chain(), HW, "rows:3")
    assert sg.duration.tolist()[:3] == [24, 24, 16] and deps(sg, 1, 1) == [(0, 0), (0, 1), (0, 2)]


def test_dependencies_through_pool_upsample_concat():
    b = WorkloadBuilder()
    x = b.input(4, 8, 8)
    a = b.conv(x, 8, name="a")                   # 8x8
    p = b.maxpool(a, 2)                          # 4x4
    c = b.conv(p, 8, k=1, name="c")              # 4x4
    u = b.upsample(c, 2)                         # 8x8
    cat = b.concat([u, a])
    b.conv(cat, 8, k=1, name="d")                # 8x8, reads upsampled c and a
    sg = build_sets(b.build(), HW, "row")
    assert deps(sg, 1, 1) == [(0, 2), (0, 3)]            # pool row 1 = conv rows 2..3
    assert deps(sg, 2, 5) == [(0, 5), (1, 2)]            # d row 5 = a row 5 and c row 5 // 2
    sg = build_sets(b.build(), HW, "pixel")
    assert deps(sg, 2, 8 * 3 + 5) == [(0, 29), (1, 4 * 1 + 2)]


def test_residual_whole_and_release():
    b = WorkloadBuilder()
    x = b.input(4, 4, 4)
    a = b.conv(x, 4, name="a")
    r = b.relu(b.conv(a, 4, name="b"))
    s = b.add(r, a)
    g = b.global_pool(s)
    b.gemm(g, 10, name="fc")
    hw = Hardware(gpeu_cycles=(("activation", 1), ("pool", 2)))
    sg = build_sets(b.build(), hw, "row")
    assert sg.offset.tolist() == [0, 4, 8, 9]
    fc = [(li, s_) for li, s_ in deps(sg, 2, 0)]
    assert fc == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    lag = {(int(s_), int(d_)): int(g_) for s_, d_, g_ in zip(sg.src, sg.dst, sg.lag)}
    # b -> relu (4 ch x 1) -> add -> pool (4 ch x 2) -> fc; a -> add -> pool -> fc
    assert lag[(4, 8)] == 4 + 8 and lag[(0, 8)] == 8
    assert sg.release.tolist() == [0] * 9


def test_pixel_sets_scale_vectorized():
    b = WorkloadBuilder()
    x = b.input(3, 128, 128)
    for i in range(3):
        x = b.conv(x, 16, name=f"c{i}")
    sg = build_sets(b.build(), HW, "pixel")
    assert sg.num_sets == 3 * 128 * 128
    assert len(sg.src) == 2 * (3 * 126 + 2 * 2) ** 2
