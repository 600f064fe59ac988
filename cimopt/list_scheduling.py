"""ASAP list scheduling over layers in graph order: the engine of both layer-by-layer and CLSA-CIM.

Layers are visited in the workload's node order; inside a layer, set i runs on copy i mod D_l (raster
order, round robin). A set starts at the latest of: its release from the graph input, the end of every set
it depends on plus the GPEU lag and the NoC transfer latency between the two copies' home tiles, and the
time its copy is free. With `barrier`, a layer also waits for the previous layer to finish (layer-by-layer).
Each layer is one vectorized step: per-set readiness is a segmented max over its in-edges, and each copy's
chain `start_k = max(ready_k, end_{k-1})` is a prefix max. Under link contention (`noc.contention`) that
schedule is then re-timed with its messages on the links (`messages.retime`: same copies and order).
"""

from __future__ import annotations

import numpy as np

from cimopt.arith import ceil_div
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.messages import retime
from cimopt.schedule import Schedule
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags
from cimopt.workload import Workload


def round_robin_copies(sets: SetGraph, mapping: Mapping) -> np.ndarray:
    """Intra-layer scheduling (CLSA-CIM stage 3): set i of layer l on copy i mod D_l."""
    parts = [np.arange(ls.count, dtype=np.int64) % d for ls, d in zip(sets.layers, mapping.copies, strict=False)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def chain_starts(ready: np.ndarray, duration: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Starts of jobs run in order on one machine: start_k = max(ready_k, end_{k-1}), first >= free.

    Vectorized on a (jobs, machines) matrix, one column per copy: start_k = S_k + max_{j<=k}(ready_j - S_j).
    """
    s = np.cumsum(duration, axis=0) - duration
    return s + np.maximum.accumulate(np.maximum(ready, free[None, :]) - s, axis=0)


def list_schedule(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, *, barrier: bool,
                  name: str, model: str = "", lag: np.ndarray | None = None) -> Schedule:
    """Schedule every set as soon as possible, layer by layer in graph order (see module docstring); `lag`:
    the edges' `timing.edge_lags` for the round-robin copies, when the caller has them already."""
    n = sets.num_sets
    copy = round_robin_copies(sets, mapping)
    lag = edge_lags(sets, hw, mapping, copy) if lag is None else lag
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    prev_finish = 0
    for li, (_ls, d) in enumerate(zip(sets.layers, mapping.copies, strict=False)):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        ready = sets.release[a:b].copy()
        e0, e1 = np.searchsorted(dst_sorted, [a, b])
        idx = order[e0:e1]
        np.maximum.at(ready, sets.dst[idx] - a, end[sets.src[idx]] + lag[idx])
        if barrier:
            ready = np.maximum(ready, prev_finish)
        m = ceil_div((b - a), d)
        pad = m * d - (b - a)
        r = np.concatenate([ready, np.zeros(pad, np.int64)]).reshape(m, d)
        dur = np.concatenate([sets.duration[a:b], np.zeros(pad, np.int64)]).reshape(m, d)
        st = chain_starts(r, dur, np.zeros(d, np.int64)).ravel()[: b - a]
        start[a:b] = st
        end[a:b] = st + sets.duration[a:b]
        prev_finish = max(prev_finish, int(end[a:b].max()))
    out = to_schedule(workload, hw, mapping, sets, copy, start, end, name=name, model=model)
    return retime(sets, out, barrier=barrier) if hw.noc_contention else out


def retime_arrays(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, copy: np.ndarray,
                  start: np.ndarray, *, name: str, model: str = "", info: dict | None = None,
                  barrier: bool = False) -> Schedule:
    """`messages.retime` of the schedule given per global set (copy, start): a valid contention-free order of
    one inference made valid under link contention."""
    s = to_schedule(workload, hw, mapping, sets, copy, start, start + sets.duration, name=name, model=model,
                    info=info)
    return retime(sets, s, barrier=barrier)


def to_schedule(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, copy: np.ndarray,
                start: np.ndarray, end: np.ndarray, *, name: str, model: str = "", info: dict | None = None) -> Schedule:
    """Wrap per-set arrays (global set order) into a Schedule with each set's pixel rectangle."""
    layer = np.concatenate([np.full(ls.count, li, np.int64) for li, ls in enumerate(sets.layers)] or [np.zeros(0, np.int64)])
    local = np.concatenate([np.arange(ls.count, dtype=np.int64) for ls in sets.layers] or [np.zeros(0, np.int64)])
    rects = [np.concatenate([ls.rects[k] for ls in sets.layers] or [np.zeros(0, np.int64)]) for k in range(4)]
    return Schedule(name, model or workload.name, workload.fingerprint, hw, mapping, sets.granularity.spec,
                    layer, local, np.asarray(copy, np.int64), np.asarray(start, np.int64), np.asarray(end, np.int64),
                    *rects, info=dict(info or {}))
