import pytest

from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.duplication import copies_greedy, duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Budget, crossbars, make_mapping, min_pes, resolve_budget

HW = Hardware()


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
