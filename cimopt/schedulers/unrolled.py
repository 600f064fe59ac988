"""A stream of N inferences as one big set graph ("unrolled"), for schedulers that take a SetGraph as it is.

Inference k's set s of layer l is set `k * count_l + s` of layer l, as if the layer's OFM were N OFMs stacked
row-wise; dependencies stay inside each inference, releases shift by `k * arrival_interval`, and a layer's
copies are one resource for all inferences. N times the sets and edges of one inference: meant for row or
coarser sets, or small N (the list schedulers of `stream_list` index the single graph instead).
"""

from __future__ import annotations

import numpy as np

from cimopt.list_scheduling import to_schedule
from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.sets import LayerSets, SetGraph
from cimopt.stream import stream_schedule


def unroll(sets: SetGraph, n: int, arrival_interval: int) -> SetGraph:
    """The set graph of n inferences (module docstring); layer l keeps its place, its sets N times."""
    counts = np.diff(sets.offset)
    layers = []
    for ls in sets.layers:
        h = int(ls.row_edges[-1])
        rows = np.concatenate([ls.row_edges[:-1] + k * h for k in range(n)] + [np.array([n * h], np.int64)])
        layers.append(LayerSets(rows.astype(np.int64), ls.col_edges))
    offset = np.zeros(len(layers) + 1, dtype=np.int64)
    offset[1:] = np.cumsum(counts * n)

    def index(k: int, g: np.ndarray) -> np.ndarray:  # inference k's copy of global single-inference sets g
        li = sets.layer_of(g)
        return offset[li] + k * counts[li] + (g - sets.offset[li])

    every = np.arange(sets.num_sets, dtype=np.int64)
    order = np.argsort(np.concatenate([index(k, every) for k in range(n)]))
    glue = lambda parts: np.concatenate(parts)[order]  # noqa: E731  (unrolled global order)
    duration = glue([sets.duration] * n)
    release = glue([sets.release + k * arrival_interval for k in range(n)])
    src = np.concatenate([index(k, sets.src) for k in range(n)])
    dst = np.concatenate([index(k, sets.dst) for k in range(n)])
    lag = np.tile(sets.lag, n)
    return SetGraph(sets.granularity, tuple(layers), offset, duration, release, src, dst, lag,
                    glue([sets.elements] * n))


def to_unrolled(hint: Schedule, sets: SetGraph, n: int) -> Schedule | None:
    """A stream schedule of these sets in the unrolled numbering (None if it is not one)."""
    if hint.inferences != n or len(hint) != n * sets.num_sets:
        return None
    counts = np.diff(sets.offset)
    layer = np.asarray(hint.layer, np.int64)
    if (layer < 0).any() or (layer >= len(counts)).any():
        return None
    return hint.with_jobs(set=np.asarray(hint.inference, np.int64) * counts[layer] + np.asarray(hint.set, np.int64),
                          inference=np.zeros(len(hint), np.int64))


def from_unrolled(problem: Problem, s: Schedule, info: dict | None = None) -> Schedule:
    """A schedule of the unrolled graph of `problem`'s stream as a stream schedule (inference column)."""
    p, n = problem, problem.inferences
    counts = np.diff(p.sets.offset)
    layer, local = np.asarray(s.layer, np.int64), np.asarray(s.set, np.int64)
    k, own = local // counts[layer], local % counts[layer]
    g = p.sets.offset[layer] + own
    shape = (n, p.sets.num_sets)
    start, end, copy = (np.zeros(shape, np.int64) for _ in range(3))
    start[k, g], end[k, g], copy[k, g] = s.start, s.end, s.copy
    info = dict(s.info if info is None else info)
    single = to_schedule(p.workload, p.hardware, s.mapping, p.sets, copy[0], start[0], end[0], name=s.scheduler,
                         model=p.model, info=info)
    return stream_schedule(single, start, end, p.arrival_interval, info, copy=copy)
