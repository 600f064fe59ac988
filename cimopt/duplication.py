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


STRATEGIES: dict[str, Callable[[Workload, Hardware, Budget], tuple[int, ...]]] = {
    "none": copies_none,
    "greedy": copies_greedy,
}


def duplicate(workload: Workload, hw: Hardware, budget: Budget, strategy: str = "none") -> Mapping:
    """The mapping that a duplication strategy gives under `budget`."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown duplication strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    return make_mapping(workload, hw, budget, STRATEGIES[strategy](workload, hw, budget), strategy)
