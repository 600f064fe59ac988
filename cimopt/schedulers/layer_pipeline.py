"""The layer pipeline (ISAAC, PIMCOMP's high-throughput mode): whole layers, overlapping across inferences.

Inference k's layer starts once every producer layer has finished inference k entirely (plus the GPEU and
NoC lag of the dependency); layers work on different inferences at the same time. Inside a layer the sets go
round robin over its copies, inference after inference. With one inference it is layer-by-layer without the
barrier between independent branches. See `stream_list` for the shared engine.
"""

from __future__ import annotations

from cimopt.problem import Problem
from cimopt.schedulers.registry import Options, Result
from cimopt.schedulers.stream_list import stream_list_schedule


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry."""
    return Result(stream_list_schedule(problem, "pipeline", "layer-pipeline"))
