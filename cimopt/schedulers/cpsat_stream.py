"""CP-SAT over a stream of N inferences: the single-inference model (`cpsat`) on the unrolled set graph.

The stream's set graph has N copies of every set (inference k's set s of layer l is set `k * count_l + s` of
layer l, as if the layer's OFM were N OFMs stacked row-wise), their dependencies inside each inference, and
release `release + k * arrival_interval`; a layer's copies are one resource for all inferences. That is the
model `cpsat.solve_cpsat` already solves (incumbent, bounds, warm start, copy colouring). Symmetry breaking:
inference k's set starts no earlier than inference k-1's same set. It keeps an optimum: sorting each set's
N start times and giving the k-th smallest to inference k keeps every layer's load profile, every dependency
(the k-th smallest start of a consumer is at least the k-th smallest end of a producer plus the lag) and
every release (arrivals do not decrease). With NoC costs the tile choice moves with the start and the
argument fails, so the constraint is added only when every layer has one tile group.
Meant for row or coarser sets: N times the sets of one inference must stay under `MAX_CPSAT_SETS`.
"""

from __future__ import annotations

import numpy as np

from cimopt.problem import Problem
from cimopt.schedule import Schedule
from cimopt.schedulers import cpsat
from cimopt.schedulers.list_scheduling import to_schedule
from cimopt.schedulers.registry import Options, Result, SolveFacts
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


def _to_unrolled(hint: Schedule, sets: SetGraph, n: int) -> Schedule | None:
    """A stream schedule of these sets in the unrolled numbering (None if it is not one)."""
    if hint.inferences != n or len(hint) != n * sets.num_sets:
        return None
    counts = np.diff(sets.offset)
    layer = np.asarray(hint.layer, np.int64)
    if (layer < 0).any() or (layer >= len(counts)).any():
        return None
    return hint.with_jobs(set=np.asarray(hint.inference, np.int64) * counts[layer] + np.asarray(hint.set, np.int64),
                          inference=np.zeros(len(hint), np.int64))


def _symmetry(sets: SetGraph, n: int):
    def add(v: cpsat.CpVars) -> None:
        counts = np.diff(sets.offset)
        for li, c in enumerate(counts.tolist()):
            a = int(sets.offset[li]) * n
            for k in range(1, n):
                for s in range(c):
                    v.model.Add(v.start[a + k * c + s] >= v.start[a + (k - 1) * c + s])
    return add


def schedule_stream(problem: Problem, options: Options) -> Result:
    """CP-SAT on the unrolled stream (module docstring); the answer as a stream schedule."""
    p, o, n = problem, options, problem.inferences
    big = unroll(p.sets, n, p.arrival_interval)
    hint = _to_unrolled(o.hint, p.sets, n) if o.hint is not None else None
    one_group = all(len(t) == 1 for t in cpsat.TileGroups.of(p.mapping, p.hardware).tiles)
    res = cpsat.solve_cpsat(p.workload, p.hardware, p.mapping, big, joint=o.joint, budget=p.budget, hint=hint,
                            time_limit=o.time_limit, workers=o.workers, seed=o.seed, progress=o.progress,
                            model=p.model, deterministic=o.deterministic,
                            extra=_symmetry(p.sets, n) if one_group else None)
    s = res.schedule
    counts = np.diff(p.sets.offset)
    layer, local = np.asarray(s.layer, np.int64), np.asarray(s.set, np.int64)
    k, own = local // counts[layer], local % counts[layer]
    g = p.sets.offset[layer] + own
    shape = (n, p.sets.num_sets)
    start, end, copy = (np.zeros(shape, np.int64) for _ in range(3))
    start[k, g], end[k, g], copy[k, g] = s.start, s.end, s.copy
    info = dict(s.info) | {"symmetry_breaking": one_group}
    single = to_schedule(p.workload, p.hardware, s.mapping, p.sets, copy[0], start[0], end[0], name="cpsat",
                         model=p.model, info=info)
    out = stream_schedule(single, start, end, p.arrival_interval, info, copy=copy)
    facts = SolveFacts(res.status, res.objective, res.bound, res.gap, res.solve_seconds, res.num_intervals,
                       res.num_precedences, res.num_variables, res.num_constraints, s.info.get("bound_rule", ""))
    return Result(out, res.status, facts)
