"""Finite tile buffers at set level: what each set holds, on which tile, for how long (docs/model.md, "Buffers").

The rule (the simulator checks it per pixel): an MVM set's outputs, `pixels * channels` elements, are held on
the home tile of its copy from the set's end until the latest start of any set that reads them (its
successors in the set graph, through GPEU ops); a set without successors holds nothing. Per set this is
conservative against the per-pixel rule: a pixel's readers are a subset of its set's successors, so a
schedule within capacity here is within capacity in the simulator.

The buffer-aware list scheduler (`backpressure`) uses the stricter "reservation" form of the same rule: a
set's space is taken from its start (when it is placed, so that its outputs will fit), not from its end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.errors import InputError
from cimopt.mapping import Mapping
from cimopt.schedulers.timing import home_tiles
from cimopt.sets import SetGraph
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
    last = np.full(sets.num_sets, -1, dtype=np.int64)
    np.maximum.at(last, sets.src, start[sets.dst])
    return last


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
    order = np.lexsort((ev_delta, ev_time, ev_tile))  # releases before additions at equal times
    cum = np.cumsum(ev_delta[order])  # each tile's events sum to zero: the running sum restarts per tile
    np.maximum.at(peak, ev_tile[order], cum)
    return peak


def schedule_peaks(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray, start: np.ndarray,
                   *, reserve: bool = False) -> np.ndarray:
    """Set-level peak per tile of a (copy, start) assignment; `reserve`: space taken from each set's start."""
    end = start + sets.duration
    return tile_peaks(home_tiles(sets, mapping, copy), set_elements(workload, sets), start if reserve else end,
                      last_reads(sets, start), mapping.budget.tiles)


@dataclass(frozen=True)
class Footprint:
    """The least capacity the buffer-aware rule (whole sets, space taken from a set's start) needs: set `set`
    of `layer` must find all of its inputs resident on `tile` at its start (or its own outputs alone exceed
    the buffer). Per pixel a schedule may do with a little less: a producer set that ends exactly when its
    last reader starts holds nothing, and a reader needs only the pixels in its window."""

    elements: int
    tile: int
    layer: str
    set: int  # index within its layer
    reason: str  # "inputs" or "outputs"


def footprint(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray) -> Footprint:
    """The largest per-tile receptive-field footprint of one set (see `Footprint`), for the given copies."""
    elem = set_elements(workload, sets)
    tile = home_tiles(sets, mapping, copy)
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


def check_capacity(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray,
                   capacity: int | None) -> Footprint:
    """An InputError if `capacity` is below the footprint (no schedule can make progress); the footprint."""
    fp = footprint(workload, sets, mapping, copy)
    if capacity is not None and capacity < fp.elements:
        what = ("must hold all of its inputs" if fp.reason == "inputs" else "produces")
        raise InputError(
            f"buffer.elements_per_tile = {capacity:,} is too small for {workload.name!r} at {sets.granularity.spec} "
            f"sets: {fp.layer} set {fp.set} {what} {fp.elements:,} elements on tile {fp.tile} at its start; "
            f"the smallest capacity that could work is {fp.elements:,} elements per tile (whole sets held from "
            "their start, the buffer-aware rule)")
    return fp


def fits(workload: Workload, sets: SetGraph, mapping: Mapping, copy: np.ndarray, start: np.ndarray,
         capacity: int | None) -> bool:
    """Whether a (copy, start) assignment keeps every tile within `capacity` under the set-level rule."""
    if capacity is None:
        return True
    return int(schedule_peaks(workload, sets, mapping, copy, start).max(initial=0)) <= capacity
