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

The traffic model is the simulator's NoC rule under the list schedulers' copy choice (set i of a layer on
copy i mod D): a set sends all its outputs (`Hardware.transfer_bytes(elements)`) once to every other home
tile holding a copy that runs one of its dependent sets. The search scores copy pairs (each message counted
per destination copy, fast); the final choice is made on the exact per-tile count (`traffic`).
"""

from __future__ import annotations

import numpy as np

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.sets import SetGraph
from cimopt.workload import Workload

PLACEMENTS = ("sequential", "optimized")
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


def place(workload: Workload | None, sets: SetGraph, hw: Hardware, mapping: Mapping, strategy: str = "optimized", *,
          seed: int = 0, max_evaluations: int = MAX_EVALUATIONS, latency_guard: bool = True) -> Mapping:
    """The mapping with its copies placed by `strategy` (`PLACEMENTS`); copies and crossbars unchanged.
    `latency_guard` (needs `workload`): never a placement on which CLSA-CIM is slower than on sequential."""
    if strategy not in PLACEMENTS:
        raise InputError(f"unknown placement {strategy!r} (choose from {', '.join(PLACEMENTS)})")
    first, size = _copy_nodes(mapping)
    ppt, tiles = hw.pes_per_tile, mapping.budget.tiles
    if int(size.sum()) > tiles * ppt:
        raise InputError(f"mapping needs {int(size.sum())} PEs, {tiles} tiles of {ppt} hold {tiles * ppt}")
    rowmajor = np.arange(tiles, dtype=np.int64)
    sequential = Mapping(mapping.budget, mapping.crossbars, mapping.copies,
                         _placement_of(np.arange(len(size)), size, rowmajor, ppt, first), mapping.strategy)
    if strategy == "sequential" or len(size) < 2 or tiles < 2 or len(sets.src) == 0:
        return sequential
    src, dst, nbytes, node = _messages(sets, hw, mapping)
    a, b = node[src], dst
    same = a == b
    a, b, w = a[~same], b[~same], nbytes[~same]
    # aggregate per copy pair: the search's score
    n = len(size)
    pair, inv = np.unique(a * n + b, return_inverse=True)
    pa, pb, pw = pair // n, pair % n, np.bincount(inv, weights=w).astype(np.int64)

    def homes(order: np.ndarray, tile_order: np.ndarray) -> np.ndarray:
        start = np.empty(n, dtype=np.int64)
        start[order] = np.cumsum(size[order]) - size[order]
        return tile_order[start // ppt]

    def score(order: np.ndarray, tile_order: np.ndarray) -> int:
        h = homes(order, tile_order)
        return int((pw * hw.hops(h[pa], h[pb], tiles)).sum())

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
    return found if traffic(sets, hw, found) < traffic(sets, hw, sequential) else sequential
