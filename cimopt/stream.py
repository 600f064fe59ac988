"""A stream of inferences (docs/model.md, "Streams"): metrics of a simulated stream schedule and its bound.

N inputs arrive back to back (input k at cycle `k * arrival_interval`); every set exists once per inference
and the copies serve all of them. What a stream is measured by: the makespan of all N, each inference's
latency (its end minus its arrival), the steady-state initiation interval `(end of the last inference - end of
the first) / (N - 1)` and its bound `max over layers of ceil(N_l / D_l) * mvm_cycles` (the busiest copy group
works that long per inference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.arith import ceil_div
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.schedule import Schedule
from cimopt.workload import Workload


def interval_bound(workload: Workload, hw: Hardware, mapping: Mapping) -> int:
    """The bottleneck bound on the initiation interval: max over layers of ceil(N_l / D_l) * mvm_cycles."""
    loads = [ceil_div(layer.pixels, max(int(d), 1)) for layer, d in zip(workload.layers, mapping.copies, strict=True)]
    return max(loads, default=0) * hw.mvm_cycles


def makespan_bound(workload: Workload, hw: Hardware, mapping: Mapping, single_bound: int, n: int,
                   arrival_interval: int) -> int:
    """A lower bound on the makespan of n inferences: the last one arrives at `(n-1) * C` and then needs at
    least a single inference's bound; and each layer's copies compute n OFMs, `ceil(n * N_l / D_l)` MVMs."""
    work = max((ceil_div(n * layer.pixels, max(int(d), 1)) for layer, d in zip(workload.layers, mapping.copies,
                                                                           strict=True)), default=0)
    return max(single_bound + (n - 1) * arrival_interval, work * hw.mvm_cycles)


def per_second(cycles: float | None, hw: Hardware) -> float | None:
    """How many times per second something that takes `cycles` cycles happens (None without `mvm_ns`)."""
    if cycles is None or not cycles > 0 or hw.cycle_ns is None:
        return None
    return 1e9 / (cycles * hw.cycle_ns)


@dataclass(frozen=True)
class StreamMetrics:
    """The stream figures of one schedule (docs/model.md, "Streams of inferences")."""

    inferences: int
    arrival_interval: int
    latency_cycles: int  # makespan of all inferences
    inference_end: tuple[int, ...]  # per inference: its last job's end
    inference_latency_mean_cycles: float  # mean of end - arrival
    inference_latency_max_cycles: int
    interval_cycles: float | None  # (end of the last - end of the first) / (N - 1); None for one inference
    interval_bound_cycles: int
    throughput_per_s: float | None  # 1 / interval (or 1 / latency for one inference) in seconds, with mvm_ns

    @property
    def interval_gap(self) -> float | None:
        """interval / bound - 1: how far the steady state is from the bottleneck limit."""
        if self.interval_cycles is None or not self.interval_bound_cycles:
            return None
        return self.interval_cycles / self.interval_bound_cycles - 1

    def to_json(self) -> dict:
        """The fields a run record carries (same names)."""
        return {f: getattr(self, f) for f in STREAM_FIELDS}


STREAM_FIELDS = ("inferences", "arrival_interval", "inference_latency_mean_cycles", "inference_latency_max_cycles",
                 "interval_cycles", "interval_bound_cycles", "interval_gap", "throughput_per_s")


def stream_metrics(workload: Workload, schedule: Schedule) -> StreamMetrics:
    """Stream figures from a schedule's jobs (use them on a valid schedule: the simulator is the judge)."""
    n = schedule.inferences
    inf = np.asarray(schedule.inference, dtype=np.int64)
    end = np.asarray(schedule.end, dtype=np.int64)
    ok = (inf >= 0) & (inf < n)
    ends = np.zeros(n, dtype=np.int64)
    np.maximum.at(ends, inf[ok], end[ok])
    arrival = np.arange(n, dtype=np.int64) * schedule.arrival_interval
    lat = ends - arrival
    interval = float(ends[-1] - ends[0]) / (n - 1) if n > 1 else None
    hw = schedule.hardware
    return StreamMetrics(n, schedule.arrival_interval, int(end.max()) if len(end) else 0,
                         tuple(int(x) for x in ends), float(lat.mean()), int(lat.max()), interval,
                         interval_bound(workload, hw, schedule.mapping),
                         per_second(interval if n > 1 else float(lat.max()), hw))


def stream_schedule(single: Schedule, start: np.ndarray, end: np.ndarray, arrival_interval: int,
                    info: dict | None = None, copy: np.ndarray | None = None) -> Schedule:
    """The stream schedule whose inference k runs `single`'s sets at `start[k]`, `end[k]` on `copy[k]`
    (default: `single`'s copies for every inference).

    Jobs are inference-major: job `k * len(single) + j` is set j of inference k.
    """
    n = start.shape[0]
    cols = {c: np.tile(np.asarray(getattr(single, c)), n) for c in ("layer", "set", "copy", "y0", "y1", "x0", "x1")}
    if copy is not None:
        cols["copy"] = np.asarray(copy, np.int64).ravel()
    inference = np.repeat(np.arange(n, dtype=np.int64), len(single))
    return Schedule(single.scheduler, single.model, single.fingerprint, single.hardware, single.mapping,
                    single.granularity, layer=cols["layer"], set=cols["set"], copy=cols["copy"],
                    start=np.asarray(start, np.int64).ravel(), end=np.asarray(end, np.int64).ravel(),
                    y0=cols["y0"], y1=cols["y1"], x0=cols["x0"], x1=cols["x1"], info=dict(info or single.info),
                    inference=inference, inferences=n, arrival_interval=arrival_interval)
