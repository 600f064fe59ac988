"""Large-neighbourhood search (LNS): schedules better than CLSA-CIM where they exist, at any set count.

- `ready_order_schedule`: CLSA-CIM's ASAP list scheduling, except that inside a layer the sets are taken in
  order of the time they become ready (raster order on ties) and dealt round robin over the copies in that
  order, so no copy waits for a late set while a ready one queues behind it.
- `left_shift`: given the order of the sets on every copy, each set as early as its release, predecessors
  (GPEU lag + NoC transfer between the two copies) and copy allow. The result is valid, and no set starts
  later than in any valid schedule with the same copies and orders.
- `lns`: repeatedly frees the sets that start in a time window of the incumbent (a few hundred sets; every
  other move, the sets of one layer over a longer window), lets
  CP-SAT re-time and re-order them on their copies with everything else fixed (minimizing their ends,
  weighted by how much of the schedule still follows them), left-shifts the whole schedule in the new order
  and keeps it if its makespan is no worse. Every accepted schedule is valid by construction and checked
  (`cpsat.violations`); the result is never worse than the incumbent. Deterministic: seeded window choice,
  one CP-SAT worker, deterministic time limits.

The registry entry `schedule` starts from the better of CLSA-CIM and `ready_order_schedule` (or a valid
hint), runs `lns` for the time limit, and reports the lower bounds of `bounds.lower_bounds` for the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cimopt.analysis.bounds import heads_and_tails, link_bound, lower_bounds, with_link_bound
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule, retime_arrays, to_schedule
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.registry import Options, Result, SolveFacts
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags, min_transfer_lags
from cimopt.workload import Workload

WINDOW_SETS = 150  # sets freed per LNS move


def _chain(ready: np.ndarray, dur: np.ndarray, copy: np.ndarray, key: np.ndarray) -> np.ndarray:
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


def left_shift(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Semi-active starts for given copies and per-copy order (`key` ascending, then set number).

    Layers in their (topological) numbering: a set's ready time is its release and every predecessor's end
    plus the edge's lag for these copies; then `_chain` per copy.
    """
    lag = edge_lags(sets, hw, mapping, copy)
    start = np.zeros(sets.num_sets, np.int64)
    end = np.zeros(sets.num_sets, np.int64)
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    for li in range(len(sets.layers)):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        ready = sets.release[a:b].astype(np.int64).copy()
        e0, e1 = np.searchsorted(dst_sorted, [a, b])
        idx = order[e0:e1]
        np.maximum.at(ready, sets.dst[idx] - a, end[sets.src[idx]] + lag[idx])
        start[a:b] = _chain(ready, sets.duration[a:b], copy[a:b], key[a:b])
        end[a:b] = start[a:b] + sets.duration[a:b]
    return start


def ready_order_schedule(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                         model: str = "") -> Schedule:
    """List scheduling like CLSA-CIM, but each layer's sets in order of readiness, round robin over the copies.

    Readiness for the order uses the least transfer lag (the copies are not chosen yet); the starts then use
    the exact lags of the chosen copies, so the schedule is valid.
    """
    n = sets.num_sets
    base = min_transfer_lags(sets, hw, mapping)
    copy = np.zeros(n, np.int64)
    key = np.zeros(n, np.int64)
    start = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    for li, d in enumerate(mapping.copies):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        e0, e1 = np.searchsorted(dst_sorted, [a, b])
        idx = order[e0:e1]
        ready = sets.release[a:b].astype(np.int64).copy()
        np.maximum.at(ready, sets.dst[idx] - a, end[sets.src[idx]] + base[idx])
        rank = np.empty(b - a, np.int64)
        rank[np.lexsort((np.arange(b - a), ready))] = np.arange(b - a)
        copy[a:b], key[a:b] = rank % d, rank
        exact = ready.copy() if hw.noc_hop_cycles == 0 else None
        if exact is None:
            lag = edge_lags(sets, hw, mapping, copy)  # sets of later layers still sit on copy 0: not used here
            exact = sets.release[a:b].astype(np.int64).copy()
            np.maximum.at(exact, sets.dst[idx] - a, end[sets.src[idx]] + lag[idx])
        start[a:b] = _chain(exact, sets.duration[a:b], copy[a:b], key[a:b])
        end[a:b] = start[a:b] + sets.duration[a:b]
    return to_schedule(workload, hw, mapping, sets, copy, start, end, name="ready-order", model=model)


def global_arrays(sets: SetGraph, sch: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """(copy, start) per global set number of a schedule of these sets."""
    g = sets.offset[sch.layer] + sch.set
    copy = np.zeros(sets.num_sets, np.int64)
    start = np.zeros(sets.num_sets, np.int64)
    copy[g], start[g] = sch.copy, sch.start
    return copy, start


@dataclass(frozen=True)
class LnsResult:
    """What `lns` returns: the best (copy, start), its makespan and the search's counts."""

    copy: np.ndarray
    start: np.ndarray
    makespan: int
    initial: int
    moves: int
    improvements: int
    seconds: float


def _window_move(sets: SetGraph, lag: np.ndarray, copy: np.ndarray, start: np.ndarray, free: np.ndarray,
                 weight: np.ndarray, makespan: int, dtime: float, seed: int) -> np.ndarray | None:
    """CP-SAT on the sets `free` (global ids): new starts on the same copies, everything else fixed.

    Constraints: release; fixed predecessors' ends + lag; fixed successors' starts - lag; the incumbent's
    makespan; per copy no overlap with each other and with the fixed sets on that copy. The incumbent is a
    solution (hinted). Objective: sum of weight * end. Returns the starts of `free`, or None.
    """
    from ortools.sat.python import cp_model

    n = sets.num_sets
    dur = sets.duration
    pos = np.full(n, -1, np.int64)
    pos[free] = np.arange(len(free))
    lo = sets.release[free].astype(np.int64).copy()
    hi = makespan - dur[free]
    src_in, dst_in = pos[sets.src] >= 0, pos[sets.dst] >= 0
    e = np.flatnonzero(dst_in & ~src_in)  # fixed -> free
    np.maximum.at(lo, pos[sets.dst[e]], start[sets.src[e]] + dur[sets.src[e]] + lag[e])
    e = np.flatnonzero(src_in & ~dst_in)  # free -> fixed
    np.minimum.at(hi, pos[sets.src[e]], start[sets.dst[e]] - lag[e] - dur[sets.src[e]])
    if (lo > start[free]).any() or (hi < start[free]).any():
        return None  # cannot happen for a valid incumbent
    m = cp_model.CpModel()
    xs, ivs = [], []
    for k, s in enumerate(free.tolist()):
        x = m.NewIntVar(int(lo[k]), int(hi[k]), f"s{s}")
        xs.append(x)
        ivs.append(m.NewFixedSizeIntervalVar(x, int(dur[s]), f"i{s}"))
        m.AddHint(x, int(start[s]))
    e = np.flatnonzero(src_in & dst_in)
    for u, v, g in zip(pos[sets.src[e]].tolist(), pos[sets.dst[e]].tolist(), lag[e].tolist(), strict=True):
        m.Add(xs[v] >= xs[u] + int(dur[free[u]]) + g)
    layer = sets.layer_of(np.arange(n))
    t_lo, t_hi = int(lo.min()), int((hi + dur[free]).max())
    key = layer * (int(copy.max()) + 1) + copy
    fixed = np.flatnonzero((pos < 0) & (start < t_hi) & (start + dur > t_lo))
    for kk in np.unique(key[free]).tolist():
        mine = [ivs[int(i)] for i in pos[free[key[free] == kk]]]
        others = fixed[key[fixed] == kk]
        mine += [m.NewFixedSizeIntervalVar(int(start[s]), int(dur[s]), f"f{s}") for s in others.tolist()]
        if len(mine) > 1:
            m.AddNoOverlap(mine)
    m.Minimize(sum(int(w) * (x + int(dur[s])) for w, x, s in zip(weight[free].tolist(), xs, free.tolist(),
                                                                 strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = float(dtime)
    solver.parameters.max_time_in_seconds = 10 * float(dtime) + 5  # wall-clock safety net on a loaded machine
    solver.parameters.catch_sigint_signal = False
    # No symmetry detection. Free sets of one copy with equal bounds, duration and weight are interchangeable;
    # with unit durations presolve turns their NoOverlap into an all-different, finds an orbitope and, moving the
    # hint along it, OR-Tools 9.15 throws `IndexError: absl::btree_map::at` in its hint tracking (SolutionCrush;
    # google/or-tools#5288). Neither happens without the hint or at symmetry_level 0 (test_lns_symmetric_window_hint).
    solver.parameters.symmetry_level = 0
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.asarray([solver.Value(x) for x in xs], np.int64)


def lns(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, copy: np.ndarray, start: np.ndarray, *,
        time_limit: float = 10.0, seed: int = 0, window_sets: int = WINDOW_SETS, move_dtime: float = 0.5,
        max_moves: int = 1000) -> LnsResult:
    """Improve a valid schedule (global `copy`, `start`) by CP-SAT moves on windows (module docstring):
    even moves free `window_sets` consecutive sets in start order, odd moves as many of one random layer.

    `time_limit` is the total of the moves' deterministic CP-SAT seconds (each at most `move_dtime`), so the
    search repeats exactly for a seed. Raises ValueError if the incumbent is not valid. Under link contention
    the moves and left shifts are the contention-free relaxation's, and a candidate is scored (and the result
    given) by its re-timing with the messages on the links (`messages.retime`, same copies and order): the
    makespan compared is the re-timed one, and `start` stays the relaxation's (valid without contention).
    """
    from cimopt.schedulers.cpsat import violations

    t0 = time.perf_counter()
    copy, start = np.asarray(copy, np.int64).copy(), np.asarray(start, np.int64).copy()
    if violations(sets, hw, mapping, copy, start):
        raise ValueError("lns: the incumbent schedule is not valid")
    dur = sets.duration

    def makespan(st: np.ndarray) -> int:
        if hw.noc_contention:
            return retime_arrays(workload, hw, mapping, sets, copy, st, name="lns").makespan
        return int((st + dur).max()) if sets.num_sets else 0

    best = makespan(start)
    initial = best
    lag = edge_lags(sets, hw, mapping, copy)
    _, tail = heads_and_tails(sets, min_transfer_lags(sets, hw, mapping), mapping.copies)
    weight = 1 + (9 * tail) // max(1, best)
    rng = np.random.default_rng(seed)
    k = min(window_sets, sets.num_sets)
    spent, moves, improvements = 0.0, 0, 0
    layer = sets.layer_of(np.arange(sets.num_sets))
    while spent < time_limit and moves < max_moves and k > 0:
        if moves % 2 == 0:  # a time window over all layers
            pool = np.lexsort((np.arange(sets.num_sets), start))
        else:  # a layer's sets over a longer time: reorders one layer's copies against fixed neighbours
            li = int(rng.integers(0, len(sets.layers)))
            pool = np.flatnonzero(layer == li)
            pool = pool[np.lexsort((pool, start[pool]))]
        kk = min(k, len(pool))
        first = int(rng.integers(0, len(pool) - kk + 1))
        free = np.sort(pool[first:first + kk])
        dtime = min(move_dtime, time_limit - spent)
        spent += dtime
        moves += 1
        new = _window_move(sets, lag, copy, start, free, weight, best, dtime, seed + moves)
        if new is None:
            continue
        key = start.copy()
        key[free] = new
        cand = left_shift(sets, hw, mapping, copy, key)
        ms = makespan(cand)
        if ms <= best and violations(sets, hw, mapping, copy, cand) == 0:
            improvements += ms < best
            best, start = ms, cand
    return LnsResult(copy, start, best, initial, moves, improvements, time.perf_counter() - t0)


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry: LNS from the best of CLSA-CIM, `ready_order_schedule` and a valid hint; its bounds."""
    from cimopt.schedulers.cpsat import violations

    p = problem
    if getattr(p, "is_stream", False):
        raise InputError("the lns scheduler schedules one inference; use clsa or cpsat for a stream")
    args = (p.workload, p.hardware, p.mapping, p.sets)
    contention = p.hardware.noc_contention
    t0 = time.perf_counter()
    # under link contention every set stays on its round-robin copy's home tile (the link bound's premise):
    # the ready-order start, which deals the copies otherwise, is left out
    starts = [list_schedule(*args, barrier=False, name="clsa")] + ([] if contention else [ready_order_schedule(*args)])
    h = options.hint
    if h is not None and len(h) == p.sets.num_sets and h.granularity == p.sets.granularity.spec \
            and h.mapping.copies == p.mapping.copies:
        c, s = global_arrays(p.sets, h)
        if violations(p.sets, p.hardware, p.mapping, c, s) == 0 and (
                not contention or np.array_equal(c, global_arrays(p.sets, starts[0])[0])):
            starts.append(h if not contention else retime_arrays(*args, c, s, name=h.scheduler))
    inc = min(starts, key=lambda x: x.makespan)
    copy, start = global_arrays(p.sets, inc)
    res = lns(*args, copy, start, time_limit=options.time_limit, seed=options.seed)
    lb = lower_bounds(*args, target=res.makespan)
    if contention:
        lb = with_link_bound(lb, link_bound(p.sets, p.hardware, p.mapping, copy))
    gap = (res.makespan - lb.best) / res.makespan if res.makespan else 0.0
    status = "OPTIMAL" if lb.best == res.makespan else "FEASIBLE"
    info = {"status": status, "bound": lb.best, "bound_rule": lb.rule, "gap": gap, "start": inc.scheduler,
            "initial_makespan": res.initial, "moves": res.moves, "improvements": res.improvements,
            "time_limit": float(options.time_limit), "seed": int(options.seed)}
    if contention:
        sch = retime_arrays(*args, res.copy, res.start, name="lns", model=p.model, info=info)
    else:
        sch = to_schedule(*args, res.copy, res.start, res.start + p.sets.duration, name="lns", model=p.model,
                          info=info)
    facts = SolveFacts(status, res.makespan, lb.best, gap, time.perf_counter() - t0, bound_rule=lb.rule)
    return Result(sch, status, facts)
