"""Plain-text tables and JSON-ready summaries of workloads and runs (no schedulers here, only formatting)."""

from __future__ import annotations

from cimopt.arith import ceil_div
from cimopt.hardware import Hardware
from cimopt.mapping import crossbars, min_pes
from cimopt.workload import Workload


def table(headers: list[str], rows: list[list[object]], align: str | None = None) -> str:
    """A fixed-width text table; `align` has one of 'l'/'r' per column (default: text left, numbers right)."""
    cells = [[_fmt(c) for c in r] for r in rows]
    if align is None:
        align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l" for i in range(len(headers)))
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if a == "r" else v.ljust(w) for v, w, a in zip(vals, widths, align)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "" if v is None else str(v)


def workload_summary(workload: Workload, hw: Hardware) -> dict:
    """What `cimopt inspect --json` prints."""
    layers = [{
        "name": lay.name, "op": lay.op, "rows": lay.rows, "cols": lay.cols, "groups": lay.groups,
        "ofm": [lay.out.height, lay.out.width], "channels": lay.out.channels, "pixels": lay.pixels,
        "crossbars": crossbars(lay, hw), "macs": lay.macs,
    } for lay in workload.layers]
    need = min_pes(workload, hw)
    return {
        "model": workload.name, "hardware": hw.name,
        "crossbar": [hw.xbar_rows, hw.xbar_cols], "pes_per_tile": hw.pes_per_tile,
        "layers": layers,
        "gpeu_ops": [{"name": op.name, "op": op.op, "kind": op.kind} for op in workload.gpeu_ops],
        "mvm_layers": len(layers), "crossbars_min": need, "tiles_min": ceil_div(need, hw.pes_per_tile),
        "macs": workload.macs, "pixels_total": sum(lay.pixels for lay in workload.layers),
        "warnings": list(workload.warnings),
    }


def workload_text(summary: dict) -> str:
    rows = [[d["name"], d["op"], d["rows"], d["cols"], d["groups"], f"{d['ofm'][0]}x{d['ofm'][1]}", d["pixels"],
             d["crossbars"], d["macs"]] for d in summary["layers"]]
    out = [f"model {summary['model']} on {summary['hardware']} "
           f"({summary['crossbar'][0]}x{summary['crossbar'][1]} crossbars, {summary['pes_per_tile']} PEs per tile)",
           "", table(["layer", "op", "rows", "cols", "groups", "ofm", "pixels", "crossbars", "MACs"], rows,
                     "llrrrrrrr")]
    kinds: dict[str, list[str]] = {}
    for op in summary["gpeu_ops"]:
        kinds.setdefault(op["op"], []).append(op["name"])
    out += ["", f"GPEU operations ({len(summary['gpeu_ops'])}): "
            + ", ".join(f"{k} x{len(v)}" for k, v in sorted(kinds.items()))]
    out += ["", f"MVM layers {summary['mvm_layers']}, crossbars {summary['crossbars_min']:,}, "
            f"minimum tiles {summary['tiles_min']:,}, MACs {summary['macs']:,} ({summary['macs'] / 1e9:.3f} G), "
            f"pixels {summary['pixels_total']:,}"]
    for w in summary["warnings"]:
        out.append(f"warning: {w}")
    return "\n".join(out)


def violations_text(sim) -> str:
    """The INVALID line of a simulator verdict with its violation counts, then one line per reported violation."""
    lines = [f"INVALID: {sum(sim.violation_counts.values())} violation(s): "
             + ", ".join(f"{k} {n}" for k, n in sorted(sim.violation_counts.items()) if n)]
    lines += [f"  {v.kind}: {v.message}" for v in sim.violations]
    return "\n".join(lines)
