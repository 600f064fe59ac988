"""Heads and tails: each set's earliest start and the least time from its end to the end of any schedule."""

from __future__ import annotations

import numpy as np

from cimopt.arith import ceil_div
from cimopt.sets import SetGraph


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
    val = o_ + np.maximum(ceil_div(work, d), ceil_div(count, d) * pmin[g_])
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
