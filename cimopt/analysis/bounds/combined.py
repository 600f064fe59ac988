"""The bounds together: the critical path, the layer work (per layer, its sets on its copies), the joint bounds
over every duplication, and the best of them with the rule that gives it (`lower_bounds`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.analysis.bounds.closure import ClosureBound, closure_bound
from cimopt.analysis.bounds.heads import heads_and_tails
from cimopt.analysis.bounds.pipeline import PipelineBound, pipeline_bound
from cimopt.analysis.bounds.tiles import copy_window_bound, tile_path, tile_times
from cimopt.arith import ceil_div
from cimopt.hardware import Hardware
from cimopt.mapping import Budget, Mapping, crossbars_per_layer
from cimopt.sets import SetGraph
from cimopt.timing import min_transfer_lags
from cimopt.workload import Workload


@dataclass(frozen=True)
class LowerBounds:
    """Lower bounds on the makespan (cycles); `best` is the largest."""

    critical_path: int
    layer_work: int
    bottleneck: str  # the layer that gives `layer_work` ("" if there are no layers)
    best: int
    closure: int = 0  # the closure bound (`closure_bound`), 0 unless asked for
    pipeline: int = 0  # the pipeline bound (`pipeline_bound`)
    rule: str = ""  # which bound gives `best`, e.g. "pipeline, conv4"


def best_rule(candidates: list[tuple[int, str]]) -> tuple[int, str]:
    """The largest bound and the name of the rule that gives it (the first one listed on ties)."""
    value, rule = 0, ""
    for v, r in candidates:
        if v > value:
            value, rule = v, r
    return value, rule



@dataclass(frozen=True, eq=False)
class _LayerProfile:
    """One layer's sets sorted two ways, with prefix sums, for the subset bounds at any copy count."""

    by_head: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # window start, tail, work, k, pmin
    by_tail: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    longest: int  # max over sets of head + duration + tail

    @staticmethod
    def of(head: np.ndarray, tail: np.ndarray, dur: np.ndarray) -> _LayerProfile:
        def prefixes(key: np.ndarray) -> tuple:
            order = np.lexsort((np.arange(len(key)), -key))
            h, t, p = head[order], tail[order], dur[order]
            return (np.minimum.accumulate(h), np.minimum.accumulate(t), np.cumsum(p),
                    np.arange(1, len(p) + 1), np.minimum.accumulate(p))
        return _LayerProfile(prefixes(head), prefixes(tail), int((head + dur + tail).max()) if len(dur) else 0)

    def bound(self, copies: int) -> int:
        """The layer's bound on the makespan when it has `copies` copies."""
        best = self.longest
        for h, t, w, k, pmin in (self.by_head, self.by_tail):
            if len(w):
                busy = np.maximum(ceil_div(w, copies), ceil_div(k, copies) * pmin)
                best = max(best, int((h + busy + t).max()))
        return best


def _critical_path(sets: SetGraph, lag: np.ndarray) -> int:
    head, _ = heads_and_tails(sets, lag)
    return int((head + sets.duration).max()) if sets.num_sets else 0


def _profiles(sets: SetGraph, head: np.ndarray, tail: np.ndarray) -> list[_LayerProfile]:
    return [_LayerProfile.of(head[a:b], tail[a:b], sets.duration[a:b])
            for a, b in zip(sets.offset[:-1].tolist(), sets.offset[1:].tolist(), strict=True)]


def lower_bounds(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, *, closure_solves: int = 0,
                 target: int | None = None) -> LowerBounds:
    """Critical-path, per-layer work and pipeline bounds for the given mapping (its copies and placement);
    when the NoC costs cycles, with heads and tails per home tile and the tile bounds of `tiles`.

    With `closure_solves > 0`, also the closure bound with at most that many small CP-SAT solves (small
    instances only). `target`, the makespan of a known schedule, lets the closure bound stop once it is
    reached and sets the pipeline bound's time axis (without it, CLSA's makespan on the mapping).
    """
    lag = min_transfer_lags(sets, hw, mapping)
    cp = _critical_path(sets, lag)
    head, tail = heads_and_tails(sets, lag, mapping.copies)
    tt = None
    if hw.noc_costs:  # where the copies sit matters: heads and tails per home tile (`tiles`)
        tt = tile_times(sets, hw, mapping, head, tail)
        head, tail = tt.set_head, tt.set_tail
    work, name = 0, ""
    for layer, prof, d in zip(workload.layers, _profiles(sets, head, tail), mapping.copies, strict=True):
        b = prof.bound(d)
        if b > work:
            work, name = b, layer.name
    if target is None:
        from cimopt.list_scheduling import list_schedule

        target = list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa").makespan
    pb = pipeline_bound(workload, sets, lag, mapping.copies, horizon=target, tiles=tt)
    tile_rules = []
    if tt is not None:
        windows, wl = copy_window_bound(sets, tt)
        tile_rules = [(tile_path(sets, tt), "critical path over tiles")]
        if wl >= 0:
            tile_rules.append((windows, f"copy windows, {workload.layers[wl].name}"))
    cl: ClosureBound | None = None
    if closure_solves > 0 and max(cp, work, pb.value) < target:
        cl = closure_bound(workload, sets, lag, mapping.copies, target=target, max_solves=closure_solves)
    direction = "" if pb.direction == "forward" else f" {pb.direction}"
    best, rule = best_rule([(cp, "critical path"), (work, f"layer work, {name}"),
                            (pb.value, f"pipeline{direction}, {pb.layer}"), *tile_rules, *closure_rule(cl)])
    return LowerBounds(cp, work, name, best, cl.value if cl else 0, pb.value, rule)


def closure_rule(cl: ClosureBound | None) -> list[tuple[int, str]]:
    """The closure bound as a (value, rule) candidate for `best_rule` (none if it was not run or gave 0)."""
    if cl is None or cl.value == 0:
        return []
    return [(cl.value, f"closure, {cl.producer} -> {cl.consumer} at t={cl.time}")]


def max_copies(crossbars: tuple[int, ...] | np.ndarray, counts: list[int], budget: Budget) -> tuple[int, ...]:
    """Most copies each layer can get under the budget (the others at one copy), and no more than its sets."""
    xb = np.asarray(crossbars, dtype=np.int64)
    free = budget.pes - int(xb.sum())
    return tuple(max(1, min(n, 1 + free // int(x))) for x, n in zip(xb, counts, strict=True))


def lower_bounds_joint(workload: Workload, hw: Hardware, budget: Budget, sets: SetGraph, *,
                       closure_solves: int = 0, target: int | None = None) -> LowerBounds:
    """Bounds valid for every duplication with `sum(D_l * crossbars_l) <= budget.pes` (NoC transfer taken as 0).

    `layer_work` is the smallest C such that the fewest copies each layer needs to finish by C fit in the
    budget (at least the area bound: total crossbar-cycles / PEs); `bottleneck` names the layer whose
    bound is largest at those copy counts. `closure_solves`, `target`: as in `lower_bounds`, with every layer
    at its most copies; so is the pipeline bound (more copies only let more sets finish), with `target`
    only.
    """
    xb = np.asarray(crossbars_per_layer(workload, hw), dtype=np.int64)
    if len(xb) == 0:
        return LowerBounds(0, 0, "", 0)
    counts = [ls.count for ls in sets.layers]
    cp = _critical_path(sets, sets.lag)
    head, tail = heads_and_tails(sets, sets.lag, max_copies(xb, counts, budget))
    profiles = _profiles(sets, head, tail)
    work = [int(sets.duration[a:b].sum()) for a, b in zip(sets.offset[:-1], sets.offset[1:], strict=True)]
    area = int(ceil_div(int(np.dot(xb, work)), budget.pes))

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
    most = max_copies(xb, counts, budget)
    pb = pipeline_bound(workload, sets, sets.lag, most, horizon=target) if target is not None else PipelineBound(0, "")
    cl: ClosureBound | None = None
    if closure_solves > 0 and (target is None or max(cp, lo, pb.value) < target):
        cl = closure_bound(workload, sets, sets.lag, most, target=target, max_solves=closure_solves)
    best, rule = best_rule([(cp, "critical path"), (lo, f"joint layer work, {name}"),
                            (pb.value, f"pipeline at most copies, {pb.layer}"), *closure_rule(cl)])
    return LowerBounds(cp, lo, name, best, cl.value if cl else 0, pb.value, rule)
