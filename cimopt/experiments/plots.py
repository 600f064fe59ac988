"""PNG plots of sweeps and schedules (matplotlib's object API on the Agg canvas: no screen, no pyplot state)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from cimopt.schedule import Schedule
from cimopt.schedulers import registry

X_LABELS = {"pes": "PEs (crossbars) on the chip", "tiles": "tiles", "extra_pes": "extra PEs beyond the minimum"}
SCHEDULER_NAMES = {s.name: s.label for s in registry.SCHEDULERS}
LINE_STYLES = {s.name: (s.marker, s.line) for s in registry.SCHEDULERS}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def safe_name(name: str) -> str:
    """A file name from a model name or path."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem if name.endswith(".onnx") else name).strip("_") or "model"


def series_label(scheduler: str, duplication: str, granularity: str | None = None) -> str:
    s = SCHEDULER_NAMES.get(scheduler, scheduler) + ("" if duplication == "none" else f" + {duplication} dup")
    return s if granularity is None else f"{s} ({granularity})"


def sweep_plots(rows: Sequence[dict], out: Path, x: str = "pes") -> list[Path]:
    """One PNG per model: latency, speedup over layer-by-layer and utilization against `x`, a line per series."""
    files = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mrows = [r for r in rows if r["model"] == model]
        files.append(model_plot(mrows, out / f"{safe_name(model)}.png", x, title=model))
    return files


def buffer_plots(rows: Sequence[dict], out: Path) -> list[Path]:
    """One PNG per model and granularity: latency against the tile buffer capacity, a line per scheduler and
    duplication (valid runs only); unlimited buffers as a dashed level."""
    files = []
    for model, gran in dict.fromkeys((r["model"], r["granularity"]) for r in rows):
        mrows = [r for r in rows if r["model"] == model and r["granularity"] == gran]
        fig = _figure(7, 4.4)
        ax = fig.gca()
        finite = [r["buffer_elements"] for r in mrows if r["buffer_elements"] is not None]
        for (sched, dup) in dict.fromkeys((r["scheduler"], r["duplication"]) for r in mrows):
            rs = [r for r in mrows if (r["scheduler"], r["duplication"]) == (sched, dup) and r["valid"]]
            marker, ls = LINE_STYLES.get(sched, ("x", ":"))
            pts = sorted((r["buffer_elements"], r["latency_cycles"]) for r in rs if r["buffer_elements"] is not None)
            line = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, linestyle=ls, markersize=4,
                           label=series_label(sched, dup)) if pts else None
            inf = [r["latency_cycles"] for r in rs if r["buffer_elements"] is None]
            if inf and finite:
                color = line[0].get_color() if line else None
                ax.axhline(inf[0], linestyle="--", linewidth=0.8, color=color, alpha=0.6)
        if finite:
            _scale_x(ax, finite)
        ax.set_xlabel("tile buffer (elements per tile); dashed: unlimited")
        ax.set_ylabel("latency (cycles)")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.set_title(f"{model} ({mrows[0]['hardware']}, {gran} sets): latency vs buffer")
        fig.tight_layout()
        path = out / f"{safe_name(model)}-{safe_name(gran)}-buffer.png"
        fig.savefig(path)
        files.append(path)
    return files


def pareto_plots(rows: Sequence[dict], out: Path) -> list[Path]:
    """One PNG per model: latency of one inference against energy per inference in steady state, a dot per
    design point coloured by chip area; the Pareto-optimal points (`pareto` column) ringed and listed in the
    legend; points that do not compete (invalid, no solution) left out and counted in the title."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    files = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mrows = [r for r in rows if r["model"] == model]
        pts = [r for r in mrows if r.get("pareto") is not None]
        fig = _figure(7.5, 5)
        ax = fig.gca()
        if pts:
            area = [r["area_mm2"] for r in pts]
            norm = Normalize(min(area), max(area) if max(area) > min(area) else min(area) + 1)
            sc = ax.scatter([r["latency_cycles"] for r in pts], [r["steady_energy_pj"] / 1e6 for r in pts],
                            c=area, cmap=colormaps["viridis"], norm=norm, s=28, zorder=2)
            fig.colorbar(sc, ax=ax, label="chip area (mm2)")
            best = sorted((r for r in pts if r["pareto"]), key=lambda r: r["latency_cycles"])
            ax.scatter([r["latency_cycles"] for r in best], [r["steady_energy_pj"] / 1e6 for r in best], s=90,
                       facecolors="none", edgecolors="red", linewidths=1.4, zorder=3,
                       label=f"Pareto-optimal ({len(best)}: latency, interval, energy, area, EDP)")
            lat = [r["latency_cycles"] for r in pts]
            if max(lat) / max(min(lat), 1) > 10:
                ax.set_xscale("log")
            en = [r["steady_energy_pj"] for r in pts]
            if max(en) / max(min(en), 1e-9) > 10:
                ax.set_yscale("log")
            ax.legend(fontsize=8)
        ax.set_xlabel("latency of one inference (cycles)")
        ax.set_ylabel("energy per inference, steady state (uJ)")
        ax.grid(True, alpha=0.3)
        left = len(mrows) - len(pts)
        ax.set_title(f"{model} ({mrows[0]['hardware']}, {mrows[0]['granularity']} sets): {len(pts)} design points"
                     + (f", {left} invalid or without a solution" if left else ""), fontsize=10)
        fig.tight_layout()
        path = out / f"{safe_name(model)}-pareto.png"
        fig.savefig(path)
        files.append(path)
    return files


def model_plot(rows: Sequence[dict], path: Path, x: str = "pes", title: str = "") -> Path:
    """Three panels (latency, speedup vs layer-by-layer without duplication, utilization) for one model."""
    grans = list(dict.fromkeys(r["granularity"] for r in rows))
    series: dict[tuple, list[dict]] = {}
    for r in rows:  # a stream of N inferences is its own series (its latency is the makespan of all N)
        series.setdefault((r["scheduler"], r["duplication"], r["granularity"], r.get("inferences", 1)), []).append(r)
    fig = _figure(15, 4.4)
    axes = fig.subplots(1, 3)
    panels = (("latency_cycles", "latency (cycles)"), ("speedup_vs_lbl", "speedup over layer-by-layer (no dup)"),
              ("utilization", "utilization of the chip"))
    for ax, (col, label) in zip(axes, panels, strict=True):
        for (sched, dup, gran, n), rs in series.items():
            pts = sorted((r[x], r[col]) for r in rs if r[col] is not None)
            if not pts:
                continue
            marker, ls = LINE_STYLES.get(sched, ("x", ":"))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, linestyle=ls if dup == "none" else ":",
                    markersize=4, label=series_label(sched, dup, gran if len(grans) > 1 else None)
                    + (f", {n} inferences" if n > 1 else ""))
        vals = [r[col] for r in rows if r[col]]
        if vals and col != "speedup_vs_lbl" and max(vals) / min(vals) > 20:
            ax.set_yscale("log")
        _scale_x(ax, [r[x] for r in rows])
        ax.set_xlabel(X_LABELS.get(x, x))
        if col == "utilization":
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.3g}%"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    gran_s = ", ".join(grans)
    fig.suptitle(f"{title} ({rows[0]['hardware']}, {gran_s} sets)" if rows else title)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _scale_x(ax, xs: Sequence[float]) -> None:
    """Log scale (base 2) for budgets spanning a wide range; symlog when 0 (no extra PEs) is one of them."""
    pos = [v for v in xs if v and v > 0]
    if not pos or max(pos) / min(pos) <= 8:
        return
    if min(xs) <= 0:
        ax.set_xscale("symlog", base=2, linthresh=min(pos), linscale=0.5)
    else:
        ax.set_xscale("log", base=2)
    lo, hi = min(xs), max(xs)
    ax.set_xlim(lo - 0.1 * min(pos) if lo <= 0 else lo / 1.15, hi * 1.15)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def bar_plot(labels: Sequence[str], groups: dict[str, Sequence[float]], path: Path, ylabel: str, title: str = "",
             log: bool = False, refs: dict[str, float] | None = None) -> Path:
    """Grouped bars: one group per label, one bar per entry of `groups`; `refs` draws labelled horizontal lines."""
    fig = _figure(max(6.0, 1.2 * len(labels) + 2), 4.2)
    ax = fig.subplots()
    n = max(1, len(groups))
    width = 0.8 / n
    xs = np.arange(len(labels))
    for i, (name, vals) in enumerate(groups.items()):
        ax.bar(xs + (i - (n - 1) / 2) * width, [v if v is not None else 0 for v in vals], width, label=name)
    for (name, y), style in zip((refs or {}).items(), ("--", ":", "-."), strict=False):
        ax.axhline(y, color="black", linestyle=style, linewidth=1, label=name)
    ax.set_xticks(xs, labels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def copy_rows(schedule: Schedule) -> np.ndarray:
    """Row of every job in a Gantt chart: copies numbered layer by layer (copy c of layer l after all of l-1)."""
    first = np.concatenate([[0], np.cumsum(schedule.mapping.copies)])
    return first[schedule.layer] + schedule.copy


def merged_runs(row: np.ndarray, start: np.ndarray, end: np.ndarray, layer: np.ndarray,
                min_gap: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge back-to-back jobs of one row and one layer into runs (a gap of at most `min_gap` cycles is closed):
    what keeps a Gantt chart of a million jobs fast. Returns (row, start, end, layer) of the runs."""
    if len(start) == 0:
        return row, start, end, layer
    order = np.lexsort((start, row))
    r, s, e, lay = row[order], start[order], end[order], layer[order]
    new = np.ones(len(s), bool)
    # Jobs of one copy never overlap in a valid schedule; take the running maximum end anyway, so an invalid
    # schedule still draws every job inside some run.
    new[1:] = ~((r[1:] == r[:-1]) & (lay[1:] == lay[:-1]) & (s[1:] - e[:-1] <= min_gap))
    idx = np.flatnonzero(new)
    reach = np.zeros(len(idx), e.dtype)
    np.maximum.at(reach, np.cumsum(new) - 1, e)
    return r[idx], s[idx], reach, lay[idx]


def gantt(schedule: Schedule, path: str | Path, layer_names: Sequence[str] | None = None,
          max_runs: int = 50_000) -> Path:
    """A Gantt chart: one row per copy, one colour per layer; runs of back-to-back sets drawn as one bar."""
    path = Path(path)
    names = list(layer_names) if layer_names is not None else [f"layer {i}" for i in range(len(schedule.mapping.copies))]
    rows = copy_rows(schedule)
    makespan = max(schedule.makespan, 1)
    gap = 0
    runs = merged_runs(rows, schedule.start, schedule.end, schedule.layer, gap)
    while len(runs[0]) > max_runs and gap < makespan:  # too many bars: close ever larger idle gaps (below a pixel first)
        gap = gap * 4 if gap else max(1, makespan // 4000)
        runs = merged_runs(rows, schedule.start, schedule.end, schedule.layer, gap)
    r, s, e, lay = runs
    nrows = int(sum(schedule.mapping.copies))
    fig = _figure(14, min(2.0 + 0.18 * nrows, 40.0))
    ax = fig.subplots()
    cmap = _layer_colors(len(names))
    h = 0.8
    verts = np.stack([np.stack([s, r - h / 2], 1), np.stack([e, r - h / 2], 1),
                      np.stack([e, r + h / 2], 1), np.stack([s, r + h / 2], 1)], 1).astype(float)
    ax.add_collection(PolyCollection(verts, facecolors=cmap[lay % len(cmap)], edgecolors="none"))
    ax.set_xlim(0, makespan)
    ax.set_ylim(nrows - 0.5, -0.5)
    first = np.concatenate([[0], np.cumsum(schedule.mapping.copies)])
    if nrows <= 80:
        labels = [f"{names[li]}/copy {c}" for li, d in enumerate(schedule.mapping.copies) for c in range(d)]
        ax.set_yticks(np.arange(nrows), labels, fontsize=7)
    else:
        ax.set_yticks(first[:-1], names, fontsize=6)
    ax.set_xlabel("cycle")
    ax.set_title(f"{schedule.scheduler} schedule of {schedule.model}: {len(schedule):,} sets, {schedule.makespan:,} cycles"
                 + (f" (gaps below {gap:,} cycles closed)" if gap else ""))
    if len(names) <= 24:
        ax.legend(handles=[Patch(color=cmap[i % len(cmap)], label=n) for i, n in enumerate(names)], fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    return path


def _layer_colors(n: int) -> np.ndarray:
    from matplotlib import colormaps

    base = colormaps["tab20"].colors + colormaps["tab20b"].colors
    return np.array(base[: max(1, min(n, len(base)))])


def link_heatmap(mesh, busy: np.ndarray, latency: int, path: str | Path, title: str = "") -> Path:
    """Per-link load on the tile mesh: every directed link an arrow between its tiles (the two directions side
    by side), coloured by its utilisation (busy cycles / latency); tiles as grey squares, numbered."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    path = Path(path)
    links = mesh.links()
    a, b = mesh.ends(links)
    ya, xa, yb, xb = a // mesh.cols, a % mesh.cols, b // mesh.cols, b % mesh.cols
    side = np.where(links % 2 == 0, 0.1, -0.1)  # east/south on one side, west/north on the other
    horizontal = ya == yb
    oy, ox = np.where(horizontal, side, 0.0), np.where(horizontal, 0.0, side)
    shrink = 0.22
    dx, dy = (xb - xa) * shrink, (yb - ya) * shrink
    segs = np.stack([np.stack([xa + dx + ox, ya + dy + oy], 1), np.stack([xb - dx + ox, yb - dy + oy], 1)], 1)
    util = np.asarray(busy, float)[links] / max(latency, 1)
    top = max(float(util.max(initial=0.0)), 1e-9)
    cmap = colormaps["inferno_r"]
    fig = _figure(min(2 + 0.55 * mesh.cols, 18), min(1.6 + 0.55 * mesh.rows, 18))
    ax = fig.subplots()
    p = np.arange(min(mesh.tiles, mesh.rows * mesh.cols))
    ax.scatter(p % mesh.cols, p // mesh.cols, marker="s", s=220, color="0.88", zorder=1)
    if mesh.rows * mesh.cols <= 400:
        for t in p.tolist():
            ax.text(t % mesh.cols, t // mesh.cols, str(t), ha="center", va="center", fontsize=6, zorder=3)
    norm = Normalize(0.0, top)
    ax.add_collection(LineCollection(segs, colors=cmap(norm(util)), linewidths=2.5, zorder=2))
    sm = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.04)
    sm.set_label("link busy / latency")
    ax.set_xlim(-0.6, mesh.cols - 0.4)
    ax.set_ylim(mesh.rows - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"link load, busiest {top:.1%}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path
