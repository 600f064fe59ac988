"""Weight duplication: how many copies each MVM layer gets under the PE budget."""

from __future__ import annotations

from collections.abc import Callable

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Budget, Mapping, crossbars_per_layer, make_mapping
from cimopt.workload import Workload


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def copies_none(workload: Workload, hw: Hardware, budget: Budget) -> tuple[int, ...]:
    """One copy per layer."""
    return tuple(1 for _ in workload.layers)


def copies_greedy(workload: Workload, hw: Hardware, budget: Budget) -> tuple[int, ...]:
    """domain.md 3.2: one more copy to the layer with the largest ceil(N/D) whose copy still fits and helps.

    Ties go to the layer that comes first in the graph; stops when no layer qualifies.
    """
    xb = crossbars_per_layer(workload, hw)
    n = [layer.pixels for layer in workload.layers]
    d = [1] * len(xb)
    free = budget.pes - sum(xb)
    while True:
        best, best_load = -1, -1
        for i, (x, ni, di) in enumerate(zip(xb, n, d, strict=False)):
            load = _ceil_div(ni, di)
            if x <= free and _ceil_div(ni, di + 1) < load and load > best_load:
                best, best_load = i, load
        if best < 0:
            return tuple(d)
        d[best] += 1
        free -= xb[best]


def copies_minmax(workload: Workload, hw: Hardware, budget: Budget) -> tuple[int, ...]:
    """The least possible bottleneck `max_l ceil(N_l / D_l)` under the PE budget (a stream's interval bound).

    Greedy's rule, except that a step gives the layer the fewest extra copies that lower its `ceil(N/D)`
    (from L to L - 1 needs `ceil(N / (L - 1))` copies) instead of exactly one, so a layer is never stuck
    where one more copy would not help but two would (greedy leaves a 16-pixel layer at 4 copies even with
    room for 6). Exact: while the bottleneck is above the optimum T, the busiest layer has fewer copies than
    `ceil(N / T)`, so its step stays within the optimum's copies and fits; it stops at T.
    """
    xb = crossbars_per_layer(workload, hw)
    n = [layer.pixels for layer in workload.layers]
    d = [1] * len(xb)
    free = budget.pes - sum(xb)
    while True:
        best, best_load, best_to = -1, -1, 0
        for i, (x, ni, di) in enumerate(zip(xb, n, d, strict=True)):
            load = _ceil_div(ni, di)
            if load <= 1:
                continue
            to = _ceil_div(ni, load - 1)
            if (to - di) * x <= free and load > best_load:
                best, best_load, best_to = i, load, to
        if best < 0:
            return tuple(d)
        free -= (best_to - d[best]) * xb[best]
        d[best] = best_to


STRATEGIES: dict[str, Callable[[Workload, Hardware, Budget], tuple[int, ...]]] = {
    "none": copies_none,
    "greedy": copies_greedy,
    "minmax": copies_minmax,
}


def duplicate(workload: Workload, hw: Hardware, budget: Budget, strategy: str = "none") -> Mapping:
    """The mapping that a duplication strategy gives under `budget`."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown duplication strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    return make_mapping(workload, hw, budget, STRATEGIES[strategy](workload, hw, budget), strategy)
