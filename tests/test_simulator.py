"""The referee: valid schedules pass with hand-checked metrics; each broken rule is caught and named."""

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.duplication import duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule
from cimopt.mapping import Budget, Mapping, make_mapping, resolve_budget
from cimopt.schedule import JOB_COLUMNS
from cimopt.sets import build_sets
from cimopt.simulator import simulate
from cimopt.simulator.windows import scatter_max, window_max
from cimopt.workload import Access, AxisMap
from tests.conftest import HW
from tests.graphs import pointwise_chain, random_dags, residual_block, yolo_like

COSTED = Hardware(noc_hop_cycles=3, gpeu_cycles=(("activation", 1),), pes_per_tile=1)


def sched(w, hw=HW, gran="pixel", barrier=False, dup="none", extra=0, mapping=None):
    m = mapping or duplicate(w, hw, resolve_budget(w, hw, extra_pes=extra), dup)
    return list_schedule(w, hw, m, build_sets(w, hw, gran), barrier=barrier, name="lbl" if barrier else "clsa")


def job(s, layer, set_):
    return int(np.nonzero((s.layer == layer) & (s.set == set_))[0][0])


def shifted(s, j, by):
    """The schedule with job j moved by `by` cycles."""
    d = (np.arange(len(s)) == j) * by
    return s.with_jobs(start=s.start + d, end=s.end + d)


def kinds(sim):
    return {v.kind for v in sim.violations}


def strided_pool() -> "object":
    b = WorkloadBuilder("strided")
    x = b.input(3, 9, 9)
    x = b.relu(b.conv(x, 8, k=3, stride=2, name="s1"))  # 5 x 5
    x = b.maxpool(x, 3, stride=2, pad=1)  # 3 x 3
    x = b.conv(x, 8, k=1, stride=2, name="s2")  # 2 x 2: reads every other pixel
    b.conv(x, 4, k=3, name="s3")
    return b.build()


def gemm_head() -> "object":
    b = WorkloadBuilder("gemm-head")
    x = b.input(4, 6, 6)
    x = b.relu(b.conv(x, 8, name="c"))
    b.gemm(b.global_pool(x), 10, name="fc")
    return b.build()


# ---------------------------------------------------------------------------------------------------------
# valid schedules


@pytest.mark.parametrize("gran,lbl,clsa", [("pixel", 192, 84), ("row", 192, 96)])
def test_golden_chain_latency_and_utilization(gran, lbl, clsa):
    w = conv_chain()
    for barrier, want in ((True, lbl), (False, clsa)):
        sim = simulate(w, sched(w, gran=gran, barrier=barrier))
        assert sim.valid and sim.violations == () and sim.violation_counts == {}
        assert sim.latency == want
        # 3 layers x 64 pixels x 1 crossbar, on a chip of exactly 3 PEs
        assert sim.busy_crossbar_cycles == 192
        assert sim.utilization == pytest.approx(192 / (3 * want))
        assert sim.utilization_mapped == sim.utilization
        assert sim.copy_busy == ((64,), (64,), (64,))
        assert sim.self_timed_latency == clsa  # the self-timed run of the lbl order is the CLSA schedule
    lb = simulate(w, sched(w, gran=gran, barrier=True))
    assert lb.layer_start == (0, 64, 128) and lb.layer_end == (64, 128, 192)


def test_golden_chain_clsa_layer_windows():
    sim = simulate(conv_chain(), sched(conv_chain()))
    # conv1 pixel (0, 0) needs conv0 pixel (1, 1), the 10th pixel: it ends at cycle 10; conv2 alike at 20
    assert sim.layer_start == (0, 10, 20) and sim.layer_end == (64, 74, 84)


@pytest.mark.parametrize("graph", [conv_chain, residual_block, yolo_like, strided_pool, gemm_head])
@pytest.mark.parametrize("hw,dup,extra", [(HW, "none", 0), (HW, "greedy", 6), (COSTED, "greedy", 4)])
@pytest.mark.parametrize("gran", ["pixel", "row", "block:2x2"])
def test_valid_schedules_pass(graph, hw, dup, extra, gran):
    w = graph()
    for barrier in (True, False):
        s = sched(w, hw, gran, barrier, dup, extra)
        sim = simulate(w, s)
        assert sim.valid, sim.violations[:3]
        assert sim.latency == s.makespan
        assert sim.self_timed_latency <= s.makespan
        if not barrier:  # ASAP already: the self-timed run reproduces it exactly
            assert (sim.self_timed_start == s.start).all()


def test_costed_hardware_places_copies_on_different_tiles():
    w = conv_chain()
    s = sched(w, COSTED)
    assert [s.mapping.home_tile(li, 0) for li in range(3)] == [0, 1, 2]
    sim = simulate(w, s)
    # one hop (3 cycles) and the ReLU (1 cycle x 4 channels) on every dependency: later than the free 84
    assert sim.valid and sim.latency > 84 and len(sim.peak_buffer) == 3


def test_slack_is_removed_by_the_self_timed_run():
    w = conv_chain()
    s = sched(w)
    late = s.with_jobs(start=s.start + 10, end=s.end + 10)
    sim = simulate(w, late)
    assert sim.valid and sim.latency == 94
    assert sim.self_timed_latency == 84 and (sim.self_timed_start == s.start).all()
    assert simulate(w, late, self_timed=False).self_timed_latency is None


# ---------------------------------------------------------------------------------------------------------
# each rule broken in turn


def test_late_dependency_names_producer_pixel():
    w = conv_chain()
    s = sched(w)
    j = job(s, 1, 0)
    assert s.start[j] == 10
    sim = simulate(w, shifted(s, j, -1))
    assert not sim.valid and sim.violation_counts == {"dependency": 1}
    v = sim.violations[0]
    assert (v.kind, v.layer, v.set, v.cycle) == ("dependency", "conv1", 0, 9)
    assert v.message == ("conv1 set 0 (rows 0..0, cols 0..0) on copy 0 starts at cycle 9 but needs conv0 pixel "
                         "(1, 1), ready at cycle 10 (ends 10 via relu0)")


def test_late_dependency_row_sets():
    w = conv_chain()
    s = sched(w, gran="row")
    j = job(s, 2, 3)  # conv2 row 3 needs conv1 row 4, which ends at 16 + 5 * 8 = 56
    assert s.start[j] == 56
    sim = simulate(w, shifted(s, j, -1))
    assert sim.violation_counts == {"dependency": 1, "copy-overlap": 1}  # row sets run back to back
    v = next(v for v in sim.violations if v.kind == "dependency")
    assert (v.layer, v.set, v.cycle) == ("conv2", 3, 55)
    assert "needs conv1 pixel (4, 0), ready at cycle 56" in v.message


def test_overlap_on_a_copy():
    w = conv_chain()
    s = sched(w, barrier=True)
    sim = simulate(w, shifted(s, job(s, 0, 1), -1))  # conv0 set 1 now runs [0, 1) with set 0
    assert sim.violation_counts == {"copy-overlap": 1}
    v = sim.violations[0]
    assert (v.layer, v.set, v.cycle) == ("conv0", 1, 0)
    assert "while set 0 runs [0, 1) on the same copy" in v.message


def test_missing_pixel_dropped_job():
    w = conv_chain()
    s = sched(w, barrier=True)
    keep = np.arange(len(s)) != job(s, 2, 5)
    sim = simulate(w, s.with_jobs(**{c: getattr(s, c)[keep] for c in JOB_COLUMNS}))
    assert sim.violation_counts == {"pixel-missing": 1}
    v = sim.violations[0]
    assert (v.kind, v.layer, v.set) == ("pixel-missing", "conv2", None)
    assert v.message == "conv2 pixel (0, 5) is computed by no job"
    assert sim.self_timed_latency == 84  # conv2 is dependency-bound all along: one pixel less gains nothing


def test_doubled_pixel_duplicated_job():
    w = conv_chain()
    s = sched(w, barrier=True)
    j = job(s, 1, 3)
    cols = {c: np.append(getattr(s, c), getattr(s, c)[j]) for c in JOB_COLUMNS}
    sim = simulate(w, s.with_jobs(**cols))
    assert sim.violation_counts["pixel-doubled"] == 1
    v = next(v for v in sim.violations if v.kind == "pixel-doubled")
    assert (v.layer, v.set) == ("conv1", 3)
    assert v.message.startswith("conv1 pixel (0, 3) is computed 2 times")
    assert "copy-overlap" in kinds(sim)  # the same copy at the same time


def test_wrong_duration():
    w = conv_chain()
    s = sched(w, barrier=True)
    j = job(s, 2, 63)
    end = s.end + (np.arange(len(s)) == j)
    sim = simulate(w, s.with_jobs(end=end))
    assert sim.violation_counts == {"duration": 1} and sim.latency == 193
    v = sim.violations[0]
    assert (v.layer, v.set, v.cycle) == ("conv2", 63, 191)
    assert "runs [191, 193) = 2 cycles, but its 1 pixels take 1 cycles" in v.message


def test_malformed_jobs():
    w = conv_chain()
    s = sched(w)
    copy = s.copy + (np.arange(len(s)) == 3)
    sim = simulate(w, s.with_jobs(copy=copy))
    assert sim.violation_counts["job"] == 1 and sim.self_timed_latency is None
    v = next(v for v in sim.violations if v.kind == "job")
    assert (v.layer, v.set) == ("conv0", 3) and "runs on copy 1, the layer has 1 copies" in v.message
    y1 = s.y1 + 9 * (np.arange(len(s)) == 70)
    v = simulate(w, s.with_jobs(y1=y1)).violations[0]
    assert v.kind == "job" and v.layer == "conv1" and "outside the 8 x 8 OFM" in v.message


def test_over_budget():
    w = conv_chain()
    m = make_mapping(w, HW, Budget(4, 1), (2, 1, 1))
    s = sched(w, mapping=replace(m, budget=Budget(3, 1)))
    sim = simulate(w, s)
    assert sim.violation_counts == {"budget": 1}
    assert sim.violations[0].message.startswith("the mapping uses 4 PEs (conv0 2x1, conv1 1x1, conv2 1x1), the budget is 3")
    tiles_hw = replace(HW, tiles=1)
    s2 = sched(w, hw=tiles_hw, mapping=make_mapping(w, tiles_hw, Budget(32, 2)))
    assert simulate(w, s2).violations[0].message == "the budget has 2 tiles, the chip (default) has 1"


def test_budget_beyond_the_mesh():
    """A schedule whose chip has more tiles than its hardware's `noc.mesh` holds (a hand-edited file): the
    referee says so instead of routing over tiles that are not there."""
    w = conv_chain()
    hw = Hardware(pes_per_tile=1, noc_hop_cycles=1)
    s = sched(w, hw, mapping=make_mapping(w, hw, Budget(3, 3)))
    assert simulate(w, s).valid
    small = replace(s, hardware=replace(hw, mesh=(1, 2)))
    sim = simulate(w, small)
    assert "the budget has 3 tiles, the 1x2 mesh of default (noc.mesh) holds 2" in [v.message for v in sim.violations]


def test_too_many_crossbars_on_a_tile():
    w = conv_chain()
    hw = Hardware(pes_per_tile=1)
    m = make_mapping(w, hw, Budget(3, 3))
    crowded = replace(m, placement=((( 0,),), ((0,),), ((0,),)))
    sim = simulate(w, sched(w, hw, mapping=crowded))
    assert sim.violation_counts == {"placement": 1}
    assert sim.violations[0].message.startswith("tile 0 holds 3 crossbars, it has 1 (held by conv0 copy 0")


def test_wrong_crossbars_and_tiles_outside_the_chip():
    w = conv_chain()
    m = make_mapping(w, HW, Budget(3, 1))
    bad = Mapping(m.budget, (2, 1, 1), m.copies, (((0, 0),), ((0,),), ((5,),)))
    sim = simulate(w, sched(w, mapping=bad))
    assert sim.violation_counts == {"mapping": 1, "placement": 2}
    msgs = [v.message for v in sim.violations]
    assert "conv0 is mapped on 2 crossbars per copy, but its 36 x 4 weights need 1 crossbars of 256 x 256" in msgs
    assert "conv0 copy 0 is placed on 2 crossbars, it needs 1" in msgs
    assert "conv2 copy 0 is placed on tile 5, the chip has tiles 0..0" in msgs


def test_transfer_latency_ignored():
    w = conv_chain()
    hw = Hardware(pes_per_tile=1)  # copies on tiles 0, 1, 2 of a 1 x 3 mesh
    s = sched(w, hw)
    assert simulate(w, s).valid
    sim = simulate(w, replace(s, hardware=replace(hw, noc_hop_cycles=3)))
    assert not sim.valid and set(sim.violation_counts) == {"dependency"}
    v = sim.violations[0]
    assert (v.layer, v.set, v.cycle) == ("conv1", 0, 10)
    assert v.message.endswith("needs conv0 pixel (1, 1), ready at cycle 13 (ends 10 + 3 NoC from tile 0 to tile 1 "
                              "via relu0)")


def test_gpeu_latency_ignored():
    w = conv_chain()
    s = sched(w)
    sim = simulate(w, replace(s, hardware=replace(HW, gpeu_cycles=(("activation", 1),))))
    assert set(sim.violation_counts) == {"dependency"}
    v = sim.violations[0]
    assert (v.layer, v.set) == ("conv1", 0)
    # ReLU: 1 cycle per element x 4 channels
    assert v.message.endswith("needs conv0 pixel (1, 1), ready at cycle 14 (ends 10 + 4 GPEU via relu0)")


def test_dependency_through_a_residual_add_and_global_pool():
    w = residual_block()
    hw = Hardware(gpeu_cycles=(("default", 1),))
    s = sched(w, hw)
    j = job(s, 4, 0)  # fc reads the whole global pool, which reads the whole add
    v = simulate(w, shifted(s, j, -1)).violations[0]
    assert (v.kind, v.layer, v.set) == ("dependency", "fc", 0)
    # add, relu, pool: 1 cycle per element x 8 channels each, listed in data-flow order
    assert v.message.endswith(f"needs c2 pixel (5, 5), ready at cycle {s.start[j]} (ends {s.start[j] - 24} "
                              "+ 24 GPEU via add7, relu8, globalaveragepool9)")


def test_gpeu_latency_on_the_graph_input():
    b = WorkloadBuilder("pool-first")
    x = b.maxpool(b.input(2, 4, 4), 2)
    b.conv(x, 2, k=1, name="c")
    w = b.build()
    s = sched(w)
    hw = replace(HW, gpeu_cycles=(("pool", 3),))
    v = simulate(w, replace(s, hardware=hw)).violations[0]
    assert v.message.endswith("needs input pixel (0, 0), ready at cycle 6 (graph input at 0 + 6 GPEU via maxpool1)")
    assert simulate(w, sched(w, hw)).valid


def test_buffer_peak_hand_computed():
    # pw0 pixel i ends at i + 1 and is read by pw1 pixel i at 16 + i (layer by layer): held [i + 1, 16 + i),
    # so 15 pixels of 4 channels are held at cycle 15; pw1's pixels are graph outputs and not held
    w = pointwise_chain(2, 4)
    s = sched(w, barrier=True)
    assert simulate(w, s).peak_buffer == (60,)
    assert simulate(w, sched(w)).peak_buffer == (0,)  # CLSA: each pixel is read the cycle it is made
    assert simulate(w, replace(s, hardware=replace(HW, buffer_elements=60))).valid
    sim = simulate(w, replace(s, hardware=replace(HW, buffer_elements=59)))
    assert sim.violation_counts == {"buffer": 1}
    v = sim.violations[0]
    assert (v.kind, v.layer, v.cycle) == ("buffer", "pw0", 15)
    assert v.message == "tile 0 holds 60 elements at cycle 15, its buffer holds 59 (pw0: 15 jobs = 60 elements)"


def test_buffer_through_gpeu_ops_and_per_tile():
    # golden chain layer by layer, one tile per layer: every conv0 pixel has ended by cycle 64 and the first one
    # is released when conv1 pixel (1, 1) starts at 73 (read through relu0), so tile 0 holds 64 x 4 elements;
    # tile 1 alike for conv1; conv2's pixels are graph outputs
    w = conv_chain()
    sim = simulate(w, sched(w, Hardware(pes_per_tile=1), barrier=True))
    assert sim.peak_buffer == (256, 256, 0)


def test_reports_are_bounded_but_counts_are_not():
    w = conv_chain()
    s = sched(w)
    keep = s.layer != 2
    sim = simulate(w, s.with_jobs(**{c: getattr(s, c)[keep] for c in JOB_COLUMNS}), max_reports=5)
    assert sim.violation_counts == {"pixel-missing": 64} and len(sim.violations) == 5


def test_schedule_of_another_model_is_input_error():
    s = sched(conv_chain())
    with pytest.raises(InputError, match="belongs to model"):
        simulate(conv_chain(n_layers=2), s)


def test_referee_is_independent():
    mods = set()
    for f in Path(__file__).resolve().parent.parent.joinpath("cimopt/simulator").glob("*.py"):
        tree = ast.parse(f.read_text())
        mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "cimopt.simulator.dependencies" in mods  # the package was read
    assert not any(m in ("cimopt.sets", "cimopt.timing", "cimopt.list_scheduling")
                   or m.startswith(("cimopt.schedulers", "cimopt.analysis")) for m in mods)


# ---------------------------------------------------------------------------------------------------------
# window maxima against brute force, and random graphs


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3), st.integers(1, 3), st.integers(-3, 3), st.integers(0, 4), st.integers(1, 7),
       st.integers(1, 9), st.integers(0, 2**31))
def test_window_and_scatter_max_brute_force(num, den, offset, extent, n_in, n_out, seed):
    amap = AxisMap(num, den, offset, extent)
    acc = Access(rows=amap, cols=AxisMap())
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, size=(n_in, 2))
    b = rng.integers(0, 100, size=(n_out, 2))
    got, back = window_max(a, acc, n_out, 2), scatter_max(b, acc, n_in, 2)
    want_back = np.full((n_in, 2), -(1 << 60))
    for o in range(n_out):
        lo, hi = amap.window(np.array([o]), n_in)
        lo, hi = int(lo[0]), int(hi[0])
        assert (got[o] == (a[lo:hi + 1].max(axis=0) if lo <= hi else -(1 << 60))).all()
        if lo <= hi:
            want_back[lo:hi + 1] = np.maximum(want_back[lo:hi + 1], b[o])
    assert (back == want_back).all()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_dags(), st.sampled_from(["pixel", "row", "block:2x3", "layer"]), st.integers(0, 3), st.integers(0, 2),
       st.sampled_from([1, 2, 16]), st.integers(0, 6))
def test_random_graphs_list_schedules_are_valid(w, gran, hop, gpeu, pes_per_tile, extra):
    hw = Hardware(noc_hop_cycles=hop, gpeu_cycles=(("default", gpeu),), pes_per_tile=pes_per_tile,
                  xbar_rows=32, xbar_cols=32)
    m = duplicate(w, hw, resolve_budget(w, hw, extra_pes=extra), "greedy")
    for barrier in (True, False):
        s = sched(w, hw, gran, barrier, mapping=m)
        sim = simulate(w, s)
        assert sim.valid, sim.violations[:3]
        assert sim.latency == s.makespan and sim.self_timed_latency <= s.makespan
        if not barrier:
            assert sim.self_timed_latency == s.makespan
