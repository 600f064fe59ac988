"""Measurements: latency, utilization, per-layer spans, busy cycles per copy, the self-timed replay, and the
activity counts that energy is priced from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.energy import Activity
from cimopt.simulator.dependencies import ready_pass
from cimopt.simulator.links import LinkTimes
from cimopt.simulator.plan import Plan
from cimopt.simulator.tier import Tier
from cimopt.simulator.windows import stable_order


def activity(plan: Plan, xb: tuple[int, ...], latency: int, noc_byte_hops: int, tier: Tier) -> Activity:
    """Activity counts of the whole schedule (see `cimopt.energy`): every computed pixel activates each
    crossbar of its copy once, writes its `channels` outputs to its tile buffer and reads its input vector
    (`rows x groups` elements); a spill reads a job's outputs out of its buffer, a fill writes them back, each
    moving its bytes through the memory tier; every GPEU op writes its output elements once per inference;
    every tile is powered for the latency (the makespan of all inferences)."""
    pixels = [sum(int(np.diff(jobs[li].offs).sum()) for jobs in plan.jobs) for li in range(len(xb))]
    layers = plan.workload.layers
    gpeu: dict[str, int] = {}
    for op in plan.workload.gpeu_ops:
        gpeu[op.kind] = gpeu.get(op.kind, 0) + op.out.pixels * op.out.channels * plan.inferences
    return Activity(
        crossbar_activations=sum(n * x for n, x in zip(pixels, xb, strict=True)),
        buffer_writes=sum(n * lay.out.channels for n, lay in zip(pixels, layers, strict=True)) + tier.elements_filled,
        buffer_reads=sum(n * lay.group_rows * lay.groups for n, lay in zip(pixels, layers, strict=True))
        + tier.elements_spilled,
        tier_bytes=tier.bytes_written + tier.bytes_read,
        noc_byte_hops=noc_byte_hops,
        gpeu_elements=tuple(sorted(gpeu.items())),
        tile_cycles=max(plan.schedule.mapping.budget.tiles, 0) * latency,
        inferences=plan.inferences,
    )


@dataclass(frozen=True)
class Measures:
    latency: int
    busy: int
    utilization: float
    utilization_mapped: float
    layer_start: tuple[int, ...]
    layer_end: tuple[int, ...]
    copy_busy: tuple[tuple[int, ...], ...]


def measure(plan: Plan, xb: tuple[int, ...], good: np.ndarray) -> Measures:
    """Latency, busy crossbar-cycles, utilization, per-layer span and busy cycles per copy."""
    s, m = plan.schedule, plan.schedule.mapping
    layer, copy, start, end = s.layer, s.copy, s.start, s.end
    n_layers = len(plan.workload.layers)
    lsafe = np.where(good, layer, 0)
    xb_arr = np.asarray(xb or (0,), dtype=np.int64)
    busy_job = np.where(good, np.maximum(end - start, 0), 0)
    busy = int((busy_job * xb_arr[lsafe]).sum())
    latency = int(end.max()) if len(end) else 0
    pes_used = sum(max(int(d), 0) * x for d, x in zip(m.copies, xb, strict=True))
    util = busy / (m.budget.pes * latency) if latency and m.budget.pes > 0 else 0.0
    util_m = busy / (pes_used * latency) if latency and pes_used else 0.0
    lstart = np.full(n_layers, np.iinfo(np.int64).max, dtype=np.int64)
    lend = np.full(n_layers, -1, dtype=np.int64)
    np.minimum.at(lstart, layer[good], start[good])
    np.maximum.at(lend, layer[good], end[good])
    lstart[lend < 0] = -1
    copy_busy = []
    for li in range(n_layers):
        cb = np.zeros(max(int(m.copies[li]), 0), dtype=np.int64)
        for k in range(s.inferences):
            sel = plan.jobs[k][li].idx
            cb += np.bincount(copy[sel], weights=busy_job[sel], minlength=len(cb)).astype(np.int64)
        copy_busy.append(tuple(int(x) for x in cb))
    return Measures(latency, busy, util, util_m, tuple(int(x) for x in lstart), tuple(int(x) for x in lend),
                     tuple(copy_busy))


def self_timed_run(plan: Plan, req: np.ndarray, links: LinkTimes | None = None) -> tuple[int, np.ndarray]:
    """Each copy runs its jobs in the scheduled order as soon as their inputs are ready: latency and starts.
    Under link contention the messages keep their scheduled times (`links`)."""
    s, duration = plan.schedule, plan.duration
    copy, start, end = s.copy, s.start, s.end
    n_inf, n_layers = s.inferences, len(plan.workload.layers)
    st_start = np.zeros(len(s), dtype=np.int64)

    def chain(li: int, rs: list) -> list:
        """All inferences' jobs of layer li, each copy's in the scheduled order."""
        groups = [plan.jobs[k][li].idx for k in range(n_inf)]
        idx = np.concatenate(groups)
        r = np.concatenate(rs)
        if not len(idx):
            return [np.zeros(0, dtype=np.int64) for _ in range(n_inf)]
        dur = duration[idx]
        cp = copy[idx]
        order = stable_order(cp, start[idx], idx)
        cps, d, rr = cp[order], dur[order], np.maximum(r[order], 0)
        first = np.flatnonzero(np.diff(cps, prepend=-1) != 0)
        st = np.empty(len(order), dtype=np.int64)
        for a, b in zip(first, np.append(first[1:], len(order)), strict=True):
            before = np.cumsum(d[a:b]) - d[a:b]  # start_k = max(ready_k, end_{k-1}) as a prefix max
            st[a:b] = before + np.maximum.accumulate(rr[a:b] - before)
        out = np.empty(len(order), dtype=np.int64)
        out[order] = st
        st_start[idx] = out
        return np.split(out + dur, np.cumsum([len(g) for g in groups])[:-1])

    # shortcut: run every copy on the requirements of the scheduled ends first. If that reproduces every
    # start and the scheduled ends are the true ones, the self-timed run is the schedule (by induction over
    # the layers in graph order, each layer's requirements come from its producers' ends, which agree), as
    # for every ASAP schedule; otherwise the full self-timed pass
    for li in range(n_layers):
        chain(li, [req[plan.jobs[k][li].idx] for k in range(n_inf)])
    if not (np.array_equal(st_start, start) and np.array_equal(end, start + duration)):
        ready_pass(plan, chain, links)
    st_end = st_start + duration
    return (int(st_end.max()) if len(st_end) else 0), st_start
