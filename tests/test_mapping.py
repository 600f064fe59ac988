from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.duplication import copies_greedy, copies_minmax, duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Budget, crossbars, make_mapping, min_pes, resolve_budget
from tests.conftest import HW


def _layer(cin, cout, k=3, groups=1, size=8):
    b = WorkloadBuilder()
    x = b.input(cin, size, size)
    b.conv(x, cout, k=k, groups=groups, name="c")
    return b.build().layers[0]


def test_crossbars_ungrouped():
    assert crossbars(_layer(3, 16), HW) == 1                    # 27 x 16
    assert crossbars(_layer(256, 512), HW) == 9 * 2             # 2304 x 512 -> 9 row tiles x 2 col tiles
    assert crossbars(_layer(512, 1024, k=1), Hardware(xbar_rows=512, xbar_cols=512)) == 2


def test_depthwise_and_grouped_packing():
    dw = _layer(96, 96, groups=96)                   # per group 9 x 1
    assert (dw.rows, dw.cols, dw.groups) == (9, 96, 96)
    assert crossbars(dw, HW) == 4                     # min(256 // 9, 256 // 1) = 28 groups a crossbar: ceil(96 / 28)
    assert crossbars(_layer(960, 960, groups=960), HW) == 35   # ceil(960 / 28)
    g = _layer(64, 64, groups=2)                      # per group 288 x 32 does not fit 256 rows: tiled alone
    assert crossbars(g, HW) == 2 * 2


def test_budget_resolution_and_errors():
    w = conv_chain()
    assert min_pes(w, HW) == 3
    assert resolve_budget(w, HW) == Budget(3, 1)
    assert resolve_budget(w, HW, extra_pes=5) == Budget(8, 1)
    assert resolve_budget(w, HW, tiles=2) == Budget(32, 2)
    assert resolve_budget(w, HW, pes=40) == Budget(40, 3)
    with pytest.raises(InputError, match="needs 3 PEs"):
        resolve_budget(w, HW, pes=2)
    with pytest.raises(InputError, match="at most one"):
        resolve_budget(w, HW, pes=4, tiles=1)
    with pytest.raises(InputError, match="chip.tiles"):
        resolve_budget(w, Hardware(pes_per_tile=1, tiles=2, source="t.toml"))


def test_greedy_duplication_follows_the_rule():
    # three layers of 64 pixels, 1 crossbar each; 5 extra PEs: 64,64,64 -> copies go 0,1,2,0,1
    w = conv_chain()
    assert copies_greedy(w, HW, Budget(8, 1)) == (3, 3, 2)
    # a copy must lower ceil(N/D): 16 pixels go 16, 8, 6, 4 and a 5th copy would leave 4, so greedy stops
    # at 4 copies even with PEs free; the 1-pixel FC never qualifies
    b = WorkloadBuilder()
    x = b.input(3, 4, 4)
    x = b.conv(x, 8, name="c")
    b.gemm(x, 10, name="fc")
    assert copies_greedy(b.build(), HW, Budget(50, 4)) == (4, 1)


def test_mapping_placement_sequential():
    w = conv_chain()
    m = make_mapping(w, Hardware(pes_per_tile=2), Budget(6, 3), (2, 1, 3))
    assert m.placement == (((0,), (0,)), ((1,),), ((1,), (2,), (2,)))
    assert m.pes_used == 6 and m.home_tile(2, 1) == 2
    with pytest.raises(InputError, match="needs 7 PEs"):
        make_mapping(w, HW, Budget(6, 1), (3, 2, 2))
    assert duplicate(w, HW, Budget(3, 1), "none").copies == (1, 1, 1)
    with pytest.raises(InputError, match="unknown duplication strategy"):
        duplicate(w, HW, Budget(3, 1), "smart")


# ---------------------------------------------------------------------------------------------------------
# the stream's bottleneck max_l ceil(N_l / D_l): minmax is exact, greedy nearly (brute force on small cases)


def _independent_layers(shapes, hw):
    """One 1x1 conv per (height, width, crossbars) on its own input: pixels and crossbars chosen freely."""
    b = WorkloadBuilder("free")
    for i, (h, w, x) in enumerate(shapes):
        b.conv(b.input(hw.xbar_rows, h, w, name=f"in{i}"), hw.xbar_cols * x, k=1, name=f"l{i}")
    return b.build()


def _bottleneck(wl, d):
    return max(-(-lay.pixels // di) for lay, di in zip(wl.layers, d, strict=True))


def _brute_force(wl, hw, pes):
    xb = [crossbars(lay, hw) for lay in wl.layers]
    best = None
    for d in product(*[range(1, lay.pixels + 1) for lay in wl.layers]):
        if sum(a * b for a, b in zip(d, xb, strict=True)) <= pes:
            v = _bottleneck(wl, d)
            best = v if best is None else min(best, v)
    return best


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=3),
       st.integers(0, 12))
def test_minmax_duplication_is_the_optimal_bottleneck(shapes, extra):
    hw = Hardware(xbar_rows=8, xbar_cols=8)
    wl = _independent_layers(shapes, hw)
    budget = resolve_budget(wl, hw, extra_pes=extra)
    opt = _brute_force(wl, hw, budget.pes)
    mm, gr = copies_minmax(wl, hw, budget), copies_greedy(wl, hw, budget)
    assert _bottleneck(wl, mm) == opt
    assert _bottleneck(wl, gr) >= opt
    assert sum(d * crossbars(lay, hw) for d, lay in zip(mm, wl.layers, strict=True)) <= budget.pes


def test_greedy_stalls_where_minmax_does_not():
    hw = Hardware(xbar_rows=8, xbar_cols=8)
    wl = _independent_layers([(4, 4, 1)], hw)      # one 16-pixel layer on one crossbar, room for 6 copies
    budget = resolve_budget(wl, hw, extra_pes=5)
    assert copies_greedy(wl, hw, budget) == (4,)  # a 5th copy leaves ceil(16/5) = 4: greedy stops
    assert copies_minmax(wl, hw, budget) == (6,)  # 6 copies: ceil(16/6) = 3, the optimum
    assert duplicate(wl, hw, budget, "minmax").copies == (6,)
