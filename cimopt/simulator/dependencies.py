"""Dependencies: ready-time maps pushed pixel by pixel through the receptive windows (GPEU and NoC
latency included), every job against the pixels it reads, and the message that names the pixel it waits for."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimopt.simulator.links import LinkTimes
from cimopt.simulator.plan import Plan, desc, paint
from cimopt.simulator.result import NEG, Report, Violation
from cimopt.simulator.windows import window_max
from cimopt.workload import GpeuOp, Layer


class Ready:
    """Ready maps of every node of inference k at a consumer tile key, from the MVM layers' end maps of
    inference k (lazy, memoized)."""

    def __init__(self, plan: Plan, k: int, ends: list, tiles: list, sers: list, stos: list,
                 links: LinkTimes | None = None) -> None:
        self.plan, self.k, self.ends, self.tiles, self.sers, self.stos = plan, k, ends, tiles, sers, stos
        self.links = links
        self.cache: dict = {}

    def _leg(self, li: int, a: np.ndarray, b) -> np.ndarray:
        """NoC cycles from tiles `a` to tiles `b`: hops and, between different tiles, serialisation."""
        cols = self.plan.mesh_cols
        hops = np.abs(a // cols - b // cols) + np.abs(a % cols - b % cols)
        out = self.plan.hw.noc_hop_cycles * hops
        if self.sers[li] is not None:
            out = out + np.where(hops > 0, self.sers[li], 0)
        return out

    def layer_map(self, li: int, key: int | None) -> np.ndarray:
        """End map of layer `li` as seen from tile `key` (plus NoC transfer: hops and serialisation; by way of
        the tile that buffers the pixel when that is not its copy's home; under link contention the arrival of
        the message that carries each pixel there)."""
        e = self.ends[li]
        if not self.plan.hw.noc_costs or key is None:
            return e
        if self.links is not None:
            if ("arrive", li, key) not in self.cache:
                self.cache[("arrive", li, key)] = self.links.arrival_map(self.plan, self.k, li, key, e.shape)
            here = self.tiles[li] if self.stos[li] is None else np.where(self.stos[li] == self.tiles[li],
                                                                           self.tiles[li], -1)
            return np.where(here == key, e, self.cache[("arrive", li, key)])
        if self.stos[li] is None:
            return e + self._leg(li, self.tiles[li], key)
        return e + self._leg(li, self.tiles[li], self.stos[li]) + self._leg(li, self.stos[li], key)

    def get(self, name: str, key: int | None) -> np.ndarray:
        wl = self.plan.workload
        node = wl.node(name)
        if isinstance(node, Layer):
            return self.layer_map(wl.layer_index[name], key)
        if (name, key) not in self.cache:
            self.cache[(name, key)] = node_map(self.plan, node, key, self.get, self.plan.arrival[self.k])
        return self.cache[(name, key)]


def node_map(plan: Plan, node, key: int | None, get: Callable[[str, int | None], np.ndarray],
              arrival: int) -> np.ndarray:
    """Ready map of a graph input or GPEU op (see the time model in the module docstring)."""
    shape = (node.out.height, node.out.width)
    if not isinstance(node, GpeuOp):
        return np.full(shape, arrival, dtype=np.int64)
    out = None
    for e in node.inputs:
        m = window_max(get(e.source, key), e.access, *shape)
        out = m if out is None else np.maximum(out, m)
    if out is None:
        out = np.full(shape, arrival, dtype=np.int64)
    lat = plan.hw.gpeu_latency(node.kind, node.out.channels)
    return out + lat if lat else out


def input_max(plan: Plan, layer: Layer, key: int | None, get) -> np.ndarray:
    """Per OFM pixel of `layer`: the latest ready time over its input windows."""
    shape = (layer.out.height, layer.out.width)
    out = None
    for e in layer.inputs:
        m = window_max(get(e.source, key), e.access, *shape)
        out = m if out is None else np.maximum(out, m)
    return np.zeros(shape, dtype=np.int64) if out is None else out


def requirements(plan: Plan, k: int, li: int, get) -> np.ndarray:
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
        val[sel] = input_max(plan, layer, key, get).ravel()[lj.flat[sel]]
    return np.maximum(np.maximum.reduceat(val, lj.offs[:-1]), plan.arrival[k])


def ready_pass(plan: Plan, decide: Callable[[int, list], list], links: LinkTimes | None = None
               ) -> tuple[np.ndarray, list, list, list, list]:
    """One pass over the graph in node order: requirement of every job, then its end from `decide(layer, reqs)`
    (`reqs` and the answer: one array per inference, over that inference's jobs of the layer). `links`: under
    link contention, the messages' arrivals (fixed: the links' calendar is the schedule's).

    Returns the per-job requirements (NEG for malformed jobs) and, per inference and layer, the end map, the
    home-tile map, the serialisation map (None without a link bandwidth) and the storage-tile map (None when
    every copy buffers on its home tile). GPEU maps are computed once per
    inference and needed tile key and dropped after their last consumer. Inference k's maps are made of
    inference k's end maps only.
    """
    wl = plan.workload
    n_layers, n_inf = len(wl.layers), plan.inferences
    ends: list = [[None] * n_layers for _ in range(n_inf)]
    tiles: list = [[None] * n_layers for _ in range(n_inf)]
    sers: list = [[None] * n_layers for _ in range(n_inf)]
    stos: list = [[None] * n_layers for _ in range(n_inf)]
    req = np.full(len(plan.schedule), NEG, dtype=np.int64)
    maps: list[dict[str, dict]] = [{} for _ in range(n_inf)]
    ready = [Ready(plan, k, ends[k], tiles[k], sers[k], stos[k], links) for k in range(n_inf)]
    detour = plan.schedule.mapping.storage is not None

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
            rs = [requirements(plan, k, li, gets[k]) for k in range(n_inf)]
            for k in range(n_inf):
                req[plan.jobs[k][li].idx] = rs[k]
            es = decide(li, rs)
            shape = (node.out.height, node.out.width)
            for k in range(n_inf):
                lj = plan.jobs[k][li]
                ends[k][li], tiles[k][li] = paint(lj, es[k], shape, latest=False, extra=lj.tile)
                if plan.hw.link_bytes_per_cycle > 0:
                    sers[k][li] = paint(lj, es[k], shape, latest=False, extra=lj.ser)[1]
                if detour:
                    stos[k][li] = paint(lj, es[k], shape, latest=False, extra=lj.store)[1]
        else:
            for k in range(n_inf):
                maps[k][node.name] = {t: node_map(plan, node, t, gets[k], plan.arrival[k])
                                      for t in plan.need[k][node.name]}
            drop.setdefault(plan.last_use[p], []).append(node.name)
        for name in drop.pop(p, []):
            for k in range(n_inf):
                maps[k].pop(name, None)
    return req, ends, tiles, sers, stos


def blame(plan: Plan, ready: Ready, j: int, need: int) -> str:
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
        m = window_max(ready.get(e.source, key), e.access, layer.out.height, layer.out.width)[y0:y1, x0:x1]
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
            m = window_max(ready.get(e2.source, key), e2.access, src.out.height, src.out.width)
            if m[iy, ix] == value:
                nxt = e2
                break
        if nxt is None:
            return f"{src.name} pixel ({iy}, {ix}), ready at cycle {need}"
        e, oy, ox = nxt, iy, ix


def check_dependencies(plan: Plan, good: np.ndarray, rep: Report, links: LinkTimes | None = None
                       ) -> tuple[np.ndarray, list, list]:
    """Every job against the ready times of the pixels it reads, on the scheduled ends (and, under link
    contention, the scheduled messages' arrivals); returns each job's requirement (its earliest valid start)
    and the ends and home tiles the maps were built from."""
    s, workload, n_inf = plan.schedule, plan.workload, plan.schedule.inferences
    start, end, layer = s.start, s.end, s.layer
    req, ends, tiles, sers, stos = ready_pass(
        plan, lambda li, rs: [end[plan.jobs[k][li].idx] for k in range(n_inf)], links)
    late = np.nonzero(good & (start < req))[0]
    late = late[np.lexsort((late, start[late]))]
    if len(late):
        ready = [Ready(plan, k, ends[k], tiles[k], sers[k], stos[k], links) for k in range(n_inf)]

        def make(j: int) -> Violation:
            return Violation("dependency", workload.layers[int(layer[j])].name, int(s.set[j]), int(start[j]),
                             f"{desc(plan, j)} starts at cycle {int(start[j])} but needs "
                             f"{blame(plan, ready[plan.of(j)], j, int(req[j]))}")

        rep.add_many("dependency", len(late), make, late)
    return req, ends, tiles
