"""`memory-aware`: our scheduler for a chip with finite tile buffers and a memory tier.

It chooses the order of work and the spills together, with the engine of `schedulers.spilling`: a set that
does not fit first waits for the space its consumers free (consumers get space before producers, the drain
rule of clsa-bp, so that lifetimes stay short and producers do not run ahead of the readers that free their
tiles), and outputs are spilled only when waiting would cost more than the transfer (after a patience of a
few set durations) or would deadlock; spilled inputs are filled as soon as their reader is a candidate
(prefetched, overlapping its wait). Several policies are tried and the best result is kept: the shortest
schedule, then the fewest bytes through the tier; clsa-spill's schedule is among them, so it is never slower
than clsa-spill. When CLSA-CIM's own schedule fits, it is the answer. Without a memory tier it is clsa-bp.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cimopt.analysis.buffers import check_capacity
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.backpressure import schedule_backpressure
from cimopt.schedulers.registry import Options, Result
from cimopt.schedulers.spilling import (
    CLSA_SPILL,
    UNBOUNDED,
    Policy,
    clsa_fits,
    deadlock_message,
    moved_bytes,
    spill_pass,
    spill_problem,
    to_spill_schedule,
)
from cimopt.sets import SetGraph
from cimopt.workload import Workload

NAME = "memory-aware"


def policies(sets: SetGraph) -> tuple[Policy, ...]:
    """The policies tried: waiting (spill only to break a deadlock), waiting for a few set durations, spilling
    at once; all with the drain rule and prefetched fills; and the first two with each layer's sets in order."""
    typical = int(np.median(sets.duration)) if sets.num_sets else 1
    return (Policy("drain-wait", -1, True, True), Policy("drain-patient", 4 * typical, True, True),
            Policy("drain-spill", 0, True, True), Policy("drain-wait-in-order", -1, True, True, True),
            Policy("drain-patient-in-order", 4 * typical, True, True, True))


def schedule_memory_aware(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                          model: str = "") -> Schedule:
    """The best of the policies (module docstring) for the hardware's `buffer.elements_per_tile`."""
    cap = hw.buffer_elements
    sp = spill_problem(workload, hw, mapping, sets, model)
    if clsa_fits(sp, sets, cap):
        return replace(sp.clsa, scheduler=NAME, info={"buffer_elements": cap, "buffer_rule": "fits",
                                                     "spill_bytes": 0})
    contention = sp.links.messages is not None
    if not hw.has_tier and not contention:
        return replace(schedule_backpressure(workload, hw, mapping, sets, model=model), scheduler=NAME)
    fp = check_capacity(workload, sets, mapping, sp.prep.copy, cap)
    found: list[tuple[int, int, int, str, Schedule]] = []  # (makespan, bytes moved, order tried, rule, schedule)
    if not contention:  # back-pressure alone (no spill at all), when its rules finish (it plans no links)
        try:
            bp = schedule_backpressure(workload, hw, mapping, sets, model=model)
            found.append((bp.makespan, 0, 0, "clsa-bp " + bp.info["buffer_rule"], bp))
        except InputError:
            pass
    first_fail = None
    for k, pol in enumerate((CLSA_SPILL, *policies(sets)), start=1):
        best = min(found, default=None, key=lambda f: f[:3])
        r = spill_pass(sp, sets, hw, cap, pol, UNBOUNDED if best is None else best[0])
        if r.complete:
            found.append((int((r.start + sets.duration).max(initial=0)), moved_bytes(sp, r), k, pol.name, r))
        elif first_fail is None and not r.pruned:
            first_fail = r
    if not found:
        raise InputError(deadlock_message(workload, sets, sp, first_fail, cap, NAME, fp))
    makespan, moved, _, rule, r = min(found, key=lambda f: f[:3])
    info = {"buffer_elements": cap, "buffer_rule": rule, "spill_bytes": moved}
    if isinstance(r, Schedule):
        return replace(r, scheduler=NAME, info=info)
    return to_spill_schedule(workload, hw, mapping, sets, sp, r, name=NAME, model=model, info=info)


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry: one inference; a stream goes to clsa-bp's unrolled graph (no tier for streams yet)."""
    p = problem
    if p.is_stream:
        raise InputError(f"{NAME} schedules one inference; for a stream use clsa-bp (or --inferences 1)")
    return Result(schedule_memory_aware(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
