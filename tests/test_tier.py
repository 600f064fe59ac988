"""The memory tier: the simulator checks spills and fills on its own (docs/model.md, "Memory tier")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cimopt import api
from cimopt.builder import WorkloadBuilder
from cimopt.hardware import Hardware
from cimopt.list_scheduling import to_schedule
from cimopt.schedule import TIER, Transfers
from cimopt.simulator import simulate

TIERED = Hardware(tier_bytes_per_cycle=4, tier_latency_cycles=1, tier_pj_per_byte=2.0, energy_mvm_pj=1.0)


def line3():
    """4 x 1 x 3 input; a0..a2 = conv0 (1x1, 4 channels) pixels, b0..b2 = conv1 (3x3, pad 1) pixels: b_x reads
    a_{x-1} .. a_{x+1}. A job's 4 elements are 4 bytes at 8 bits: one cycle on the tier's link plus one of
    latency, two cycles per transfer."""
    b = WorkloadBuilder("line3")
    x = b.input(4, 1, 3)
    a = b.conv(x, 4, k=1, pad=0, name="a")
    b.conv(a, 4, k=3, name="b")
    return b.build()


def _schedule(hw: Hardware, b_starts=(2, 3, 7), transfers=None):
    w = line3()
    p = api.prepare(w, hw, sets="pixel")
    start = np.array([0, 1, 2, *b_starts], np.int64)
    s = to_schedule(w, hw, p.mapping, p.sets, np.zeros(6, np.int64), start, start + 1, name="clsa")
    if transfers is not None:
        s = dataclasses.replace(s, transfers=Transfers.of(**transfers))
    return w, s


def _spill_fill(*rows):
    """Transfers from (kind, set, tile_from, tile_to, start, end) rows of layer a."""
    cols = {c: [] for c in ("kind", "layer", "set", "inference", "src", "dst", "start", "end")}
    for kind, st, src, dst, a, b in rows:
        for c, v in zip(("kind", "layer", "set", "inference", "src", "dst", "start", "end"),
                        (kind, 0, st, 0, src, dst, a, b), strict=True):
            cols[c].append(v)
    return cols


GOOD = _spill_fill((1, 1, 0, TIER, 3, 5), (2, 1, TIER, 0, 5, 7))  # a1 out at b1's start, back before b2


def test_a_hand_made_spill_and_fill_is_valid_and_counted():
    """a1 is spilled when b1 starts (cycle 3: b1 reads it first), back at 7 for b2: 4 + 4 bytes through the
    tier, 2 pJ each; the tile holds a1 [2, 5) and again [5, 7), a2 [3, 7), a0 [1, 3): peak 8."""
    w, s = _schedule(TIERED, transfers=GOOD)
    sim = simulate(w, s)
    assert sim.valid, sim.violations
    assert (sim.spill_bytes, sim.spill_write_bytes, sim.spill_read_bytes) == (8, 4, 4)
    assert sim.energy["memory"] == 16.0 and max(sim.peak_buffer) == 8


def test_read_before_the_fill_lands_is_rejected():
    w, s = _schedule(TIERED, b_starts=(2, 3, 6), transfers=GOOD)
    sim = simulate(w, s)
    assert sim.violation_counts == {"residency": 1}
    assert "b set 2 (rows 0..0, cols 2..2) on copy 0 starts at cycle 6" in sim.violations[0].message
    assert "its fill lands at cycle 7" in sim.violations[0].message


def test_read_after_a_spill_without_fill_is_rejected():
    w, s = _schedule(TIERED, transfers=_spill_fill((1, 1, 0, TIER, 3, 5)))
    sim = simulate(w, s)
    assert sim.violation_counts == {"residency": 1} and "never filled back" in sim.violations[0].message


@pytest.mark.parametrize("rows,kind,words", [
    (((1, 1, 0, TIER, 3, 5), (2, 1, TIER, 0, 4, 6)), "transfer", "before the job's spill ends at cycle 5"),
    (((1, 1, 0, TIER, 1, 3),), "transfer", "before the job ends at cycle 2"),
    (((1, 1, 0, TIER, 3, 6),), "transfer", "take 2 cycles"),
    (((2, 1, TIER, 0, 5, 7),), "transfer", "a fill needs a spill before it"),
    (((1, 1, 0, TIER, 3, 5), (1, 1, 0, TIER, 5, 7)), "transfer", "already away"),
    (((1, 1, 0, TIER, 3, 5), (2, 1, TIER, 0, 5, 7), (1, 1, 0, TIER, 6, 8)), "transfer", "before the job's fill ends at 7"),
    (((1, 1, 0, TIER, 3, 5), (1, 2, 0, TIER, 3, 5), (2, 1, TIER, 0, 5, 7), (2, 2, TIER, 0, 7, 9)), "tier",
     "occupies it until cycle 4"),
    (((1, 7, 0, TIER, 3, 5),), "transfer", "no such job"),
    (((1, 1, 3, TIER, 3, 5),), "transfer", "must run between tile 0"),
])
def test_broken_transfers_are_rejected(rows, kind, words):
    w, s = _schedule(dataclasses.replace(TIERED, tiles=None), b_starts=(2, 3, 9), transfers=_spill_fill(*rows))
    s = dataclasses.replace(s, mapping=dataclasses.replace(s.mapping, budget=dataclasses.replace(s.mapping.budget,
                                                                                                 tiles=4, pes=2)))
    sim = simulate(w, s)
    assert kind in sim.violation_counts, sim.violations
    assert any(words in v.message for v in sim.violations if v.kind == kind), [v.message for v in sim.violations]


def test_an_overfull_tier_is_rejected():
    """A 4-byte tier cannot hold a1 and a2 at once."""
    hw = dataclasses.replace(TIERED, tier_capacity_bytes=4)
    rows = _spill_fill((1, 1, 0, TIER, 3, 5), (1, 2, 0, TIER, 4, 6), (2, 1, TIER, 0, 6, 8), (2, 2, TIER, 0, 8, 10))
    w, s = _schedule(hw, b_starts=(2, 3, 10), transfers=rows)
    sim = simulate(w, s)
    assert sim.violation_counts == {"tier": 1} and "holds 8 bytes" in sim.violations[0].message


def test_transfers_on_a_chip_without_a_tier_are_rejected():
    w, s = _schedule(Hardware(), transfers=GOOD)
    sim = simulate(w, s)
    assert sim.violation_counts == {"transfer": 2} and "no memory tier" in sim.violations[0].message


def test_spilled_and_filled_twice_is_valid():
    """a1 leaves at b1's start, comes back, leaves again, comes back for b2: two excursions, 16 bytes."""
    rows = _spill_fill((1, 1, 0, TIER, 3, 5), (2, 1, TIER, 0, 5, 7), (1, 1, 0, TIER, 7, 9), (2, 1, TIER, 0, 9, 11))
    w, s = _schedule(TIERED, b_starts=(2, 3, 11), transfers=rows)
    sim = simulate(w, s)
    assert sim.valid, sim.violations
    assert sim.spill_bytes == 16
    w, s = _schedule(TIERED, b_starts=(2, 3, 10), transfers=rows)  # b2 reads a1 during its second excursion
    sim = simulate(w, s)
    assert sim.violation_counts == {"residency": 1} and "its fill lands at cycle 11" in sim.violations[0].message
