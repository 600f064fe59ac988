"""CLSA-CIM: the cross-layer scheduling heuristic of Pelke et al. (DATE 2024), in its four stages.

1. determine sets (`sets.build_sets`, any granularity),
2. determine dependencies (same call: receptive fields through the GPEU ops in between),
3. intra-layer scheduling: raster order, set i on copy i mod D_l (`list_scheduling.round_robin_copies`),
4. cross-layer scheduling: layers in graph order, each set as soon as possible: the latest finish of its
   dependencies plus GPEU and transfer latency, or its copy's free time, whichever is later.
"""

from __future__ import annotations

from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.registry import Options, Result
from cimopt.schedulers.stream_list import stream_list_schedule
from cimopt.sets import SetGraph
from cimopt.workload import Workload


def schedule_clsa(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, model: str = "") -> Schedule:
    """Stages 3 and 4 on given sets (stages 1 and 2 are `sets.build_sets`): round-robin copies, then ASAP."""
    return list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa", model=model)


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry (a stream of inferences: `stream_list`)."""
    p = problem
    if p.is_stream:
        return Result(stream_list_schedule(p, "clsa", "clsa"))
    return Result(schedule_clsa(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
