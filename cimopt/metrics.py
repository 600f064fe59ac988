"""Metrics over simulated schedules (domain.md 3.6): speedup, gaps, the bottleneck layer."""

from __future__ import annotations

from dataclasses import dataclass

from cimopt.schedule import Schedule
from cimopt.simulator import SimResult
from cimopt.workload import Workload


def speedup(baseline_latency: int, latency: int) -> float:
    """Baseline latency over latency (> 1 is faster than the baseline)."""
    return baseline_latency / latency if latency else float("nan")


def optimality_gap(best: int | None, bound: int) -> float | None:
    """(best - bound) / best: how far the solver's best may still be from the optimum."""
    if best is None or best <= 0:
        return None
    return (best - bound) / best


def heuristic_gap(heuristic: int, reference: int) -> float | None:
    """heuristic / reference - 1: how much later the heuristic is than the optimum (or a bound)."""
    return heuristic / reference - 1 if reference > 0 else None


@dataclass(frozen=True)
class Bottleneck:
    """The layer whose copies are busiest: the one that limits the pipeline."""

    layer: str
    busy_fraction: float  # busiest copy's busy cycles / latency
    copies: int


def bottleneck(workload: Workload, schedule: Schedule, sim: SimResult) -> Bottleneck:
    best_i, best_busy = 0, -1
    for i, busy in enumerate(sim.copy_busy):
        b = max(busy) if busy else 0
        if b > best_busy:
            best_i, best_busy = i, b
    frac = best_busy / sim.latency if sim.latency else 0.0
    return Bottleneck(workload.layers[best_i].name, frac, schedule.mapping.copies[best_i])
