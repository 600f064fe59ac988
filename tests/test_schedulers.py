import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.builder import conv_chain
from cimopt.duplication import duplicate
from cimopt.hardware import Hardware
from cimopt.list_scheduling import chain_starts
from cimopt.mapping import Budget, make_mapping, resolve_budget
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.layer_by_layer import schedule_layer_by_layer
from cimopt.sets import build_sets
from cimopt.simulator import simulate
from cimopt.zoo import ZOO
from tests.conftest import HW
from tests.graphs import pointwise_chain, random_dags, residual_block, yolo_like


def both(w, hw, mapping, gran):
    sg = build_sets(w, hw, gran)
    return schedule_layer_by_layer(w, hw, mapping, sg), schedule_clsa(w, hw, mapping, sg)


def test_golden_example():
    w = conv_chain()
    m = make_mapping(w, HW, resolve_budget(w, HW))
    for gran, (lbl, clsa) in {"pixel": (192, 84), "row": (192, 96), "layer": (192, 192)}.items():
        a, b = both(w, HW, m, gran)
        assert (a.makespan, b.makespan) == (lbl, clsa)
        assert simulate(w, a).valid and simulate(w, b).valid


def test_chain_with_copies_hand_computed():
    w = pointwise_chain(2, 4)                       # 16 pixels per layer, set i needs set i
    m = make_mapping(w, HW, Budget(4, 1), (2, 2))
    lbl, clsa = both(w, HW, m, "pixel")
    assert lbl.makespan == 8 + 8                    # 16 sets over 2 copies, twice
    assert clsa.makespan == 9                       # layer 1 set i starts when layer 0 set i ends: i // 2 + 1
    assert clsa.copy.tolist()[:4] == [0, 1, 0, 1]
    assert clsa.start[16:20].tolist() == [1, 1, 2, 2]
    m = make_mapping(w, HW, Budget(4, 1), (1, 2))
    lbl, clsa = both(w, HW, m, "pixel")
    assert (lbl.makespan, clsa.makespan) == (24, 17)


def test_residual_block_and_fc():
    w = residual_block(6)
    m = make_mapping(w, HW, resolve_budget(w, HW))
    lbl, clsa = both(w, HW, m, "row")
    # lbl: 4 convs of 36 pixels + the FC's single pixel
    assert lbl.makespan == 4 * 36 + 1
    # CLSA: stem rows end 6,12,..; c1 row r needs stem rows r-1..r+1; c2 likewise; the shortcut conv waits for
    # its copy only; the fc needs everything
    assert clsa.makespan < lbl.makespan
    sim = simulate(w, clsa)
    assert sim.valid and sim.latency == clsa.makespan
    fc = clsa.end[clsa.layer == 4]
    assert fc.tolist() == [int(clsa.end[clsa.layer < 4].max()) + 1]


def test_noc_and_gpeu_costs_are_honoured():
    w = yolo_like(16)
    hw = Hardware(pes_per_tile=1, noc_hop_cycles=3, gpeu_cycles=(("pool", 1), ("resize", 2)))
    m = duplicate(w, hw, resolve_budget(w, hw, extra_pes=6), "greedy")
    for gran in ("pixel", "row", "block:4x4"):
        lbl, clsa = both(w, hw, m, gran)
        s1, s2 = simulate(w, lbl), simulate(w, clsa)
        assert s1.valid and s2.valid, (s1.violations[:2], s2.violations[:2])
        assert clsa.makespan <= lbl.makespan
        assert s2.self_timed_latency <= clsa.makespan


def test_chain_starts_prefix_max():
    ready = np.array([[0], [5], [1], [20]])
    dur = np.array([[3], [2], [4], [1]])
    assert chain_starts(ready, dur, np.array([2])).ravel().tolist() == [2, 5, 7, 20]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=random_dags(), gran=st.sampled_from(["pixel", "row", "rows:2", "block:2x2", "layer"]),
       extra=st.integers(0, 6), dup=st.sampled_from(["none", "greedy"]))
def test_clsa_valid_and_never_later_than_lbl(w, gran, extra, dup):
    m = duplicate(w, HW, resolve_budget(w, HW, extra_pes=extra), dup)
    lbl, clsa = both(w, HW, m, gran)
    assert clsa.makespan <= lbl.makespan
    sim = simulate(w, clsa)
    assert sim.valid, sim.violations[:3]
    assert simulate(w, lbl).valid
    assert sim.self_timed_latency <= clsa.makespan


@pytest.mark.parametrize("model", sorted(ZOO))
def test_zoo_clsa_valid_and_faster_than_lbl(model):
    """Every zoo model at pixel sets: lbl without duplication = sum of OFM pixels; CLSA valid and faster."""
    p = api.prepare(model, sets="pixel")
    lbl, clsa = api.run(p, "lbl"), api.run(p, "clsa")
    assert lbl.sim.valid and clsa.sim.valid
    assert lbl.sim.latency == sum(layer.pixels for layer in p.workload.layers)
    assert clsa.sim.latency < lbl.sim.latency
    assert clsa.sim.self_timed_latency == clsa.sim.latency


def test_default_schedulers_follow_the_problem():
    """compare's default set: one inference with unlimited buffers adds clsa-fb to the references; a stream
    drops the one-inference schedulers and adds the layer pipeline; a finite tile buffer drops the schedulers
    that ignore it (clsa-fb), keeping the references and those that plan for buffers (the memory schedulers
    only there); link contention drops those that do not plan it (clsa-fb, clsa-bp)."""
    from cimopt.schedulers.registry import defaults

    assert defaults(False) == ("lbl", "clsa", "clsa-bp", "clsa-fb", "cpsat")
    assert defaults(True) == ("lbl", "clsa", "clsa-bp", "cpsat", "layer-pipeline")
    assert defaults(False, finite=True) == ("lbl", "clsa", "clsa-bp", "clsa-spill", "memory-aware", "cpsat")
    assert defaults(False, contention=True) == ("lbl", "clsa", "cpsat")
