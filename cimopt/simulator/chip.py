"""Checks of the mapping against the chip (copies, crossbars, placement, budget) and of each job's form
(layer, copy, inference, rectangle, start, duration)."""

from __future__ import annotations

import numpy as np

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import crossbars as layer_crossbars
from cimopt.schedule import STREAM_COLUMNS, Schedule
from cimopt.simulator.plan import desc_raw
from cimopt.simulator.result import Report, Violation
from cimopt.workload import Workload


def check_input(workload: Workload, schedule: Schedule) -> None:
    if schedule.fingerprint != workload.fingerprint:
        raise InputError(f"schedule {schedule.scheduler!r} belongs to model {schedule.model!r} (fingerprint "
                         f"{schedule.fingerprint}), not {workload.name!r} (fingerprint {workload.fingerprint})")
    m, n = schedule.mapping, len(workload.layers)
    for what, seq in (("copies", m.copies), ("crossbars", m.crossbars), ("placement", m.placement)):
        if len(seq) != n:
            raise InputError(f"schedule {schedule.scheduler!r}: its mapping has {len(seq)} entries of {what}, model "
                             f"{workload.name!r} has {n} MVM layers")
    lengths = {c: len(np.asarray(getattr(schedule, c))) for c in STREAM_COLUMNS}
    if len(set(lengths.values())) > 1:
        raise InputError(f"schedule {schedule.scheduler!r}: job columns differ in length ({lengths})")
    if schedule.inferences < 1 or schedule.arrival_interval < 0:
        raise InputError(f"schedule {schedule.scheduler!r}: {schedule.inferences} inferences arriving every "
                         f"{schedule.arrival_interval} cycles (needs >= 1 inference, an interval >= 0)")


def check_mapping(workload: Workload, hw: Hardware, schedule: Schedule, rep: Report) -> tuple[tuple[int, ...], list,
                                                                                             list]:
    """Mapping, placement and budget rules; returns the true crossbars per layer and, per layer, the home tile of
    each copy (where its outputs leave for the NoC) and the tiles that buffer its sets in turn (the mapping's
    `storage`, else the home tile)."""
    m = schedule.mapping
    xb = tuple(layer_crossbars(layer, hw) for layer in workload.layers)
    homes, stores = [], []
    load: dict[int, int] = {}
    for li, layer in enumerate(workload.layers):
        d = int(m.copies[li])
        if d < 1:
            rep.add("mapping", layer.name, None, None, f"{layer.name} has {d} copies; every MVM layer needs at least 1")
        if m.crossbars[li] != xb[li]:
            rep.add("mapping", layer.name, None, None,
                    f"{layer.name} is mapped on {m.crossbars[li]} crossbars per copy, but its {layer.rows} x "
                    f"{layer.cols} weights need {xb[li]} crossbars of {hw.xbar_rows} x {hw.xbar_cols}")
        places = m.placement[li]
        if len(places) != max(d, 0):
            rep.add("placement", layer.name, None, None,
                    f"{layer.name} has {d} copies but the placement lists {len(places)}")
        home = []
        for c in range(max(d, 0)):
            p = tuple(places[c]) if c < len(places) else ()
            if len(p) != xb[li]:
                rep.add("placement", layer.name, None, None,
                        f"{layer.name} copy {c} is placed on {len(p)} crossbars, it needs {xb[li]}")
            bad = [t for t in p if not 0 <= int(t) < m.budget.tiles]
            if bad:
                rep.add("placement", layer.name, None, None,
                        f"{layer.name} copy {c} is placed on tile {bad[0]}, the chip has tiles 0..{m.budget.tiles - 1}")
            for t in p:
                load[int(t)] = load.get(int(t), 0) + 1
            home.append(int(p[0]) if p else 0)
        homes.append(np.asarray(home, dtype=np.int64))
        stores.append(_storage(m, li, layer.name, home, rep))
    for t in sorted(load):
        if load[t] > hw.pes_per_tile:
            holders = [f"{layer.name} copy {c}" for li, layer in enumerate(workload.layers)
                       for c, p in enumerate(m.placement[li]) if t in p]
            rep.add("placement", None, None, None,
                    f"tile {t} holds {load[t]} crossbars, it has {hw.pes_per_tile} (held by {', '.join(holders[:6])}"
                    f"{', ...' if len(holders) > 6 else ''})")
    used = sum(max(int(d), 0) * x for d, x in zip(m.copies, xb, strict=True))
    if used > m.budget.pes:
        copies = ", ".join(f"{lay.name} {d}x{x}" for lay, d, x in zip(workload.layers, m.copies, xb, strict=True))
        rep.add("budget", None, None, None, f"the mapping uses {used} PEs ({copies}), the budget is {m.budget.pes}")
    if m.budget.pes > m.budget.tiles * hw.pes_per_tile or m.budget.tiles < 1:
        rep.add("budget", None, None, None, f"a budget of {m.budget.pes} PEs does not fit on {m.budget.tiles} tiles "
                                            f"of {hw.pes_per_tile} PEs")
    if hw.tiles is not None and m.budget.tiles > hw.tiles:
        rep.add("budget", None, None, None, f"the budget has {m.budget.tiles} tiles, the chip ({hw.name}) has {hw.tiles}")
    if hw.mesh is not None and hw.mesh[0] * hw.mesh[1] < m.budget.tiles:
        rep.add("budget", None, None, None, f"the budget has {m.budget.tiles} tiles, the {hw.mesh[0]}x{hw.mesh[1]} mesh "
                                            f"of {hw.name} (noc.mesh) holds {hw.mesh[0] * hw.mesh[1]}")
    return xb, homes, stores


def _storage(m, li: int, name: str, home: list[int], rep: Report) -> tuple[tuple[int, ...], ...]:
    """The storage tiles of each copy of layer li (checked: one non-empty list per copy, tiles on the chip)."""
    if m.storage is None:
        return tuple((h,) for h in home)
    st = m.storage[li] if li < len(m.storage) else ()
    if len(st) != len(home):
        rep.add("placement", name, None, None, f"{name} has {len(home)} copies but the storage lists {len(st)}")
    out = []
    for c, h in enumerate(home):
        tiles = tuple(int(t) for t in st[c]) if c < len(st) else ()
        bad = [t for t in tiles if not 0 <= t < m.budget.tiles]
        if not tiles or bad:
            rep.add("placement", name, None, None,
                    f"{name} copy {c} is buffered on tiles {list(tiles)}, the chip has tiles 0..{m.budget.tiles - 1}")
            tiles = (h,)
        out.append(tiles)
    return tuple(out)


def check_jobs(hw: Hardware, workload: Workload, schedule: Schedule, copies: tuple[int, ...],
                rep: Report) -> np.ndarray:
    """Malformed jobs (`job`) and wrong durations (`duration`); returns the mask of well-formed jobs."""
    s = schedule
    n_layers = len(workload.layers)
    layer = np.asarray(s.layer, dtype=np.int64)
    ok_layer = (layer >= 0) & (layer < n_layers)
    lsafe = np.where(ok_layer, layer, 0)
    h = np.array([lay.out.height for lay in workload.layers] or [0], dtype=np.int64)[lsafe]
    w = np.array([lay.out.width for lay in workload.layers] or [0], dtype=np.int64)[lsafe]
    d = np.array(list(copies) or [0], dtype=np.int64)[lsafe]
    y0, y1, x0, x1 = (np.asarray(getattr(s, c), dtype=np.int64) for c in ("y0", "y1", "x0", "x1"))
    start, end, copy = np.asarray(s.start, np.int64), np.asarray(s.end, np.int64), np.asarray(s.copy, np.int64)
    bad_copy = ok_layer & ((copy < 0) | (copy >= d))
    bad_rect = ok_layer & ((y0 < 0) | (y1 > h) | (y0 >= y1) | (x0 < 0) | (x1 > w) | (x0 >= x1))
    bad_start = start < 0
    inf = np.asarray(s.inference, dtype=np.int64)
    bad_inf = (inf < 0) | (inf >= s.inferences)
    bad = ~ok_layer | bad_copy | bad_rect | bad_start | bad_inf

    def make(j: int) -> Violation:
        if not ok_layer[j]:
            return Violation("job", None, int(s.set[j]), int(start[j]),
                             f"job {j} (set {int(s.set[j])}) has layer index {int(layer[j])}, the model has "
                             f"{n_layers} MVM layers")
        if bad_inf[j]:
            return Violation("job", workload.layers[int(layer[j])].name, int(s.set[j]), int(start[j]),
                             f"job {j} (set {int(s.set[j])}) is of inference {int(inf[j])}, the schedule has "
                             f"inferences 0..{s.inferences - 1}")
        name = workload.layers[int(layer[j])].name
        rect = f"rows {int(y0[j])}..{int(y1[j]) - 1}, cols {int(x0[j])}..{int(x1[j]) - 1}"
        if bad_copy[j]:
            why = f"runs on copy {int(copy[j])}, the layer has {int(d[j])} copies"
        elif bad_rect[j]:
            why = f"covers {rect}, outside the {int(h[j])} x {int(w[j])} OFM or empty"
        else:
            why = f"starts at cycle {int(start[j])} < 0"
        return Violation("job", name, int(s.set[j]), int(start[j]), f"{name} set {int(s.set[j])} ({rect}) {why}")

    rep.add_many("job", bad.sum(), make, np.nonzero(bad)[0])
    good = ~bad
    pixels = (y1 - y0) * (x1 - x0)
    want = np.where(good, pixels * hw.mvm_cycles, 0)
    bad_dur = good & (end - start != want)

    def make_dur(j: int) -> Violation:
        li = int(layer[j])
        return Violation("duration", workload.layers[li].name, int(s.set[j]), int(start[j]),
                         f"{desc_raw(workload, s, j)} runs [{int(start[j])}, {int(end[j])}) = "
                         f"{int(end[j] - start[j])} cycles, but its {int(pixels[j])} pixels take {int(want[j])} "
                         f"cycles ({hw.mvm_cycles} per MVM)")

    rep.add_many("duration", bad_dur.sum(), make_dur, np.nonzero(bad_dur)[0])
    return good
