"""Combinatorial lower bounds on the makespan, without a solver.

Every bound here is sound: no valid schedule (same sets, lags, releases and copies) finishes earlier.

- `critical_path`: the longest path through the set DAG (release + durations + GPEU lags + the least NoC
  transfer any copy pair of the two layers could have).
- `layer_work`: per layer, its sets must run on its `D_l` copies: for any subset S of its sets, all of S runs
  inside [min head(S), C - min tail(S)], where a set's head is its earliest possible start and its tail the
  longest path from its end to the end of the schedule. On D copies that window holds at most
  D * length cycles of work, and one copy runs at least ceil(|S|/D) sets of S, so
  C >= min head(S) + max(ceil(W(S)/D), ceil(|S|/D) * min duration(S)) + min tail(S).
  The subsets tried are the sets with the largest heads (every prefix in that order) and those with the
  largest tails.
- joint duplication (`lower_bounds_joint`): D_l is unknown, but any duplication under the budget with
  makespan C needs, per layer, at least the smallest D whose layer bound is <= C; the bound is the smallest C
  for which those minimum copy counts fit in the PEs. Also: total crossbar-cycles / PEs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.hardware import Hardware
from cimopt.mapping import Budget, Mapping, crossbars_per_layer
from cimopt.schedulers.list_scheduling import transfer_cycles
from cimopt.sets import SetGraph
from cimopt.workload import Workload


@dataclass(frozen=True)
class LowerBounds:
    """Lower bounds on the makespan (cycles); `best` is the largest."""

    critical_path: int
    layer_work: int
    bottleneck: str  # the layer that gives `layer_work` ("" if there are no layers)
    best: int


def min_transfer_lags(sets: SetGraph, hw: Hardware, mapping: Mapping | None) -> np.ndarray:
    """Per edge: GPEU lag plus the least NoC transfer between any copy of its source and destination layers."""
    if mapping is None or hw.noc_hop_cycles == 0 or len(sets.src) == 0:
        return sets.lag.copy()
    ls, ld = sets.layer_of(sets.src), sets.layer_of(sets.dst)
    n = len(sets.layers)
    table = np.zeros((n, n), dtype=np.int64)
    for a, b in set(zip(ls.tolist(), ld.tolist(), strict=True)):
        ta = np.asarray(mapping.home_tiles(a), dtype=np.int64)
        tb = np.asarray(mapping.home_tiles(b), dtype=np.int64)
        table[a, b] = int(transfer_cycles(hw, mapping, ta[:, None], tb[None, :]).min())
    return sets.lag + table[ls, ld]


def _ceil_div(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray | int:
    return -(-a // b)


def _grouped_bound(key: np.ndarray, group: np.ndarray, other: np.ndarray, dur: np.ndarray, copies: np.ndarray,
                   pmin: np.ndarray, lag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For edge groups (same `key` set, same `group` layer on the other end), the machine-count bound.

    Within a group, the other ends sorted by `other` (their head or tail) descending form prefixes S; all of S
    runs on the group layer's copies after min other(S), so the group needs at least
    min other(S) + max(ceil(W(S)/D), ceil(|S|/D) * pmin) + min lag. Returns (key per group, that bound).
    """
    order = np.lexsort((-other, group, key))
    k_, g_, o_, p_, l_ = key[order], group[order], other[order], dur[order], lag[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (k_[1:] != k_[:-1]) | (g_[1:] != g_[:-1])
    starts = np.flatnonzero(new)
    seg = np.cumsum(new) - 1
    csum = np.cumsum(p_)
    base = (csum - p_)[starts]
    work = csum - base[seg]
    count = np.arange(len(order)) - starts[seg] + 1
    d = copies[g_]
    val = o_ + np.maximum(_ceil_div(work, d), _ceil_div(count, d) * pmin[g_])
    return k_[starts], np.maximum.reduceat(val, starts) + np.minimum.reduceat(l_, starts)


def heads_and_tails(sets: SetGraph, lag: np.ndarray, copies: tuple[int, ...] | np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Earliest start of every set and the least time from its end to the end of any schedule.

    Heads follow releases and predecessors (end + lag); with `copies` (per layer; any upper bound on the
    copies is sound) they also account for a set's predecessors in one layer having to share that layer's
    copies (`_grouped_bound`). Tails alike, backwards. Sets are numbered layer by layer in a topological order
    of the layers, so one sweep per layer forward (heads) and backward (tails) suffices.
    """
    n = sets.num_sets
    dur = sets.duration
    head = sets.release.astype(np.int64).copy()
    tail = np.zeros(n, dtype=np.int64)
    nl = len(sets.layers)
    src_layer, dst_layer = sets.layer_of(sets.src), sets.layer_of(sets.dst)
    cps = None if copies is None else np.asarray(copies, dtype=np.int64)
    pmin = np.asarray([int(dur[a:b].min()) if b > a else 0
                       for a, b in zip(sets.offset[:-1].tolist(), sets.offset[1:].tolist(), strict=True)], np.int64)
    by_dst = sets.dst_order
    dst_sorted = sets.dst[by_dst]
    by_src = np.argsort(sets.src, kind="stable")
    src_sorted = sets.src[by_src]
    for li in range(nl):
        e0, e1 = np.searchsorted(dst_sorted, [sets.offset[li], sets.offset[li + 1]])
        idx = by_dst[e0:e1]
        if len(idx) == 0:
            continue
        u, v = sets.src[idx], sets.dst[idx]
        np.maximum.at(head, v, head[u] + dur[u] + lag[idx])
        if cps is not None:
            keys, b = _grouped_bound(v, src_layer[idx], head[u], dur[u], cps, pmin, lag[idx])
            np.maximum.at(head, keys, b)
    for li in range(nl - 1, -1, -1):
        e0, e1 = np.searchsorted(src_sorted, [sets.offset[li], sets.offset[li + 1]])
        idx = by_src[e0:e1]
        if len(idx) == 0:
            continue
        u, v = sets.src[idx], sets.dst[idx]
        np.maximum.at(tail, u, lag[idx] + dur[v] + tail[v])
        if cps is not None:
            keys, b = _grouped_bound(u, dst_layer[idx], tail[v], dur[v], cps, pmin, lag[idx])
            np.maximum.at(tail, keys, b)
    return head, tail


@dataclass(frozen=True, eq=False)
class _LayerProfile:
    """One layer's sets sorted two ways, with prefix sums, for the subset bounds at any copy count."""

    by_head: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # window start, tail, work, k, pmin
    by_tail: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    @staticmethod
    def of(head: np.ndarray, tail: np.ndarray, dur: np.ndarray) -> _LayerProfile:
        def prefixes(key: np.ndarray) -> tuple:
            order = np.lexsort((np.arange(len(key)), -key))
            h, t, p = head[order], tail[order], dur[order]
            return (np.minimum.accumulate(h), np.minimum.accumulate(t), np.cumsum(p),
                    np.arange(1, len(p) + 1), np.minimum.accumulate(p))
        return _LayerProfile(prefixes(head), prefixes(tail))

    def bound(self, copies: int) -> int:
        """The layer's bound on the makespan when it has `copies` copies."""
        best = 0
        for h, t, w, k, pmin in (self.by_head, self.by_tail):
            if len(w):
                busy = np.maximum(_ceil_div(w, copies), _ceil_div(k, copies) * pmin)
                best = max(best, int((h + busy + t).max()))
        return best


def _profiles(sets: SetGraph, head: np.ndarray, tail: np.ndarray) -> list[_LayerProfile]:
    return [_LayerProfile.of(head[a:b], tail[a:b], sets.duration[a:b])
            for a, b in zip(sets.offset[:-1].tolist(), sets.offset[1:].tolist(), strict=True)]


def lower_bounds(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph) -> LowerBounds:
    """Critical-path and per-layer work bounds for the given mapping (its copies and placement)."""
    head, tail = heads_and_tails(sets, min_transfer_lags(sets, hw, mapping))
    cp = int((head + sets.duration).max()) if sets.num_sets else 0
    work, name = 0, ""
    for layer, prof, d in zip(workload.layers, _profiles(sets, head, tail), mapping.copies, strict=True):
        b = prof.bound(d)
        if b > work:
            work, name = b, layer.name
    return LowerBounds(cp, work, name, max(cp, work))


def lower_bounds_joint(workload: Workload, hw: Hardware, budget: Budget, sets: SetGraph) -> LowerBounds:
    """Bounds valid for every duplication with `sum(D_l * crossbars_l) <= budget.pes` (NoC transfer taken as 0).

    `layer_work` is the smallest C such that the fewest copies each layer needs to finish by C fit in the
    budget (at least the area bound: total crossbar-cycles / PEs); `bottleneck` names the layer whose
    bound is largest at those copy counts.
    """
    head, tail = heads_and_tails(sets, sets.lag)
    cp = int((head + sets.duration).max()) if sets.num_sets else 0
    xb = np.asarray(crossbars_per_layer(workload, hw), dtype=np.int64)
    if len(xb) == 0:
        return LowerBounds(cp, 0, "", cp)
    profiles = _profiles(sets, head, tail)
    counts = [ls.count for ls in sets.layers]
    work = [int(sets.duration[a:b].sum()) for a, b in zip(sets.offset[:-1], sets.offset[1:], strict=True)]
    area = int(_ceil_div(int(np.dot(xb, work)), budget.pes))

    def fewest_copies(prof: _LayerProfile, n: int, c: int) -> int | None:
        """Smallest D in 1..n with the layer's bound <= c (None if even n copies cannot make it)."""
        if prof.bound(n) > c:
            return None
        lo, hi = 1, n
        while lo < hi:
            mid = (lo + hi) // 2
            if prof.bound(mid) <= c:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def copies_for(c: int) -> list[int] | None:
        need = []
        for prof, n in zip(profiles, counts, strict=True):
            d = fewest_copies(prof, n, c)
            if d is None:
                return None
            need.append(d)
        return need if int(np.dot(xb, need)) <= budget.pes else None

    lo = max(cp, area)
    hi = max(lo, max(p.bound(1) for p in profiles))  # one copy each always fits the budget
    while lo < hi:
        mid = (lo + hi) // 2
        if copies_for(mid) is not None:
            hi = mid
        else:
            lo = mid + 1
    need = copies_for(lo) or [1] * len(profiles)
    per_layer = [p.bound(d) for p, d in zip(profiles, need, strict=True)]
    name = workload.layers[int(np.argmax(per_layer))].name
    return LowerBounds(cp, lo, name, max(cp, lo))
