"""The closure bound (small instances, asked for explicitly): how little of a layer can be finished while an
upstream layer is still running, a max-closure problem per time point solved with CP-SAT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cimopt.analysis.bounds.heads import heads_and_tails
from cimopt.arith import ceil_div
from cimopt.sets import SetGraph
from cimopt.workload import Workload

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
