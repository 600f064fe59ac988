"""Tile buffer capacities: problems with a given capacity, and the smallest capacity at which the buffer-aware
schedule loses no latency against unlimited buffers (sizes as users write them: `cimopt.sizes`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cimopt.arith import least_true
from cimopt.errors import InputError
from cimopt.problem import Problem
from cimopt.sizes import parse_capacities, parse_capacity

__all__ = ["MinBuffer", "capacity_label", "min_buffer", "parse_capacities", "parse_capacity", "with_buffer"]

def capacity_label(cap: int | None) -> str:
    return "unlimited" if cap is None else f"{cap:,}"


def with_buffer(problem: Problem, capacity: int | None) -> Problem:
    """The same problem on hardware whose tiles hold `capacity` elements each (None: unlimited)."""
    hw = problem.hardware
    if hw.buffer_elements == capacity:
        return problem
    return replace(problem, hardware=replace(hw, buffer_elements=capacity))


@dataclass(frozen=True)
class MinBuffer:
    """The result of `min_buffer`: the smallest capacity found and what it was compared against."""

    elements: int  # smallest per-tile capacity at which clsa-bp is as fast as unlimited CLSA-CIM
    latency_cycles: int  # unlimited CLSA-CIM's latency (= clsa-bp's at `elements`)
    clsa_peak_elements: int  # CLSA-CIM's own per-tile peak (simulator, unlimited buffers)
    footprint_elements: int  # one set's inputs on one tile (buffers.footprint): no capacity below it works
    hold_elements: int  # what any schedule in CLSA-CIM's order holds at once (buffers.hold_bound)
    probes: int  # heuristic runs made


def min_buffer(problem: Problem) -> MinBuffer:
    """Binary search over the per-tile capacity, one clsa-bp run per probe, for the smallest capacity at which
    clsa-bp's latency equals unlimited CLSA-CIM's. The search range starts at the larger of the footprint and
    the hold bound (what any schedule in CLSA-CIM's order must hold at once) and ends at
    CLSA-CIM's own set-level peak (where clsa-bp returns CLSA-CIM's schedule). It assumes the latency does not grow
    with the capacity; a probe that cannot finish counts as too small."""
    from cimopt.analysis.buffers import footprint, hold_bound, schedule_peaks
    from cimopt.schedulers.backpressure import schedule_backpressure
    from cimopt.schedulers.clsa import schedule_clsa
    from cimopt.simulator import simulate

    p = problem
    clsa = schedule_clsa(p.workload, p.hardware, p.mapping, p.sets, model=p.model)
    target = clsa.makespan
    sim_peak = max(simulate(p.workload, clsa, self_timed=False).peak_buffer, default=0)
    hi = max(1, int(schedule_peaks(p.workload, p.sets, p.mapping, clsa.copy, clsa.start).max(initial=0)))
    held = hold_bound(p.workload, p.sets, p.mapping, clsa.copy)
    need = footprint(p.workload, p.sets, p.mapping, clsa.copy).elements
    lo = max(1, need, held.elements)
    probes = 0

    def fast(cap: int) -> bool:
        nonlocal probes
        probes += 1
        try:
            s = schedule_backpressure(p.workload, p.hardware, p.mapping, p.sets, capacity=cap, model=p.model)
        except InputError:
            return False
        return s.makespan <= target

    best = least_true(min(lo, hi), hi, fast)
    return MinBuffer(best, target, sim_peak, need, held.elements, probes)
