"""CP-SAT: the optimal reference scheduler (docs/model.md, "Schedulers"), with OR-Tools' `cp_model`.

The formulation, one function per constraint family:
- `add_intervals`: one fixed-length interval per set (its duration), its start between the set's head and
  `horizon - duration - tail` (heads and tails from `bounds.heads_and_tails`, sound for every schedule that
  ends by the horizon; the horizon is the makespan of a known valid schedule).
- `add_tile_choice`: when the NoC costs cycles, a layer's copies are grouped by home tile and each set picks
  one group (a Boolean per group); copies on the same home tile are interchangeable. Without NoC cost (or
  with all copies of a layer on one home tile) there is one group and no choice.
- `add_copy_capacity`: per layer and tile group, the sets on it overlap at most `copies in the group` times
  (a cumulative; a no-overlap for one copy); in joint mode the capacity is the variable `D_l`.
- `add_pe_budget`: joint mode, `sum(D_l * crossbars_l) <= PEs`.
- `add_precedences`: `start[dst] >= end[src] + lag + transfer` per dependency edge; the transfer is the
  least one between the two layers' home tiles, and, where the choice of tiles matters, a conditional
  constraint per destination tile group gives the exact transfer from the source's tile literals.
- `add_makespan`: the makespan is at least the end of every set without successors; it is minimized.

Copies inside a tile group are assigned after solving by interval-graph colouring (sort by start, take the
lowest free copy), always possible since at most that many sets overlap. The schedule obeys exactly the
rules of `list_scheduling` and the simulator: durations, releases, GPEU lags, NoC transfer between home
tiles. Finite tile buffers (`hw.buffer_elements`): `add_buffer_reservoirs`, one reservoir per tile (the home tile
is then a decision too, through the tile groups); the incumbent must fit the buffers (the buffer-aware
heuristic `clsa-bp` provides one); joint duplication with finite buffers is refused.

Around the model: the incumbent (best of layer-by-layer, CLSA and a valid `hint`) gives the horizon, the
warm start and the fallback; the lower bounds of `bounds.py` (with the closure bound on small instances)
give the makespan's floor, and when they meet the incumbent CP-SAT is not run at all.

Determinism: `interleave_search` makes the parallel search a function of (model, seed, workers). A solve that
ends by proof (OPTIMAL) is reproducible; one stopped by the wall-clock time limit stops wherever the clock
says. The interleaved search is slower per second than CP-SAT's default portfolio on large models, the price
of reproducibility. Joint duplication needs `noc.hop_cycles = 0` (copy placement moves with the counts).
"""

from __future__ import annotations

import contextlib
import heapq
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from ortools.sat.python import cp_model

from cimopt.analysis.bounds import (
    best_rule,
    closure_bound,
    closure_rule,
    heads_and_tails,
    lower_bounds,
    lower_bounds_joint,
    max_copies,
)
from cimopt.analysis.buffers import fits, set_elements
from cimopt.duplication import copies_greedy
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule, to_schedule
from cimopt.mapping import Budget, Mapping, crossbars_per_layer, make_mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.registry import Options, Progress, Result, SolveFacts
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags, min_transfer_lags, transfer_cycles
from cimopt.workload import Workload

MAX_CPSAT_SETS = 20_000  # larger models are not given to CP-SAT (about 0.7 GB per 1000 sets when interleaved)


@dataclass(frozen=True)
class SolveResult:
    """What CP-SAT found: status, best schedule, its makespan, the proven bound and the model's size."""

    status: str  # "OPTIMAL", "FEASIBLE" (searched, not proven) or "SKIPPED" (not searched, not proven)
    schedule: Schedule | None
    objective: int | None
    bound: int
    gap: float | None
    solve_seconds: float
    num_intervals: int
    num_precedences: int
    num_variables: int
    num_constraints: int


@dataclass(frozen=True, eq=False)
class TileGroups:
    """Per layer, its copies grouped by home tile: `tiles[l][g]` and `members[l][g]` (copy indices)."""

    tiles: tuple[tuple[int, ...], ...]
    members: tuple[tuple[tuple[int, ...], ...], ...]

    @staticmethod
    def of(mapping: Mapping, hw: Hardware) -> TileGroups:
        """One group per home tile when the NoC costs cycles or buffers are finite, else one group with all
        copies."""
        tiles, members = [], []
        for li, d in enumerate(mapping.copies):
            homes = mapping.home_tiles(li)
            if not hw.noc_costs and hw.buffer_elements is None:  # a finite buffer needs the home tile too
                tiles.append((homes[0],))
                members.append((tuple(range(d)),))
                continue
            uniq = tuple(sorted(set(homes)))
            tiles.append(uniq)
            members.append(tuple(tuple(c for c in range(d) if homes[c] == t) for t in uniq))
        return TileGroups(tuple(tiles), tuple(members))


@dataclass(frozen=True, eq=False)
class CpVars:
    """The decision variables of one model (lists are filled while the model is built)."""

    model: cp_model.CpModel
    start: list[cp_model.IntVar]
    interval: list[cp_model.IntervalVar]
    tile_lits: dict[int, list[cp_model.IntVar]]  # set -> one literal per tile group of its layer
    copies: list[cp_model.IntVar | int]  # capacity per layer (joint: variables)
    max_copies: tuple[int, ...]  # upper bound of each capacity
    makespan: cp_model.IntVar
    counts: dict[str, int]
    aux_max: list = field(default_factory=list)  # (variable, sets): the variable is the latest start of the sets


# ---------------------------------------------------------------------------------------------------- model


def add_intervals(v: CpVars, sets: SetGraph, head: np.ndarray, tail: np.ndarray, horizon: int) -> None:
    """One fixed-length interval per set; start in [head, horizon - duration - tail]."""
    dur = sets.duration.tolist()
    lo = head.tolist()
    hi = (horizon - sets.duration - tail).tolist()
    for s in range(sets.num_sets):
        st = v.model.NewIntVar(lo[s], hi[s], f"start{s}")
        v.start.append(st)
        v.interval.append(v.model.NewFixedSizeIntervalVar(st, dur[s], f"set{s}"))
    v.counts["intervals"] += sets.num_sets


def add_tile_choice(v: CpVars, sets: SetGraph, groups: TileGroups) -> None:
    """A Boolean per (set, tile group) for layers whose copies sit on several home tiles; exactly one holds."""
    for li, g in enumerate(groups.tiles):
        if len(g) < 2:
            continue
        for s in range(int(sets.offset[li]), int(sets.offset[li + 1])):
            lits = [v.model.NewBoolVar(f"tile{s}_{k}") for k in range(len(g))]
            v.model.AddExactlyOne(lits)
            v.tile_lits[s] = lits


def add_copy_capacity(v: CpVars, sets: SetGraph, groups: TileGroups) -> None:
    """Per layer and tile group: at most that many of its sets at once (the layer's copies as a resource)."""
    dur = sets.duration.tolist()
    for li, members in enumerate(groups.members):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        cap = v.copies[li]
        if len(members) == 1:
            _capacity(v, v.interval[a:b], cap, b - a)
            continue
        for k, m in enumerate(members):
            opt = [v.model.NewOptionalFixedSizeIntervalVar(v.start[s], dur[s], v.tile_lits[s][k], f"set{s}_tile{k}")
                   for s in range(a, b)]
            v.counts["intervals"] += len(opt)
            _capacity(v, opt, len(m), b - a)
        _capacity(v, v.interval[a:b], cap, b - a)  # redundant: the whole layer, all copies


def _capacity(v: CpVars, intervals: list, cap: cp_model.IntVar | int, n: int) -> None:
    if isinstance(cap, int) and cap >= n:
        return
    if isinstance(cap, int) and cap == 1:
        v.model.AddNoOverlap(intervals)
    else:
        v.model.AddCumulative(intervals, [1] * len(intervals), cap)


def add_pe_budget(v: CpVars, crossbars: tuple[int, ...], budget: Budget) -> None:
    """Joint mode: the copies of all layers fit in the PEs."""
    v.model.Add(sum(x * d for x, d in zip(crossbars, v.copies, strict=True)) <= budget.pes)


def add_precedences(v: CpVars, sets: SetGraph, hw: Hardware, mapping: Mapping | None, groups: TileGroups) -> None:
    """`start[dst] >= end[src] + lag + transfer` for every dependency edge (see module docstring)."""
    dur = sets.duration
    base = min_transfer_lags(sets, hw, mapping)
    for u, w, lag in zip(sets.src.tolist(), sets.dst.tolist(), base.tolist(), strict=True):
        v.model.Add(v.start[w] >= v.start[u] + int(dur[u]) + lag)
    v.counts["precedences"] += len(sets.src)
    if mapping is None or not hw.noc_costs:
        return
    lu_all, lw_all = sets.layer_of(sets.src), sets.layer_of(sets.dst)
    elements = sets.elements[sets.src].tolist()
    # the transfer depends on the tiles and on the source set's size: one table per (layer pair, set size)
    tables: dict[tuple[int, int, int], np.ndarray] = {}
    for e, (u, w) in enumerate(zip(sets.src.tolist(), sets.dst.tolist(), strict=True)):
        lu, lw, el = int(lu_all[e]), int(lw_all[e]), elements[e]
        if (lu, lw, el) not in tables:
            tu = np.asarray(groups.tiles[lu], np.int64)
            tw = np.asarray(groups.tiles[lw], np.int64)
            tables[lu, lw, el] = transfer_cycles(hw, mapping, tu[:, None], tw[None, :], el)
        t = tables[lu, lw, el]
        tmin = int(t.min())
        if int(t.max()) == tmin:
            continue
        lag = int(sets.lag[e])
        for k in range(t.shape[1]):
            col = t[:, k].tolist()
            if max(col) == tmin:
                continue
            extra = col[0] if len(col) == 1 else sum(c * lit for c, lit in zip(col, v.tile_lits[u], strict=True))
            ct = v.model.Add(v.start[w] >= v.start[u] + int(dur[u]) + lag + extra)
            if t.shape[1] > 1:
                ct.OnlyEnforceIf(v.tile_lits[w][k])
            v.counts["precedences"] += 1


def add_makespan(v: CpVars, sets: SetGraph) -> None:
    """The makespan is at least the end of every set that has no successor; minimize it."""
    has_succ = np.zeros(sets.num_sets, dtype=bool)
    has_succ[sets.src] = True
    dur = sets.duration.tolist()
    for s in np.flatnonzero(~has_succ).tolist():
        v.model.Add(v.makespan >= v.start[s] + dur[s])
    v.model.Minimize(v.makespan)


def add_hint(v: CpVars, start: np.ndarray, duration: np.ndarray, group: np.ndarray | None,
             copies: tuple[int, ...] | None) -> None:
    """Warm start: starts, tile groups and (joint mode) copy counts of a known schedule."""
    for s, st in enumerate(start.tolist()):
        v.model.AddHint(v.start[s], st)
    if group is not None:
        for s, lits in v.tile_lits.items():
            for k, lit in enumerate(lits):
                v.model.AddHint(lit, int(group[s]) == k)
    if copies is not None:
        for d, c, cap in zip(v.copies, copies, v.max_copies, strict=True):
            if not isinstance(d, int):
                v.model.AddHint(d, max(1, min(c, cap)))
    for var, members in v.aux_max:
        v.model.AddHint(var, int(start[members].max()))
    v.model.AddHint(v.makespan, int((start + duration).max()) if len(start) else 0)


def build_model(sets: SetGraph, hw: Hardware, mapping: Mapping | None, groups: TileGroups, caps: tuple[int, ...],
                joint_crossbars: tuple[int, ...] | None, budget: Budget, head: np.ndarray, tail: np.ndarray,
                horizon: int, floor: int, buffer_elements: np.ndarray | None = None) -> CpVars:
    """The whole formulation; `joint_crossbars` (joint mode) makes the copies per layer variables in 1..caps;
    `buffer_elements` (per set, see `buffers.set_elements`) adds the tile buffers of `hw.buffer_elements`."""
    cm = cp_model.CpModel()
    copies: list = list(caps)
    if joint_crossbars is not None:
        copies = [cm.NewIntVar(1, c, f"copies{li}") if c > 1 else 1 for li, c in enumerate(caps)]
    v = CpVars(cm, [], [], {}, copies, tuple(caps), cm.NewIntVar(floor, horizon, "makespan"),
               {"intervals": 0, "precedences": 0})
    add_intervals(v, sets, head, tail, horizon)
    add_tile_choice(v, sets, groups)
    add_copy_capacity(v, sets, groups)
    if joint_crossbars is not None:
        add_pe_budget(v, joint_crossbars, budget)
    add_precedences(v, sets, hw, mapping, groups)
    if buffer_elements is not None:
        add_buffer_reservoirs(v, sets, groups, buffer_elements, hw.buffer_elements, horizon)
    add_makespan(v, sets)
    return v


def add_buffer_reservoirs(v: CpVars, sets: SetGraph, groups: TileGroups, elements: np.ndarray, capacity: int,
                          horizon: int) -> None:
    """Finite tile buffers (docs/model.md, "Buffers"): per tile a reservoir with `+elements` at each producer
    set's end and `-elements` at the latest start of its readers (an auxiliary max variable), its level in
    [0, capacity]. A set whose layer's copies sit on several home tiles has one optional pair of events per
    tile group, active with that group's tile literal."""
    order = np.argsort(sets.src, kind="stable")
    ptr = np.zeros(sets.num_sets + 1, dtype=np.int64)
    np.cumsum(np.bincount(sets.src, minlength=sets.num_sets), out=ptr[1:])
    readers = sets.dst[order]
    layer = sets.layer_of(np.arange(sets.num_sets))
    dur = sets.duration.tolist()
    events: dict[int, tuple[list, list, list]] = {}
    for p in np.flatnonzero(elements > 0).tolist():
        cs = readers[ptr[p]:ptr[p + 1]].tolist()
        if len(cs) == 1:
            last = v.start[cs[0]]
        else:
            last = v.model.NewIntVar(0, horizon, f"lastread{p}")
            v.model.AddMaxEquality(last, [v.start[c] for c in cs])
            v.aux_max.append((last, cs))
        e = int(elements[p])
        tiles = groups.tiles[int(layer[p])]
        for k, t in enumerate(tiles):
            times, changes, actives = events.setdefault(t, ([], [], []))
            lit = True if len(tiles) == 1 else v.tile_lits[p][k]
            times += [v.start[p] + dur[p], last]
            changes += [e, -e]
            actives += [lit, lit]
    for times, changes, actives in events.values():
        if all(a is True for a in actives):
            v.model.AddReservoirConstraint(times, changes, 0, capacity)
        else:
            v.model.AddReservoirConstraintWithActive(times, changes, actives, 0, capacity)
    v.counts["reservoirs"] = len(events)


# ------------------------------------------------------------------------------------------- schedules


def violations(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray, start: np.ndarray) -> int:
    """How many rules of the model a (copy, start) assignment breaks (0 = valid): release, precedence with
    lags and NoC transfer, copy index in range, one set at a time per copy."""
    end = start + sets.duration
    layer = sets.layer_of(np.arange(sets.num_sets))
    bad = int((start < sets.release).sum())
    if ((copy < 0) | (copy >= np.asarray(mapping.copies)[layer])).any():
        return bad + int(((copy < 0) | (copy >= np.asarray(mapping.copies)[layer])).sum())
    bad += int((start[sets.dst] < end[sets.src] + edge_lags(sets, hw, mapping, copy)).sum())
    order = np.lexsort((start, copy, layer))
    same = (layer[order][1:] == layer[order][:-1]) & (copy[order][1:] == copy[order][:-1])
    bad += int((same & (start[order][1:] < end[order][:-1])).sum())
    return bad


def colour_copies(sets: SetGraph, groups: TileGroups, group: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Copies for sets whose tile group and start are fixed: per group, by start, the lowest free copy."""
    copy = np.zeros(sets.num_sets, dtype=np.int64)
    end = start + sets.duration
    for li, members in enumerate(groups.members):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        for k, m in enumerate(members):
            idx = np.flatnonzero(group[a:b] == k) + a
            idx = idx[np.lexsort((idx, start[idx]))]
            free = list(m)
            heapq.heapify(free)
            busy: list[tuple[int, int]] = []
            for s in idx.tolist():
                while busy and busy[0][0] <= start[s]:
                    heapq.heappush(free, heapq.heappop(busy)[1])
                if not free:
                    raise RuntimeError(f"internal: more than {len(m)} sets of layer {li} overlap on tile group {k}")
                c = heapq.heappop(free)
                copy[s] = c
                heapq.heappush(busy, (int(end[s]), c))
    return copy


def peak_overlap(sets: SetGraph, start: np.ndarray) -> tuple[int, ...]:
    """Most sets of each layer running at the same time (at least 1)."""
    end = start + sets.duration
    peaks = []
    for li in range(len(sets.layers)):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        t = np.concatenate([start[a:b], end[a:b]])
        delta = np.concatenate([np.ones(b - a, np.int64), -np.ones(b - a, np.int64)])
        order = np.lexsort((delta, t))  # ends (-1) before starts (+1) at equal times
        peaks.append(max(1, int(np.cumsum(delta[order]).max())) if b > a else 1)
    return tuple(peaks)


def _tile_groups_of(sets: SetGraph, inc: Incumbent, groups: TileGroups) -> np.ndarray:
    """The tile group of every set in a known schedule (fixed mapping: group = index of its home tile)."""
    out = np.zeros(sets.num_sets, np.int64)
    for li, tiles in enumerate(groups.tiles):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        home = np.asarray(inc.mapping.home_tiles(li), np.int64)[inc.copy[a:b]]
        out[a:b] = np.searchsorted(np.asarray(tiles, np.int64), home)
    return out


def _hint_arrays(hint: Schedule, sets: SetGraph) -> tuple[np.ndarray, np.ndarray] | None:
    """The hint's (copy, start) per global set, or None if it is not a schedule of these sets."""
    if len(hint) != sets.num_sets or hint.granularity != sets.granularity.spec:
        return None
    if len(hint.mapping.copies) != len(sets.layers):
        return None
    layer, local = hint.layer.astype(np.int64), hint.set.astype(np.int64)
    if (layer < 0).any() or (layer >= len(sets.layers)).any():
        return None
    counts = np.diff(sets.offset)
    if (local < 0).any() or (local >= counts[layer]).any():
        return None
    g = sets.offset[layer] + local
    if len(np.unique(g)) != sets.num_sets:
        return None
    copy = np.zeros(sets.num_sets, np.int64)
    start = np.zeros(sets.num_sets, np.int64)
    copy[g], start[g] = hint.copy, hint.start
    if not np.array_equal(hint.end - hint.start, sets.duration[g]):
        return None
    return copy, start


# ---------------------------------------------------------------------------------------------- solve


def _status_name(code: int) -> str:
    return {cp_model.OPTIMAL: "OPTIMAL", cp_model.FEASIBLE: "FEASIBLE", cp_model.INFEASIBLE: "INFEASIBLE"}.get(
        code, "UNKNOWN")


class _Recorder(cp_model.CpSolverSolutionCallback):
    """Keeps the best solution found so far and reports (best, bound, seconds) as they improve."""

    def __init__(self, v: CpVars, progress: Progress | None, floor: int, ceiling: int) -> None:
        super().__init__()
        self._v = v
        self._progress = progress
        self._floor = floor
        self.best = ceiling
        self.bound = floor
        self.start: np.ndarray | None = None
        self.tiles: dict[int, int] = {}
        self._t0 = time.perf_counter()

    def on_solution_callback(self) -> None:
        v = self._v
        self.start = np.fromiter((self.Value(s) for s in v.start), dtype=np.int64, count=len(v.start))
        self.tiles = {s: next(k for k, lit in enumerate(lits) if self.BooleanValue(lit))
                      for s, lits in v.tile_lits.items()}
        self.best = int(self.ObjectiveValue())
        self.on_bound(self.BestObjectiveBound(), force=True)

    def on_bound(self, bound: float, force: bool = False) -> None:
        b = max(self._floor, int(np.ceil(bound - 1e-9)))
        if b > self.bound or force:
            self.bound = max(self.bound, b)
            if self._progress is not None:
                self._progress(self.best, self.bound, time.perf_counter() - self._t0)


@dataclass(frozen=True, eq=False)
class Incumbent:
    """A valid schedule of the model (per global set: copy and start) and the mapping it runs on."""

    mapping: Mapping
    copy: np.ndarray
    start: np.ndarray
    source: str
    makespan: int


def incumbent(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, joint: bool,
              budget: Budget) -> Incumbent:
    """The best of a few list schedules valid for the model: layer-by-layer and CLSA on the mapping, or in
    joint mode CLSA with one copy each, with greedy duplication and with `mapping` (if it fits the budget)."""
    if joint:
        maps = [make_mapping(workload, hw, budget), make_mapping(workload, hw, budget,
                                                                 copies_greedy(workload, hw, budget), "greedy")]
        if mapping.pes_used <= budget.pes and mapping.crossbars == maps[0].crossbars:
            maps.append(mapping)
        runs = [(m, False) for m in maps]
    else:
        runs = [(mapping, False), (mapping, True)]
    best = None
    for m, barrier in runs:
        sch = list_schedule(workload, hw, m, sets, barrier=barrier, name="lbl" if barrier else "clsa")
        if not fits(workload, sets, m, sch.copy, sch.start, hw.buffer_elements):
            continue
        if best is None or sch.makespan < best.makespan:
            best = Incumbent(m, sch.copy, sch.start, sch.scheduler, sch.makespan)
    if hw.buffer_elements is not None:
        best = buffer_incumbent(workload, hw, mapping, sets, best)
    return best


def buffer_incumbent(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                     best: Incumbent | None) -> Incumbent:
    """With finite buffers: the better of `best` (a list schedule within the buffers, or None) and the
    buffer-aware heuristic; the heuristic's error (an InputError) when neither exists."""
    from cimopt.schedulers.backpressure import schedule_backpressure

    try:
        sch = schedule_backpressure(workload, hw, mapping, sets)
    except InputError as exc:
        if best is None:
            raise InputError(f"CP-SAT needs a schedule within the buffers to start from: {exc}") from None
        return best
    if best is None or sch.makespan < best.makespan:
        return Incumbent(mapping, sch.copy, sch.start, sch.scheduler, sch.makespan)
    return best


def _valid_hint(hint: Schedule, workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, joint: bool,
                budget: Budget) -> Incumbent | None:
    """The hint as an Incumbent if it is a valid schedule of this model (its own mapping in joint mode)."""
    arrs = _hint_arrays(hint, sets)
    if arrs is None:
        return None
    copy, start = arrs
    m = hint.mapping if joint else mapping
    if joint and (m.crossbars != crossbars_per_layer(workload, hw) or m.pes_used > budget.pes):
        return None
    if violations(sets, hw, m, copy, start) != 0 or not fits(workload, sets, m, copy, start, hw.buffer_elements):
        return None
    return Incumbent(m, copy, start, "hint", int((start + sets.duration).max()) if sets.num_sets else 0)


@contextlib.contextmanager
def _catch_ctrl_c():
    """While active (main thread only), Ctrl-C sets `flag["hit"]` instead of raising; CP-SAT's own handler
    takes over during the main solve (it stops the search and returns the best solution so far)."""
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag["hit"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def closure_solves(time_limit: float) -> int:
    """CP-SAT calls the closure bound may make before the main solve (each at most a quarter of the time
    limit, and 2, in deterministic seconds): one per 4 s of the time limit, 1 to 8."""
    return min(8, max(1, int(time_limit // 4)))


WALL_SAFETY_FACTOR = 60  # wall seconds per deterministic second before the safety net stops a search
WALL_SAFETY_MIN = 300.0


def safety_net_seconds(deterministic_limit: float) -> float:
    """The wall-clock limit behind a deterministic one: 60 wall seconds per deterministic second (+300 s). An
    idle two-core machine needs 1.5-3, a heavily loaded one up to 20 (measured: 20 deterministic seconds of
    `compare resnet18 --dup greedy --extra-pes 64` in 398 wall seconds), so the deterministic limit is what
    stops a search; Ctrl-C stops it any time with the best schedule so far."""
    return WALL_SAFETY_FACTOR * deterministic_limit + WALL_SAFETY_MIN


def not_run_reason(num_sets: int, deterministic: bool, bounds_meet: bool, available: int | None = None) -> str:
    """Why CP-SAT will not be run on a model of `num_sets` sets ('' if it will): the bounds already prove the
    incumbent optimal, too many sets, or more memory than is available (interleaved search only)."""
    from cimopt.memory import CPSAT_BYTES_PER_SET, available_memory, gb

    if bounds_meet:
        return "the lower bound already equals the best known schedule's makespan: optimal without a search"
    if num_sets > MAX_CPSAT_SETS:
        return (f"not run: {num_sets:,} sets > {MAX_CPSAT_SETS:,}, too large for CP-SAT; try a coarser set "
                "granularity")
    need = num_sets * CPSAT_BYTES_PER_SET
    avail = available_memory() if available is None else available
    if deterministic and avail is not None and need > avail:
        return (f"not run: {num_sets:,} sets need about {gb(need)} for CP-SAT's interleaved search, {gb(avail)} "
                "is available; try a coarser set granularity or --nondeterministic")
    return ""


def _solve_interruptibly(solver: cp_model.CpSolver, model: cp_model.CpModel, callback: _Recorder,
                         interrupted: Callable[[], bool]) -> tuple[int, bool]:
    """Solve in a helper thread while this one watches for Ctrl-C (`interrupted()`, or a KeyboardInterrupt)
    and then stops the search: CP-SAT's own SIGINT handler would stop it too, but silently. Returns the status
    code and whether the search was interrupted."""
    solver.parameters.catch_sigint_signal = False
    out: dict[str, object] = {}

    def target() -> None:
        try:
            out["status"] = solver.Solve(model, callback)
        except BaseException as exc:  # re-raised in the calling thread
            out["error"] = exc

    worker = threading.Thread(target=target, name="cpsat-solve", daemon=True)
    worker.start()
    hit = False
    while worker.is_alive():
        try:
            worker.join(0.05)
        except KeyboardInterrupt:
            hit = True
        if hit or interrupted():
            hit = True
            solver.StopSearch()
            worker.join()
    if "error" in out:
        exc = out["error"]
        if isinstance(exc, IndexError) and "btree_map" in str(exc) and solver.parameters.symmetry_level != 0:
            # OR-Tools 9.15's presolve fails on hinted no-overlaps of interchangeable sets (google/or-tools#5288,
            # see lns._window_move): the same search once more without symmetry detection
            solver.parameters.symmetry_level = 0
            return _solve_interruptibly(solver, model, callback, interrupted)
        raise exc
    return int(out["status"]), hit


def _stopped_by(status: str, hit: bool, deterministic: bool, wall: float, dtime: float, p) -> str:
    """What ended a search: proof, interrupt, the (deterministic) time limit or the wall-clock safety net."""
    if hit:
        return "interrupt"
    if status in ("OPTIMAL", "INFEASIBLE"):
        return "proof"
    if deterministic and dtime < 0.99 * p.max_deterministic_time and wall >= 0.99 * p.max_time_in_seconds:
        return "wall-clock safety net"
    return "deterministic time limit" if deterministic else "time limit"


def solve_note(status: str, skipped: str, stopped_by: str, interrupted: bool) -> str:
    """One sentence on what the solver did, for the text outputs ('' for a search stopped by its time limit)."""
    if interrupted:
        return "interrupted (Ctrl-C): the best schedule found so far"
    if skipped:
        return skipped
    if stopped_by == "wall-clock safety net":
        return ("stopped by the wall-clock safety net before the deterministic time limit (machine overloaded?): "
                "this result may not repeat")
    return ""


def solve_cpsat(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, *, joint: bool = False,
                budget: Budget | None = None, hint: Schedule | None = None, time_limit: float = 60.0,
                workers: int = 2, seed: int = 0, progress: Progress | None = None, model: str = "",
                deterministic: bool = True, extra: Callable[[CpVars], None] | None = None) -> SolveResult:
    """Minimize the makespan with CP-SAT (see the module docstring for the formulation).

    Fixed mode keeps `mapping`'s copies and placement; `joint=True` also chooses the copies per layer under
    `budget` (default: the mapping's) and returns a new mapping ("cpsat-joint", each layer with as many
    copies as its sets ever overlap). The search is warm-started from the best known valid schedule: `hint`
    if it is valid for this model and no worse, else the best of layer-by-layer and CLSA (`incumbent`); its
    makespan is the horizon, and it is what comes back (FEASIBLE) if CP-SAT finds nothing better in time,
    so the result is never worse than CLSA. If the lower bounds already meet it, CP-SAT is not run (OPTIMAL).
    `progress(best, bound, seconds)` is called at the start and as either improves. Ctrl-C stops the search
    and returns the best schedule so far. A time limit <= 0 is an InputError; running out of time is not.
    With `deterministic` (the default) the time limit is in CP-SAT's deterministic seconds and the search is
    interleaved, so the same inputs, seed and workers give the same schedule even when the limit cuts the
    search short. `deterministic=False` uses wall-clock seconds and CP-SAT's default (non-reproducible)
    parallel portfolio, which finds better schedules per second and needs less memory on large models.
    CP-SAT is not run when the bounds already meet the incumbent (OPTIMAL), on more than MAX_CPSAT_SETS sets or
    when its search would not fit in memory (SKIPPED, unless the bounds prove the incumbent optimal): the
    incumbent and the bounds come back and `info["cp_sat_skipped"]` says why. `info["stopped_by"]` says what
    ended a search (proof, the time limit, the wall-clock safety net, an interrupt); `info["interrupted"]`.
    `extra(vars)` may add constraints that keep some optimum (a stream's symmetry breaking, `cpsat_stream`).
    """
    if not time_limit > 0:
        raise InputError(f"CP-SAT time limit must be > 0 seconds, got {time_limit:g}")
    if workers < 1:
        raise InputError(f"CP-SAT workers must be >= 1, got {workers}")
    with _catch_ctrl_c() as ctrl_c:
        return _solve(workload, hw, mapping, sets, joint=joint, budget=budget or mapping.budget, hint=hint,
                      time_limit=time_limit, workers=workers, seed=seed, progress=progress, model=model,
                      deterministic=deterministic, interrupted=lambda: ctrl_c["hit"], extra=extra)


def _decisions(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, joint: bool,
               budget: Budget) -> tuple[tuple[int, ...], tuple[int, ...], np.ndarray, TileGroups, Mapping | None]:
    """What the model decides over: crossbars per layer, the copy capacity per layer (joint: its upper bound),
    the least lag per edge, the tile groups, and the placed mapping (None in joint mode, where the copies and
    so the placement are decisions)."""
    xb = crossbars_per_layer(workload, hw)
    counts = [ls.count for ls in sets.layers]
    if joint:
        if hw.buffer_elements is not None:
            raise InputError(f"{hw.source}: joint duplication with finite tile buffers (buffer.elements_per_tile = "
                             f"{hw.buffer_elements}) is not supported: the home tiles would change with the copy "
                             "counts; fix the duplication (--dup) instead")
        if hw.noc_costs:
            raise InputError(f"{hw.source}: joint duplication needs a free NoC (noc.hop_cycles = 0 and no "
                             f"noc.link_bytes_per_cycle; got {hw.noc_hop_cycles} and {hw.link_bytes_per_cycle}): "
                             "copy placement would change with the copy counts")
        if sum(xb) > budget.pes:
            raise InputError(f"model {workload.name!r} needs {sum(xb)} PEs, the budget is {budget.pes}")
        caps = max_copies(xb, counts, budget)
        lag = sets.lag
        groups = TileGroups(tuple((0,) for _ in xb), tuple((tuple(range(c)),) for c in caps))
        place = None
    else:
        caps = mapping.copies
        lag = min_transfer_lags(sets, hw, mapping)
        groups = TileGroups.of(mapping, hw)
        place = mapping
    return xb, caps, lag, groups, place


def _solver(rest: float, deterministic: bool, workers: int, seed: int) -> cp_model.CpSolver:
    """A solver with `rest` seconds: deterministic seconds (the wall clock only a safety net) or wall clock."""
    solver = cp_model.CpSolver()
    p = solver.parameters
    if deterministic:
        # the limit counts CP-SAT's deterministic seconds, so a run cut short stops at the same point every
        # time (about 1.5-3 wall seconds each on two idle cores, up to 20 on a loaded machine); the wall
        # clock is only a safety net, generous enough that load does not decide where the search stops
        p.max_deterministic_time = rest
        p.max_time_in_seconds = safety_net_seconds(rest)
    else:
        p.max_time_in_seconds = rest
    p.num_workers = int(workers)
    p.random_seed = int(seed)
    p.interleave_search = deterministic
    p.interleave_batch_size = 10
    return solver


def _adopt(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, joint: bool, budget: Budget,
           groups: TileGroups, best: Incumbent, solution: tuple[np.ndarray, dict]) -> Incumbent:
    """CP-SAT's solution (starts, tile group per set) as an incumbent with copies coloured, if no worse than
    `best`; else `best`."""
    start, tiles = solution
    objective = int((start + sets.duration).max()) if sets.num_sets else 0
    if objective > best.makespan:
        return best
    if joint:
        out_map = make_mapping(workload, hw, budget, peak_overlap(sets, start), "cpsat-joint")
        out_groups = TileGroups.of(out_map, hw)
    else:
        out_map, out_groups = mapping, groups
    group = np.zeros(sets.num_sets, np.int64)
    for s, k in tiles.items():
        group[s] = k
    return Incumbent(out_map, colour_copies(sets, out_groups, group, start), start, "cpsat", objective)


@dataclass(frozen=True)
class _Found:
    """What one CP-SAT search gave: its status, why it stopped, its bound and its best solution (if any)."""

    status: str
    ran: bool
    stopped_by: str
    dtime: float
    cp_bound: int
    rec_bound: int
    solution: tuple[np.ndarray, dict] | None
    skipped: str


def _search(solver: cp_model.CpSolver, v: CpVars, progress: Progress | None, floor: int, horizon: int,
            t_begin: float, num_sets: int, deterministic: bool, interrupted: Callable[[], bool]) -> _Found:
    """Run the search (unless the bounds already meet the incumbent or Ctrl-C came first), Ctrl-C-safe."""
    p = solver.parameters
    status, ran, stopped_by, dtime, cp_bound, solution, skipped = "UNKNOWN", False, "", 0.0, 0, None, ""
    rec = _Recorder(v, progress, floor, horizon)
    solver.best_bound_callback = rec.on_bound
    try:
        if progress is not None:
            progress(horizon, floor, time.perf_counter() - t_begin)
        if floor >= horizon:
            skipped = not_run_reason(num_sets, deterministic, True)
        elif interrupted():
            skipped = "interrupted (Ctrl-C) before the search"
        else:
            code, hit = _solve_interruptibly(solver, v.model, rec, interrupted)
            status, ran = _status_name(code), True
            resp = solver.ResponseProto()
            dtime = float(resp.deterministic_time)
            stopped_by = _stopped_by(status, hit, deterministic, resp.wall_time, dtime, p)
            if status in ("OPTIMAL", "FEASIBLE"):
                cp_bound = int(np.ceil(solver.BestObjectiveBound() - 1e-9))
                solution = (np.asarray([solver.Value(x) for x in v.start], dtype=np.int64),
                            {s: next(k for k, lit in enumerate(lits) if solver.BooleanValue(lit))
                             for s, lits in v.tile_lits.items()})
    except KeyboardInterrupt:  # Ctrl-C while not inside the search (which stops cleanly)
        cp_bound = rec.bound
        stopped_by = "interrupt"
        if rec.start is not None:
            solution = (rec.start, rec.tiles)
    return _Found(status, ran, stopped_by, dtime, cp_bound, rec.bound, solution, skipped)


def _solve(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, *, joint: bool, budget: Budget,
           hint: Schedule | None, time_limit: float, workers: int, seed: int, progress: Progress | None,
           model: str, deterministic: bool, interrupted: Callable[[], bool],
           extra: Callable[[CpVars], None] | None = None) -> SolveResult:
    """`solve_cpsat` after argument checks; `interrupted()` tells whether Ctrl-C was pressed so far."""
    t_begin = time.perf_counter()
    xb, caps, lag, groups, place = _decisions(workload, hw, mapping, sets, joint, budget)
    best = incumbent(workload, hw, mapping, sets, joint, budget)
    hint_ok = False
    if hint is not None and (h := _valid_hint(hint, workload, hw, mapping, sets, joint, budget)) is not None:
        hint_ok = True
        if h.makespan <= best.makespan:
            best = h
    horizon = best.makespan

    lb = (lower_bounds_joint(workload, hw, budget, sets, target=horizon) if joint
          else lower_bounds(workload, hw, mapping, sets, target=horizon))
    if lb.best < horizon:
        cl = closure_bound(workload, sets, lag, caps, target=horizon, max_solves=closure_solves(time_limit),
                           dtime=min(2.0, time_limit / 4), stop=interrupted)
        value, rule = best_rule([(lb.best, lb.rule), *closure_rule(cl)])
        lb = replace(lb, closure=cl.value, best=value, rule=rule)
    if horizon < lb.best:
        raise RuntimeError(f"internal: lower bound {lb.best} above a valid schedule's makespan {horizon}")

    skipped = not_run_reason(sets.num_sets, deterministic, False)  # too large: the model is not even built
    ran, stopped_by, dtime = False, "", 0.0
    solution = None  # (starts, tile group per set)
    status, cp_bound, rec_bound = "UNKNOWN", 0, lb.best
    sizes = {"num_intervals": 0, "num_precedences": 0, "num_variables": 0, "num_constraints": 0}
    if not skipped:
        head, tail = heads_and_tails(sets, lag, caps)
        v = build_model(sets, hw, place, groups, caps, xb if joint else None, budget, head, tail, horizon, lb.best,
                        None if hw.buffer_elements is None else set_elements(workload, sets))
        if extra is not None:
            extra(v)
        add_hint(v, best.start, sets.duration, _tile_groups_of(sets, best, groups) if v.tile_lits else None,
                 best.mapping.copies if joint else None)
        proto = v.model.Proto()
        sizes = {"num_intervals": v.counts["intervals"], "num_precedences": v.counts["precedences"],
                 "num_variables": len(proto.variables), "num_constraints": len(proto.constraints)}
        solver = _solver(max(0.01, float(time_limit) - (time.perf_counter() - t_begin)), deterministic, workers, seed)
        found = _search(solver, v, progress, lb.best, horizon, t_begin, sets.num_sets, deterministic, interrupted)
        skipped = found.skipped or skipped
        status, ran, stopped_by, dtime = found.status, found.ran, found.stopped_by, found.dtime
        cp_bound, rec_bound, solution = found.cp_bound, found.rec_bound, found.solution
    bound, bound_rule = best_rule([(lb.best, lb.rule), (max(cp_bound, rec_bound), "CP-SAT search")])

    chosen = best if solution is None else _adopt(workload, hw, mapping, sets, joint, budget, groups, best, solution)
    source = chosen.source
    if status == "INFEASIBLE":
        raise RuntimeError(f"internal: CP-SAT finds no schedule within the makespan {horizon} of a valid one")
    objective = chosen.makespan
    if bound > objective:
        raise RuntimeError(f"internal: lower bound {bound} above the makespan {objective} of a valid schedule")
    status = "OPTIMAL" if bound == objective else ("FEASIBLE" if ran else "SKIPPED")
    gap = (objective - bound) / objective if objective else 0.0
    was_interrupted = stopped_by == "interrupt" or interrupted()
    seconds = time.perf_counter() - t_begin
    info = {"status": status, "bound": bound, "gap": gap, "solve_seconds": seconds, **sizes,
            "horizon": horizon, "cp_sat_bound": cp_bound, "combinatorial_bound": lb.best, "closure_bound": lb.closure,
            "critical_path": lb.critical_path, "layer_work": lb.layer_work, "bottleneck": lb.bottleneck,
            "pipeline_bound": lb.pipeline, "bound_rule": bound_rule,
            "source": source, "joint": joint, "time_limit": float(time_limit), "workers": int(workers),
            "seed": int(seed), "deterministic": deterministic, "hint_used": hint is not None, "hint_valid": hint_ok,
            "cp_sat_skipped": skipped, "cp_sat_ran": ran, "stopped_by": stopped_by or ("proof" if ran else "not run"),
            "deterministic_seconds": dtime, "interrupted": was_interrupted,
            "note": solve_note(status, skipped, stopped_by, was_interrupted)}
    m = chosen.mapping
    if joint and source != "cpsat":
        m = make_mapping(workload, hw, budget, m.copies, "cpsat-joint")
    schedule = to_schedule(workload, hw, m, sets, chosen.copy, chosen.start, chosen.start + sets.duration,
                           name="cpsat", model=model, info=info)
    return SolveResult(status, schedule, objective, bound, gap, seconds, **sizes)


def round_robin_tiles(sets: SetGraph, mapping: Mapping, hw: Hardware) -> Callable[[CpVars], None]:
    """An `extra` for `solve_cpsat`: every set on the tile group of its round-robin copy (set i on copy i mod D),
    so the home tiles, and with them the messages and the link bound, are those of the list schedulers."""
    from cimopt.list_scheduling import round_robin_copies

    groups = TileGroups.of(mapping, hw)
    rr = Incumbent(mapping, round_robin_copies(sets, mapping), np.zeros(sets.num_sets, np.int64), "", 0)
    group = _tile_groups_of(sets, rr, groups)

    def add(v: CpVars) -> None:
        for s, lits in v.tile_lits.items():
            v.model.Add(lits[int(group[s])] == 1)
    return add


def schedule_contention(problem: Problem, options: Options) -> Result:
    """CP-SAT under link contention, as a sound relaxation plus repair (docs/model.md, "Link contention"): the
    contention-free model with every set on its round-robin copy's home tile (its optimum and bound are no
    worse than those of the problem with contention), its solution re-timed with the messages on the links
    (`messages.retime`, same copies and order), and the better of that and the contention-aware list schedules
    (layer-by-layer, CLSA-CIM, a valid hint re-timed). The bound is the relaxation's, joined with the link bound.
    A stream: the unrolled relaxation without fixed tiles (no link bound then)."""
    from cimopt.analysis.bounds import link_bound
    from cimopt.messages import retime

    p, o, hw = problem, options, problem.hardware
    if hw.buffer_elements is not None:
        raise InputError(f"{hw.source}: CP-SAT under link contention with finite tile buffers "
                         f"(buffer.elements_per_tile = {hw.buffer_elements}) is not supported; use --buffer inf")
    relaxed = replace(p, hardware=replace(hw, noc_contention=False))
    hint = None if o.hint is None else replace(o.hint, hardware=relaxed.hardware, transfers=None)
    if p.is_stream:
        from cimopt.schedulers.cpsat_stream import schedule_stream
        from cimopt.schedulers.stream_list import stream_list_schedule

        res = schedule_stream(relaxed, replace(o, hint=hint))
        sch, facts = res.schedule, res.solve
        cands = [stream_list_schedule(p, "clsa", "clsa"), stream_list_schedule(p, "lbl", "lbl")]
        link = 0
    else:
        out = solve_cpsat(relaxed.workload, relaxed.hardware, p.mapping, p.sets, joint=o.joint, budget=p.budget,
                          hint=hint, time_limit=o.time_limit, workers=o.workers, seed=o.seed, progress=o.progress,
                          model=p.model, deterministic=o.deterministic, extra=round_robin_tiles(p.sets, p.mapping, hw))
        sch = out.schedule
        facts = SolveFacts(out.status, out.objective, out.bound, out.gap, out.solve_seconds, out.num_intervals,
                           out.num_precedences, out.num_variables, out.num_constraints, sch.info.get("bound_rule", ""),
                           sch.info["note"], sch.info["interrupted"])
        cands = [list_schedule(p.workload, hw, p.mapping, p.sets, barrier=b, name="lbl" if b else "clsa")
                 for b in (False, True)]
        lb = link_bound(p.sets, hw, p.mapping)
        link = lb.value
        if link > facts.bound:
            facts = replace(facts, bound=link, bound_rule=lb.rule)
    repaired = retime(p.sets, replace(sch, hardware=hw))
    if o.hint is not None and o.hint.mapping == p.mapping and o.hint.hardware == hw:
        with contextlib.suppress(InputError):
            cands.append(retime(p.sets, o.hint))
    best = min([repaired, *cands], key=lambda c: c.makespan)
    source = "cpsat" if best is repaired else best.scheduler
    objective = best.makespan
    if facts.bound > objective:
        raise RuntimeError(f"internal: lower bound {facts.bound} above the makespan {objective} of a valid schedule")
    status = "OPTIMAL" if facts.bound == objective else ("SKIPPED" if facts.status == "SKIPPED" else "FEASIBLE")
    gap = (objective - facts.bound) / objective if objective else 0.0
    note = (f"the relaxation without link contention: {sch.info['note']}; " if sch.info.get("note") else "") + (
        f"its schedule re-timed on the links: {repaired.makespan:,} cycles" + (
            "" if best is repaired else f"; {source}'s, re-timed, is better"))
    info = dict(sch.info) | {"status": status, "bound": facts.bound, "bound_rule": facts.bound_rule, "gap": gap,
                             "source": source, "contention": True, "relaxed_makespan": sch.makespan,
                             "link_bound": link, "note": note, "relaxation_note": sch.info.get("note", "")}
    facts = replace(facts, status=status, objective=objective, gap=gap, note=note)
    return Result(replace(best, scheduler="cpsat", info=info), status, facts)


def schedule_memory(problem: Problem, options: Options) -> Result:
    """CP-SAT where tile buffers are finite and outputs may go to a memory tier or to lent storage tiles, or
    links are shared: CP-SAT bounds the problem by solving its relaxation with unlimited buffers (every valid
    schedule of the problem is one of the relaxation: spills, fills and waits only delay sets), and the schedule
    it returns is the best valid one known: the hint (compare passes the best heuristic schedule), else the
    memory-aware scheduler's. OPTIMAL when that schedule meets the bound."""
    from cimopt.schedulers.memory_aware import schedule_memory_aware

    p, o, hw = problem, options, problem.hardware
    if p.is_stream:
        raise InputError("CP-SAT with a memory tier, lent storage tiles or link contention on finite tile buffers "
                         "schedules one inference; use --inferences 1")
    relaxed = replace(p, hardware=replace(hw, buffer_elements=None))
    res = schedule(relaxed, replace(o, hint=None))
    best = o.hint
    if best is None or best.mapping != p.mapping or best.hardware != hw or best.inferences != 1:
        best = schedule_memory_aware(p.workload, hw, p.mapping, p.sets, model=p.model)
    objective = best.makespan
    bound = min(res.solve.bound, objective)
    status = "OPTIMAL" if bound == objective else "FEASIBLE"
    inner = res.schedule.info.get("relaxation_note", res.solve.note)  # what CP-SAT did on the (innermost) relaxation
    note = ("bound from the relaxation with unlimited tile buffers"
            + (" and contention-free links, joined with the link bound" if hw.noc_contention else "")
            + (f" ({inner})" if inner else "") + f"; the schedule is {best.scheduler}'s")
    facts = replace(res.solve, status=status, objective=objective, bound=bound,
                    gap=(objective - bound) / objective if objective else 0.0, note=note)
    info = {**best.info, **{k: v for k, v in res.schedule.info.items() if k in ("critical_path", "layer_work",
                                                                            "bottleneck", "link_bound", "bound_rule")},
            "status": status, "bound": bound, "source": best.scheduler, "note": note}
    return Result(replace(best, scheduler="cpsat", info=info), status, facts)


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry: `solve_cpsat` on the problem, its facts as `SolveFacts` (a stream: `cpsat_stream`; link
    contention: `schedule_contention`; finite buffers with a memory tier, lent storage or contention:
    `schedule_memory`)."""
    p, o = problem, options
    hw = p.hardware
    if hw.buffer_elements is not None and (hw.has_tier or p.mapping.storage is not None or hw.noc_contention):
        return schedule_memory(p, o)
    if p.hardware.noc_contention:
        return schedule_contention(p, o)
    if p.is_stream:
        from cimopt.schedulers.cpsat_stream import schedule_stream

        return schedule_stream(p, o)
    res = solve_cpsat(p.workload, p.hardware, p.mapping, p.sets, joint=o.joint, budget=p.budget, hint=o.hint,
                      time_limit=o.time_limit, workers=o.workers, seed=o.seed, progress=o.progress, model=p.model,
                      deterministic=o.deterministic)
    facts = SolveFacts(res.status, res.objective, res.bound, res.gap, res.solve_seconds, res.num_intervals,
                       res.num_precedences, res.num_variables, res.num_constraints,
                       res.schedule.info.get("bound_rule", ""), res.schedule.info["note"],
                       res.schedule.info["interrupted"])
    return Result(res.schedule, res.status, facts)
