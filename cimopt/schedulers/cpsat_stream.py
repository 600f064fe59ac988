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
from cimopt.schedulers import cpsat
from cimopt.schedulers.registry import Options, Result, SolveFacts
from cimopt.schedulers.unrolled import from_unrolled, to_unrolled, unroll
from cimopt.sets import SetGraph


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
    hint = to_unrolled(o.hint, p.sets, n) if o.hint is not None else None
    one_group = all(len(t) == 1 for t in cpsat.TileGroups.of(p.mapping, p.hardware).tiles)
    res = cpsat.solve_cpsat(p.workload, p.hardware, p.mapping, big, joint=o.joint, budget=p.budget, hint=hint,
                            time_limit=o.time_limit, workers=o.workers, seed=o.seed, progress=o.progress,
                            model=p.model, deterministic=o.deterministic,
                            extra=_symmetry(p.sets, n) if one_group else None)
    s = res.schedule
    out = from_unrolled(p, s, dict(s.info) | {"symmetry_breaking": one_group})
    facts = SolveFacts(res.status, res.objective, res.bound, res.gap, res.solve_seconds, res.num_intervals,
                       res.num_precedences, res.num_variables, res.num_constraints, s.info.get("bound_rule", ""),
                       s.info.get("note", ""), bool(s.info.get("interrupted")))
    return Result(out, res.status, facts)
