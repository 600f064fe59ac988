"""Copy placement: which tiles hold the crossbars of every copy (a decision made before scheduling).

- `sequential` (the default): crossbars fill PEs in order, layer by layer, copy by copy (crossbar k on tile
  `k // pes_per_tile`).
- `optimized`: cuts the NoC traffic, **bytes x hops**. Copies keep their crossbars contiguous; a placement is
  an order of the copies plus an order of the tiles, and crossbars fill the tiles in those orders (so no tile
  ever holds more than `pes_per_tile` crossbars). The search starts from sequential (and from the same order
  on a snake walk of the mesh), then moves copies (swap two, or move one before another) while the traffic
  drops, in a seeded order, within a fixed number of evaluations: deterministic, and never worse than
  sequential since only improvements are accepted and sequential is a candidate. The objective is traffic,
  not latency, and a placement with less traffic can delay a critical transfer: with `latency_guard` (on by
  default) a move that lowers the traffic is accepted only if CLSA-CIM's schedule on it is no slower than
  on sequential, so the result is never slower under CLSA-CIM either. The guard runs CLSA-CIM at most
  `latency_checks(sets)` times (fewer on large set graphs: a deterministic budget); the search stops there.

- `buffer`: for finite tile buffers (docs/model.md, "Buffer-aware placement"). Each layer's buffer need is
  estimated at row sets (rows are the unit of line buffers): the most of its outputs that one set reads at its
  start plus what must still be held then in CLSA-CIM's copy order (the hold bound's sets, skip connections
  included); a copy carries its layer's need divided by the layer's copies. Copies larger than a tile are laid
  out contiguously first (their sets are buffered on all their tiles in turn); the others go, largest need
  first, to the tile with room for their crossbars that carries the least need so far, so that the copies of a
  buffer-heavy layer spread over tiles (and its consecutive rows, round robin over its copies, over their
  buffers). The result is kept only if it lowers the per-tile overload (see `buffer_score`) against sequential.
- `auto` (what `prepare` uses by default): `buffer` when the chip's tile buffers are finite, else `sequential`.

The traffic model is the simulator's NoC rule under the list schedulers' copy choice (set i of a layer on
copy i mod D): a set sends all its outputs (`Hardware.transfer_bytes(elements)`) once to every other home
tile holding a copy that runs one of its dependent sets. The search scores copy pairs (each message counted
per destination copy, fast); the final choice is made on the exact per-tile count (`traffic`).

Under link contention (`noc.contention`) the objective is contention-aware: first the load of the most loaded
link (the cycles its messages hold it, XY routes, `link_load`), then bytes x hops; compared
lexicographically, so `optimized` is never worse than sequential on it, and the latency guard runs the
contention-aware CLSA-CIM.
"""

from __future__ import annotations

import numpy as np

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.sets import SetGraph
from cimopt.workload import Workload

PLACEMENTS = ("sequential", "optimized", "buffer")
CHOICES = (*PLACEMENTS, "auto")
MAX_EVALUATIONS = 20_000
MAX_LATENCY_CHECKS = 200


def latency_checks(sets: SetGraph) -> int:
    """How many CLSA-CIM runs the latency guard may spend: about 2 million dependency edges' worth of list
    scheduling, between 8 and `MAX_LATENCY_CHECKS`."""
    return int(min(MAX_LATENCY_CHECKS, max(8, 2_000_000 // max(len(sets.src), 1))))


def _copy_nodes(mapping: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """First copy-node index of every layer, and the crossbars of every copy node (layer order, copy order)."""
    first = np.zeros(len(mapping.copies) + 1, dtype=np.int64)
    first[1:] = np.cumsum(mapping.copies)
    size = np.repeat(np.asarray(mapping.crossbars, np.int64), np.asarray(mapping.copies, np.int64))
    return first, size


def _messages(sets: SetGraph, hw: Hardware, mapping: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (source set, destination copy) pair with a dependency: source set, destination copy node, bytes."""
    first, _ = _copy_nodes(mapping)
    layer = sets.layer_of(np.arange(sets.num_sets))
    local = np.arange(sets.num_sets) - sets.offset[layer]
    node = first[layer] + local % np.asarray(mapping.copies, np.int64)[layer]  # round robin: set i on copy i mod D
    key = np.unique(sets.src * (int(node.max(initial=0)) + 1) + node[sets.dst])
    src, dst = key // (int(node.max(initial=0)) + 1), key % (int(node.max(initial=0)) + 1)
    return src, dst, np.asarray(hw.transfer_bytes(sets.elements[src]), np.int64), node


def traffic(sets: SetGraph, hw: Hardware, mapping: Mapping) -> int:
    """Bytes x hops of every NoC message under round-robin copies (the objective `optimized` minimizes)."""
    src, dst, nbytes, node = _messages(sets, hw, mapping)
    homes = np.asarray([t for li in range(len(mapping.copies)) for t in mapping.home_tiles(li)], np.int64)
    tiles = max(mapping.budget.tiles, 1)
    key = np.unique(src * tiles + homes[dst])  # once per (source set, destination tile)
    s, t = key // tiles, key % tiles
    hops = hw.hops(homes[node[s]], t, mapping.budget.tiles)
    return int((np.asarray(hw.transfer_bytes(sets.elements[s]), np.int64) * hops).sum())


def link_load(sets: SetGraph, hw: Hardware, mapping: Mapping) -> int:
    """Cycles the most loaded link must carry under round-robin copies (the sum of its messages' `ser`)."""
    from cimopt.list_scheduling import round_robin_copies
    from cimopt.messages import link_loads, round_robin_messages
    from cimopt.routing import Mesh

    msg = round_robin_messages(sets, hw, mapping, round_robin_copies(sets, mapping))
    return int(link_loads(Mesh.of(hw, mapping.budget.tiles), msg).max(initial=0))


def objective(sets: SetGraph, hw: Hardware, mapping: Mapping) -> tuple[int, int]:
    """What `optimized` minimizes, exactly: (most loaded link under contention, else 0; bytes x hops)."""
    return (link_load(sets, hw, mapping) if hw.noc_contention else 0), traffic(sets, hw, mapping)


def _snake(rows: int, cols: int, tiles: int) -> np.ndarray:
    """Tiles in boustrophedon order (left to right, then right to left), so consecutive tiles are neighbours."""
    grid = np.arange(rows * cols).reshape(rows, cols)
    grid[1::2] = grid[1::2, ::-1]
    order = grid.ravel()
    return order[order < tiles]


def _placement_of(order: np.ndarray, size: np.ndarray, tile_order: np.ndarray, ppt: int, first: np.ndarray) -> tuple:
    """The Mapping.placement of copy nodes laid out in `order` over tiles in `tile_order`."""
    start = np.zeros(len(size), dtype=np.int64)
    start[order] = np.cumsum(size[order]) - size[order]
    out = []
    for li in range(len(first) - 1):
        out.append(tuple(tuple(int(tile_order[(int(start[c]) + i) // ppt]) for i in range(int(size[c])))
                         for c in range(int(first[li]), int(first[li + 1]))))
    return tuple(out)


def _clsa_latency(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph) -> int:
    from cimopt.list_scheduling import list_schedule

    s = list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa")
    return int(s.end.max()) if len(s) else 0


def resolve(strategy: str, hw: Hardware) -> str:
    """`auto` as what it means on this chip: `buffer` with finite tile buffers, else `sequential`."""
    if strategy not in CHOICES:
        raise InputError(f"unknown placement {strategy!r} (choose from {', '.join(CHOICES)})")
    if strategy == "auto":
        return "buffer" if hw.buffer_elements is not None else "sequential"
    return strategy


def place(workload: Workload | None, sets: SetGraph, hw: Hardware, mapping: Mapping, strategy: str = "optimized", *,
          seed: int = 0, max_evaluations: int = MAX_EVALUATIONS, latency_guard: bool = True) -> Mapping:
    """The mapping with its copies placed by `strategy` (`PLACEMENTS`); copies and crossbars unchanged.
    `latency_guard` (needs `workload`): never a placement on which CLSA-CIM is slower than on sequential."""
    strategy = resolve(strategy, hw)
    first, size = _copy_nodes(mapping)
    ppt, tiles = hw.pes_per_tile, mapping.budget.tiles
    if int(size.sum()) > tiles * ppt:
        raise InputError(f"mapping needs {int(size.sum())} PEs, {tiles} tiles of {ppt} hold {tiles * ppt}")
    rowmajor = np.arange(tiles, dtype=np.int64)
    sequential = Mapping(mapping.budget, mapping.crossbars, mapping.copies,
                         _placement_of(np.arange(len(size)), size, rowmajor, ppt, first), mapping.strategy)
    if strategy == "sequential" or len(size) < 2 or tiles < 2 or len(sets.src) == 0:
        return sequential
    if strategy == "buffer":
        return place_buffer(workload, sets, hw, mapping, sequential)
    src, dst, nbytes, node = _messages(sets, hw, mapping)
    a, b = node[src], dst
    same = a == b
    a, b, w = a[~same], b[~same], nbytes[~same]
    # aggregate per copy pair: the search's score
    n = len(size)
    pair, inv = np.unique(a * n + b, return_inverse=True)
    pa, pb, pw = pair // n, pair % n, np.bincount(inv, weights=w).astype(np.int64)
    if hw.noc_contention:  # the link cycles per copy pair: each message's own ceil(bytes / bandwidth)
        from cimopt.routing import Mesh, routes

        mesh = Mesh.of(hw, tiles)
        pser = np.bincount(inv, weights=np.asarray(hw.serialise_cycles(sets.elements[src[~same]]), np.int64)
                           ).astype(np.int64)

    def homes(order: np.ndarray, tile_order: np.ndarray) -> np.ndarray:
        start = np.empty(n, dtype=np.int64)
        start[order] = np.cumsum(size[order]) - size[order]
        return tile_order[start // ppt]

    def score(order: np.ndarray, tile_order: np.ndarray) -> tuple[int, int]:
        h = homes(order, tile_order)
        hb = int((pw * hw.hops(h[pa], h[pb], tiles)).sum())
        if not hw.noc_contention:
            return 0, hb
        ptr, links = routes(mesh, h[pa], h[pb])
        return int(np.bincount(links, weights=np.repeat(pser, np.diff(ptr))).max(initial=0)), hb

    guard = latency_guard and workload is not None
    limit = _clsa_latency(workload, hw, sequential, sets) if guard else 0
    checks = [latency_checks(sets) if guard else 0]

    def allowed(order: np.ndarray, tile_order: np.ndarray) -> bool | None:
        """Whether CLSA-CIM is no slower on this placement (None: the guard's budget is spent)."""
        if not guard:
            return True
        if checks[0] <= 0:
            return None
        checks[0] -= 1
        m = Mapping(mapping.budget, mapping.crossbars, mapping.copies,
                    _placement_of(order, size, tile_order, ppt, first), mapping.strategy)
        return _clsa_latency(workload, hw, m, sets) <= limit

    rng = np.random.default_rng(seed)
    best_order, best_tiles = np.arange(n), rowmajor
    best = score(best_order, best_tiles)
    snake = _snake(*hw.mesh_shape(tiles), tiles)
    if score(best_order, snake) < best and allowed(best_order, snake):
        best_tiles, best = snake, score(best_order, snake)
    evals, improved = 2, True
    while improved and evals < max_evaluations:
        improved = False
        if n * (n - 1) <= max_evaluations:
            moves = rng.permutation(np.array([(i, j) for i in range(n) for j in range(n) if i != j]))
        else:  # too many to try all: a seeded sample
            moves = rng.integers(0, n, size=(max_evaluations, 2))
            moves = moves[moves[:, 0] != moves[:, 1]]
        for i, j in moves.tolist():
            if evals >= max_evaluations:
                break
            cand = best_order.copy()
            if i < j:  # swap the copies at positions i and j
                cand[i], cand[j] = cand[j], cand[i]
            else:  # move the copy at position i to just before position j
                cand = np.insert(np.delete(cand, i), j, best_order[i])
            s = score(cand, best_tiles)
            evals += 1
            if s < best:
                ok = allowed(cand, best_tiles)
                if ok is None:  # the guard's budget is spent: stop here
                    evals = max_evaluations
                    break
                if ok:
                    best, best_order, improved = s, cand, True
    found = Mapping(mapping.budget, mapping.crossbars, mapping.copies,
                    _placement_of(best_order, size, best_tiles, ppt, first), mapping.strategy)
    return found if objective(sets, hw, found) < objective(sets, hw, sequential) else sequential


def layer_needs(workload: Workload, hw: Hardware, mapping: Mapping) -> tuple[np.ndarray, object, np.ndarray]:
    """Per MVM layer, its buffer need at row sets (module docstring, `buffer`): max over sets u of the layer's
    outputs u reads plus those held at u's start in CLSA-CIM's copy order, plus one set per copy (the outputs
    its copies finish together); also the row sets and their copies."""
    from cimopt.analysis.buffers import held_sums, set_elements
    from cimopt.list_scheduling import round_robin_copies
    from cimopt.sets import build_sets

    rows = build_sets(workload, hw, "row")
    copy = round_robin_copies(rows, mapping)
    elem = set_elements(workload, rows)
    layer = rows.layer_of(np.arange(rows.num_sets))
    n_layers = len(workload.layers)
    reads = np.zeros((rows.num_sets, n_layers))
    np.add.at(reads, (rows.dst, layer[rows.src]), elem[rows.src])
    need = reads.max(axis=0, initial=0)
    for c0, sums, groups in held_sums(rows, copy, elem, layer):
        block = sums + reads[c0:c0 + len(sums)][:, groups]
        need[groups] = np.maximum(need[groups], block.max(axis=0))
    # and every copy's set in flight: a layer's D copies finish D sets at about the same time
    biggest = np.zeros(n_layers)
    np.maximum.at(biggest, layer, elem)
    return need + np.asarray(mapping.copies) * biggest, rows, copy


def buffer_score(workload: Workload, hw: Hardware, mapping: Mapping, rows, copy: np.ndarray,
                 need: np.ndarray) -> tuple[int, int, int]:
    """How far a placement's tiles are over their capacity at row sets, summed over tiles: (what one set's
    inputs need on a tile beyond it: no schedule of these sets fits there; what must be held at once in
    CLSA-CIM's copy order beyond it: spills, or waits; the layers' needs (`layer_needs`), each copy's share
    spread over its storage tiles, beyond it: what a schedule at full speed would hold)."""
    from cimopt.analysis.buffers import held_sums, set_elements
    from cimopt.timing import storage_tiles

    cap = hw.buffer_elements
    n_tiles = max(mapping.budget.tiles, 1)
    elem = set_elements(workload, rows)
    tile = storage_tiles(rows, mapping, copy)
    per = np.zeros((rows.num_sets, n_tiles))
    np.add.at(per, (rows.dst, tile[rows.src]), elem[rows.src])
    inputs = per.max(axis=0, initial=0)
    held = np.zeros(n_tiles)
    for _, sums, groups in held_sums(rows, copy, elem, tile):
        held[groups] = np.maximum(held[groups], sums.max(axis=0))
    load = np.zeros(n_tiles)
    for li, d in enumerate(mapping.copies):
        for c in range(d):
            st = mapping.storage_tiles(li, c)
            np.add.at(load, np.asarray(st), need[li] / d / len(st))
    return (int(np.maximum(inputs - cap, 0).sum()), int(np.maximum(held - cap, 0).sum()),
            int(np.maximum(load - cap, 0).sum()))


def _lend_for_footprints(workload: Workload, rows, copy: np.ndarray, mapping: Mapping, place_of: dict, store: dict,
                         lend, cap: int, max_lends: int = 400) -> None:
    """While some row set must find more of its inputs on one tile than the tile holds, lend a storage tile to the
    producer copy that puts most of them there (`lend`); stop when none is over or no copy can take one more."""
    from cimopt.analysis.buffers import set_elements
    from cimopt.timing import storage_tiles

    elem = set_elements(workload, rows)
    n_tiles = max(mapping.budget.tiles, 1)
    layer = rows.layer_of(np.arange(rows.num_sets))
    full: set[tuple[int, int]] = set()
    for _ in range(max_lends):
        storage = tuple(tuple(store[(li, c)] for c in range(d)) for li, d in enumerate(mapping.copies))
        tile = storage_tiles(rows, Mapping(mapping.budget, mapping.crossbars, mapping.copies, mapping.placement,
                                           mapping.strategy, storage), copy)
        key = rows.dst * n_tiles + tile[rows.src]
        sums = np.bincount(key, weights=elem[rows.src], minlength=rows.num_sets * n_tiles)
        k = int(np.argmax(sums))
        if sums[k] <= cap:
            return
        u, t = divmod(k, n_tiles)
        e = np.flatnonzero((rows.dst == u) & (tile[rows.src] == t))
        src = rows.src[e]
        by_copy: dict[tuple[int, int], int] = {}
        for q in src.tolist():
            lc = (int(layer[q]), int(copy[q]))
            by_copy[lc] = by_copy.get(lc, 0) + int(elem[q])
        lent = False
        for lc in sorted(by_copy, key=lambda lc: (-by_copy[lc], lc)):
            if lc in full:
                continue
            if lend(lc):
                lent = True
                break
            full.add(lc)
        if not lent:
            return


def place_buffer(workload: Workload, sets: SetGraph, hw: Hardware, mapping: Mapping, sequential: Mapping,
                 max_storage: int = 16) -> Mapping:
    """The `buffer` placement (module docstring): copies packed by buffer need, then storage tiles lent to the
    copies whose need their own tiles cannot hold; kept if it beats sequential (`buffer_score`)."""
    if hw.buffer_elements is None or workload is None:
        return sequential
    cap = hw.buffer_elements
    need, rows, copy = layer_needs(workload, hw, sequential)
    ppt, tiles = hw.pes_per_tile, mapping.budget.tiles
    free = np.full(tiles, ppt, np.int64)
    load = np.zeros(tiles)
    place_of: dict[tuple[int, int], tuple[int, ...]] = {}
    share = {(li, c): need[li] / d for li, d in enumerate(mapping.copies) for c in range(d)}
    # copies larger than a tile: contiguous, from the first tile on, in layer order
    k = 0
    for li, (xb, d) in enumerate(zip(mapping.crossbars, mapping.copies, strict=True)):
        if xb <= ppt:
            continue
        for c in range(d):
            span = tuple(int((k + i) // ppt) for i in range(xb))
            k += xb
            place_of[(li, c)] = span
            for t in span:
                free[t] -= 1
    small = [(li, c) for li, (xb, d) in enumerate(zip(mapping.crossbars, mapping.copies, strict=True)) if xb <= ppt
             for c in range(d)]
    small.sort(key=lambda lc: (-share[lc], lc[0], lc[1]))
    for li, c in small:
        xb = int(mapping.crossbars[li])
        fits = np.flatnonzero(free >= xb)
        if len(fits):
            t = int(fits[np.argmin(load[fits])])
            span = (t,) * xb
            free[t] -= xb
        else:  # no tile has room for the whole copy: its crossbars on the least loaded tiles with room
            span_l: list[int] = []
            for t in np.argsort(load, kind="stable").tolist():
                take = int(min(free[t], xb - len(span_l)))
                span_l += [t] * take
                free[t] -= take
                if len(span_l) == xb:
                    break
            span = tuple(span_l)
        place_of[(li, c)] = span
        load[span[0]] += share[(li, c)]
    # storage: each copy on its home tile, then tiles lent to the copies on overloaded tiles
    store = {lc: (span[0],) for lc, span in place_of.items()}
    load[:] = 0
    for lc, st in store.items():
        load[st[0]] += share[lc]

    def lend(lc: tuple[int, int], worse_than: float | None = None) -> bool:
        """One more storage tile for copy lc: the least loaded, then nearest to its home; False if there is
        none, or (with `worse_than`) if it would only move the overload."""
        cand = [t for t in range(tiles) if t not in store[lc]]
        if not cand or len(store[lc]) >= max_storage:
            return False
        dist = hw.hops(np.asarray(cand), place_of[lc][0], tiles)
        t_new = cand[int(np.lexsort((dist, load[cand]))[0])]
        if worse_than is not None and load[t_new] + share[lc] / (len(store[lc]) + 1) >= worse_than:
            return False
        for t in store[lc]:
            load[t] -= share[lc] / len(store[lc])
        store[lc] = (*store[lc], t_new)
        for t in store[lc]:
            load[t] += share[lc] / len(store[lc])
        return True

    for _ in range(4 * len(store)):  # the estimated needs
        over = int(np.argmax(load))
        if load[over] <= cap:
            break
        lender = [lc for lc, st in store.items() if over in st and len(st) < max_storage]
        if not lender or not lend(max(lender, key=lambda x: (share[x] / len(store[x]), -x[0], -x[1])), load[over]):
            break
    _lend_for_footprints(workload, rows, copy, mapping, place_of, store, lend, cap)
    placement = tuple(tuple(place_of[(li, c)] for c in range(d)) for li, d in enumerate(mapping.copies))
    storage = tuple(tuple(store[(li, c)] for c in range(d)) for li, d in enumerate(mapping.copies))
    if all(len(t) == 1 for layer in storage for t in layer):
        storage = None  # every copy on its home tile: the default
    found = Mapping(mapping.budget, mapping.crossbars, mapping.copies, placement, mapping.strategy, storage)
    before = buffer_score(workload, hw, sequential, rows, copy, need)
    after = buffer_score(workload, hw, found, rows, copy, need)
    return found if after < before else sequential
