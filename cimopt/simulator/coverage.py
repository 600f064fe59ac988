"""Coverage: every OFM pixel of every MVM layer computed exactly once per inference."""

from __future__ import annotations

import numpy as np

from cimopt.simulator.plan import Plan, of_inference
from cimopt.simulator.result import Report, Violation


def check_coverage(plan: Plan, rep: Report) -> None:
    """Every OFM pixel computed exactly once per inference: a 2-D difference array of the rectangles per layer."""
    for k in range(plan.inferences):
        check_coverage_of(plan, k, rep)


def check_coverage_of(plan: Plan, k: int, rep: Report) -> None:
    s = plan.schedule
    of = of_inference(plan, k)
    for li, layer in enumerate(plan.workload.layers):
        lj = plan.jobs[k][li]
        h, w = layer.out.height, layer.out.width
        diff = np.zeros((h + 1) * (w + 1), dtype=np.int64)
        y0, y1, x0, x1 = s.y0[lj.idx], s.y1[lj.idx], s.x0[lj.idx], s.x1[lj.idx]
        for ys, xs, sign in ((y0, x0, 1), (y0, x1, -1), (y1, x0, -1), (y1, x1, 1)):
            diff += sign * np.bincount(ys * (w + 1) + xs, minlength=(h + 1) * (w + 1))
        count = diff.reshape(h + 1, w + 1).cumsum(0).cumsum(1)[:h, :w]
        missing = np.flatnonzero(count == 0)
        rep.add_many("pixel-missing", len(missing), lambda i, name=layer.name, w=w: Violation(
            "pixel-missing", name, None, None, f"{name} pixel ({i // w}, {i % w}){of} is computed by no job"), missing)
        doubled = np.flatnonzero(count > 1)

        def make(i: int, lj=lj, name=layer.name, w=w, count=count) -> Violation:
            y, x = i // w, i % w
            js = lj.idx[(s.y0[lj.idx] <= y) & (y < s.y1[lj.idx]) & (s.x0[lj.idx] <= x) & (x < s.x1[lj.idx])]
            who = ", ".join(f"set {int(s.set[j])} on copy {int(s.copy[j])} at cycle {int(s.start[j])}" for j in js[:4])
            return Violation("pixel-doubled", name, int(s.set[js[0]]), int(s.start[js[0]]),
                             f"{name} pixel ({y}, {x}){of} is computed {int(count[y, x])} times ({who})")

        rep.add_many("pixel-doubled", len(doubled), make, doubled)
