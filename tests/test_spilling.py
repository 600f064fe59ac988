"""The spill engine: clsa-spill and the memory-aware scheduler (docs/model.md, "Memory tier")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.builder import WorkloadBuilder
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from tests.graphs import random_dags

TIER = Hardware(tier_bytes_per_cycle=4, tier_latency_cycles=1, tier_pj_per_byte=1.0)


def two_layers():
    """a (1x1 conv, 2 copies) then b (1x1 conv, 1 copy) over a 4 x 1 x 4 input: b_x reads a_x."""
    b = WorkloadBuilder("two")
    x = b.input(4, 1, 4)
    a = b.conv(x, 4, k=1, pad=0, name="a")
    b.conv(a, 4, k=1, pad=0, name="b")
    return b.build()


def _problem(hw: Hardware, cap: int | None):
    w = two_layers()
    return api.prepare(w, dataclasses.replace(hw, buffer_elements=cap), sets="pixel", dup="none", pes=3,
                       placement="sequential")


def _with_two_copies_of_a(p):
    from cimopt.mapping import make_mapping

    m = make_mapping(p.workload, p.hardware, p.budget, (2, 1))
    return dataclasses.replace(p, mapping=m)


def test_hand_computed_two_layer_spill():
    """Capacity 4 elements (one pixel of a), 4 bytes per transfer: one cycle on the tier's link + one of latency.
    Unlimited, CLSA-CIM holds a2 and a3 at once (8). clsa-spill places sets at their ends: at cycle 1 a1 does
    not fit next to a0 (b0, a0's reader, is placed only at its end, 2), so a0 is spilled [1, 3) and a1 waits
    for the space, ending at 3; likewise a1 goes [3, 5) when a2 wants its space and a2 [5, 7) for a3. Every
    reader read its input before it left (b0 at 1, b1 at 3, b2 at 5), so no fill: latency 8, three spills of 4
    bytes. The memory-aware scheduler waits instead (b0 frees a0's space at its start): no spill."""
    p = _with_two_copies_of_a(_problem(TIER, 4))
    r = api.run(p, "clsa-spill")
    assert r.sim.valid, r.sim.violations
    s = r.schedule
    assert s.makespan == 8 and r.sim.spill_bytes == 12
    t = s.transfers
    assert t.kind.tolist() == [1, 1, 1] and t.set.tolist() == [0, 1, 2] and t.layer.tolist() == [0, 0, 0]
    assert list(zip(t.start.tolist(), t.end.tolist(), strict=True)) == [(1, 3), (3, 5), (5, 7)]
    assert s.start[s.layer == 0].tolist() == [0, 2, 4, 6] and s.start[s.layer == 1].tolist() == [1, 3, 5, 7]
    m = api.run(p, "memory-aware")
    assert m.sim.valid and m.sim.spill_bytes == 0 and m.sim.latency <= r.sim.latency
    assert max(m.sim.peak_buffer) <= 4


def test_unlimited_or_fitting_buffers_give_clsa():
    p = _with_two_copies_of_a(_problem(TIER, None))
    clsa = api.run(p, "clsa")
    for name in ("clsa-spill", "memory-aware"):
        r = api.run(p, name)
        assert np.array_equal(r.schedule.start, clsa.schedule.start) and len(r.schedule.transfers) == 0


def test_a_skip_connection_is_spilled_and_filled_back():
    """a (4 copies) feeds c -> d and, through an Add with d, e: a's pixels wait for e while c and d run one
    pixel at a time. In 12 elements (three pixels) some must go to the tier and come back before e reads them;
    the simulator checks every read against the fills."""
    from cimopt.mapping import make_mapping

    b = WorkloadBuilder("skip")
    x = b.input(4, 1, 8)
    a = b.conv(x, 4, k=1, pad=0, name="a")
    c = b.conv(a, 4, k=1, pad=0, name="c")
    d = b.conv(c, 4, k=1, pad=0, name="d")
    b.conv(b.add(d, a, name="join"), 4, k=1, pad=0, name="e")
    w = b.build()
    p = api.prepare(w, dataclasses.replace(TIER, buffer_elements=12), sets="pixel", pes=7, placement="sequential")
    p = dataclasses.replace(p, mapping=make_mapping(w, p.hardware, p.budget, (4, 1, 1, 1)))
    for name in ("clsa-spill", "memory-aware"):
        r = api.run(p, name)
        assert r.sim.valid, (name, r.sim.violations)
        assert max(r.sim.peak_buffer) <= 12
    assert r.sim.latency >= api.run(p, "clsa").sim.latency
    r = api.run(p, "clsa-spill")
    assert (r.schedule.transfers.kind == 2).any() and r.sim.spill_read_bytes > 0


def test_no_tier_is_a_clear_error():
    p = _with_two_copies_of_a(_problem(Hardware(), 4))
    with pytest.raises(InputError, match="clsa-spill spills to a memory tier.*has none"):
        api.run(p, "clsa-spill")
    r = api.run(p, "memory-aware")  # without a tier: clsa-bp's back-pressure
    assert r.sim.valid and r.sim.spill_bytes == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(), st.sampled_from(["pixel", "row", "block:2x2"]), st.integers(0, 6), st.integers(0, 2),
       st.floats(-0.2, 1.1), st.sampled_from(["sequential", "buffer"]), st.booleans())
def test_random_dags_valid_or_clear_error(w, gran, extra, hop, frac, placement, contention):
    """Random graphs and capacities from below one set's inputs (the footprint) to above CLSA-CIM's peak, with
    or without the buffer placement and link contention: both spill schedulers give a schedule the simulator
    accepts, or a clear error naming the shortfall; the memory-aware one is never slower than clsa-spill."""
    from cimopt.analysis.buffers import footprint
    from cimopt.list_scheduling import round_robin_copies

    hw = Hardware(pes_per_tile=2, noc_hop_cycles=hop, link_bytes_per_cycle=4 if contention else 0,
                  noc_contention=contention, tier_bytes_per_cycle=8, tier_latency_cycles=2)
    p0 = api.prepare(w, hw, sets=gran, dup="greedy", extra_pes=extra, placement="sequential")
    peak = max(api.run(p0, "clsa").sim.peak_buffer)
    fp = footprint(w, p0.sets, p0.mapping, round_robin_copies(p0.sets, p0.mapping)).elements
    cap = max(1, int(fp + frac * max(peak - fp, 0)))
    p = api.prepare(w, hw, sets=gran, dup="greedy", extra_pes=extra, placement=placement, buffer=cap)
    out = {}
    for name in ("clsa-spill", "memory-aware"):
        try:
            r = api.run(p, name)
        except InputError as exc:
            assert "buffer" in str(exc) and ("smallest capacity" in str(exc) or "cannot finish" in str(exc))
            out[name] = None
            continue
        assert r.sim.valid, (name, r.sim.violation_counts, r.sim.violations[:3])
        assert max(r.sim.peak_buffer, default=0) <= cap
        out[name] = r.sim.latency
    if out["clsa-spill"] is not None:
        assert out["memory-aware"] is not None and out["memory-aware"] <= out["clsa-spill"]
