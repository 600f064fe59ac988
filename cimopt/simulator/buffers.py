"""Tile buffers: what each tile holds over time under the buffer rule, its peak, and overflows."""

from __future__ import annotations

import numpy as np

from cimopt.simulator.plan import Plan, paint
from cimopt.simulator.result import NEG, Report, Violation
from cimopt.simulator.windows import scatter_max
from cimopt.workload import GpeuOp, Layer


def held_pixels(plan: Plan, k: int, ends: list, tiles: list) -> tuple[list, list, list, list, list]:
    """Inference k's held pixels as (tile, from, until, elements, layer) arrays per MVM layer (buffer rule)."""
    wl, s = plan.workload, plan.schedule
    last: dict[str, np.ndarray] = {}

    def push(name: str, m: np.ndarray) -> None:
        last[name] = m if name not in last else np.maximum(last[name], m)

    for node in reversed(wl.nodes):
        if isinstance(node, Layer):
            li = wl.layer_index[node.name]
            lj = plan.jobs[k][li]
            out = (node.out.height, node.out.width)
            reads, _ = paint(lj, s.start[lj.idx], out, latest=True)
        elif isinstance(node, GpeuOp):
            reads = last.pop(node.name, None)
        else:
            last.pop(node.name, None)
            continue
        if reads is None or reads.max() <= NEG // 2:
            continue
        for e in node.inputs:
            src = wl.node(e.source)
            push(e.source, scatter_max(reads, e.access, src.out.height, src.out.width))
    t_tile, t0, t1, elems, lay = [], [], [], [], []
    for li, layer in enumerate(wl.layers):
        if layer.name not in last:
            continue
        e, r, t = ends[li].ravel(), last[layer.name].ravel(), tiles[li].ravel()
        held = (e > NEG // 2) & (r > e)
        t_tile.append(t[held])
        t0.append(e[held])
        t1.append(r[held])
        elems.append(np.full(int(held.sum()), layer.out.channels, dtype=np.int64))
        lay.append(np.full(int(held.sum()), li, dtype=np.int64))
    return t_tile, t0, t1, elems, lay


def check_buffers(plan: Plan, ends: list, tiles: list, rep: Report) -> tuple[int, ...]:
    """Peak elements held per tile under the buffer rule (module docstring), all inferences together;
    violations above capacity."""
    wl = plan.workload
    n_tiles = max(plan.schedule.mapping.budget.tiles, 0)
    t_tile, t0, t1, elems, lay = [], [], [], [], []
    for k in range(plan.inferences):
        for acc, part in zip((t_tile, t0, t1, elems, lay), held_pixels(plan, k, ends[k], tiles[k]), strict=True):
            acc.extend(part)
    peak = np.zeros(n_tiles, dtype=np.int64)
    if not t_tile or not sum(len(x) for x in t_tile):
        return tuple(int(x) for x in peak)
    tile, a, b, el, ly = (np.concatenate(x) for x in (t_tile, t0, t1, elems, lay))
    inside = (tile >= 0) & (tile < n_tiles)
    tile, a, b, el, ly = tile[inside], a[inside], b[inside], el[inside], ly[inside]
    # occupancy after all events of a cycle (releases and holds at the same cycle net out: [end, last read)
    # is half-open); its max per tile is the peak. Dense per (tile, cycle) when that is small, else by a sort.
    t_lo = int(a.min())
    span = int(b.max()) - t_lo + 1
    if n_tiles * span <= max(4 * len(a), 1 << 22):
        delta = np.bincount(tile * span + (a - t_lo), weights=el, minlength=n_tiles * span)
        delta -= np.bincount(tile * span + (b - t_lo), weights=el, minlength=n_tiles * span)
        level = np.rint(np.cumsum(delta.reshape(n_tiles, span), axis=1)).astype(np.int64)
        peak[:] = np.maximum(level.max(axis=1), 0)

        def peak_time(t: int) -> int:
            return t_lo + int(np.argmax(level[t]))
    else:
        m = len(a)
        ev_tile = np.concatenate([tile, tile])
        ev_time = np.concatenate([a, b])
        order = np.lexsort((np.repeat([1, 0], m), ev_time, ev_tile))
        ev_tile, ev_time = ev_tile[order], ev_time[order]
        cum = np.cumsum(np.where(order < m, el[order % m], -el[order % m]))  # each tile's events sum to 0
        cuts = np.flatnonzero(np.diff(ev_tile, prepend=-1))
        peak[ev_tile[cuts]] = np.maximum.reduceat(cum, cuts)

        def peak_time(t: int) -> int:
            return int(ev_time[int(np.argmax(np.where(ev_tile == t, cum, np.iinfo(np.int64).min)))])
    cap = plan.hw.buffer_elements
    if cap is not None:
        over = np.nonzero(peak > cap)[0]

        def make(t: int) -> Violation:
            when = peak_time(t)
            live = (tile == t) & (a <= when) & (b > when)
            per = np.bincount(ly[live], weights=el[live], minlength=len(wl.layers)).astype(np.int64)
            cnt = np.bincount(ly[live], minlength=len(wl.layers))
            who = ", ".join(f"{wl.layers[i].name}: {int(cnt[i])} pixels = {int(per[i])} elements"
                            for i in np.argsort(-per, kind="stable") if per[i])
            top = wl.layers[int(np.argmax(per))].name
            return Violation("buffer", top, None, when, f"tile {t} holds {int(peak[t])} elements at cycle {when}, "
                                                        f"its buffer holds {cap} ({who})")

        rep.add_many("buffer", len(over), make, over)
    return tuple(int(x) for x in peak)
