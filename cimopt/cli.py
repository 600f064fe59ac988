"""Command line: argument parsing and printing only; every command calls the Python API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from cimopt import api, arguments
from cimopt.arith import ceil_div
from cimopt.errors import InputError
from cimopt.experiments.sweep import parse_names
from cimopt.record import RunRecord, energy_fields
from cimopt.report import table, violations_text, workload_summary, workload_text
from cimopt.schedulers import registry
from cimopt.stream import StreamMetrics, stream_metrics


def _budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pes", type=arguments.positive_int, help="chip size in PEs (crossbars)")
    g.add_argument("--tiles", type=arguments.positive_int, help="chip size in tiles")
    g.add_argument("--extra-pes", type=arguments.count, help="PEs beyond the model's minimum")


def _common(p: argparse.ArgumentParser, sets_default: str) -> None:
    p.add_argument("model", nargs="?", default=api.DEFAULT_MODEL,
                   help=f"zoo name or ONNX file (default: {api.DEFAULT_MODEL})")
    p.add_argument("--hw", help="hardware TOML file or preset name (default: hardware/default.toml)")
    p.add_argument("--dup", default="none", help="weight duplication: none | greedy | minmax | search (local search from greedy, scored by "
                   "CLSA-CIM's latency; default: none)")
    _budget_args(p)
    p.add_argument("--sets", default=sets_default, help=f"set granularity: pixel | row | rows:K | block:HxW | layer "
                   f"(default: {sets_default})")
    p.add_argument("--buffer", metavar="SIZE", help="tile buffer capacity, overriding buffer.elements_per_tile: "
                   "elements (65536, 64k = 65536) or bytes with a unit (64KB, via chip.bits per element), or inf")
    p.add_argument("--inferences", type=arguments.positive_int, default=1, metavar="N",
                   help="schedule a stream of N inferences sharing the copies (default: 1)")
    p.add_argument("--arrival-interval", type=arguments.cycles, default=0, metavar="C",
                   help="input k of the stream is available at cycle k * C (default: 0, all at once)")
    p.add_argument("--placement", default="auto", choices=("auto", "sequential", "optimized", "buffer"),
                   help="copies on tiles: sequential (in layer order) | optimized (least NoC bytes x hops, or the "
                        "most loaded link under contention) | buffer (spread for the tile buffers); default auto: "
                        "buffer when tile buffers are finite, else sequential")
    p.add_argument("--contention", choices=("on", "off"), help="NoC links as shared resources (messages wait for "
                   "their links) or not; default: the hardware file's noc.contention")
    p.add_argument("--json", action="store_true", help="print one JSON object")


#: The CP-SAT flags and their defaults (the parser's defaults are None, so that a flag given explicitly is known:
#: one that no scheduler of the run would read is refused, see `check_flags`).
SOLVER_DEFAULTS = {"time_limit": 20.0, "workers": 2, "seed": 0, "nondeterministic": False, "joint": False}


def _solver_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=arguments.seconds,
                   help="CP-SAT time limit in CP-SAT deterministic seconds, about 1.5-3 s of wall time each on two "
                   "cores, so results repeat exactly (default: 20)")
    p.add_argument("--nondeterministic", action="store_true", default=None,
                   help="wall-clock time limit and CP-SAT's default parallel portfolio: often better schedules "
                   "per second and less memory, but not reproducible")
    p.add_argument("--workers", type=arguments.positive_int, help="CP-SAT workers (default: 2)")
    p.add_argument("--seed", type=arguments.seed, help="CP-SAT random seed (default: 0)")
    p.add_argument("--joint", action="store_true", default=None,
                   help=f"CP-SAT ({registry.EXACT}) chooses the copies per layer under the budget")


def _solver(args: argparse.Namespace) -> dict:
    """The solver options of `api.run` / `api.compare`, defaults filled in."""
    v = {k: d if getattr(args, k) is None else getattr(args, k) for k, d in SOLVER_DEFAULTS.items()}
    return {"time_limit": v["time_limit"], "workers": v["workers"], "seed": v["seed"], "joint": v["joint"],
            "deterministic": not v["nondeterministic"]}


def _stream(args: argparse.Namespace) -> bool:
    """A stream of inferences (as `Problem.is_stream`)."""
    return args.inferences != 1 or args.arrival_interval != 0


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_flags(args: argparse.Namespace, names: tuple[str, ...], named: bool = True) -> None:
    """Refuse, before any work, flags that the schedulers `names` would ignore or refuse only after running:
    solver flags without an exact scheduler, `--joint` without CP-SAT or where CP-SAT cannot choose copies (a NoC
    with costs, finite buffers, an optimized or buffer placement), a one-inference scheduler on a stream (`named`:
    the user chose `names`; else they are the defaults)."""
    exact = [n for n in names if registry.get(n).exact]
    which = f"scheduler {names[0]}" if len(names) == 1 else f"schedulers {', '.join(names)}"
    for k in SOLVER_DEFAULTS:
        if getattr(args, k) is not None and not exact:
            raise InputError(f"{_flag(k)}: no exact scheduler in this run ({which}) reads it; it is a CP-SAT/LNS "
                             "option")
    stream = _stream(args)
    if stream and (one := [n for n in names if n in arguments.ONE_INFERENCE]):
        given = f"--inferences {args.inferences}" if args.inferences != 1 else \
            f"--arrival-interval {args.arrival_interval}"
        if not named:
            raise InputError(f"{given}: the default scheduler with finite tile buffers, {one[0]}, schedules one "
                             "inference; name one that schedules a stream with --scheduler (clsa-bp plans for the "
                             "buffers)")
        raise InputError(f"{given}: scheduler {one[0]} schedules one inference (no stream, no arrival interval); "
                         "drop it from the run")
    if not args.joint:
        return
    if registry.EXACT not in names:
        raise InputError(f"--joint: only {registry.EXACT} chooses the copies per layer, and the {which} would "
                         "ignore it")
    if args.placement in ("optimized", "buffer"):
        raise InputError(f"--joint with --placement {args.placement}: the joint solution places its copies "
                         "sequentially (placement follows the copy counts it chooses)")
    hw = api.load_hardware(args.hw)
    if hw.noc_costs:
        raise InputError(f"--joint on {hw.source}: joint duplication needs a free NoC (noc.hop_cycles = 0 and no "
                         f"noc.link_bytes_per_cycle; got {hw.noc_hop_cycles} and {hw.link_bytes_per_cycle}): copy "
                         "placement would change with the copy counts")
    if _finite_buffer(args, hw):
        raise InputError("--joint with finite tile buffers (--buffer or buffer.elements_per_tile) is not supported: "
                         "the home tiles would change with the copy counts; fix the duplication (--dup) instead")


def _default_scheduler(args: argparse.Namespace) -> str:
    """What `schedule` runs when no scheduler is named (`registry.default_for` the chip, `--buffer` applied)."""
    from dataclasses import replace

    hw = api.load_hardware(args.hw)
    if getattr(args, "buffer", None) is not None:
        from cimopt.sizes import parse_capacity

        hw = replace(hw, buffer_elements=parse_capacity(args.buffer, hw))
    return registry.default_for(hw)


def _finite_buffer(args: argparse.Namespace, hw) -> bool:
    """Whether the run has finite tile buffers: `--buffer` if given (`inf` lifts the file's), else the file's."""
    if getattr(args, "buffer", None) is None:
        return hw.buffer_elements is not None
    from cimopt.sizes import parse_capacity

    return parse_capacity(args.buffer, hw) is not None


MIN_BUFFER_IGNORES = ("scheduler", "buffer", "out", *SOLVER_DEFAULTS)


def check_min_buffer(args: argparse.Namespace) -> None:
    """`schedule --min-buffer` runs clsa-bp probes on one inference and saves nothing: refuse, before any work,
    the flags it would ignore."""
    for k in MIN_BUFFER_IGNORES:
        if getattr(args, k) is not None:
            raise InputError(f"{_flag(k)} with --min-buffer: the search runs clsa-bp at capacities it chooses and "
                             "saves no schedule, so it would ignore the flag")
    if _stream(args):
        raise InputError(f"--inferences {args.inferences} with --min-buffer: the search is for one inference")


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are InputErrors: one line, exit 2, like every other bad input."""

    def error(self, message: str):
        raise InputError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cimopt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="MVM layers, crossbars and MACs of a model; the chip's power, area, peak")
    p.add_argument("model", nargs="?", default=api.DEFAULT_MODEL)
    p.add_argument("--hw")
    _budget_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("schedule", help="schedule a model, check it on the simulator, print latency and utilization")
    _common(p, "pixel")
    p.add_argument("--scheduler", metavar="NAME",
                   help=f"{' | '.join(registry.NAMES)} (default: {registry.MEMORY} where tile buffers are finite, "
                        f"which returns CLSA-CIM's schedule when that fits; else {registry.HEURISTIC})")
    p.add_argument("--out", help="save the schedule as JSON")
    p.add_argument("--min-buffer", action="store_true", help="instead: the smallest tile buffer at which the "
                   "buffer-aware heuristic (clsa-bp) is as fast as CLSA-CIM with unlimited buffers (binary search)")
    p.add_argument("--periodic", action="store_true", help="schedule the stream of --inferences as one period of "
                   "CLSA-CIM repeated at the initiation interval, checked on the simulator over enough periods to "
                   "hold for any N: as fast for 1,000 inferences as for one")
    _solver_args(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("simulate", help="re-check a saved schedule on the simulator")
    p.add_argument("schedule")
    p.add_argument("--model", help="the model file, if it moved since the schedule was made")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("compare", help="several schedulers (default: " + ", ".join(
                       registry.get(n).label for n in registry.defaults(False)) + ") on one mapping and granularity")
    _common(p, "row")
    p.add_argument("--schedulers", help=f"comma-separated, from {', '.join(registry.NAMES)} (default: "
                   f"{', '.join(registry.defaults(False))}; for a stream of inferences "
                   f"{', '.join(n for n in registry.defaults(True) if n not in arguments.ONE_INFERENCE)})")
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
    sized = any(v is not None for v in (args.pes, args.tiles, args.extra_pes))
    tiles = api.resolve_budget(workload, hw, pes=args.pes, tiles=args.tiles, extra_pes=args.extra_pes).tiles \
        if sized else None  # the chip of the totals: as the flags size it, else chip.tiles / tiles_per_chip, else the minimum
    summary = workload_summary(workload, hw, tiles)
    print(json.dumps(summary, indent=1) if args.json else workload_text(summary))
    return 0


def _prepare(args: argparse.Namespace) -> api.Problem:
    from cimopt.memory import available_memory

    available_memory()  # a bad $CIMOPT_MEMORY_AVAILABLE is an error before the model is loaded
    p = api.prepare(args.model, args.hw, dup=args.dup, pes=args.pes, tiles=args.tiles, extra_pes=args.extra_pes,
                    sets=args.sets, inferences=args.inferences, arrival_interval=args.arrival_interval,
                    placement=args.placement, buffer=getattr(args, "buffer", None),
                    contention=None if args.contention is None else args.contention == "on")
    _warn(p.workload)
    if args.placement == "optimized" and p.hardware.buffer_elements is not None:
        print(f"cimopt: warning: --placement {args.placement} does not plan the tile buffers "
              f"({p.hardware.buffer_elements:,} elements per tile); --placement buffer (the default, auto) does",
              file=sys.stderr)
    return p


def _progress(quiet: bool):
    if quiet:
        return None

    def show(best: int, bound: int, seconds: float) -> None:
        print(f"cpsat: {seconds:7.1f} s  best {best:,}  bound {bound:,}", file=sys.stderr, flush=True)

    return show


def _self_timed(latency: int | None) -> str:
    return "" if latency is None else f" (self-timed {latency:,})"


def stream_text(r: RunRecord | StreamMetrics, width: int = 16) -> list[str]:
    """The stream lines of `schedule` and `simulate` (none for a single inference), labels `width` wide."""
    if r.inferences == 1 and not r.arrival_interval:
        return []
    arrive = f", arriving every {r.arrival_interval:,} cycles" if r.arrival_interval else ""
    out = [f"  {'stream':<{width - 2}}{r.inferences} inferences{arrive}: per-inference latency mean "
           f"{r.inference_latency_mean_cycles:,.1f}, max {r.inference_latency_max_cycles:,} cycles"]
    if r.interval_cycles is not None:
        tput = f", {r.throughput_per_s:,.1f} inferences/s" if r.throughput_per_s is not None else ""
        out.append(f"  {'interval':<{width - 2}}{r.interval_cycles:,.1f} cycles (bottleneck bound "
                   f"{r.interval_bound_cycles:,}, {r.interval_gap:+.1%}){tput}")
    return out


def pj_text(v: float) -> str:
    """Picojoules in the largest unit that keeps them >= 1 (`4.607 mJ`)."""
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.4g} {unit}"
    return f"{v:.4g} pJ"


def energy_text(total: float, parts: dict[str, float]) -> str:
    """`12.3 uJ per inference (mvm 4.6 mJ, ...)`: the total and each part."""
    pj = pj_text
    shares = ", ".join(f"{k} {pj(v)}" for k, v in parts.items())
    return f"{pj(total)} per inference ({shares})"


def steady_text(r: RunRecord) -> list[str]:
    """The steady-state line of a stream with energy figures: energy per inference with static power over the
    interval, next to the stream's own (static over its makespan)."""
    if r.steady_energy_pj is None or not r.energy_pj:
        return []
    return [f"  steady state  {pj_text(r.steady_energy_pj)} per inference: static {pj_text(r.steady_static_pj)} "
            f"(static power over the {r.steady_interval_cycles:,.0f}-cycle interval) + dynamic "
            f"{pj_text(r.steady_energy_pj - r.steady_static_pj)}"]


def links_text(peak: float | None, busiest: str | None, delay: int | None) -> str:
    """`busiest tile 2 -> tile 3 (east) busy 57.5% of the time; messages waited 29,036,323 cycles in all`."""
    if not busiest:
        return "no message crosses the NoC"
    return f"busiest {busiest} busy {peak:.1%} of the time; messages waited {delay:,} cycles in all for links"


def schedule_text(r: RunRecord, out: str | None) -> str:
    """What `cimopt schedule` prints."""
    copies = ", ".join(f"{k} x{v}" for k, v in r.copies if v > 1) or "one each"
    kind = (f", periodic: one period every {r.steady_interval_cycles:,.0f} cycles, {r.steady_periods} periods "
            "checked") if r.periodic else ""
    lines = [f"{r.scheduler} on {r.model} ({r.hardware}, {r.granularity} sets, {r.sets:,} sets, "
             f"duplication {r.duplication}{kind})",
             f"  latency       {r.latency_cycles:,} cycles{_self_timed(r.self_timed_latency_cycles)}",
             f"  utilization   {r.utilization:.2%} of the chip, {r.utilization_mapped:.2%} of mapped PEs"]
    if r.speedup_vs_lbl is not None:
        lines.append(f"  speedup       {r.speedup_vs_lbl:.2f}x over layer-by-layer without duplication "
                     f"({r.lbl_latency_cycles:,}), {r.speedup_vs_lbl_same_dup:.2f}x over layer-by-layer with the "
                     f"same duplication ({r.lbl_same_dup_latency_cycles:,})")
    lines += [f"  PEs           {r.pes_used:,} used of {r.pes:,} ({r.tiles:,} tiles)",
             f"  copies        {copies}",
             f"  bottleneck    {r.bottleneck_layer} (busiest copy busy {r.bottleneck_busy_fraction:.0%} of the time, "
             f"{dict(r.copies).get(r.bottleneck_layer, 0)} copies)"]
    lines += stream_text(r)
    if r.solve_seconds is not None:
        rule = f" ({r.bound_rule})" if r.bound_rule else ""
        lines.append(f"  solver        {r.status}, bound {r.bound_cycles:,}{rule}, gap {r.optimality_gap or 0:.2%}, "
                     f"{r.solve_seconds:.1f} s" + (f": {r.solver_note}" if r.solver_note else ""))
    cap = "unlimited" if r.buffer_elements is None else f"{r.buffer_elements:,} per tile"
    lines.append(f"  buffer        peak {r.peak_buffer_elements:,} elements on one tile (capacity {cap})")
    if r.spill_bytes:
        lines.append(f"  memory tier   {r.spill_bytes:,} bytes moved ({r.spill_write_bytes:,} spilled, "
                     f"{r.spill_read_bytes:,} filled back)")
    if r.energy_pj:
        lines.append(f"  energy        {energy_text(r.energy_pj, dict(r.energy))}, EDP {r.edp:.4g} pJ x cycles")
        lines += steady_text(r)
    if r.noc_byte_hops is not None:
        lines.append(f"  NoC traffic   {r.noc_byte_hops:,} bytes x hops ({r.placement} placement)")
    if r.contention:
        lines.append(f"  links         {links_text(r.link_peak_utilization, r.busiest_link, r.contention_delay_cycles)}")
    lines.append(f"  valid         {'yes' if r.valid else 'NO'}")
    if out:
        lines.append(f"  saved         {out}")
    return "\n".join(lines)


def cmd_schedule(args: argparse.Namespace) -> int:
    if args.periodic and args.min_buffer:
        raise InputError("--periodic and --min-buffer do not go together")
    if args.min_buffer:
        check_min_buffer(args)
        return _min_buffer(_prepare(args), args.json)
    if args.periodic and args.scheduler not in (None, registry.HEURISTIC):
        raise InputError(f"--periodic repeats CLSA-CIM's schedule ({registry.HEURISTIC}), not --scheduler "
                         f"{args.scheduler}")
    scheduler = registry.get(args.scheduler or (registry.HEURISTIC if args.periodic else _default_scheduler(args)))
    check_flags(args, (scheduler.name,), named=args.scheduler is not None)
    if args.out:
        arguments.check_output_file(args.out, "--out")
    problem = _prepare(args)
    if args.periodic:  # the periodic stream: the record from one period, the checked periods saved with --out
        prun = api.run_periodic(problem)
        schedule, sim, rec = prun.checked, prun.sim, api.periodic_record(problem, prun)
    else:
        run = api.run(problem, scheduler.name, progress=_progress(args.json), **_solver(args))
        schedule, sim, rec = run.schedule, run.sim, api.record(problem, run)
    if args.out:
        schedule.save(args.out)
    if args.json:
        print(json.dumps(rec.to_json(), indent=1))
    else:
        print(schedule_text(rec, args.out))
        if not rec.valid:
            print(violations_text(sim))
    return _exit_code([rec.valid], [rec.interrupted])


def _exit_code(valid: list, interrupted: list) -> int:
    """130 after Ctrl-C (the best results so far were printed), 1 if the simulator rejected a schedule, else 0."""
    if any(interrupted):
        print("cimopt: interrupted: the results above are the best found so far", file=sys.stderr)
        return 130
    return 0 if all(valid) else 1


def _min_buffer(problem: api.Problem, as_json: bool) -> int:
    from dataclasses import asdict

    from cimopt.capacity import min_buffer

    r = min_buffer(problem)
    d = {"model": problem.model, "hardware": problem.hardware.name, "granularity": problem.sets.granularity.spec,
         "duplication": problem.mapping.strategy, "pes": problem.budget.pes, "min_buffer_elements": r.elements,
         "min_buffer_bytes": ceil_div(r.elements * problem.hardware.bits, 8), **asdict(r)}
    d.pop("elements")
    if as_json:
        print(json.dumps(d, indent=1))
    else:
        print(f"{problem.model} on {problem.hardware.name} ({d['granularity']} sets, duplication {d['duplication']}, "
              f"{d['pes']:,} PEs)")
        print(f"  smallest buffer for CLSA-CIM's latency {r.latency_cycles:,}: {r.elements:,} elements per tile "
              f"({d['min_buffer_bytes']:,} bytes), {r.elements / max(r.clsa_peak_elements, 1):.0%} of CLSA-CIM's peak "
              f"{r.clsa_peak_elements:,}")
        print(f"  lower bounds: one set's inputs {r.footprint_elements:,} elements per tile, any schedule in CLSA-CIM's "
              f"order {r.hold_elements:,} ({r.probes} clsa-bp probes)")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    sched = api.load_schedule(args.schedule)
    workload = api.load_schedule_model(sched, args.model)
    sim = api.simulate_schedule(workload, sched)
    st = stream_metrics(workload, sched)
    energy = energy_fields(sched.hardware, sim)  # absent without [energy] figures
    if args.json:
        print(json.dumps({
            "schedule": args.schedule, "scheduler": sched.scheduler, "model": sched.model, "valid": sim.valid,
            "latency_cycles": sim.latency, "self_timed_latency_cycles": sim.self_timed_latency,
            "utilization": sim.utilization, "utilization_mapped": sim.utilization_mapped,
            "energy_pj": energy["energy_pj"], "energy": dict(energy["energy"]) or None,
            "noc_byte_hops": sim.noc_byte_hops,
            **({} if sim.link_busy is None else {
                "link_peak_utilization": sim.link_peak_utilization, "busiest_link": sim.busiest_link,
                "contention_delay_cycles": sim.contention_delay_cycles, "messages": sim.messages}),
            "violation_counts": sim.violation_counts,
            "buffer_elements": sched.hardware.buffer_elements, "spill_bytes": sim.spill_bytes,
            "spill_write_bytes": sim.spill_write_bytes, "spill_read_bytes": sim.spill_read_bytes,
            "peak_buffer_elements": max(sim.peak_buffer, default=0), "peak_buffer_per_tile": list(sim.peak_buffer),
            "violations": [{"kind": v.kind, "layer": v.layer, "set": v.set, "cycle": v.cycle, "message": v.message}
                           for v in sim.violations],
        } | st.to_json(), indent=1))
    else:
        print(f"{args.schedule}: {sched.scheduler} schedule of {sched.model}, {len(sched):,} jobs")
        print(f"  latency     {sim.latency:,} cycles{_self_timed(sim.self_timed_latency)}")
        print(f"  utilization {sim.utilization:.2%} of the chip, {sim.utilization_mapped:.2%} of mapped PEs")
        for line in stream_text(st, width=14):
            print(line)
        if sim.energy_pj:
            print(f"  energy      {energy_text(sim.energy_pj, sim.energy)}")
        if sim.noc_byte_hops is not None:
            print(f"  NoC traffic {sim.noc_byte_hops:,} bytes x hops")
        if sim.link_busy is not None:
            print(f"  links       {links_text(sim.link_peak_utilization, sim.busiest_link, sim.contention_delay_cycles)}")
        print("  valid       yes" if sim.valid else violations_text(sim))
    return 0 if sim.valid else 1


def compare_text(c: dict) -> str:
    """What `cimopt compare` prints, from its JSON object."""
    rows = []
    for r in c["results"]:
        gap = r["gap"]
        if r["latency_cycles"] is None:  # no schedule: its reason follows the table
            rows.append([r["scheduler"], "", "", "", "", r["status"], "", "", "-"])
            continue
        rows.append([r["scheduler"], r["latency_cycles"], f"{r['utilization']:.2%}",
                     f"{r['speedup_vs_lbl_same_dup']:.2f}x", "" if gap is None else f"{gap:+.1%}", r["status"],
                     "" if r["solve_seconds"] is None else f"{r['solve_seconds']:.1f} s", r["peak_buffer_elements"],
                     "yes" if r["valid"] else "NO"])
    dups = dict.fromkeys(r["duplication"] for r in c["results"])
    head = (f"{c['model']} on {c['hardware']}: {c['granularity']} sets ({c['sets']:,}), duplication "
            f"{' / '.join(dups)}, {c['pes']:,} PEs")
    if "search" in dups and c["results"]:  # the copies the search chose (the same for every scheduler)
        head += "\ncopies (search): " + ", ".join(f"{k} x{v}" for k, v in c["results"][0]["copies"].items() if v > 1)
    caps = {r["buffer_elements"] for r in c["results"]}
    if caps != {None}:
        head += ", buffer " + " / ".join("unlimited" if b is None else f"{b:,}" for b in sorted(caps, key=str))
    heads = ["scheduler", "latency", "utilization", "speedup", "gap to bound", "status", "time", "peak buffer",
             "valid"]
    align = "lrrrrlrrl"
    if caps != {None}:  # finite tile buffers: what crossed the memory tier
        for row, r in zip(rows, c["results"], strict=True):
            row[-1:-1] = ["" if r["latency_cycles"] is None else r.get("spill_bytes", 0)]
        heads[-1:-1] = ["tier bytes"]
        align = align[:-1] + "rl"
    if any(r.get("energy_pj") for r in c["results"]):  # a chip with energy figures: energy, EDP, NoC traffic
        for row, r in zip(rows, c["results"], strict=True):
            if r["latency_cycles"] is None:
                row[-1:-1] = ["", "", ""]
                continue
            row[-1:-1] = [f"{r['energy_pj'] / 1e6:,.1f}", f"{r['edp']:.4g}",
                          "" if r["noc_byte_hops"] is None else r["noc_byte_hops"]]
        heads[-1:-1] = ["energy uJ", "EDP pJ x cycles", "NoC bytes x hops"]
        align = align[:-1] + "rrrl"
    streams = [r for r in c["results"] if r.get("inferences", 1) > 1]
    if streams and any(r.get("energy_pj") for r in c["results"]):  # energy per inference in steady state
        at = heads.index("energy uJ") + 1
        for row, r in zip(rows, c["results"], strict=True):
            row[at:at] = ["" if r.get("steady_energy_pj") is None else f"{r['steady_energy_pj'] / 1e6:,.1f}"]
        heads[at:at] = ["steady uJ"]
        align = align[:at] + "r" + align[at:]
    if streams:  # a stream: the makespan is the latency column; the initiation interval next to it
        for row, r in zip(rows, c["results"], strict=True):
            row[2:2] = ["" if r["interval_cycles"] is None else f"{r['interval_cycles']:,.1f}"]
        heads[2:2] = ["interval"]
        align = align[:2] + "r" + align[2:]
        head += (f", {streams[0]['inferences']} inferences (interval bound {streams[0]['interval_bound_cycles']:,} "
                 "cycles)")
    tab = table(heads, rows, align)
    why = [f"{r['scheduler']} INVALID: " + ", ".join(f"{k} {n}" for k, n in sorted(r["violation_counts"].items()))
           + ("" if registry.get(r["scheduler"]).buffers or set(r["violation_counts"]) != {"buffer"}
              else " (it does not plan tile buffers)")
           + "".join(f"\n  {m}" for m in r["violation_messages"][:2])
           for r in c["results"] if r["valid"] is False]
    why += [f"{r['scheduler']} {r['status']}: {r['error']}" for r in c["results"] if r["latency_cycles"] is None]
    if why:
        tab += "\n\n" + "\n".join(why)
    proof = "it is the optimum, proven" if c["optimum_proven"] else "the optimum is not proven"
    notes = "".join(f"{r['scheduler']}: {r['solver_note']}\n" for r in c["results"] if r.get("solver_note"))
    return (f"{head}\n\n{tab}\n\n{notes}lower bound {c['bound_cycles']:,} cycles ({c['bound_rule']}): {proof}\n"
            + certificate_text(c) +
            "gap = latency / lower bound - 1 (the schedule is at most this far above the optimum); "
            "speedup over layer-by-layer with the same duplication")


def certificate_text(c: dict) -> str:
    """The best schedule with its proven gap, and whether CLSA-CIM is optimal, certified or beaten ('' if no
    valid schedule); one line each, newline-terminated."""
    if c.get("best_latency_cycles") is None:
        return ""
    best, bound = c["best_latency_cycles"], c["bound_cycles"]
    cpu, wall = (c.get(k, 0.0) + c.get(f"prepare_{k}", 0.0) for k in ("cpu_seconds", "wall_seconds"))
    took = f" ({cpu:.1f} s CPU, {wall:.1f} s wall)" if "cpu_seconds" in c else ""
    out = f"best schedule {best:,} cycles ({c['best_scheduler']}), proven gap {c['proven_gap']:.1%}{took}\n"
    heur = next((r for r in c["results"] if r["scheduler"] == "clsa" and r["valid"]), None)
    if heur is None or c.get("heuristic_verdict") is None:
        return out
    lat = heur["latency_cycles"]
    if c["heuristic_verdict"] == "optimal":
        return out + "CLSA-CIM is optimal\n"
    if c["heuristic_verdict"] == "beaten":
        return out + (f"CLSA-CIM beaten by {lat - best:,} cycles ({(lat - best) / lat:.1%}); it is at most "
                      f"{lat / bound - 1:+.1%} above the optimum\n")
    return out + f"CLSA-CIM certified within {lat / bound - 1:+.1%} of the optimum\n"


def cmd_compare(args: argparse.Namespace) -> int:
    names = None
    if args.schedulers is not None:
        if not args.schedulers.replace(",", "").strip():
            raise InputError(f"--schedulers: empty list {args.schedulers!r}: name at least one scheduler (default: "
                             "leave the flag out)")
        names = parse_names(args.schedulers, registry.NAMES, "--schedulers")
    if names is None and _stream(args):  # the defaults that schedule a stream (the others refuse one)
        names = tuple(n for n in registry.defaults(True) if n not in arguments.ONE_INFERENCE)
    check_flags(args, names or registry.defaults(False))
    cpu, wall = time.process_time(), time.perf_counter()
    problem = _prepare(args)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    c = api.compare(problem, names, progress=_progress(args.quiet or args.json), **_solver(args)).to_json()
    c |= {"prepare_cpu_seconds": cpu, "prepare_wall_seconds": wall}  # model, mapping (a duplication search), sets
    print(json.dumps(c, indent=1) if args.json else compare_text(c))
    return _exit_code([compare_ok(r) for r in c["results"]], [r.get("interrupted") for r in c["results"]])


def compare_ok(r: dict) -> bool:
    """Whether a compare row keeps the exit code at 0: a valid schedule; a scheduler that gave none (its reason
    is printed); or one that does not plan tile buffers and broke only them (what ignoring them costs)."""
    if r["latency_cycles"] is None or r["valid"]:
        return True
    return not registry.get(r["scheduler"]).buffers and set(r["violation_counts"]) == {"buffer"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
