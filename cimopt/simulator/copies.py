"""Copies: a copy runs one job at a time."""

from __future__ import annotations

import numpy as np

from cimopt.simulator.plan import Plan, desc
from cimopt.simulator.result import Report, Violation
from cimopt.simulator.windows import stable_order


def check_overlap(plan: Plan, good: np.ndarray, rep: Report) -> None:
    """No copy runs two jobs at once: sorted by (layer, copy, start), each job starts after all before it end."""
    s = plan.schedule
    idx = np.nonzero(good)[0]
    if len(idx) < 2:
        return
    n_copy = int(s.copy[idx].max()) + 1  # (layer, copy) as one key; idx is ascending, the sort is stable
    order = idx[stable_order(s.layer[idx] * n_copy + s.copy[idx], s.start[idx], s.end[idx])]
    lay, cp, st, en = s.layer[order], s.copy[order], s.start[order], s.end[order]
    new_seg = np.ones(len(order), dtype=bool)
    new_seg[1:] = (lay[1:] != lay[:-1]) | (cp[1:] != cp[:-1])
    seg = np.cumsum(new_seg) - 1
    lo = int(min(st.min(), en.min()))
    big = int(max(st.max(), en.max())) - lo + 1
    if (int(seg[-1]) + 1) * big < (1 << 62):
        run_end = np.maximum.accumulate(seg * big + (en - lo)) - seg * big + lo
    else:  # values too large to offset: per segment
        run_end = np.empty_like(en)
        for a, b in zip(np.flatnonzero(new_seg), np.append(np.flatnonzero(new_seg)[1:], len(en)), strict=True):
            run_end[a:b] = np.maximum.accumulate(en[a:b])
    clash = np.zeros(len(order), dtype=bool)
    clash[1:] = ~new_seg[1:] & (st[1:] < run_end[:-1])
    hits = np.nonzero(clash)[0]
    seg_start = np.flatnonzero(new_seg)

    def make(k: int) -> Violation:
        j = int(order[k])
        a = seg_start[seg[k]]
        prev = order[a:k]
        other = int(prev[np.argmax(s.end[prev])])
        return Violation("copy-overlap", plan.workload.layers[int(s.layer[j])].name, int(s.set[j]), int(s.start[j]),
                         f"{desc(plan, j)} runs [{int(s.start[j])}, {int(s.end[j])}) while set {int(s.set[other])} "
                         f"runs [{int(s.start[other])}, {int(s.end[other])}) on the same copy")

    rep.add_many("copy-overlap", len(hits), make, hits)
