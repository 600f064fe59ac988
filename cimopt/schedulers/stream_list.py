"""ASAP list scheduling of a stream of inferences: layer-by-layer, layer pipeline and CLSA-CIM over N inputs.

The sets and dependencies are the single inference's (`SetGraph`); job (k, s) is set s of inference k, on the
copy round robin gives set s (copies serve every inference). Inference k's sets start no earlier than its
arrival `k * arrival_interval` plus their release, and after their dependencies in inference k. Three ways
to walk the stream:
- `lbl`: one inference after another, one layer at a time (the barrier spans inferences too), so N
  inferences take N times one when they all arrive at once;
- `pipeline` (the classic layer pipeline of ISAAC and PIMCOMP): layers in graph order; inference k's layer
  starts once its producer layers have finished inference k entirely; each copy runs inference 0's sets,
  then inference 1's, ... so layers overlap across inferences;
- `clsa`: the same walk at set level: every set of every inference as soon as its own dependencies allow,
  inference-major within a copy.
Each layer is one vectorized step over all inferences (a (N, sets) matrix), like `list_scheduling`. Under link
contention the schedule is then re-timed with its messages on the links (`messages.retime`, same copies and
order; the layer pipeline's layers wait for all their inputs, layer-by-layer keeps its barrier).
"""

from __future__ import annotations

import numpy as np

from cimopt.arith import ceil_div
from cimopt.list_scheduling import chain_starts, round_robin_copies, to_schedule
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.stream import stream_schedule
from cimopt.timing import edge_lags

MODES = ("lbl", "pipeline", "clsa")


def _layer_step(ready: np.ndarray, duration: np.ndarray, d: int, free: np.ndarray) -> np.ndarray:
    """Starts of one layer's sets for a block of inferences (`ready`: (K, sets)), run inference-major on
    each copy (set i on copy i mod d), each copy free from `free[c]`."""
    k, n = ready.shape
    m = ceil_div(n, d)
    pad = m * d - n
    r = np.concatenate([ready, np.zeros((k, pad), np.int64)], axis=1).reshape(k * m, d)
    dur = np.tile(np.concatenate([duration, np.zeros(pad, np.int64)]).reshape(m, d), (k, 1))
    return chain_starts(r, dur, free).reshape(k, m * d)[:, :n]


def stream_list_schedule(problem: Problem, mode: str, name: str) -> Schedule:
    """Schedule `problem.inferences` inferences with one of `MODES` (module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown stream mode {mode!r}")
    p, sets = problem, problem.sets
    n_inf, n = p.inferences, sets.num_sets
    copy = round_robin_copies(sets, p.mapping)
    lag = edge_lags(sets, p.hardware, p.mapping, copy)
    arrival = np.arange(n_inf, dtype=np.int64) * p.arrival_interval
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    layer_of_src = sets.layer_of(sets.src)
    start = np.zeros((n_inf, n), dtype=np.int64)
    end = np.zeros((n_inf, n), dtype=np.int64)
    finish = np.zeros((n_inf, len(sets.layers)), dtype=np.int64)  # per inference and layer: its last end
    free = [np.zeros(d, np.int64) for d in p.mapping.copies]  # per layer and copy: when it is free
    barrier = 0

    def step(li: int, ks: slice) -> None:
        nonlocal barrier
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        ready = sets.release[a:b][None, :] + arrival[ks, None]
        e0, e1 = np.searchsorted(dst_sorted, [a, b])
        idx = order[e0:e1]
        if mode == "pipeline":
            if len(idx):  # the whole producer layers of this inference, plus each edge's lag
                lay = finish[ks][:, layer_of_src[idx]] + lag[idx][None, :]
                ready = np.maximum(ready, lay.max(axis=1, keepdims=True))
        elif len(idx):  # edges sorted by destination: a segmented max per destination set
            dst = sets.dst[idx]
            cut = np.flatnonzero(np.diff(dst, prepend=-1))
            dep = np.maximum.reduceat(end[ks][:, sets.src[idx]] + lag[idx][None, :], cut, axis=1)
            ready[:, dst[cut] - a] = np.maximum(ready[:, dst[cut] - a], dep)
        if mode == "lbl":
            ready = np.maximum(ready, barrier)
        d = int(p.mapping.copies[li])
        st = _layer_step(ready, sets.duration[a:b], d, free[li])
        start[ks, a:b] = st
        end[ks, a:b] = st + sets.duration[a:b][None, :]
        finish[ks, li] = end[ks, a:b].max(axis=1)
        last = end[ks, a:b][-1]  # the last inference of the block holds each copy last
        free[li] = np.maximum(free[li], np.array([last[c::d].max(initial=0) for c in range(d)], np.int64))
        barrier = max(barrier, int(finish[ks, li].max()))

    if mode == "lbl":
        for k in range(n_inf):
            for li in range(len(sets.layers)):
                step(li, slice(k, k + 1))
    else:
        for li in range(len(sets.layers)):
            step(li, slice(0, n_inf))
    single = to_schedule(p.workload, p.hardware, p.mapping, sets, copy, start[0], end[0], name=name, model=p.model)
    out = stream_schedule(single, start, end, p.arrival_interval)
    if p.hardware.noc_contention:
        from cimopt.messages import retime

        return retime(sets, out, mode="layer" if mode == "pipeline" else "set", barrier=mode == "lbl")
    return out
