"""CLSA-CIM with back-pressure (`clsa-bp`): ASAP list scheduling that never overflows a finite tile buffer.

Same copies and per-copy order as CLSA-CIM (set i on copy i mod D_l, raster order), same earliest start
(`max(release, ends of its dependencies + GPEU and NoC lags, its copy free)`). In addition a set may end at
time t only if its outputs fit in its home tile's buffer at t: `pixels * channels` elements, held from its end
until the last of its readers starts (docs/model.md, "Buffers"). A set that does not fit is delayed until
space on its tile is freed, and then ends at that moment (it starts its duration earlier).

End-ordered list scheduling: candidates (a copy's next set whose dependencies have all ended) sit in a heap
keyed by (earliest end, later layer first, set). A set is placed when its end comes up, so that every buffer
check is made at the moment the outputs appear, against everything placed so far: outputs that ended earlier
and are still held (their space is freed once their last reader is placed; its real start is earlier, which only
makes the check conservative), minus the inputs the set itself is the last reader of (freed at its start).
Time never goes backwards. Two rules share a tile's space between candidates:
- `drain`: a set fits only next to the space claimed by all candidates of later layers on its tile (consumers
  before producers);
- `greedy`: whoever comes first;
- `drain-in-order`, `greedy-in-order`: the same, and a set is placed only after its layer's previous set (a
  copy cannot run ahead of its layer's other copies and fill a tile shared with the producers it needs).
When CLSA-CIM's own schedule fits (its exact set-level peak), it is the answer. Otherwise drain runs, then
greedy (unless drain lost no latency; it gives up once it cannot beat drain), then, only if neither finished,
the in-order rules; the shortest schedule wins. With
unlimited buffers no set waits and every set starts at its earliest start: exactly CLSA-CIM's schedule. If sets
remain but none can ever be placed (every tile they need is full of outputs whose readers wait), the scheduler
stops with an error naming the tile and what fills it, or the lower bound (`buffers.footprint`,
`buffers.hold_bound`) the capacity is below; it never returns an invalid schedule.

The event loop is compiled with numba (`_pass`): it visits every dependency edge a constant number of times,
so a pass costs about as much as CLSA-CIM's vectorized one (bench/bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from cimopt.analysis.buffers import (
    Footprint,
    check_capacity,
    footprint,
    hold_bound,
    last_reads,
    set_elements,
    tile_count,
    tile_peaks,
)
from cimopt.arith import ceil_div
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule, round_robin_copies, to_schedule
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.registry import Options, Result
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags, storage_tiles
from cimopt.workload import Workload

NAME = "clsa-bp"
RULES = ("drain", "greedy", "drain-in-order", "greedy-in-order")
RESCUE = RULES[2:]  # tried only when neither of the first two can finish
UNBOUNDED = np.iinfo(np.int64).max // 4  # a capacity no sum of elements reaches


@njit(cache=True)
def _push(heap: np.ndarray, size: int, key: int) -> None:
    """Push `key` on the binary min-heap heap[:size] (the caller counts it)."""
    i = size
    while i > 0:
        up = (i - 1) >> 1
        if heap[up] <= key:
            break
        heap[i] = heap[up]
        i = up
    heap[i] = key


@njit(cache=True)
def _pop(heap: np.ndarray, size: int) -> None:
    """Remove heap[0] from the binary min-heap heap[:size] (the caller reads it first and counts it)."""
    size -= 1
    key = heap[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and heap[c + 1] < heap[c]:
            c += 1
        if key <= heap[c]:
            break
        heap[i] = heap[c]
        i = c
    heap[i] = key


@njit(cache=True)
def _wake(heap, size, full_head, full_link, tile, now_key, rank):
    """Put every set waiting for space on `tile` back on the heap at the current time; the new heap size."""
    w = full_head[tile]
    full_head[tile] = -1
    while w >= 0:
        _push(heap, size, now_key | rank[w])
        size += 1
        w = full_link[w]
    return size


@njit(cache=True)
def _inputs_ended(c, cursor, p_ptr, p_src, p_lag, start, ready, waits_on, wait_link, in_order, first, now):
    """Advance set c over its inputs (edges p_ptr[c]..p_ptr[c+1]) while they are placed, folding their starts
    plus `p_lag` (the input's duration + the edge's lag) into ready[c]; True when all are, else c waits on the
    first unplaced input (a linked list per input)."""
    if in_order:
        if not first[c] and start[c - 1] < 0:  # the layer's previous set is placed first
            wait_link[c] = waits_on[c - 1]
            waits_on[c - 1] = c
            return False
        if now > ready[c]:  # and no earlier than the moment it becomes a candidate
            ready[c] = now
    e, last = cursor[c], p_ptr[c + 1]
    while e < last:
        q = p_src[e]
        if start[q] < 0:
            cursor[c] = e
            wait_link[c] = waits_on[q]
            waits_on[q] = c
            return False
        r = start[q] + p_lag[e]
        if r > ready[c]:
            ready[c] = r
        e += 1
    cursor[c] = e
    return True


@njit(cache=True)
def _pass(dur, release, tile, elem, layer, rank, nxt, head0, p_ptr, p_src, p_lag, readers, cap, drain, n_tiles,
          n_layers, shift, stop, rest, in_order, first):
    """One end-ordered back-pressure pass (module docstring) over the edges grouped by destination (p_ptr: each
    set's inputs, with their lags). A set becomes a candidate when its copy is free (`head`) and all its inputs
    are placed (it waits on the first missing one); the pass gives up once it cannot end by `stop` (an end
    after it, or a copy whose remaining work `rest` would run past it); `in_order`: a set also waits for its
    layer's previous set (`first`: the layers' first sets). Returns the starts (-1: never placed), how often a
    set had to wait for space (0: every set at its earliest start, CLSA-CIM's schedule), how many of those
    waits only drain's claims caused, and, for a failure report, the readers left per set, the occupancy and
    the sets waiting for space (a linked list per tile)."""
    n = len(dur)
    ready = release.copy()
    head = head0.copy()
    cursor = p_ptr[:-1].copy()
    remaining = readers.copy()
    free_at = np.zeros(n, np.int64)
    start = np.full(n, -1, np.int64)
    occ = np.zeros(n_tiles, np.int64)
    claim = np.zeros((n_tiles, n_layers), np.int64)
    waits_on = np.full(n, -1, np.int64)  # per set: the first consumer waiting for it to be placed
    wait_link = np.full(n, -1, np.int64)
    full_head = np.full(n_tiles, -1, np.int64)  # per tile: the first set waiting for space
    full_link = np.full(n, -1, np.int64)
    waits = 0
    held_back = 0  # waits only the claims of later layers caused (drain): without any, greedy is the same pass
    # heap key: end << shift | rank (later layers first, then set index); who[rank] is the set
    who = np.empty(n, np.int64)
    who[rank] = np.arange(n)
    mask = (1 << shift) - 1
    heap = np.empty(n + 1, np.int64)  # a set is in the heap at most once at a time
    size = 0
    for s in range(n):
        if head[s] and _inputs_ended(s, cursor, p_ptr, p_src, p_lag, start, ready, waits_on, wait_link, in_order, first, 0):
            _push(heap, size, (ready[s] + dur[s]) << shift | rank[s])
            size += 1
            claim[tile[s], layer[s]] += elem[s]
    while size > 0:
        t, s = heap[0] >> shift, who[heap[0] & mask]
        if t > stop:  # no better than a schedule the caller has: give up
            break
        _pop(heap, size)
        size -= 1
        ts, ls = tile[s], layer[s]
        need = occ[ts] + elem[s]
        ahead = 0
        if drain:
            for lc in range(ls + 1, n_layers):
                ahead += claim[ts, lc]
        if need + ahead > cap:
            for e in range(p_ptr[s], p_ptr[s + 1]):  # the inputs s is the last reader of go at its start
                q = p_src[e]
                if remaining[q] == 1 and tile[q] == ts:
                    need -= elem[q]
            if need + ahead > cap:
                full_link[s] = full_head[ts]
                full_head[ts] = s
                waits += 1
                if need <= cap:
                    held_back += 1
                continue
        if t + rest[s] > stop:  # its copy still has `rest` cycles of work: this pass cannot end by `stop`
            break
        start[s] = t - dur[s]
        occ[ts] += elem[s]
        claim[ts, ls] -= elem[s]
        for e in range(p_ptr[s], p_ptr[s + 1]):
            q = p_src[e]
            remaining[q] -= 1
            if elem[q] == 0 or remaining[q] > 1:
                continue
            tq = tile[q]
            if remaining[q] == 0:
                occ[tq] -= elem[q]
            # wake the sets waiting on q's tile: space was freed, or q's last reader (perhaps one of them) would
            # now free it at its start
            size = _wake(heap, size, full_head, full_link, tq, t << shift, rank)
        m = nxt[s]
        if m >= 0:
            head[m] = True
            free_at[m] = t
        c = waits_on[s]  # consumers waiting for s, then s's successor on its copy
        waits_on[s] = -1
        while True:
            if c < 0:
                if m < 0:
                    break
                c, m = m, -1
                nxt_c = -1
            else:
                nxt_c = wait_link[c]
            if head[c] and start[c] < 0 and _inputs_ended(c, cursor, p_ptr, p_src, p_lag, start, ready, waits_on,
                                                          wait_link, in_order, first, t - dur[c] if t > dur[c] else 0):
                _push(heap, size, (max(ready[c], free_at[c]) + dur[c]) << shift | rank[c])
                size += 1
                claim[tile[c], layer[c]] += elem[c]
            c = nxt_c
        if drain and claim[ts, ls] == 0:  # this layer no longer holds the waiting back
            size = _wake(heap, size, full_head, full_link, ts, t << shift, rank)
    return start, waits, held_back, remaining, occ, full_head, full_link


def _rest(sets: SetGraph, copies: np.ndarray) -> np.ndarray:
    """Per set, the summed durations of the sets after it on its copy (set i of layer l on copy i mod D_l)."""
    rest = np.zeros(sets.num_sets, np.int64)
    for li in range(len(sets.layers)):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        d = int(copies[li])
        m = ceil_div(b - a, d)
        dur = np.zeros(m * d, np.int64)
        dur[: b - a] = sets.duration[a:b]
        grid = dur.reshape(m, d)
        after = np.cumsum(grid[::-1], axis=0)[::-1] - grid  # later rows of the same column (copy)
        rest[a:b] = after.ravel()[: b - a]
    return rest


@njit(cache=True)
def _inputs_by_destination(order, src, dur, lag, n):
    """In the edge order `order` (by destination): each edge's input set and its duration plus the edge's lag;
    and the number of readers of every set."""
    p_src, p_lag = np.empty(len(order), np.int64), np.empty(len(order), np.int64)
    readers = np.zeros(n, np.int64)
    for k in range(len(order)):
        e = order[k]
        q = src[e]
        p_src[k] = q
        p_lag[k] = dur[q] + lag[e]
        readers[q] += 1
    return p_src, p_lag, readers


@dataclass(frozen=True)
class Prepared:
    """What every pass needs, computed once: CLSA-CIM's copies and per-edge lags, home tiles, held elements,
    each copy's next set, and the edges grouped by destination (inputs, their lags) plus readers per set."""

    copy: np.ndarray
    lag: np.ndarray
    tile: np.ndarray
    elem: np.ndarray
    layer: np.ndarray
    rank: np.ndarray  # heap order at equal times: later layers first, then set index
    first: np.ndarray  # the first set of its layer (in-order rules: a set waits for its layer's previous one)
    rest: np.ndarray  # the durations of the sets after each set on its copy
    nxt: np.ndarray
    head: np.ndarray
    p_ptr: np.ndarray
    p_src: np.ndarray
    p_lag: np.ndarray
    readers: np.ndarray
    n_tiles: int


def prepare(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, *, lag: np.ndarray | None = None,
            tile: np.ndarray | None = None, elem: np.ndarray | None = None) -> Prepared:
    """Everything a pass needs (`lag`, `tile`, `elem`: the round-robin copies' edge lags, home tiles and held
    elements, when the caller has them)."""
    n = sets.num_sets
    copy = round_robin_copies(sets, mapping)
    lag = edge_lags(sets, hw, mapping, copy) if lag is None else lag
    tile = storage_tiles(sets, mapping, copy) if tile is None else tile
    elem = set_elements(workload, sets) if elem is None else elem
    layer = sets.layer_of(np.arange(n))
    copies = np.asarray(mapping.copies, dtype=np.int64)
    nxt = np.arange(n, dtype=np.int64) + copies[layer]
    p_ptr, by_dst = sets.csr("dst")
    p_src, p_lag, readers = _inputs_by_destination(by_dst, sets.src, sets.duration, lag, n)
    counts = np.diff(sets.offset)
    later = np.cumsum(counts[::-1])[::-1] - counts  # sets in the layers after each layer
    rank = later[layer] + np.arange(n) - sets.offset[layer]
    return Prepared(copy, lag, tile, elem, layer, rank, np.arange(n) == sets.offset[layer], _rest(sets, copies),
                    np.where(nxt < sets.offset[layer + 1], nxt, -1), np.arange(n) < sets.offset[layer] + copies[layer],
                    p_ptr, p_src, p_lag, readers,
                    tile_count(mapping, tile))


def schedule_backpressure(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                          capacity: int | None = None, model: str = "") -> Schedule:
    """The back-pressure list schedule (module docstring) for `capacity` elements per tile (None: the
    hardware's `buffer.elements_per_tile`; unlimited if that is unset): CLSA-CIM's schedule when it fits (set
    level), else the better of the drain and the greedy rule; an InputError if neither can finish."""
    cap = hw.buffer_elements if capacity is None else capacity
    if cap is None:
        clsa = list_schedule(workload, hw, mapping, sets, barrier=False, name=NAME, model=model)
        return replace(clsa, info={"buffer_elements": None, "buffer_rule": "unlimited"})
    lag = edge_lags(sets, hw, mapping, round_robin_copies(sets, mapping))
    clsa = list_schedule(workload, hw, mapping, sets, barrier=False, name=NAME, model=model, lag=lag)
    tile, elem = storage_tiles(sets, mapping, clsa.copy), set_elements(workload, sets)
    n_tiles = tile_count(mapping, tile)
    if _peak(sets, tile, elem, n_tiles, clsa.start) <= cap:  # CLSA-CIM's schedule fits (set level)
        return replace(clsa, info={"buffer_elements": cap, "buffer_rule": "fits"})
    prep = prepare(workload, hw, mapping, sets, lag=lag, tile=tile, elem=elem)
    found: dict[str, np.ndarray] = {}
    failed = None
    held_back = 1
    for rule in RULES:
        if rule == "greedy" and found and (_makespan(sets, found["drain"]) == clsa.makespan or held_back == 0):
            break  # drain lost no latency, or greedy would make the same choices
        if rule in RESCUE and found:
            break  # the in-order rules only when neither of the first two finished
        stop = min((_makespan(sets, st) for st in found.values()), default=UNBOUNDED + 1) - 1  # strictly faster
        start, _, back, *state = _run(sets, prep, cap, rule, stop)
        if rule == "drain":
            held_back = back
        if (start >= 0).all():
            found[rule] = start
        elif failed is None:
            failed = (rule, start, state)
    if not found:
        fp = check_capacity(workload, sets, mapping, prep.copy, cap)
        held = hold_bound(workload, sets, mapping, prep.copy)
        check_order_capacity(workload, sets, held, cap)
        rule, start, state = failed
        raise InputError(_deadlock_message(workload, sets, prep, fp, held, rule, cap, start, *state))
    rule = min(found, key=lambda r: (_makespan(sets, found[r]), RULES.index(r)))  # the earlier rule on a tie
    return _schedule(workload, hw, mapping, sets, prep, found[rule], model, cap, rule)


def _makespan(sets: SetGraph, start: np.ndarray) -> int:
    return int((start + sets.duration).max(initial=0))


def check_order_capacity(workload: Workload, sets: SetGraph, held: Footprint, cap: int | float) -> None:
    """An InputError if `cap` is below the hold bound `held` (`buffers.hold_bound`): then no schedule in
    CLSA-CIM's order (these copies, raster order per copy) fits, whatever its priorities."""
    if cap < held.elements:
        raise InputError(
            f"buffer.elements_per_tile = {cap:,} is too small for {workload.name!r} at {sets.granularity.spec} sets "
            f"with CLSA-CIM's copies and order: when {held.layer} set {held.set} starts, tile {held.tile} must still "
            f"hold {held.elements:,} elements of outputs that later sets read; the smallest capacity that could work "
            f"is {held.elements:,} elements per tile (for any list schedule in this order; more PEs, for more copies "
            "of the layers on that tile, may need less)")


def _run(sets: SetGraph, prep: Prepared, cap: int | float, rule: str, stop: int = UNBOUNDED) -> tuple:
    limit = UNBOUNDED if cap == float("inf") else int(cap)
    shift = max(1, int(sets.num_sets - 1).bit_length())
    horizon = int(sets.release.max(initial=0) + sets.duration.sum() + prep.lag.sum())  # no end comes later
    if horizon >= 1 << (62 - shift):
        raise InputError(f"{NAME}: {sets.num_sets:,} sets over up to {horizon:,} cycles are too many for its event "
                         "keys; use coarser --sets")
    return _pass(sets.duration, sets.release, prep.tile, prep.elem, prep.layer, prep.rank, prep.nxt, prep.head,
                 prep.p_ptr, prep.p_src, prep.p_lag, prep.readers, limit, rule.startswith("drain"), prep.n_tiles,
                 len(sets.layers), shift, stop, prep.rest, rule.endswith("in-order"), prep.first)


def _peak(sets: SetGraph, tile: np.ndarray, elem: np.ndarray, n_tiles: int, start: np.ndarray) -> int:
    """The set-level peak over all tiles of a schedule (buffers.schedule_peaks, with the last reads in one loop)."""
    last = last_reads(sets, start)
    return int(tile_peaks(tile, elem, start + sets.duration, last, n_tiles).max(initial=0))


def _schedule(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, prep: Prepared, start: np.ndarray,
              model: str, cap: int | float, rule: str) -> Schedule:
    return to_schedule(workload, hw, mapping, sets, prep.copy, start, start + sets.duration, name=NAME, model=model,
                       info={"buffer_elements": None if cap == float("inf") else int(cap), "buffer_rule": rule})


def backpressure_pass(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, cap: int | float, *,
                      rule: str = "drain", model: str = "") -> Schedule:
    """One pass (module docstring) under `rule` (`drain` or `greedy`); `cap` may be inf. An InputError if the
    rule cannot place every set."""
    prep = prepare(workload, hw, mapping, sets)
    start, _, _, *state = _run(sets, prep, cap, rule)
    if (start < 0).any():
        fp, held = footprint(workload, sets, mapping, prep.copy), hold_bound(workload, sets, mapping, prep.copy)
        raise InputError(_deadlock_message(workload, sets, prep, fp, held, rule, cap, start, *state))
    return _schedule(workload, hw, mapping, sets, prep, start, model, cap, rule)


def _deadlock_message(workload: Workload, sets: SetGraph, prep: Prepared, fp: Footprint, held: Footprint, rule: str,
                      cap: int | float, start: np.ndarray, remaining: np.ndarray, occ: np.ndarray,
                      wait_head: np.ndarray, wait_next: np.ndarray) -> str:
    """Why the back-pressure rule cannot finish: the first blocked tile, what waits and what fills it."""
    tile, elem, layer = prep.tile, prep.elem, prep.layer
    bounds = f"{fp.elements:,} (one set's inputs) and {held.elements:,} (CLSA-CIM's order)"
    left = int((start < 0).sum())
    names = [lay.name for lay in workload.layers]
    full = np.flatnonzero(wait_head >= 0)
    if len(full):
        t = int(full[0])
        waiting, w = [], int(wait_head[t])
        while w >= 0:
            waiting.append(w)
            w = int(wait_next[w])
        s = min(waiting)
        held = (start >= 0) & (remaining > 0) & (tile == t) & (elem > 0)
        held_layers = sorted({names[int(x)] for x in layer[held]})
        li = int(layer[s])
        who = (f"{names[li]} set {s - int(sets.offset[li])} waits for {int(elem[s]):,} elements on tile {t}, which "
               f"holds {int(occ[t]):,} of {cap:,} (outputs of {', '.join(held_layers[:4])} whose readers cannot "
               "start)")
    else:
        who = "no set can start"
    return (f"{NAME} cannot finish with a buffer of {cap:,} elements per tile under any of its rules ({rule}: "
            f"{left:,} of {sets.num_sets:,} sets left; {who}); the lower bounds are {bounds}, its rules need more "
            "here: try a larger buffer.elements_per_tile")


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry: the hardware file's buffer capacity (a stream: on the unrolled set graph, inference k's
    outputs held until inference k's readers start)."""
    p = problem
    if p.is_stream:
        from cimopt.schedulers.unrolled import from_unrolled, unroll

        big = unroll(p.sets, p.inferences, p.arrival_interval)
        return Result(from_unrolled(p, schedule_backpressure(p.workload, p.hardware, p.mapping, big, model=p.model)))
    return Result(schedule_backpressure(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
