"""Finite tile buffers on zoo networks: CLSA-CIM at a fraction of its own peak buffer, the buffer-aware heuristic
(clsa-bp) and CP-SAT with reservoirs. Prints a table; asserts nothing.

    python bench/buffers.py                        # ResNet18, SqueezeNet 1.1, TinyYOLOv3; row sets, noc-mesh, +64 PEs
    python bench/buffers.py --fraction 0.75 --cpsat-time 10

For every network: CLSA-CIM's simulator peak (unlimited buffers), the capacity (a fraction of that peak), the two
lower bounds on what a schedule needs (footprint; hold bound, for schedules in CLSA-CIM's copy order), whether
CLSA-CIM is valid there (and its buffer violations), clsa-bp's latency or why it cannot finish, CP-SAT's latency
and status (warm-started from clsa-bp), and the latency cost against unlimited buffers. Where clsa-bp cannot
finish, one more row at the smallest capacity at which it does (binary search).
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from cimopt import api
from cimopt.analysis.buffers import footprint, hold_bound
from cimopt.arith import least_true
from cimopt.capacity import with_buffer
from cimopt.errors import InputError
from cimopt.list_scheduling import round_robin_copies
from cimopt.report import table

NETWORKS = ("resnet18", "squeezenet1_1", "tiny-yolov3")


def row(name: str, p, cap: int, clsa_inf, peak: int, bounds: str, cpsat_time: float) -> tuple[list, bool]:
    """One table row at capacity `cap`; whether clsa-bp finished."""
    pb = with_buffer(p, cap)
    clsa = api.run(pb, "clsa")
    viol = ", ".join(f"{k} {n}" for k, n in sorted(clsa.sim.violation_counts.items())) or "-"
    t, c0 = time.perf_counter(), time.process_time()
    try:
        bp = api.run(pb, "clsa-bp")
    except InputError as exc:
        least = re.search(r"smallest capacity that could work is ([\d,]+)", str(exc))
        why = f"error: below the least possible {least.group(1)}" if least else "error: the rule cannot finish"
        return [name, p.sets.num_sets, f"{clsa_inf.sim.latency:,}", f"{peak:,}", f"{cap:,}", bounds,
                f"{'yes' if clsa.sim.valid else 'NO'} ({viol})", why, "", "", ""], False
    bp_t = f"{time.perf_counter() - t:.2f} s / {time.process_time() - c0:.2f} s CPU"
    cp = api.run(pb, "cpsat", time_limit=cpsat_time, hint=bp.schedule)
    best = min(bp.sim.latency, cp.sim.latency)
    return [name, p.sets.num_sets, f"{clsa_inf.sim.latency:,}", f"{peak:,}", f"{cap:,}", bounds,
            f"{'yes' if clsa.sim.valid else 'NO'} ({viol})",
            f"{bp.sim.latency:,} {bp.schedule.info.get('buffer_rule', '')}" + ("" if bp.sim.valid else " INVALID"),
            bp_t, f"{cp.sim.latency:,} {cp.status}{'' if cp.sim.valid else ' INVALID'}",
            f"{best / clsa_inf.sim.latency - 1:+.1%}"], True


def finishes(p, cap: int) -> bool:
    try:
        api.run(with_buffer(p, cap), "clsa-bp")
        return True
    except InputError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=list(NETWORKS))
    ap.add_argument("--hw", default="noc-mesh")
    ap.add_argument("--extra-pes", type=int, default=64)
    ap.add_argument("--sets", default="row")
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--cpsat-time", type=float, default=10.0)
    args = ap.parse_args()
    rows = []
    for model in args.models:
        p = api.prepare(model, args.hw, dup="greedy", extra_pes=args.extra_pes, sets=args.sets)
        clsa_inf = api.run(p, "clsa")
        peak = max(clsa_inf.sim.peak_buffer)
        copy = round_robin_copies(p.sets, p.mapping)
        fp = footprint(p.workload, p.sets, p.mapping, copy)
        held = hold_bound(p.workload, p.sets, p.mapping, copy)
        bounds = f"{fp.elements:,} / {held.elements:,} ({held.layer} set {held.set})"
        r, ok = row(p.model, p, int(peak * args.fraction), clsa_inf, peak, bounds, args.cpsat_time)
        rows.append(r)
        print(r, file=sys.stderr, flush=True)  # progress; the table is the output
        if not ok:
            least = least_true(int(peak * args.fraction), peak, lambda cap, p=p: finishes(p, cap))
            r, _ = row(p.model + " (least finishing)", p, least, clsa_inf, peak, bounds, args.cpsat_time)
            rows.append(r)
            print(r, file=sys.stderr, flush=True)
    print(table(["network", "sets", "CLSA latency", "CLSA peak", "capacity", "footprint / hold bound", "CLSA valid",
                 "clsa-bp latency", "clsa-bp time", "CP-SAT latency", "cost vs unlimited"], rows, "lrrrrrlllll"))


if __name__ == "__main__":
    main()
