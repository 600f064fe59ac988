"""The plan: every fact the checks need, derived once from the workload and the schedule (jobs grouped by
inference and layer, their pixels expanded, what each node's ready map is needed for)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.hardware import Hardware
from cimopt.schedule import Schedule
from cimopt.simulator.result import NEG
from cimopt.workload import Layer, Workload


@dataclass(frozen=True, eq=False)
class LayerJobs:
    """The well-formed jobs of one MVM layer, their pixels expanded (`flat[offs[k]:offs[k+1]]` is job `k`)."""

    idx: np.ndarray  # job indices into the schedule, ascending
    flat: np.ndarray  # flat OFM pixel index of every expanded pixel
    offs: np.ndarray  # len(idx) + 1
    tile: np.ndarray  # home tile of each job's copy
    store: np.ndarray  # the tile that buffers each job's outputs (docs/model.md, "Buffers")
    ser: np.ndarray  # link serialisation cycles of each job's outputs (0 without a link bandwidth)
    key: np.ndarray  # consumer tile key of each job (its tile, or 0 without NoC cost)
    keys: tuple[int, ...]  # the distinct keys
    doubled: bool  # some pixel is covered twice


@dataclass(frozen=True, eq=False)
class Plan:
    workload: Workload
    hw: Hardware
    schedule: Schedule
    mesh_cols: int
    jobs: tuple[tuple[LayerJobs, ...], ...]  # per inference, per MVM layer
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


def expand(y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices of rectangles, job after job in raster order, and each job's offset."""
    w = x1 - x0
    area = (y1 - y0) * w
    offs = np.zeros(len(area) + 1, dtype=np.int64)
    np.cumsum(area, out=offs[1:])
    rep = np.repeat(np.arange(len(area)), area)
    k = np.arange(offs[-1], dtype=np.int64) - offs[:-1][rep]
    wr = w[rep]
    return (y0[rep] + k // wr) * width + x0[rep] + k % wr, offs


def paint(lj: LayerJobs, values: np.ndarray, shape: tuple[int, int], *, latest: bool,
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


def needed_maps(workload: Workload, jobs: tuple[LayerJobs, ...], hop: bool) -> tuple[dict, tuple[int, ...]]:
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


def of_inference(plan: Plan, k: int) -> str:
    return f" of inference {k}" if plan.schedule.inferences > 1 else ""


def desc(plan: Plan, j: int) -> str:
    s = plan.schedule
    li = int(s.layer[j])
    name = plan.workload.layers[li].name
    return (f"{name} set {int(s.set[j])}{of_inference(plan, plan.of(j))} (rows {int(s.y0[j])}..{int(s.y1[j]) - 1}, "
            f"cols {int(s.x0[j])}..{int(s.x1[j]) - 1}) on copy {int(s.copy[j])}")


def desc_raw(workload: Workload, s: Schedule, j: int) -> str:
    name = workload.layers[int(s.layer[j])].name
    return (f"{name} set {int(s.set[j])} (rows {int(s.y0[j])}..{int(s.y1[j]) - 1}, cols {int(s.x0[j])}.."
            f"{int(s.x1[j]) - 1}) on copy {int(s.copy[j])}")


def storage(spans: tuple[tuple[int, ...], ...], copy: np.ndarray, y0: np.ndarray, x0: np.ndarray,
            base: int = 0) -> np.ndarray:
    """The buffering tile of each job of one layer and inference: with D copies, the job of rank r on copy c
    goes to `spans[c][(r // D + c) % len(spans[c])]`, r counting the layer's jobs in raster order (by their
    rectangles' top-left pixels) over the inferences before this one (`base`) and this one."""
    if not len(copy):
        return np.zeros(0, np.int64)
    rank = np.empty(len(copy), np.int64)
    rank[np.lexsort((x0, y0))] = np.arange(base, base + len(copy))
    table = np.full((len(spans), max(len(t) for t in spans)), -1, np.int64)
    for c, t in enumerate(spans):
        table[c, : len(t)] = t
    n = np.asarray([len(t) for t in spans], np.int64)[copy]
    return table[copy, (rank // len(spans) + copy) % n]


def make_plan(workload: Workload, s: Schedule, homes: list, stores: list, good: np.ndarray) -> Plan:
    """The well-formed jobs grouped by (inference, layer), their pixels expanded, and what each node's map
    is needed for; `homes[l][c]` / `stores[l][c]`: copy c of layer l's home tile and storage tiles
    (`chip.check_mapping`)."""
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
    jobs_t: list[tuple[LayerJobs, ...]] = []
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
                flat, offs = expand(*rects, lay.out.width)
                doubled = len(flat) > 0 and int(np.bincount(flat, minlength=lay.out.pixels).max()) > 1
                ser = np.asarray(hw.serialise_cycles(np.diff(offs) * lay.out.channels), np.int64)
            tile = homes[li][copy[idx]] if len(idx) else np.zeros(0, np.int64)
            store = storage(stores[li], copy[idx], rects[0], rects[2], k * len(idx))
            key = tile if hop else np.zeros_like(tile)
            keys = (0,) if not hop and len(key) else tuple(int(t) for t in np.unique(key))
            jobs.append(LayerJobs(idx, flat, offs, tile, store, ser, key, keys, doubled))
        jobs_t.append(tuple(jobs))
    needs = [needed_maps(workload, jobs, hop) for jobs in jobs_t]
    last_use = needs[0][1] if needs else ()
    return Plan(workload, hw, s, mesh_cols, tuple(jobs_t), duration, tuple(n for n, _ in needs), last_use,
                 tuple(s.arrival(k) for k in range(n_inf)))
