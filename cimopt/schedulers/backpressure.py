"""CLSA-CIM with back-pressure (`clsa-bp`): ASAP list scheduling that never overflows a finite tile buffer.

Same copies and per-copy order as CLSA-CIM (set i on copy i mod D_l, raster order), same earliest start
(`max(release, ends of its dependencies + GPEU and NoC lags, its copy free)`). In addition a set starts only
when its outputs fit in its home tile's buffer: it reserves `pixels * channels` elements from its start, and
the space of a set is freed when the last of its readers starts (docs/model.md, "Buffers"). A set that does
not fit waits until space on its tile is freed.

Event-driven: candidates (a copy's next set whose dependencies have all started) sit in a heap keyed by
(earliest start, priority, set). At equal times the set of the most downstream layer goes first: consumers
start before producers, and a consumer's start frees its inputs' space before a producer asks for it (the
drain rule). Time never goes backwards: a set that does not fit waits on its tile and is put back with the
time of the next release there. With unlimited buffers every set starts at its earliest start: exactly
CLSA-CIM's schedule. If sets remain but none can ever start (every tile they need is full of outputs whose
readers wait), the scheduler stops with an error naming the tile and what fills it; it never returns an
invalid schedule.

Cost: two heap operations per set and a constant amount of Python work per reduced dependency (for every
consumer, one edge per producer copy and lag, the last set on that copy; for every producer, one release
edge per consumer copy, the last reader on that copy): about 1 s of CPU for TinyYOLOv3 at pixel sets (233k sets,
2M dependencies), 11x CLSA-CIM's vectorized pass (bench/bench.py).
"""

from __future__ import annotations

import heapq

import numpy as np

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers.buffers import check_capacity, footprint, schedule_peaks, set_elements
from cimopt.schedulers.list_scheduling import list_schedule, round_robin_copies, to_schedule
from cimopt.schedulers.registry import Options, Result
from cimopt.schedulers.timing import edge_lags, home_tiles
from cimopt.sets import SetGraph
from cimopt.workload import Workload

NAME = "clsa-bp"


def _group_last(keys: tuple[np.ndarray, ...], value: np.ndarray) -> np.ndarray:
    """Indices of the rows with the largest `value` in every group of equal `keys` (the last one wins).

    Keys and value (non-negative) are folded into one int64 so that one sort does it; lexsort if they do not fit."""
    if not len(value):
        return np.zeros(0, dtype=np.int64)
    radix = [int(k.max()) + 1 for k in keys] + [int(value.max()) + 1]
    if min(int(k.min()) for k in keys) >= 0 and int(value.min()) >= 0 and np.prod(radix, dtype=float) < 2.0 ** 62:
        group = np.zeros(len(value), dtype=np.int64)
        for k, r in zip(keys, radix, strict=False):
            group = group * r + k
        order = np.argsort(group * radix[-1] + value)
        g = group[order]
    else:
        order = np.lexsort((value,) + tuple(reversed(keys)))
        g = np.zeros(len(order), dtype=np.int64)
        same = np.ones(len(order) - 1, dtype=bool)
        for k in keys:
            ks = k[order]
            same &= ks[1:] == ks[:-1]
        g[1:] = np.cumsum(~same)
    last = np.ones(len(order), dtype=bool)
    last[:-1] = g[1:] != g[:-1]
    return order[last]


def _csr(owner: np.ndarray, n: int, *columns: np.ndarray) -> tuple[list[int], ...]:
    """Rows grouped by `owner` (0..n-1): offsets and the columns in owner order, as Python lists."""
    order = np.argsort(owner, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=ptr[1:])
    return (ptr.tolist(),) + tuple(c[order].tolist() for c in columns)


RULES = ("drain", "greedy")


def schedule_backpressure(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph,
                          capacity: int | None = None, model: str = "") -> Schedule:
    """The back-pressure list schedule (module docstring) for `capacity` elements per tile (None: the
    hardware's `buffer.elements_per_tile`; unlimited if that is unset): the better of the drain and the greedy
    rule; an InputError if neither can finish (or if the capacity is below the footprint)."""
    cap = hw.buffer_elements if capacity is None else capacity
    clsa = list_schedule(workload, hw, mapping, sets, barrier=False, name=NAME, model=model)
    if cap is None or int(schedule_peaks(workload, sets, mapping, clsa.copy, clsa.start).max(initial=0)) <= cap:
        # CLSA-CIM's schedule fits the buffers (set-level rule): it is the answer (with unlimited buffers the
        # event-driven pass gives exactly this schedule too, see the tests)
        return replace_info(clsa, {"buffer_elements": cap, "buffer_rule": "unlimited" if cap is None else "fits"})
    check_capacity(workload, sets, mapping, clsa.copy, cap)
    failure, best = None, None
    for rule in RULES:
        try:
            s = backpressure_pass(workload, hw, mapping, sets, cap, rule=rule, model=model)
        except InputError as exc:
            failure = failure or exc
            continue
        if best is None or s.makespan < best.makespan:
            best = s
    if best is None:
        raise failure
    return best


def replace_info(s: Schedule, info: dict) -> Schedule:
    return Schedule(s.scheduler, s.model, s.fingerprint, s.hardware, s.mapping, s.granularity, s.layer, s.set, s.copy,
                    s.start, s.end, s.y0, s.y1, s.x0, s.x1, info=info)


def backpressure_pass(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, cap: int | float, *,
                      rule: str = "drain", model: str = "") -> Schedule:
    """One event-driven pass (module docstring) under `rule`: `drain` lets the candidates of later layers
    claim their space on their tile first; `greedy` gives space to whoever asks first. `cap` may be inf."""
    n = sets.num_sets
    copy = round_robin_copies(sets, mapping)
    drain = rule == "drain"
    lag = edge_lags(sets, hw, mapping, copy)
    tile = home_tiles(sets, mapping, copy)
    elem = set_elements(workload, sets)
    layer = sets.layer_of(np.arange(n))
    src, dst = sets.src, sets.dst

    # readiness: per consumer, the last producer set per (producer layer, copy, lag) decides
    keep = _group_last((dst, layer[src], copy[src], lag), src)
    in_count = np.bincount(dst[keep], minlength=n)
    s_ptr, s_dst, s_lag = _csr(src[keep], n, dst[keep], lag[keep])
    # release: per producer, the last reader per (consumer layer, copy) starts last
    rel = _group_last((src, layer[dst], copy[dst]), dst)
    readers = np.bincount(src[rel], minlength=n)
    r_ptr, r_src = _csr(dst[rel], n, src[rel])

    copies = np.asarray(mapping.copies, dtype=np.int64)
    offs = sets.offset
    nxt = np.arange(n, dtype=np.int64) + copies[layer]
    nxt = np.where(nxt < offs[layer + 1], nxt, -1).tolist()
    dur = sets.duration.tolist()
    ready = sets.release.tolist()
    pending = in_count.tolist()
    remaining = readers.tolist()
    el = elem.tolist()
    tl = tile.tolist()
    prio = (-layer).tolist()
    lay = layer.tolist()
    free_at = [0] * n
    is_head = np.zeros(n, dtype=bool)
    for li in range(len(sets.layers)):
        a, b = int(offs[li]), int(offs[li + 1])
        is_head[a:min(b, a + int(copies[li]))] = True
    head = is_head.tolist()
    limit = cap
    occ = [0] * max(mapping.budget.tiles, int(tile.max()) + 1 if n else 1)
    waiting: dict[int, list[int]] = {}
    start = [-1] * n
    claim: list[dict[int, int]] = [{} for _ in occ]  # per tile: layer -> space claimed by its candidates

    heap: list[tuple[int, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    for s in range(n):
        if head[s] and pending[s] == 0:
            push(heap, (ready[s], prio[s], s))
            if drain:
                d = claim[tl[s]]
                d[lay[s]] = d.get(lay[s], 0) + el[s]
    placed = 0
    while heap:
        t, _, s = pop(heap)
        ts, ls = tl[s], lay[s]
        ahead = 0  # claims of candidates of later layers on this tile: they go first (the drain rule)
        if drain:
            for lc, v in claim[ts].items():
                if lc > ls:
                    ahead += v
        if occ[ts] + el[s] + ahead > limit:
            # the inputs this set is the last reader of are freed at its start: count them before giving up
            freed = 0
            for k in range(r_ptr[s], r_ptr[s + 1]):
                p = r_src[k]
                if remaining[p] == 1 and tl[p] == ts:
                    freed += el[p]
            if occ[ts] - freed + el[s] + ahead > limit:
                waiting.setdefault(ts, []).append(s)
                continue
        start[s] = t
        placed += 1
        occ[ts] += el[s]
        if drain:
            claim[ts][ls] -= el[s]
        e = t + dur[s]
        for k in range(s_ptr[s], s_ptr[s + 1]):
            c = s_dst[k]
            r = e + s_lag[k]
            if r > ready[c]:
                ready[c] = r
            pending[c] -= 1
            if pending[c] == 0 and head[c]:
                push(heap, (ready[c] if ready[c] > free_at[c] else free_at[c], prio[c], c))
                if drain:
                    d = claim[tl[c]]
                    d[lay[c]] = d.get(lay[c], 0) + el[c]
        m = nxt[s]
        if m >= 0:
            head[m] = True
            free_at[m] = e
            if pending[m] == 0:
                push(heap, (ready[m] if ready[m] > e else e, prio[m], m))
                if drain:
                    d = claim[tl[m]]
                    d[lay[m]] = d.get(lay[m], 0) + el[m]
        for k in range(r_ptr[s], r_ptr[s + 1]):
            p = r_src[k]
            remaining[p] -= 1
            if remaining[p] == 0:
                tp = tl[p]
                occ[tp] -= el[p]
                for w in waiting.pop(tp, ()):
                    push(heap, (t, prio[w], w))
        if drain and ts in waiting and claim[ts][ls] == 0:  # this layer's claims no longer hold back the waiting ones
            for w in waiting.pop(ts):
                push(heap, (t, prio[w], w))
    if placed < n:
        need = footprint(workload, sets, mapping, copy).elements
        raise InputError(_deadlock_message(workload, sets, rule, cap, need, waiting, start, remaining, occ, tile, elem,
                                           layer))
    st = np.asarray(start, dtype=np.int64)
    return to_schedule(workload, hw, mapping, sets, copy, st, st + sets.duration, name=NAME, model=model,
                       info={"buffer_elements": None if cap == float("inf") else int(cap), "buffer_rule": rule})


def _deadlock_message(workload: Workload, sets: SetGraph, rule: str, cap: int, need: int, waiting: dict, start: list,
                      remaining: list, occ: list, tile: np.ndarray, elem: np.ndarray, layer: np.ndarray) -> str:
    """Why the back-pressure rule cannot finish: the first blocked tile, what waits and what fills it."""
    st = np.asarray(start)
    left = int((st < 0).sum())
    names = [lay.name for lay in workload.layers]
    if waiting:
        t = min(waiting)
        s = min(waiting[t])
        held = (st >= 0) & (np.asarray(remaining) > 0) & (tile == t) & (elem > 0)
        held_layers = sorted({names[int(x)] for x in layer[held]})
        li = int(layer[s])
        who = (f"{names[li]} set {s - int(sets.offset[li])} waits for {int(elem[s]):,} elements on tile {t}, which "
               f"holds {occ[t]:,} of {cap:,} (outputs of {', '.join(held_layers[:4])} whose readers cannot start)")
    else:
        who = "no set can start"
    return (f"{NAME} ({rule} rule) cannot finish with a buffer of {cap:,} elements per tile ({left:,} of {sets.num_sets:,} sets "
            f"left): {who}; the least any schedule needs is {need:,}, this rule needs more here: try a larger "
            "buffer.elements_per_tile")


def schedule(problem: Problem, options: Options) -> Result:
    """Registry entry: the hardware file's buffer capacity (a stream: on the unrolled set graph, inference k's
    outputs held until inference k's readers start)."""
    p = problem
    if p.is_stream:
        from cimopt.schedulers.unrolled import from_unrolled, unroll

        big = unroll(p.sets, p.inferences, p.arrival_interval)
        return Result(from_unrolled(p, schedule_backpressure(p.workload, p.hardware, p.mapping, big, model=p.model)))
    return Result(schedule_backpressure(p.workload, p.hardware, p.mapping, p.sets, model=p.model))
