"""The pipeline as a Python API: model + hardware -> mapping -> sets -> schedule -> simulation -> record.

    from cimopt import api
    p = api.prepare("tiny-yolov3", dup="greedy", extra_pes=200, sets="pixel")
    run = api.run(p, "clsa")
    print(run.sim.latency, run.sim.utilization)

The CLI is a thin layer over these functions; the schedulers are listed in `cimopt.schedulers.registry`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cimopt.errors import InputError
from cimopt.hardware import load_hardware
from cimopt.mapping import resolve_budget
from cimopt.problem import (
    DEFAULT_MODEL,
    Problem,
    load_model,
    prepare,
    with_duplication,
    with_placement,
    with_stream,
)
from cimopt.record import RunRecord, record_of, with_references
from cimopt.schedule import Schedule
from cimopt.schedulers import registry
from cimopt.schedulers.registry import Options, Progress, SolveFacts
from cimopt.simulator import SimResult, simulate
from cimopt.steady import PeriodicRun, periodic_record, run_periodic
from cimopt.workload import Workload

__all__ = ["DEFAULT_MODEL", "SCHEDULERS", "Options", "PeriodicRun", "Problem", "Run", "RunRecord", "load_hardware",
           "load_model", "periodic_record", "prepare", "record", "run_periodic", "references", "resolve_budget", "run", "simulate_schedule", "with_duplication",
           "with_placement", "with_stream"]

SCHEDULERS = registry.NAMES


@dataclass(frozen=True)
class Run:
    """One scheduler's result: its schedule, the simulator's verdict, and solver facts (exact schedulers)."""

    scheduler: str
    schedule: Schedule
    sim: SimResult
    status: str = "HEURISTIC"
    solve: SolveFacts | None = None
    cpu_seconds: float = 0.0  # scheduler + simulator, CPU seconds of the process (all threads)
    wall_seconds: float = 0.0


def load_schedule_model(sched: Schedule, model: str | Path | None = None) -> Workload:
    """The workload a saved schedule was made for: `model` (`--model`) if given, else the model the schedule
    names; if that path does not resolve from here, the error says how to point at the model."""
    if model is not None:
        return load_model(model)
    try:
        return load_model(sched.model)
    except InputError as exc:
        from cimopt.zoo import zoo_name

        if zoo_name(sched.model) is not None:
            raise
        where = "" if Path(sched.model).is_absolute() else ", relative to where the schedule was made"
        raise InputError(f"{exc}; the schedule names its model by the path {sched.model!r}{where}: give the model "
                         "with --model PATH") from None


def load_schedule(path: str | Path) -> Schedule:
    """A saved schedule (`Schedule.load`), its scheduler checked against the registry."""
    return Schedule.load(path, registry.NAMES)


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
    cpu, wall = time.process_time(), time.perf_counter()
    res = spec.run(problem, Options(time_limit=time_limit, workers=workers, seed=seed, joint=joint, hint=hint,
                                    deterministic=deterministic, progress=progress))
    if res.schedule.inferences != problem.inferences:  # a scheduler that ignored the stream: never a silent answer
        raise RuntimeError(f"internal: {spec.name} scheduled {res.schedule.inferences} inference(s) of "
                           f"{problem.inferences}")
    sim = simulate(problem.workload, res.schedule)
    return Run(spec.name, res.schedule, sim, res.status, res.solve, time.process_time() - cpu,
               time.perf_counter() - wall)


def references(problem: Problem, *, same: int | None = None) -> tuple[int, int]:
    """Layer-by-layer latency without duplication and with the problem's duplication (the speedup baselines);
    `same`: the latter if already known."""
    base = registry.BASELINE
    if same is None:
        same = run(problem, base).sim.latency
    lbl = same if problem.mapping.strategy == "none" else run(with_duplication(problem, "none"), base).sim.latency
    return lbl, same


def record(problem: Problem, result: Run, *, bound: int | None = None,
           refs: tuple[int, int] | None = None) -> RunRecord:
    """The run record of `result`: speedups over layer-by-layer (`refs`, computed when not given) and the gap
    to `bound` (the best lower bound known for the problem; default: the run's own, if any)."""
    lbl, same = refs if refs is not None else references(problem)
    return with_references(record_of(problem, result), lbl=lbl, lbl_same=same, bound=bound)


def failed_record(problem: Problem, scheduler: str, message: str) -> RunRecord:
    """The record of a scheduler that gave no schedule: INFEASIBLE (the problem is beyond what its rules can
    do, e.g. a capacity below one set's inputs) or REFUSED (a combination it does not handle), and why."""
    from cimopt.mapping import min_pes

    infeasible = any(w in message for w in ("too small", "cannot finish", "does not fit"))
    return RunRecord(model=problem.model, hardware=problem.hardware.name, pes=problem.budget.pes,
                     tiles=problem.budget.tiles, scheduler=scheduler, duplication=problem.mapping.strategy,
                     granularity=problem.sets.granularity.spec, latency_cycles=None, utilization=None,
                     utilization_mapped=None, status="INFEASIBLE" if infeasible else "REFUSED", valid=None,
                     error=message, sets=problem.sets.num_sets, pes_used=problem.mapping.pes_used,
                     min_pes=min_pes(problem.workload, problem.hardware),
                     buffer_elements=problem.hardware.buffer_elements, placement=problem.placement,
                     inferences=problem.inferences, arrival_interval=problem.arrival_interval)


@dataclass(frozen=True)
class Comparison:
    """Several schedulers on one problem: their runs and records, and the best lower bound known."""

    problem: Problem
    runs: tuple[Run, ...]
    records: tuple[RunRecord, ...]
    bound_cycles: int
    bound_rule: str
    optimum_proven: bool
    lower_bounds: dict
    cpu_seconds: float = 0.0  # the whole comparison (every run, the bounds, the references), all threads
    wall_seconds: float = 0.0

    def to_json(self) -> dict:
        p = self.problem
        seconds = {r.scheduler: {"cpu_seconds": r.cpu_seconds, "wall_seconds": r.wall_seconds} for r in self.runs}
        return {"model": p.model, "hardware": p.hardware.name, "granularity": p.sets.granularity.spec,
                "duplication": self.records[0].duplication if self.records else p.mapping.strategy,
                "pes": p.budget.pes, "sets": p.sets.num_sets, "bound_cycles": self.bound_cycles,
                "bound_rule": self.bound_rule, "optimum_proven": self.optimum_proven,
                "lower_bounds": self.lower_bounds, "interrupted": any(r.interrupted for r in self.records),
                "cpu_seconds": self.cpu_seconds, "wall_seconds": self.wall_seconds,
                **certificate(self.records, self.bound_cycles),
                "results": [r.to_json() | seconds.get(r.scheduler, {"cpu_seconds": None, "wall_seconds": None})
                            for r in self.records]}


def certificate(records: tuple[RunRecord, ...], bound: int) -> dict:
    """The best valid schedule, its proven gap best / bound - 1 (the gap of the whole comparison), and what that says about CLSA-CIM:
    "optimal", "certified" (within its gap to the bound) or "beaten" (a better schedule was found)."""
    valid = [r for r in records if r.valid and r.latency_cycles]
    if not valid:
        return {"best_scheduler": None, "best_latency_cycles": None, "proven_gap": None, "heuristic_verdict": None}
    best = min(valid, key=lambda r: r.latency_cycles)
    heur = next((r for r in records if r.scheduler == registry.HEURISTIC and r.valid), None)
    verdict = None
    if heur is not None:
        verdict = ("optimal" if heur.latency_cycles == bound else
                   "beaten" if best.latency_cycles < heur.latency_cycles else "certified")
    return {"best_scheduler": best.scheduler, "best_latency_cycles": best.latency_cycles,
            "proven_gap": best.latency_cycles / bound - 1 if bound else None, "heuristic_verdict": verdict}


def compare(problem: Problem, schedulers: tuple[str, ...] | None = None, *, time_limit: float = 20.0,
            workers: int = 2, seed: int = 0, joint: bool = False, deterministic: bool = True,
            progress: Progress | None = None) -> Comparison:
    """Run `schedulers` (default: `registry.defaults` for this problem) on one problem, heuristics first; the
    exact ones are warm-started from the best heuristic schedule. Every run is checked on the simulator, and
    every record's gap is measured against the best lower bound known (the exact runs' proven bounds, else the
    combinatorial bounds). A scheduler that cannot schedule the problem (a capacity below what it needs, a
    combination it refuses) is a record of its own with status INFEASIBLE or REFUSED and the reason in
    `error`; only when none of them gives a schedule is that an error."""
    from cimopt.analysis.bounds import lower_bounds, lower_bounds_joint

    cpu, wall = time.process_time(), time.perf_counter()
    hw = problem.hardware
    specs = [registry.get(n) for n in dict.fromkeys(schedulers or registry.defaults(
        problem.is_stream, hw.noc_contention, hw.buffer_elements is not None))]
    if any(s.exact for s in specs) and not time_limit > 0:  # before the heuristics run, naming the flag
        raise InputError(f"--time-limit must be > 0 seconds, got {time_limit:g}")
    runs: dict[str, Run] = {}
    failed: dict[str, str] = {}
    for spec in sorted(specs, key=lambda s: s.exact):
        heur = [r for r in runs.values() if r.sim.valid]
        hint = min(heur, key=lambda r: r.sim.latency).schedule if heur and spec.exact else None
        try:
            runs[spec.name] = run(problem, spec.name, time_limit=time_limit, workers=workers, seed=seed,
                                  joint=joint, hint=hint, deterministic=deterministic, progress=progress)
        except InputError as exc:
            failed[spec.name] = str(exc)
    if not runs:
        raise InputError("no scheduler gave a schedule: " + "; ".join(f"{n}: {m}" for n, m in failed.items()))
    ordered = tuple(runs[s.name] for s in specs if s.name in runs)
    exact = [r for r in ordered if r.solve is not None]
    # CP-SAT already computed the combinatorial bounds (and took the best of them and its own): reuse them
    solved = None if problem.is_stream else next((r for r in exact if "critical_path" in r.schedule.info), None)
    if solved is not None:
        info = solved.schedule.info
        lower = {k: info[k] for k in ("critical_path", "layer_work", "bottleneck", "link_bound") if k in info}
        bound, rule = solved.solve.bound, solved.solve.bound_rule or solved.scheduler
    else:
        if joint and exact:  # the exact runs may choose the copies: only bounds over every duplication hold
            lb = lower_bounds_joint(problem.workload, problem.hardware, problem.budget, problem.sets)
        else:
            lb = lower_bounds(problem.workload, problem.hardware, problem.mapping, problem.sets)
        lower = {"critical_path": lb.critical_path, "layer_work": lb.layer_work, "bottleneck": lb.bottleneck}
        if problem.hardware.noc_contention and not problem.is_stream:
            from cimopt.analysis.bounds import link_bound, with_link_bound

            link = link_bound(problem.sets, problem.hardware, problem.mapping)
            lower["link_bound"] = link.value
            lb = with_link_bound(lb, link)
        bound, rule = lb.best, lb.rule or "combinatorial"
        if problem.is_stream:  # the bounds above are one inference's
            from cimopt.stream import makespan_bound

            bound, rule = makespan_bound(problem.workload, problem.hardware, problem.mapping, lb.best,
                                         problem.inferences, problem.arrival_interval), "stream"
    for r in exact:
        if r.solve.bound > bound:
            bound, rule = r.solve.bound, r.solve.bound_rule or r.scheduler
    proven = any(r.sim.valid and r.sim.latency == bound for r in ordered)
    same = runs[registry.BASELINE].sim.latency if registry.BASELINE in runs else None
    refs = references(problem, same=same)
    done = {r.scheduler: record(problem, r, bound=bound, refs=refs) for r in ordered}
    records = tuple(done[s.name] if s.name in done else failed_record(problem, s.name, failed[s.name]) for s in specs)
    for r in exact:
        lower |= {k: r.schedule.info[k] for k in ("closure_bound", "cp_sat_bound") if k in r.schedule.info}
    return Comparison(problem, ordered, records, int(bound), rule, proven, lower, time.process_time() - cpu,
                      time.perf_counter() - wall)
