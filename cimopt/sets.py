"""Sets and dependencies (CLSA-CIM stages 1 and 2), array-based.

A set is a rectangle of one MVM layer's OFM pixels that one copy computes back to back. Every granularity
cuts the OFM into a grid of row blocks x column blocks, numbered in raster order, so dependencies are
separable: consumer set (i, j) needs producer sets (p, q) for p in A[i], q in B[j], where A and B are computed
per axis by pushing index masks backwards through the receptive windows of the GPEU operations in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cimopt.granularity import Granularity
from cimopt.hardware import Hardware
from cimopt.workload import Access, AxisMap, GpeuOp, GraphInput, Layer, Workload


@dataclass(frozen=True, eq=False)
class LayerSets:
    """The sets of one layer: a grid of row blocks x column blocks, set `s` = block (s // ncols, s % ncols)."""

    row_edges: np.ndarray
    col_edges: np.ndarray

    @property
    def nrows(self) -> int:
        return len(self.row_edges) - 1

    @property
    def ncols(self) -> int:
        return len(self.col_edges) - 1

    @property
    def count(self) -> int:
        return self.nrows * self.ncols

    @cached_property
    def rects(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Half-open `(y0, y1, x0, x1)` of every set, raster order."""
        i = np.repeat(np.arange(self.nrows), self.ncols)
        j = np.tile(np.arange(self.ncols), self.nrows)
        return self.row_edges[i], self.row_edges[i + 1], self.col_edges[j], self.col_edges[j + 1]

    @cached_property
    def pixels(self) -> np.ndarray:
        y0, y1, x0, x1 = self.rects
        return (y1 - y0) * (x1 - x0)


@dataclass(frozen=True, eq=False)
class SetGraph:
    """All sets of a workload and their dependencies.

    Sets are numbered globally: layer `l` owns `offset[l] .. offset[l+1]-1`. A dependency edge says set
    `dst` may start only `lag` cycles (GPEU latency on the path) after set `src` ends; transfer latency over
    the NoC depends on copies and is added by whoever assigns copies. `release[s]` is the earliest start of
    set `s` from the graph input (the input is there at cycle 0; GPEU latency on the way delays it).
    """

    granularity: Granularity
    layers: tuple[LayerSets, ...]
    offset: np.ndarray
    duration: np.ndarray  # cycles per set: pixels * mvm_cycles
    release: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    lag: np.ndarray
    elements: np.ndarray  # output elements per set: pixels * channels (what its transfers carry over the NoC)

    @property
    def num_sets(self) -> int:
        return int(self.offset[-1])

    def layer_of(self, s: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offset, s, side="right") - 1

    @cached_property
    def dst_order(self) -> np.ndarray:
        """Edge indices sorted by destination set (stable), for per-set reductions."""
        return np.argsort(self.dst, kind="stable")

    @cached_property
    def src_order(self) -> np.ndarray:
        """Edge indices sorted by source set (stable)."""
        return np.argsort(self.src, kind="stable")

    def csr(self, by: str) -> tuple[np.ndarray, np.ndarray]:
        """Edges grouped by their `by` end ("src" or "dst"): offsets per set and the edge order."""
        owner, order = (self.src, self.src_order) if by == "src" else (self.dst, self.dst_order)
        ptr = np.zeros(self.num_sets + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=self.num_sets), out=ptr[1:])
        return ptr, order


def _block_of(edges: np.ndarray) -> np.ndarray:
    """Block index of every position 0..n-1 given block boundaries."""
    return np.repeat(np.arange(len(edges) - 1), np.diff(edges))


def _initial_mask(edges: np.ndarray) -> np.ndarray:
    """Row b marks the output indices of block b."""
    return _block_of(edges)[None, :] == np.arange(len(edges) - 1)[:, None]


def _pull_back(mask: np.ndarray, amap: AxisMap, n_in: int) -> np.ndarray:
    """Input indices needed by each row of `mask` (over output indices), through one axis window."""
    b, o = np.nonzero(mask)
    lo, hi = amap.window(o, n_in)
    keep = lo <= hi
    b, lo, hi = b[keep], lo[keep], hi[keep]
    diff = np.zeros((mask.shape[0], n_in + 1), dtype=np.int32)
    np.add.at(diff, (b, lo), 1)
    np.add.at(diff, (b, hi + 1), -1)
    return np.cumsum(diff[:, :n_in], axis=1) > 0


def _pull(access: Access, rows: np.ndarray, cols: np.ndarray, h_in: int, w_in: int) -> tuple[np.ndarray, np.ndarray]:
    if access.full:
        # any pixel of the output needs every pixel of the input: both axes become all-or-nothing together
        return (np.repeat(rows.any(axis=1, keepdims=True), h_in, axis=1),
                np.repeat(cols.any(axis=1, keepdims=True), w_in, axis=1))
    return _pull_back(rows, access.rows, h_in), _pull_back(cols, access.cols, w_in)


@dataclass(frozen=True)
class Reach:
    """One path from a consumer layer's input back to a producer (an MVM layer or the graph input)."""

    producer: str
    lag: int
    rows: np.ndarray  # (consumer row blocks, producer height) bool
    cols: np.ndarray  # (consumer col blocks, producer width) bool


def reaches(workload: Workload, layer: Layer, lsets: LayerSets, hw: Hardware) -> list[Reach]:
    """Walk back from `layer` through GPEU ops to the nearest MVM layers and graph inputs, one Reach per path."""
    out: list[Reach] = []
    rows0, cols0 = _initial_mask(lsets.row_edges), _initial_mask(lsets.col_edges)
    stack = [(edge, rows0, cols0, 0) for edge in reversed(layer.inputs)]
    while stack:
        edge, rows, cols, lag = stack.pop()
        src = workload.node(edge.source)
        r, c = _pull(edge.access, rows, cols, src.out.height, src.out.width)
        if isinstance(src, (Layer, GraphInput)):
            out.append(Reach(src.name, lag, r, c))
        elif isinstance(src, GpeuOp):
            lag_here = lag + hw.gpeu_latency(src.kind, src.out.channels)
            if not src.inputs:
                out.append(Reach("", lag_here, r, c))
            for e in reversed(src.inputs):
                stack.append((e, r, c, lag_here))
    return out


def _axis_pairs(mask: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(consumer block, producer block) pairs along one axis."""
    need = np.zeros((mask.shape[0], len(edges) - 1), dtype=bool)
    b, i = np.nonzero(mask)
    need[b, _block_of(edges)[i]] = True
    return np.nonzero(need)


def _product_edges(reach: Reach, ls: LayerSets, pls: LayerSets) -> tuple[np.ndarray, np.ndarray]:
    """Local (producer set, consumer set) pairs: row-block pairs x column-block pairs."""
    ri, rp = _axis_pairs(reach.rows, pls.row_edges)
    cj, cp = _axis_pairs(reach.cols, pls.col_edges)
    n_r, n_c = len(ri), len(cj)
    dst = np.repeat(ri, n_c) * ls.ncols + np.tile(cj, n_r)
    src = np.repeat(rp, n_c) * pls.ncols + np.tile(cp, n_r)
    return src.astype(np.int64), dst.astype(np.int64)


def _dedup(src: np.ndarray, dst: np.ndarray, lag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One edge per (src, dst) pair, keeping the largest lag over the paths that join them."""
    order = np.lexsort((-lag, src, dst))
    src, dst, lag = src[order], dst[order], lag[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    return src[first], dst[first], lag[first]


@dataclass(frozen=True)
class SetCounts:
    """How big a set graph will be, known before it is built: sets, dependencies (an upper bound: paths that
    join the same two sets are counted once each), and the OFM pixels of the MVM layers and the GPEU ops."""

    granularity: str
    sets: int
    dependencies: int
    pixels: int
    gpeu_pixels: int


def count_sets(workload: Workload, hw: Hardware, granularity: str | Granularity, *,
               dependencies: bool = True) -> SetCounts:
    """The sizes `build_sets` would produce, from the receptive fields per axis (the consumer x producer block
    pairs along rows times those along columns, per path) without building any per-dependency array;
    `dependencies=False` skips that count (reported as 0), leaving only the instant ones."""
    g = granularity if isinstance(granularity, Granularity) else Granularity.parse(granularity)
    layer_sets = tuple(LayerSets(*g.edges(lay.out.height, lay.out.width)) for lay in workload.layers)
    index = workload.layer_index
    deps = 0
    for layer, ls in zip(workload.layers, layer_sets, strict=True):
        if not dependencies:
            break
        for reach in reaches(workload, layer, ls, hw):
            if reach.producer in index:
                pls = layer_sets[index[reach.producer]]
                deps += len(_axis_pairs(reach.rows, pls.row_edges)[0]) * len(_axis_pairs(reach.cols, pls.col_edges)[0])
    return SetCounts(g.spec, sum(ls.count for ls in layer_sets), deps, sum(lay.out.pixels for lay in workload.layers),
                     sum(op.out.pixels for op in workload.gpeu_ops))


def build_sets(workload: Workload, hw: Hardware, granularity: str | Granularity) -> SetGraph:
    """Stages 1 and 2 of CLSA-CIM: cut every MVM layer into sets and find each set's dependencies."""
    g = granularity if isinstance(granularity, Granularity) else Granularity.parse(granularity)
    layer_sets = tuple(LayerSets(*g.edges(lay.out.height, lay.out.width)) for lay in workload.layers)
    offset = np.zeros(len(layer_sets) + 1, dtype=np.int64)
    offset[1:] = np.cumsum([ls.count for ls in layer_sets])
    duration = np.concatenate([ls.pixels for ls in layer_sets] or [np.zeros(0, np.int64)]).astype(np.int64) * hw.mvm_cycles
    release = np.zeros(int(offset[-1]), dtype=np.int64)
    srcs, dsts, lags = [], [], []
    index = workload.layer_index
    for li, (layer, ls) in enumerate(zip(workload.layers, layer_sets)):
        by_producer: dict[str, list[Reach]] = {}
        for reach in reaches(workload, layer, ls, hw):
            if reach.producer in index:
                by_producer.setdefault(reach.producer, []).append(reach)
            elif reach.lag > 0:
                # graph input: only a release time, for the sets that read anything of it
                s = np.nonzero(np.outer(reach.rows.any(axis=1), reach.cols.any(axis=1)).ravel())[0] + offset[li]
                release[s] = np.maximum(release[s], reach.lag)
        for producer, group in by_producer.items():
            pj = index[producer]
            edges = [_product_edges(r, ls, layer_sets[pj]) for r in group]
            src = np.concatenate([e[0] for e in edges]) + offset[pj]
            dst = np.concatenate([e[1] for e in edges]) + offset[li]
            lag = np.concatenate([np.full(len(e[0]), r.lag, np.int64) for e, r in zip(edges, group)])
            if len(group) > 1:
                src, dst, lag = _dedup(src, dst, lag)
            srcs.append(src)
            dsts.append(dst)
            lags.append(lag)
    empty = np.zeros(0, np.int64)
    src = np.concatenate(srcs) if srcs else empty
    dst = np.concatenate(dsts) if dsts else empty
    lag = np.concatenate(lags) if lags else empty
    elements = np.concatenate([ls.pixels * lay.out.channels for ls, lay in zip(layer_sets, workload.layers, strict=True)]
                              or [np.zeros(0, np.int64)]).astype(np.int64)
    return SetGraph(g, layer_sets, offset, duration, release, src.astype(np.int64), dst.astype(np.int64), lag,
                    elements)
