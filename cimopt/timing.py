"""The set-level timing rules every scheduler and bound shares (docs/model.md, "Time model").

A set runs on one copy of its layer; its outputs leave from that copy's home tile. A dependency edge
`src -> dst` lets `dst` start `lag` cycles (the GPEU latency on the path, from `sets.build_sets`) plus the NoC
transfer between the two copies' home tiles after `src` ends; `release[s]` is the earliest start from the
graph input. A transfer between two different tiles costs `noc.hop_cycles * hops` plus the serialisation of
the producer set's outputs, `ceil(bytes / noc.link_bytes_per_cycle)` with `bytes = ceil(elements * bits / 8)`;
between copies on the same tile it costs nothing (no NoC). The simulator checks the same rules on its own (it
shares only the hop metric `Hardware.hops` and the arithmetic `Hardware.serialise_cycles`).
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


def storage_tiles(sets: SetGraph, mapping: Mapping, copy: np.ndarray) -> np.ndarray:
    """The tile that buffers each set's outputs (global set order): set i of layer l run on copy c goes to
    `mapping.storage_tiles(l, c)[(i // D_l + c) % n_c]`, the copy's storage tiles in turn (for round-robin
    copies, a copy's k-th set to its (k + c)-th storage tile, cyclically: the D_l sets that run together go to
    different positions); without `mapping.storage`, its home tile."""
    layer = sets.layer_of(np.arange(sets.num_sets))
    return storage_of(mapping, layer, copy, np.arange(sets.num_sets) - sets.offset[layer])


def storage_of(mapping: Mapping, layer: np.ndarray, copy: np.ndarray, index: np.ndarray) -> np.ndarray:
    """`storage_tiles` for jobs given by layer, copy and index within the layer (a stream: counted over the
    inferences before, k * sets of the layer + the set's index)."""
    out = np.zeros(len(layer), np.int64)
    for li, d in enumerate(mapping.copies):
        sel = np.flatnonzero(layer == li)
        if not len(sel):
            continue
        spans = [mapping.storage_tiles(li, c) for c in range(d)]
        table = np.full((d, max(len(t) for t in spans)), -1, np.int64)
        for c, t in enumerate(spans):
            table[c, : len(t)] = t
        c = copy[sel]
        n = np.asarray([len(t) for t in spans], np.int64)[c]
        out[sel] = table[c, (index[sel] // d + c) % n]
    return out


def transfer_cycles(hw: Hardware, mapping: Mapping, tile_a: np.ndarray, tile_b: np.ndarray,
                    elements: np.ndarray | int = 0) -> np.ndarray:
    """NoC latency of sending `elements` activation elements from tile a to tile b (numpy broadcast):
    `noc.hop_cycles` times the hop distance on the mesh, plus their serialisation on a link; 0 on one tile."""
    shape = np.broadcast(tile_a, tile_b, elements).shape
    if not hw.noc_costs:
        return np.zeros(shape, dtype=np.int64)
    hops = np.broadcast_to(hw.hops(np.asarray(tile_a, np.int64), np.asarray(tile_b, np.int64),
                                   mapping.budget.tiles), shape).astype(np.int64)
    ser = np.asarray(hw.serialise_cycles(np.asarray(elements, np.int64)), np.int64)
    return hops * hw.noc_hop_cycles + np.where(hops > 0, ser, 0)


def edge_lags(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray) -> np.ndarray:
    """Per dependency edge: GPEU lag plus NoC transfer of the source set's outputs between the copies that
    run its two sets; when the source set is buffered on another tile than its copy's home (`storage_tiles`),
    by way of that tile: home -> storage, then storage -> reader."""
    tiles = home_tiles(sets, mapping, copy)
    el = sets.elements[sets.src]
    if mapping.storage is None:
        return sets.lag + transfer_cycles(hw, mapping, tiles[sets.src], tiles[sets.dst], el)
    store = storage_tiles(sets, mapping, copy)
    return (sets.lag + transfer_cycles(hw, mapping, tiles[sets.src], store[sets.src], el)
            + transfer_cycles(hw, mapping, store[sets.src], tiles[sets.dst], el))


def min_hops(sets: SetGraph, hw: Hardware, mapping: Mapping, ls: np.ndarray, ld: np.ndarray) -> np.ndarray:
    """Per (source layer, destination layer) pair given as arrays: the fewest hops between any copy of one
    and any copy of the other (0 when two of their copies share a home tile)."""
    n = len(sets.layers)
    table = np.zeros((n, n), dtype=np.int64)
    for a, b in set(zip(ls.tolist(), ld.tolist(), strict=True)):
        ta = np.asarray(mapping.home_tiles(a), dtype=np.int64)
        tb = np.asarray(mapping.home_tiles(b), dtype=np.int64)
        table[a, b] = int(hw.hops(ta[:, None], tb[None, :], mapping.budget.tiles).min())
    return table[ls, ld]


def min_transfer_lags(sets: SetGraph, hw: Hardware, mapping: Mapping | None) -> np.ndarray:
    """Per edge: GPEU lag plus the least NoC transfer between any copy of its source and destination layers
    (what any choice of copies must pay at least; `mapping=None`: no NoC cost known, GPEU lag only). The
    transfer grows with the hops, so the fewest hops give the least transfer."""
    if mapping is None or not hw.noc_costs or len(sets.src) == 0:
        return sets.lag.copy()
    hops = min_hops(sets, hw, mapping, sets.layer_of(sets.src), sets.layer_of(sets.dst))
    ser = np.asarray(hw.serialise_cycles(sets.elements[sets.src]), np.int64)
    return sets.lag + hops * hw.noc_hop_cycles + np.where(hops > 0, ser, 0)
