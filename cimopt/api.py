"""The pipeline as a Python API: model + hardware -> mapping -> sets -> schedule -> simulation.

    from cimopt import api
    p = api.prepare("tiny-yolov3", dup="greedy", extra_pes=200, sets="pixel")
    run = api.run(p, "clsa")
    print(run.sim.latency, run.sim.utilization)

The CLI is a thin layer over these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cimopt.duplication import duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware, load_hardware
from cimopt.mapping import Budget, Mapping, resolve_budget
from cimopt.schedule import Schedule
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.layer_by_layer import schedule_layer_by_layer
from cimopt.sets import SetGraph, build_sets
from cimopt.simulator import SimResult, simulate
from cimopt.workload import Workload

SCHEDULERS = ("lbl", "clsa", "cpsat")
DEFAULT_MODEL = "tiny-yolov3"


def load_model(spec: str | Path | Workload) -> Workload:
    """A Workload from a zoo name, an ONNX path, or as given."""
    if isinstance(spec, Workload):
        return spec
    from cimopt.zoo import load_model as zoo_load

    return zoo_load(spec)


@dataclass(frozen=True)
class Problem:
    """Everything fixed before scheduling: the model, the chip, the mapping and the sets."""

    model: str
    workload: Workload
    hardware: Hardware
    budget: Budget
    mapping: Mapping
    sets: SetGraph


def prepare(model: str | Path | Workload = DEFAULT_MODEL, hardware: str | Path | Hardware | None = None, *,
            dup: str = "none", pes: int | None = None, tiles: int | None = None, extra_pes: int | None = None,
            sets: str = "pixel") -> Problem:
    """Load model and hardware, size the chip, duplicate weights, cut sets and find dependencies."""
    workload = load_model(model)
    hw = hardware if isinstance(hardware, Hardware) else load_hardware(hardware)
    budget = resolve_budget(workload, hw, pes=pes, tiles=tiles, extra_pes=extra_pes)
    mapping = duplicate(workload, hw, budget, dup)
    name = model if isinstance(model, str) else (str(model) if isinstance(model, Path) else workload.name)
    return Problem(name, workload, hw, budget, mapping, build_sets(workload, hw, sets))


def with_duplication(problem: Problem, dup: str) -> Problem:
    """The same problem with another duplication strategy (same budget and sets)."""
    if dup == problem.mapping.strategy:
        return problem
    return replace(problem, mapping=duplicate(problem.workload, problem.hardware, problem.budget, dup))


@dataclass(frozen=True)
class Run:
    """One scheduler's result: its schedule, the simulator's verdict, and solver facts (CP-SAT only)."""

    scheduler: str
    schedule: Schedule
    sim: SimResult
    status: str = "HEURISTIC"
    solve: object | None = None  # cpsat.SolveResult: status, objective, bound, gap, solve time, model size


def simulate_schedule(problem_or_workload: Problem | Workload, schedule: Schedule) -> SimResult:
    wl = problem_or_workload.workload if isinstance(problem_or_workload, Problem) else problem_or_workload
    return simulate(wl, schedule)


def run(problem: Problem, scheduler: str = "clsa", *, time_limit: float = 60.0, workers: int = 2, seed: int = 0,
        joint: bool = False, hint: Schedule | None = None, deterministic: bool = True,
        progress: Callable[[int, int, float], None] | None = None) -> Run:
    """Schedule with `scheduler` (lbl | clsa | cpsat) and check the result on the simulator."""
    args = (problem.workload, problem.hardware, problem.mapping, problem.sets)
    if scheduler == "lbl":
        sched = schedule_layer_by_layer(*args, model=problem.model)
        return Run("lbl", sched, simulate(problem.workload, sched))
    if scheduler == "clsa":
        sched = schedule_clsa(*args, model=problem.model)
        return Run("clsa", sched, simulate(problem.workload, sched))
    if scheduler == "cpsat":
        from cimopt.schedulers.cpsat import solve_cpsat

        if time_limit <= 0:
            raise InputError(f"--time-limit must be > 0 seconds, got {time_limit:g}")
        res = solve_cpsat(*args, joint=joint, budget=problem.budget, hint=hint, time_limit=time_limit,
                          workers=workers, seed=seed, progress=progress, model=problem.model,
                          deterministic=deterministic)
        return Run("cpsat", res.schedule, simulate(problem.workload, res.schedule), res.status, res)
    raise InputError(f"unknown scheduler {scheduler!r} (choose from {', '.join(SCHEDULERS)})")
