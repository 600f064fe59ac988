"""CP-SAT reference scheduler: optimal on the golden chain, equal to enumeration on tiny instances, never
worse than CLSA, valid under the simulator, deterministic, and well-behaved on time limits and Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt.analysis.bounds import lower_bounds
from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.duplication import duplicate
from cimopt.errors import InputError
from cimopt.mapping import make_mapping, resolve_budget
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.cpsat import TileGroups, colour_copies, peak_overlap, solve_cpsat, violations
from cimopt.schedulers.layer_by_layer import schedule_layer_by_layer
from cimopt.sets import build_sets
from cimopt.simulator import simulate
from tests.conftest import HW, brute_force_optimum, problem, setup
from tests.test_bounds import tiny_chain, tiny_instances, tiny_random


def check_valid(workload, result):
    """The simulator accepts the schedule and measures the makespan CP-SAT reports."""
    sim = simulate(workload, result.schedule)
    assert sim.valid, sim.violations[:3]
    assert sim.latency == result.objective == result.schedule.makespan
    assert result.schedule.scheduler == "cpsat"
    return sim




def mini_yolo(size: int = 16):
    """A TinyYOLO-shaped graph: conv/maxpool trunk, 1x1 heads, upsample + concat."""
    b = WorkloadBuilder("mini-yolo")
    x = b.input(3, size, size)
    c1 = b.relu(b.conv(x, 8, name="c1"))
    c2 = b.relu(b.conv(b.maxpool(c1), 16, name="c2"))
    c3 = b.relu(b.conv(b.maxpool(c2), 16, name="c3"))
    b.conv(c3, 8, k=1, name="head1")
    r = b.conv(c3, 8, k=1, name="route")
    b.conv(b.concat([b.upsample(r), c2]), 8, name="head2")
    return b.build()


# ----------------------------------------------------------------------------------------- golden


def test_golden_chain_rows_optimal_96():
    w, hw, m, s = problem(conv_chain())
    r = solve_cpsat(w, hw, m, s, time_limit=20)
    assert (r.status, r.objective, r.bound, r.gap) == ("OPTIMAL", 96, 96, 0.0)
    assert schedule_clsa(w, hw, m, s).makespan == 96
    check_valid(w, r)
    # one interval per row set, one precedence per dependency: conv1 row r reads conv0 rows r-1..r+1,
    # 2 + 6*3 + 2 = 22 edges per layer pair; variables: 24 starts and the makespan
    assert (r.num_intervals, r.num_precedences, r.num_variables) == (24, 44, 25)
    info = r.schedule.info
    assert info["status"] == "OPTIMAL" and info["bound"] == 96 and info["num_intervals"] == 24


def test_golden_chain_pixels_optimal():
    w, hw, m, s = problem(conv_chain(), gran="pixel")
    r = solve_cpsat(w, hw, m, s, time_limit=20)
    assert r.status == "OPTIMAL" and r.objective <= 84
    assert r.objective == r.bound == 84  # proved by the closure bound (see test_bounds)
    check_valid(w, r)


# ----------------------------------------------------------------------------------- enumeration


@pytest.mark.parametrize("case", tiny_instances(), ids=lambda c: c[0])
def test_equals_enumerated_optimum(case):
    _, w, hw, copies, gran = case
    m, s = setup(w, hw, copies, gran)
    r = solve_cpsat(w, hw, m, s, time_limit=20)
    assert r.status == "OPTIMAL"
    assert r.objective == brute_force_optimum(w, hw, m, s)
    check_valid(w, r)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(tiny_random())
def test_equals_enumerated_optimum_random(case):
    w, hw, copies = case
    m, s = setup(w, hw, copies, "row")
    r = solve_cpsat(w, hw, m, s, time_limit=20)
    assert r.status == "OPTIMAL" and r.objective == brute_force_optimum(w, hw, m, s)
    check_valid(w, r)


def test_joint_equals_enumerated_optimum():
    w, hw = tiny_chain()
    budget = resolve_budget(w, hw, extra_pes=2)
    s = build_sets(w, hw, "row")
    opt = min(brute_force_optimum(w, hw, make_mapping(w, hw, budget, (a, b)), s)
              for a in (1, 2, 3) for b in (1, 2) if a + b <= 4)
    r = solve_cpsat(w, hw, make_mapping(w, hw, budget), s, joint=True, budget=budget, time_limit=20)
    assert r.status == "OPTIMAL" and r.objective == opt == 10
    assert r.schedule.mapping.copies == (3, 1) and r.schedule.mapping.strategy == "cpsat-joint"
    check_valid(w, r)


# ------------------------------------------------------------------------------------- properties


@st.composite
def small_cnns(draw):
    """2-6 convs on a 4x4..8x8 input: chains, residual adds, concats, maxpool, upsample; row or pixel sets."""
    size = draw(st.sampled_from([4, 6, 8]))
    b = WorkloadBuilder("prop")
    x = b.input(draw(st.integers(1, 4)), size, size)
    convs = 0
    target = draw(st.integers(2, 6))
    while convs < target:
        kind = draw(st.sampled_from(["conv", "conv", "res", "cat", "pool-up"]))
        shape = b._shape(x)
        if kind == "res" and convs + 2 <= target:
            y = b.relu(b.conv(x, 4, name=f"r{convs}"))
            y = b.conv(y, shape.channels, name=f"r{convs + 1}")
            x, convs = b.relu(b.add(y, x)), convs + 2
        elif kind == "cat":
            y = b.conv(x, 2, k=1, name=f"k{convs}")
            x, convs = b.concat([y, x]), convs + 1
        elif kind == "pool-up" and shape.height % 2 == 0:
            y = b.conv(b.maxpool(x), 4, name=f"p{convs}")
            x, convs = b.upsample(y), convs + 1
        else:
            x, convs = b.relu(b.conv(x, draw(st.integers(1, 4)), name=f"c{convs}")), convs + 1
    gran = draw(st.sampled_from(["row", "pixel"])) if size == 4 and convs <= 3 else "row"
    return b.build(), gran, draw(st.integers(0, 3))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cnns())
def test_bound_cpsat_clsa_lbl_ordered(case):
    workload, gran, extra = case
    w, hw, m, s = problem(workload, dup="greedy", extra=extra, gran=gran)
    r = solve_cpsat(w, hw, m, s, time_limit=1.0)
    clsa = schedule_clsa(w, hw, m, s).makespan
    lbl = schedule_layer_by_layer(w, hw, m, s).makespan
    assert lower_bounds(w, hw, m, s).best <= r.bound <= r.objective <= clsa <= lbl
    assert r.status in ("OPTIMAL", "FEASIBLE") and (r.status == "OPTIMAL") == (r.bound == r.objective)
    check_valid(w, r)


@pytest.mark.parametrize("workload, gran, extra, optimum", [
    (conv_chain(), "row", 3, 56), (conv_chain(size=6), "row", 4, 36), (mini_yolo(8), "row", 6, 34),
])
def test_joint_never_worse_than_greedy(workload, gran, extra, optimum):
    w, hw, m, s = problem(workload, dup="greedy", extra=extra, gran=gran)
    fixed = solve_cpsat(w, hw, m, s, time_limit=5)
    joint = solve_cpsat(w, hw, m, s, joint=True, time_limit=5)
    assert fixed.status == "OPTIMAL"
    assert joint.objective <= fixed.objective <= schedule_clsa(w, hw, m, s).makespan
    assert joint.objective == optimum and joint.schedule.mapping.pes_used <= m.budget.pes
    check_valid(w, joint)


def test_joint_beats_greedy_on_mini_yolo():
    """Greedy gives the 8x8 conv five copies (its 8 rows in two waves either way); moving copies to the
    later layers pays."""
    w, hw, m, s = problem(mini_yolo(8), dup="greedy", extra=6)
    assert m.copies == (5, 2, 1, 1, 1, 2)
    joint = solve_cpsat(w, hw, m, s, joint=True, time_limit=10)
    assert joint.status == "OPTIMAL" and joint.objective == 34 < solve_cpsat(w, hw, m, s).objective == 38
    assert joint.schedule.mapping.copies != m.copies and joint.schedule.mapping.pes_used <= m.budget.pes


def test_noc_costed_valid_and_no_worse_than_clsa():
    """One PE per tile: every copy on its own tile, 2 cycles per hop; the copy choice changes the lags."""
    hw = replace(HW, pes_per_tile=1, noc_hop_cycles=2)
    w, hw, m, s = problem(conv_chain(), hw=hw, dup="greedy", extra=3)
    assert m.copies == (2, 2, 2) and len({t for layer in m.placement for c in layer for t in c}) == 6
    r = solve_cpsat(w, hw, m, s, time_limit=20)
    clsa = schedule_clsa(w, hw, m, s)
    assert simulate(w, clsa).latency == clsa.makespan == 62
    assert r.status == "OPTIMAL" and r.objective == 62
    # NoC-free, the same copies give 56: the hops cost 6 cycles here
    assert solve_cpsat(w, HW, duplicate(w, HW, m.budget, "greedy"), s, time_limit=20).objective == 56
    check_valid(w, r)


# ------------------------------------------------------------------------------------ mechanics


def test_deterministic_for_a_seed():
    """Solved twice, the same schedule (CP-SAT's default portfolio returns different optimal schedules here)."""
    w, hw, m, s = problem(mini_yolo(8), dup="greedy", extra=6)
    runs = [solve_cpsat(w, hw, m, s, joint=True, time_limit=20, workers=2, seed=3) for _ in range(2)]
    a, b = (r.schedule for r in runs)
    assert runs[0].status == "OPTIMAL" and a.info["source"] == "cpsat"
    assert np.array_equal(a.start, b.start) and np.array_equal(a.copy, b.copy)
    assert a.mapping.copies == b.mapping.copies


def test_time_limit_must_be_positive():
    w, hw, m, s = problem(conv_chain())
    for bad in (0, -1.0):
        with pytest.raises(InputError, match="time limit"):
            solve_cpsat(w, hw, m, s, time_limit=bad)


def test_joint_with_noc_costs_is_an_input_error():
    hw = replace(HW, pes_per_tile=1, noc_hop_cycles=2)
    w, hw, m, s = problem(conv_chain(), hw=hw)
    with pytest.raises(InputError, match="hop_cycles"):
        solve_cpsat(w, hw, m, s, joint=True)


def test_tiny_time_limit_returns_a_valid_schedule_and_a_bound():
    # 2x2 blocks: the combinatorial bounds stay below CLSA here (at row sets the pipeline bound proves it optimal)
    w, hw, m, s = problem(mini_yolo(32), dup="greedy", extra=12, gran="block:2x2")
    clsa = schedule_clsa(w, hw, m, s)
    r = solve_cpsat(w, hw, m, s, time_limit=0.05, hint=clsa)
    assert r.status == "FEASIBLE" and r.schedule is not None
    assert 0 < lower_bounds(w, hw, m, s).best <= r.bound < r.objective <= clsa.makespan
    assert r.gap == pytest.approx((r.objective - r.bound) / r.objective)
    check_valid(w, r)


def test_hint_is_used_and_returned_when_no_better():
    w, hw, m, s = problem(conv_chain(), dup="greedy", extra=3, gran="pixel")
    best = solve_cpsat(w, hw, m, s, time_limit=10)
    again = solve_cpsat(w, hw, m, s, time_limit=0.05, hint=best.schedule)
    assert again.schedule.info["hint_valid"] and again.objective <= best.objective
    # a hint of other sets (row granularity) is ignored, not trusted
    rows = solve_cpsat(*problem(conv_chain(), dup="greedy", extra=3), time_limit=5).schedule
    other = solve_cpsat(w, hw, m, s, time_limit=0.05, hint=rows)
    assert not other.schedule.info["hint_valid"]
    check_valid(w, other)


def test_progress_reports_improving_best_and_bound():
    w, hw, m, s = problem(conv_chain(), dup="greedy", extra=3, gran="pixel")
    seen = []
    r = solve_cpsat(w, hw, m, s, time_limit=1, progress=lambda best, bound, sec: seen.append((best, bound, sec)))
    assert seen and seen[0][0] == schedule_clsa(w, hw, m, s).makespan
    bests, bounds = [x[0] for x in seen], [x[1] for x in seen]
    assert bests == sorted(bests, reverse=True) and bounds == sorted(bounds)
    assert all(lo <= hi for hi, lo in zip(bests, bounds, strict=True))
    assert bests[-1] >= r.objective and bounds[-1] <= r.bound


def test_ctrl_c_returns_best_so_far():
    """SIGINT during a long solve stops it and returns the best schedule so far instead of raising."""
    w, hw, m, s = problem(mini_yolo(32), dup="greedy", extra=12, gran="block:2x2")
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))

    def started(best: int, bound: int, seconds: float) -> None:  # the search runs: Ctrl-C a second later
        if timer.ident is None:
            timer.start()

    try:
        r = solve_cpsat(w, hw, m, s, time_limit=120, progress=started)
    finally:
        timer.cancel()
    assert r.status == "FEASIBLE" and r.solve_seconds < 60
    check_valid(w, r)


def test_colouring_and_checks():
    """Copies from starts: at most `copies` sets overlap, so colouring by start always finds a free copy."""
    w, hw, m, s = problem(conv_chain(), dup="greedy", extra=3)
    sched = schedule_clsa(w, hw, m, s)
    copy = colour_copies(s, TileGroups.of(m, hw), np.zeros(s.num_sets, np.int64), sched.start)
    assert violations(s, hw, m, copy, sched.start) == 0
    assert peak_overlap(s, sched.start) == (2, 2, 2)
    late = sched.start.copy()
    late[8] -= 1  # conv1 row 0 one cycle before its inputs
    assert violations(s, hw, m, sched.copy, late) >= 1


def test_too_large_models_get_the_incumbent_and_bounds(monkeypatch):
    import cimopt.schedulers.cpsat as cpsat

    monkeypatch.setattr(cpsat, "MAX_CPSAT_SETS", 10)
    w, hw, m, s = problem(mini_yolo(16), dup="greedy", extra=6)
    r = solve_cpsat(w, hw, m, s, time_limit=5)
    assert r.schedule.info["cp_sat_skipped"] and r.num_intervals == 0
    assert r.objective == schedule_clsa(w, hw, m, s).makespan and r.bound == lower_bounds(w, hw, m, s).best
    check_valid(w, r)


def test_non_deterministic_portfolio_also_valid():
    w, hw, m, s = problem(conv_chain(), dup="greedy", extra=3)
    r = solve_cpsat(w, hw, m, s, joint=True, time_limit=10, deterministic=False)
    assert r.status == "OPTIMAL" and r.objective == 56 and not r.schedule.info["deterministic"]
    check_valid(w, r)


def test_time_limited_run_repeats_exactly():
    """A search cut short by the (deterministic) time limit gives the same schedule twice."""
    from cimopt import api

    p = api.prepare("mini-cnn", dup="greedy", extra_pes=16, sets="block:2x2")  # rows: proven optimal at once
    a = api.run(p, "cpsat", time_limit=0.3, workers=2, seed=3)
    b = api.run(p, "cpsat", time_limit=0.3, workers=2, seed=3)
    assert a.sim.valid and a.status == b.status == "FEASIBLE"
    assert a.schedule.start.tolist() == b.schedule.start.tolist()
    assert a.schedule.copy.tolist() == b.schedule.copy.tolist() and a.solve.bound == b.solve.bound
