"""Command line: argument parsing and printing only; every command calls the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cimopt import api
from cimopt.errors import InputError
from cimopt.metrics import bottleneck, heuristic_gap, speedup
from cimopt.report import table, workload_summary, workload_text


def _budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pes", type=int, help="chip size in PEs (crossbars)")
    g.add_argument("--tiles", type=int, help="chip size in tiles")
    g.add_argument("--extra-pes", type=int, help="PEs beyond the model's minimum")


def _common(p: argparse.ArgumentParser, sets_default: str) -> None:
    p.add_argument("model", nargs="?", default=api.DEFAULT_MODEL,
                   help=f"zoo name or ONNX file (default: {api.DEFAULT_MODEL})")
    p.add_argument("--hw", help="hardware TOML file or preset name (default: hardware/default.toml)")
    p.add_argument("--dup", default="none", help="weight duplication: none | greedy (default: none)")
    _budget_args(p)
    p.add_argument("--sets", default=sets_default, help=f"set granularity: pixel | row | rows:K | block:HxW | layer "
                   f"(default: {sets_default})")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _solver_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=float, default=20.0,
                   help="CP-SAT time limit in CP-SAT deterministic seconds, about 1.5-3 s of wall time each on two "
                   "cores, so results repeat exactly (default: 20)")
    p.add_argument("--nondeterministic", action="store_true",
                   help="wall-clock time limit and CP-SAT's default parallel portfolio: often better schedules "
                   "per second and less memory, but not reproducible")
    p.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="CP-SAT random seed (default: 0)")
    p.add_argument("--joint", action="store_true", help="CP-SAT chooses the copies per layer under the budget")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cimopt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="MVM layers, crossbars and MACs of a model")
    p.add_argument("model", nargs="?", default=api.DEFAULT_MODEL)
    p.add_argument("--hw")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("schedule", help="schedule a model, check it on the simulator, print latency and utilization")
    _common(p, "pixel")
    p.add_argument("--scheduler", default="clsa", help="lbl | clsa | cpsat (default: clsa)")
    p.add_argument("--out", help="save the schedule as JSON")
    _solver_args(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("simulate", help="re-check a saved schedule on the simulator")
    p.add_argument("schedule")
    p.add_argument("--model", help="the model file, if it moved since the schedule was made")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("compare", help="layer-by-layer vs CLSA-CIM vs CP-SAT on one mapping and granularity")
    _common(p, "row")
    _solver_args(p)
    p.add_argument("--quiet", action="store_true", help="no solver progress on stderr")
    p.set_defaults(func=cmd_compare)

    from cimopt.experiments.commands import add_experiment_commands

    add_experiment_commands(sub)
    return parser


def _warn(workload) -> None:
    for w in workload.warnings:
        print(f"cimopt: warning: {w}", file=sys.stderr)


def cmd_inspect(args: argparse.Namespace) -> int:
    workload = api.load_model(args.model)
    hw = api.load_hardware(args.hw)
    summary = workload_summary(workload, hw)
    print(json.dumps(summary, indent=1) if args.json else workload_text(summary))
    return 0


def _prepare(args: argparse.Namespace) -> api.Problem:
    p = api.prepare(args.model, args.hw, dup=args.dup, pes=args.pes, tiles=args.tiles, extra_pes=args.extra_pes,
                    sets=args.sets)
    _warn(p.workload)
    return p


def _progress(quiet: bool):
    if quiet:
        return None

    def show(best: int, bound: int, seconds: float) -> None:
        print(f"cpsat: {seconds:7.1f} s  best {best:,}  bound {bound:,}", file=sys.stderr, flush=True)

    return show


def run_summary(problem: api.Problem, run: api.Run) -> dict:
    """The JSON object of `cimopt schedule`."""
    sim = run.sim
    lbl = api.run(api.with_duplication(problem, "none"), "lbl").sim.latency
    lbl_same = lbl if problem.mapping.strategy == "none" else api.run(problem, "lbl").sim.latency
    bn = bottleneck(problem.workload, run.schedule, sim)
    m = run.schedule.mapping
    out = {
        "scheduler": run.scheduler, "model": problem.model, "hardware": problem.hardware.name,
        "granularity": problem.sets.granularity.spec, "duplication": m.strategy,
        "latency_cycles": sim.latency, "self_timed_latency_cycles": sim.self_timed_latency,
        "utilization": sim.utilization, "utilization_mapped": sim.utilization_mapped,
        "pes_total": m.budget.pes, "pes_used": m.pes_used, "tiles": m.budget.tiles,
        "copies": {lay.name: d for lay, d in zip(problem.workload.layers, m.copies)},
        "sets": problem.sets.num_sets, "valid": sim.valid,
        "lbl_latency_cycles": lbl, "lbl_same_dup_latency_cycles": lbl_same,
        "speedup_vs_lbl": speedup(lbl, sim.latency), "speedup_vs_lbl_same_dup": speedup(lbl_same, sim.latency),
        "bottleneck": {"layer": bn.layer, "busy_fraction": bn.busy_fraction, "copies": bn.copies},
        "status": run.status,
        "violations": [v.message for v in sim.violations],
    }
    if run.solve is not None:
        out |= {"lower_bound_cycles": run.solve.bound, "gap": run.solve.gap, "solve_seconds": run.solve.solve_seconds}
    return out


def _self_timed(latency: int | None) -> str:
    return "" if latency is None else f" (self-timed {latency:,})"


def _violations_text(sim) -> str:
    lines = [f"INVALID: {sum(sim.violation_counts.values())} violation(s): "
             + ", ".join(f"{k} {n}" for k, n in sorted(sim.violation_counts.items()) if n)]
    lines += [f"  {v.kind}: {v.message}" for v in sim.violations]
    return "\n".join(lines)


def cmd_schedule(args: argparse.Namespace) -> int:
    problem = _prepare(args)
    run = api.run(problem, args.scheduler, time_limit=args.time_limit, workers=args.workers, seed=args.seed,
                  joint=args.joint, deterministic=not args.nondeterministic, progress=_progress(args.json))
    if args.out:
        run.schedule.save(args.out)
    s = run_summary(problem, run)
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        copies = ", ".join(f"{k} x{v}" for k, v in s["copies"].items() if v > 1) or "one each"
        print(f"{s['scheduler']} on {s['model']} ({s['hardware']}, {s['granularity']} sets, {s['sets']:,} sets, "
              f"duplication {s['duplication']})")
        print(f"  latency       {s['latency_cycles']:,} cycles{_self_timed(s['self_timed_latency_cycles'])}")
        print(f"  utilization   {s['utilization']:.2%} of the chip, {s['utilization_mapped']:.2%} of mapped PEs")
        print(f"  speedup       {s['speedup_vs_lbl']:.2f}x over layer-by-layer without duplication "
              f"({s['lbl_latency_cycles']:,}), {s['speedup_vs_lbl_same_dup']:.2f}x over layer-by-layer with the same "
              f"duplication ({s['lbl_same_dup_latency_cycles']:,})")
        print(f"  PEs           {s['pes_used']:,} used of {s['pes_total']:,} ({s['tiles']:,} tiles)")
        print(f"  copies        {copies}")
        bn = s["bottleneck"]
        print(f"  bottleneck    {bn['layer']} (busiest copy busy {bn['busy_fraction']:.0%} of the time, "
              f"{bn['copies']} copies)")
        if run.solve is not None:
            print(f"  solver        {run.status}, bound {run.solve.bound:,}, gap {run.solve.gap or 0:.2%}, "
                  f"{run.solve.solve_seconds:.1f} s")
        print(f"  valid         {'yes' if s['valid'] else 'NO'}")
        if args.out:
            print(f"  saved         {args.out}")
        if not s["valid"]:
            print(_violations_text(run.sim))
    return 0 if s["valid"] else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from cimopt.schedule import Schedule

    sched = Schedule.load(args.schedule)
    workload = api.load_model(args.model or sched.model)
    sim = api.simulate_schedule(workload, sched)
    if args.json:
        print(json.dumps({
            "schedule": args.schedule, "scheduler": sched.scheduler, "model": sched.model, "valid": sim.valid,
            "latency_cycles": sim.latency, "self_timed_latency_cycles": sim.self_timed_latency,
            "utilization": sim.utilization, "utilization_mapped": sim.utilization_mapped,
            "violation_counts": sim.violation_counts,
            "violations": [{"kind": v.kind, "layer": v.layer, "set": v.set, "cycle": v.cycle, "message": v.message}
                           for v in sim.violations],
        }, indent=1))
    else:
        print(f"{args.schedule}: {sched.scheduler} schedule of {sched.model}, {len(sched):,} jobs")
        print(f"  latency     {sim.latency:,} cycles{_self_timed(sim.self_timed_latency)}")
        print(f"  utilization {sim.utilization:.2%} of the chip, {sim.utilization_mapped:.2%} of mapped PEs")
        print("  valid       yes" if sim.valid else _violations_text(sim))
    return 0 if sim.valid else 1


def compare_runs(problem: api.Problem, *, time_limit: float, workers: int, seed: int, joint: bool,
                 deterministic: bool = True, progress=None) -> dict:
    """Run lbl, CLSA and CP-SAT on one problem; the JSON object of `cimopt compare`."""
    if time_limit <= 0:  # before the heuristics run, naming the flag
        raise InputError(f"--time-limit must be > 0 seconds, got {time_limit:g}")
    lbl = api.run(problem, "lbl")
    clsa = api.run(problem, "clsa")
    cp = api.run(problem, "cpsat", time_limit=time_limit, workers=workers, seed=seed, joint=joint,
                 hint=clsa.schedule, deterministic=deterministic, progress=progress)
    bound = cp.solve.bound  # already the best of CP-SAT's own and the combinatorial bounds
    info = cp.schedule.info
    optimum = cp.sim.latency if cp.status == "OPTIMAL" else None
    results = []
    for r in (lbl, clsa, cp):
        d = {"scheduler": r.scheduler, "latency_cycles": r.sim.latency, "valid": r.sim.valid, "status": r.status,
             "utilization": r.sim.utilization, "utilization_mapped": r.sim.utilization_mapped,
             "speedup_vs_lbl": speedup(lbl.sim.latency, r.sim.latency),
             "gap_to_optimum": heuristic_gap(r.sim.latency, optimum) if optimum else None,
             "gap_to_bound": heuristic_gap(r.sim.latency, bound)}
        if r.solve is not None:
            d |= {"solve_seconds": r.solve.solve_seconds, "bound_cycles": r.solve.bound, "optimality_gap": r.solve.gap,
                  "num_intervals": r.solve.num_intervals, "num_precedences": r.solve.num_precedences,
                  "copies": list(r.schedule.mapping.copies)}
        results.append(d)
    return {"model": problem.model, "hardware": problem.hardware.name, "granularity": problem.sets.granularity.spec,
            "duplication": "cpsat-joint" if joint else problem.mapping.strategy, "pes_total": problem.budget.pes,
            "sets": problem.sets.num_sets, "lower_bound_cycles": bound,
            "lower_bounds": {k: info.get(k) for k in ("critical_path", "layer_work", "bottleneck", "closure_bound")},
            "results": results}


def compare_text(c: dict) -> str:
    rows = []
    for r in c["results"]:
        gap = r["gap_to_optimum"] if r["gap_to_optimum"] is not None else r["gap_to_bound"]
        gap_s = "" if gap is None else (f"{gap:+.1%}" + ("" if r["gap_to_optimum"] is not None else " (to bound)"))
        rows.append([r["scheduler"], r["latency_cycles"], f"{r['utilization']:.2%}", f"{r['speedup_vs_lbl']:.2f}x",
                     gap_s, r["status"], f"{r.get('solve_seconds', 0):.1f} s" if "solve_seconds" in r else "",
                     "yes" if r["valid"] else "NO"])
    head = (f"{c['model']} on {c['hardware']}: {c['granularity']} sets ({c['sets']:,}), duplication "
            f"{c['duplication']}, {c['pes_total']:,} PEs")
    tab = table(["scheduler", "latency", "utilization", "speedup", "gap to optimum", "status", "time", "valid"], rows,
                "lrrrrlrl")
    return f"{head}\n\n{tab}\n\nlower bound {c['lower_bound_cycles']:,} cycles"


def cmd_compare(args: argparse.Namespace) -> int:
    problem = _prepare(args)
    c = compare_runs(problem, time_limit=args.time_limit, workers=args.workers, seed=args.seed, joint=args.joint,
                     deterministic=not args.nondeterministic, progress=_progress(args.quiet or args.json))
    print(json.dumps(c, indent=1) if args.json else compare_text(c))
    return 0 if all(r["valid"] for r in c["results"]) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"cimopt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cimopt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
