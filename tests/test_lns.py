"""LNS and the ready-order list schedule: always valid (simulator), never worse than the incumbent."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.cpsat import violations
from cimopt.schedulers.lns import global_arrays, left_shift, lns, ready_order_schedule
from cimopt.schedulers.registry import Options, get
from cimopt.simulator import simulate
from tests.graphs import random_dags
from tests.test_bounds import HW, setup


def test_left_shift_reproduces_clsa():
    """CLSA is semi-active: left-shifting it in its own order gives it back; a later start gets pulled back."""
    w = conv_chain()
    m, s = setup(w, HW, (2, 1, 2), "row")
    sch = schedule_clsa(w, HW, m, s)
    copy, start = global_arrays(s, sch)
    assert left_shift(s, HW, m, copy, start).tolist() == start.tolist()
    late = start.copy()
    late[-1] += 5
    assert left_shift(s, HW, m, copy, late).tolist() == start.tolist()


def test_ready_order_golden_chain():
    """Row sets, one copy each: every row of a layer becomes ready after the previous one, so the ready order is
    the raster order and the schedule is CLSA's (the optimum 96); at pixel sets it is valid, and no better
    than the optimum 84 (it is not always better than CLSA-CIM, so the LNS starts from the better one)."""
    w = conv_chain()
    m, s = setup(w, HW, (1, 1, 1), "row")
    r = ready_order_schedule(w, HW, m, s)
    assert r.makespan == 96 and r.start.tolist() == schedule_clsa(w, HW, m, s).start.tolist()
    m, s = setup(w, HW, (1, 1, 1), "pixel")
    r = ready_order_schedule(w, HW, m, s)
    assert simulate(w, r).valid and r.makespan >= 84


@pytest.mark.slow
def test_lns_beats_clsa_on_mini_yolo_blocks():
    """mini-yolo, 4x4 blocks, greedy +4 PEs: CLSA-CIM 1920, the ready order 1904 (hand-run: LNS reaches 1872)."""
    p = api.prepare("mini-yolo", dup="greedy", extra_pes=4, sets="block:4x4")
    clsa = api.run(p, "clsa").sim.latency
    ready = ready_order_schedule(p.workload, p.hardware, p.mapping, p.sets)
    assert (clsa, ready.makespan) == (1920, 1904)
    run = api.run(p, "lns", time_limit=1.0)
    assert run.sim.valid and run.sim.latency <= 1904 and run.solve.bound <= run.sim.latency
    assert run.schedule.info["start"] == "ready-order" and run.solve.bound_rule


@st.composite
def lns_cases(draw):
    w = draw(random_dags())
    gran = draw(st.sampled_from(["row", "pixel", "block:2x2"]))
    hop = draw(st.sampled_from([0, 2]))
    hw = replace(HW, pes_per_tile=1 if hop else 16, noc_hop_cycles=hop,
                 gpeu_cycles=(("default", draw(st.integers(0, 1))),))
    copies = tuple(draw(st.integers(1, 3)) for _ in w.layers)
    return w, hw, copies, gran, draw(st.integers(0, 3))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lns_cases())
def test_lns_valid_and_never_worse(case):
    w, hw, copies, gran, seed = case
    m, s = setup(w, hw, copies, gran)
    assert simulate(w, ready_order_schedule(w, hw, m, s)).valid
    _check_lns(w, hw, copies, gran, seed)


def _check_lns(w, hw, copies, gran, seed):
    m, s = setup(w, hw, copies, gran)
    copy, start = global_arrays(s, schedule_clsa(w, hw, m, s))
    res = lns(w, hw, m, s, copy, start, time_limit=0.3, seed=seed, window_sets=20, move_dtime=0.1)
    assert res.makespan <= res.initial == int((start + s.duration).max())
    assert violations(s, hw, m, res.copy, res.start) == 0
    from cimopt.list_scheduling import to_schedule

    sim = simulate(w, to_schedule(w, hw, m, s, res.copy, res.start, res.start + s.duration, name="lns"))
    assert sim.valid and sim.latency == res.makespan
    return res


def test_lns_symmetric_window_hint():
    """Regression (hypothesis find): 1x6x6 input, conv + relu + residual add, maxpool, conv to 4 channels,
    upsample; pixel sets, one copy each, no NoC lag, GPEU 0, seed 0. The second move frees 9 unit-duration
    sets of one copy, 4 of them with equal bounds: with the incumbent hinted, OR-Tools 9.15's symmetry presolve
    raised `IndexError: absl::btree_map::at` inside `solver.Solve` (the move now runs with symmetry_level 0)."""
    b = WorkloadBuilder("random")
    x = b.input(1, 6, 6)
    x = b.add(b.relu(b.conv(x, 1, name="l0")), x)
    x = b.upsample(b.conv(b.maxpool(x, 2), 4, name="l1"), 2)
    hw = replace(HW, pes_per_tile=16, noc_hop_cycles=0, gpeu_cycles=(("default", 0),))
    res = _check_lns(b.build(), hw, (1, 1), "pixel", 0)
    assert res.moves >= 2


def test_lns_rejects_invalid_incumbent_and_repeats():
    w = conv_chain()
    m, s = setup(w, HW, (2, 2, 2), "pixel")
    copy, start = global_arrays(s, schedule_clsa(w, HW, m, s))
    bad = start.copy()
    bad[-1] = 0
    with pytest.raises(ValueError, match="not valid"):
        lns(w, HW, m, s, copy, bad, time_limit=0.1)
    a = lns(w, HW, m, s, copy, start, time_limit=0.4, seed=1, window_sets=40, move_dtime=0.1)
    b = lns(w, HW, m, s, copy, start, time_limit=0.4, seed=1, window_sets=40, move_dtime=0.1)
    assert a.start.tolist() == b.start.tolist() and a.moves == b.moves == 4


def test_registry_entry():
    assert get("lns").exact
    p = api.prepare(conv_chain(), sets="row")
    r = get("lns").run(p, Options(time_limit=0.2))
    # the golden chain at row sets: 96 is optimal and the bounds prove it
    assert r.schedule.makespan == 96 and r.status == "OPTIMAL" and r.solve.bound == 96
    assert np.all(r.schedule.end - r.schedule.start > 0)


def test_cpsat_retries_without_symmetry_on_the_presolve_bug():
    """The full CP-SAT scheduler meets the same OR-Tools 9.15 bug (an IndexError from absl::btree_map in presolve)
    on hinted no-overlaps: it solves once more with symmetry detection off instead of failing."""
    from ortools.sat.python import cp_model

    from cimopt.schedulers.cpsat import _solve_interruptibly

    m = cp_model.CpModel()
    x = m.NewIntVar(0, 3, "x")
    m.Minimize(x)
    solver = cp_model.CpSolver()
    levels, real = [], solver.Solve

    def flaky(model, callback=None):
        levels.append(solver.parameters.symmetry_level)
        if len(levels) == 1:
            raise IndexError("absl::btree_map::at")
        return real(model, callback)

    solver.Solve = flaky
    status, interrupted = _solve_interruptibly(solver, m, None, lambda: False)
    assert levels == [2, 0] and status == cp_model.OPTIMAL and not interrupted
