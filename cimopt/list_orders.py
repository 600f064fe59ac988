"""Orders inside a layer for list scheduling: CLSA-CIM's ASAP rule with other orders (docs/model.md, "Schedulers").

CLSA-CIM runs a layer's sets in raster order, set i on copy i mod D. The cross-layer rule (each set as soon
as its inputs and a copy allow, layers in graph order) leaves the order inside a layer free, and the order
matters: a layer whose consumers need its last rows first, or whose producers deliver in another order, keeps
copies waiting. Two schedulers (`schedulers/priority.py`) change only that order; both are list schedules, valid
by construction:
- `ready_order_schedule` (`ready-order`): a layer's sets in the order they become ready (raster order on ties),
  dealt round robin over the copies in that order.
- `forward_backward` (`clsa-fb`): per layer, whenever a copy is free the most urgent ready set starts on it
  (`priority_pass`), urgency given by a priority per set. Priorities come from a schedule of the reversed
  instance (every dependency reversed, the layers in reverse order), whose priorities come from the forward
  schedule before it: the set that ends last forward starts first backward, and the set that ends last
  backward (so is furthest from the end) starts first forward. This is the forward-backward improvement of
  project scheduling (Li and Willis, 1992; Valls et al., 2005). It starts from five seeds: CLSA-CIM's schedule,
  the ready-order schedule, the reverse-raster pass (sets bottom-up: YOLO's stride-1 max-pool pads at the
  bottom and right, so the late rows need fewer inputs) and the diagonal wavefront in both directions (a
  layer's last sets a corner, not a whole row: what its consumers can finish early is then largest), and keeps
  the best forward schedule, so it is never worse than CLSA-CIM or the ready order. Deterministic.
With NoC costs the decisions use the least transfer between the two layers; the starts then use the exact
transfer of the chosen copies (`left_shift`, the same per-copy orders), so the schedule is valid.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule, to_schedule
from cimopt.mapping import Mapping
from cimopt.schedule import Schedule
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags, min_transfer_lags
from cimopt.workload import Workload

FB_ROUNDS = 3  # backward + forward passes per seed at most (each seed converges in one or two on the zoo)


def copy_chain(ready: np.ndarray, dur: np.ndarray, copy: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Starts of one layer's sets run in `key` order on their copies: start_k = max(ready_k, end_{k-1}).

    Per copy, with S_k the work before k on it: start_k = S_k + max_{j <= k}(ready_j - S_j), a segmented
    running max (segments shifted apart by a constant larger than the values' spread).
    """
    n = len(ready)
    if n == 0:
        return np.zeros(0, np.int64)
    seq = np.lexsort((np.arange(n), key, copy))
    r, d, c = ready[seq], dur[seq], copy[seq]
    new = np.ones(n, bool)
    new[1:] = c[1:] != c[:-1]
    seg = np.cumsum(new) - 1
    cs = np.cumsum(d)
    before = cs - d
    s_k = before - before[np.flatnonzero(new)][seg]
    x = r - s_k
    big = int(x.max() - x.min()) + 1
    st = s_k + np.maximum.accumulate(x + seg * big) - seg * big
    out = np.empty(n, np.int64)
    out[seq] = st
    return out


def ready_times(sets: SetGraph, li: int, end: np.ndarray, lag: np.ndarray, order: np.ndarray, dst_sorted: np.ndarray,
           src: np.ndarray, dst: np.ndarray, release: bool) -> np.ndarray:
    """Ready times of layer li's sets: release (if `release`) and every predecessor's end plus the edge's lag,
    over the edges src -> dst (`order` sorts them by dst, `dst_sorted` = dst[order])."""
    a, b = int(sets.offset[li]), int(sets.offset[li + 1])
    ready = sets.release[a:b].astype(np.int64) if release else np.zeros(b - a, np.int64)
    e0, e1 = np.searchsorted(dst_sorted, [a, b])
    idx = order[e0:e1]
    np.maximum.at(ready, dst[idx] - a, end[src[idx]] + lag[idx])
    return ready


def left_shift(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Semi-active starts for given copies and per-copy order (`key` ascending, then set number).

    Layers in their (topological) numbering: a set's ready time is its release and every predecessor's end
    plus the edge's lag for these copies; then `copy_chain` per copy. The result is valid, and no set starts
    later than in any valid schedule with the same copies and orders.
    """
    lag = edge_lags(sets, hw, mapping, copy)
    start, end = np.zeros(sets.num_sets, np.int64), np.zeros(sets.num_sets, np.int64)
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    for li in range(len(sets.layers)):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        ready = ready_times(sets, li, end, lag, order, dst_sorted, sets.src, sets.dst, True)
        start[a:b] = copy_chain(ready, sets.duration[a:b], copy[a:b], key[a:b])
        end[a:b] = start[a:b] + sets.duration[a:b]
    return start


def global_arrays(sets: SetGraph, sch: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """(copy, start) per global set number of a schedule of these sets."""
    g = sets.offset[sch.layer] + sch.set
    copy = np.zeros(sets.num_sets, np.int64)
    start = np.zeros(sets.num_sets, np.int64)
    copy[g], start[g] = sch.copy, sch.start
    return copy, start


def ready_order_schedule(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                         model: str = "") -> Schedule:
    """List scheduling like CLSA-CIM, but each layer's sets in order of readiness, round robin over the copies.

    Readiness for the order uses the least transfer lag (the copies are not chosen yet); the starts then use
    the exact lags of the chosen copies, so the schedule is valid.
    """
    n = sets.num_sets
    base = min_transfer_lags(sets, hw, mapping)
    copy, key = np.zeros(n, np.int64), np.zeros(n, np.int64)
    start, end = np.zeros(n, np.int64), np.zeros(n, np.int64)
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    for li, d in enumerate(mapping.copies):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        ready = ready_times(sets, li, end, base, order, dst_sorted, sets.src, sets.dst, True)
        rank = np.empty(b - a, np.int64)
        rank[np.lexsort((np.arange(b - a), ready))] = np.arange(b - a)
        copy[a:b], key[a:b] = rank % d, rank
        start[a:b] = copy_chain(ready, sets.duration[a:b], copy[a:b], key[a:b])
        end[a:b] = start[a:b] + sets.duration[a:b]
    if hw.noc_costs:  # the exact transfers of the chosen copies
        start = left_shift(sets, hw, mapping, copy, key)
        end = start + sets.duration
    return to_schedule(workload, hw, mapping, sets, copy, start, end, name="ready-order", model=model)


@njit(cache=True)
def _most_urgent_first(ready: np.ndarray, dur: np.ndarray, urgency: np.ndarray, copies: int):
    """One layer on `copies` identical copies: whenever a copy is free, the ready set of least `urgency`
    (a permutation of 0..n-1) starts on it; if none is ready, the copy waits for the next one.

    Returns (start, copy, position in its copy's sequence order) per set. O(n log n + n log D).
    """
    n = len(ready)
    by_ready = np.argsort(ready, kind="mergesort")
    who = np.empty(n, np.int64)
    for j in range(n):
        who[urgency[j]] = j
    free = [np.int64(c) for c in range(copies)]  # (free time << 20) | copy, a min-heap
    waiting = [np.int64(0)]
    waiting.pop()
    start = np.empty(n, np.int64)
    copy = np.empty(n, np.int64)
    seq = np.empty(n, np.int64)
    i = 0
    for k in range(n):
        key = heapq.heappop(free)
        t, c = key >> 20, key & ((1 << 20) - 1)
        if len(waiting) == 0 and ready[by_ready[i]] > t:
            t = ready[by_ready[i]]
        while i < n and ready[by_ready[i]] <= t:
            heapq.heappush(waiting, urgency[by_ready[i]])
            i += 1
        j = who[heapq.heappop(waiting)]
        s = max(t, ready[j])
        start[j], copy[j], seq[j] = s, c, k
        heapq.heappush(free, ((s + dur[j]) << 20) | c)
    return start, copy, seq


def priority_pass(sets: SetGraph, hw: Hardware, mapping: Mapping, priority: np.ndarray, *,
                  backward: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(copy, start) of the most-urgent-first list schedule (least `priority` first, set number on ties).

    Forward: layers in graph order, each set ready at its release and its predecessors' ends plus lag (the
    least NoC transfer for the decisions; then `left_shift` with the chosen copies' exact transfers, so the
    schedule is valid). Backward: the reversed instance (successors as predecessors,
    the layers in reverse order, no releases, least transfers): its starts count from the end of the schedule.
    """
    n = sets.num_sets
    lag = min_transfer_lags(sets, hw, mapping)
    src, dst = (sets.dst, sets.src) if backward else (sets.src, sets.dst)
    order = np.argsort(dst, kind="stable")
    dst_sorted = dst[order]
    urgency, seq = np.empty(n, np.int64), np.empty(n, np.int64)
    copy, start, end = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    layers = range(len(sets.layers) - 1, -1, -1) if backward else range(len(sets.layers))
    for li in layers:
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        urgency[a:b][np.lexsort((np.arange(b - a), priority[a:b]))] = np.arange(b - a)
        ready = ready_times(sets, li, end, lag, order, dst_sorted, src, dst, not backward)
        st, copy[a:b], seq[a:b] = _most_urgent_first(ready, sets.duration[a:b], urgency[a:b], int(mapping.copies[li]))
        start[a:b], end[a:b] = st, st + sets.duration[a:b]
    if hw.noc_costs and not backward:  # the exact transfers of the chosen copies, in the same per-copy order
        start = left_shift(sets, hw, mapping, copy, seq)
    return copy, start


def wavefront(sets: SetGraph) -> np.ndarray:
    """Per set, its place on a diagonal wavefront across its layer's grid: `2 row / rows + col / cols` (scaled to
    an integer; ties in raster order), so a layer's sets finish in a corner-to-corner sweep, every layer's at the
    same place of the image at the same fraction of its sets. (The steeper of the slopes 1:1 .. 2:1 tried on
    the zoo at pixel sets: an exact diagonal ties too often.)"""
    parts = [np.repeat(np.arange(ls.nrows, dtype=np.int64), ls.ncols) * (2 * ls.ncols)
             + np.tile(np.arange(ls.ncols, dtype=np.int64), ls.nrows) * ls.nrows for ls in sets.layers]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def forward_backward(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, model: str = "",
                     rounds: int = FB_ROUNDS) -> Schedule:
    """The best forward schedule of the forward-backward improvement (module docstring) from its five seeds."""
    n = sets.num_sets
    dur = sets.duration
    clsa = list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa")
    ready = ready_order_schedule(workload, hw, mapping, sets)
    wave = wavefront(sets)
    seeds = [("clsa", *global_arrays(sets, clsa)), ("ready-order", *global_arrays(sets, ready)),
             ("reverse raster", *priority_pass(sets, hw, mapping, -np.arange(n, dtype=np.int64))),
             ("wavefront", *priority_pass(sets, hw, mapping, wave)),
             ("reverse wavefront", *priority_pass(sets, hw, mapping, -wave))]
    best = None
    for name, copy, start in seeds:
        ms = int((start + dur).max()) if n else 0
        passes = 0
        for _ in range(rounds):
            _, back = priority_pass(sets, hw, mapping, -(start + dur), backward=True)
            c2, s2 = priority_pass(sets, hw, mapping, -(back + dur))
            m2 = int((s2 + dur).max()) if n else 0
            if m2 >= ms:
                break
            copy, start, ms, passes = c2, s2, m2, passes + 1
        if best is None or ms < best[0]:
            best = (ms, name, passes, copy, start)
    ms, name, passes, copy, start = best
    return to_schedule(workload, hw, mapping, sets, copy, start, start + dur, name="clsa-fb", model=model,
                       info={"seed": name, "improving_passes": passes})
