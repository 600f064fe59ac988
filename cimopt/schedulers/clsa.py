"""CLSA-CIM: the cross-layer scheduling heuristic of Pelke et al. (DATE 2024), in its four stages.

1. determine sets (`sets.build_sets`, any granularity),
2. determine dependencies (same call: receptive fields through the GPEU ops in between),
3. intra-layer scheduling: raster order, set i on copy i mod D_l (`round_robin_copies`),
4. cross-layer scheduling: layers in graph order, each set as soon as possible: the latest finish of its
   dependencies plus GPEU and transfer latency, or its copy's free time, whichever is later.
"""

from __future__ import annotations

from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.schedule import Schedule
from cimopt.schedulers.list_scheduling import list_schedule
from cimopt.sets import SetGraph, build_sets
from cimopt.workload import Workload


def determine_sets(workload: Workload, hw: Hardware, granularity: str) -> SetGraph:
    """Stages 1 and 2: sets and their dependencies."""
    return build_sets(workload, hw, granularity)


def schedule_clsa(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, model: str = "") -> Schedule:
    """Stages 3 and 4 on given sets: round-robin copies, then ASAP across layers."""
    return list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa", model=model)
