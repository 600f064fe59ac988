"""The pipeline as a Python API: model + hardware -> mapping -> sets -> schedule -> simulation -> record.

    from cimopt import api
    p = api.prepare("tiny-yolov3", dup="greedy", extra_pes=200, sets="pixel")
    run = api.run(p, "clsa")
    print(run.sim.latency, run.sim.utilization)

The CLI is a thin layer over these functions; the schedulers are listed in `cimopt.schedulers.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cimopt.errors import InputError
from cimopt.hardware import load_hardware
from cimopt.problem import DEFAULT_MODEL, Problem, load_model, prepare, with_duplication
from cimopt.schedule import Schedule
from cimopt.schedulers import registry
from cimopt.schedulers.registry import Options, Progress, SolveFacts
from cimopt.simulator import SimResult, simulate
from cimopt.workload import Workload

__all__ = ["DEFAULT_MODEL", "SCHEDULERS", "Options", "Problem", "Run", "load_hardware", "load_model", "prepare",
           "run", "simulate_schedule", "with_duplication"]

SCHEDULERS = registry.NAMES


@dataclass(frozen=True)
class Run:
    """One scheduler's result: its schedule, the simulator's verdict, and solver facts (exact schedulers)."""

    scheduler: str
    schedule: Schedule
    sim: SimResult
    status: str = "HEURISTIC"
    solve: SolveFacts | None = None


def simulate_schedule(problem_or_workload: Problem | Workload, schedule: Schedule) -> SimResult:
    wl = problem_or_workload.workload if isinstance(problem_or_workload, Problem) else problem_or_workload
    return simulate(wl, schedule)


def run(problem: Problem, scheduler: str = registry.HEURISTIC, *, time_limit: float = 60.0, workers: int = 2,
        seed: int = 0, joint: bool = False, hint: Schedule | None = None, deterministic: bool = True,
        progress: Progress | None = None) -> Run:
    """Schedule with a registered scheduler (`registry.NAMES`) and check the result on the simulator."""
    spec = registry.get(scheduler)
    if spec.exact and not time_limit > 0:
        raise InputError(f"--time-limit must be > 0 seconds, got {time_limit:g}")
    res = spec.run(problem, Options(time_limit=time_limit, workers=workers, seed=seed, joint=joint, hint=hint,
                                    deterministic=deterministic, progress=progress))
    return Run(spec.name, res.schedule, simulate(problem.workload, res.schedule), res.status, res.solve)
