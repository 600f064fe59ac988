"""The schedulers cimopt knows: one entry each, read by the API, the CLI, compare, sweep, reproduce and plots.

A scheduler is one module with a function `schedule(problem, options) -> Result` plus one line in
`SCHEDULERS` below. No scheduler name is spelled anywhere else. Modules are imported only when their
scheduler runs (CP-SAT's import is slow).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cimopt.errors import InputError
from cimopt.schedule import Schedule

if TYPE_CHECKING:
    from cimopt.problem import Problem

Progress = Callable[[int, int, float], None]  # (best makespan, bound, seconds so far)


@dataclass(frozen=True)
class Options:
    """Options a scheduler may read (heuristics ignore the solver ones)."""

    time_limit: float = 20.0  # seconds; deterministic seconds unless `deterministic` is False
    workers: int = 2
    seed: int = 0
    joint: bool = False  # choose the copies per layer too (exact schedulers)
    hint: Schedule | None = None  # a known schedule to warm-start from
    deterministic: bool = True
    progress: Progress | None = None


@dataclass(frozen=True)
class SolveFacts:
    """What an exact or search-based scheduler proved and spent, next to its schedule."""

    status: str  # OPTIMAL | FEASIBLE | SKIPPED | ...
    objective: int | None
    bound: int
    gap: float | None  # (objective - bound) / objective
    solve_seconds: float
    num_intervals: int = 0
    num_precedences: int = 0
    num_variables: int = 0
    num_constraints: int = 0
    bound_rule: str = ""  # which lower bound gave `bound`
    note: str = ""  # what the solver did not do, or what stopped it early ("" for a plain time limit)
    interrupted: bool = False  # stopped by Ctrl-C: the best schedule so far


@dataclass(frozen=True)
class Result:
    """A scheduler's answer: the schedule, its status (HEURISTIC for list schedulers) and solver facts."""

    schedule: Schedule
    status: str = "HEURISTIC"
    solve: SolveFacts | None = None


@dataclass(frozen=True)
class SchedulerSpec:
    """One registry entry: its CLI name, label for tables and plots, plot style, and where its code lives."""

    name: str
    label: str
    entry: str  # "module:function"
    marker: str = "o"
    line: str = "-"
    exact: bool = False  # proves bounds (has a time limit, reports a gap)
    baseline: bool = False  # the reference the speedups are measured against
    stream: bool = False  # a throughput baseline: run by default (compare) only for a stream of inferences
    default: bool = True  # run by `compare` when no schedulers are named (opt-in searches: False)
    contention: bool = True  # gives valid schedules under link contention (`noc.contention`); else refused
    buffers: bool = False  # plans for finite tile buffers (the others ignore them: the simulator reports overflows)
    memory: bool = False  # run by `compare` by default only where tile buffers are finite (else it is CLSA-CIM)
    one_inference: bool = False  # plans one inference only: refuses a stream (not a default for one)


    def function(self) -> Callable[[Problem, Options], Result]:
        module, _, func = self.entry.partition(":")
        return getattr(importlib.import_module(module), func)

    def run(self, problem: Problem, options: Options | None = None) -> Result:
        if problem.hardware.noc_contention and not self.contention:
            raise InputError(f"scheduler {self.name} does not plan link contention (noc.contention on "
                             f"{problem.hardware.name}); use --contention off, or one of "
                             f"{', '.join(s.name for s in SCHEDULERS if s.contention)}")
        return self.function()(problem, options or Options())


SCHEDULERS: tuple[SchedulerSpec, ...] = (
    SchedulerSpec("lbl", "layer-by-layer", "cimopt.schedulers.layer_by_layer:schedule", "o", "-", baseline=True),
    SchedulerSpec("clsa", "CLSA-CIM", "cimopt.schedulers.clsa:schedule", "s", "-"),
    SchedulerSpec("clsa-bp", "CLSA-CIM + back-pressure", "cimopt.schedulers.backpressure:schedule", "D", "-.",
                  contention=False, buffers=True),
    SchedulerSpec("clsa-spill", "CLSA-CIM + spills", "cimopt.schedulers.clsa_spill:schedule", "v", "-.",
                  buffers=True, memory=True, one_inference=True),
    SchedulerSpec("memory-aware", "memory-aware (ours)", "cimopt.schedulers.memory_aware:schedule", "*", "-",
                  buffers=True, memory=True, one_inference=True),
    SchedulerSpec("ready-order", "ready-order list scheduling", "cimopt.schedulers.priority:schedule_ready", "v", "-",
                  default=False, contention=False, one_inference=True),  # clsa-fb starts from it: never better
    SchedulerSpec("clsa-fb", "CLSA-CIM + forward-backward orders", "cimopt.schedulers.priority:schedule_fb", "X",
                  "-", contention=False, one_inference=True),
    SchedulerSpec("cpsat", "CP-SAT", "cimopt.schedulers.cpsat:schedule", "^", "--", exact=True, buffers=True),
    SchedulerSpec("layer-pipeline", "layer pipeline", "cimopt.schedulers.layer_pipeline:schedule", "D", ":",
                  stream=True),
    SchedulerSpec("lns", "LNS (CP-SAT windows)", "cimopt.schedulers.lns:schedule", "P", ":", exact=True,
                  default=False, one_inference=True),  # no gain after clsa-fb on the zoo (docs/model.md)
)

BY_NAME: dict[str, SchedulerSpec] = {s.name: s for s in SCHEDULERS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
BASELINE: str = next(s.name for s in SCHEDULERS if s.baseline)
HEURISTIC: str = "clsa"  # the scheduler the project is about: the default of `schedule` on unlimited buffers
MEMORY: str = "memory-aware"  # the default of `schedule` where tile buffers are finite (it plans for them)
PIPELINE: str = "layer-pipeline"  # the classic throughput baseline (ISAAC, PIMCOMP)
EXACT: str = "cpsat"  # the exact reference that `reproduce` measures the heuristic against


def defaults(stream: bool, contention: bool = False, finite: bool = False) -> tuple[str, ...]:
    """The schedulers `compare` runs when none are named: all, the stream baselines (and none of the
    one-inference schedulers) only for a stream, those that plan link contention only under it, the memory
    schedulers only where tile buffers are finite, and there none that ignores them but the references
    (layer-by-layer, CLSA-CIM and the layer pipeline, reported invalid when they overflow)."""
    return tuple(s.name for s in SCHEDULERS if s.default and (stream or not s.stream) and (s.contention or not contention)
                 and (finite or not s.memory) and not (stream and s.one_inference)
                 and (not finite or s.buffers or s.baseline or s.stream or s.name == HEURISTIC))


def default_for(hardware) -> str:
    """What `schedule` runs when no scheduler is named: the one that plans for the chip as written (finite tile
    buffers: `MEMORY`, which returns CLSA-CIM's schedule whenever that fits), else CLSA-CIM."""
    return MEMORY if hardware.buffer_elements is not None else HEURISTIC


def get(name: str) -> SchedulerSpec:
    """The registry entry of `name`; an InputError listing the known names otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown scheduler {name!r} (choose from {', '.join(NAMES)})") from None
