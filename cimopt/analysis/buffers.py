"""Finite tile buffers at set level: what each set holds, on which tile, for how long (docs/model.md, "Buffers").

The rule (the simulator checks it per pixel): an MVM set's outputs, `pixels * channels` elements, are held on
the home tile of its copy from the set's end until the latest start of any set that reads them (its
successors in the set graph, through GPEU ops); a set without successors holds nothing. Per set this is
conservative against the per-pixel rule: a pixel's readers are a subset of its set's successors, so a
schedule within capacity here is within capacity in the simulator.

Two lower bounds on the capacity a schedule needs: `footprint` (one set's inputs on one tile) and
`hold_bound` (what must be held at once in CLSA-CIM's copy order); `check_capacity` turns the first into an
error message, the buffer-aware scheduler (`backpressure`) both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from cimopt.errors import InputError
from cimopt.mapping import Mapping
from cimopt.sets import SetGraph
from cimopt.timing import storage_tiles
from cimopt.workload import Workload

UNLIMITED = None


def set_elements(workload: Workload, sets: SetGraph) -> np.ndarray:
    """Elements each set's outputs occupy while held: pixels x channels, 0 for sets nobody reads."""
    channels = np.concatenate([np.full(ls.count, lay.out.channels, np.int64)
                               for lay, ls in zip(workload.layers, sets.layers, strict=True)] or [np.zeros(0, np.int64)])
    pixels = np.concatenate([ls.pixels for ls in sets.layers] or [np.zeros(0, np.int64)]).astype(np.int64)
    read = np.zeros(sets.num_sets, dtype=bool)
    read[sets.src] = True
    return np.where(read, pixels * channels, 0)


def last_reads(sets: SetGraph, start: np.ndarray) -> np.ndarray:
    """Per set, the latest start of its successors (-1 for a set without successors)."""
    return _last_reads(sets.src, sets.dst, np.asarray(start, np.int64))


@njit(cache=True)
def _last_reads(src: np.ndarray, dst: np.ndarray, start: np.ndarray) -> np.ndarray:
    last = np.full(len(start), -1, np.int64)
    for e in range(len(src)):
        if start[dst[e]] > last[src[e]]:
            last[src[e]] = start[dst[e]]
    return last


def tile_count(mapping: Mapping, tile: np.ndarray) -> int:
    """Tiles to keep per-tile counts for: the chip's, or more if a home tile lies beyond it."""
    return max(mapping.budget.tiles, int(tile.max()) + 1 if len(tile) else 1)


def tile_peaks(tile: np.ndarray, elements: np.ndarray, hold_from: np.ndarray, hold_to: np.ndarray,
               n_tiles: int) -> np.ndarray:
    """Peak of the sum of `elements` held over half-open intervals [hold_from, hold_to) per tile."""
    peak = np.zeros(max(n_tiles, 0), dtype=np.int64)
    held = (elements > 0) & (hold_to > hold_from)
    if not held.any():
        return peak
    t, a, b, e = tile[held], hold_from[held], hold_to[held], elements[held]
    ev_tile = np.concatenate([t, t])
    ev_time = np.concatenate([a, b])
    ev_delta = np.concatenate([e, -e])
    span = int(ev_time.max()) - int(ev_time.min()) + 1
    if float(n_tiles) * span * 2 < 2.0 ** 62:  # one key: (tile, time, addition after release)
        order = np.argsort(((ev_tile * span + (ev_time - ev_time.min())) << 1) | (ev_delta > 0))
    else:
        order = np.lexsort((ev_delta, ev_time, ev_tile))  # releases before additions at equal times
    cum = np.cumsum(ev_delta[order])  # each tile's events sum to zero: the running sum restarts per tile
    tiles = ev_tile[order]
    first = np.flatnonzero(np.r_[True, tiles[1:] != tiles[:-1]])
    peak[tiles[first]] = np.maximum.reduceat(cum, first)
    return peak


def schedule_peaks(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray, start: np.ndarray,
                   *, reserve: bool = False) -> np.ndarray:
    """Set-level peak per tile of a (copy, start) assignment; `reserve`: space taken from each set's start."""
    end = start + sets.duration
    return tile_peaks(storage_tiles(sets, mapping, copy), set_elements(workload, sets), start if reserve else end,
                      last_reads(sets, start), mapping.budget.tiles)


@dataclass(frozen=True)
class Footprint:
    """A capacity lower bound and where it binds: set `set` of `layer` must find all of its inputs resident on
    `tile` at its start (reason "inputs"), its own outputs alone exceed the buffer ("outputs"), or `tile` holds
    that much when `set` starts in CLSA-CIM's order ("held", `hold_bound`). Per pixel a schedule may do with a
    little less than "inputs": a producer set that ends exactly when its last reader starts holds nothing, and
    a reader needs only the pixels in its window."""

    elements: int
    tile: int
    layer: str
    set: int  # index within its layer
    reason: str  # "inputs", "outputs", or "held" (`hold_bound`: the sets held on `tile` when `set` starts)


def footprint(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray) -> Footprint:
    """The largest per-tile receptive-field footprint of one set (see `Footprint`), for the given copies."""
    elem = set_elements(workload, sets)
    tile = storage_tiles(sets, mapping, copy)
    n = sets.num_sets
    best = Footprint(0, 0, "", 0, "inputs")
    if n == 0:
        return best
    own = int(np.argmax(elem))
    if elem[own] > 0:
        li = int(sets.layer_of(np.array([own]))[0])
        best = Footprint(int(elem[own]), int(tile[own]), workload.layers[li].name, own - int(sets.offset[li]),
                         "outputs")
    if len(sets.src):
        key = sets.dst * max(mapping.budget.tiles, 1) + tile[sets.src]
        if n * max(mapping.budget.tiles, 1) <= 1 << 25:  # dense: one slot per (set, tile)
            uniq = None
            total = np.bincount(key, weights=elem[sets.src].astype(np.float64)).astype(np.int64)
        else:
            uniq, inv = np.unique(key, return_inverse=True)
            total = np.bincount(inv, weights=elem[sets.src].astype(np.float64)).astype(np.int64)
        k = int(np.argmax(total))
        k_key = k if uniq is None else int(uniq[k])
        if total[k] > best.elements:
            dst = k_key // max(mapping.budget.tiles, 1)
            li = int(sets.layer_of(np.array([dst]))[0])
            best = Footprint(int(total[k]), k_key % max(mapping.budget.tiles, 1), workload.layers[li].name,
                             dst - int(sets.offset[li]), "inputs")
    return best


def copy_chain_edges(sets: SetGraph, copy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, next) pairs of consecutive sets on one copy: each copy runs its sets in index (raster) order,
    so `earlier` ends before `next` starts. For round-robin copies: set i -> set i + D_l of layer l."""
    src, dst = [], []
    for li in range(len(sets.layers)):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        if b - a < 2:
            continue
        idx = np.arange(a, b, dtype=np.int64)
        order = idx[np.lexsort((idx, copy[a:b]))]  # by copy, then index
        same = copy[order[1:]] == copy[order[:-1]]
        src.append(order[:-1][same])
        dst.append(order[1:][same])
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src), np.concatenate(dst)


def hold_bound(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray, *,
               max_sets: int = 20000) -> Footprint:
    """A lower bound on the set-level peak (`schedule_peaks(...).max()`, on the returned tile) of every
    schedule that starts each set after its dependency predecessors end (as every scheduler here plans),
    keeps the given copies and runs each copy's sets in index (raster) order: CLSA-CIM, layer-by-layer, the
    buffer-aware list scheduler (`clsa-bp`), with round-robin copies. NOT for schedules that may pick other
    copies or reorder a copy's sets (CP-SAT): there the copy-chain edges below need not hold. Not comparable
    with `footprint` (that counts all of a set's inputs, held until it starts, including those it is the last
    reader of; this counts what the holding rule keeps at once). Above `max_sets` sets (the transitive
    closures below take num_sets^2 bits) it is the max over a sample of sets u (`_sample`, each B(u, T) by
    a search from u, `_held_at`): still a lower bound, perhaps a weaker one.

    Proof. Let G be the dependency edges plus the copy-chain edges (consecutive sets of one copy, i -> i + D_l
    for round-robin copies). Every edge p -> q of G forces end(p) <= start(q) (dependency lags are >= 0; a
    copy runs one set at a time, in order). For a set u let A(u) be its strict ancestors in G and D(u) its
    strict descendants. At the instant start(u): every h in A(u) has ended (end(h) <= start(u)); a set v in
    D(u) starts at or after end(u) = start(u) + duration(u) > start(u). So an h in A(u) with a reader (a
    dependency successor, the sets that read its outputs) in D(u) is held over [end(h), last read of h), an
    interval containing start(u). Per tile T the sum B(u, T) of `set_elements` over such h homed on T is held
    at once at start(u) (releases before additions at equal times do not matter: every interval contains
    start(u) strictly inside its half-open range). The bound is max over u and T; returned as a Footprint
    naming u (`set`, `layer`) and T (`tile`), reason "held".

    Computed with bitsets (Python ints) in index order, which is topological for G (dependency edges go
    from earlier layers to later ones, copy-chain edges forward within a layer): A(u) forwards, and
    backwards P(u) = the sets with a reader in D(u) = union over G-successors w of u of (readers' inputs:
    dependency predecessors of w) | P(w). Then sum per tile over A(u) & P(u).
    """
    n = sets.num_sets
    if n > max_sets:
        return _sampled_hold_bound(workload, sets, mapping, copy)
    best = Footprint(0, 0, "", 0, "held")
    if n == 0 or len(sets.src) == 0:
        return best
    elem = set_elements(workload, sets)
    tile = storage_tiles(sets, mapping, copy)
    top, top_u, top_t = 0, 0, 0
    for c0, sums, groups in held_sums(sets, copy, elem, tile):
        k = int(np.argmax(sums))
        r, t = divmod(k, sums.shape[1])
        if sums[r, t] > top:
            top, top_u, top_t = int(round(sums[r, t])), c0 + r, int(groups[t])
    if top == 0:
        return best
    li = int(sets.layer_of(np.array([top_u]))[0])
    return Footprint(top, top_t, workload.layers[li].name, top_u - int(sets.offset[li]), "held")


def held_bits(sets: SetGraph, copy: np.ndarray) -> list[int]:
    """Per set u, the bitset (a Python int over set indices) of A(u) & P(u) (`hold_bound`'s proof): the sets
    held at u's start in every schedule that keeps these copies and each copy's raster order."""
    n = sets.num_sets
    csrc, cdst = copy_chain_edges(sets, copy)
    src = np.concatenate([sets.src, csrc])
    dst = np.concatenate([sets.dst, cdst])
    if not (src < dst).all():
        raise AssertionError("set index order is not topological for the set graph")
    # G-predecessors per set and G-successors per set, as Python lists (CSR)
    o = np.argsort(dst, kind="stable")
    pred_ptr = np.searchsorted(dst[o], np.arange(n + 1)).tolist()
    pred = src[o].tolist()
    o = np.argsort(src, kind="stable")
    succ_ptr = np.searchsorted(src[o], np.arange(n + 1)).tolist()
    succ = dst[o].tolist()
    # reads[w]: bits of w's dependency predecessors (the sets whose outputs w reads)
    reads = [0] * n
    for p, q in zip(sets.src.tolist(), sets.dst.tolist(), strict=True):
        reads[q] |= 1 << p
    anc = [0] * n
    for v in range(n):
        a = 0
        for p in pred[pred_ptr[v]:pred_ptr[v + 1]]:
            a |= anc[p] | (1 << p)
        anc[v] = a
    held = [0] * n  # anc(u) & P(u)
    below = [0] * n  # reads(w) | P(w): sets with a reader among w and its descendants
    for u in range(n - 1, -1, -1):
        pu = 0
        for w in succ[succ_ptr[u]:succ_ptr[u + 1]]:
            pu |= below[w]
        below[u] = reads[u] | pu
        held[u] = anc[u] & pu
    return held


def held_sums(sets: SetGraph, copy: np.ndarray, elem: np.ndarray, group: np.ndarray):
    """Yield (first row, sums, groups): for chunks of sets u, the `elem`-weighted sums of `held_bits(u)` per
    group id (`group[h]`: a tile, a layer ...), over the groups that hold anything (`groups`, sorted)."""
    n = sets.num_sets
    held = held_bits(sets, copy)
    keep = np.flatnonzero(elem > 0)
    if not len(keep):
        return
    by_group = keep[np.argsort(group[keep], kind="stable")]
    sorted_groups = group[by_group]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    w = elem[by_group].astype(np.float64)
    nbytes = (n + 7) // 8
    chunk = max(1, (1 << 22) // max(n, 1))
    for c0 in range(0, n, chunk):
        rows = held[c0:c0 + chunk]
        if not any(rows):
            continue
        raw = np.frombuffer(b"".join(h.to_bytes(nbytes, "little") for h in rows), dtype=np.uint8)
        bits = np.unpackbits(raw.reshape(len(rows), nbytes), axis=1, count=n, bitorder="little")
        yield c0, np.add.reduceat(bits[:, by_group] * w, starts, axis=1), sorted_groups[starts]


def _sample(sets: SetGraph, rows: int = 6) -> np.ndarray:
    """The sets the sampled hold bound looks at: per layer, the first set of its first `rows` rows of sets
    and of `rows` evenly spaced rows (where skip connections and deep branches make the most wait)."""
    out = []
    for ls, a in zip(sets.layers, sets.offset[:-1].tolist(), strict=False):
        r = np.unique(np.r_[np.arange(min(rows, ls.nrows)), np.linspace(0, ls.nrows - 1, rows).round()]).astype(np.int64)
        out.append(a + r * ls.ncols)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


@njit(cache=True)
def _held_at(u, s_ptr, s_dst, p_ptr, p_src, nxt, prv, tile, elem, n_tiles, seen_d, seen_a, stack):
    """B(u, T) for every tile T (see `hold_bound`): mark u's strict descendants (dependency and copy-chain
    successors), then walk its strict ancestors and add those with a reader among the marked."""
    stamp = u + 1
    top = 0
    stack[top] = u
    top += 1
    while top > 0:
        top -= 1
        v = stack[top]
        for e in range(s_ptr[v], s_ptr[v + 1]):
            w = s_dst[e]
            if seen_d[w] != stamp:
                seen_d[w] = stamp
                stack[top] = w
                top += 1
        w = nxt[v]
        if w >= 0 and seen_d[w] != stamp:
            seen_d[w] = stamp
            stack[top] = w
            top += 1
    sums = np.zeros(n_tiles, np.int64)
    stack[top] = u
    top += 1
    while top > 0:
        top -= 1
        v = stack[top]
        for k in range(p_ptr[v], p_ptr[v + 1] + 1):
            h = p_src[k] if k < p_ptr[v + 1] else prv[v]
            if h < 0 or seen_a[h] == stamp:
                continue
            seen_a[h] = stamp
            stack[top] = h
            top += 1
            if elem[h] > 0:
                for e in range(s_ptr[h], s_ptr[h + 1]):
                    if seen_d[s_dst[e]] == stamp:
                        sums[tile[h]] += elem[h]
                        break
    return sums


def _sampled_hold_bound(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray,
                        sample: np.ndarray | None = None) -> Footprint:
    n = sets.num_sets
    elem = set_elements(workload, sets)
    tile = storage_tiles(sets, mapping, copy)
    csrc, cdst = copy_chain_edges(sets, copy)
    nxt, prv = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    nxt[csrc], prv[cdst] = cdst, csrc
    s_ptr, by_src = sets.csr("src")
    p_ptr, by_dst = sets.csr("dst")
    s_dst, p_src = sets.dst[by_src], sets.src[by_dst]
    n_tiles = tile_count(mapping, tile)
    seen_d, seen_a = np.zeros(n, np.int64), np.zeros(n, np.int64)
    stack = np.empty(n + 1, np.int64)
    best = Footprint(0, 0, "", 0, "held")
    for u in (_sample(sets) if sample is None else sample).tolist():
        sums = _held_at(u, s_ptr, s_dst, p_ptr, p_src, nxt, prv, tile, elem, n_tiles, seen_d, seen_a, stack)
        t = int(np.argmax(sums))
        if sums[t] > best.elements:
            li = int(sets.layer_of(np.array([u]))[0])
            best = Footprint(int(sums[t]), t, workload.layers[li].name, u - int(sets.offset[li]), "held")
    return best


def check_capacity(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray,
                   capacity: int | None) -> Footprint:
    """An InputError if `capacity` is below the footprint (no schedule can make progress); the footprint."""
    fp = footprint(workload, sets, mapping, copy)
    if capacity is not None and capacity < fp.elements:
        what = ("must hold all of its inputs" if fp.reason == "inputs" else "produces")
        raise InputError(
            f"buffer.elements_per_tile = {capacity:,} is too small for {workload.name!r} at {sets.granularity.spec} "
            f"sets: {fp.layer} set {fp.set} {what} {fp.elements:,} elements on tile {fp.tile} at its start; "
            f"the smallest capacity that could work is {fp.elements:,} elements per tile (whole sets, each input "
            "held until its reader starts)")
    return fp


def fits(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray, start: np.ndarray,
         capacity: int | None) -> bool:
    """Whether a (copy, start) assignment keeps every tile within `capacity` under the set-level rule."""
    if capacity is None:
        return True
    return int(schedule_peaks(workload, sets, mapping, copy, start).max(initial=0)) <= capacity
