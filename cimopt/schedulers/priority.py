"""The registry entries of the two list schedulers that change CLSA-CIM's order inside a layer: `ready-order`
and `clsa-fb` (forward-backward improvement); the orders themselves are in `cimopt/list_orders.py`."""

from __future__ import annotations

from cimopt.errors import InputError
from cimopt.list_orders import forward_backward, ready_order_schedule
from cimopt.problem import Problem
from cimopt.schedulers.registry import Options, Result


def _one_inference(problem: Problem, name: str) -> None:
    if problem.is_stream:
        raise InputError(f"the {name} scheduler schedules one inference; use clsa or cpsat for a stream")


def schedule_ready(problem: Problem, options: Options) -> Result:
    """Registry entry of `ready-order`."""
    _one_inference(problem, "ready-order")
    p = problem
    return Result(ready_order_schedule(p.workload, p.hardware, p.mapping, p.sets, model=p.model))


def schedule_fb(problem: Problem, options: Options) -> Result:
    """Registry entry of `clsa-fb`."""
    _one_inference(problem, "clsa-fb")
    p = problem
    return Result(forward_backward(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
