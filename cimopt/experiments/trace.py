"""Schedules as Chrome/Perfetto traces and Gantt charts.

The trace is the Chrome "Trace Event Format" (JSON object with `traceEvents`), which chrome://tracing,
https://ui.perfetto.dev and speedscope open. One process (pid) per MVM layer, named after the layer; inside it
one thread (tid, unique over the whole trace) per copy, named `layer/copy N`; one complete event (`ph: "X"`) per
set with `ts` = start cycle, `dur` = end - start, `cat` = layer name and `args` = set index and pixel rectangle.
Times are cycles: the viewer's microsecond is one cycle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cimopt.arguments import check_output_file
from cimopt.errors import InputError
from cimopt.experiments.plots import copy_rows, gantt
from cimopt.schedule import Schedule
from cimopt.simulator import SimResult


def trace_check(schedule: Schedule, model: str | None = None) -> tuple[list[str], SimResult | None, str | None]:
    """The MVM layer names of the schedule's model and the simulator's verdict on the schedule; without the
    model (or with another one), `layer i` names, no verdict and a warning saying so."""
    from cimopt import api

    n = len(schedule.mapping.copies)
    numbers = [f"layer {i}" for i in range(n)]
    spec = model or schedule.model
    try:
        workload = api.load_schedule_model(schedule, model)
    except InputError as exc:
        return numbers, None, f"model unavailable ({exc}); using layer numbers, not checked on the simulator"
    if workload.fingerprint != schedule.fingerprint or len(workload.layers) != n:
        return numbers, None, (f"model {spec!r} is not the one this schedule was made for (fingerprint differs); "
                               "using layer numbers, not checked on the simulator")
    return [lay.name for lay in workload.layers], api.simulate_schedule(workload, schedule), None


def out_of_range_jobs(schedule: Schedule) -> str:
    """Why the jobs cannot be drawn (a layer or copy index outside the schedule's mapping), or ''."""
    copies = np.asarray(schedule.mapping.copies, np.int64)
    layer = schedule.layer
    bad = np.flatnonzero((layer < 0) | (layer >= len(copies)))
    if len(bad):
        return f"job {int(bad[0])} has layer {int(layer[bad[0]])}, the mapping has {len(copies)} layers"
    bad = np.flatnonzero((schedule.copy < 0) | (schedule.copy >= copies[layer]))
    if len(bad):
        j = int(bad[0])
        return f"job {j} runs on copy {int(schedule.copy[j])}, layer {int(layer[j])} has {int(copies[layer[j]])}"
    return ""


def check_trace_out(out: str | Path) -> list[Path]:
    """The files `-o out` will write (the trace JSON and/or the Gantt PNG), checked before anything is computed."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".json", ".png"):
        raise InputError(f"-o {out}: must end in .json (trace + Gantt PNG) or .png (Gantt only)")
    files = [check_output_file(out, "-o")]
    if suffix == ".json":
        files.append(check_output_file(out.with_suffix(".png"), "-o", f"-o {out}: its Gantt chart {out.with_suffix('.png')}"))
    links = out.with_name(out.stem + "-links.png")  # written under link contention only
    files.append(check_output_file(links, "-o", f"-o {out}: its link heat map {links}"))
    return files


def trace_json(schedule: Schedule, names: list[str]) -> dict:
    """The trace object: metadata naming layers (processes) and copies (threads), then one X event per set."""
    copies = schedule.mapping.copies
    first = [0]
    for d in copies:
        first.append(first[-1] + d)
    meta: list[dict] = []
    for li, d in enumerate(copies):
        meta.append({"ph": "M", "name": "process_name", "pid": li + 1, "tid": 0, "args": {"name": names[li]}})
        meta.append({"ph": "M", "name": "process_sort_index", "pid": li + 1, "tid": 0, "args": {"sort_index": li}})
        for c in range(d):
            tid = first[li] + c + 1
            meta.append({"ph": "M", "name": "thread_name", "pid": li + 1, "tid": tid,
                         "args": {"name": f"{names[li]}/copy {c}"}})
            meta.append({"ph": "M", "name": "thread_sort_index", "pid": li + 1, "tid": tid, "args": {"sort_index": c}})
    tids = (copy_rows(schedule) + 1).tolist()
    cols = [schedule.layer.tolist(), schedule.set.tolist(), schedule.start.tolist(), schedule.end.tolist(),
            schedule.y0.tolist(), schedule.y1.tolist(), schedule.x0.tolist(), schedule.x1.tolist(), tids]
    events = [{"name": f"set {s}", "cat": names[lay], "ph": "X", "ts": st, "dur": en - st, "pid": lay + 1, "tid": tid,
               "args": {"set": s, "y0": y0, "y1": y1, "x0": x0, "x1": x1}}
              for lay, s, st, en, y0, y1, x0, x1, tid in zip(*cols, strict=True)]
    return {"traceEvents": meta + events, "displayTimeUnit": "ms",
            "otherData": {"model": schedule.model, "scheduler": schedule.scheduler, "granularity": schedule.granularity,
                          "makespan_cycles": schedule.makespan, "sets": len(schedule), "time_unit": "cycle",
                          "copies": list(copies)}}


def write_trace(schedule: Schedule, out: str | Path, names: list[str], sim: SimResult | None = None) -> list[Path]:
    """`out` ending in .json: the trace and a Gantt PNG beside it; ending in .png: only the Gantt chart. Under
    link contention (`sim` measured the links) also `<out>-links.png`, the heat map of link load on the mesh."""
    check_trace_out(out)
    out = Path(out)
    files = []
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(trace_json(schedule, names), separators=(",", ":")))  # one string: 4x faster
        files.append(out)
    files.append(gantt(schedule, out.with_suffix(".png"), names))
    if sim is not None and sim.link_busy is not None:
        from cimopt.experiments.plots import link_heatmap
        from cimopt.routing import Mesh

        mesh = Mesh.of(schedule.hardware, schedule.mapping.budget.tiles)
        files.append(link_heatmap(mesh, sim.link_busy, sim.latency, out.with_name(out.stem + "-links.png"),
                                  f"{schedule.scheduler} on {schedule.model}: link load (busiest {sim.busiest_link}, "
                                  f"{sim.link_peak_utilization:.1%})"))
    return files
