"""The chip at its own memory: speed of the spill schedulers, and the zoo table of the memory issue.

    python bench/memory.py               # speed: TinyYOLOv3 at pixel sets, isaac-like, +64 PEs, greedy
    python bench/memory.py --zoo         # and every zoo network at row and pixel sets: clsa-spill vs memory-aware

Speed (target: the memory-aware scheduler under 5x CLSA-CIM's time): best of `--repeat` CPU runs of each
scheduler's `schedule` call alone (no simulation), on the preset as shipped (the buffer placement: CLSA-CIM's
schedule fits at pixel sets, so the memory schedulers return it) and with sequential placement, where the
buffer binds and the engine's passes run. The numba loops are compiled (or loaded from their cache) by a
warm-up call first. With link contention (the preset's default) CLSA-CIM itself re-times its schedule for the
links; `--contention off` measures the contention-free model.

The zoo table: per network and granularity, clsa-spill and memory-aware latency and bytes through the tier, both
checked by the simulator, and whether memory-aware is at least 15% faster or moves at least 15% fewer bytes.
"""

from __future__ import annotations

import argparse
import time

from cimopt import api
from cimopt.report import table
from cimopt.schedulers import registry

ZOO = ("tiny-yolov3", "tiny-yolov4", "vgg16", "resnet18", "resnet50", "alexnet", "mobilenetv2", "squeezenet1_1",
       "mini-cnn", "mini-yolo")


def cpu(problem, name: str, repeat: int) -> float:
    """Best CPU seconds of `repeat` runs of the scheduler alone."""
    spec = registry.get(name)
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        spec.run(problem)
        best = min(best, time.process_time() - c0)
    return best


def speed(args) -> None:
    contention = None if args.contention is None else args.contention == "on"
    rows = []
    for placement in ("auto", "sequential"):
        p = api.prepare(args.model, args.hw, dup="greedy", extra_pes=args.extra_pes, sets=args.sets,
                        placement=placement, contention=contention)
        for name in ("clsa", "clsa-spill", "memory-aware"):  # warm-up: numba compiles or loads its cache
            registry.get(name).run(p)
        t = {name: cpu(p, name, args.repeat) for name in ("clsa", "clsa-spill", "memory-aware")}
        r = api.run(p, "memory-aware")
        rows.append([placement, p.placement, f"{p.sets.num_sets:,}", f"{t['clsa']:.2f}", f"{t['clsa-spill']:.2f}",
                     f"{t['memory-aware']:.2f}", f"{t['memory-aware'] / t['clsa']:.1f}x",
                     f"{r.sim.latency:,}", f"{r.sim.spill_bytes:,}", r.schedule.info.get("buffer_rule", ""),
                     "yes" if r.sim.valid else "NO"])
    print(f"{args.model} on {args.hw}, {args.sets} sets, greedy, +{args.extra_pes} PEs: CPU seconds, best of "
          f"{args.repeat}")
    print(table(["--placement", "is", "sets", "clsa", "clsa-spill", "memory-aware", "memory-aware / clsa",
                 "latency", "tier bytes", "rule", "valid"], [list(map(str, r)) for r in rows], "llrrrrrrrll"))


def zoo(args) -> None:
    rows, wins, n = [], 0, 0
    for sets in ("row", "pixel"):
        for m in ZOO:
            p = api.prepare(m, args.hw, dup="greedy", extra_pes=args.extra_pes, sets=sets)
            t0 = time.process_time()
            s = api.run(p, "clsa-spill")
            t1 = time.process_time()
            a = api.run(p, "memory-aware")
            t2 = time.process_time()
            faster = a.sim.latency / s.sim.latency - 1
            fewer = a.sim.spill_bytes / s.sim.spill_bytes - 1 if s.sim.spill_bytes else None
            win = faster <= -0.15 or (fewer is not None and fewer <= -0.15)
            wins += win
            n += 1
            rows.append([m, sets, f"{p.sets.num_sets:,}", f"{s.sim.latency:,}", f"{s.sim.spill_bytes:,}",
                         f"{a.sim.latency:,}", f"{a.sim.spill_bytes:,}", f"{faster:+.1%}",
                         "" if fewer is None else f"{fewer:+.1%}", "yes" if win else "",
                         "yes" if s.sim.valid and a.sim.valid else "NO", f"{t1 - t0:.1f} / {t2 - t1:.1f}"])
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(table(["network", "sets", "set count", "clsa-spill", "tier bytes", "memory-aware", "tier bytes",
                 "latency", "bytes", "15% better", "valid", "CPU s (spill / aware, with simulation)"], rows,
                "llrrrrrrrllr"))
    print(f"\nmemory-aware at least 15% faster or 15% fewer tier bytes than clsa-spill on {wins} of {n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-yolov3")
    ap.add_argument("--hw", default="isaac-like")
    ap.add_argument("--sets", default="pixel")
    ap.add_argument("--extra-pes", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--contention", choices=("on", "off"))
    ap.add_argument("--zoo", action="store_true", help="also the zoo table (several minutes)")
    args = ap.parse_args()
    speed(args)
    if args.zoo:
        print()
        zoo(args)


if __name__ == "__main__":
    main()
