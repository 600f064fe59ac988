"""Metrics over simulated schedules (docs/model.md, "Metrics"): speedup, gap, the bottleneck layer."""

from __future__ import annotations

from dataclasses import dataclass

from cimopt.schedule import Schedule
from cimopt.simulator import SimResult
from cimopt.workload import Workload


def speedup(baseline_latency: int, latency: int) -> float:
    """Baseline latency over latency (> 1 is faster than the baseline)."""
    return baseline_latency / latency if latency else float("nan")


def gap_to_bound(latency: int, bound: int) -> float | None:
    """`latency / bound - 1`: how much later a schedule is than a lower bound on the optimum (at most its
    distance from the optimum; exactly that when the bound is the proven optimum)."""
    return latency / bound - 1 if bound > 0 else None


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
    return Bottleneck(workload.layers[best_i].name if workload.layers else "", frac,
                      schedule.mapping.copies[best_i] if workload.layers else 0)
