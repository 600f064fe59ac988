"""`cimopt reproduce`: the paper-style results, made with the sweep engine, written up in `DIR/README.md`.

The README is a sequence of parts (`PARTS`: name -> function), each rendering its own markdown template
(`templates/<part>.md`, `string.Template` placeholders) from the sweeps it runs. A part is one function and
one `PARTS` entry; a configuration lists the parts it runs. Every sweep is a folder under DIR (reruns resume;
the quick and full grids use different folders):
- networks: every zoo network at its minimum chip plus extra PEs, layer-by-layer and CLSA-CIM, each without
  and with greedy duplication (the four configurations the paper compares), pixel sets;
- configs: per network, those four configurations side by side, with a plot;
- headline: the largest utilization improvement and speedup of CLSA-CIM + duplication over layer-by-layer
  without duplication, next to the paper's 17.9x and 29.2x, with the setting where each was reached;
- gap: CLSA-CIM against CP-SAT's optimum on instances CP-SAT solves (small models, the golden chain, and in
  the full run zoo networks at row granularity with a time limit);
- chip: a realistic chip (`isaac-like`): latency, energy per inference and EDP of layer-by-layer, CLSA-CIM and
  CP-SAT with sequential and optimized copy placement, per network that fits (its own records file, resumed).
- throughput: a stream of N inferences per network and chip size, layer-by-layer vs the layer pipeline vs
  CLSA-CIM (greedy duplication): initiation interval, its bottleneck bound, inferences per second, makespan.

Everything is deterministic but the wall times and the CP-SAT runs stopped by their time limit (the README
marks those: their status is FEASIBLE).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from string import Template

from cimopt import api
from cimopt.arguments import check_output_dir
from cimopt.arith import ceil_div
from cimopt.builder import conv_chain
from cimopt.errors import InputError
from cimopt.experiments.plots import bar_plot, safe_name
from cimopt.experiments.sweep import SweepResult, SweepSpec, hardware_json, model_name, run_sweep
from cimopt.hardware import Hardware, load_hardware
from cimopt.schedulers import registry
from cimopt.workload import Workload

PAPER_UTILIZATION = 17.9
PAPER_SPEEDUP = 29.2
ZOO_NETWORKS = ("tiny-yolov3", "tiny-yolov4", "vgg16", "resnet18", "resnet50", "alexnet", "mobilenetv2",
                "squeezenet1_1")
LBL, CLSA, CPSAT, PIPELINE = registry.BASELINE, registry.HEURISTIC, registry.EXACT, registry.PIPELINE
ASSUMED_MVM_NS = 100.0  # ISAAC's MVM time, for inferences per second when the hardware file gives none
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
class ChipStudy:
    """The realistic-chip part: networks on a preset, every scheduler, sequential and optimized placement."""

    name: str
    models: tuple[ModelSpec, ...]
    hardware: str = "isaac-like"
    granularity: str = "row"
    extra_pes: int = 64
    duplication: str = "greedy"
    time_limit: float = 10.0
    placements: tuple[str, ...] = ("sequential", "optimized")
    contention: bool = False  # the energy study is of the contention-free model (the links part measures it)
    buffer: str = "inf"  # and of unlimited tile buffers (the memory part measures the chip's own 64 KB)


@dataclass(frozen=True)
class LinkStudy:
    """Link contention on a preset: per network and chip size, CLSA-CIM without and with contention (the
    contention-free model's error), and the contention-aware placement + the best of `schedulers` against
    CLSA-CIM with sequential placement, both under contention, with the gap to the bound. Unlimited tile
    buffers, so the figures are about the links alone."""

    name: str
    models: tuple[ModelSpec, ...]
    hardware: str = "isaac-like"
    granularity: str = "row"
    extra_pes: tuple[int, ...] = (64, 1024)
    duplication: str = "greedy"
    schedulers: tuple[str, ...] = ("clsa", "cpsat", "lns")
    time_limit: float = 5.0
    heatmap: tuple[str, int] | None = ("resnet18", 1024)  # the network and extra PEs whose link load is drawn


@dataclass(frozen=True)
class MemoryStudy:
    """The chip at its own memory: per network and granularity, CLSA-CIM with unlimited buffers (the reference)
    and, at the preset's tile buffer with its memory tier, clsa-spill (CLSA-CIM made valid) against the
    memory-aware scheduler: latency, bytes through the tier, energy, the proven gap (CP-SAT bounds the problem
    through its unlimited-buffer relaxation)."""

    name: str
    models: tuple[ModelSpec, ...]
    hardware: str = "isaac-like"
    granularities: tuple[str, ...] = ("row", "pixel")
    extra_pes: int = 64
    duplication: str = "greedy"
    time_limit: float = 5.0


@dataclass(frozen=True)
class BufferStudy:
    """Finite tile buffers: the smallest buffer without latency loss per network and chip, and a latency-vs-
    buffer sweep of the buffer-aware heuristic on `curve_networks` (at unlimited buffers it is CLSA-CIM)."""

    networks: tuple[ModelSpec, ...]
    extra_pes: tuple[int, ...] = (0, 64)
    granularity: str = "row"
    curve_networks: tuple[ModelSpec, ...] = ("tiny-yolov3",)
    capacities: tuple[str, ...] = ("16384", "32768", "65536", "131072", "262144", "inf")


@dataclass(frozen=True)
class ThroughputSweep:
    """The throughput table: streams of `inferences` inputs on networks x extra PEs, greedy duplication."""

    name: str
    networks: tuple[ModelSpec, ...]
    extra_pes: tuple[int, ...] = (0, 64, 256)
    inferences: int = 8
    granularity: str = "pixel"


@dataclass(frozen=True)
class ParetoStudy:
    """A design sweep on a realistic chip: budgets x crossbar sizes x link bandwidths x tile buffers, each
    point's steady state (periodic schedule) and area, the Pareto-optimal designs; and one stream of
    `inferences` on the `reference` design (extra PEs, crossbar, link) set against ISAAC's own efficiency."""

    name: str
    models: tuple[ModelSpec, ...]
    hardware: str = "isaac-like"
    granularity: str = "row"
    duplication: str = "greedy"
    extra_pes: tuple[int, ...] = (0, 64, 256, 1024, 4096)
    crossbars: tuple[int, ...] = (128, 256)
    links: tuple[int, ...] = (24, 48, 96)
    buffers: tuple[str, ...] = ("131072", "262144", "524288", "1048576")  # elements per tile: areas count real buffers
    schedulers: tuple[str, ...] = (CLSA,)  # the steady state is CLSA-CIM's periodic schedule; others need streams
    inferences: int = 64
    reference: tuple[int, int, int] = (64, 128, 48)


@dataclass(frozen=True)
class Config:
    """What `reproduce` runs. `networks` may hold Workloads (or factories of them) for tests."""

    name: str
    networks: tuple[ModelSpec, ...]
    extra_pes: tuple[int, ...]
    granularity: str = "pixel"
    gap: tuple[GapSweep, ...] = ()
    hardware: str | None = None
    parts: tuple[str, ...] = ("networks", "configs", "headline", "gap")  # keys of PARTS, in README order
    chip: ChipStudy | None = None  # the `chip` part's study
    buffers: BufferStudy | None = None  # the `buffers` part's study
    throughput: ThroughputSweep | None = None  # the `throughput` part's streams
    links: LinkStudy | None = None  # the `links` part's study
    memory: MemoryStudy | None = None  # the `memory` part's study
    pareto: ParetoStudy | None = None  # the `pareto` part's design sweep


def golden_chain() -> Workload:
    """The golden example of docs/model.md: three 3x3 convs with ReLU on an 8 x 8 input (named `golden-chain`)."""
    w = conv_chain()
    return Workload("golden-chain", w.nodes, w.warnings)


QUICK = Config(
    name="quick",
    networks=("tiny-yolov3", "resnet18"),
    extra_pes=(0, 64, 256),
    gap=(GapSweep("gap-quick", (golden_chain, "mini-cnn", "mini-yolo"), ("row",), time_limit=30.0),
         GapSweep("gap-quick-dup", (golden_chain, "mini-cnn", "mini-yolo"), ("row",), (4,), ("greedy",),
                  time_limit=30.0)),
    parts=("networks", "configs", "headline", "gap", "chip", "memory", "buffers", "throughput", "links", "pareto"),
    chip=ChipStudy("chip-quick", ("resnet18",), time_limit=2.0),
    memory=MemoryStudy("memory-quick", ("resnet18",), granularities=("row",), time_limit=2.0),
    buffers=BufferStudy(("tiny-yolov3", "resnet18")),
    throughput=ThroughputSweep("throughput-quick", ("resnet18",)),
    links=LinkStudy("links-quick", ("resnet18",), extra_pes=(64,), schedulers=("clsa", "cpsat"), time_limit=2.0,
                    heatmap=None),
    pareto=ParetoStudy("pareto-quick", ("resnet18",), extra_pes=(0, 64, 1024), links=(48,), buffers=("1048576",)),
)
FULL = Config(
    name="full",
    networks=ZOO_NETWORKS,
    extra_pes=(0, 16, 32, 64, 128, 256, 512, 1024),
    gap=(GapSweep("gap", (golden_chain, "mini-cnn", "mini-yolo"), ("pixel", "row"), time_limit=10.0),
         GapSweep("gap-dup", (golden_chain, "mini-cnn", "mini-yolo"), ("pixel", "row"), (4,), ("greedy",),
                  time_limit=10.0),
         GapSweep("gap-zoo", ZOO_NETWORKS, ("row",), (0,), ("none",), time_limit=10.0),
         GapSweep("gap-zoo-dup", ZOO_NETWORKS, ("row",), (64,), ("greedy",), time_limit=10.0)),
    parts=("networks", "configs", "headline", "gap", "chip", "memory", "buffers", "throughput", "links", "pareto"),
    chip=ChipStudy("chip", ZOO_NETWORKS, time_limit=10.0),
    memory=MemoryStudy("memory", ZOO_NETWORKS),
    buffers=BufferStudy(ZOO_NETWORKS, curve_networks=("tiny-yolov3", "resnet18")),
    throughput=ThroughputSweep("throughput", ZOO_NETWORKS),
    links=LinkStudy("links", ZOO_NETWORKS),
    pareto=ParetoStudy("pareto", ("resnet18", "tiny-yolov3")),
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
                    "min_tiles": ceil_div(first["min_pes"], hw.pes_per_tile), "sets": first["sets"],
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
                    "bound_rule": cp.get("bound_rule", ""),
                    "best_latency_cycles": min(x["latency_cycles"] for x in (lbl, clsa, cp) if x),
                    "proven_gap": min(x["latency_cycles"] for x in (lbl, clsa, cp) if x) / cp["bound_cycles"] - 1
                    if cp["bound_cycles"] else None,
                    "solve_seconds": cp["solve_seconds"],
                    "valid": all(r["valid"] is not False for r in (lbl, clsa, cp) if r)})
    return out


def throughput_table(rows: Sequence[dict], cycle_ns: float) -> list[dict]:
    """Per (network, extra PEs): interval, makespan and inferences per second of layer-by-layer, the layer
    pipeline and CLSA-CIM on the same stream and copies, next to the bottleneck bound."""
    by = {(r["model"], r["extra_pes"], r["scheduler"]): r for r in rows if r["duplication"] == "greedy"}
    out = []
    for model, extra in dict.fromkeys((r["model"], r["extra_pes"]) for r in rows):
        runs = {s: by.get((model, extra, s)) for s in (LBL, PIPELINE, CLSA)}
        if any(r is None for r in runs.values()):
            continue
        clsa = runs[CLSA]
        d = {"model": model, "extra_pes": extra, "pes": clsa["pes"], "inferences": clsa["inferences"],
             "interval_bound_cycles": clsa["interval_bound_cycles"], "valid": all(r["valid"] for r in runs.values())}
        for s, r in runs.items():
            iv = r["interval_cycles"]
            d[s] = {"interval_cycles": iv, "latency_cycles": r["latency_cycles"],
                    "inference_latency_max_cycles": r["inference_latency_max_cycles"],
                    "per_second": 1e9 / (iv * cycle_ns) if iv else None, "interval_gap": r["interval_gap"]}
        out.append(d)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Running: a context shared by the parts, one function per part


def _sweep_command(models: Sequence[str], extra: Sequence[int], schedulers: str, dups: str, grans: Sequence[str],
                   out: Path, time_limit: float | None = None, hw: str | None = None) -> str:
    s = (f"cimopt sweep {' '.join(models)} --extra-pes {','.join(map(str, extra))} --schedulers {schedulers} "
         f"--dup {dups} --sets {','.join(grans)}")
    if time_limit is not None:
        s += f" --time-limit {time_limit:g}"
    if hw:
        s += f" --hw {hw}"
    return s + f" --out {out}"


def render(template: str, **values: object) -> str:
    """A part's markdown: `templates/<template>.md` with its `${name}` placeholders filled in."""
    text = (files("cimopt.experiments") / "templates" / f"{template}.md").read_text()
    return Template(text).substitute({k: str(v) for k, v in values.items()}).rstrip("\n") + "\n"


@dataclass(frozen=True)
class Section:
    """What a part adds: its markdown, its tables (for summary.json), the sweeps it ran and files it wrote."""

    markdown: str
    tables: dict = field(default_factory=dict)
    sweeps: tuple[SweepResult, ...] = ()
    files: tuple[Path, ...] = ()


@dataclass
class Context:
    """The run every part sees: the configuration, the chip, where to write, how to run sweeps, and the sweeps
    run so far (by folder name, so parts can share one)."""

    cfg: Config
    hw: Hardware
    out: Path
    command: str
    workers: int
    dask: str | None
    progress: bool
    sweeps: dict[str, SweepResult] = field(default_factory=dict)

    def sweep(self, spec: SweepSpec, name: str, plots: bool = False) -> SweepResult:
        """Run (or resume) a sweep into DIR/name once per reproduce run."""
        if name not in self.sweeps:
            self.sweeps[name] = run_sweep(spec, self.out / name, workers=self.workers, dask=self.dask,
                                          progress=self.progress, plots=plots, label=name)
        return self.sweeps[name]

    def made_by(self, res: SweepResult, sweep_cmd: str | None, cpsat: float | None = None) -> str:
        return _made_by(self.command, sweep_cmd, res, cpsat)

    def network_sweep(self) -> tuple[SweepResult, dict[str, Workload], str | None]:
        """The networks sweep (parts networks, configs, headline), its workloads and its CLI command."""
        cfg = self.cfg
        nets = [_model(m) for m in cfg.networks]
        spec = SweepSpec(models=tuple(nets), budget_kind="extra_pes", budgets=cfg.extra_pes, schedulers=(LBL, CLSA),
                         duplications=("none", "greedy"), granularities=(cfg.granularity,), hardware=cfg.hardware)
        res = self.sweep(spec, f"networks-{cfg.name}", plots=True)
        workloads = {model_name(m): api.load_model(m) for m in nets}
        cli = all(isinstance(m, str) for m in cfg.networks)
        cmd = _sweep_command(list(workloads), cfg.extra_pes, f"{LBL},{CLSA}", "none,greedy", [cfg.granularity],
                             self.out / res.out.name, hw=cfg.hardware) if cli else None
        return res, workloads, cmd


def part_networks(ctx: Context, n: int) -> Section:
    res, workloads, cmd = ctx.network_sweep()
    nets = network_table(res.rows, workloads, ctx.hw)
    table = md_table(["network", "MVM layers", "MACs", "min PEs", "min tiles", "sets", "LbL latency (cycles)"],
                     [[r["model"], r["mvm_layers"], f"{r['macs'] / 1e9:.3f} G", _fmt_int(r["min_pes"]),
                       _fmt_int(r["min_tiles"]), _fmt_int(r["sets"]), _fmt_int(r["lbl_latency_cycles"])] for r in nets])
    md = render("networks", n=n, pes_per_tile=ctx.hw.pes_per_tile, granularity=ctx.cfg.granularity, table=table,
                made_by=ctx.made_by(res, cmd))
    return Section(md, {"networks": nets}, (res,), res.files)


def part_configs(ctx: Context, n: int) -> Section:
    res, workloads, cmd = ctx.network_sweep()
    configs = {name: config_table(res.rows, name) for name in workloads}
    cols = [CONFIG_NAMES[c] for c in CONFIGS]
    blocks = []
    for name, rows in configs.items():
        tab = md_table(["extra PEs", "PEs"] + [f"latency {c}" for c in cols] + [f"speedup {c}" for c in cols[1:]]
                       + [f"util {c}" for c in cols],
                       [[_fmt_int(r["extra_pes"]), _fmt_int(r["pes"])]
                        + [_fmt_int(r[c]["latency_cycles"]) if r[c] else "" for c in cols]
                        + [_fmt(r[c]["speedup_vs_lbl"], ".2f") + "x" if r[c] else "" for c in cols[1:]]
                        + [_fmt(r[c]["utilization"], ".2%") if r[c] else "" for c in cols] for r in rows])
        blocks.append(f"### {name}\n\n{tab}\n\n![{name}]({res.out.name}/{safe_name(name)}.png)\n")
    md = render("configs", n=n, Granularity=ctx.cfg.granularity.capitalize(), per_network="\n".join(blocks),
                made_by=ctx.made_by(res, cmd))
    return Section(md, {"configs": configs})


def part_headline(ctx: Context, n: int) -> Section:
    res, workloads, cmd = ctx.network_sweep()
    head, paper = headline(res.rows), headline(res.rows, PAPER_EXTRA_PES)
    best = head["best"]
    table = md_table(["quantity", "cimopt", "setting", "paper"], [
        _head_row("speedup (CLSA+dup vs LbL)", best["speedup"], f"{PAPER_SPEEDUP}x"),
        _head_row("utilization improvement, mapped PEs (CLSA+dup vs LbL)", best["utilization_mapped"],
                  f"{PAPER_UTILIZATION}x"),
        _head_row("utilization improvement, same mapping (CLSA+dup vs LbL+dup)", best["utilization_same_dup"], ""),
        _head_row(f"speedup, at most {PAPER_EXTRA_PES} extra PEs", paper["best"]["speedup"], f"{PAPER_SPEEDUP}x"),
        _head_row(f"utilization improvement (mapped), at most {PAPER_EXTRA_PES} extra PEs",
                  paper["best"]["utilization_mapped"], f"{PAPER_UTILIZATION}x"),
    ], "lrll")
    per = md_table(["network", "speedup", "at extra PEs", "util. improvement (mapped)", "at extra PEs",
                    "same mapping", "at extra PEs"],
                   [[m] + sum(([_fmt(e["value"], ".2f") + "x", _fmt_int(e["extra_pes"])] if e else ["", ""]
                               for e in (head["per_model"].get(m, {}).get(k) for k in
                                         ("speedup", "utilization_mapped", "utilization_same_dup"))), [])
                    for m in workloads])
    plot = _headline_plot(head, list(workloads), ctx.out / "headline.png")
    md = render("headline", n=n, paper_utilization=PAPER_UTILIZATION, paper_speedup=PAPER_SPEEDUP,
                paper_extra_pes=PAPER_EXTRA_PES, table=table, per_network=per, made_by=ctx.made_by(res, cmd))
    return Section(md, {"headline": head, "headline_paper_range": paper}, files=(plot,))


def part_gap(ctx: Context, n: int) -> Section:
    rows, made, sweeps = [], [], []
    for g in ctx.cfg.gap:
        spec = SweepSpec(models=tuple(_model(m) for m in g.models), budget_kind="extra_pes", budgets=g.extra_pes,
                         schedulers=(LBL, CLSA, CPSAT), duplications=g.duplications, granularities=g.granularities,
                         hardware=ctx.cfg.hardware, time_limit=g.time_limit)
        res = ctx.sweep(spec, g.name)
        sweeps.append(res)
        rows += gap_table(res.rows)
        cli = all(isinstance(m, str) for m in g.models)
        cmd = _sweep_command([model_name(_model(m)) for m in g.models], g.extra_pes, f"{LBL},{CLSA},{CPSAT}",
                             ",".join(g.duplications), g.granularities, ctx.out / g.name, g.time_limit,
                             ctx.cfg.hardware) if cli else None
        made.append(f"- `{g.name}/`: " + ctx.made_by(res, cmd, cpsat=g.time_limit))
    table = md_table(["instance", "sets", "dup", "PEs", "set count", "LbL", "CLSA", "CP-SAT", "status", "bound",
                      "bound rule", "proven gap", "CLSA gap", "CLSA gap to bound", "solve s"],
                     [[g["model"], g["granularity"], g["duplication"], _fmt_int(g["pes"]), _fmt_int(g["sets"]),
                       _fmt_int(g["lbl_latency_cycles"]), _fmt_int(g["clsa_latency_cycles"]),
                       _fmt_int(g["cpsat_latency_cycles"]), g["status"], _fmt_int(g["bound_cycles"]),
                       g.get("bound_rule", ""), _fmt(g.get("proven_gap"), ".1%"), _fmt(g["clsa_gap"], "+.1%"),
                       _fmt(g["clsa_gap_to_bound"], "+.1%"), _fmt(g["solve_seconds"], ".1f")] for g in rows],
                     "lllrrrrrlrlrrrr")
    return Section(render("gap", n=n, table=table, made_by="\n\n".join(made)), {"gap": rows}, tuple(sweeps))


def _done(progress: bool, case: str) -> None:
    """A study's case finished: one progress line on stderr (stdout is the summary)."""
    if progress:
        print(f"{case} done", file=sys.stderr, flush=True)


def chip_rows(study: ChipStudy, out: Path, progress: bool = False) -> tuple[list[dict], list[str], float]:
    """Run (or resume from `out/records.json`) the chip study: one record per network, placement and
    scheduler, plus the networks that do not fit the chip. Returns the rows, those networks and the wall
    seconds computed now."""
    from cimopt.mapping import min_pes

    out.mkdir(parents=True, exist_ok=True)
    path = out / "records.json"
    hw = load_hardware(study.hardware)
    # records of another chip (an edited preset, older figures) are recomputed, never reused
    chip_id = hashlib.sha256(json.dumps(hardware_json(hw), sort_keys=True).encode()).hexdigest()[:16]
    done = {k: v for k, v in (json.loads(path.read_text()) if path.exists() else {}).items()
            if v.get("chip_id") == chip_id}
    rows, skipped, t0 = [], [], time.perf_counter()
    names = (LBL, CLSA, CPSAT)
    for m in study.models:
        wl = api.load_model(_model(m))
        need = min_pes(wl, hw) + study.extra_pes
        if hw.tiles is not None and need > hw.tiles * hw.pes_per_tile:
            skipped.append(f"{model_name(m)} ({need:,} PEs, the chip has {hw.tiles * hw.pes_per_tile:,})")
            continue
        for placement in study.placements:
            keys = [f"{model_name(m)}|{placement}|{n}" for n in names]
            if not all(k in done for k in keys):
                t = time.perf_counter()
                p = api.prepare(wl, hw, dup=study.duplication, extra_pes=study.extra_pes, sets=study.granularity,
                                placement=placement, contention=study.contention, buffer=study.buffer)
                prep = time.perf_counter() - t
                c = api.compare(p, names, time_limit=study.time_limit, workers=1)
                for k, rec in zip(keys, c.records, strict=True):
                    done[k] = rec.to_json() | {"model": model_name(m), "prepare_seconds": prep, "chip_id": chip_id}
                path.write_text(json.dumps(done, indent=1) + "\n")
                _done(progress, f"chip: {model_name(m)} {placement}")
            rows += [done[k] for k in keys]
    return rows, skipped, time.perf_counter() - t0


def _uj(pj: float | None) -> str:
    return "" if pj is None else f"{pj / 1e6:,.1f}"


def part_chip(ctx: Context, n: int) -> Section:
    study = ctx.cfg.chip
    if study is None:
        raise InputError("the chip part needs a ChipStudy in the configuration")
    rows, skipped, wall = chip_rows(study, ctx.out / study.name, ctx.progress)
    hw = load_hardware(study.hardware)
    seq = {(r["model"], r["scheduler"]): r for r in rows if r["placement"] == "sequential"}
    # EDP = energy x latency: pJ x cycles, in uJ x ms when the chip gives its cycle time (1 pJ ns = 1e-12 uJ ms)
    edp_head, edp_scale = ("EDP (uJ x ms)", hw.cycle_ns * 1e-12) if hw.cycle_ns else ("EDP (pJ x cycles)", 1.0)
    table = md_table(
        ["network", "scheduler", "placement", "latency (cycles)", "energy (uJ)", "mvm", "buffer", "noc", "gpeu",
         "static", edp_head, "NoC bytes x hops", "vs sequential", "status", "valid"],
        [[r["model"], r["scheduler"], r["placement"], _fmt_int(r["latency_cycles"]), _uj(r["energy_pj"])]
         + [_uj(r["energy"][k]) for k in ("mvm", "buffer", "noc", "gpeu", "static")]
         + [_fmt(r["edp"] * edp_scale, ".4g"),
            _fmt_int(r["noc_byte_hops"]),
            _fmt(r["noc_byte_hops"] / seq[r["model"], r["scheduler"]]["noc_byte_hops"] - 1, "+.1%")
            if r["placement"] != "sequential" and seq.get((r["model"], r["scheduler"]), {}).get("noc_byte_hops")
            else "",
            r["status"], "yes" if r["valid"] else "NO"] for r in rows],
        "lllrrrrrrrrrrll")
    note = f"Networks that do not fit the chip: {', '.join(skipped)}." if skipped else ""
    made = (f"Made by `{ctx.command}` (records in `{study.name}/records.json`, {len(rows)} rows, {wall:.1f} s wall "
            f"this run; CP-SAT time limit {study.time_limit:g} deterministic s, 1 worker, seed 0).")
    md = render("chip", n=n, hw=study.hardware, granularity=study.granularity, extra_pes=study.extra_pes,
                dup=study.duplication, xbar=f"{hw.xbar_rows} x {hw.xbar_cols}", cell_bits=hw.cell_bits,
                weight_bits=hw.weight_bits, mvm_cycles=hw.mvm_cycles, pes_per_tile=hw.pes_per_tile,
                hop_cycles=hw.noc_hop_cycles, link=hw.link_bytes_per_cycle, table=table, skipped=note,
                made_by=made)
    return Section(md, {"chip": rows})


def min_buffer_table(study: BufferStudy, hardware: str | None) -> list[dict]:
    """Per network and extra PEs (greedy duplication): CLSA-CIM's peak buffer and the smallest buffer at which
    clsa-bp keeps CLSA-CIM's latency (`capacity.min_buffer`)."""
    from cimopt.capacity import min_buffer

    out = []
    for m in study.networks:
        for extra in study.extra_pes:
            p = api.prepare(_model(m), hardware, dup="greedy", extra_pes=extra, sets=study.granularity)
            t0 = time.perf_counter()
            r = min_buffer(p)
            out.append({"model": model_name(_model(m)), "extra_pes": extra, "pes": p.budget.pes,
                        "granularity": study.granularity, "latency_cycles": r.latency_cycles,
                        "clsa_peak_elements": r.clsa_peak_elements, "min_buffer_elements": r.elements,
                        "footprint_elements": r.footprint_elements, "hold_elements": r.hold_elements,
                        "probes": r.probes,
                        "seconds": round(time.perf_counter() - t0, 2)})
    return out


def part_buffers(ctx: Context, n: int) -> Section:
    study = ctx.cfg.buffers
    if study is None:
        return Section("")
    mins = min_buffer_table(study, ctx.cfg.hardware)
    table = md_table(["network", "extra PEs", "PEs", "CLSA latency", "CLSA peak buffer", "min buffer", "of peak",
                      "footprint", "hold bound", "probes", "s"],
                     [[r["model"], _fmt_int(r["extra_pes"]), _fmt_int(r["pes"]), _fmt_int(r["latency_cycles"]),
                       _fmt_int(r["clsa_peak_elements"]), _fmt_int(r["min_buffer_elements"]),
                       _fmt(r["min_buffer_elements"] / max(r["clsa_peak_elements"], 1), ".0%"),
                       _fmt_int(r["footprint_elements"]), _fmt_int(r["hold_elements"]), r["probes"],
                       _fmt(r["seconds"], ".1f")] for r in mins])
    extra = max(study.extra_pes)
    spec = SweepSpec(models=tuple(_model(m) for m in study.curve_networks), budget_kind="extra_pes",
                     budgets=(extra,), schedulers=("clsa-bp",), duplications=("greedy",),
                     granularities=(study.granularity,), hardware=ctx.cfg.hardware, buffers=study.capacities)
    res = ctx.sweep(spec, f"buffers-{ctx.cfg.name}", plots=True)
    curve = md_table(["network", "buffer", "scheduler", "latency", "peak buffer", "valid", "status"],
                     [[r["model"], "inf" if r["buffer_elements"] is None else _fmt_int(r["buffer_elements"]),
                       r["scheduler"], _fmt_int(r["latency_cycles"]), _fmt_int(r["peak_buffer_elements"]),
                       {True: "yes", False: "NO", None: ""}[r["valid"]], r["status"]] for r in res.rows], "lrlrrll")
    figs = "\n".join(f"![{model_name(_model(m))}]({res.out.name}/{safe_name(model_name(_model(m)))}-"
                      f"{safe_name(study.granularity)}-buffer.png)" for m in study.curve_networks)
    cli = all(isinstance(m, str) for m in study.curve_networks)
    cmd = (f"cimopt sweep {' '.join(map(str, study.curve_networks))} --extra-pes {extra} --schedulers clsa-bp "
           f"--dup greedy --sets {study.granularity} --buffer {','.join(study.capacities)}"
           + (f" --hw {ctx.cfg.hardware}" if ctx.cfg.hardware else "") + f" --out {ctx.out / res.out.name}") if cli else None
    md = render("buffers", n=n, granularity=study.granularity, table=table, curve=curve, figures=figs,
                made_by=ctx.made_by(res, cmd))
    return Section(md, {"min_buffer": mins}, (res,))


def part_throughput(ctx: Context, n: int) -> Section:
    t = ctx.cfg.throughput
    if t is None:
        return Section("")
    nets = tuple(_model(m) for m in t.networks)
    spec = SweepSpec(models=nets, budget_kind="extra_pes", budgets=t.extra_pes, schedulers=(LBL, PIPELINE, CLSA),
                     duplications=("greedy",), granularities=(t.granularity,), inferences=(t.inferences,),
                     hardware=ctx.cfg.hardware)
    res = ctx.sweep(spec, t.name)
    cycle_ns = ctx.hw.cycle_ns or ASSUMED_MVM_NS / ctx.hw.mvm_cycles
    rows = throughput_table(res.rows, cycle_ns)
    names = {LBL: "LbL", PIPELINE: "pipeline", CLSA: "CLSA"}
    table = md_table(["network", "extra PEs", "PEs", "bound"] + [f"interval {names[s]}" for s in names]
                     + [f"inf./s {names[s]}" for s in names] + [f"makespan {names[s]}" for s in names]
                     + ["CLSA vs bound", "valid"],
                     [[r["model"], _fmt_int(r["extra_pes"]), _fmt_int(r["pes"]), _fmt_int(r["interval_bound_cycles"])]
                      + [_fmt(r[s]["interval_cycles"], ",.0f") for s in names]
                      + [_fmt(r[s]["per_second"], ",.0f") for s in names]
                      + [_fmt_int(r[s]["latency_cycles"]) for s in names]
                      + [_fmt(r[CLSA]["interval_gap"], "+.1%"), "yes" if r["valid"] else "NO"] for r in rows])
    mid = sorted(t.extra_pes)[len(t.extra_pes) // 2]
    at = [r for r in rows if r["extra_pes"] == mid]
    plot = bar_plot([r["model"] for r in at],
                    {registry.get(s).label: [r[s]["interval_cycles"] for r in at] for s in names}
                    | {"bottleneck bound": [r["interval_bound_cycles"] for r in at]},
                    ctx.out / "throughput.png", "initiation interval (cycles)",
                    f"Stream of {t.inferences} inferences, +{mid} PEs, greedy duplication", log=True)
    span = bar_plot([r["model"] for r in at], {registry.get(s).label: [r[s]["latency_cycles"] for r in at] for s in names},
                    ctx.out / "throughput-makespan.png", f"cycles until all {t.inferences} inferences are done",
                    f"Makespan of {t.inferences} inferences, +{mid} PEs, greedy duplication", log=True)
    cli = all(isinstance(m, str) for m in t.networks)
    cmd = (_sweep_command([model_name(m) for m in nets], t.extra_pes, f"{LBL},{PIPELINE},{CLSA}", "greedy",
                          [t.granularity], ctx.out / t.name, hw=ctx.cfg.hardware) + f" --inferences {t.inferences}"
           if cli else None)
    ns = f"{ctx.hw.cycle_ns:g} ns per cycle (the hardware file)" if ctx.hw.cycle_ns else (
        f"{ASSUMED_MVM_NS:g} ns per MVM (ISAAC's; the hardware file gives no `crossbar.mvm_ns`)")
    md = render("throughput", n=n, inferences=t.inferences, granularity=t.granularity, ns=ns, table=table,
                plot=plot.name, makespan_plot=span.name, made_by=ctx.made_by(res, cmd))
    return Section(md, {"throughput": rows}, (res,), (plot, span))


def links_rows(study: LinkStudy, out: Path, progress: bool = False) -> tuple[list[dict], list[str], float, dict]:
    """Run (or resume from `out/records.json`) the links study: per network (that fits the chip) and extra PEs,
    one row with CLSA-CIM without and with contention (sequential placement) and the best contention-aware
    schedule on the contention-aware placement. Also returns the networks that do not fit, the wall seconds
    computed now, and the schedules to draw ((network, extra, placement) -> (schedule, sim))."""
    from cimopt.mapping import min_pes

    out.mkdir(parents=True, exist_ok=True)
    path = out / "records.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    hw = replace(load_hardware(study.hardware), buffer_elements=None)  # unlimited buffers: the links alone
    rows, skipped, draw, t0 = [], [], {}, time.perf_counter()
    for m in study.models:
        wl = api.load_model(_model(m))
        for extra in study.extra_pes:
            need = min_pes(wl, hw) + extra
            if hw.tiles is not None and need > hw.tiles * hw.pes_per_tile:
                skipped.append(f"{model_name(m)} +{extra} ({need:,} PEs, the chip has {hw.tiles * hw.pes_per_tile:,})")
                continue
            key = f"{model_name(m)}|{extra}"
            heat = study.heatmap is not None and study.heatmap == (model_name(m), extra)
            if key not in done or heat:
                t = time.perf_counter()
                kw = dict(dup=study.duplication, extra_pes=extra, sets=study.granularity)
                off = api.run(api.prepare(wl, hw, contention=False, **kw), CLSA)
                seq_p = api.prepare(wl, hw, contention=True, **kw)
                seq = api.run(seq_p, CLSA)
                opt_p = api.prepare(wl, hw, contention=True, placement="optimized", **kw)
                c = api.compare(opt_p, study.schedulers, time_limit=study.time_limit, workers=1)
                valid = [r for r in c.records if r.valid]
                best = min(valid, key=lambda r: r.latency_cycles)
                opt_clsa = next(r for r in c.records if r.scheduler == CLSA)
                done[key] = {
                    "model": model_name(m), "extra_pes": extra, "pes": seq_p.budget.pes, "sets": seq_p.sets.num_sets,
                    "off_latency_cycles": off.sim.latency, "on_latency_cycles": seq.sim.latency,
                    "model_error": seq.sim.latency / off.sim.latency - 1,
                    "link_peak_utilization": seq.sim.link_peak_utilization, "busiest_link": seq.sim.busiest_link,
                    "contention_delay_cycles": seq.sim.contention_delay_cycles,
                    "aware_clsa_latency_cycles": opt_clsa.latency_cycles,
                    "aware_link_peak_utilization": opt_clsa.link_peak_utilization,
                    "aware_latency_cycles": best.latency_cycles, "aware_scheduler": best.scheduler,
                    "aware_vs_clsa": best.latency_cycles / seq.sim.latency - 1,
                    "bound_cycles": c.bound_cycles, "bound_rule": c.bound_rule,
                    "gap": best.latency_cycles / c.bound_cycles - 1 if c.bound_cycles else None,
                    "link_bound_cycles": c.lower_bounds.get("link_bound"),
                    "valid": bool(off.sim.valid and seq.sim.valid and all(r.valid for r in c.records)),
                    "seconds": time.perf_counter() - t}
                path.write_text(json.dumps(done, indent=1) + "\n")
                if heat:
                    best_run = next(r for r in c.runs if r.scheduler == best.scheduler)
                    draw[model_name(m), extra, "sequential"] = (seq.schedule, seq.sim)
                    draw[model_name(m), extra, "optimized"] = (best_run.schedule, best_run.sim)
                _done(progress, f"links: {key}")
            rows.append(done[key])
    return rows, skipped, time.perf_counter() - t0, draw


def part_links(ctx: Context, n: int) -> Section:
    from cimopt.experiments.plots import link_heatmap
    from cimopt.routing import Mesh

    study = ctx.cfg.links
    if study is None:
        raise InputError("the links part needs a LinkStudy in the configuration")
    rows, skipped, wall, draw = links_rows(study, ctx.out / study.name, ctx.progress)
    hw = load_hardware(study.hardware)
    table = md_table(
        ["network", "extra PEs", "sets", "CLSA, no contention", "CLSA, contention", "model error", "busiest link",
         "contention delay", "aware placement: CLSA", "best aware", "by", "vs CLSA sequential", "bound",
         "bound rule", "gap to bound", "valid"],
        [[r["model"], _fmt_int(r["extra_pes"]), _fmt_int(r["sets"]), _fmt_int(r["off_latency_cycles"]),
          _fmt_int(r["on_latency_cycles"]), _fmt(r["model_error"], "+.2%"),
          f"{r['link_peak_utilization']:.1%} ({r['busiest_link']})" if r["busiest_link"] else "",
          _fmt_int(r["contention_delay_cycles"]), _fmt_int(r["aware_clsa_latency_cycles"]),
          _fmt_int(r["aware_latency_cycles"]), r["aware_scheduler"], _fmt(r["aware_vs_clsa"], "+.1%"),
          _fmt_int(r["bound_cycles"]), r["bound_rule"], _fmt(r["gap"], ".1%"), "yes" if r["valid"] else "NO"]
         for r in rows], "lrrrrrlrrrlrrlrl")
    files = []
    for (model, extra, placement), (sch, sim) in sorted(draw.items()):
        mesh = Mesh.of(sch.hardware, sch.mapping.budget.tiles)
        files.append(link_heatmap(mesh, sim.link_busy, sim.latency, ctx.out / f"links-{safe_name(model)}-{placement}.png",
                                  f"{model} +{extra} PEs, {placement} placement, {sch.scheduler}: {sim.latency:,} "
                                  f"cycles, busiest link {sim.link_peak_utilization:.1%}"))
    plots = "\n\n".join(f"![{f.stem}]({f.name})" for f in files if f.exists())
    if not plots and study.heatmap is not None:
        found = sorted(ctx.out.glob(f"links-{safe_name(study.heatmap[0])}-*.png"))
        plots = "\n\n".join(f"![{f.stem}]({f.name})" for f in found)
    fast = [r for r in rows if r["aware_vs_clsa"] is not None and r["aware_vs_clsa"] <= -0.15]
    close = [r for r in rows if r["gap"] is not None and r["gap"] <= 0.05]
    never = all(r["aware_latency_cycles"] <= r["on_latency_cycles"] for r in rows)
    names = ", ".join(f"{r['model']} +{r['extra_pes']}" for r in fast) or "none"
    summary = (f"The contention-aware placement and schedule are {'never' if never else 'SOMETIMES'} slower than "
               f"CLSA-CIM with sequential placement; at least 15% faster on {len(fast)} of {len(rows)} rows "
               f"({names}), proven within 5% of the bound on {len(close)} of {len(rows)}.")
    note = f"Not on the chip: {', '.join(skipped)}." if skipped else ""
    made = (f"Made by `{ctx.command}` (records in `{study.name}/records.json`, {len(rows)} rows, {wall:.1f} s wall "
            f"this run; CP-SAT and LNS time limit {study.time_limit:g} deterministic s each, 1 worker, seed 0).")
    md = render("links", n=n, hw=study.hardware, granularity=study.granularity, dup=study.duplication,
                extra=", ".join(f"+{e}" for e in study.extra_pes), link=hw.link_bytes_per_cycle,
                hop_cycles=hw.noc_hop_cycles, schedulers=", ".join(study.schedulers), table=table,
                summary=summary, plots=plots, skipped=note, made_by=made)
    return Section(md, {"links": rows}, (), tuple(files))


def memory_rows(study: MemoryStudy, out: Path, progress: bool = False) -> tuple[list[dict], float]:
    """Run (or resume from `out/records.json`) the memory study: one row per network and granularity."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "records.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    hw = load_hardware(study.hardware)
    rows, t0 = [], time.perf_counter()
    for m in study.models:
        for gran in study.granularities:
            key = f"{model_name(m)}|{gran}"
            if key not in done:
                wl = api.load_model(_model(m))
                kw = {"dup": study.duplication, "extra_pes": study.extra_pes, "sets": gran}
                free = api.prepare(wl, hw, buffer="inf", **kw)
                ref = api.record(free, api.run(free, CLSA))
                p = api.prepare(wl, hw, **kw)
                c = api.compare(p, ("clsa-spill", "memory-aware", CPSAT), time_limit=study.time_limit, workers=1)
                by = {r.scheduler: r.to_json() for r in c.records}
                done[key] = {"model": model_name(m), "granularity": gran, "sets": p.sets.num_sets, "pes": p.budget.pes,
                             "tiles": p.budget.tiles, "buffer_elements": hw.buffer_elements,
                             "placement": p.placement, "unlimited": ref.to_json(), "runs": by,
                             "bound_cycles": c.bound_cycles, "bound_rule": c.bound_rule}
                path.write_text(json.dumps(done, indent=1) + "\n")
                _done(progress, f"memory: {model_name(m)} {gran}")
            rows.append(done[key])
    return rows, time.perf_counter() - t0


def part_memory(ctx: Context, n: int) -> Section:
    study = ctx.cfg.memory
    if study is None:
        raise InputError("the memory part needs a MemoryStudy in the configuration")
    rows, wall = memory_rows(study, ctx.out / study.name, ctx.progress)
    hw = load_hardware(study.hardware)
    out, wins = [], 0
    for r in rows:
        u, s, m = r["unlimited"], r["runs"]["clsa-spill"], r["runs"]["memory-aware"]
        faster = (None if s["latency_cycles"] is None or m["latency_cycles"] is None
                  else m["latency_cycles"] / s["latency_cycles"] - 1)
        fewer = (None if s["latency_cycles"] is None or not s["spill_bytes"]
                 else m["spill_bytes"] / s["spill_bytes"] - 1)
        win = (faster is not None and faster <= -0.15) or (fewer is not None and fewer <= -0.15)
        wins += win
        best = m["latency_cycles"]
        out.append([r["model"], r["granularity"], _fmt_int(r["sets"]), _fmt_int(u["latency_cycles"]),
                    _uj(u["energy_pj"]), _fmt_int(s["latency_cycles"]), _fmt_int(s["spill_bytes"]),
                    _uj(s["energy_pj"]), _fmt_int(m["latency_cycles"]), _fmt_int(m["spill_bytes"]),
                    _uj(m["energy_pj"]), _fmt(faster, "+.1%"), _fmt(fewer, "+.1%"), "yes" if win else "",
                    _fmt(None if best is None or u["latency_cycles"] is None else best / u["latency_cycles"] - 1,
                         "+.1%"),
                    _fmt_int(r["bound_cycles"]), _fmt(None if best is None or not r["bound_cycles"] else best / r["bound_cycles"] - 1, ".1%"),
                    "yes" if s["valid"] and m["valid"] else "NO"])
    table = md_table(["network", "sets", "set count", "CLSA unlimited", "energy uJ", "clsa-spill", "tier bytes",
                      "energy uJ", "memory-aware", "tier bytes", "energy uJ", "latency vs clsa-spill",
                      "tier bytes vs clsa-spill", "15% better", "vs unlimited", "bound", "proven gap", "valid"],
                     out, "llrrrrrrrrrrrlrrrl")
    never = all(r["runs"]["memory-aware"]["latency_cycles"] is not None and r["runs"]["clsa-spill"]["latency_cycles"]
                is not None and r["runs"]["memory-aware"]["latency_cycles"] <= r["runs"]["clsa-spill"]["latency_cycles"]
                for r in rows)
    valid = sum(1 for r in rows if r["runs"]["memory-aware"]["valid"] and r["runs"]["clsa-spill"]["valid"])
    summary = (f"Both schedulers give valid schedules on {valid} of {len(rows)} cases; the memory-aware scheduler is "
               f"{'never' if never else 'SOMETIMES'} slower than clsa-spill, and at least 15% faster or with at least "
               f"15% fewer bytes through the memory tier on {wins} of {len(rows)}.")
    made = (f"Made by `{ctx.command}` (records in `{study.name}/records.json`, {len(rows)} rows, {wall:.1f} s wall "
            f"this run; CP-SAT time limit {study.time_limit:g} deterministic s, 1 worker, seed 0).")
    md = render("memory", n=n, hw=study.hardware, cap=f"{hw.buffer_elements:,}", kb=hw.buffer_elements * hw.bits // 8192,
                bw=hw.tier_bytes_per_cycle, lat=hw.tier_latency_cycles, pj=f"{hw.tier_pj_per_byte:g}",
                dup=study.duplication, extra=study.extra_pes, table=table, summary=summary, made_by=made)
    return Section(md, {"memory": rows}, (), ())
ISAAC_GOPS_PER_W = 627.5  # ISAAC (ISCA 2016), Table IV: ISAAC-CE's peak operations per second and watt


def isaac_reference(study: ParetoStudy, model: ModelSpec) -> dict:
    """The study's reference design run as a periodic stream of `inferences`: its steady-state energy per
    inference next to what ISAAC's efficiency implies for the model (2 x MACs operations at 627.5 GOPS/W),
    and the part that keeps it above (the largest one) with by how much."""
    from cimopt.chip import with_crossbar, with_link
    from cimopt.steady import periodic_record, run_periodic

    extra, xbar, link = study.reference
    hw = with_link(with_crossbar(load_hardware(study.hardware), xbar, xbar), link)
    p = api.prepare(_model(model), hw, dup=study.duplication, extra_pes=extra, sets=study.granularity,
                    inferences=study.inferences, buffer="inf")  # the periodic schedule plans no tile buffers
    rec = periodic_record(p, run_periodic(p))
    isaac_pj = 2 * p.workload.macs / ISAAC_GOPS_PER_W * 1e3  # ops / (GOPS/W) = nJ; x 1e3 = pJ
    parts = dict(rec.energy) | {"static": rec.steady_static_pj}
    top = max(parts, key=parts.get)
    return {"model": model_name(_model(model)), "extra_pes": extra, "crossbar": xbar, "link": link,
            "inferences": study.inferences, "tiles": p.budget.tiles, "valid": rec.valid,
            "interval_cycles": rec.steady_interval_cycles, "interval_ms": rec.steady_interval_cycles * hw.cycle_ns / 1e6,
            "steady_energy_pj": rec.steady_energy_pj, "steady_parts_pj": parts, "isaac_pj": isaac_pj,
            "ratio": rec.steady_energy_pj / isaac_pj, "largest_part": top,
            "without_largest_pj": rec.steady_energy_pj - parts[top],
            "static_mw_per_tile": hw.energy_static_pj / hw.cycle_ns}


def part_pareto(ctx: Context, n: int) -> Section:
    study = ctx.cfg.pareto
    if study is None:
        return Section("")
    nets = tuple(_model(m) for m in study.models)
    spec = SweepSpec(models=nets, budget_kind="extra_pes", budgets=study.extra_pes, schedulers=study.schedulers,
                     duplications=(study.duplication,), granularities=(study.granularity,), hardware=study.hardware,
                     buffers=study.buffers, crossbars=study.crossbars, links=study.links, pareto=True)
    res = ctx.sweep(spec, study.name, plots=True)
    best = [r for r in res.rows if r.get("pareto")]
    table = md_table(["network", "extra PEs", "crossbar", "link B/cycle", "buffer (elements)", "latency", "interval",
                      "energy/inference (uJ)", "area (mm2)", "EDP (pJ x cycles)"],
                     [[r["model"], _fmt_int(r["extra_pes"]), r["crossbar"], _fmt_int(r["link_bytes_per_cycle"]),
                       _fmt_int(r["buffer_elements"]), _fmt_int(r["latency_cycles"]),
                       _fmt(r["steady_interval_cycles"], ",.0f"), _uj(r["steady_energy_pj"]), _fmt(r["area_mm2"], ".2f"),
                       _fmt(r["edp"], ".3g")] for r in best], "lrlrrrrrrr")
    counts = {m: sum(1 for r in res.rows if r["model"] == m) for m in dict.fromkeys(r["model"] for r in res.rows)}
    left = {m: sum(1 for r in res.rows if r["model"] == m and r.get("pareto") is None) for m in counts}
    tally = "; ".join(f"{m}: {counts[m]} points, {sum(1 for r in best if r['model'] == m)} Pareto-optimal, "
                      f"{left[m]} invalid or without a solution" for m in counts)
    ref = isaac_reference(study, study.models[0])
    parts = ", ".join(f"{k} {v / 1e9:.3g} mJ" for k, v in ref["steady_parts_pj"].items())
    verdict = ("within 2x of it" if ref["ratio"] <= 2 else
               f"above 2x; the {ref['largest_part']} part keeps it there: {ref['steady_parts_pj'][ref['largest_part']] / 1e9:.3g} "
               f"mJ, without it {ref['without_largest_pj'] / 1e9:.3g} mJ ({ref['without_largest_pj'] / ref['isaac_pj']:.2f}x)")
    isaac = (f"{ref['model']} on `{study.hardware}` ({study.granularity} sets, {study.duplication} duplication, "
             f"+{ref['extra_pes']} PEs: {ref['tiles']} tiles, {ref['crossbar']} x {ref['crossbar']} crossbars), "
             f"{ref['inferences']} inferences as a periodic stream (`cimopt schedule {ref['model']} --hw "
             f"{study.hardware} --sets {study.granularity} --dup {study.duplication} --extra-pes {ref['extra_pes']} "
             f"--inferences {ref['inferences']} --periodic`): one inference every {ref['interval_cycles']:,.0f} cycles "
             f"({ref['interval_ms']:.3g} ms), {ref['steady_energy_pj'] / 1e9:.3g} mJ per inference in steady state "
             f"({parts}). ISAAC's own efficiency (Table IV, 627.5 GOPS/W, the chip kept busy) implies "
             f"{ref['isaac_pj'] / 1e9:.3g} mJ for its {2 * api.load_model(_model(study.models[0])).macs / 1e9:.3g} GOP: "
             f"{ref['ratio']:.2f}x, {verdict}. Static power is the tiles' leakage ({ref['static_mw_per_tile']:.3g} mW "
             f"each) over the interval, which the bottleneck layer sets; ISAAC's figure assumes every crossbar busy.")
    figs = "\n".join(f"![{model_name(m)}]({res.out.name}/{safe_name(model_name(m))}-pareto.png)" for m in nets)
    cli = all(isinstance(m, str) for m in study.models)
    cmd = (f"cimopt sweep {' '.join(map(str, study.models))} --hw {study.hardware} --sets {study.granularity} "
           f"--dup {study.duplication} --extra-pes {','.join(map(str, study.extra_pes))} --crossbar "
           f"{','.join(map(str, study.crossbars))} --link {','.join(map(str, study.links))} --buffer "
           f"{','.join(study.buffers)} --schedulers {','.join(study.schedulers)} --pareto --out {ctx.out / res.out.name}"
           if cli else None)
    md = render("pareto", n=n, hw=study.hardware, granularity=study.granularity, dup=study.duplication,
                extra_pes=", ".join(map(str, study.extra_pes)), crossbars=", ".join(map(str, study.crossbars)),
                links=", ".join(map(str, study.links)), buffers=", ".join(f"{int(b):,}" for b in study.buffers),
                schedulers=", ".join(study.schedulers), tally=tally, table=table, figures=figs, isaac=isaac,
                made_by=ctx.made_by(res, cmd))
    return Section(md, {"pareto": best, "isaac_reference": ref}, (res,))


PARTS: dict[str, Callable[[Context, int], Section]] = {
    "networks": part_networks,
    "configs": part_configs,
    "headline": part_headline,
    "gap": part_gap,
    "chip": part_chip,
    "memory": part_memory,
    "buffers": part_buffers,
    "throughput": part_throughput,
    "links": part_links,
    "pareto": part_pareto,
}


def reproduce(*, quick: bool = False, out: str | Path = "results", workers: int = 2, dask: str | None = None,
              progress: bool = True, command: str | None = None, config: Config | None = None,
              hardware: str | None = None) -> ReproduceResult:
    """Run (or resume) the configuration's parts and write DIR/README.md, DIR/summary.json and the plots.

    `config` defaults to QUICK or FULL; `hardware` (a TOML file or preset) replaces the config's chip.
    """
    cfg = config or (QUICK if quick else FULL)
    if hardware is not None:
        cfg = replace(cfg, hardware=hardware)
    out = check_output_dir(out, "--out")
    command = command or f"cimopt reproduce{' --quick' if quick else ''} --out {out}"
    t0 = time.perf_counter()
    hw = load_hardware(cfg.hardware)
    ctx = Context(cfg, hw, out, command, workers, dask, progress)
    sections = [PARTS[name](ctx, i + 1) for i, name in enumerate(cfg.parts)]
    tables = {k: v for sec in sections for k, v in sec.tables.items()}
    sweeps = list(ctx.sweeps.values())
    files = [f for sec in sections for f in sec.files]
    valid = all(r["valid"] is not False for res in sweeps for r in res.rows)
    wall = time.perf_counter() - t0
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps({"config": cfg.name, "hardware": hw.name, "tables": tables}, indent=1) + "\n")
    computed, reused = sum(r.computed for r in sweeps), sum(r.reused for r in sweeps)
    intro = render("intro", config=cfg.name, command=command, wall=f"{wall:.1f}", computed=computed, reused=reused,
                   work_min=f"{_compute_seconds(sweeps) / 60:.1f}", hw_name=hw.name, xbar_rows=hw.xbar_rows,
                   xbar_cols=hw.xbar_cols, mvm_cycles=hw.mvm_cycles, pes_per_tile=hw.pes_per_tile,
                   hop_cycles=hw.noc_hop_cycles)
    listing = "\n".join(f"- `{r.out.name}/`: a sweep folder (`sweep.csv` has one row per point)" for r in sweeps)
    listing += "".join(f"\n- `{f.name}`" for f in files if f.parent == out)
    readme = "\n".join([intro] + [sec.markdown for sec in sections if sec.markdown]
                       + [render("files", files=listing)])
    readme_path = out / "README.md"
    readme_path.write_text(readme)
    files = [f for r in sweeps for f in r.files] + [f for f in files if f.parent == out] + [summary_path, readme_path]
    lines = [f"reproduce ({cfg.name}): {', '.join(f'{len(r.rows)} {r.out.name} points' for r in sweeps)}, "
             f"{wall:.1f} s wall ({computed} computed now)"]
    best = tables.get("headline", {}).get("best", {})
    sp, um = best.get("speedup"), best.get("utilization_mapped")
    if sp:
        lines.append(f"  best speedup {sp['value']:.2f}x ({sp['model']}, +{sp['extra_pes']} PEs; paper {PAPER_SPEEDUP}x)")
    if um:
        lines.append(f"  best utilization improvement {um['value']:.2f}x ({um['model']}, +{um['extra_pes']} PEs; "
                     f"paper {PAPER_UTILIZATION}x)")
    lines.append(f"  wrote {readme_path}")
    return ReproduceResult("\n".join(lines), valid, tuple(dict.fromkeys(files)), tables)


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


def _compute_seconds(sweeps: Sequence[SweepResult]) -> float:
    """Work of every point of the sweeps, whichever run computed it (each record keeps its own time)."""
    return sum(float(rec.get("seconds", 0.0)) for r in sweeps for rec in r.records.values())


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
