"""Layer-by-layer: the paper's state-of-the-art baseline (domain.md 3.4).

One MVM layer at a time in graph order; a layer starts when the previous one has finished, so parallel
branches do not overlap either. Inside a layer, sets go in raster order round robin over its copies.
"""

from __future__ import annotations

from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.schedule import Schedule
from cimopt.schedulers.list_scheduling import list_schedule
from cimopt.sets import SetGraph
from cimopt.workload import Workload


def schedule_layer_by_layer(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                            model: str = "") -> Schedule:
    return list_schedule(workload, hw, mapping, sets, barrier=True, name="lbl", model=model)
