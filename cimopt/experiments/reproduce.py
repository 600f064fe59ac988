"""`cimopt reproduce`: the paper-style results, made with the sweep engine, written up in `DIR/README.md`.

Four parts, each a sweep folder under DIR (reruns resume; the quick and full grids use different folders):
1. networks: every zoo network at its minimum chip plus extra PEs, layer-by-layer and CLSA-CIM, each without
   and with greedy duplication (the four configurations the paper compares), pixel sets;
2. headline: the largest utilization improvement and speedup of CLSA-CIM + duplication over layer-by-layer
   without duplication, next to the paper's 17.9x and 29.2x, with the setting where each was reached;
3. gap: CLSA-CIM against CP-SAT's optimum on instances CP-SAT solves (small models, the golden chain, and in
   the full run zoo networks at row granularity with a time limit);
4. plots (one per network from the sweep, plus a summary bar chart) and the README.

Everything is deterministic but the wall times and the CP-SAT runs stopped by their time limit (the README
marks those: their status is FEASIBLE).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cimopt import api
from cimopt.builder import conv_chain
from cimopt.experiments.plots import bar_plot, safe_name
from cimopt.experiments.sweep import SweepResult, SweepSpec, model_name, run_sweep
from cimopt.hardware import Hardware, load_hardware
from cimopt.schedulers import registry
from cimopt.workload import Workload

PAPER_UTILIZATION = 17.9
PAPER_SPEEDUP = 29.2
ZOO_NETWORKS = ("tiny-yolov3", "tiny-yolov4", "vgg16", "resnet18", "resnet50", "alexnet", "mobilenetv2")
LBL, CLSA, CPSAT = registry.BASELINE, registry.HEURISTIC, registry.EXACT
CONFIGS = ((LBL, "none"), (LBL, "greedy"), (CLSA, "none"), (CLSA, "greedy"))
CONFIG_NAMES = {(LBL, "none"): "LbL", (LBL, "greedy"): "LbL+dup", (CLSA, "none"): "CLSA", (CLSA, "greedy"): "CLSA+dup"}

ModelSpec = str | Path | Workload | Callable[[], Workload]


@dataclass(frozen=True)
class GapSweep:
    """Instances for the heuristic-vs-optimal table: models x granularities x extra PEs x duplication."""

    name: str
    models: tuple[ModelSpec, ...]
    granularities: tuple[str, ...]
    extra_pes: tuple[int, ...] = (0,)
    duplications: tuple[str, ...] = ("none",)
    time_limit: float = 10.0


@dataclass(frozen=True)
class Config:
    """What `reproduce` runs. `networks` may hold Workloads (or factories of them) for tests."""

    name: str
    networks: tuple[ModelSpec, ...]
    extra_pes: tuple[int, ...]
    granularity: str = "pixel"
    gap: tuple[GapSweep, ...] = ()
    hardware: str | None = None


def golden_chain() -> Workload:
    """domain.md's golden example: three 3x3 convs with ReLU on an 8 x 8 input (named `golden-chain`)."""
    w = conv_chain()
    return Workload("golden-chain", w.nodes, w.warnings)


QUICK = Config(
    name="quick",
    networks=("tiny-yolov3", "resnet18"),
    extra_pes=(0, 64, 256),
    gap=(GapSweep("gap-quick", (golden_chain, "mini-cnn", "mini-yolo"), ("row",), time_limit=30.0),
         GapSweep("gap-quick-dup", (golden_chain, "mini-cnn", "mini-yolo"), ("row",), (4,), ("greedy",),
                  time_limit=30.0)),
)
FULL = Config(
    name="full",
    networks=ZOO_NETWORKS,
    extra_pes=(0, 16, 32, 64, 128, 256, 512, 1024),
    gap=(GapSweep("gap", (golden_chain, "mini-cnn", "mini-yolo"), ("pixel", "row"), time_limit=60.0),
         GapSweep("gap-dup", (golden_chain, "mini-cnn", "mini-yolo"), ("pixel", "row"), (4,), ("greedy",),
                  time_limit=60.0),
         GapSweep("gap-zoo", ZOO_NETWORKS, ("row",), (0,), ("none",), time_limit=30.0),
         GapSweep("gap-zoo-dup", ZOO_NETWORKS, ("row",), (64,), ("greedy",), time_limit=30.0)),
)


@dataclass(frozen=True)
class ReproduceResult:
    """The README text's summary, whether every schedule was valid, the files written, and the tables."""

    summary: str
    valid: bool
    files: tuple[Path, ...]
    tables: dict = field(default_factory=dict, repr=False)


def _model(m: ModelSpec) -> str | Path | Workload:
    return m() if callable(m) else m


def _fmt_int(v: int | None) -> str:
    return "" if v is None else f"{v:,}"


def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A GitHub markdown table; `align` has 'l' or 'r' per column (default: first left, others right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Tables from sweep rows


def network_table(rows: Sequence[dict], workloads: dict[str, Workload], hw: Hardware) -> list[dict]:
    """Per network: MVM layers, MACs, minimum PEs and tiles, pixel sets, layer-by-layer latency at the minimum."""
    out = []
    for name, w in workloads.items():
        base = [r for r in rows if r["model"] == name and r["scheduler"] == LBL and r["duplication"] == "none"]
        first = min(base, key=lambda r: r["pes"])
        out.append({"model": name, "mvm_layers": len(w.layers), "macs": w.macs, "min_pes": first["min_pes"],
                    "min_tiles": -(-first["min_pes"] // hw.pes_per_tile), "sets": first["sets"],
                    "lbl_latency_cycles": first["latency_cycles"]})
    return out


def config_table(rows: Sequence[dict], model: str) -> list[dict]:
    """Per budget point of one network: latency, speedup over LbL (no dup) and utilization of the 4 configs."""
    by = {(r["extra_pes"], r["scheduler"], r["duplication"]): r for r in rows if r["model"] == model}
    out = []
    for extra in sorted({k[0] for k in by}):
        d: dict = {"extra_pes": extra, "pes": by[(extra, LBL, "none")]["pes"]}
        for cfg in CONFIGS:
            r = by.get((extra,) + cfg)
            d[CONFIG_NAMES[cfg]] = None if r is None else {
                "latency_cycles": r["latency_cycles"], "speedup_vs_lbl": r["speedup_vs_lbl"],
                "utilization": r["utilization"], "utilization_mapped": r["utilization_mapped"],
                "valid": r["valid"]}
        out.append(d)
    return out


PAPER_EXTRA_PES = 64  # the follow-up paper's range: 0 to 64 extra PEs


def headline(rows: Sequence[dict], max_extra: int | None = None) -> dict:
    """The largest speedup and utilization improvements of CLSA+dup over layer-by-layer without duplication.

    At the same chip, utilization of the whole chip improves exactly by the speedup (same work, same PEs), so
    the utilization improvement is measured over the mapped PEs (busy / (PEs holding weights x latency)):
    CLSA+dup over LbL (no dup), and, as a second reading, CLSA+dup over LbL with the same duplication.
    With `max_extra`, only chips with at most that many extra PEs count.
    """
    base = {(r["model"], r["extra_pes"]): r for r in rows if r["scheduler"] == LBL and r["duplication"] == "none"}
    same = {(r["model"], r["extra_pes"]): r for r in rows if r["scheduler"] == LBL and r["duplication"] == "greedy"}
    best: dict[str, dict | None] = {"speedup": None, "utilization_mapped": None, "utilization_same_dup": None}
    per_model: dict[str, dict] = {}
    for r in rows:
        if (r["scheduler"], r["duplication"]) != (CLSA, "greedy") or r["latency_cycles"] is None:
            continue
        if max_extra is not None and r["extra_pes"] > max_extra:
            continue
        k = (r["model"], r["extra_pes"])
        b, s = base[k], same.get(k)
        vals = {"speedup": r["speedup_vs_lbl"],
                "utilization_mapped": r["utilization_mapped"] / b["utilization_mapped"],
                "utilization_same_dup": r["utilization_mapped"] / s["utilization_mapped"] if s else None}
        m = per_model.setdefault(r["model"], {key: None for key in best})
        for key, v in vals.items():
            if v is None:
                continue
            entry = {"value": v, "model": r["model"], "extra_pes": r["extra_pes"], "pes": r["pes"],
                     "granularity": r["granularity"], "latency_cycles": r["latency_cycles"],
                     "lbl_latency_cycles": b["latency_cycles"]}
            for target in (best, m):
                if target[key] is None or v > target[key]["value"]:
                    target[key] = entry
    return {"best": best, "per_model": per_model}


def gap_table(rows: Sequence[dict]) -> list[dict]:
    """Per instance (model, granularity, duplication, PEs): LbL, CLSA-CIM and CP-SAT side by side."""
    keys = list(dict.fromkeys((r["model"], r["granularity"], r["duplication"], r["pes"]) for r in rows))
    by = {(r["model"], r["granularity"], r["duplication"], r["pes"], r["scheduler"]): r for r in rows}
    out = []
    for k in keys:
        lbl, clsa, cp = (by.get(k + (s,)) for s in (LBL, CLSA, CPSAT))
        if cp is None or clsa is None:
            continue
        out.append({"model": k[0], "granularity": k[1], "duplication": k[2], "pes": k[3], "sets": cp["sets"],
                    "lbl_latency_cycles": lbl["latency_cycles"] if lbl else None,
                    "clsa_latency_cycles": clsa["latency_cycles"], "cpsat_latency_cycles": cp["latency_cycles"],
                    "status": cp["status"], "bound_cycles": cp["bound_cycles"],
                    "optimality_gap": cp["optimality_gap"],
                    "clsa_gap": (clsa["latency_cycles"] / cp["latency_cycles"] - 1)
                    if cp["latency_cycles"] else None,
                    "clsa_gap_to_bound": clsa["gap"],
                    "solve_seconds": cp["solve_seconds"],
                    "valid": all(r["valid"] is not False for r in (lbl, clsa, cp) if r)})
    return out


# ---------------------------------------------------------------------------------------------------------------
# Running


def _sweep_command(models: Sequence[str], extra: Sequence[int], schedulers: str, dups: str, grans: Sequence[str],
                   out: Path, time_limit: float | None = None, hw: str | None = None) -> str:
    s = (f"cimopt sweep {' '.join(models)} --extra-pes {','.join(map(str, extra))} --schedulers {schedulers} "
         f"--dup {dups} --sets {','.join(grans)}")
    if time_limit is not None:
        s += f" --time-limit {time_limit:g}"
    if hw:
        s += f" --hw {hw}"
    return s + f" --out {out}"


def reproduce(*, quick: bool = False, out: str | Path = "results", workers: int = 2, dask: str | None = None,
              progress: bool = True, command: str | None = None, config: Config | None = None,
              hardware: str | None = None) -> ReproduceResult:
    """Run (or resume) the configuration's sweeps and write DIR/README.md, DIR/summary.json and the plots.

    `config` defaults to QUICK or FULL; `hardware` (a TOML file or preset) replaces the config's chip.
    """
    cfg = config or (QUICK if quick else FULL)
    if hardware is not None:
        cfg = replace(cfg, hardware=hardware)
    out = Path(out)
    command = command or f"cimopt reproduce{' --quick' if quick else ''} --out {out}"
    t0 = time.perf_counter()
    hw = load_hardware(cfg.hardware)

    nets = [_model(m) for m in cfg.networks]
    net_dir = out / f"networks-{cfg.name}"
    spec = SweepSpec(models=tuple(nets), budget_kind="extra_pes", budgets=cfg.extra_pes, schedulers=(LBL, CLSA),
                     duplications=("none", "greedy"), granularities=(cfg.granularity,), hardware=cfg.hardware)
    net_res = run_sweep(spec, net_dir, workers=workers, dask=dask, progress=progress, plots=True, label=net_dir.name)
    workloads = {model_name(m): api.load_model(m) for m in nets}

    gap_results: list[tuple[GapSweep, SweepResult]] = []
    for g in cfg.gap:
        gspec = SweepSpec(models=tuple(_model(m) for m in g.models), budget_kind="extra_pes", budgets=g.extra_pes,
                          schedulers=(LBL, CLSA, CPSAT), duplications=g.duplications,
                          granularities=g.granularities, hardware=cfg.hardware, time_limit=g.time_limit)
        gap_results.append((g, run_sweep(gspec, out / g.name, workers=workers, dask=dask, progress=progress,
                                         plots=False, label=g.name)))

    tables = {
        "networks": network_table(net_res.rows, workloads, hw),
        "configs": {name: config_table(net_res.rows, name) for name in workloads},
        "headline": headline(net_res.rows),
        "headline_paper_range": headline(net_res.rows, PAPER_EXTRA_PES),
        "gap": [row for _, res in gap_results for row in gap_table(res.rows)],
    }
    files = [*net_res.files]
    files.append(_headline_plot(tables["headline"], list(workloads), out / "headline.png"))
    valid = all(r["valid"] is not False for r in net_res.rows) and all(
        r["valid"] is not False for _, res in gap_results for r in res.rows)
    wall = time.perf_counter() - t0
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps({"config": cfg.name, "hardware": hw.name, "tables": tables}, indent=1) + "\n")
    readme = readme_text(cfg, hw, command, tables, net_res, gap_results, wall, workloads, out)
    readme_path = out / "README.md"
    readme_path.write_text(readme)
    files += [summary_path, readme_path]
    best = tables["headline"]["best"]
    sp, um = best["speedup"], best["utilization_mapped"]
    lines = [f"reproduce ({cfg.name}): {len(net_res.rows)} network points, "
             f"{sum(len(r.rows) for _, r in gap_results)} gap points, {wall:.1f} s wall "
             f"({net_res.computed + sum(r.computed for _, r in gap_results)} computed now)"]
    if sp:
        lines.append(f"  best speedup {sp['value']:.2f}x ({sp['model']}, +{sp['extra_pes']} PEs; paper {PAPER_SPEEDUP}x)")
    if um:
        lines.append(f"  best utilization improvement {um['value']:.2f}x ({um['model']}, +{um['extra_pes']} PEs; "
                     f"paper {PAPER_UTILIZATION}x)")
    lines.append(f"  wrote {readme_path}")
    return ReproduceResult("\n".join(lines), valid, tuple(files), tables)


def _headline_plot(head: dict, models: list[str], path: Path) -> Path:
    per = head["per_model"]
    groups = {
        "speedup (CLSA+dup vs LbL)": [per.get(m, {}).get("speedup", {}) and per[m]["speedup"]["value"] for m in models],
        "utilization improvement (mapped PEs)": [per.get(m, {}).get("utilization_mapped", {})
                                                 and per[m]["utilization_mapped"]["value"] for m in models],
    }
    return bar_plot(models, groups, path, "best factor over the sweep", "Best CLSA-CIM + greedy duplication gains",
                    refs={f"paper: speedup {PAPER_SPEEDUP}x": PAPER_SPEEDUP,
                          f"paper: utilization {PAPER_UTILIZATION}x": PAPER_UTILIZATION})


# ---------------------------------------------------------------------------------------------------------------
# The README


def _compute_seconds(net_res: SweepResult, gap_results: list[tuple[GapSweep, SweepResult]]) -> float:
    """Work of every point of the sweeps, whichever run computed it (each record keeps its own time)."""
    results = [net_res] + [r for _, r in gap_results]
    return sum(float(rec.get("seconds", 0.0)) for r in results for rec in r.records.values())


def readme_text(cfg: Config, hw: Hardware, command: str, tables: dict, net_res: SweepResult,
                gap_results: list[tuple[GapSweep, SweepResult]], wall: float, workloads: dict[str, Workload],
                out: Path) -> str:
    names = list(workloads)
    cli_names = all(isinstance(m, str) for m in cfg.networks)
    net_cmd = _sweep_command(names, cfg.extra_pes, "lbl,clsa", "none,greedy", [cfg.granularity], out / net_res.out.name,
                             hw=cfg.hardware) if cli_names else None
    parts = [
        f"# cimopt results ({cfg.name})",
        "",
        f"Made by `{command}` in {wall:.1f} s wall time on this machine "
        f"({net_res.computed + sum(r.computed for _, r in gap_results)} points computed in this run, "
        f"{net_res.reused + sum(r.reused for _, r in gap_results)} reused from an earlier, interrupted or identical "
        f"run); computing every point took {_compute_seconds(net_res, gap_results) / 60:.1f} min of work in all "
        f"(summed per point, run on 2 worker processes: about half that in wall time on two cores). "
        f"Hardware `{hw.name}`: {hw.xbar_rows} x {hw.xbar_cols} crossbars, {hw.mvm_cycles} cycle(s) per MVM, "
        f"{hw.pes_per_tile} PEs per tile, NoC {hw.noc_hop_cycles} cycles per hop. Every schedule below was checked by the simulator; latencies are the simulator's.",
        "",
        "Each part is a sweep folder (`points.jsonl`, `sweep.csv`, `sweep.json`, `sweep.meta.json`); rerunning the "
        "command resumes it. Numbers are deterministic, CP-SAT's included (its time limit counts deterministic "
        "seconds); wall and solve times are not.",
        "",
        "## 1. Networks",
        "",
        "Each network's MVM layers, MACs, the minimum chip (one copy of every layer: PEs = crossbars, "
        f"tiles of {hw.pes_per_tile} PEs), its number of {cfg.granularity} sets, and the layer-by-layer latency there, which "
        "is the sum of the MVM layers' output pixels.",
        "",
        md_table(["network", "MVM layers", "MACs", "min PEs", "min tiles", "sets", "LbL latency (cycles)"],
                 [[n["model"], n["mvm_layers"], f"{n['macs'] / 1e9:.3f} G", _fmt_int(n["min_pes"]),
                   _fmt_int(n["min_tiles"]), _fmt_int(n["sets"]), _fmt_int(n["lbl_latency_cycles"])]
                  for n in tables["networks"]]),
        "",
        _made_by(command, net_cmd, net_res),
        "",
        "## 2. Layer-by-layer vs CLSA-CIM, with and without weight duplication",
        "",
        "Per network and chip size (minimum PEs + extra PEs): latency in cycles, speedup over layer-by-layer "
        "without duplication (LbL) at the same chip, and utilization (busy crossbar-cycles / (all PEs x latency)). "
        "LbL+dup and CLSA+dup give the extra PEs to copies of the slowest layers, greedily (domain.md 3.2). "
        f"{cfg.granularity.capitalize()} sets.",
        "",
    ]
    for name in names:
        rows = tables["configs"][name]
        cols = [CONFIG_NAMES[c] for c in CONFIGS]
        parts += [f"### {name}", "",
                  md_table(["extra PEs", "PEs"] + [f"latency {c}" for c in cols] + [f"speedup {c}" for c in cols[1:]]
                           + [f"util {c}" for c in cols],
                           [[_fmt_int(r["extra_pes"]), _fmt_int(r["pes"])]
                            + [_fmt_int(r[c]["latency_cycles"]) if r[c] else "" for c in cols]
                            + [_fmt(r[c]["speedup_vs_lbl"], ".2f") + "x" if r[c] else "" for c in cols[1:]]
                            + [_fmt(r[c]["utilization"], ".2%") if r[c] else "" for c in cols] for r in rows]),
                  "", f"![{name}]({net_res.out.name}/{safe_name(name)}.png)", ""]
    parts += [_made_by(command, net_cmd, net_res), ""]

    head = tables["headline"]
    best = head["best"]
    parts += [
        "## 3. Largest gains, next to the paper's",
        "",
        "The largest improvement CLSA-CIM with greedy duplication (CLSA+dup) reached over layer-by-layer without "
        "duplication, over every network and chip size above, and where. The speedup is LbL latency / CLSA+dup "
        "latency at the same chip. At the same chip, utilization of the whole chip improves by exactly the "
        "speedup (the same work on the same PEs), so the utilization improvement is taken over the *mapped* PEs "
        "(busy crossbar-cycles / (PEs holding weights x latency)): LbL maps only the minimum PEs, CLSA+dup maps "
        "the copies too (equivalently: each design's whole-chip utilization when LbL runs on the minimum chip "
        "and CLSA+dup uses every PE it is given). A second reading compares CLSA+dup with LbL on the same duplicated mapping (the gain "
        "of cross-layer scheduling alone). The paper (Pelke et al., DATE 2024) reports up to "
        f"{PAPER_UTILIZATION}x utilization and {PAPER_SPEEDUP}x speedup; its networks, crossbar size and "
        "budgets are not all known, so the numbers are a comparison of trends, not a replication. The follow-up "
        f"paper sweeps 0 to {PAPER_EXTRA_PES} extra PEs (of 512 x 512 cells); the last two rows stay in that range. "
        "Gains grow with the extra PEs: the more copies, the more a pipelined schedule overlaps them.",
        "",
        md_table(["quantity", "cimopt", "setting", "paper"], [
            _head_row("speedup (CLSA+dup vs LbL)", best["speedup"], f"{PAPER_SPEEDUP}x"),
            _head_row("utilization improvement, mapped PEs (CLSA+dup vs LbL)", best["utilization_mapped"],
                      f"{PAPER_UTILIZATION}x"),
            _head_row("utilization improvement, same mapping (CLSA+dup vs LbL+dup)", best["utilization_same_dup"],
                      ""),
            _head_row(f"speedup, at most {PAPER_EXTRA_PES} extra PEs", tables["headline_paper_range"]["best"]["speedup"],
                      f"{PAPER_SPEEDUP}x"),
            _head_row(f"utilization improvement (mapped), at most {PAPER_EXTRA_PES} extra PEs",
                      tables["headline_paper_range"]["best"]["utilization_mapped"], f"{PAPER_UTILIZATION}x"),
        ], "lrll"),
        "",
        "Per network (best over its chip sizes):",
        "",
        md_table(["network", "speedup", "at extra PEs", "util. improvement (mapped)", "at extra PEs",
                  "same mapping", "at extra PEs"],
                 [[m] + sum(([_fmt(e["value"], ".2f") + "x", _fmt_int(e["extra_pes"])] if e else ["", ""]
                             for e in (head["per_model"].get(m, {}).get(k) for k in
                                       ("speedup", "utilization_mapped", "utilization_same_dup"))), [])
                  for m in names]),
        "",
        "![headline](headline.png)",
        "",
        "Derived from the sweep of parts 1 and 2. " + _made_by(command, net_cmd, net_res),
        "",
        "## 4. Heuristic vs optimum (CP-SAT)",
        "",
        "CLSA-CIM against CP-SAT's best schedule for the same sets, copies and dependencies. Status OPTIMAL: "
        "CP-SAT proved its latency minimal, so the CLSA gap (CLSA latency / optimum - 1) is the heuristic's "
        "true distance from the optimum. FEASIBLE: the time limit stopped the search; the bound is the proven "
        "lower bound and `CLSA gap to bound` is an upper limit on the heuristic's distance. CP-SAT starts from "
        "the CLSA schedule (a hint), so it is never worse. `golden-chain` is domain.md's golden example.",
        "",
        md_table(["instance", "sets", "dup", "PEs", "set count", "LbL", "CLSA", "CP-SAT", "status", "bound",
                  "opt. gap", "CLSA gap", "CLSA gap to bound", "solve s"],
                 [[g["model"], g["granularity"], g["duplication"], _fmt_int(g["pes"]), _fmt_int(g["sets"]),
                   _fmt_int(g["lbl_latency_cycles"]), _fmt_int(g["clsa_latency_cycles"]),
                   _fmt_int(g["cpsat_latency_cycles"]), g["status"], _fmt_int(g["bound_cycles"]),
                   _fmt(g["optimality_gap"], ".1%"), _fmt(g["clsa_gap"], "+.1%"), _fmt(g["clsa_gap_to_bound"], "+.1%"),
                   _fmt(g["solve_seconds"], ".1f")] for g in tables["gap"]], "lllrrrrrlrrrrr"),
        "",
    ]
    for g, res in gap_results:
        cli = all(isinstance(m, str) for m in g.models)
        cmd = _sweep_command([model_name(_model(m)) for m in g.models], g.extra_pes, "lbl,clsa,cpsat",
                             ",".join(g.duplications), g.granularities, out / g.name, g.time_limit,
                             cfg.hardware) if cli else None
        parts += [f"- `{g.name}/`: " + _made_by(command, cmd, res, cpsat=g.time_limit), ""]
    parts += [
        "## Files",
        "",
        f"- `{net_res.out.name}/`: the network sweep (`sweep.csv` has one row per point; plots per network)",
        *[f"- `{g.name}/`: the gap sweep" for g, _ in gap_results],
        "- `headline.png`: best speedup and utilization improvement per network",
        "- `summary.json`: every table above as JSON",
        "",
    ]
    return "\n".join(parts)


def _head_row(label: str, e: dict | None, paper: str) -> list[str]:
    if not e:
        return [label, "", "", paper]
    return [label, f"{e['value']:.2f}x", f"{e['model']}, +{e['extra_pes']:,} PEs ({e['pes']:,} PEs), "
            f"{e['granularity']} sets", paper]


def _made_by(command: str, sweep_cmd: str | None, res: SweepResult, cpsat: float | None = None) -> str:
    s = (f"Made by `{command}` (sweep folder `{res.out.name}/`, {len(res.rows)} rows, "
         f"{res.computed} points computed in {res.seconds:.1f} s wall time this run, {res.reused} reused")
    if cpsat is not None:
        s += f"; CP-SAT time limit {cpsat:g} deterministic s per point, 1 thread, seed 0"
    s += ")."
    if sweep_cmd:
        s += f" The same sweep alone: `{sweep_cmd}`."
    return s
