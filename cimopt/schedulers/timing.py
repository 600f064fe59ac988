"""The set-level timing rules every scheduler and bound shares (docs/model.md, "Time model").

A set runs on one copy of its layer; its outputs leave from that copy's home tile. A dependency edge
`src -> dst` lets `dst` start `lag` cycles (the GPEU latency on the path, from `sets.build_sets`) plus the NoC
transfer between the two copies' home tiles after `src` ends; `release[s]` is the earliest start from the
graph input. The simulator checks the same rules on its own (it shares only the hop metric `Hardware.hops`).
"""

from __future__ import annotations

import numpy as np

from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.sets import SetGraph


def home_tiles(sets: SetGraph, mapping: Mapping, copy: np.ndarray) -> np.ndarray:
    """Home tile of the copy that runs each set (global set order)."""
    table = [np.asarray(mapping.home_tiles(li), dtype=np.int64) for li in range(len(sets.layers))]
    return np.concatenate([table[li][copy[sets.offset[li]:sets.offset[li + 1]]] for li in range(len(sets.layers))]
                          or [np.zeros(0, np.int64)])


def transfer_cycles(hw: Hardware, mapping: Mapping, tile_a: np.ndarray, tile_b: np.ndarray) -> np.ndarray:
    """NoC latency between tiles: `noc.hop_cycles` times the hop distance on the mesh."""
    if hw.noc_hop_cycles == 0:
        return np.zeros(np.broadcast(tile_a, tile_b).shape, dtype=np.int64)
    hops = hw.hops(np.asarray(tile_a, np.int64), np.asarray(tile_b, np.int64), mapping.budget.tiles)
    return hops.astype(np.int64) * hw.noc_hop_cycles


def edge_lags(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray) -> np.ndarray:
    """Per dependency edge: GPEU lag plus NoC transfer between the copies that run its two sets."""
    tiles = home_tiles(sets, mapping, copy)
    return sets.lag + transfer_cycles(hw, mapping, tiles[sets.src], tiles[sets.dst])


def min_transfer_lags(sets: SetGraph, hw: Hardware, mapping: Mapping | None) -> np.ndarray:
    """Per edge: GPEU lag plus the least NoC transfer between any copy of its source and destination layers
    (what any choice of copies must pay at least; `mapping=None`: no NoC cost known, GPEU lag only)."""
    if mapping is None or hw.noc_hop_cycles == 0 or len(sets.src) == 0:
        return sets.lag.copy()
    ls, ld = sets.layer_of(sets.src), sets.layer_of(sets.dst)
    n = len(sets.layers)
    table = np.zeros((n, n), dtype=np.int64)
    for a, b in set(zip(ls.tolist(), ld.tolist(), strict=True)):
        ta = np.asarray(mapping.home_tiles(a), dtype=np.int64)
        tb = np.asarray(mapping.home_tiles(b), dtype=np.int64)
        table[a, b] = int(transfer_cycles(hw, mapping, ta[:, None], tb[None, :]).min())
    return sets.lag + table[ls, ld]
