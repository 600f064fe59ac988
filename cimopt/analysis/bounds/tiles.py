"""Bounds from where a layer's copies sit (the copy interplay on tiles, when the NoC costs cycles).

The other bounds charge a dependency the least transfer between any copy of its two layers. But a set runs on
one copy, and its copy's home tile fixes the transfer of every one of its inputs and outputs: the copies on
the producers' tile see the inputs first, the others pay hops and serialisation. `tile_times` gives every set
a head and a tail per home tile of its layer's copies; `tile_path` and `copy_window_bound` bound the makespan
from them, and the pipeline bound counts each tile's copies apart with them (`pipeline.pipeline_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.analysis.bounds.heads import _grouped_bound
from cimopt.arith import least_true
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.sets import SetGraph

MAX_TILE_CELLS = 50_000_000  # edges x producer tiles x consumer tiles evaluated per layer pair at most


@dataclass(frozen=True, eq=False)
class TileTimes:
    """Per layer: its copies' distinct home tiles, how many copies sit on each, and per set and tile its head
    `head[l][v, g]` (earliest start on a copy of tile g) and tail `tail[l][v, g]` (least time from its end to
    the end of the schedule when it runs there). `set_head` / `set_tail`: the least over the tiles, per set."""

    tiles: tuple[np.ndarray, ...]
    copies: tuple[np.ndarray, ...]
    head: tuple[np.ndarray, ...]
    tail: tuple[np.ndarray, ...]
    hw: Hardware
    mapping: Mapping

    @property
    def set_head(self) -> np.ndarray:
        return np.concatenate([h.min(axis=1) for h in self.head]) if self.head else np.zeros(0, np.int64)

    @property
    def set_tail(self) -> np.ndarray:
        return np.concatenate([q.min(axis=1) for q in self.tail]) if self.tail else np.zeros(0, np.int64)


def tile_transfers(hw: Hardware, mapping: Mapping, from_tiles: np.ndarray, to_tiles: np.ndarray,
               elements: np.ndarray) -> np.ndarray:
    """(edges, from tiles, to tiles): hop cycles plus the serialisation of `elements` when the tiles differ."""
    hops = hw.hops(from_tiles[:, None], to_tiles[None, :], mapping.budget.tiles).astype(np.int64)[None]
    ser = np.asarray(hw.serialise_cycles(np.asarray(elements, np.int64)), np.int64)[:, None, None]
    return hops * hw.noc_hop_cycles + np.where(hops > 0, ser, 0)


def tile_times(sets: SetGraph, hw: Hardware, mapping: Mapping, head: np.ndarray, tail: np.ndarray) -> TileTimes:
    """Heads and tails per home tile, from the tile-free `head` and `tail` (`heads.heads_and_tails`).

    Proof. Let v (layer l) run on a copy with home tile g, and u -> v be an edge from layer p with GPEU lag e.
    u runs on some copy of p, home tile g'; v may start only tr(g', g) = hop_cycles * hops(g', g) (+ the
    serialisation of u's outputs if g' != g) after u ends (a detour by a storage tile only adds: hops obey the
    triangle inequality and each moving leg pays the serialisation). If start(u) >= H_p(u, g') for the tile u
    runs on (induction over the layers in graph order), start(v) >= min over the tiles g' of p of
    H_p(u, g') + dur(u) + e + tr(g', g): so H_l(v, g) = the max of that over v's in-edges and of the tile-free
    head(v) is an earliest start of v on tile g. With the copies (`heads._grouped_bound`): v's predecessors in
    p all end, on p's D_p copies, no earlier than the least of their heads plus their work over D_p (prefixes
    by head), and each reaches tile g at least L_g = min over the edges of e + the least tr(., g) later. Tails
    alike, backwards: Q_p(u, g') = the max over u's out-edges u -> w (layer m) of min over m's tiles g of
    tr(g', g) + e + dur(w) + Q_m(w, g), of the same grouped bound from g', and of tail(u). Each successor may
    pick its own tile for u here (a relaxation, so still a bound). A layer pair with more than MAX_TILE_CELLS
    edge x tile x tile cells keeps the tile-free values (sound, weaker).
    """
    nl = len(sets.layers)
    off = sets.offset
    tiles, copies = [], []
    for li in range(nl):
        t, c = np.unique(np.asarray(mapping.home_tiles(li), np.int64), return_counts=True)
        tiles.append(t)
        copies.append(c.astype(np.int64))
    hd = [np.repeat(head[off[li]:off[li + 1], None], len(tiles[li]), axis=1) for li in range(nl)]
    tl = [np.repeat(tail[off[li]:off[li + 1], None], len(tiles[li]), axis=1) for li in range(nl)]
    if hw.noc_costs and len(sets.src):
        src_l, dst_l = sets.layer_of(sets.src), sets.layer_of(sets.dst)
        dur = sets.duration
        cps = np.asarray(mapping.copies, np.int64)
        pmin = np.asarray([int(dur[a:b].min()) if b > a else 0 for a, b in zip(off[:-1], off[1:], strict=True)],
                          np.int64)

        def relax(times: list, t: int, o: int, e: np.ndarray, key: np.ndarray, oth: np.ndarray) -> None:
            """times[t][key, g] from the edges e to the sets oth of layer o, whose times[o] are final: through
            each edge (the least over o's tiles), and through o's copies shared (`_grouped_bound`)."""
            if len(e) * len(tiles[o]) * len(tiles[t]) > MAX_TILE_CELLS:
                return
            tr = tile_transfers(hw, mapping, tiles[o], tiles[t], sets.elements[sets.src[e]])  # hops are symmetric
            step = (times[o][oth - off[o]] + (dur[oth] + sets.lag[e])[:, None])[:, :, None] + tr
            np.maximum.at(times[t], key - off[t], step.min(axis=1))
            least = sets.lag[e][:, None] + tr.min(axis=1)  # (edges, tiles of t)
            o_time = times[o][oth - off[o]].min(axis=1)
            for g in range(len(tiles[t])):
                keys, bound = _grouped_bound(key, np.full(len(e), o), o_time, dur[oth], cps, pmin, least[:, g])
                np.maximum.at(times[t][:, g], keys - off[t], bound)

        for li in range(nl):  # heads, producers first
            into = np.flatnonzero(dst_l == li)
            for p in np.unique(src_l[into]).tolist():
                e = into[src_l[into] == p]
                relax(hd, li, p, e, sets.dst[e], sets.src[e])
        for li in range(nl - 1, -1, -1):  # tails, consumers first
            out = np.flatnonzero(src_l == li)
            for m in np.unique(dst_l[out]).tolist():
                e = out[dst_l[out] == m]
                relax(tl, li, m, e, sets.src[e], sets.dst[e])
    return TileTimes(tuple(tiles), tuple(copies), tuple(hd), tuple(tl), hw, mapping)


def tile_path(sets: SetGraph, tt: TileTimes) -> int:
    """The longest single set with its own copy's tile: C >= min over its tiles g of H(v, g) + dur(v) + Q(v, g)
    for every set v (it runs on one tile, and there both its head and its tail hold)."""
    best = 0
    for li in range(len(sets.layers)):
        d = sets.duration[sets.offset[li]:sets.offset[li + 1]]
        if len(d):
            best = max(best, int((tt.head[li] + d[:, None] + tt.tail[li]).min(axis=1).max()))
    return best


def copy_window_bound(sets: SetGraph, tt: TileTimes) -> tuple[int, int]:
    """(bound, layer) from each tile's window of work: the copies of a layer on a tile work only after the
    least head there and stop the least tail before the end.

    Proof. Per layer l and home tile g with k_g copies, let a_g = min_v H(v, g) + min_v Q(v, g). A set of l on
    a copy of g starts at >= min_v H(v, g) and ends at <= C - min_v Q(v, g), so each of the k_g copies works at
    most (C - a_g)^+ cycles and runs at most floor((C - a_g)^+ / pmin) sets (pmin: l's shortest set). All of l
    runs somewhere: sum_g k_g (C - a_g)^+ >= W_l (its work) and sum_g k_g floor((C - a_g)^+ / pmin) >= n_l;
    both grow with C, so the least such C is a bound (a binary search). With one tile this is the layer-work
    bound of the whole layer; it is stronger where the copies far from the producers (or consumers) start
    later (or must stop earlier).
    """
    best, where = 0, -1
    for li in range(len(sets.layers)):
        d = sets.duration[sets.offset[li]:sets.offset[li + 1]]
        if not len(d):
            continue
        a = tt.head[li].min(axis=0) + tt.tail[li].min(axis=0)
        k, work, n, pmin = tt.copies[li], int(d.sum()), len(d), int(d.min())

        def fits(c: int, a=a, k=k, work=work, n=n, pmin=pmin) -> bool:
            room = np.maximum(0, c - a)
            return int((k * room).sum()) >= work and int((k * (room // pmin)).sum()) >= n

        value = least_true(int(a.min()), int(a.max()) + work + 1, fits)
        if value > best:
            best, where = value, li
    return best, where
