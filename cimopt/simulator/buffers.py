"""Tile buffers: what each tile holds over time under the buffer rule, its peak, and overflows."""

from __future__ import annotations

import numpy as np

from cimopt.simulator.plan import Plan, paint
from cimopt.simulator.result import NEG, Report, Violation
from cimopt.simulator.tier import Tier
from cimopt.simulator.windows import scatter_max
from cimopt.workload import GpeuOp, Layer


def last_reads(plan: Plan, k: int) -> dict[str, np.ndarray]:
    """Per MVM layer of inference k, a map of each output pixel's last read: the latest start of an MVM job
    whose receptive field (through GPEU ops, which hold nothing) contains it (NEG: read by none)."""
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
    return {name: m for name, m in last.items() if name in wl.layer_index}


def held_jobs(plan: Plan, k: int, tier: Tier) -> tuple[list, ...]:
    """Inference k's held job outputs (the buffer rule, per job): arrays per MVM layer of (job, buffering
    tile, held from, held until, elements, layer). A job's outputs, all its pixels x channels, are held from
    its end until the last read of any of its pixels; a job none of whose pixels is read holds nothing. A
    spilled job holds them until each spill ends and again from each fill's start (the last one until its last
    read)."""
    wl, s = plan.workload, plan.schedule
    last = last_reads(plan, k)
    job, tile, t0, t1, elems, lay = [], [], [], [], [], []
    for li, layer in enumerate(wl.layers):
        lj = plan.jobs[k][li]
        if not len(lj.idx):
            continue
        r = (np.maximum.reduceat(last[layer.name].ravel()[lj.flat], lj.offs[:-1]) if layer.name in last
             else np.full(len(lj.idx), NEG, np.int64))
        e = s.end[lj.idx]
        el = np.diff(lj.offs) * layer.out.channels
        away = np.isin(lj.idx, tier.job)
        pieces = [(~away & (r > e), e, r)]
        for sel, a, b in pieces:
            sel = sel & (b > a)
            job.append(lj.idx[sel])
            tile.append(lj.store[sel])
            t0.append(a[sel])
            t1.append(b[sel])
            elems.append(el[sel])
            lay.append(np.full(int(sel.sum()), li, dtype=np.int64))
        if away.any():  # spilled jobs: on their tile between the excursions, the last fill until the last read
            ex = np.flatnonzero(np.isin(tier.job, lj.idx))
            pos = np.searchsorted(lj.idx, tier.job[ex])
            first = np.r_[True, tier.job[ex][1:] != tier.job[ex][:-1]]
            last = np.r_[tier.job[ex][1:] != tier.job[ex][:-1], True]
            since = np.maximum(np.where(first, e[pos], np.r_[0, tier.fill_start[ex][:-1]]), e[pos])
            a_ = np.concatenate([since, np.where(last & (tier.fill_start[ex] >= 0), tier.fill_start[ex], 0)])
            b_ = np.concatenate([tier.spill_end[ex],
                                 np.where(last & (tier.fill_start[ex] >= 0), np.maximum(tier.fill_end[ex], r[pos]), 0)])
            p_ = np.concatenate([pos, pos])
            keep = b_ > a_
            job.append(lj.idx[p_][keep])
            tile.append(lj.store[p_][keep])
            t0.append(a_[keep])
            t1.append(b_[keep])
            elems.append(el[p_][keep])
            lay.append(np.full(int(keep.sum()), li, dtype=np.int64))
    return job, tile, t0, t1, elems, lay


def check_buffers(plan: Plan, tier: Tier, rep: Report) -> tuple[int, ...]:
    """Peak elements held per tile under the buffer rule (`held_jobs`), all inferences together; violations
    above capacity."""
    wl = plan.workload
    n_tiles = max(plan.schedule.mapping.budget.tiles, 0)
    parts: tuple[list, ...] = ([], [], [], [], [], [])
    for k in range(plan.inferences):
        for acc, part in zip(parts, held_jobs(plan, k, tier), strict=True):
            acc.extend(part)
    peak = np.zeros(n_tiles, dtype=np.int64)
    if not sum(len(x) for x in parts[0]):
        return tuple(int(x) for x in peak)
    _, tile, a, b, el, ly = (np.concatenate(x) for x in parts)
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
            who = ", ".join(f"{wl.layers[i].name}: {int(cnt[i])} jobs = {int(per[i])} elements"
                            for i in np.argsort(-per, kind="stable") if per[i])
            top = wl.layers[int(np.argmax(per))].name
            return Violation("buffer", top, None, when, f"tile {t} holds {int(peak[t])} elements at cycle {when}, "
                                                        f"its buffer holds {cap} ({who})")

        rep.add_many("buffer", len(over), make, over)
    return tuple(int(x) for x in peak)
