"""Lower bounds on the makespan: combinatorial ones without a solver, and an optional closure bound.

Every bound here is sound: no valid schedule (same sets, lags, releases and copies) finishes earlier.
The simulator's rules apply (durations, releases, GPEU lags, NoC transfer between home tiles); buffers are
not modelled, and none is needed for a lower bound.

- `critical_path`: the longest path through the set DAG (release + durations + GPEU lags + the least NoC
  transfer any copy pair of the two layers could have).
- heads and tails (`heads_and_tails`): a set's earliest start and the least time from its end to the end of
  the schedule, from precedences and, per producer layer, from its predecessors there sharing that layer's
  copies (the predecessors with the latest heads must all run, D at a time, before the set can start).
- `layer_work`: per layer, its sets must run on its `D_l` copies: for any subset S of its sets, all of S runs
  inside [min head(S), C - min tail(S)]. On D copies that window holds at most D * length cycles of work,
  and one copy runs at least ceil(|S|/D) sets of S, so
  C >= min head(S) + max(ceil(W(S)/D), ceil(|S|/D) * min duration(S)) + min tail(S).
  The subsets tried are the sets with the largest heads (every prefix in that order) and those with the
  largest tails; also every single set (head + duration + tail).
- joint duplication (`lower_bounds_joint`): D_l is unknown, but any duplication under the budget with
  makespan C needs, per layer, at least the smallest D whose layer bound is <= C; the bound is the smallest C
  for which those minimum copy counts fit in the PEs. Also: total crossbar-cycles / PEs.
- `closure_bound` (small instances, asked for explicitly): how little of a layer can be finished while an
  upstream layer is still running (a max-closure problem per time point, solved with CP-SAT). This is what
  proves the golden chain's 84 cycles at pixel sets optimal, where the bounds above give 74.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from cimopt.arith import ceil_div, least_true
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
    """Critical-path, per-layer work and pipeline bounds for the given mapping (its copies and placement).

    With `closure_solves > 0`, also the closure bound with at most that many small CP-SAT solves (small
    instances only). `target`, the makespan of a known schedule, lets the closure bound stop once it is
    reached and sets the pipeline bound's time axis (without it, CLSA's makespan on the mapping).
    """
    lag = min_transfer_lags(sets, hw, mapping)
    cp = _critical_path(sets, lag)
    head, tail = heads_and_tails(sets, lag, mapping.copies)
    work, name = 0, ""
    for layer, prof, d in zip(workload.layers, _profiles(sets, head, tail), mapping.copies, strict=True):
        b = prof.bound(d)
        if b > work:
            work, name = b, layer.name
    if target is None:
        from cimopt.list_scheduling import list_schedule

        target = list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa").makespan
    pb = pipeline_bound(workload, sets, lag, mapping.copies, horizon=target)
    cl: ClosureBound | None = None
    if closure_solves > 0 and max(cp, work, pb.value) < target:
        cl = closure_bound(workload, sets, lag, mapping.copies, target=target, max_solves=closure_solves)
    direction = "" if pb.direction == "forward" else f" {pb.direction}"
    best, rule = best_rule([(cp, "critical path"), (work, f"layer work, {name}"),
                            (pb.value, f"pipeline{direction}, {pb.layer}"), *closure_rule(cl)])
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


# ------------------------------------------------------------------------------------------ closure bound

CLOSURE_MAX_SETS = 2000  # the closure bound is tried on instances up to this many sets
CLOSURE_MAX_CELLS = 2_000_000  # and producer x consumer distance-matrix cells per producer layer


@dataclass(frozen=True)
class ClosureBound:
    """The closure bound: its value, the (producer, consumer) layers and the time point that give it."""

    value: int
    producer: str
    consumer: str
    time: int
    solves: int


def _distances_from(sets: SetGraph, lag: np.ndarray, p: int, cells: int) -> dict[int, np.ndarray] | None:
    """Longest path from the end of every set of layer `p` to the end of every later set (< 0: no path).

    Returns one matrix per later layer (rows: sets of `p`), or None if they would exceed `cells` cells.
    """
    n_p = sets.layers[p].count
    if n_p * (sets.num_sets - int(sets.offset[p + 1])) > cells:
        return None
    neg = np.int64(-(1 << 40))
    dist: dict[int, np.ndarray] = {}
    src_layer = sets.layer_of(sets.src)
    by_dst = sets.dst_order
    dst_sorted = sets.dst[by_dst]
    for m in range(p + 1, len(sets.layers)):
        a, b = int(sets.offset[m]), int(sets.offset[m + 1])
        dm = np.full((n_p, b - a), neg, dtype=np.int64)
        e0, e1 = np.searchsorted(dst_sorted, [a, b])
        idx = by_dst[e0:e1]
        for k in np.unique(src_layer[idx]).tolist():
            if k < p:
                continue
            ek = idx[src_layer[idx] == k]
            u = sets.src[ek] - int(sets.offset[k])
            v = sets.dst[ek] - a
            step = lag[ek] + sets.duration[sets.dst[ek]]
            if k == p:
                vals = np.where(np.arange(n_p)[:, None] == u[None, :], step[None, :], neg)
            else:
                vals = dist[k][:, u] + step[None, :]
            np.maximum.at(dm, (slice(None), v), vals)
        dist[m] = dm
    return dist


def _greedy_closure(anc: np.ndarray, wp: np.ndarray, wl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grow a consumer subset C one set at a time, each time the one adding the least producer work.

    Returns the producer work of anc(C) and the consumer work of C after each step (nondecreasing), and the
    order; `G(n) >= consumer work at the last step with producer work <= n` (a lower estimate of G).
    Incremental: O(|p| * |l|) in all.
    """
    n_l = anc.shape[1]
    have = np.zeros(anc.shape[0], dtype=bool)
    cost = (anc * wp[:, None]).sum(axis=0).astype(np.int64)  # producer work each l-set would add
    done = np.iinfo(np.int64).max
    pw, lw, order = [0], [0], []
    ap, al = 0, 0
    for _ in range(n_l):
        v = int(np.argmin(cost))
        new = anc[:, v] & ~have
        have |= new
        cost -= (anc[new] * wp[new, None]).sum(axis=0)
        cost[v] = done
        ap, al = ap + int(wp[new].sum()), al + int(wl[v])
        pw.append(ap)
        lw.append(al)
        order.append(v)
    return np.asarray(pw), np.asarray(lw), np.asarray(order)


def _max_closure(anc: np.ndarray, wp: np.ndarray, wl: np.ndarray, cap: int, allow_p: np.ndarray,
                 allow_l: np.ndarray, hint: np.ndarray, dtime: float) -> tuple[int, int]:
    """Bounds (upper, lower) on G(cap) = max W_l(C) s.t. W_p(anc(C)) <= cap, by CP-SAT within `dtime`."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    n_p, n_l = anc.shape
    a = [m.NewBoolVar(f"a{x}") if allow_p[x] else m.NewConstant(0) for x in range(n_p)]
    c = [m.NewBoolVar(f"c{v}") if allow_l[v] else m.NewConstant(0) for v in range(n_l)]
    for x, v in zip(*np.nonzero(anc[:, allow_l]), strict=True):
        vv = int(np.flatnonzero(allow_l)[v])
        m.AddImplication(c[vv], a[int(x)])
    m.Add(sum(int(w) * lit for w, lit in zip(wp, a, strict=True)) <= cap)
    m.Maximize(sum(int(w) * lit for w, lit in zip(wl, c, strict=True)))
    for v in range(n_l):
        if allow_l[v]:
            m.AddHint(c[v], bool(hint[v]))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = dtime
    solver.parameters.catch_sigint_signal = False  # Ctrl-C reaches the caller once this short solve ends
    status = solver.Solve(m)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return int(np.floor(solver.BestObjectiveBound() + 1e-9)), int(round(solver.ObjectiveValue()))
    return int(wl[allow_l].sum()), 0


@dataclass(eq=False)
class _ClosurePair:
    """One (producer p, consumer c) pair of the closure bound: its time points and what is known of G there."""

    p: int
    c: int
    anc: np.ndarray  # (sets of p, sets of c) bool: is an ancestor
    wp: np.ndarray
    wl: np.ndarray
    allow_p_at: np.ndarray  # head + duration of each p-set (it can end by T iff this <= T)
    allow_l_at: np.ndarray
    delta: int
    times: np.ndarray
    caps: np.ndarray
    known: np.ndarray  # closure work known to fit each cap (a lower estimate of G)
    order: np.ndarray  # greedy order of l-sets, for hints
    greedy_pw: np.ndarray
    d_l: int
    pmin: int
    pmax: int
    qmin: int
    tried: set

    def value(self, t: np.ndarray | int, g: np.ndarray | int) -> np.ndarray:
        """The bound at time point t if at most g work of c can be finished by t + delta (0 where none)."""
        wrem = int(self.wl.sum()) - np.asarray(g, dtype=np.int64)
        after = np.maximum(wrem - self.d_l * (self.pmax - 1), 1)
        k = ceil_div(wrem, self.pmax)
        rest = np.maximum(ceil_div(after, self.d_l), (ceil_div(k, self.d_l) - 1) * self.pmin + 1)
        return np.where(wrem > 0, np.asarray(t) + self.delta + rest + self.qmin, 0)

    def best_open(self) -> tuple[int, int, int]:
        """(largest possible value, its time, index) over the time points not solved yet; (0, 0, -1) if none.

        Only the last time point of each run of equal `known` is a candidate: the bound grows with T while the
        known closure stays the same.
        """
        last = np.append(self.known[1:] != self.known[:-1], True)
        idx = np.flatnonzero(last)
        idx = idx[~np.isin(idx, list(self.tried))]
        if len(idx) == 0:
            return 0, 0, -1
        vals = self.value(self.times[idx], self.known[idx])
        j = int(np.lexsort((self.times[idx], vals))[-1])
        return int(vals[j]), int(self.times[idx[j]]), int(idx[j])

    def solve(self, i: int, dtime: float) -> int:
        """Bound CP-SAT proves at time point i (and what it learns about G for larger caps)."""
        self.tried.add(i)
        t, cap = int(self.times[i]), int(self.caps[i])
        allow_p = self.allow_p_at <= t
        allow_l = self.allow_l_at <= t + self.delta
        hint = np.zeros(self.anc.shape[1], dtype=bool)
        hint[self.order[: int(np.searchsorted(self.greedy_pw, cap, side="right")) - 1]] = True
        g_ub, g_lb = _max_closure(self.anc, self.wp, self.wl, cap, allow_p, allow_l, hint & allow_l, dtime)
        self.known = np.where(self.caps >= cap, np.maximum(self.known, g_lb), self.known)
        return int(self.value(t, g_ub))


def _closure_pairs(sets: SetGraph, lag: np.ndarray, copies: np.ndarray, head: np.ndarray,
                   tail: np.ndarray) -> list[_ClosurePair]:
    pairs = []
    dur = sets.duration
    for p in range(len(sets.layers)):
        dist = _distances_from(sets, lag, p, CLOSURE_MAX_CELLS)
        if dist is None:
            continue
        pa, pb = int(sets.offset[p]), int(sets.offset[p + 1])
        wp, hp = dur[pa:pb], head[pa:pb]
        hmin, d_p = int(hp.min()), int(copies[p])
        ends = hp + wp
        times = np.arange(hmin + 1, max(hmin + ceil_div(int(wp.sum()), d_p), int(ends.max())) + 1, dtype=np.int64)
        order_e = np.argsort(ends, kind="stable")
        can_end = np.concatenate([[0], np.cumsum(wp[order_e])])[np.searchsorted(ends[order_e], times, side="right")]
        caps = np.minimum(d_p * (times - hmin), can_end)
        for l_, dm in dist.items():
            anc = dm >= 0
            if not anc.any():
                continue
            la, lb = int(sets.offset[l_]), int(sets.offset[l_ + 1])
            wl = dur[la:lb]
            gp, gl, order = _greedy_closure(anc, wp, wl)
            pairs.append(_ClosurePair(
                p, l_, anc, wp, wl, hp + wp, head[la:lb] + wl, int(dm[anc].min()), times, caps,
                gl[np.searchsorted(gp, caps, side="right") - 1], order, gp, int(copies[l_]),
                int(wl.min()), int(wl.max()), int(tail[la:lb].min()), set()))
    return pairs


def closure_bound(workload: Workload, sets: SetGraph, lag: np.ndarray, copies: tuple[int, ...] | np.ndarray,
                  *, target: int | None = None, max_solves: int = 8, dtime: float = 2.0,
                  stop: Callable[[], bool] | None = None) -> ClosureBound:
    """A bound from how little of a layer can be finished while its ancestors are still running.

    For a producer layer p upstream of a consumer layer l and a time T: the p-sets finished by T have at most
    cap(T) = min(D_p * (T - earliest p start), work of the p-sets that can end by T) work. An l-set that ends
    by T + delta (delta = the shortest longest-path from the end of a p-ancestor to the end of an l-set) has
    all its p-ancestors finished by T, so the l-work finished by T + delta is at most
    G(cap(T)) = max { W_l(C) : W_p(ancestors of C in p) <= cap(T) }, a max-closure problem under a budget
    (CP-SAT, its proven upper bound within `dtime` deterministic seconds). The rest of l runs after
    T + delta on D_l copies (at most D_l of them already started), then the least tail of l.

    Tried on instances of at most CLOSURE_MAX_SETS sets, at the (pair, T) where the closures known so far
    (greedy, then CP-SAT's) leave the most room, latest T first, `max_solves` CP-SAT calls in all; it stops
    once it reaches `target` (a valid makespan, hence the optimum), or when `stop()` says so. Deterministic
    (one worker, deterministic time limits).
    """
    if sets.num_sets == 0 or sets.num_sets > CLOSURE_MAX_SETS:
        return ClosureBound(0, "", "", 0, 0)
    copies = np.asarray(copies, dtype=np.int64)
    head, tail = heads_and_tails(sets, lag, copies)
    pairs = _closure_pairs(sets, lag, copies, head, tail)
    names = [layer.name for layer in workload.layers]
    best, where, solves = 0, (-1, -1, 0), 0
    while solves < max_solves and (target is None or best < target) and not (stop and stop()):
        opens = [(*pair.best_open(), k) for k, pair in enumerate(pairs)]
        if not opens:
            break
        up, t, i, k = max(opens)
        if up <= best or i < 0:
            break
        value = pairs[k].solve(i, dtime)
        solves += 1
        if value > best:
            best, where = value, (pairs[k].p, pairs[k].c, t)
    if best == 0:
        return ClosureBound(0, "", "", 0, solves)
    return ClosureBound(best, names[where[0]], names[where[1]], where[2], solves)


# ---------------------------------------------------------------------------------------- pipeline bound

PIPELINE_MAX_INTERVAL_SETS = 512  # `interval_closure` on axes of up to this many blocks
PIPELINE_MAX_GRID_CELLS = 200_000_000  # `grid_closure`: producer columns x producer rows x producer sets
PIPELINE_MAX_CELLS = 20_000_000  # time points x layers the pipeline bound may evaluate


@dataclass(frozen=True)
class PipelineBound:
    """The pipeline bound: its value, the layer that gives it, and the direction ("forward": the layer's
    last set plus its least tail; "backward": the same in reversed time, from its first set; "meet": both
    directions' finish counts of the layer together)."""

    value: int
    layer: str
    direction: str = "forward"


def interval_closure(a: np.ndarray, b: np.ndarray, n_p: int) -> np.ndarray:
    """G[m]: the most consumers whose producer intervals [a_v, b_v] (inclusive, in 0..n_p-1) all lie in a set
    of at most m producers, for m = 0..n_p (exact).

    An optimal producer set is a union of maximal runs; a consumer's interval lies in the union iff it lies in
    one run, so the covered consumers of the runs add up. Dynamic programme over the runs: F[j][c], the most
    consumers covered using c producers among the first j, where a run [x, j-1] is preceded by an unused
    position x-1; `cov(x, y)` (consumers inside [x, y]) comes from 2-D prefix sums. O(n_p^3 / vector).
    """
    k = np.zeros((n_p + 1, n_p + 1), np.int64)
    np.add.at(k, (a, b), 1)
    cov = np.cumsum(np.cumsum(k[::-1], axis=0)[::-1], axis=1)  # cov[x, y] = #{v : a_v >= x, b_v <= y}
    neg = np.int64(-(1 << 40))
    f = np.full((n_p + 1, n_p + 1), neg, np.int64)  # f[j, c]
    f[0, 0] = 0
    cs = np.arange(n_p + 1)
    for j in range(1, n_p + 1):
        x = np.arange(j)
        prior = f[np.maximum(x - 1, 0)]  # (x, c): positions before x - 1 (x = 0: nothing before)
        src = cs[None, :] - (j - x)[:, None]
        vals = np.where(src >= 0, prior[x[:, None], np.clip(src, 0, None)], neg) + cov[x, j - 1][:, None]
        f[j] = np.maximum(f[j - 1], vals.max(axis=0))
    return np.maximum.accumulate(f[n_p])


def grid_closure(rows: tuple[np.ndarray, np.ndarray, int], cols: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """An upper bound on G[m], m = 0..R*Q: the most consumer blocks (i, j) whose producer blocks, the rectangle
    rows [ra_i, rb_i] x columns [ca_j, cb_j] of an R x Q producer grid, all lie in a set S of at most m blocks.

    Proof: let s_r be the blocks of S in producer row r and L_w = {r : s_r >= w} (nested, shrinking in w,
    sum_w |L_w| = |S|). Consumer (i, j) is covered only if its columns lie in the intersection of S's rows
    r in A_i, which has at most min_{A_i} s_r blocks, so row i has at most g(min_{A_i} s) covered blocks,
    g = `interval_closure` of the column intervals. Writing g(k) = sum_{w <= k} dg_w (dg_w >= 0),
    sum_i g(min_{A_i} s) = sum_w dg_w #{i : A_i in L_w} <= sum_w dg_w F(|L_w|), F = `interval_closure` of the
    row intervals. So G[m] <= max sum_w dg_w F(c_w) over R >= c_1 >= c_2 >= ... >= c_Q >= 0 with
    sum c_w <= m, a dynamic programme over the levels w with state (c_w, sum so far). Exact for one column.
    """
    (ra, rb, n_r), (ca, cb, n_q) = rows, cols
    f_rows = interval_closure(ra, rb, n_r)  # over consumer rows
    g = interval_closure(ca, cb, n_q)  # over consumer columns
    dg = np.diff(g)
    n = n_r * n_q
    neg = np.int64(-(1 << 40))
    # v[c, t]: best value of the levels so far with the last level's c_w = c and sum of c_w = t
    v = np.full((n_r + 1, n + 1), neg, np.int64)
    v[n_r, 0] = 0  # before level 1: any c_1 <= n_r allowed
    for w in range(n_q):
        u = np.maximum.accumulate(v[::-1], axis=0)[::-1]  # u[c, t] = max over c' >= c of v[c', t]
        nv = np.full_like(v, neg)
        for c in range(n_r + 1):
            nv[c, c:] = u[c, : n + 1 - c] + int(dg[w]) * int(f_rows[c])
        v = nv
    return np.maximum.accumulate(v.max(axis=0))


def coarse_grid_closure(rows: tuple[np.ndarray, np.ndarray, int], cols: tuple[np.ndarray, np.ndarray, int],
                        k: int) -> np.ndarray:
    """`grid_closure` on k x k super-blocks of the producer grid, for grids too large for it (sound, coarser).

    Proof: for a producer set S, let S' be the full k x k super-blocks (the last partial row and column of
    super-blocks left out) lying wholly in S, so |S'| <= |S| / k^2. A consumer whose rectangle lies in S has
    every full super-block inside its rectangle in S' (its inner rectangle, clipped to the full ones). So at
    most grid_closure'(floor(m / k^2)) consumers with a non-empty inner rectangle are covered by m producer
    blocks, plus every consumer whose inner rectangle is empty.
    """
    (ra, rb, n_r), (ca, cb, n_q) = rows, cols
    nr, nq = n_r // k, n_q // k
    ia, ib = ceil_div(ra, k), np.minimum((rb + 1) // k, nr) - 1
    ja, jb = ceil_div(ca, k), np.minimum((cb + 1) // k, nq) - 1
    row_ok, col_ok = ia <= ib, ja <= jb
    free = len(ra) * len(ca) - int(row_ok.sum()) * int(col_ok.sum())
    m = np.arange(n_r * n_q + 1) // (k * k)
    if nr == 0 or nq == 0 or not row_ok.any() or not col_ok.any():
        return np.full(n_r * n_q + 1, len(ra) * len(ca), np.int64)
    g = grid_closure((ia[row_ok], ib[row_ok], nr), (ja[col_ok], jb[col_ok], nq))
    return g[np.minimum(m, nr * nq)] + free


def _pair_closure(sets: SetGraph, p: int, l_: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """An upper bound on G[m], m = 0..n_p: the most sets of l whose predecessors in p (edges u -> v, local
    set numbers) number at most m.

    When every l-set's predecessors are a full rectangle of p's block grid whose rows depend only on the
    l-set's block row and columns only on its block column (receptive fields through one path, at any
    blocking), `grid_closure` (exact for one-column blockings such as row sets), on super-blocks
    (`coarse_grid_closure`) for large grids; always capped by the count of l-sets with at most m
    predecessors in p (any m-closure holds only such sets), which is also the fallback.
    """
    lp, ll = sets.layers[p], sets.layers[l_]
    n_p, n_l = lp.count, ll.count
    pair = np.unique(v * n_p + u)
    v, u = pair // n_p, pair % n_p
    cnt = np.bincount(v, minlength=n_l)
    counts = np.cumsum(np.bincount(cnt, minlength=n_p + 1)[: n_p + 1])
    if not (cnt > 0).all():
        return counts
    pr, pc = u // lp.ncols, u % lp.ncols
    box = []
    for x in (pr, pc):
        lo = np.full(n_l, 1 << 40, np.int64)
        hi = np.full(n_l, -1, np.int64)
        np.minimum.at(lo, v, x)
        np.maximum.at(hi, v, x)
        box.append((lo, hi))
    (r0, r1), (c0, c1) = box
    if not np.array_equal((r1 - r0 + 1) * (c1 - c0 + 1), cnt):
        return counts
    grid = (ll.nrows, ll.ncols)
    r0, r1, c0, c1 = (x.reshape(grid) for x in (r0, r1, c0, c1))
    if not ((r0 == r0[:, :1]).all() and (r1 == r1[:, :1]).all() and (c0 == c0[:1]).all() and (c1 == c1[:1]).all()):
        return counts
    rows, cols = (r0[:, 0], r1[:, 0], lp.nrows), (c0[0], c1[0], lp.ncols)
    k = 1  # the grid in k x k super-blocks: the DP costs (R Q / k^2)^2, the interval closures (R / k)^3
    while (((lp.nrows // k) * (lp.ncols // k)) ** 2 > PIPELINE_MAX_GRID_CELLS
           or max(lp.nrows, lp.ncols) // k > PIPELINE_MAX_INTERVAL_SETS):
        k += 1
    if k == 1:
        return np.minimum(grid_closure(rows, cols), counts)
    return np.minimum(coarse_grid_closure(rows, cols, k), counts)


def _completions(avail: np.ndarray, copies: int, pmin: int) -> np.ndarray:
    """M[t] >= completions by t of a layer with `copies` copies and sets of at least `pmin` cycles, when at
    most avail[s] of its sets can have started by s: M(t) = min over q >= 0 of avail(t - (q+1) pmin) + q D.

    The sets started by t - (q+1) pmin are at most avail there; each copy starts at most q more sets in the
    q pmin cycles after that which still end by t. With t = k pmin + r: M = (k - 1) D + min(D, min over
    0 <= j < k of avail(j pmin + r) - j D) (j = -1: nothing startable before 0), a running minimum per
    residue r (the columns of a (k, pmin) matrix).
    """
    h = len(avail)
    rows = ceil_div(h, pmin)
    a = np.full(rows * pmin, avail[-1] if h else 0, np.int64)
    a[:h] = avail
    a = a.reshape(rows, pmin) - copies * np.arange(rows)[:, None]
    m = np.zeros((rows, pmin), np.int64)
    if rows > 1:
        m[1:] = np.minimum(np.minimum.accumulate(a[:-1], axis=0), copies) + copies * np.arange(rows - 1)[:, None]
    return m.ravel()[:h]


def _pipeline_pass(sets: SetGraph, src: np.ndarray, dst: np.ndarray, lag: np.ndarray, copies: np.ndarray,
                   head: np.ndarray, tail: np.ndarray, order: list[int], h: int,
                   closures: dict, done: dict[int, np.ndarray]) -> tuple[int, int]:
    """One direction of `pipeline_bound`: layers in `order` (producers first), edges src -> dst.

    Returns (bound, layer) and fills `done[l]` = M_l. `closures` caches `_pair_closure` per layer pair.
    """
    src_l, dst_l = sets.layer_of(src), sets.layer_of(dst)
    best, where = 0, -1
    for li in order:
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        avail = np.searchsorted(np.sort(head[a:b]), np.arange(h), side="right").astype(np.int64)
        into = np.flatnonzero(dst_l == li)
        for p in np.unique(src_l[into]).tolist():
            if p == li or p not in done:
                continue
            e = into[src_l[into] == p]
            key = (p, li)
            if key not in closures:
                closures[key] = _pair_closure(sets, p, li, src[e] - int(sets.offset[p]), dst[e] - a)
            g = closures[key]
            d = int(lag[e].min())
            shifted = np.concatenate([np.zeros(min(h, d), np.int64), done[p][: max(0, h - d)]])
            avail = np.minimum(avail, g[np.minimum(shifted, len(g) - 1)])
        m = _completions(avail, int(copies[li]), int(sets.duration[a:b].min()))
        done[li] = m
        reach = np.flatnonzero(m >= b - a)
        value = (int(reach[0]) if len(reach) else h - 1) + int(tail[a:b].min())
        if value > best:
            best, where = value, li
    return best, where


def _meet(fwd: np.ndarray, bwd: np.ndarray, n: int, pmax: int, h: int) -> int:
    """Least C with fwd(t) + bwd(C - t - 1 + pmax) >= n for every t in 0..C (bwd = n beyond the time axis).

    With makespan C, a set of the layer not finished by t starts at or after t + 1 - pmax, so it is finished by
    C - t - 1 + pmax in reversed time: the sets finished by t (at most fwd(t)) and those (at most bwd(...))
    make up all n. Feasibility only grows with C, so a binary search finds the least C (h - 1 if none).
    """
    def ok(c: int) -> bool:
        t = np.arange(c + 1)
        idx = c - t - 1 + pmax
        back = np.where(idx >= h, n, bwd[np.clip(idx, 0, h - 1)])
        f = fwd[np.minimum(t, h - 1)]
        return bool((f + back >= n).all())

    return least_true(0, h - 1, ok)  # h - 1 also when even it fails


def pipeline_bound(workload: Workload, sets: SetGraph, lag: np.ndarray, copies: tuple[int, ...] | np.ndarray, *,
                   horizon: int) -> PipelineBound:
    """How many sets each layer can have finished by every time t, propagated down the layers (and up).

    Forward, per layer l and time t (0..horizon), an upper bound M_l(t) on its sets finished by t in any
    schedule:
    - a set can have started by s only if head <= s (`heads_and_tails`, with copies) and all its
      predecessors in every producer layer p ended by s - (least lag p -> l); at most M_p(s - lag) p-sets have,
      and at most G_pl(M_p(...)) l-sets have all their p-predecessors among them (`_pair_closure`): so the sets
      startable by s are at most avail_l(s) = min(#{head <= s}, min_p G_pl(M_p(s - lag_pl)));
    - `_completions` turns that into finishes with D_l copies and the shortest set of l.
    Every M_l counts at least the sets any schedule finishes (by induction over the topological layer order),
    so all n_l sets of l end no earlier than T_l = min {t : M_l(t) >= n_l}, and the makespan is at least
    T_l + the least tail of l's sets. Backward: the same on the reversed schedule (time C - t, edges reversed,
    heads and tails swapped), which is a schedule of the reversed instance with the same makespan. Meet: both
    together per layer (`_meet`): what the producers let it finish early and what the consumers need it to
    start late must cover all its sets.
    The value is the largest bound over layers and directions. `horizon` (a valid schedule's makespan, so
    T_l <= horizon) limits the time axis; the value is capped at horizon + 1 if that ever fails (the caller
    treats a bound above a valid makespan as an internal error).
    """
    copies = np.asarray(copies, dtype=np.int64)
    nl = len(sets.layers)
    if sets.num_sets == 0 or 2 * (horizon + 2) * nl > PIPELINE_MAX_CELLS:
        return PipelineBound(0, "")
    h = horizon + 2
    head, tail = heads_and_tails(sets, lag, copies)
    done_f: dict[int, np.ndarray] = {}
    done_b: dict[int, np.ndarray] = {}
    fwd = _pipeline_pass(sets, sets.src, sets.dst, lag, copies, head, tail, list(range(nl)), h, {}, done_f)
    bwd = _pipeline_pass(sets, sets.dst, sets.src, lag, copies, tail, head, list(range(nl - 1, -1, -1)), h, {},
                         done_b)
    cands = [(fwd[0], fwd[1], "forward"), (bwd[0], bwd[1], "backward")]
    for li in range(nl):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        cands.append((_meet(done_f[li], done_b[li], b - a, int(sets.duration[a:b].max()), h), li, "meet"))
    value, li, direction = max(cands, key=lambda x: x[0])
    if li < 0:
        return PipelineBound(0, "")
    return PipelineBound(min(value, horizon + 1), workload.layers[li].name, direction)


# --------------------------------------------------------------------------------------------- links


@dataclass(frozen=True)
class LinkBound:
    """The link bounds under link contention (`link_bound`): the best one and where it comes from."""

    value: int  # max of `link` and `cut`
    link: int  # the busiest link's bound
    link_name: str  # e.g. "tile 3 -> tile 4 (east)"
    load: int  # cycles the busiest link must carry (the sum of its messages' `ser`)
    cut: int  # the best straight cut's bound
    cut_name: str

    @property
    def rule(self) -> str:
        return f"link, {self.link_name}" if self.link >= self.cut else f"cut, {self.cut_name}"


def _preemptive_one_machine(r: list[int], p: list[int], q: list[int]) -> int:
    """The optimum of one machine with heads r, processing times p and tails q when jobs may be preempted
    (Jackson's preemptive schedule: at every moment the available job with the largest tail runs): a lower
    bound on every non-preemptive schedule, max over job subsets S of min r(S) + p(S) + min q(S)."""
    import heapq

    order = sorted(range(len(r)), key=lambda j: r[j])
    heap: list[tuple[int, int]] = []  # (-tail, job)
    left = list(p)
    t, i, best = 0, 0, 0
    while i < len(order) or heap:
        if not heap:
            t = max(t, r[order[i]])
        while i < len(order) and r[order[i]] <= t:
            heapq.heappush(heap, (-q[order[i]], order[i]))
            i += 1
        negq, j = heap[0]
        nxt = r[order[i]] if i < len(order) else None
        run = left[j] if nxt is None else min(left[j], nxt - t)
        t += run
        left[j] -= run
        if left[j] == 0:
            heapq.heappop(heap)
            best = max(best, t - negq)
    return best


def link_bound(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray | None = None) -> LinkBound:
    """Lower bounds from the links, for every valid schedule under link contention whose sets sit on copies
    with the home tiles of `copy` (default: round robin, set i on copy i mod D, what every scheduler keeps
    under contention). Zero without contention.

    Proof. The home tiles fix the messages (one per source set and other destination tile that reads it) and
    XY routing fixes their links; a message holds each link of its route for `ser` cycles, one message at a
    time per link. Message m cannot be sent before its source set can end: head(src) + duration(src), heads
    from `heads_and_tails` (contention-free, so a lower bound under contention too). After its link interval it
    still flies `hops x hop_cycles`, then each of its consumers w waits the GPEU lag, runs and needs its tail:
    tail(m) = hops x hop_cycles + max over its edges (lag + duration(w) + tail(w)). So a link is one machine
    with heads, processing times `ser` and tails, and the makespan is at least its preemptive optimum
    (`_preemptive_one_machine`; in particular at least min head + the link's whole load + min tail). A
    straight cut of the mesh with k links one way is crossed that way by every message whose route crosses
    it (every route between its sides, whatever the routing): at least min head + ceil(load / k) + min tail
    of those messages; under XY routing the busiest link of the cut gives at least as much, so the cut bound
    is what holds for any routing."""
    from cimopt.list_scheduling import round_robin_copies
    from cimopt.messages import round_robin_messages
    from cimopt.routing import Mesh, cuts

    if not hw.noc_contention or len(sets.src) == 0:
        return LinkBound(0, 0, "", 0, 0, "")
    copy = round_robin_copies(sets, mapping) if copy is None else np.asarray(copy, np.int64)
    msg = round_robin_messages(sets, hw, mapping, copy)
    if not len(msg):
        return LinkBound(0, 0, "", 0, 0, "")
    head, tail = heads_and_tails(sets, min_transfer_lags(sets, hw, mapping), mapping.copies)
    r = head[msg.job] + sets.duration[msg.job]
    hops = np.diff(msg.ptr)
    e = np.flatnonzero(msg.of_edge >= 0)
    after = np.zeros(len(msg), np.int64)
    np.maximum.at(after, msg.of_edge[e], sets.lag[e] + sets.duration[sets.dst[e]] + tail[sets.dst[e]])
    q = hops * hw.noc_hop_cycles + after
    mesh = Mesh.of(hw, mapping.budget.tiles)
    owner = np.repeat(np.arange(len(msg)), hops)
    order = np.argsort(msg.links, kind="stable")
    lk, own = msg.links[order], owner[order]
    bounds = np.zeros(mesh.link_ids, np.int64)
    cut_at = np.flatnonzero(np.diff(lk)) + 1
    for a, b in zip(np.r_[0, cut_at].tolist(), np.r_[cut_at, len(lk)].tolist(), strict=True):
        m = own[a:b]
        bounds[lk[a]] = _preemptive_one_machine(r[m].tolist(), msg.ser[m].tolist(), q[m].tolist())
    top = int(np.argmax(bounds))
    load = int(np.bincount(lk, weights=msg.ser[own], minlength=mesh.link_ids)[top])
    cut_v, cut_n = 0, ""
    on_link = np.zeros(mesh.link_ids, bool)
    for name, links in cuts(mesh):
        on_link[:] = False
        on_link[links] = True
        m = np.unique(own[on_link[lk]])
        if len(m):
            v = int(r[m].min()) + ceil_div(int(msg.ser[m].sum()), len(links)) + int(q[m].min())
            if v > cut_v:
                cut_v, cut_n = v, name
    link_v = int(bounds[top])
    return LinkBound(max(link_v, cut_v), link_v, mesh.name(top), load, cut_v, cut_n)


def with_link_bound(lb: LowerBounds, link: LinkBound) -> LowerBounds:
    """`lb` with the link bound joined: `best` and `rule` from it when it is larger."""
    if link.value <= lb.best:
        return lb
    return replace(lb, best=link.value, rule=link.rule)
