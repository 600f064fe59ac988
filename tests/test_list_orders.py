"""Orders inside a layer (cimopt/list_orders.py): the most-urgent-first pass, the reversed instance, and the
forward-backward scheduler `clsa-fb`, always valid on the simulator and never worse than CLSA-CIM or the ready
order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.analysis.bounds import lower_bounds
from cimopt.list_orders import _most_urgent_first, forward_backward, priority_pass, ready_order_schedule
from cimopt.list_scheduling import to_schedule
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.simulator import simulate
from tests.conftest import HW, setup
from tests.graphs import random_dags, yolo_like


def test_most_urgent_first_hand_values():
    """ready (0, 0, 1, 5), durations (2, 2, 2, 1), urgency (3, 2, 0, 1). Two copies: at 0 both copies take the
    two ready sets (set 1 first, it is more urgent); at 2 set 2 is ready; set 3 waits for its release at 5.
    One copy: 1 at 0, then at 2 the most urgent ready set, 2 (set 0 has waited longer), then 0 at 4 (set 3 is
    not ready yet: no copy idles for a more urgent set), then 3 at 6."""
    r, d, u = np.array([0, 0, 1, 5]), np.array([2, 2, 2, 1]), np.array([3, 2, 0, 1])
    start, copy, seq = _most_urgent_first(r, d, u, 2)
    assert start.tolist() == [0, 0, 2, 5] and copy.tolist() == [1, 0, 0, 1] and seq.tolist() == [1, 0, 2, 3]
    start, copy, seq = _most_urgent_first(r, d, u, 1)
    assert start.tolist() == [4, 0, 2, 6] and copy.tolist() == [0, 0, 0, 0] and seq.tolist() == [2, 0, 1, 3]


def test_clsa_fb_reaches_the_proven_optimum_on_a_yolo_shape():
    """yolo_like(8) (TinyYOLO's shape: trunk, 1x1 heads, upsample + concat), pixel sets, one copy each:
    CLSA-CIM 88 cycles; clsa-fb 86, which the lower bounds prove optimal (CP-SAT agrees)."""
    w = yolo_like(8)
    m, s = setup(w, HW, (1,) * len(w.layers), "pixel")
    assert schedule_clsa(w, HW, m, s).makespan == 88
    fb = forward_backward(w, HW, m, s)
    assert fb.makespan == 86 == lower_bounds(w, HW, m, s, target=86).best
    assert simulate(w, fb).valid


def test_reverse_raster_seed_on_mini_yolo():
    """mini-yolo, greedy +64 PEs, pixel sets: CLSA-CIM 167 cycles, the ready order 164, clsa-fb 150 from the
    reverse-raster seed (the stride-1 max-pool pads bottom and right, so the late rows need fewer inputs),
    1 cycle above the pipeline bound 149."""
    p = api.prepare("mini-yolo", dup="greedy", extra_pes=64, sets="pixel")
    args = (p.workload, p.hardware, p.mapping, p.sets)
    assert schedule_clsa(*args).makespan == 167 and ready_order_schedule(*args).makespan == 164
    fb = api.run(p, "clsa-fb")
    assert fb.sim.valid and fb.sim.latency == 150 and fb.schedule.info["seed"] == "reverse raster"
    assert lower_bounds(*args, target=150).best == 149


@st.composite
def cases(draw):
    w = draw(random_dags())
    gran = draw(st.sampled_from(["row", "pixel", "block:2x2"]))
    hop = draw(st.sampled_from([0, 0, 2]))
    hw = replace(HW, pes_per_tile=1 if hop else 16, noc_hop_cycles=hop,
                 gpeu_cycles=(("default", draw(st.integers(0, 1))),))
    return w, hw, tuple(draw(st.integers(1, 3)) for _ in w.layers), gran


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_clsa_fb_valid_and_never_worse(case):
    w, hw, copies, gran = case
    m, s = setup(w, hw, copies, gran)
    fb = forward_backward(w, hw, m, s)
    sim = simulate(w, fb)
    assert sim.valid and sim.latency == fb.makespan
    assert fb.makespan <= min(schedule_clsa(w, hw, m, s).makespan, ready_order_schedule(w, hw, m, s).makespan)
    c, st_ = priority_pass(s, hw, m, np.arange(s.num_sets))
    assert simulate(w, to_schedule(w, hw, m, s, c, st_, st_ + s.duration, name="clsa-fb")).valid


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(), st.sampled_from(["row", "pixel"]), st.integers(1, 3))
def test_backward_pass_mirrored_is_a_valid_schedule(w, gran, d):
    """Without releases or NoC costs a schedule of the reversed instance, read backwards from its makespan C
    (start = C - reversed end), is a valid schedule of the original: the backward pass really reverses
    every dependency and shares the copies."""
    m, s = setup(w, HW, (d,) * len(w.layers), gran)
    copy, back = priority_pass(s, HW, m, np.arange(s.num_sets), backward=True)
    end_rev = back + s.duration
    start = int(end_rev.max()) - end_rev
    assert simulate(w, to_schedule(w, HW, m, s, copy, start, start + s.duration, name="clsa-fb")).valid
