"""Large-neighbourhood search (LNS): schedules better than CLSA-CIM where they exist, at any set count.

- `lns`: repeatedly frees the sets that start in a time window of the incumbent (a few hundred sets; every
  other move, the sets of one layer over a longer window), lets
  CP-SAT re-time and re-order them on their copies with everything else fixed (minimizing their ends,
  weighted by how much of the schedule still follows them), left-shifts the whole schedule in the new order
  and keeps it if its makespan is no worse. Every accepted schedule is valid by construction and checked
  (`cpsat.violations`); the result is never worse than the incumbent. Deterministic: seeded window choice,
  one CP-SAT worker, deterministic time limits.

Moves are re-timed by `list_orders.left_shift` (each set as early as its release, predecessors and copy allow,
in the given per-copy order). The registry entry `schedule` starts from the better of CLSA-CIM and
`list_orders.ready_order_schedule` (or a valid hint), runs `lns` for the time limit, and reports the lower bounds of `bounds.lower_bounds` for the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cimopt.analysis.bounds import heads_and_tails, link_bound, lower_bounds, with_link_bound
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_orders import global_arrays, left_shift, ready_order_schedule
from cimopt.list_scheduling import list_schedule, retime_arrays, to_schedule
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedulers.registry import Options, Result, SolveFacts
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags, min_transfer_lags
from cimopt.workload import Workload

WINDOW_SETS = 150  # sets freed per LNS move


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
