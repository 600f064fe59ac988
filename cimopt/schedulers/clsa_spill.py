"""`clsa-spill`: CLSA-CIM made valid on a chip with finite tile buffers and a memory tier.

CLSA-CIM's copies, per-copy order and earliest start; when a set's outputs would overflow the tile that buffers
them, held outputs are spilled to the memory tier at once, furthest next use first (Belady, next use by
CLSA-CIM's own unlimited-buffer schedule), and a set whose input was spilled has it filled back before it
starts (docs/model.md, "Memory tier"). The honest baseline: what CLSA-CIM does when it meets the chip's real
memory and spills instead of planning. When CLSA-CIM's own schedule fits, it is the answer.
"""

from __future__ import annotations

from dataclasses import replace

from cimopt.analysis.buffers import check_capacity
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.registry import Options, Result
from cimopt.schedulers.spilling import (
    CLSA_SPILL,
    clsa_fits,
    deadlock_message,
    moved_bytes,
    spill_pass,
    spill_problem,
    to_spill_schedule,
)
from cimopt.sets import SetGraph
from cimopt.workload import Workload

NAME = "clsa-spill"


def need_tier(hw: Hardware, name: str) -> None:
    """A clear error for a spilling scheduler on a chip without a memory tier."""
    if not hw.has_tier:
        raise InputError(f"{name} spills to a memory tier, and {hw.source} has none ([memory] bytes_per_cycle = 0): "
                         "add a [memory] table, or use clsa-bp (back-pressure only)")


def schedule_clsa_spill(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, model: str = "") -> Schedule:
    """CLSA-CIM with spills (module docstring) for the hardware's `buffer.elements_per_tile`."""
    cap = hw.buffer_elements
    sp = spill_problem(workload, hw, mapping, sets, model)
    if clsa_fits(sp, sets, cap):
        return replace(sp.clsa, scheduler=NAME, info={"buffer_elements": cap, "buffer_rule": "fits",
                                                     "spill_bytes": 0})
    if cap is not None:
        need_tier(hw, NAME)
    fp = check_capacity(workload, sets, mapping, sp.prep.copy, cap)
    r = spill_pass(sp, sets, hw, cap, CLSA_SPILL)
    if not r.complete:
        raise InputError(deadlock_message(workload, sets, sp, r, cap, NAME, fp))
    return to_spill_schedule(workload, hw, mapping, sets, sp, r, name=NAME, model=model,
                             info={"buffer_elements": cap, "buffer_rule": CLSA_SPILL.name,
                                   "spill_bytes": moved_bytes(sp, r)})


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry: one inference (a stream is refused, not silently scheduled as one)."""
    p = problem
    if p.is_stream:
        raise InputError(f"{NAME} schedules one inference; for a stream use clsa-bp (or --inferences 1)")
    return Result(schedule_clsa_spill(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
