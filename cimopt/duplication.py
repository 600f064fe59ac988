"""Weight duplication: how many copies each MVM layer gets under the PE budget."""

from __future__ import annotations

from collections.abc import Callable

from cimopt.arith import ceil_div
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Budget, Mapping, crossbars_per_layer, make_mapping
from cimopt.workload import Workload


def copies_none(workload: Workload, hw: Hardware, budget: Budget) -> tuple[int, ...]:
    """One copy per layer."""
    return tuple(1 for _ in workload.layers)


def copies_greedy(workload: Workload, hw: Hardware, budget: Budget) -> tuple[int, ...]:
    """docs/model.md, "Mapping": one more copy to the layer with the largest ceil(N/D) whose copy still fits and helps.

    Ties go to the layer that comes first in the graph; stops when no layer qualifies.
    """
    xb = crossbars_per_layer(workload, hw)
    n = [layer.pixels for layer in workload.layers]
    d = [1] * len(xb)
    free = budget.pes - sum(xb)
    while True:
        best, best_load = -1, -1
        for i, (x, ni, di) in enumerate(zip(xb, n, d, strict=False)):
            load = ceil_div(ni, di)
            if x <= free and ceil_div(ni, di + 1) < load and load > best_load:
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
            load = ceil_div(ni, di)
            if load <= 1:
                continue
            to = ceil_div(ni, load - 1)
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


def copies_search(workload: Workload, hw: Hardware, budget: Budget, sets, start: tuple[int, ...] | None = None,
                  max_evals: int = 5000) -> tuple[tuple[int, ...], int]:
    """Local search over the copies, scored by CLSA-CIM's makespan on `sets` (a `SetGraph` of the workload).

    From `start` (default: greedy), try every move of one copy from one layer to another and every extra copy
    that fits in the PEs; take the best move that improves (CLSA-CIM's makespan, then the sum of the sets'
    ends: this leads across plateaus of equal makespan; ties: the first move tried), until none does or
    `max_evals` list schedules were made. Each candidate is a full, valid list
    schedule, so the result is never worse than `start`. Returns (copies, makespan). Deterministic.
    """
    from cimopt.list_scheduling import list_schedule

    xb = crossbars_per_layer(workload, hw)
    counts = [ls.count for ls in sets.layers]
    cur = tuple(start or copies_greedy(workload, hw, budget))

    def score(copies: tuple[int, ...]) -> tuple[int, int]:
        """CLSA-CIM's makespan, then the sum of every set's end (ties: the schedule that is done earlier)."""
        m = make_mapping(workload, hw, budget, copies, "search")
        sch = list_schedule(workload, hw, m, sets, barrier=False, name="clsa")
        return sch.makespan, int(sch.end.sum())

    best = score(cur)
    evals = 1
    while evals < max_evals:
        free = budget.pes - sum(x * d for x, d in zip(xb, cur, strict=True))
        moves = []
        for b in range(len(cur)):
            if cur[b] >= counts[b]:
                continue
            if xb[b] <= free:
                moves.append(cur[:b] + (cur[b] + 1,) + cur[b + 1:])
            for a in range(len(cur)):
                if a != b and cur[a] > 1 and xb[b] <= free + xb[a]:
                    c = list(cur)
                    c[a] -= 1
                    c[b] += 1
                    moves.append(tuple(c))
        step = None
        for c in moves:
            if evals >= max_evals:
                break
            evals += 1
            s = score(c)
            if s < best:
                best, step = s, c
        if step is None:
            break
        cur = step
    return cur, best[0]
