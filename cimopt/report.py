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


def workload_summary(workload: Workload, hw: Hardware, tiles: int | None = None) -> dict:
    """What `cimopt inspect --json` prints; `chip`: the totals of a chip of `tiles` tiles (default: the hardware
    file's `chip.tiles`, else its `chip.tiles_per_chip`, else the model's minimum)."""
    from cimopt.chip import chip_totals

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
        "chip": chip_totals(hw, tiles or hw.tiles or hw.tiles_per_chip or ceil_div(need, hw.pes_per_tile)).to_json(),
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
    out += chip_text(summary["chip"])
    for w in summary["warnings"]:
        out.append(f"warning: {w}")
    return "\n".join(out)


def chip_text(c: dict) -> list[str]:
    """The `chip` lines of `inspect` (none when the hardware gives neither power nor area figures)."""
    area = c["chip_area_mm2"] > 0
    if c["tile_power_mw"] is None and not area:
        return []
    out = [""]
    head = f"chip ({c['tiles']:,} tiles)"
    if c["tile_power_mw"] is not None:
        link = f" + {c['offchip_power_w']:.4g} W off-chip link" if c["offchip_power_w"] else ""
        out.append(f"{head}: {c['tile_power_mw']:.4g} mW per tile flat out, {c['tiles_power_w']:.4g} W for the tiles"
                   f"{link} = {c['chip_power_w']:.4g} W")
        out.append("  per tile: " + ", ".join(f"{k} {v:.4g}" for k, v in c["tile_power_parts_mw"].items()) + " mW")
        head = " "
    if area:
        out.append(f"{head.rstrip() or ' '} area {c['tile_area_mm2']:.4g} mm2 per tile, {c['chip_area_mm2']:.4g} mm2 "
                   "per chip (" + ", ".join(f"{k} {v:.4g}" for k, v in c["tile_area_parts_mm2"].items())
                   + " mm2 per tile)")
    if c["peak_gops"] is not None:
        eff = [f"{c['peak_gops_per_w']:.4g} GOPS/W" if c["peak_gops_per_w"] else "",
               f"{c['peak_gops_per_mm2']:.4g} GOPS/(s mm2)" if c["peak_gops_per_mm2"] else ""]
        eff_s = ", ".join(e for e in eff if e)
        out.append(f"  peak (every crossbar busy) {c['peak_gops']:,.0f} GOPS" + (f": {eff_s}" if eff_s else ""))
    return out


def violations_text(sim) -> str:
    """The INVALID line of a simulator verdict with its violation counts, then one line per reported violation."""
    lines = [f"INVALID: {sum(sim.violation_counts.values())} violation(s): "
             + ", ".join(f"{k} {n}" for k, n in sorted(sim.violation_counts.items()) if n)]
    lines += [f"  {v.kind}: {v.message}" for v in sim.violations]
    return "\n".join(lines)
