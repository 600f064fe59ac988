"""Layer-by-layer: the paper's state-of-the-art baseline (docs/model.md, "Schedulers").

One MVM layer at a time in graph order; a layer starts when the previous one has finished, so parallel
branches do not overlap either. Inside a layer, sets go in raster order round robin over its copies.
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


def schedule_layer_by_layer(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                            model: str = "") -> Schedule:
    return list_schedule(workload, hw, mapping, sets, barrier=True, name="lbl", model=model)


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry (a stream of inferences: `stream_list`)."""
    p = problem
    if p.is_stream:
        return Result(stream_list_schedule(p, "lbl", "lbl"))
    return Result(schedule_layer_by_layer(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
