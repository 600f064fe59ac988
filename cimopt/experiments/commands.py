"""CLI wiring of the experiment commands (`sweep`, `reproduce`, `trace`): parsing and printing only."""

from __future__ import annotations

import argparse
import json
import sys

from cimopt import arguments
from cimopt.errors import InputError
from cimopt.schedulers import registry


def add_experiment_commands(sub: argparse._SubParsersAction) -> None:
    """Add `sweep`, `reproduce` and `trace` to the `cimopt` parser's subcommands."""
    p = sub.add_parser("sweep", help="run a grid of models x chip sizes x schedulers x duplication (resumable)",
                       description="Run every point of models x budget points x set granularities x duplication x "
                       "schedulers, check each schedule on the simulator, and write DIR/sweep.csv, sweep.json, "
                       "sweep.meta.json, points.jsonl (one line per finished point: a rerun resumes) and one PNG "
                       "per model. Lists are comma separated; ranges A:B:STEP include both ends.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="zoo names or ONNX files")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tiles", metavar="LIST", help="chip sizes in tiles, e.g. 4,8,16 or 4:16:4")
    g.add_argument("--extra-pes", metavar="LIST", help="PEs beyond each model's minimum, e.g. 0,16,64 or 0:64:16")
    g.add_argument("--pes", metavar="LIST", help="chip sizes in PEs (crossbars)")
    p.add_argument("--schedulers", default=f"{registry.BASELINE},{registry.HEURISTIC}",
                   help=f"comma list of {', '.join(registry.NAMES)} (default: {registry.BASELINE},{registry.HEURISTIC})")
    p.add_argument("--dup", default="none", help="comma list of duplication strategies: none, greedy, minmax, search (default: none)")
    p.add_argument("--sets", default="pixel", help="set granularity, or a comma list of them (default: pixel)")
    p.add_argument("--inferences", default="1", metavar="LIST",
                   help="streams of N inferences, e.g. 1,8 or 1:16:5 (default: 1)")
    p.add_argument("--hw", help="hardware TOML file or preset name (default: hardware/default.toml)")
    p.add_argument("--buffer", metavar="LIST", help="tile buffer capacities, e.g. 8k,16k,32k,64k,inf: elements per "
                   "tile (k = 1024), bytes with a unit (64KB, via chip.bits), inf = unlimited; plots latency vs buffer")
    p.add_argument("--crossbar", metavar="LIST", help="square crossbar sizes, e.g. 128,256 (energy and area per "
                   "crossbar scale with its columns and its ADC bits; default: the hardware file's)")
    p.add_argument("--link", metavar="LIST", help="NoC link bandwidths in bytes per cycle, e.g. 24,48,96 (the "
                   "router's full rate and area scale with it; default: the hardware file's)")
    p.add_argument("--pareto", action="store_true", help="a design sweep: each CLSA-CIM point's steady state "
                   "(periodic schedule: interval, energy per inference) and chip area; the Pareto-optimal points over "
                   "latency, interval, energy, area and EDP marked in a pareto column and drawn (latency vs energy, "
                   "coloured by area)")
    p.add_argument("--time-limit", type=arguments.seconds, default=60.0, help="CP-SAT time limit per point, in CP-SAT deterministic seconds (default: 60)")
    p.add_argument("--cpsat-workers", type=arguments.positive_int, default=1, help="CP-SAT threads per point (default: 1)")
    p.add_argument("--workers", type=arguments.positive_int, default=2,
                   help="worker processes (default: 2; 1 runs inline)")
    p.add_argument("--dask", metavar="ADDRESS", help="run the points on this Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--out", required=True, metavar="DIR", help="sweep folder (created; rerunning resumes)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("reproduce", help="regenerate the paper-style results (tables, plots, README.md)",
                       description="Sweep the zoo networks (minimum PEs, then layer-by-layer and CLSA-CIM with and "
                       "without greedy duplication over extra PEs), find the best utilization improvement and "
                       "speedup, compare the heuristic with CP-SAT's optimum, and write DIR/README.md with the "
                       "tables, plots and the commands and wall times that made them. Reruns resume.")
    p.add_argument("--quick", action="store_true", help="a reduced grid that runs in a few minutes")
    p.add_argument("--out", default="results", metavar="DIR", help="output folder (default: results/)")
    p.add_argument("--hw", help="hardware TOML file or preset name (default: hardware/default.toml)")
    p.add_argument("--workers", type=arguments.positive_int, default=2, help="worker processes (default: 2)")
    p.add_argument("--dask", metavar="ADDRESS", help="run the sweeps on this Dask scheduler")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("trace", help="a schedule as a Chrome/Perfetto trace and a Gantt chart",
                       description="Write a Chrome/Perfetto trace JSON (one track per layer copy, one event per "
                       "set; 1 us in the viewer = 1 cycle) and a Gantt PNG beside it; -o FILE.png writes only the "
                       "Gantt chart.")
    p.add_argument("schedule", help="a schedule JSON (cimopt schedule --out)")
    p.add_argument("-o", "--out", required=True, metavar="FILE", help="FILE.json (trace + FILE.png) or FILE.png")
    p.add_argument("--model", help="the model file, for layer names, if it moved since the schedule was made")
    p.set_defaults(func=cmd_trace)


def _budget(args: argparse.Namespace) -> tuple[str, tuple[int | None, ...]]:
    from cimopt.experiments.sweep import parse_int_axis

    for kind, flag in (("tiles", "--tiles"), ("extra_pes", "--extra-pes"), ("pes", "--pes")):
        text = getattr(args, kind)
        if text is not None:
            return kind, parse_int_axis(text, flag)
    return "default", (None,)


def _buffers(args: argparse.Namespace) -> tuple[str | None, ...]:
    """`--buffer` as the sweep's canonical capacities ("inf" or elements per tile)."""
    if args.buffer is None:
        return (None,)
    from cimopt.capacity import parse_capacities
    from cimopt.hardware import load_hardware

    return tuple("inf" if c is None else str(c) for c in parse_capacities(args.buffer, load_hardware(args.hw)))


def cmd_sweep(args: argparse.Namespace) -> int:
    from cimopt.experiments.sweep import DUPLICATIONS, SweepSpec, parse_int_axis, parse_names, run_sweep, sweep_text
    from cimopt.memory import available_memory

    available_memory()  # a bad $CIMOPT_MEMORY_AVAILABLE is an error before any folder or point
    arguments.check_output_dir(args.out, "--out")

    kind, budgets = _budget(args)
    spec = SweepSpec(
        models=tuple(args.models), budget_kind=kind, budgets=budgets,
        schedulers=parse_names(args.schedulers, registry.NAMES, "--schedulers"),
        duplications=parse_names(args.dup, DUPLICATIONS, "--dup"),
        granularities=parse_names(args.sets, None, "--sets"),
        inferences=parse_int_axis(args.inferences, "--inferences"), hardware=args.hw, time_limit=args.time_limit,
        cpsat_workers=args.cpsat_workers, buffers=_buffers(args),
        crossbars=(None,) if args.crossbar is None else parse_int_axis(args.crossbar, "--crossbar"),
        links=(None,) if args.link is None else parse_int_axis(args.link, "--link"), pareto=args.pareto)
    if one := [n for n in spec.schedulers if n in arguments.ONE_INFERENCE and any(k != 1 for k in spec.inferences)]:
        raise InputError(f"--inferences {args.inferences}: scheduler {one[0]} schedules one inference; drop it from "
                         "--schedulers or sweep one inference")
    res = run_sweep(spec, args.out, workers=args.workers, dask=args.dask, progress=not args.quiet,
                    plots=not args.no_plots)
    if args.json:
        print(json.dumps(res.rows, indent=1))
    else:
        print(sweep_text(res))
    return 0 if all(r["valid"] is not False for r in res.rows) else 1


def cmd_reproduce(args: argparse.Namespace) -> int:
    from cimopt.experiments.reproduce import reproduce
    from cimopt.memory import available_memory

    available_memory()  # a bad $CIMOPT_MEMORY_AVAILABLE is an error before any folder or point
    arguments.check_output_dir(args.out, "--out")

    argv = ["reproduce"] + (["--quick"] if args.quick else []) + (["--hw", args.hw] if args.hw else []) + [
        "--out", args.out]
    res = reproduce(quick=args.quick, out=args.out, workers=args.workers, dask=args.dask, progress=not args.quiet,
                    command="cimopt " + " ".join(argv), hardware=args.hw)
    print(res.summary)
    return 0 if res.valid else 1


def cmd_trace(args: argparse.Namespace) -> int:
    from cimopt import api
    from cimopt.experiments.trace import check_trace_out, out_of_range_jobs, trace_check, write_trace

    check_trace_out(args.out)
    sched = api.load_schedule(args.schedule)
    names, sim, warning = trace_check(sched, args.model)
    if warning:
        print(f"cimopt: warning: {warning}", file=sys.stderr)
    print(f"{args.schedule}: {sched.scheduler} schedule of {sched.model}, {len(sched):,} sets on "
          f"{sum(sched.mapping.copies):,} copies, {sched.makespan:,} cycles")
    if sim is not None and not sim.valid:
        from cimopt.report import violations_text

        print(f"  the simulator rejects this schedule\n{violations_text(sim)}")
    if bad := out_of_range_jobs(sched):
        print(f"  not traced: {bad}")
        return 1
    for f in write_trace(sched, args.out, names, sim):
        print(f"  wrote {f}" + ("" if sim is None or sim.valid else " (of the INVALID schedule)"))
    return 0 if sim is None or sim.valid else 1

