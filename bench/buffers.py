"""Finite tile buffers on zoo networks: CLSA-CIM at half of its own peak buffer, the buffer-aware heuristic
(clsa-bp) and CP-SAT with reservoirs. Prints a table; asserts nothing.

    python bench/buffers.py                        # ResNet18, SqueezeNet 1.0, TinyYOLOv3; row sets, noc-mesh, +64 PEs
    python bench/buffers.py --fraction 0.75 --cpsat-time 10

For every network: CLSA-CIM's simulator peak (unlimited buffers), the capacity (a fraction of that peak),
whether CLSA-CIM is valid there (and its buffer violations), clsa-bp's latency or why it cannot finish,
CP-SAT's latency and status, and the latency cost against unlimited buffers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cimopt import api
from cimopt.capacity import with_buffer
from cimopt.errors import InputError
from cimopt.report import table

NETWORKS = ("resnet18", str(Path(__file__).resolve().parents[1] / "tests/fixtures/squeezenet1_0_legacy.onnx"),
            "tiny-yolov3")


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
        cap = int(peak * args.fraction)
        pb = with_buffer(p, cap)
        clsa = api.run(pb, "clsa")
        viol = ", ".join(f"{k} {n}" for k, n in sorted(clsa.sim.violation_counts.items())) or "-"
        t = time.perf_counter()
        c0 = time.process_time()
        try:
            bp = api.run(pb, "clsa-bp")
            bp_s = f"{bp.sim.latency:,}" + ("" if bp.sim.valid else " INVALID")
            bp_lat = bp.sim.latency
        except InputError as exc:
            bp, bp_s, bp_lat = None, "error: " + str(exc)[:90], None
        bp_t = f"{time.perf_counter() - t:.2f} s wall / {time.process_time() - c0:.2f} s CPU"
        cp_s = ""
        if bp is not None:
            cp = api.run(pb, "cpsat", time_limit=args.cpsat_time, hint=bp.schedule)
            cp_s = f"{cp.sim.latency:,} {cp.status}{'' if cp.sim.valid else ' INVALID'} ({cp.solve.solve_seconds:.0f} s)"
            best = min(bp_lat, cp.sim.latency)
        cost = "" if bp is None else f"{best / clsa_inf.sim.latency - 1:+.1%}"
        rows.append([Path(model).stem, p.sets.num_sets, clsa_inf.sim.latency, peak, cap,
                     f"{'yes' if clsa.sim.valid else 'NO'} ({viol})", bp_s, bp_t, cp_s, cost])
        print(rows[-1], flush=True)
        if bp is None:  # the smallest capacity at which clsa-bp finishes, and CP-SAT there
            lo, hi = cap, peak
            while lo < hi:
                mid = (lo + hi) // 2
                try:
                    api.run(with_buffer(p, mid), "clsa-bp")
                    hi = mid
                except InputError:
                    lo = mid + 1
            pb = with_buffer(p, hi)
            bp = api.run(pb, "clsa-bp")
            cp = api.run(pb, "cpsat", time_limit=args.cpsat_time, hint=bp.schedule)
            best = min(bp.sim.latency, cp.sim.latency)
            clsa = api.run(pb, "clsa")
            viol = ", ".join(f"{k} {n}" for k, n in sorted(clsa.sim.violation_counts.items())) or "-"
            rows.append([Path(model).stem + " (least finishing)", p.sets.num_sets, clsa_inf.sim.latency, peak, hi,
                         f"{'yes' if clsa.sim.valid else 'NO'} ({viol})", f"{bp.sim.latency:,}", "",
                         f"{cp.sim.latency:,} {cp.status}{'' if cp.sim.valid else ' INVALID'} "
                         f"({cp.solve.solve_seconds:.0f} s)", f"{best / clsa_inf.sim.latency - 1:+.1%}"])
            print(rows[-1], flush=True)
    print(table(["network", "sets", "CLSA latency", "CLSA peak", "capacity", "CLSA valid", "clsa-bp latency",
                 "clsa-bp time", "CP-SAT latency", "cost vs unlimited"], rows, "lrrrrlllll"))


if __name__ == "__main__":
    main()
