"""The referee: a cycle-level simulator that checks any schedule against the model and measures it.

Independent of every scheduler: it imports no scheduler and no set/dependency code. What each pixel needs is
derived here, from the workload's receptive windows (`Access`/`AxisMap`), by propagating ready-time maps
(numpy arrays of shape H x W) pixel by pixel through the graph. A wrong dependency in a scheduler is caught,
not repeated.

Rules checked (docs/model.md); every breach is a `Violation` of one kind:
- `mapping`: one copy count >= 1 per layer; `crossbars[l]` is what `cimopt.mapping.crossbars` gives.
- `placement`: every copy lists one tile per crossbar; tile ids in `0 .. budget.tiles-1`; no tile holds more
  than `pes_per_tile` crossbars.
- `budget`: PEs used (copies x crossbars) <= `budget.pes` <= `budget.tiles * pes_per_tile`; `budget.tiles`
  <= `hw.tiles` when the hardware file fixes the chip.
- `job`: a valid layer, copy and inference, a non-empty rectangle inside the OFM, start >= 0. Such jobs are
  left out of every other check and metric except the latency.
- `duration`: `end - start == pixels * mvm_cycles`.
- `pixel-missing` / `pixel-doubled`: every OFM pixel of every MVM layer computed exactly once per inference.
- `copy-overlap`: a copy runs one job at a time (jobs are half-open intervals [start, end)), whatever their
  inferences.
- `dependency`: a job starts no earlier than every pixel its rectangle reads is ready, in its own inference.
- `buffer` (only if `hw.buffer_elements` is set): a tile's peak buffer occupancy exceeds the capacity.

Streams: a schedule of N inferences holds one job per set and inference (its `inference` column). Every
inference is checked on its own jobs (coverage, dependencies, buffers: inference k's jobs read only
inference k's pixels, which exist only once inference k's jobs computed them) while copies are shared by all.
Inference k's graph input is ready at `arrival_k = k * schedule.arrival_interval`, and none of its jobs may
start earlier (with N = 1 and no interval: cycle 0, as before).

Time model (the same as cimopt/schedulers/list_scheduling.py):
- a pixel of an MVM layer is ready when the job that computes it ends (a doubled pixel: the earliest end; a
  missing pixel constrains nothing, it is reported as missing instead);
- graph inputs are ready at cycle 0 everywhere (inference k: at its arrival);
- a GPEU op's output pixel is ready at max over its inputs of the max ready time over that input's window,
  plus `hw.gpeu_latency(kind, out.channels)`; an empty window (padding) contributes nothing; an op without
  inputs is ready at its latency;
- NoC: a consumer job on copy b of layer L reading a producer pixel computed on copy a of layer P waits
  `noc_hop_cycles * hops` more, hops being the Manhattan distance between the two copies' home tiles on the
  mesh `hw.mesh_shape(budget.tiles)` (tiles numbered row-major), plus, when the two home tiles differ, the
  serialisation of the producing job's outputs on a link, `hw.serialise_cycles(pixels * channels)` (the job
  sends all its outputs as one message; nothing crosses the NoC between copies on one tile). The transfer is
  charged once per MVM-to-MVM dependency, whatever GPEU ops lie between (they run on the way). Ready maps of
  producer layers are therefore built per distinct consumer home tile.
- a consumer job's requirement is the max over its rectangle of the max over its input windows.

Buffer rule: a pixel of an MVM layer (its `out.channels` elements) occupies the home tile of the copy that
computed it from its job's end until the latest start of any MVM-layer job whose receptive field (through
GPEU ops, which run on the fly and hold nothing) contains it, as the half-open interval [end, last read).
Pixels that no MVM job reads (graph outputs, pixels skipped by a stride) are not held; graph inputs are not
held. The peak per tile is always reported; it is a violation above `hw.buffer_elements`.

Energy (docs/model.md, "Energy per inference"): activity counted here, priced by `cimopt.energy`. NoC
traffic: a job sends all its outputs once to every other home tile on which some MVM job reads one of its
pixels (through GPEU ops); found by pushing each consumer tile's pixel mask back through the windows.

Self-timed run: every copy runs its jobs in the scheduled order (by start, ties by job index) as soon as its
inputs are ready and the copy is free, each lasting `pixels * mvm_cycles`. Layers are processed in graph
order (dependencies only point backwards), each one vectorized. For a valid schedule the self-timed latency
is at most the scheduled one; for an ASAP list schedule (CLSA) it is equal, start for start.

Cost: a few passes over H x W maps per layer and GPEU op (times the distinct consumer tiles when NoC hops
cost), plus work linear in the jobs and in the pixels they claim. TinyYOLOv3 at 416 x 416, pixel sets
(233k jobs): about 0.3 s and 60 MB with the self-timed run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cimopt.energy import PARTS, Activity, energy_parts, has_energy, total
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import crossbars as layer_crossbars
from cimopt.schedule import STREAM_COLUMNS, Schedule
from cimopt.workload import Access, AxisMap, GpeuOp, Layer, Workload

NEG = -(1 << 60)  # "never needed": the ready time of nothing
KINDS = ("mapping", "placement", "budget", "job", "duration", "pixel-missing", "pixel-doubled", "copy-overlap",
         "dependency", "buffer")


@dataclass(frozen=True)
class Violation:
    """One broken rule; `message` says precisely what and where."""

    kind: str
    layer: str | None
    set: int | None
    cycle: int | None
    message: str


@dataclass(frozen=True, eq=False)
class SimResult:
    """The referee's verdict and the measurements of one schedule (docs/model.md, "Metrics")."""

    valid: bool
    violations: tuple[Violation, ...]  # at most `max_reports` per kind
    violation_counts: dict[str, int]  # every violation, by kind (kinds with none are left out)
    latency: int
    utilization: float  # busy crossbar-cycles / (budget.pes * latency)
    utilization_mapped: float  # busy crossbar-cycles / (PEs used by the mapping * latency)
    busy_crossbar_cycles: int
    layer_start: tuple[int, ...]  # per MVM layer; -1 for a layer without jobs
    layer_end: tuple[int, ...]
    copy_busy: tuple[tuple[int, ...], ...]  # per layer, per copy: busy cycles
    peak_buffer: tuple[int, ...]  # per tile: peak elements held
    self_timed_latency: int | None
    self_timed_start: np.ndarray | None  # per job, in schedule order
    energy: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))  # part -> pJ per inference
    energy_pj: float = 0.0  # the sum of `energy`
    noc_byte_hops: int | None = None  # bytes x hops of all NoC messages, all inferences (None: no data volume modelled)


# ---------------------------------------------------------------------------------------------------------
# windows and range maxima


def _range_max0(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`out[o] = max(a[lo[o] .. hi[o]])` along axis 0 (NEG where `lo > hi`), by a sparse table of needed levels."""
    n_out = len(lo)
    if n_out == a.shape[0] and np.array_equal(lo, np.arange(n_out)) and np.array_equal(hi, lo):
        return a
    out = np.full((n_out,) + a.shape[1:], NEG, dtype=np.int64)
    valid = lo <= hi
    if not valid.any():
        return out
    length = np.where(valid, hi - lo + 1, 1)
    k = np.floor(np.log2(length)).astype(np.int64)
    level = a
    for kk in range(int(k[valid].max()) + 1):
        if kk:
            h = 1 << (kk - 1)
            level = np.maximum(level[:-h], level[h:])
        sel = np.nonzero(valid & (k == kk))[0]
        if len(sel):
            out[sel] = np.maximum(level[lo[sel]], level[hi[sel] - (1 << kk) + 1])
    return out


def _order(*keys: np.ndarray) -> np.ndarray:
    """A stable sort order by several integer keys, the first one primary: one combined int64 key when the
    ranges allow (much faster than lexsort), else lexsort."""
    lo = [int(k.min()) if len(k) else 0 for k in keys]
    span = [int(k.max()) - a + 1 if len(k) else 1 for k, a in zip(keys, lo, strict=True)]
    if np.prod([float(x) for x in span]) < 2.0 ** 62:
        combined = np.zeros(len(keys[0]), dtype=np.int64)
        for k, a, w in zip(keys, lo, span, strict=True):
            combined = combined * w + (k - a)
        return np.argsort(combined, kind="stable")
    return np.lexsort(tuple(reversed(keys)))


def _window_max(a: np.ndarray, access: Access, h_out: int, w_out: int) -> np.ndarray:
    """Per output pixel, the max of `a` (the input's map) over the pixel's input window."""
    if access.full:
        return np.full((h_out, w_out), a.max(), dtype=np.int64)
    rlo, rhi = access.rows.window(np.arange(h_out), a.shape[0])
    clo, chi = access.cols.window(np.arange(w_out), a.shape[1])
    r = _range_max0(a, rlo, rhi)
    return _range_max0(r.T, clo, chi).T


def _readers(amap: AxisMap, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray] | None:
    """For every input index, the range of output indices whose window holds it (None if not monotone)."""
    if amap.num < 0 or amap.extent < 0 or amap.den <= 0:
        return None
    o = np.arange(n_out, dtype=np.int64)
    raw_lo = (amap.num * o + amap.offset) // amap.den
    raw_hi = (amap.num * o + amap.offset + amap.extent) // amap.den
    i = np.arange(n_in, dtype=np.int64)
    return np.searchsorted(raw_hi, i, side="left"), np.searchsorted(raw_lo, i, side="right") - 1


def _scatter_max0(b: np.ndarray, amap: AxisMap, n_in: int) -> np.ndarray:
    """Transposed window max along axis 0: `out[i] = max(b[o])` over outputs `o` whose window holds `i`."""
    rng = _readers(amap, n_in, b.shape[0])
    if rng is not None:
        lo, hi = rng
        return _range_max0(b, np.clip(lo, 0, b.shape[0] - 1), np.where(lo > hi, -1, np.minimum(hi, b.shape[0] - 1)))
    lo, hi = amap.window(np.arange(b.shape[0]), n_in)
    n = np.maximum(hi - lo + 1, 0)
    o = np.repeat(np.arange(b.shape[0]), n)
    i = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    out = np.full((n_in,) + b.shape[1:], NEG, dtype=np.int64)
    np.maximum.at(out, i, b[o])
    return out


def _scatter_max(b: np.ndarray, access: Access, h_in: int, w_in: int) -> np.ndarray:
    """Per input pixel, the max of `b` (a map over the consumer's pixels) over the consumers that read it."""
    if access.full:
        return np.full((h_in, w_in), b.max(), dtype=np.int64)
    r = _scatter_max0(b, access.rows, h_in)
    return _scatter_max0(r.T, access.cols, w_in).T


# ---------------------------------------------------------------------------------------------------------
# the plan: every fact the passes need, derived once from workload + schedule


@dataclass(frozen=True, eq=False)
class _LayerJobs:
    """The well-formed jobs of one MVM layer, their pixels expanded (`flat[offs[k]:offs[k+1]]` is job `k`)."""

    idx: np.ndarray  # job indices into the schedule, ascending
    flat: np.ndarray  # flat OFM pixel index of every expanded pixel
    offs: np.ndarray  # len(idx) + 1
    tile: np.ndarray  # home tile of each job's copy
    ser: np.ndarray  # link serialisation cycles of each job's outputs (0 without a link bandwidth)
    key: np.ndarray  # consumer tile key of each job (its tile, or 0 without NoC cost)
    keys: tuple[int, ...]  # the distinct keys
    doubled: bool  # some pixel is covered twice


@dataclass(frozen=True, eq=False)
class _Plan:
    workload: Workload
    hw: Hardware
    schedule: Schedule
    mesh_cols: int
    jobs: tuple[tuple[_LayerJobs, ...], ...]  # per inference, per MVM layer
    duration: np.ndarray  # the correct duration of every job (0 for malformed jobs)
    need: tuple[dict, ...]  # per inference: node name -> tile keys at which its ready map is needed (None: any)
    last_use: tuple[int, ...]  # per node position: position of its last successor
    arrival: tuple[int, ...]  # per inference: the cycle its graph input is ready

    @property
    def inferences(self) -> int:
        return len(self.jobs)

    def of(self, j: int) -> int:
        """The inference of (well-formed) job j."""
        return int(self.schedule.inference[j])


def _expand(y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices of rectangles, job after job in raster order, and each job's offset."""
    w = x1 - x0
    area = (y1 - y0) * w
    offs = np.zeros(len(area) + 1, dtype=np.int64)
    np.cumsum(area, out=offs[1:])
    rep = np.repeat(np.arange(len(area)), area)
    k = np.arange(offs[-1], dtype=np.int64) - offs[:-1][rep]
    wr = w[rep]
    return (y0[rep] + k // wr) * width + x0[rep] + k % wr, offs


def _paint(lj: _LayerJobs, values: np.ndarray, shape: tuple[int, int], *, latest: bool,
           extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A map of a per-job value over the layer's OFM (NEG where no job): earliest (or `latest`) on doubles.

    `extra` (another per-job value) is painted from the same job that won each pixel.
    """
    n = shape[0] * shape[1]
    area = np.diff(lj.offs)
    pv = np.repeat(values, area)
    px = None if extra is None else np.repeat(extra, area)
    flat = lj.flat
    if lj.doubled:
        order = np.lexsort((-pv if latest else pv, flat))
        first = np.ones(len(order), dtype=bool)
        first[1:] = flat[order][1:] != flat[order][:-1]
        keep = order[first]
        flat, pv = flat[keep], pv[keep]
        px = None if px is None else px[keep]
    out = np.full(n, NEG, dtype=np.int64)
    out[flat] = pv
    ext = None
    if px is not None:
        ext = np.zeros(n, dtype=np.int64)
        ext[flat] = px
        ext = ext.reshape(shape)
    return out.reshape(shape), ext


# ---------------------------------------------------------------------------------------------------------
# violations


class _Report:
    """Collects violations: all are counted, at most `max_reports` per kind are kept."""

    def __init__(self, max_reports: int) -> None:
        self.max = max(0, max_reports)
        self.items: dict[str, list[Violation]] = {k: [] for k in KINDS}
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)

    def room(self, kind: str) -> int:
        return max(0, self.max - len(self.items[kind]))

    def add(self, kind: str, layer: str | None, set_: int | None, cycle: int | None, message: str) -> None:
        self.counts[kind] += 1
        if self.room(kind):
            self.items[kind].append(Violation(kind, layer, set_, cycle, message))

    def add_many(self, kind: str, count: int, make: Callable[[int], Violation], order: np.ndarray) -> None:
        """Count `count` violations, building messages only for the first ones of `order`."""
        self.counts[kind] += int(count)
        for i in order[: self.room(kind)]:
            self.items[kind].append(make(int(i)))

    def result(self) -> tuple[tuple[Violation, ...], dict[str, int]]:
        return (tuple(v for k in KINDS for v in self.items[k]), {k: n for k, n in self.counts.items() if n})


def _check_input(workload: Workload, schedule: Schedule) -> None:
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


def _check_mapping(workload: Workload, hw: Hardware, schedule: Schedule, rep: _Report) -> tuple[tuple[int, ...], list]:
    """Mapping, placement and budget rules; returns the true crossbars per layer and home tiles per copy."""
    m = schedule.mapping
    xb = tuple(layer_crossbars(layer, hw) for layer in workload.layers)
    homes = []
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
    return xb, homes


# ---------------------------------------------------------------------------------------------------------
# the ready-time pass


class _Ready:
    """Ready maps of every node of inference k at a consumer tile key, from the MVM layers' end maps of
    inference k (lazy, memoized)."""

    def __init__(self, plan: _Plan, k: int, ends: list, tiles: list, sers: list) -> None:
        self.plan, self.k, self.ends, self.tiles, self.sers, self.cache = plan, k, ends, tiles, sers, {}

    def layer_map(self, li: int, key: int | None) -> np.ndarray:
        """End map of layer `li` as seen from tile `key` (plus NoC transfer: hops and serialisation)."""
        e = self.ends[li]
        if not self.plan.hw.noc_costs or key is None:
            return e
        cols = self.plan.mesh_cols
        t = self.tiles[li]
        hops = np.abs(t // cols - key // cols) + np.abs(t % cols - key % cols)
        out = e + self.plan.hw.noc_hop_cycles * hops
        if self.sers[li] is not None:
            out = out + np.where(hops > 0, self.sers[li], 0)
        return out

    def get(self, name: str, key: int | None) -> np.ndarray:
        wl = self.plan.workload
        node = wl.node(name)
        if isinstance(node, Layer):
            return self.layer_map(wl.layer_index[name], key)
        if (name, key) not in self.cache:
            self.cache[(name, key)] = _node_map(self.plan, node, key, self.get, self.plan.arrival[self.k])
        return self.cache[(name, key)]


def _node_map(plan: _Plan, node, key: int | None, get: Callable[[str, int | None], np.ndarray],
              arrival: int) -> np.ndarray:
    """Ready map of a graph input or GPEU op (see the time model in the module docstring)."""
    shape = (node.out.height, node.out.width)
    if not isinstance(node, GpeuOp):
        return np.full(shape, arrival, dtype=np.int64)
    out = None
    for e in node.inputs:
        m = _window_max(get(e.source, key), e.access, *shape)
        out = m if out is None else np.maximum(out, m)
    if out is None:
        out = np.full(shape, arrival, dtype=np.int64)
    lat = plan.hw.gpeu_latency(node.kind, node.out.channels)
    return out + lat if lat else out


def _input_max(plan: _Plan, layer: Layer, key: int | None, get) -> np.ndarray:
    """Per OFM pixel of `layer`: the latest ready time over its input windows."""
    shape = (layer.out.height, layer.out.width)
    out = None
    for e in layer.inputs:
        m = _window_max(get(e.source, key), e.access, *shape)
        out = m if out is None else np.maximum(out, m)
    return np.zeros(shape, dtype=np.int64) if out is None else out


def _requirements(plan: _Plan, k: int, li: int, get) -> np.ndarray:
    """Per job of layer `li` in inference k: the max over its rectangle of its pixels' input readiness, and
    no earlier than the inference's arrival."""
    lj = plan.jobs[k][li]
    if not len(lj.idx):
        return np.zeros(0, dtype=np.int64)
    layer = plan.workload.layers[li]
    area = np.diff(lj.offs)
    pix_key = np.repeat(lj.key, area)
    val = np.empty(len(lj.flat), dtype=np.int64)
    for key in lj.keys:
        sel = pix_key == key if len(lj.keys) > 1 else slice(None)
        val[sel] = _input_max(plan, layer, key, get).ravel()[lj.flat[sel]]
    return np.maximum(np.maximum.reduceat(val, lj.offs[:-1]), plan.arrival[k])


def _run(plan: _Plan, decide: Callable[[int, list], list]) -> tuple[np.ndarray, list, list, list]:
    """One pass over the graph in node order: requirement of every job, then its end from `decide(layer, reqs)`
    (`reqs` and the answer: one array per inference, over that inference's jobs of the layer).

    Returns the per-job requirements (NEG for malformed jobs) and, per inference and layer, the end map, the
    home-tile map and the serialisation map (None without a link bandwidth). GPEU maps are computed once per
    inference and needed tile key and dropped after their last consumer. Inference k's maps are made of
    inference k's end maps only.
    """
    wl = plan.workload
    n_layers, n_inf = len(wl.layers), plan.inferences
    ends: list = [[None] * n_layers for _ in range(n_inf)]
    tiles: list = [[None] * n_layers for _ in range(n_inf)]
    sers: list = [[None] * n_layers for _ in range(n_inf)]
    req = np.full(len(plan.schedule), NEG, dtype=np.int64)
    maps: list[dict[str, dict]] = [{} for _ in range(n_inf)]
    ready = [_Ready(plan, k, ends[k], tiles[k], sers[k]) for k in range(n_inf)]

    def getter(k: int) -> Callable[[str, int | None], np.ndarray]:
        def get(name: str, key: int | None) -> np.ndarray:
            node = wl.node(name)
            if isinstance(node, Layer):
                return ready[k].layer_map(wl.layer_index[name], key)
            d = maps[k][name]
            return d[None] if None in d else d[key]
        return get

    gets = [getter(k) for k in range(n_inf)]
    drop: dict[int, list[str]] = {}
    for p, node in enumerate(wl.nodes):
        if isinstance(node, Layer):
            li = wl.layer_index[node.name]
            rs = [_requirements(plan, k, li, gets[k]) for k in range(n_inf)]
            for k in range(n_inf):
                req[plan.jobs[k][li].idx] = rs[k]
            es = decide(li, rs)
            shape = (node.out.height, node.out.width)
            for k in range(n_inf):
                lj = plan.jobs[k][li]
                ends[k][li], tiles[k][li] = _paint(lj, es[k], shape, latest=False, extra=lj.tile)
                if plan.hw.link_bytes_per_cycle > 0:
                    sers[k][li] = _paint(lj, es[k], shape, latest=False, extra=lj.ser)[1]
        else:
            for k in range(n_inf):
                maps[k][node.name] = {t: _node_map(plan, node, t, gets[k], plan.arrival[k])
                                      for t in plan.need[k][node.name]}
            drop.setdefault(plan.last_use[p], []).append(node.name)
        for name in drop.pop(p, []):
            for k in range(n_inf):
                maps[k].pop(name, None)
    return req, ends, tiles, sers


def _needs(workload: Workload, jobs: tuple[_LayerJobs, ...], hop: bool) -> tuple[dict, tuple[int, ...]]:
    """Tile keys at which each non-MVM node's ready map is needed, and each node's last consumer position."""
    pos = {n.name: i for i, n in enumerate(workload.nodes)}
    succ: dict[str, list[str]] = {n.name: [] for n in workload.nodes}
    for n in workload.nodes:
        for e in n.inputs:
            succ[e.source].append(n.name)
    tile_free: dict[str, bool] = {}
    for n in workload.nodes:
        tile_free[n.name] = (not hop) or (not isinstance(n, Layer) and all(tile_free[e.source] for e in n.inputs))
    keys: dict[str, set] = {}
    for n in reversed(workload.nodes):
        k: set = set()
        for s in succ[n.name]:
            sn = workload.node(s)
            k |= set(jobs[workload.layer_index[s]].keys) if isinstance(sn, Layer) else keys[s]
        keys[n.name] = k
    need = {}
    for n in workload.nodes:
        if isinstance(n, Layer):
            continue
        if not keys[n.name]:
            need[n.name] = ()
        elif tile_free[n.name]:
            need[n.name] = (None,)
        else:
            need[n.name] = tuple(sorted(keys[n.name]))
    last = tuple(max([pos[s] for s in succ[n.name]], default=i) for i, n in enumerate(workload.nodes))
    return need, last


# ---------------------------------------------------------------------------------------------------------
# messages


def _of_inference(plan: _Plan, k: int) -> str:
    return f" of inference {k}" if plan.schedule.inferences > 1 else ""


def _desc(plan: _Plan, j: int) -> str:
    s = plan.schedule
    li = int(s.layer[j])
    name = plan.workload.layers[li].name
    return (f"{name} set {int(s.set[j])}{_of_inference(plan, plan.of(j))} (rows {int(s.y0[j])}..{int(s.y1[j]) - 1}, "
            f"cols {int(s.x0[j])}..{int(s.x1[j]) - 1}) on copy {int(s.copy[j])}")


def _blame(plan: _Plan, ready: _Ready, j: int, need: int) -> str:
    """Name the producer pixel (and the path to it) that makes job `j` ready only at `need`."""
    s, wl = plan.schedule, plan.workload
    li = int(s.layer[j])
    layer = wl.layers[li]
    lj = plan.jobs[plan.of(j)][li]
    key = int(lj.key[np.searchsorted(lj.idx, j)])
    y0, y1, x0, x1 = int(s.y0[j]), int(s.y1[j]), int(s.x0[j]), int(s.x1[j])
    target = None
    if need == plan.arrival[ready.k] and plan.schedule.is_stream:
        return f"its input, which arrives at cycle {need}"
    for e in layer.inputs:
        m = _window_max(ready.get(e.source, key), e.access, layer.out.height, layer.out.width)[y0:y1, x0:x1]
        hit = np.argwhere(m == need)
        if len(hit):
            target = (e, y0 + int(hit[0][0]), x0 + int(hit[0][1]))
            break
    if target is None:
        return f"an input of {layer.name} ready at cycle {need}"
    e, oy, ox = target
    path: list[tuple[str, int]] = []
    value = need
    while True:
        src = wl.node(e.source)
        a = ready.get(e.source, key)
        if e.access.full:
            r0, r1, c0, c1 = 0, a.shape[0] - 1, 0, a.shape[1] - 1
        else:
            rl, rh = e.access.rows.window(np.array([oy]), a.shape[0])
            cl, ch = e.access.cols.window(np.array([ox]), a.shape[1])
            r0, r1, c0, c1 = int(rl[0]), int(rh[0]), int(cl[0]), int(ch[0])
        hit = np.argwhere(a[r0:r1 + 1, c0:c1 + 1] == value)
        if not len(hit):
            return f"{src.name} ready at cycle {need}"
        iy, ix = r0 + int(hit[0][0]), c0 + int(hit[0][1])
        gpeu = sum(lat for _, lat in path)
        ops = ", ".join(n for n, _ in reversed(path))  # in data-flow order
        via = f" + {gpeu} GPEU via {ops}" if gpeu else (f" via {ops}" if path else "")
        if isinstance(src, Layer):
            pli = wl.layer_index[src.name]
            end = int(ready.ends[pli][iy, ix])
            noc = value - end
            t_from = int(ready.tiles[pli][iy, ix])
            noc_txt = f" + {noc} NoC from tile {t_from} to tile {key}" if noc else ""
            return f"{src.name} pixel ({iy}, {ix}), ready at cycle {need} (ends {end}{noc_txt}{via})"
        if not isinstance(src, GpeuOp):
            at = plan.arrival[ready.k]
            return f"{src.name} pixel ({iy}, {ix}), ready at cycle {need} (graph input at {at}{via})"
        lat = plan.hw.gpeu_latency(src.kind, src.out.channels)
        if not src.inputs:
            return f"{src.name} pixel ({iy}, {ix}), ready at cycle {need} ({lat} GPEU at {src.name}{via})"
        path.append((src.name, lat))
        value -= lat
        nxt = None
        for e2 in src.inputs:
            m = _window_max(ready.get(e2.source, key), e2.access, src.out.height, src.out.width)
            if m[iy, ix] == value:
                nxt = e2
                break
        if nxt is None:
            return f"{src.name} pixel ({iy}, {ix}), ready at cycle {need}"
        e, oy, ox = nxt, iy, ix


# ---------------------------------------------------------------------------------------------------------
# the checks


def _check_jobs(hw: Hardware, workload: Workload, schedule: Schedule, copies: tuple[int, ...],
                rep: _Report) -> np.ndarray:
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
                         f"{_desc_raw(workload, s, j)} runs [{int(start[j])}, {int(end[j])}) = "
                         f"{int(end[j] - start[j])} cycles, but its {int(pixels[j])} pixels take {int(want[j])} "
                         f"cycles ({hw.mvm_cycles} per MVM)")

    rep.add_many("duration", bad_dur.sum(), make_dur, np.nonzero(bad_dur)[0])
    return good


def _desc_raw(workload: Workload, s: Schedule, j: int) -> str:
    name = workload.layers[int(s.layer[j])].name
    return (f"{name} set {int(s.set[j])} (rows {int(s.y0[j])}..{int(s.y1[j]) - 1}, cols {int(s.x0[j])}.."
            f"{int(s.x1[j]) - 1}) on copy {int(s.copy[j])}")


def _check_coverage(plan: _Plan, rep: _Report) -> None:
    """Every OFM pixel computed exactly once per inference: a 2-D difference array of the rectangles per layer."""
    for k in range(plan.inferences):
        _check_coverage_of(plan, k, rep)


def _check_coverage_of(plan: _Plan, k: int, rep: _Report) -> None:
    s = plan.schedule
    of = _of_inference(plan, k)
    for li, layer in enumerate(plan.workload.layers):
        lj = plan.jobs[k][li]
        h, w = layer.out.height, layer.out.width
        diff = np.zeros((h + 1) * (w + 1), dtype=np.int64)
        y0, y1, x0, x1 = s.y0[lj.idx], s.y1[lj.idx], s.x0[lj.idx], s.x1[lj.idx]
        for ys, xs, sign in ((y0, x0, 1), (y0, x1, -1), (y1, x0, -1), (y1, x1, 1)):
            diff += sign * np.bincount(ys * (w + 1) + xs, minlength=(h + 1) * (w + 1))
        count = diff.reshape(h + 1, w + 1).cumsum(0).cumsum(1)[:h, :w]
        missing = np.flatnonzero(count == 0)
        rep.add_many("pixel-missing", len(missing), lambda i, name=layer.name, w=w: Violation(
            "pixel-missing", name, None, None, f"{name} pixel ({i // w}, {i % w}){of} is computed by no job"), missing)
        doubled = np.flatnonzero(count > 1)

        def make(i: int, lj=lj, name=layer.name, w=w, count=count) -> Violation:
            y, x = i // w, i % w
            js = lj.idx[(s.y0[lj.idx] <= y) & (y < s.y1[lj.idx]) & (s.x0[lj.idx] <= x) & (x < s.x1[lj.idx])]
            who = ", ".join(f"set {int(s.set[j])} on copy {int(s.copy[j])} at cycle {int(s.start[j])}" for j in js[:4])
            return Violation("pixel-doubled", name, int(s.set[js[0]]), int(s.start[js[0]]),
                             f"{name} pixel ({y}, {x}){of} is computed {int(count[y, x])} times ({who})")

        rep.add_many("pixel-doubled", len(doubled), make, doubled)


def _check_overlap(plan: _Plan, good: np.ndarray, rep: _Report) -> None:
    """No copy runs two jobs at once: sorted by (layer, copy, start), each job starts after all before it end."""
    s = plan.schedule
    idx = np.nonzero(good)[0]
    if len(idx) < 2:
        return
    n_copy = int(s.copy[idx].max()) + 1  # (layer, copy) as one key; idx is ascending, the sort is stable
    order = idx[_order(s.layer[idx] * n_copy + s.copy[idx], s.start[idx], s.end[idx])]
    lay, cp, st, en = s.layer[order], s.copy[order], s.start[order], s.end[order]
    new_seg = np.ones(len(order), dtype=bool)
    new_seg[1:] = (lay[1:] != lay[:-1]) | (cp[1:] != cp[:-1])
    seg = np.cumsum(new_seg) - 1
    lo = int(min(st.min(), en.min()))
    big = int(max(st.max(), en.max())) - lo + 1
    if (int(seg[-1]) + 1) * big < (1 << 62):
        run_end = np.maximum.accumulate(seg * big + (en - lo)) - seg * big + lo
    else:  # values too large to offset: per segment
        run_end = np.empty_like(en)
        for a, b in zip(np.flatnonzero(new_seg), np.append(np.flatnonzero(new_seg)[1:], len(en)), strict=True):
            run_end[a:b] = np.maximum.accumulate(en[a:b])
    clash = np.zeros(len(order), dtype=bool)
    clash[1:] = ~new_seg[1:] & (st[1:] < run_end[:-1])
    hits = np.nonzero(clash)[0]
    seg_start = np.flatnonzero(new_seg)

    def make(k: int) -> Violation:
        j = int(order[k])
        a = seg_start[seg[k]]
        prev = order[a:k]
        other = int(prev[np.argmax(s.end[prev])])
        return Violation("copy-overlap", plan.workload.layers[int(s.layer[j])].name, int(s.set[j]), int(s.start[j]),
                         f"{_desc(plan, j)} runs [{int(s.start[j])}, {int(s.end[j])}) while set {int(s.set[other])} "
                         f"runs [{int(s.start[other])}, {int(s.end[other])}) on the same copy")

    rep.add_many("copy-overlap", len(hits), make, hits)


def _held(plan: _Plan, k: int, ends: list, tiles: list) -> tuple[list, list, list, list, list]:
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
            reads, _ = _paint(lj, s.start[lj.idx], out, latest=True)
        elif isinstance(node, GpeuOp):
            reads = last.pop(node.name, None)
        else:
            last.pop(node.name, None)
            continue
        if reads is None or reads.max() <= NEG // 2:
            continue
        for e in node.inputs:
            src = wl.node(e.source)
            push(e.source, _scatter_max(reads, e.access, src.out.height, src.out.width))
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


def _buffers(plan: _Plan, ends: list, tiles: list, rep: _Report) -> tuple[int, ...]:
    """Peak elements held per tile under the buffer rule (module docstring), all inferences together;
    violations above capacity."""
    wl = plan.workload
    n_tiles = max(plan.schedule.mapping.budget.tiles, 0)
    t_tile, t0, t1, elems, lay = [], [], [], [], []
    for k in range(plan.inferences):
        for acc, part in zip((t_tile, t0, t1, elems, lay), _held(plan, k, ends[k], tiles[k]), strict=True):
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


def _noc_traffic(plan: _Plan) -> int:
    """Bytes x hops of every NoC message, all inferences together (each inference reads its own pixels)."""
    return sum(_noc_traffic_of(plan, jobs) for jobs in plan.jobs)


def _noc_traffic_of(plan: _Plan, jobs: tuple[_LayerJobs, ...]) -> int:
    """Bytes x hops of one inference's messages: a job sends all its outputs (`transfer_bytes(pixels *
    channels)`) once to every other home tile on which some MVM job reads one of its pixels (through GPEU ops,
    which run on the way); readers are found by pushing each consumer tile's pixel mask back through the
    windows."""
    wl, hw, cols = plan.workload, plan.hw, plan.mesh_cols
    pos = {n.name: i for i, n in enumerate(wl.nodes)}
    reads: dict[int, dict[int, np.ndarray]] = {}  # producer layer -> consumer tile -> pixels read there
    for li, layer in enumerate(wl.layers):
        lj = jobs[li]
        if not len(lj.idx):
            continue
        pix_tile = np.repeat(lj.tile, np.diff(lj.offs))
        for k in np.unique(lj.tile).tolist():
            mask = np.full(layer.out.pixels, NEG, dtype=np.int64)
            mask[lj.flat[pix_tile == k]] = 1
            mask = mask.reshape(layer.out.height, layer.out.width)
            acc: dict[str, np.ndarray] = {}

            def push(e, m: np.ndarray, acc=acc) -> None:
                src = wl.node(e.source)
                r = _scatter_max(m, e.access, src.out.height, src.out.width)
                acc[e.source] = r if e.source not in acc else np.maximum(acc[e.source], r)

            for e in layer.inputs:
                push(e, mask)
            for node in reversed(wl.nodes[:pos[layer.name]]):
                m = acc.pop(node.name, None)
                if m is None:
                    continue
                if isinstance(node, Layer):
                    d = reads.setdefault(wl.layer_index[node.name], {})
                    d[k] = (m > NEG // 2) | d[k] if k in d else m > NEG // 2
                elif isinstance(node, GpeuOp):
                    for e in node.inputs:
                        push(e, m)
    traffic = 0
    for pli, by_tile in reads.items():
        lj = jobs[pli]
        if not len(lj.idx):
            continue
        nbytes = np.asarray(hw.transfer_bytes(np.diff(lj.offs) * wl.layers[pli].out.channels), dtype=np.int64)
        for k, m in by_tile.items():
            hit = np.maximum.reduceat(m.ravel()[lj.flat].astype(np.int8), lj.offs[:-1]) > 0
            hops = np.abs(lj.tile // cols - k // cols) + np.abs(lj.tile % cols - k % cols)
            traffic += int((nbytes * hops * hit).sum())
    return traffic


def _activity(plan: _Plan, xb: tuple[int, ...], latency: int, noc_byte_hops: int) -> Activity:
    """Activity counts of the whole schedule (see `cimopt.energy`): every computed pixel activates each
    crossbar of its copy once, writes its `channels` outputs to its tile buffer and reads its input vector
    (`rows x groups` elements); every GPEU op writes its output elements once per inference; every tile is
    powered for the latency (the makespan of all inferences)."""
    pixels = [sum(int(np.diff(jobs[li].offs).sum()) for jobs in plan.jobs) for li in range(len(xb))]
    layers = plan.workload.layers
    gpeu: dict[str, int] = {}
    for op in plan.workload.gpeu_ops:
        gpeu[op.kind] = gpeu.get(op.kind, 0) + op.out.pixels * op.out.channels * plan.inferences
    return Activity(
        crossbar_activations=sum(n * x for n, x in zip(pixels, xb, strict=True)),
        buffer_writes=sum(n * lay.out.channels for n, lay in zip(pixels, layers, strict=True)),
        buffer_reads=sum(n * lay.group_rows * lay.groups for n, lay in zip(pixels, layers, strict=True)),
        noc_byte_hops=noc_byte_hops,
        gpeu_elements=tuple(sorted(gpeu.items())),
        tile_cycles=max(plan.schedule.mapping.budget.tiles, 0) * latency,
        inferences=plan.inferences,
    )


# ---------------------------------------------------------------------------------------------------------
# the referee


def _plan(workload: Workload, s: Schedule, homes: list, good: np.ndarray) -> _Plan:
    """The well-formed jobs grouped by (inference, layer), their pixels expanded, and what each node's map
    is needed for."""
    hw, m = s.hardware, s.mapping
    layer, copy = s.layer, s.copy
    hop = hw.noc_costs
    mesh_cols = hw.mesh_shape(max(m.budget.tiles, 1))[1]
    duration = np.where(good, (s.y1 - s.y0) * (s.x1 - s.x0) * hw.mvm_cycles, 0).astype(np.int64)
    n_inf, n_layers = s.inferences, len(workload.layers)
    # well-formed jobs grouped by (inference, layer), ascending job index inside each group
    gidx = np.nonzero(good)[0]
    gkey = s.inference[gidx] * n_layers + layer[gidx]
    gidx = gidx[np.argsort(gkey, kind="stable")]
    cuts = np.searchsorted(np.sort(gkey), np.arange(n_inf * n_layers + 1))
    jobs_t: list[tuple[_LayerJobs, ...]] = []
    for k in range(n_inf):
        jobs = []
        for li, lay in enumerate(workload.layers):
            idx = gidx[cuts[k * n_layers + li]:cuts[k * n_layers + li + 1]]
            first = jobs_t[0][li] if k else None
            rects = [s.y0[idx], s.y1[idx], s.x0[idx], s.x1[idx]]
            if first is not None and len(first.idx) == len(idx) and all(
                    np.array_equal(r, c[first.idx]) for r, c in zip(rects, (s.y0, s.y1, s.x0, s.x1), strict=True)):
                # the same rectangles as inference 0 (every stream scheduler's case): share the expanded pixels
                flat, offs, doubled, ser = first.flat, first.offs, first.doubled, first.ser
            else:
                flat, offs = _expand(*rects, lay.out.width)
                doubled = len(flat) > 0 and int(np.bincount(flat, minlength=lay.out.pixels).max()) > 1
                ser = np.asarray(hw.serialise_cycles(np.diff(offs) * lay.out.channels), np.int64)
            tile = homes[li][copy[idx]] if len(idx) else np.zeros(0, np.int64)
            key = tile if hop else np.zeros_like(tile)
            keys = (0,) if not hop and len(key) else tuple(int(t) for t in np.unique(key))
            jobs.append(_LayerJobs(idx, flat, offs, tile, ser, key, keys, doubled))
        jobs_t.append(tuple(jobs))
    needs = [_needs(workload, jobs, hop) for jobs in jobs_t]
    last_use = needs[0][1] if needs else ()
    return _Plan(workload, hw, s, mesh_cols, tuple(jobs_t), duration, tuple(n for n, _ in needs), last_use,
                 tuple(s.arrival(k) for k in range(n_inf)))


def _check_dependencies(plan: _Plan, good: np.ndarray, rep: _Report) -> tuple[np.ndarray, list, list]:
    """Every job against the ready times of the pixels it reads, on the scheduled ends; returns each job's
    requirement (its earliest valid start) and the ends and home tiles the maps were built from."""
    s, workload, n_inf = plan.schedule, plan.workload, plan.schedule.inferences
    start, end, layer = s.start, s.end, s.layer
    req, ends, tiles, sers = _run(plan, lambda li, rs: [end[plan.jobs[k][li].idx] for k in range(n_inf)])
    late = np.nonzero(good & (start < req))[0]
    late = late[np.lexsort((late, start[late]))]
    if len(late):
        ready = [_Ready(plan, k, ends[k], tiles[k], sers[k]) for k in range(n_inf)]

        def make(j: int) -> Violation:
            return Violation("dependency", workload.layers[int(layer[j])].name, int(s.set[j]), int(start[j]),
                             f"{_desc(plan, j)} starts at cycle {int(start[j])} but needs "
                             f"{_blame(plan, ready[plan.of(j)], j, int(req[j]))}")

        rep.add_many("dependency", len(late), make, late)
    return req, ends, tiles


@dataclass(frozen=True)
class _Measures:
    latency: int
    busy: int
    utilization: float
    utilization_mapped: float
    layer_start: tuple[int, ...]
    layer_end: tuple[int, ...]
    copy_busy: tuple[tuple[int, ...], ...]


def _measure(plan: _Plan, xb: tuple[int, ...], good: np.ndarray) -> _Measures:
    """Latency, busy crossbar-cycles, utilization, per-layer span and busy cycles per copy."""
    s, m = plan.schedule, plan.schedule.mapping
    layer, copy, start, end = s.layer, s.copy, s.start, s.end
    n_layers = len(plan.workload.layers)
    lsafe = np.where(good, layer, 0)
    xb_arr = np.asarray(xb or (0,), dtype=np.int64)
    busy_job = np.where(good, np.maximum(end - start, 0), 0)
    busy = int((busy_job * xb_arr[lsafe]).sum())
    latency = int(end.max()) if len(end) else 0
    pes_used = sum(max(int(d), 0) * x for d, x in zip(m.copies, xb, strict=True))
    util = busy / (m.budget.pes * latency) if latency and m.budget.pes > 0 else 0.0
    util_m = busy / (pes_used * latency) if latency and pes_used else 0.0
    lstart = np.full(n_layers, np.iinfo(np.int64).max, dtype=np.int64)
    lend = np.full(n_layers, -1, dtype=np.int64)
    np.minimum.at(lstart, layer[good], start[good])
    np.maximum.at(lend, layer[good], end[good])
    lstart[lend < 0] = -1
    copy_busy = []
    for li in range(n_layers):
        cb = np.zeros(max(int(m.copies[li]), 0), dtype=np.int64)
        for k in range(s.inferences):
            sel = plan.jobs[k][li].idx
            cb += np.bincount(copy[sel], weights=busy_job[sel], minlength=len(cb)).astype(np.int64)
        copy_busy.append(tuple(int(x) for x in cb))
    return _Measures(latency, busy, util, util_m, tuple(int(x) for x in lstart), tuple(int(x) for x in lend),
                     tuple(copy_busy))


def _self_timed_run(plan: _Plan, req: np.ndarray) -> tuple[int, np.ndarray]:
    """Each copy runs its jobs in the scheduled order as soon as their inputs are ready: latency and starts."""
    s, duration = plan.schedule, plan.duration
    copy, start, end = s.copy, s.start, s.end
    n_inf, n_layers = s.inferences, len(plan.workload.layers)
    st_start = np.zeros(len(s), dtype=np.int64)

    def chain(li: int, rs: list) -> list:
        """All inferences' jobs of layer li, each copy's in the scheduled order."""
        groups = [plan.jobs[k][li].idx for k in range(n_inf)]
        idx = np.concatenate(groups)
        r = np.concatenate(rs)
        if not len(idx):
            return [np.zeros(0, dtype=np.int64) for _ in range(n_inf)]
        dur = duration[idx]
        cp = copy[idx]
        order = _order(cp, start[idx], idx)
        cps, d, rr = cp[order], dur[order], np.maximum(r[order], 0)
        first = np.flatnonzero(np.diff(cps, prepend=-1) != 0)
        st = np.empty(len(order), dtype=np.int64)
        for a, b in zip(first, np.append(first[1:], len(order)), strict=True):
            before = np.cumsum(d[a:b]) - d[a:b]  # start_k = max(ready_k, end_{k-1}) as a prefix max
            st[a:b] = before + np.maximum.accumulate(rr[a:b] - before)
        out = np.empty(len(order), dtype=np.int64)
        out[order] = st
        st_start[idx] = out
        return np.split(out + dur, np.cumsum([len(g) for g in groups])[:-1])

    # shortcut: run every copy on the requirements of the scheduled ends first. If that reproduces every
    # start and the scheduled ends are the true ones, the self-timed run is the schedule (by induction over
    # the layers in graph order, each layer's requirements come from its producers' ends, which agree), as
    # for every ASAP schedule; otherwise the full self-timed pass
    for li in range(n_layers):
        chain(li, [req[plan.jobs[k][li].idx] for k in range(n_inf)])
    if not (np.array_equal(st_start, start) and np.array_equal(end, start + duration)):
        _run(plan, chain)
    st_end = st_start + duration
    return (int(st_end.max()) if len(st_end) else 0), st_start


def simulate(workload: Workload, schedule: Schedule, *, self_timed: bool = True, max_reports: int = 20) -> SimResult:
    """Check `schedule` against `workload` on its hardware and mapping, measure it, and run it self-timed.

    A schedule of another model (fingerprint or layer count) is an InputError; every other fault is a
    Violation in the result (at most `max_reports` reported per kind, all counted).
    """
    _check_input(workload, schedule)
    s = schedule.with_jobs(**{c: np.asarray(getattr(schedule, c), dtype=np.int64) for c in STREAM_COLUMNS})
    hw = s.hardware
    rep = _Report(max_reports)
    xb, homes = _check_mapping(workload, hw, s, rep)
    good = _check_jobs(hw, workload, s, tuple(s.mapping.copies), rep)
    plan = _plan(workload, s, homes, good)
    _check_coverage(plan, rep)
    _check_overlap(plan, good, rep)
    req, ends, tiles = _check_dependencies(plan, good, rep)
    peak = _buffers(plan, ends, tiles, rep)
    meas = _measure(plan, xb, good)
    st_latency, st_start = _self_timed_run(plan, req) if self_timed and not rep.counts["job"] else (None, None)
    traffic = _noc_traffic(plan) if hw.link_bytes_per_cycle > 0 or hw.energy_noc_pj > 0 else None
    parts = (energy_parts(hw, _activity(plan, xb, meas.latency, traffic or 0)) if has_energy(hw)
             else dict.fromkeys(PARTS, 0.0))
    violations, counts = rep.result()
    return SimResult(
        valid=not violations and not counts,
        violations=violations,
        violation_counts=counts,
        latency=meas.latency,
        utilization=meas.utilization,
        utilization_mapped=meas.utilization_mapped,
        busy_crossbar_cycles=meas.busy,
        layer_start=meas.layer_start,
        layer_end=meas.layer_end,
        copy_busy=meas.copy_busy,
        peak_buffer=peak,
        self_timed_latency=st_latency,
        self_timed_start=st_start,
        energy=parts,
        energy_pj=total(parts),
        noc_byte_hops=traffic,
    )
