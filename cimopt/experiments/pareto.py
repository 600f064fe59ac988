"""Pareto-optimal design points of a sweep: no other point of the same study is at least as good in every
objective and better in one.

Objectives (all minimised, columns of the sweep's rows): `latency_cycles` (one inference), the steady-state
`steady_interval_cycles` and `steady_energy_pj` (energy per inference with static power over the interval),
`area_mm2` (the chip) and `edp` (energy x latency of one inference). A study is one model at one granularity
and stream length; only points that are valid, whose steady state is valid, and that have every objective
compete (`pareto` True or False); the others get None (invalid, no solution, or a figure missing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OBJECTIVES = ("latency_cycles", "steady_interval_cycles", "steady_energy_pj", "area_mm2", "edp")


def eligible(row: dict) -> bool:
    """Whether a row competes: valid, steady state valid (or absent: a stream's own), every objective known."""
    return (row.get("valid") is True and row.get("steady_valid") is not False
            and all(row.get(k) is not None for k in OBJECTIVES))


def front(points: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of `points` (n x objectives, minimised); equal points are all kept."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = (points <= points[i]).all(axis=1)
        better = (points < points[i]).any(axis=1)
        keep[i] = not (no_worse & better).any()
    return keep


def mark_pareto(rows: Sequence[dict]) -> list[dict]:
    """The rows with a `pareto` column (module docstring), in their order."""
    out = [dict(r, pareto=None) for r in rows]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(out):
        if eligible(r):
            groups.setdefault((r["model"], r["granularity"], r.get("inferences", 1)), []).append(i)
    for idx in groups.values():
        pts = np.array([[float(out[i][k]) for k in OBJECTIVES] for i in idx])
        for i, k in zip(idx, front(pts), strict=True):
            out[i]["pareto"] = bool(k)
    return out
