"""Copy placement: which tiles hold the crossbars of every copy (a decision made before scheduling).

- `sequential` (the default): crossbars fill PEs in order, layer by layer, copy by copy (crossbar k on tile
  `k // pes_per_tile`).
- `optimized`: cuts the NoC traffic, **bytes x hops**. Copies keep their crossbars contiguous; a placement is
  an order of the copies plus an order of the tiles, and crossbars fill the tiles in those orders (so no tile
  ever holds more than `pes_per_tile` crossbars). The search starts from sequential (and from the same order
  on a snake walk of the mesh), then moves copies (swap two, or move one before another) while the traffic
  drops, in a seeded order, within a fixed number of evaluations: deterministic, and never worse than
  sequential since only improvements are accepted and sequential is a candidate. The objective is traffic,
  not latency, and a placement with less traffic can delay a critical transfer: so the result is the
  placement of least traffic among the search's checkpoints (its improvements, sequential included) whose
  CLSA-CIM schedule is no slower than sequential's (`latency_guard`, on by default).

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
CHECKPOINTS = 8  # improvements kept for the latency guard (evenly spaced along the search, the best included)


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
    from cimopt.schedulers.list_scheduling import list_schedule

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

    rng = np.random.default_rng(seed)
    best_order, best_tiles = np.arange(n), rowmajor
    best = score(best_order, best_tiles)
    snake = _snake(*hw.mesh_shape(tiles), tiles)
    if score(best_order, snake) < best:
        best_tiles, best = snake, score(best_order, snake)
    trail = [(best_order, best_tiles)]
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
                best, best_order, improved = s, cand, True
                trail.append((cand, best_tiles))
    picks = sorted({round(i * (len(trail) - 1) / (CHECKPOINTS - 1)) for i in range(CHECKPOINTS)})
    found = [Mapping(mapping.budget, mapping.crossbars, mapping.copies, _placement_of(o, size, t, ppt, first),
                     mapping.strategy) for o, t in (trail[i] for i in picks)]
    base = traffic(sets, hw, sequential)
    ranked = sorted((traffic(sets, hw, m), -k, m) for k, m in enumerate(found) if traffic(sets, hw, m) < base)
    if not latency_guard or workload is None:
        return ranked[0][2] if ranked else sequential
    limit = _clsa_latency(workload, hw, sequential, sets)
    for _, _, m in ranked:
        if _clsa_latency(workload, hw, m, sets) <= limit:
            return m
    return sequential
