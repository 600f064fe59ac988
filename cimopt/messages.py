"""NoC messages under link contention (docs/model.md, "Link contention"): which messages a schedule sends, the
per-link reservation calendar, and re-timing a fixed-order schedule so that every message has its links.

The flow model (cut-through, as a circuit): the outputs of job (layer, set, inference) go as one message to
every other home tile on which a job of the same inference reads one of its pixels (a set-level dependency
`src -> dst` between different home tiles: one message per source job and destination tile). A message of
`bytes = Hardware.transfer_bytes(elements)` sent at `start` (no earlier than its job's end) holds every link of
its XY route (`cimopt.routing`) for `[start, start + ser)`, `ser = ceil(bytes / noc.link_bytes_per_cycle)`, and
arrives at `start + hops * noc.hop_cycles + ser`; a link carries one message at a time. A message that never
waits arrives when the contention-free model says (`timing.transfer_cycles`). A consumer job starts no earlier
than the arrival of every message carrying a pixel it reads, plus the GPEU lag on the way.

`retime` is the one contention-aware list-scheduling engine: given any schedule whose start order respects its
dependencies (every valid contention-free schedule does), it keeps every copy's job order and moves each job
and message as early as the rules allow, jobs in the given start order, each job's messages reserved when it
ends (the earliest interval at or after its end that is free on every link of the route). Layer-by-layer,
CLSA-CIM and the layer pipeline use it on their contention-free schedules; any other fixed-order scheduler
can too. It delays, never advances past the rules, so buffers may hold outputs longer than before: a
buffer-aware scheduler must check its buffers on the re-timed schedule.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

import numpy as np

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.routing import Mesh, routes
from cimopt.schedule import Schedule, Transfers
from cimopt.sets import SetGraph
from cimopt.timing import storage_of

MODES = ("set", "layer")  # what a job waits for: its own inputs, or every input of its layer (layer pipeline)


@dataclass(frozen=True, eq=False)
class Messages:
    """Messages of a job graph: message m carries job `job[m]`'s outputs from tile `src[m]` to tile `dst[m]`
    (different), holding its route's links (`links[ptr[m]:ptr[m + 1]]`) for `ser[m]` cycles and arriving
    `flight[m]` = hops x hop_cycles + ser after it is sent. Sorted by (job, destination tile). `of_edge[e]`:
    the message edge e waits for (-1 when both ends share a home tile)."""

    job: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    ser: np.ndarray
    flight: np.ndarray
    ptr: np.ndarray
    links: np.ndarray
    of_edge: np.ndarray
    after: np.ndarray

    def __len__(self) -> int:
        return len(self.job)


def messages(hw: Hardware, tiles: int, src: np.ndarray, dst: np.ndarray, tile: np.ndarray,
             elements: np.ndarray, store: np.ndarray | None = None) -> Messages:
    """The messages of dependency edges `src -> dst` between jobs on home tiles `tile` (per job), each job
    carrying `elements` activation elements (per job) on a chip of `tiles` tiles. With `store` (per job, the
    tile that buffers its outputs; docs/model.md, "Buffers"), a job buffered away from its home first sends
    its outputs there, and its readers get them from there."""
    n_t = max(int(tiles), 1)
    st_of = tile if store is None else store
    read = st_of[src] != tile[dst]  # edges whose reader is not where the outputs are buffered
    detour_jobs = np.unique(src[st_of[src] != tile[src]])  # jobs buffered away from home that are read
    # (job, kind, destination): kind 0 the detour to the storage tile, 1 a message to a reader's tile
    key_r = (src[read].astype(np.int64) * 2 + 1) * n_t + tile[dst[read]]
    key_d = (detour_jobs.astype(np.int64) * 2) * n_t + st_of[detour_jobs]
    uniq, inv = np.unique(np.concatenate([key_d, key_r]), return_inverse=True)
    job, kind, dt = uniq // n_t // 2, (uniq // n_t) % 2, uniq % n_t
    of_edge = np.full(len(src), -1, dtype=np.int64)
    of_edge[read] = inv[len(key_d):]
    if len(detour_jobs):  # a reader on the storage tile waits for the detour
        on_store = ~read & (st_of[src] != tile[src])
        d_pos = np.searchsorted(uniq, (src[on_store].astype(np.int64) * 2) * n_t + st_of[src[on_store]])
        of_edge[on_store] = d_pos
    sm = np.where(kind == 0, tile[job], st_of[job])
    ser = np.asarray(hw.serialise_cycles(elements[job]), np.int64)
    mesh = Mesh.of(hw, tiles)
    ptr, links = routes(mesh, sm, dt)
    flight = np.diff(ptr) * hw.noc_hop_cycles + ser
    after = np.full(len(job), -1, np.int64)
    if len(detour_jobs):
        d_idx = np.flatnonzero(kind == 0)
        has = np.isin(job, job[d_idx]) & (kind == 1)
        after[has] = d_idx[np.searchsorted(job[d_idx], job[has])]
    return Messages(job, sm, dt, ser, flight, ptr, links, of_edge, after)


class LinkCalendar:
    """Busy intervals per directed link, each link's intervals disjoint and sorted: the earliest common free
    interval of a route, and reservations made in any time order."""

    def __init__(self) -> None:
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}

    def earliest(self, links: list[int], t: int, length: int) -> int:
        """The least s >= t such that [s, s + length) is free on every link of `links`."""
        moved = True
        while moved:
            moved = False
            for lk in links:
                st, en = self.starts.get(lk), self.ends.get(lk)
                if not st:
                    continue
                i = bisect_right(en, t)  # the first interval that ends after t
                while i < len(st) and st[i] < t + length:
                    t = en[i]
                    moved = True
                    i += 1
        return t

    def reserve(self, links: list[int], t: int, length: int) -> None:
        for lk in links:
            st = self.starts.setdefault(lk, [])
            en = self.ends.setdefault(lk, [])
            i = bisect_left(st, t)
            st.insert(i, t)
            en.insert(i, t + length)


@dataclass(frozen=True, eq=False)
class JobGraph:
    """A schedule's jobs as one graph: job i is set `g[i]` (global set index) of inference `k[i]`; edges are
    the set graph's, once per inference."""

    g: np.ndarray
    k: np.ndarray
    src: np.ndarray  # edges, job indices
    dst: np.ndarray
    lag: np.ndarray
    tile: np.ndarray  # home tile per job
    store: np.ndarray  # the tile that buffers each job's outputs
    elements: np.ndarray  # output elements per job
    release: np.ndarray  # earliest start per job (release from the graph input plus the arrival of its inference)


def job_graph(sets: SetGraph, schedule: Schedule) -> JobGraph:
    """The jobs of `schedule` (one per set and inference, else an InputError) and their dependencies."""
    n, n_inf = sets.num_sets, schedule.inferences
    layer = np.asarray(schedule.layer, np.int64)
    local = np.asarray(schedule.set, np.int64)
    k = np.asarray(schedule.inference, np.int64)
    counts = np.diff(sets.offset)
    if len(layer) != n * n_inf or ((layer < 0) | (layer >= len(counts))).any() or (
            (local < 0) | (local >= counts[np.clip(layer, 0, len(counts) - 1)])).any():
        raise InputError(f"schedule {schedule.scheduler!r} is not one job per set and inference of these sets")
    g = sets.offset[layer] + local
    key = k * n + g
    if len(np.unique(key)) != len(key):
        raise InputError(f"schedule {schedule.scheduler!r} runs some set twice in one inference")
    pos = np.empty(n * n_inf, np.int64)
    pos[key] = np.arange(len(key))  # (inference, set) -> job
    ks = np.repeat(np.arange(n_inf, dtype=np.int64), len(sets.src))
    src = pos[ks * n + np.tile(sets.src, n_inf)]
    dst = pos[ks * n + np.tile(sets.dst, n_inf)]
    homes = [np.asarray(schedule.mapping.home_tiles(li), np.int64) for li in range(len(sets.layers))]
    tile = np.zeros(len(layer), np.int64)
    for li, h in enumerate(homes):
        sel = layer == li
        tile[sel] = h[np.asarray(schedule.copy, np.int64)[sel]]
    release = sets.release[g] + k * schedule.arrival_interval
    store = storage_of(schedule.mapping, layer, np.asarray(schedule.copy, np.int64), k * counts[layer] + local)
    return JobGraph(g, k, src, dst, np.tile(sets.lag, n_inf), tile, store, sets.elements[g], release)


def retime(sets: SetGraph, schedule: Schedule, *, mode: str = "set", barrier: bool = False) -> Schedule:
    """`schedule` re-timed under link contention (module docstring), with its messages as `noc` transfers.

    Every copy keeps its jobs in the order of their scheduled starts; jobs are placed in that start order
    (ties by job index), each at the latest of its release, the arrival of every message it waits for (or its
    producer's end, on the same tile) plus the GPEU lag, and its copy's previous job's end. `mode="layer"`: a
    job waits for every input of its layer in its inference (the layer pipeline). `barrier`: a job waits for
    every job placed before it in an earlier (inference, layer) step (layer-by-layer). Raises an InputError
    when the start order does not respect the dependencies (no valid schedule has that)."""
    if mode not in MODES:
        raise ValueError(f"unknown retime mode {mode!r}")
    hw, mapping = schedule.hardware, schedule.mapping
    jg = job_graph(sets, schedule)
    start0 = np.asarray(schedule.start, np.int64)
    layer = sets.layer_of(jg.g)
    step = jg.k * len(sets.layers) + layer  # the (inference, layer) a job belongs to
    order = np.lexsort((np.arange(len(start0)), start0, step)) if barrier else np.lexsort(
        (np.arange(len(start0)), start0))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    if len(jg.src) and (rank[jg.src] >= rank[jg.dst]).any():
        e = int(np.flatnonzero(rank[jg.src] >= rank[jg.dst])[0])
        raise InputError(f"schedule {schedule.scheduler!r}: job {int(jg.dst[e])} starts no later than job "
                         f"{int(jg.src[e])} it depends on; only a schedule whose start order respects its "
                         "dependencies can be re-timed")
    if mode == "layer" and len(jg.src):  # a job waits for its whole layer: every producer placed before it
        first = np.full(int(step.max()) + 1, len(order), np.int64)
        np.minimum.at(first, step, rank)
        if (rank[jg.src] >= first[step[jg.dst]]).any():
            raise InputError(f"schedule {schedule.scheduler!r}: a layer starts before all of its producers have "
                             "started; it cannot be re-timed as a layer pipeline")
    msg = messages(hw, mapping.budget.tiles, jg.src, jg.dst, jg.tile, jg.elements, jg.store)
    dur = (np.asarray(schedule.end, np.int64) - start0).tolist()
    copy_key = (layer * (max(mapping.copies) + 1) + np.asarray(schedule.copy, np.int64)).tolist()
    # in-edges per job (CSR by destination) and messages per job (sorted by job)
    e_order = np.argsort(jg.dst, kind="stable")
    e_ptr = np.zeros(len(start0) + 1, np.int64)
    np.cumsum(np.bincount(jg.dst, minlength=len(start0)), out=e_ptr[1:])
    m_ptr = np.searchsorted(msg.job, np.arange(len(start0) + 1))
    e_src, e_lag, e_msg = jg.src[e_order].tolist(), jg.lag[e_order].tolist(), msg.of_edge[e_order].tolist()
    e_ptr_l, m_ptr_l = e_ptr.tolist(), m_ptr.tolist()
    rel, step_l = jg.release.tolist(), step.tolist()
    ser, flight, after = msg.ser.tolist(), msg.flight.tolist(), msg.after.tolist()
    r_ptr, r_links = msg.ptr.tolist(), msg.links.tolist()
    # layer mode: every in-edge of a job's (inference, layer) step, gathered per step
    step_edges: dict[int, list[int]] = {}
    if mode == "layer":
        ds = step[jg.dst[e_order]].tolist()
        for pos, s in enumerate(ds):
            step_edges.setdefault(s, []).append(pos)
    start = [0] * len(start0)
    end = [0] * len(start0)
    m_start = [0] * len(msg)
    m_arrive = [0] * len(msg)
    free: dict[int, int] = {}
    step_ready: dict[int, int] = {}
    cal = LinkCalendar()
    cur_step, wall, done_max = -1, 0, 0

    def need(pos: int) -> int:
        m = e_msg[pos]
        return (end[e_src[pos]] if m < 0 else m_arrive[m]) + e_lag[pos]

    for j in order.tolist():
        t = rel[j]
        if mode == "layer":
            s = step_l[j]
            if s not in step_ready:
                step_ready[s] = max((need(pos) for pos in step_edges.get(s, ())), default=0)
            t = max(t, step_ready[s])
        else:
            for pos in range(e_ptr_l[j], e_ptr_l[j + 1]):
                t = max(t, need(pos))
        if barrier and step_l[j] != cur_step:
            cur_step, wall = step_l[j], done_max
        t = max(t, free.get(copy_key[j], 0), wall if barrier else 0)
        start[j], end[j] = t, t + dur[j]
        free[copy_key[j]] = end[j]
        done_max = max(done_max, end[j])
        for m in range(m_ptr_l[j], m_ptr_l[j + 1]):
            links = r_links[r_ptr[m]:r_ptr[m + 1]]
            s0 = cal.earliest(links, end[j] if after[m] < 0 else m_arrive[after[m]], ser[m])
            cal.reserve(links, s0, ser[m])
            m_start[m], m_arrive[m] = s0, s0 + flight[m]
    out = schedule.with_jobs(start=np.asarray(start, np.int64), end=np.asarray(end, np.int64))
    return replace(out, transfers=noc_transfers(sets, schedule, msg, np.asarray(m_start, np.int64),
                                                 np.asarray(m_arrive, np.int64)))


def noc_transfers(sets: SetGraph, schedule: Schedule, msg: Messages, start: np.ndarray,
                  arrive: np.ndarray) -> Transfers:
    """The messages as the schedule's `noc` transfers (kind 0), ordered by (job, destination tile)."""
    j = msg.job
    return Transfers.of(kind=np.zeros(len(j), np.int64), layer=np.asarray(schedule.layer, np.int64)[j],
                        set=np.asarray(schedule.set, np.int64)[j], inference=np.asarray(schedule.inference,
                                                                                        np.int64)[j],
                        src=msg.src, dst=msg.dst, start=start, end=arrive)


def schedule_messages(sets: SetGraph, schedule: Schedule) -> Messages:
    """The messages `schedule`'s jobs must send (whatever its transfers table says)."""
    jg = job_graph(sets, schedule)
    return messages(schedule.hardware, schedule.mapping.budget.tiles, jg.src, jg.dst, jg.tile, jg.elements, jg.store)


def link_loads(mesh: Mesh, msg: Messages) -> np.ndarray:
    """Per link id: the cycles its messages hold it (the sum of their `ser`)."""
    per = np.repeat(msg.ser, np.diff(msg.ptr))
    return np.bincount(msg.links, weights=per, minlength=mesh.link_ids).astype(np.int64)


def round_robin_messages(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray) -> Messages:
    """The messages of one inference of `sets` with set s on copy `copy[s]` (set-level, job = set)."""
    from cimopt.timing import home_tiles, storage_tiles

    tile = home_tiles(sets, mapping, copy)
    store = storage_tiles(sets, mapping, copy) if mapping.storage is not None else None
    return messages(hw, mapping.budget.tiles, sets.src, sets.dst, tile, sets.elements, store)

