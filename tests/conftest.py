"""Shared test setup: the default chip `HW`, small problems (`problem`, `setup`), the brute-force optimum
that bounds and CP-SAT are checked against, the hypothesis profile (derandomized unless asked), and the
session's private workload cache (cimopt/onnx/cache.py goes to a fresh temporary directory, so tests never
touch the user's cache and every first import really runs the importer)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

from cimopt.duplication import duplicate
from cimopt.hardware import Hardware
from cimopt.mapping import make_mapping, resolve_budget
from cimopt.sets import build_sets

# Property tests draw the same examples on every run and machine (CI included): a red run is reproducible, not
# luck. HYPOTHESIS_PROFILE=explore draws fresh examples (and keeps failures in .hypothesis/) to search further.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HW = Hardware()  # the paper's abstract chip: 256 x 256 crossbars, 1 cycle per MVM, free GPEU and NoC


def problem(workload, hw=HW, dup="none", extra=0, gran="row"):
    """(workload, hw, mapping, sets) with `dup` duplication over `extra` extra PEs, at granularity `gran`."""
    budget = resolve_budget(workload, hw, extra_pes=extra)
    return workload, hw, duplicate(workload, hw, budget, dup), build_sets(workload, hw, gran)


def setup(workload, hw, copies, granularity, extra: int = 0):
    """(mapping, sets) with the given copies per layer, on the least budget that holds them (+ `extra`)."""
    budget = resolve_budget(workload, hw, extra_pes=sum(copies) - len(copies) + extra)
    return make_mapping(workload, hw, budget, copies), build_sets(workload, hw, granularity)


def brute_force_optimum(workload, hw, mapping, sets) -> int:
    """Least makespan over all schedules, by depth-first search over (next set, copy) with pruning.

    Every optimal schedule is matched by one of the enumerated ones: take its sets in order of start and
    start each as early as its predecessors, release and copy allow, on the same copy: no start gets later.
    """
    n = sets.num_sets
    layer = [int(x) for x in sets.layer_of(np.arange(n))]
    dur = [int(d) for d in sets.duration]
    release = [int(r) for r in sets.release]
    preds: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for u, v, lag in zip(sets.src.tolist(), sets.dst.tolist(), sets.lag.tolist(), strict=True):
        preds[v].append((u, lag))
    homes = [mapping.home_tiles(li) for li in range(len(sets.layers))]

    def transfer(lu: int, cu: int, lv: int, cv: int) -> int:
        return hw.noc_hop_cycles * hw.hops(homes[lu][cu], homes[lv][cv], mapping.budget.tiles)

    best = [sum(dur) + max(release) + int(sets.lag.sum()) + 10**6]
    end = [0] * n
    copy = [-1] * n
    free = [[0] * d for d in mapping.copies]

    def dfs(done: int, makespan: int) -> None:
        if makespan >= best[0]:
            return
        if done == n:
            best[0] = makespan
            return
        for s in range(n):
            if copy[s] >= 0 or any(copy[u] < 0 for u, _ in preds[s]):
                continue
            for c in range(mapping.copies[layer[s]]):
                start = max([release[s], free[layer[s]][c]]
                            + [end[u] + lag + transfer(layer[u], copy[u], layer[s], c) for u, lag in preds[s]])
                old = free[layer[s]][c]
                copy[s], end[s], free[layer[s]][c] = c, start + dur[s], start + dur[s]
                dfs(done + 1, max(makespan, end[s]))
                copy[s], free[layer[s]][c] = -1, old

    dfs(0, 0)
    return best[0]


@pytest.fixture(scope="session", autouse=True)
def _private_workload_cache(tmp_path_factory):
    old = os.environ.get("CIMOPT_CACHE_DIR")
    os.environ["CIMOPT_CACHE_DIR"] = str(tmp_path_factory.mktemp("workload-cache"))
    yield
    if old is None:
        os.environ.pop("CIMOPT_CACHE_DIR", None)
    else:
        os.environ["CIMOPT_CACHE_DIR"] = old
