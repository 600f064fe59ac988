"""The memory tier: spills and fills of job outputs, checked on their own (docs/model.md, "Memory tier").

A spill moves a job's outputs (all its pixels x channels, `hw.transfer_bytes` of them) from the tile that
buffers them (`plan.LayerJobs.store`) to the tier; a fill brings them back to that tile. A transfer of b bytes
takes `ceil(b / bytes_per_cycle) + latency_cycles` cycles, [start, end); the tier's link is busy for the
first `ceil(b / bytes_per_cycle)` of them and carries one transfer at a time. Rules:
- the chip has a tier; a transfer names an existing job of the schedule (layer, set index, inference) and runs
  between that job's buffering tile and the tier (spill: tile -> tier, fill: tier -> tile); its duration is
  the rule above;
- per job the transfers alternate, spill first: spill, fill, spill, fill ...; a spill starts no earlier than the
  job's end (the first) or the end of the fill before it, a fill no earlier than the end of the spill before it;
- the link: no two transfers overlap on it; the tier's capacity (bytes held from a spill's start to its fill's
  end, or to the spill's end when it is never filled) is never exceeded;
- residency: a job's outputs can be read on their tile from the job's end until its first spill ends, and again
  from each fill's end until the next spill ends: every MVM job that reads one of its pixels (found by pushing the
  job's rectangle forward through the receptive windows, GPEU ops included) starts inside one of those windows.
The tile holds a job's outputs over those windows, each fill counted from its start, the last one until the
job's last read (the buffer rule, `buffers.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from cimopt.schedule import TIER
from cimopt.simulator.plan import Plan, desc, paint
from cimopt.simulator.result import Report, Violation
from cimopt.simulator.windows import range_max0
from cimopt.workload import GpeuOp, Layer

SPILL, FILL = 1, 2
NONE = -1  # no such transfer


@dataclass(frozen=True, eq=False)
class Tier:
    """The accepted spills and fills as excursions: each spill of a job (`job`, by job index), [spill_start,
    spill_end), and the fill that brings it back, [fill_start, fill_end) (NONE when it never comes back); sorted
    by job and time. And what crossed the tier."""

    job: np.ndarray
    spill_start: np.ndarray
    spill_end: np.ndarray
    fill_start: np.ndarray
    fill_end: np.ndarray
    bytes_written: int = 0  # spilled to the tier
    bytes_read: int = 0  # filled back
    elements_spilled: int = 0  # activation elements read out of tile buffers by spills
    elements_filled: int = 0  # written back into them by fills

    def __len__(self) -> int:
        return len(self.job)

    @staticmethod
    def none() -> Tier:
        return Tier(*(np.zeros(0, np.int64) for _ in range(5)))


def _job_keys(plan: Plan) -> tuple[np.ndarray, np.ndarray, int]:
    """Sorted (inference, layer, set) keys of the well-formed jobs and their job indices; the key width."""
    s = plan.schedule
    idx = np.concatenate([lj.idx for jobs in plan.jobs for lj in jobs] or [np.zeros(0, np.int64)])
    width = int(s.set.max()) + 2 if len(s.set) else 1
    n_layers = max(len(plan.workload.layers), 1)
    key = (s.inference[idx] * n_layers + s.layer[idx]) * width + s.set[idx]
    order = np.argsort(key, kind="stable")
    return key[order], idx[order], width


def check_transfers(plan: Plan, rep: Report) -> Tier:
    """The spills and fills of the schedule against the rules of the module docstring; returns the accepted
    ones per job (a transfer that breaks a rule of its own is a violation and left out of the buffer count)."""
    s, hw, wl = plan.schedule, plan.hw, plan.workload
    tier = Tier.none()
    t = s.transfers
    mem = np.flatnonzero((t.kind == SPILL) | (t.kind == FILL))
    if not len(mem):
        return tier
    names = {SPILL: "spill", FILL: "fill"}
    if not hw.has_tier:
        rep.add_many("transfer", len(mem), lambda i: Violation(
            "transfer", _layer_name(plan, int(t.layer[i])), int(t.set[i]), int(t.start[i]),
            f"{names[int(t.kind[i])]} of {_what(plan, t, i)} at cycle {int(t.start[i])}, but the chip has no memory "
            f"tier ([memory] bytes_per_cycle = 0)"), mem)
        return tier
    keys, jobs, width = _job_keys(plan)
    n_layers = max(len(wl.layers), 1)
    key = (t.inference[mem] * n_layers + t.layer[mem]) * width + np.clip(t.set[mem], -1, width - 1)
    pos = np.clip(np.searchsorted(keys, key), 0, max(len(keys) - 1, 0))
    found = (len(keys) > 0) & (keys[pos] == key) & (t.set[mem] >= 0) & (t.layer[mem] >= 0) & (t.layer[mem] < n_layers)
    unique = found & ((pos + 1 >= len(keys)) | (keys[np.minimum(pos + 1, len(keys) - 1)] != key))
    job = np.where(found, jobs[pos], -1)
    store = _stores(plan)
    xb_elems = _elements(plan)
    ok = np.ones(len(mem), bool)

    def bad(mask: np.ndarray, why) -> None:
        nonlocal ok
        hit = np.flatnonzero(ok & mask)
        rep.add_many("transfer", len(hit), lambda k: Violation(
            "transfer", _layer_name(plan, int(t.layer[mem[k]])), int(t.set[mem[k]]), int(t.start[mem[k]]),
            f"{names[int(t.kind[mem[k]])]} of {_what(plan, t, mem[k])} [{int(t.start[mem[k]])}, "
            f"{int(t.end[mem[k]])}): {why(k)}"), hit)
        ok &= ~mask

    bad(~found, lambda k: "the schedule has no such job")
    bad(~unique, lambda k: "several jobs carry that layer, set index and inference")
    jj = np.where(job >= 0, job, 0)
    kind = t.kind[mem]
    tile = np.where(kind == SPILL, t.src[mem], t.dst[mem])
    other = np.where(kind == SPILL, t.dst[mem], t.src[mem])
    bad((tile != store[jj]) | (other != TIER), lambda k: (
        f"it must run between tile {int(store[jj[k]])} (where the job's outputs are buffered) and the tier "
        f"({'src' if kind[k] == SPILL else 'dst'} {int(store[jj[k]])}, {'dst' if kind[k] == SPILL else 'src'} "
        f"{TIER}), not {int(t.src[mem[k]])} -> {int(t.dst[mem[k]])}"))
    elems = xb_elems[jj]
    want = np.asarray(hw.tier_cycles(elems), np.int64)
    bad(t.end[mem] - t.start[mem] != want, lambda k: (
        f"{int(hw.transfer_bytes(int(elems[k])))} bytes take {int(want[k])} cycles ({hw.tier_bytes_per_cycle} bytes "
        f"per cycle + {hw.tier_latency_cycles} latency), not {int(t.end[mem[k]] - t.start[mem[k]])}"))
    # per job, in time order: spill, fill, spill, fill ...
    sel = np.flatnonzero(ok)
    order = sel[np.lexsort((kind[sel], t.start[mem[sel]], job[sel]))]
    first = np.r_[True, job[order[1:]] != job[order[:-1]]] if len(order) else np.zeros(0, bool)
    prev_kind = np.where(first, FILL, np.r_[0, kind[order[:-1]]] if len(order) else 0)  # "filled": at home
    prev_end = np.where(first, s.end[jj[order]], np.r_[0, t.end[mem[order[:-1]]]] if len(order) else 0)
    seq = np.zeros(len(mem), bool)
    seq[order] = kind[order] == prev_kind
    bad(seq & (kind == SPILL), lambda k: "the job's outputs are already away (a spill needs a fill before it)")
    bad(seq & (kind == FILL), lambda k: "the job's outputs are not away (a fill needs a spill before it)")
    early = np.zeros(len(mem), bool)
    early[order] = t.start[mem[order]] < prev_end
    when = np.zeros(len(mem), np.int64)
    when[order] = prev_end
    bad(early & (kind == SPILL), lambda k: (f"it starts before the job ends at cycle {int(when[k])}" if when[k] ==
                                             s.end[jj[k]] else f"it starts before the job's fill ends at {int(when[k])}"))
    bad(early & (kind == FILL), lambda k: f"it starts before the job's spill ends at cycle {int(when[k])}")
    acc = np.flatnonzero(ok)
    link = np.asarray(hw.tier_link_cycles(elems[acc]), np.int64)
    _check_link(plan, t, mem[acc], link, rep)
    nbytes = np.asarray(hw.transfer_bytes(elems[acc]), np.int64)
    el = elems[acc]
    tier = _excursions(job[acc], kind[acc], t.start[mem[acc]], t.end[mem[acc]])
    _check_capacity(plan, tier, rep)
    return Tier(tier.job, tier.spill_start, tier.spill_end, tier.fill_start, tier.fill_end,
                int(nbytes[kind[acc] == SPILL].sum()), int(nbytes[kind[acc] == FILL].sum()),
                int(el[kind[acc] == SPILL].sum()), int(el[kind[acc] == FILL].sum()))


def _excursions(job: np.ndarray, kind: np.ndarray, start: np.ndarray, end: np.ndarray) -> Tier:
    """Accepted transfers as excursions: each spill paired with the fill right after it (same job)."""
    order = np.lexsort((kind, start, job))
    job, kind, start, end = job[order], kind[order], start[order], end[order]
    sp = np.flatnonzero(kind == SPILL)
    nxt = sp + 1
    has = (nxt < len(job)) & (job[np.minimum(nxt, len(job) - 1)] == job[sp]) & (kind[np.minimum(nxt, len(job) - 1)]
                                                                               == FILL) if len(sp) else np.zeros(0, bool)
    fill_start = np.where(has, start[np.minimum(nxt, len(job) - 1)], NONE) if len(sp) else np.zeros(0, np.int64)
    fill_end = np.where(has, end[np.minimum(nxt, len(job) - 1)], NONE) if len(sp) else np.zeros(0, np.int64)
    return Tier(job[sp], start[sp], end[sp], fill_start, fill_end)


def _layer_name(plan: Plan, li: int) -> str | None:
    return plan.workload.layers[li].name if 0 <= li < len(plan.workload.layers) else None


def _what(plan: Plan, t, i: int) -> str:
    name = _layer_name(plan, int(t.layer[i])) or f"layer {int(t.layer[i])}"
    inf = f" of inference {int(t.inference[i])}" if plan.inferences > 1 else ""
    return f"{name} set {int(t.set[i])}{inf}"


def _stores(plan: Plan) -> np.ndarray:
    """The buffering tile of every well-formed job (by job index)."""
    out = np.zeros(len(plan.schedule), np.int64)
    for jobs in plan.jobs:
        for lj in jobs:
            out[lj.idx] = lj.store
    return out


def _elements(plan: Plan) -> np.ndarray:
    """Output elements of every well-formed job (pixels x channels), by job index."""
    out = np.zeros(len(plan.schedule), np.int64)
    for jobs in plan.jobs:
        for li, lj in enumerate(jobs):
            out[lj.idx] = np.diff(lj.offs) * plan.workload.layers[li].out.channels
    return out


def _check_link(plan: Plan, t, sel: np.ndarray, link: np.ndarray, rep: Report) -> None:
    """One transfer at a time on the tier's link: sorted by start, each starts after all before it are off."""
    if len(sel) < 2:
        return
    order = np.argsort(t.start[sel], kind="stable")
    st, busy_end = t.start[sel][order], (t.start[sel] + link)[order]
    run = np.maximum.accumulate(busy_end)
    clash = np.flatnonzero(st[1:] < run[:-1]) + 1
    names = {SPILL: "spill", FILL: "fill"}

    def make(k: int) -> Violation:
        i, prev = sel[order[k]], sel[order[int(np.argmax(busy_end[:k]))]]
        return Violation("tier", _layer_name(plan, int(t.layer[i])), int(t.set[i]), int(t.start[i]),
                         f"{names[int(t.kind[i])]} of {_what(plan, t, i)} starts on the tier's link at cycle "
                         f"{int(t.start[i])} while the {names[int(t.kind[prev])]} of {_what(plan, t, prev)} occupies "
                         f"it until cycle {int(busy_end[:k].max())} (one transfer at a time)")

    rep.add_many("tier", len(clash), make, clash)


def _check_capacity(plan: Plan, tier: Tier, rep: Report) -> None:
    """Bytes held in the tier over time never above its capacity."""
    hw = plan.hw
    cap = hw.tier_capacity_bytes
    if cap is None:
        return
    if not len(tier):
        return
    nbytes = np.asarray(hw.transfer_bytes(_elements(plan)[tier.job]), np.int64)
    until = np.where(tier.fill_end >= 0, tier.fill_end, tier.spill_end)
    times = np.concatenate([tier.spill_start, until])
    delta = np.concatenate([nbytes, -nbytes])
    order = np.lexsort((delta, times))  # releases before additions at equal times
    level = np.cumsum(delta[order])
    if level.max() > cap:
        k = int(np.argmax(level))
        rep.add("tier", None, None, int(times[order][k]),
                f"the memory tier holds {int(level[k]):,} bytes at cycle {int(times[order][k])}, its capacity is "
                f"{cap:,} bytes")


# ---------------------------------------------------------------------------------------------------------
# residency: no reader of a spilled job starts while its outputs are away


def _forward(mask: np.ndarray, amap, n_in: int, n_out: int) -> np.ndarray:
    """Per output index, whether its window holds a marked input (columns: one per job)."""
    lo, hi = amap.window(np.arange(n_out), n_in)
    return range_max0(mask, lo, hi) > 0


def reader_masks(plan: Plan, li: int, rows: np.ndarray, cols: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """For jobs of MVM layer `li` given as row and column masks (H x J, W x J bools), the consumer pixels that
    read one of their pixels, per path to a consumer MVM layer: (layer, rows H_L x J, cols W_L x J); the readers
    of job j on a path are the product rows[:, j] x cols[:, j]. Paths run forward through GPEU ops."""
    wl = plan.workload
    succ: dict[str, list] = {}
    for n in wl.nodes:
        for e in n.inputs:
            succ.setdefault(e.source, []).append((n, e))
    out = []
    stack = [(wl.layers[li].name, rows.astype(np.int64), cols.astype(np.int64))]
    while stack:
        name, r, c = stack.pop()
        src = wl.node(name)
        for node, e in succ.get(name, []):
            if e.access.full:
                any_ = r.any(axis=0) & c.any(axis=0)
                r2 = np.repeat(any_[None, :], node.out.height, axis=0)
                c2 = np.repeat(any_[None, :], node.out.width, axis=0)
            else:
                r2 = _forward(r, e.access.rows, src.out.height, node.out.height)
                c2 = _forward(c, e.access.cols, src.out.width, node.out.width)
            if isinstance(node, Layer):
                out.append((wl.layer_index[node.name], r2, c2))
            elif isinstance(node, GpeuOp):
                stack.append((node.name, r2.astype(np.int64), c2.astype(np.int64)))
    return out


@njit(cache=True)
def _first_bad_read(smap, rows, cols, lo, hi):
    """Per job j (columns of rows/cols), a consumer pixel (y * W + x) in rows[:, j] x cols[:, j] whose job
    starts in [lo[j], hi[j]), or -1."""
    h, w = smap.shape
    out = np.full(rows.shape[1], -1, np.int64)
    for j in range(rows.shape[1]):
        for y in range(h):
            if not rows[y, j]:
                continue
            for x in range(w):
                if cols[x, j]:
                    v = smap[y, x]
                    if lo[j] <= v < hi[j]:
                        out[j] = y * w + x
                        break
            if out[j] >= 0:
                break
    return out


CHUNK = 2048  # jobs pushed forward at once (the masks are H x CHUNK)


def check_residency(plan: Plan, tier: Tier, rep: Report) -> None:
    """Every reader of a spilled job starts while its outputs are on their tile: not from a spill's end until
    the end of the fill that brings them back (never again without one)."""
    if not len(tier):
        return
    s, wl = plan.schedule, plan.workload
    starts = {}  # (inference, consumer layer) -> start map (NEG where no job), and whose job each pixel is

    def start_map(k: int, lc: int) -> tuple[np.ndarray, np.ndarray]:
        if (k, lc) not in starts:
            lj = plan.jobs[k][lc]
            shape = (wl.layers[lc].out.height, wl.layers[lc].out.width)
            starts[(k, lc)] = paint(lj, s.start[lj.idx], shape, latest=False, extra=np.arange(len(lj.idx)))
        return starts[(k, lc)]

    for k in range(plan.inferences):
        for li, lj in enumerate(plan.jobs[k]):
            sel = np.flatnonzero(np.isin(tier.job, lj.idx))  # this inference's excursions of layer li
            layer = wl.layers[li]
            for c0 in range(0, len(sel), CHUNK):
                ex = sel[c0:c0 + CHUNK]
                part = tier.job[ex]
                y = np.arange(layer.out.height)[:, None]
                x = np.arange(layer.out.width)[:, None]
                rows = (y >= s.y0[part][None, :]) & (y < s.y1[part][None, :])
                cols = (x >= s.x0[part][None, :]) & (x < s.x1[part][None, :])
                lo = tier.spill_end[ex]
                hi = np.where(tier.fill_end[ex] >= 0, tier.fill_end[ex], np.iinfo(np.int64).max)
                for lc, r, c in reader_masks(plan, li, rows, cols):
                    smap, own = start_map(k, lc)
                    hit = _first_bad_read(smap, r, c, lo, hi)
                    _report(plan, rep, k, lc, ex, np.flatnonzero(hit >= 0), hit, own, tier)


def _report(plan: Plan, rep: Report, k: int, lc: int, ex: np.ndarray, bad: np.ndarray, hit: np.ndarray,
            own: np.ndarray, tier: Tier) -> None:
    s = plan.schedule
    cons = plan.jobs[k][lc]

    def make(b: int) -> Violation:
        e = int(ex[b])
        j = int(tier.job[e])
        w = plan.workload.layers[lc].out.width
        r = int(cons.idx[own.ravel()[int(hit[b])]])
        back = (f"its fill lands at cycle {int(tier.fill_end[e])}" if tier.fill_end[e] >= 0
                else "it is never filled back")
        return Violation("residency", plan.workload.layers[lc].name, int(s.set[r]), int(s.start[r]),
                         f"{desc(plan, r)} starts at cycle {int(s.start[r])}, but its pixel ({int(hit[b]) // w}, "
                         f"{int(hit[b]) % w}) reads {desc(plan, j)}, whose outputs left for the memory tier at cycle "
                         f"{int(tier.spill_end[e])}; {back}")

    rep.add_many("residency", len(bad), make, bad)
