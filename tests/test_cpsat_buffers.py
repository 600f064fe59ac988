"""CP-SAT with tile-buffer reservoirs: valid, no slower than the buffer-aware heuristic, mutations caught."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt.analysis.buffers import schedule_peaks
from cimopt.builder import conv_chain
from cimopt.duplication import duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import make_mapping, resolve_budget
from cimopt.schedulers.backpressure import schedule_backpressure
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.cpsat import solve_cpsat
from cimopt.sets import build_sets
from cimopt.simulator import simulate
from tests.graphs import random_dags, yolo_like
from tests.test_backpressure import three_pointwise


def test_reservoir_finds_the_unavoidable_latency_of_the_chain():
    w, hw, m, sg = three_pointwise(4)
    bp = schedule_backpressure(w, hw, m, sg)
    res = solve_cpsat(w, hw, m, sg, time_limit=5)
    sim = simulate(w, res.schedule)
    assert sim.valid and max(sim.peak_buffer) <= 4
    assert res.status == "OPTIMAL" and res.objective == bp.makespan == 18  # B's 16 pixels in a row bound it


def test_reservoir_beats_the_reservation_rule_on_the_conv_chain():
    w = conv_chain()  # three 3x3 convs on 8 x 8, one copy each, a tile per copy
    hw = Hardware(pes_per_tile=1, buffer_elements=96)
    m = make_mapping(w, hw, resolve_budget(w, hw))
    sg = build_sets(w, hw, "row")
    bp = schedule_backpressure(w, hw, m, sg)
    res = solve_cpsat(w, hw, m, sg, time_limit=5)
    sim = simulate(w, res.schedule)
    assert sim.valid and max(sim.peak_buffer) <= 96
    assert res.objective <= bp.makespan
    assert res.status == "OPTIMAL" and res.objective == 96  # the exact rule holds three rows: CLSA's optimum fits
    assert schedule_clsa(w, hw, m, sg).makespan == 96


def test_tile_choice_under_noc_costs_and_buffers():
    w = yolo_like(16)
    hw = Hardware(pes_per_tile=2, noc_hop_cycles=1)
    m = duplicate(w, hw, resolve_budget(w, hw, extra_pes=6), "greedy")
    sg = build_sets(w, hw, "row")
    clsa = schedule_clsa(w, hw, m, sg)
    peak = int(schedule_peaks(w, sg, m, clsa.copy, clsa.start, reserve=True).max())
    hw_b = dataclasses.replace(hw, buffer_elements=peak * 3 // 4)
    bp = schedule_backpressure(w, hw_b, m, sg)
    res = solve_cpsat(w, hw_b, m, sg, time_limit=5)
    sim = simulate(w, res.schedule)
    assert sim.valid and max(sim.peak_buffer) <= hw_b.buffer_elements
    assert res.objective <= bp.makespan and res.bound <= res.objective


def test_joint_with_finite_buffers_is_refused():
    w, hw, m, sg = three_pointwise(4)
    with pytest.raises(InputError, match="joint duplication with finite tile buffers"):
        solve_cpsat(w, hw, m, sg, joint=True, time_limit=2)


def test_below_the_footprint_cpsat_says_why():
    w, hw, m, sg = three_pointwise(3)
    with pytest.raises(InputError, match="smallest capacity that could work is 4 elements"):
        solve_cpsat(w, hw, m, sg, time_limit=2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(), st.sampled_from(["row", "block:2x2"]), st.integers(0, 4), st.floats(0.4, 1.0))
def test_random_dags_cpsat_no_slower_than_heuristic(w, gran, extra, frac):
    hw = Hardware(pes_per_tile=2)
    m = duplicate(w, hw, resolve_budget(w, hw, extra_pes=extra), "greedy")
    sg = build_sets(w, hw, gran)
    clsa = schedule_clsa(w, hw, m, sg)
    peak = int(schedule_peaks(w, sg, m, clsa.copy, clsa.start, reserve=True).max())
    hw_b = dataclasses.replace(hw, buffer_elements=max(1, int(peak * frac)))
    try:
        bp = schedule_backpressure(w, hw_b, m, sg)
    except InputError:
        return
    res = solve_cpsat(w, hw_b, m, sg, time_limit=2)
    sim = simulate(w, res.schedule)
    assert sim.valid, sim.violations[:3]
    assert res.bound <= res.objective <= bp.makespan


def test_simulator_catches_buffer_mutations_of_planned_schedules():
    """Mutate a valid buffer-planned schedule (every layer from layer k on starts `shift` cycles later: the
    dependencies and copies still hold, the producers before k hold their outputs longer): the set-level
    accounting the schedulers plan with never undercounts the simulator's per-pixel peak, and every mutation
    that overflows a tile is reported as buffer violations naming exactly those tiles."""
    w = yolo_like(16)
    hw = Hardware(pes_per_tile=2)
    m = duplicate(w, hw, resolve_budget(w, hw, extra_pes=4), "greedy")
    sg = build_sets(w, hw, "row")
    clsa = schedule_clsa(w, hw, m, sg)
    cap = int(schedule_peaks(w, sg, m, clsa.copy, clsa.start, reserve=True).max()) * 7 // 8  # 896: CLSA-CIM's own set-level peak, a tight fit
    bp = schedule_backpressure(w, dataclasses.replace(hw, buffer_elements=cap), m, sg)
    assert simulate(w, bp).valid
    caught = 0
    for k in range(1, len(w.layers)):
        for shift in (1, 5, 20, 60):
            start = bp.start + np.where(bp.layer >= k, shift, 0)
            mut = bp.with_jobs(start=start, end=start + (bp.end - bp.start))
            sim = simulate(w, mut, self_timed=False)
            if set(sim.violation_counts) - {"buffer"}:
                continue  # the mutation broke another rule first
            planned = schedule_peaks(w, sg, m, mut.copy, mut.start)
            assert (planned >= np.asarray(sim.peak_buffer)).all()
            over = np.flatnonzero(np.asarray(sim.peak_buffer) > cap)
            assert sim.violation_counts.get("buffer", 0) == len(over)
            for v in sim.violations:
                assert v.kind == "buffer" and int(v.message.split()[1]) in over
            caught += len(over) > 0
    assert caught >= 5


@pytest.mark.slow
def test_done_when_on_the_zoo_at_half_of_clsa_peak():
    """Row sets, noc-mesh, +64 PEs, greedy, the buffer at half of CLSA-CIM's peak: CLSA-CIM is invalid with
    buffer violations; on ResNet18 and SqueezeNet 1.1 clsa-bp is valid and CP-SAT no slower; TinyYOLOv3's request
    is below what any schedule in CLSA-CIM's order must hold (the hold bound, 66,560), and at that bound clsa-bp
    is valid."""
    from cimopt import api
    from cimopt.capacity import with_buffer

    for model, expect in (("resnet18", 27_862), ("squeezenet1_1", 20_922), ("tiny-yolov3", None)):
        p = api.prepare(model, "noc-mesh", dup="greedy", extra_pes=64, sets="row")
        peak = max(api.run(p, "clsa").sim.peak_buffer)
        pb = with_buffer(p, peak // 2)
        clsa = api.run(pb, "clsa")
        assert not clsa.sim.valid and set(clsa.sim.violation_counts) == {"buffer"}
        if expect is None:
            with pytest.raises(InputError, match="smallest capacity that could work is 66,560 elements"):
                api.run(pb, "clsa-bp")
            pb = with_buffer(p, 66_560)
            expect = 56_976
        bp = api.run(pb, "clsa-bp")
        assert bp.sim.valid and bp.sim.latency == expect > clsa.sim.latency
        cp = api.run(pb, "cpsat", time_limit=2, hint=bp.schedule)
        assert cp.sim.valid and cp.sim.latency <= bp.sim.latency
