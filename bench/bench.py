"""Speed and memory of the pipeline stages: prints numbers, asserts nothing (targets are in the README).

    python bench/bench.py                 # TinyYOLOv3 at 416, pixel sets, + CP-SAT at row sets
    python bench/bench.py --model resnet18 --extra-pes 256 --cpsat-time 30
    python bench/bench.py --hw isaac-like --extra-pes 64 --no-cpsat   # + optimized placement, NoC traffic, energy
    python bench/bench.py --stream-only      # only the stream part: 1 vs 8 inferences (+64 PEs, CLSA-CIM)
    python bench/bench.py --memory        # cimopt.memory's estimate vs the measured peak, model by model

First, the model import in fresh processes: cold (workload cache off, so onnx is imported and the model parsed)
and warm (a cache hit, which never imports onnx). Then each stage is timed with time.perf_counter (the cache off:
the import stage times the importer itself); peak memory is tracemalloc's peak of Python/numpy allocations
during the stage, and the process's max RSS at the end.

Lower bounds: the combinatorial bounds (with the pipeline bound) at the bench's sets and at row sets, with
CPU seconds and the proven gap they give CLSA-CIM.

Steady state (`--steady`, alone with `--steady-only`): one inference (CLSA-CIM schedule + simulation) against a
periodic stream of 64 (the periodic schedule + the simulation of the periods that prove it), best of three CPU
runs each, on TinyYOLOv3 (pixel sets, the abstract chip) and ResNet18 (row sets, `isaac-like`), +64 PEs, greedy.
Target: under 2x. `--pareto`: a 120-point Pareto design sweep of ResNet18 on `isaac-like` at row sets, inline,
its CPU seconds (target: a 100-point sweep under 10 CPU minutes).

Streams (`--stream N`, default 8): prepare + CLSA-CIM schedule + simulation of one inference and of N, each in
a fresh process (`--stream-extra-pes`, default 64, greedy duplication, the same set granularity), with CPU and
wall seconds per stage and the process's peak RSS; then the ratios N / 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from cimopt import api
from cimopt.duplication import duplicate
from cimopt.hardware import load_hardware
from cimopt.mapping import resolve_budget
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.layer_by_layer import schedule_layer_by_layer
from cimopt.sets import build_sets
from cimopt.simulator import simulate


def stage(name: str, fn: Callable[[], object]) -> object:
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{name:<42} {dt:8.3f} s   peak {peak / 2**20:8.1f} MiB")
    return out


_IMPORT_CHILD = """
import sys, time
t = time.perf_counter()
from cimopt import api
w = api.load_model(sys.argv[1])
print(time.perf_counter() - t, len(w.nodes), 'onnx' in sys.modules)
"""


def import_cold_warm(model: str) -> None:
    """`cimopt` + model import in fresh processes: cold (cache off: parses with onnx) and warm (a cache hit,
    which never imports onnx). Wall seconds inside the child; CPU seconds of the whole child process."""
    root = Path(__file__).resolve().parent.parent

    def child(cache: str) -> tuple[float, float, bool]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        env = dict(os.environ, CIMOPT_CACHE_DIR=cache, PYTHONPATH=str(root))
        out = subprocess.run([sys.executable, "-c", _IMPORT_CHILD, model], env=env, cwd=root, check=True,
                             capture_output=True, text=True).stdout.split()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return float(out[0]), cpu, out[2] == "True"

    with tempfile.TemporaryDirectory() as tmp:
        cold = child("off")
        child(tmp)  # fills the cache
        warm = child(tmp)
    for label, (wall, cpu, onnx_loaded) in (("cold (no cache)", cold), ("warm (cache hit)", warm)):
        print(f"{'import ' + model + ', ' + label:<42} {wall:8.3f} s   process CPU {cpu:6.3f} s, "
              f"onnx imported: {onnx_loaded}")
    print(f"{'':<42} warm/cold {warm[0] / cold[0]:.2f}")


_STREAM_CHILD = """
import resource, sys, time
from cimopt import api
model, extra, sets, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], max(1, int(sys.argv[4]))
def clock():
    return time.perf_counter(), time.process_time()
out = []
t = clock(); p = api.prepare(model, dup="greedy", extra_pes=extra, sets=sets, inferences=n); out.append(clock())
r = api.registry.get("clsa").run(p); out.append(clock())
sim = api.simulate_schedule(p, r.schedule); out.append(clock())
stamps = [t] + out
for (w0, c0), (w1, c1) in zip(stamps, stamps[1:]):
    print(w1 - w0, c1 - c0)
print(sim.valid, sim.latency, len(r.schedule), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def stream_ratios(model: str, extra: int, sets: str, n: int) -> None:
    """One inference vs n, CLSA-CIM, each in a fresh process (module docstring)."""
    root = Path(__file__).resolve().parent.parent
    runs = {}
    for k in (0, 1, n):  # 0: a warm-up run (fills the workload cache), not reported
        env = dict(os.environ, PYTHONPATH=str(root))
        lines = subprocess.run([sys.executable, "-c", _STREAM_CHILD, model, str(extra), sets, str(k)], env=env,
                               cwd=root, check=True, capture_output=True, text=True).stdout.splitlines()
        stages = [tuple(float(x) for x in line.split()) for line in lines[:3]]
        valid, latency, jobs, rss = lines[3].split()
        if not k:
            continue
        runs[k] = (stages, rss)
        for name, (wall, cpu) in zip(("prepare (sets built once)", "CLSA-CIM schedule", "simulate"), stages):
            print(f"{f'{k} inference(s): {name}':<42} {wall:8.3f} s   CPU {cpu:7.3f} s")
        print(f"{'':<42} {int(jobs):,} jobs, makespan {int(latency):,} cycles, valid {valid}, "
              f"peak RSS {float(rss):.0f} MiB")
    (s1, r1), (sn, rn) = runs[1], runs[n]
    sched_sim = lambda st, i: st[1][i] + st[2][i]  # noqa: E731
    whole = lambda st, i: sum(x[i] for x in st)  # noqa: E731
    print(f"{f'{n} vs 1 inference':<42} schedule+simulate CPU {sched_sim(sn, 1) / sched_sim(s1, 1):.2f}x "
          f"(wall {sched_sim(sn, 0) / sched_sim(s1, 0):.2f}x), whole run CPU {whole(sn, 1) / whole(s1, 1):.2f}x "
          f"(wall {whole(sn, 0) / whole(s1, 0):.2f}x), peak RSS {float(rn) / float(r1):.2f}x")
_MEMORY_CHILD = """
import resource, sys
from cimopt import api, memory
from cimopt.builder import conv_chain
spec, sets = sys.argv[1], sys.argv[2]
w = conv_chain(3, 16, int(spec[5:]), 3) if spec.startswith("chain") else api.load_model(spec)
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
est = memory.estimate(w, api.load_hardware(), sets)
r0 = rss()
p = api.prepare(w, sets=sets)
api.record(p, api.run(p, "clsa"))
print(est.bytes, rss() - r0, est.counts.sets, est.counts.dependencies, len(p.sets.src))
"""


def memory_estimates() -> None:
    """cimopt.memory's estimate of a run (sets, dependencies, CLSA-CIM, simulation, layer-by-layer references)
    next to the max RSS it adds in a fresh process."""
    root = Path(__file__).resolve().parent.parent
    cases = [("tiny-yolov3", "pixel"), ("tiny-yolov3", "block:2x2"), ("tiny-yolov3", "row"), ("vgg16", "pixel"),
             ("resnet50", "pixel"), ("mobilenetv2", "pixel"), ("chain600", "pixel"), ("chain1200", "row")]
    print(f"{'model':<12} {'sets':<10} {'sets':>10} {'deps (est = built)':>22} {'estimate':>10} {'measured':>10}  ratio")
    for model, sets in cases:
        env = dict(os.environ, PYTHONPATH=str(root))
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, model, sets], env=env, cwd=root, check=True,
                             capture_output=True, text=True).stdout.split()
        est, used, n, deps, built = (int(x) for x in out)
        print(f"{model:<12} {sets:<10} {n:>10,} {f'{deps:,} = {built:,}':>22} {est / 2**20:>7.0f} MiB "
              f"{used / 2**20:>6.0f} MiB  {est / max(used, 1):.2f}")


def bounds_section(wl, hw, mapping, sets, makespan: int, granularity: str) -> None:
    """The lower bounds' own cost (critical path, layer work, pipeline; no solver) at the bench's sets and at
    row sets: wall and CPU seconds, peak memory, and the proven gap they give CLSA-CIM."""
    from cimopt.analysis.bounds import lower_bounds

    for gran, s, target in ((granularity, sets, makespan), ("row", None, None)):
        if s is None:
            s = build_sets(wl, hw, gran)
            target = schedule_clsa(wl, hw, mapping, s).makespan
        cpu = time.process_time()
        lb = stage(f"lower bounds ({gran} sets)", lambda s=s, target=target: lower_bounds(wl, hw, mapping, s,
                                                                                          target=target))
        print(f"{'':<42} {time.process_time() - cpu:.3f} s CPU; bound {lb.best:,} ({lb.rule}), CLSA {target:,}, "
              f"proven gap {(target - lb.best) / target:.1%}")


def best_cpu(fn: Callable[[], object], k: int = 3) -> tuple[object, float, float]:
    """The result, and the least CPU and wall seconds of k runs (less exposed to a loaded machine)."""
    cpu = wall = float("inf")
    for _ in range(k):
        t, w = time.process_time(), time.perf_counter()
        out = fn()
        cpu, wall = min(cpu, time.process_time() - t), min(wall, time.perf_counter() - w)
    return out, cpu, wall


def backpressure_section(wl, hw, mapping, sets, clsa) -> None:
    """clsa-bp (the whole scheduler: its passes, CLSA-CIM's fit check) at capacities where the buffer binds,
    as CPU seconds against CLSA-CIM's, best of three each. Target: under 3x CLSA-CIM. The first call in a
    process loads the compiled event loop from numba's cache (or compiles it, the first time after an install):
    timed apart."""
    from cimopt.errors import InputError
    from cimopt.schedulers import backpressure as bp

    _, t_clsa, _ = best_cpu(lambda: schedule_clsa(wl, hw, mapping, sets))
    prep = bp.prepare(wl, hw, mapping, sets)
    peak = bp._peak(sets, prep.tile, prep.elem, prep.n_tiles, clsa.start)  # CLSA-CIM's set-level peak: below it the buffer binds
    _, t, w = best_cpu(lambda: bp.schedule_backpressure(wl, hw, mapping, sets, capacity=peak), k=1)
    print(f"{'clsa-bp first call (loads the compiled loop)':<42} {w:8.3f} s   CPU {t:.2f} s")

    def run(cap: int) -> str:
        try:
            s = bp.schedule_backpressure(wl, hw, mapping, sets, capacity=cap)
            return f"latency {s.makespan:,} ({s.info['buffer_rule']}; CLSA {clsa.makespan:,})"
        except InputError as exc:
            return "cannot finish: " + str(exc)[:60]

    for frac in (1.0, 0.99, 0.95):
        cap = int(peak * frac)
        what, t, w = best_cpu(lambda cap=cap: run(cap))
        print(f"{f'clsa-bp at {frac:.0%} of CLSA peak ({cap:,} el.)':<42} {w:8.3f} s   {what}; CPU {t:.2f} s vs CLSA "
              f"{t_clsa:.2f} s: {t / t_clsa:.1f}x (target < 3x)")


def steady_section(n: int = 64) -> None:
    """One inference vs a periodic stream of n (module docstring)."""
    from cimopt.schedulers import registry
    from cimopt.steady import check, periodic_record, periodic_schedule, run_periodic

    for model, hw, sets in (("tiny-yolov3", None, "pixel"), ("resnet18", "isaac-like", "row")):
        p = api.prepare(model, hw, dup="greedy", extra_pes=64, sets=sets)
        pn = api.with_stream(p, n)
        api.run(p, "clsa")  # warm caches (numpy, the compiled paths) before timing

        def one(p=p):
            return simulate(p.workload, registry.get("clsa").run(p).schedule)

        def many(pn=pn):
            per = periodic_schedule(pn)
            return per, check(pn.workload, per, n)[1]

        sim1, t1, _ = best_cpu(one)
        (per, simn), tn, _ = best_cpu(many)
        rec = periodic_record(pn, run_periodic(pn))
        print(f"{f'{model} {sets} sets, 1 inference':<42} CPU {t1:7.3f} s   latency {sim1.latency:,}, valid {sim1.valid}")
        print(f"{f'{model} {sets} sets, {n} periodic':<42} CPU {tn:7.3f} s   {tn / t1:.2f}x (target < 2x); interval "
              f"{per.interval:,}, latency {per.latency:,}, {per.periods} periods simulated, valid {simn.valid}, "
              f"makespan of {n} {rec.latency_cycles:,}"
              + (f", {rec.steady_energy_pj / 1e9:.3g} mJ per inference in steady state" if rec.steady_energy_pj else ""))


def pareto_section() -> None:
    """A 120-point Pareto sweep of ResNet18 on isaac-like at row sets, inline: its CPU seconds."""
    from cimopt.experiments.sweep import SweepSpec, run_sweep

    spec = SweepSpec(models=("resnet18",), budget_kind="extra_pes", budgets=(0, 64, 256, 1024, 4096),
                     schedulers=("clsa",), duplications=("greedy",), granularities=("row",), hardware="isaac-like",
                     buffers=("131072", "262144", "524288", "1048576"), crossbars=(128, 256), links=(24, 48, 96),
                     pareto=True)
    with tempfile.TemporaryDirectory() as tmp:
        t, w = time.process_time(), time.perf_counter()
        res = run_sweep(spec, Path(tmp) / "s", workers=1, progress=False, plots=True)
        cpu, wall = time.process_time() - t, time.perf_counter() - w
    best = sum(1 for r in res.rows if r.get("pareto"))
    print(f"{f'Pareto sweep ({len(res.rows)} points + {res.computed - len(res.rows)} references)':<42} {wall:8.3f} s   "
          f"CPU {cpu:.1f} s (target: 100 points < 600 s); {best} Pareto-optimal")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny-yolov3")
    ap.add_argument("--extra-pes", type=int, default=300)
    ap.add_argument("--sets", default="pixel")
    ap.add_argument("--cpsat-time", type=float, default=60.0)
    ap.add_argument("--no-cpsat", action="store_true")
    ap.add_argument("--hw", default=None, help="hardware preset or file (default: the abstract chip)")
    ap.add_argument("--stream", type=int, default=8, help="inferences of the stream part (0: skip it)")
    ap.add_argument("--stream-extra-pes", type=int, default=64)
    ap.add_argument("--stream-only", action="store_true")
    ap.add_argument("--memory", action="store_true", help="only the memory estimate vs measured table")
    ap.add_argument("--steady", action="store_true", help="one inference vs a periodic stream of 64")
    ap.add_argument("--steady-only", action="store_true", help="only that")
    ap.add_argument("--pareto", action="store_true", help="only the 120-point Pareto sweep's CPU time")
    args = ap.parse_args()
    if args.memory:
        memory_estimates()
        return
    if args.pareto:
        pareto_section()
        return
    if args.steady or args.steady_only:
        steady_section()
    if args.steady_only:
        return
    if args.stream > 1:
        stream_ratios(args.model, args.stream_extra_pes, args.sets, args.stream)
    if args.stream_only:
        return

    import_cold_warm(args.model)

    os.environ["CIMOPT_CACHE_DIR"] = "off"  # the stages below time the importer itself, not the workload cache
    total = time.perf_counter()
    wl = stage(f"import {args.model}", lambda: api.load_model(args.model))
    hw = load_hardware(args.hw)
    budget = resolve_budget(wl, hw, extra_pes=args.extra_pes)
    mapping = stage(f"greedy duplication (+{args.extra_pes} PEs)", lambda: duplicate(wl, hw, budget, "greedy"))
    sets = stage(f"sets + dependencies ({args.sets})", lambda: build_sets(wl, hw, args.sets))
    print(f"{'':<42} {sets.num_sets:,} sets, {len(sets.src):,} dependencies")
    if hw.noc_costs:
        from cimopt.placement import place, traffic

        placed = stage("optimized placement (least bytes x hops)", lambda: place(wl, sets, hw, mapping))
        print(f"{'':<42} NoC traffic {traffic(sets, hw, mapping):,} -> {traffic(sets, hw, placed):,} bytes x hops")
    clsa = stage("CLSA-CIM schedule", lambda: schedule_clsa(wl, hw, mapping, sets))
    sim = stage("simulate CLSA-CIM (checks + self-timed)", lambda: simulate(wl, clsa))
    print(f"{'import -> simulated CLSA-CIM result':<42} {time.perf_counter() - total:8.3f} s   "
          f"latency {sim.latency:,} cycles, valid {sim.valid}"
          + (f", {sim.energy_pj / 1e6:,.1f} uJ per inference" if sim.energy_pj else ""))
    backpressure_section(wl, hw, mapping, sets, clsa)
    base = build_sets(wl, hw, args.sets)
    none = duplicate(wl, hw, budget, "none")
    lbl = stage("layer-by-layer schedule (no duplication)", lambda: schedule_layer_by_layer(wl, hw, none, base))
    sim_lbl = stage("simulate layer-by-layer", lambda: simulate(wl, lbl))
    print(f"{'':<42} lbl {sim_lbl.latency:,} cycles; CLSA+dup speedup {sim_lbl.latency / sim.latency:.2f}x")
    bounds_section(wl, hw, mapping, sets, clsa.makespan, args.sets)
    if not args.no_cpsat:
        from cimopt.schedulers.cpsat import solve_cpsat

        rows = build_sets(wl, hw, "row")
        hint = schedule_clsa(wl, hw, mapping, rows)
        res = stage(f"CP-SAT at row sets ({args.cpsat_time:g} s limit)",
                    lambda: solve_cpsat(wl, hw, mapping, rows, hint=hint, time_limit=args.cpsat_time, budget=budget))
        print(f"{'':<42} {res.status}: {res.objective:,} cycles (CLSA {hint.makespan:,}), bound {res.bound:,}, "
              f"{res.num_intervals:,} intervals, {res.num_precedences:,} precedences")
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
