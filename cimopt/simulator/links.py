"""Links as shared resources (docs/model.md, "Link contention"): the messages a schedule must send, checked
against its `noc` transfers, each link's load, and the arrival times the dependency check waits for.

Which messages must exist is derived here, from the pixels each consumer tile's jobs read (`noc.message_reads`):
job j of inference k sends one message to every other home tile on which an MVM job of inference k reads one of
its pixels. The schedule's `noc` transfers (kind 0) must list each exactly once, from the job's home tile,
starting no earlier than the job's end and lasting the flow model's `hops * hop_cycles + ser` cycles
(`ser = Hardware.serialise_cycles(pixels * channels)`); each holds every link of its XY route
(`cimopt.routing`) for [start, start + ser), and no link holds two at once. Without contention
(`noc.contention` false) a schedule carries no `noc` transfers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.routing import Mesh, routes
from cimopt.schedule import TRANSFER_KINDS
from cimopt.simulator.noc import message_reads
from cimopt.simulator.plan import Plan, desc, paint
from cimopt.simulator.result import Report, Violation

NOC = TRANSFER_KINDS.index("noc")


@dataclass(frozen=True, eq=False)
class LinkTimes:
    """What the links decided: per (inference, producer layer) the messages that arrived (position of the job
    in the layer's `LayerJobs`, destination tile, arrival), and the measurements."""

    arrivals: dict  # (inference, layer) -> (job positions, destination tiles, arrival cycles)
    busy: np.ndarray  # per link id: cycles it carries a message
    nbytes: np.ndarray  # per link id: bytes it carries
    delay: int  # sum over messages of (start - its job's end)
    messages: int
    mesh: Mesh

    def arrival_map(self, plan: Plan, k: int, li: int, key: int, shape: tuple[int, int]) -> np.ndarray:
        """Per pixel of layer li (inference k): when it is at tile `key` from another tile (message arrival;
        the contention-free arrival for a message that is missing, reported as such)."""
        lj = plan.jobs[k][li]
        s, hw, cols = plan.schedule, plan.hw, plan.mesh_cols
        hops = (np.abs(lj.tile // cols - lj.store // cols) + np.abs(lj.tile % cols - lj.store % cols)
                + np.abs(lj.store // cols - key // cols) + np.abs(lj.store % cols - key % cols))
        val = s.end[lj.idx] + hops * hw.noc_hop_cycles + np.where(hops > 0, lj.ser, 0)
        got = self.arrivals.get((k, li))
        if got is not None:
            sel = got[1] == key
            val[got[0][sel]] = got[2][sel]
        return paint(lj, val, shape, latest=False)[0]


def check_links(plan: Plan, rep: Report) -> LinkTimes | None:
    """The messages and link rules (module docstring); None without contention."""
    s, hw = plan.schedule, plan.hw
    tr = s.transfers
    noc = np.flatnonzero(np.asarray(tr.kind) == NOC)
    if not hw.noc_contention:
        if len(noc):
            rep.add("message", None, None, None,
                    f"the schedule carries {len(noc)} noc transfers, but its hardware ({hw.name}) models no link "
                    "contention (noc.contention = false): messages are not scheduled there")
        return None
    mesh = Mesh.of(hw, s.mapping.budget.tiles)
    n_tiles = max(s.mapping.budget.tiles, 1)
    wl = plan.workload
    n_layers = len(wl.layers)
    # the messages that must exist: (job, destination tile), from the tile that buffers the job's outputs to
    # every other tile that reads them, and first from its copy's home tile to that tile when they differ
    need_job, need_dst = [], []
    for jobs in plan.jobs:
        read: dict[int, np.ndarray] = {}
        for pli, key, hit in message_reads(plan, jobs):
            lj = jobs[pli]
            sel = hit & (lj.store != key)
            need_job.append(lj.idx[sel])
            need_dst.append(np.full(int(sel.sum()), key, np.int64))
            read[pli] = read[pli] | hit if pli in read else hit
        for pli, hit in read.items():
            lj = jobs[pli]
            sel = hit & (lj.store != lj.tile)
            need_job.append(lj.idx[sel])
            need_dst.append(lj.store[sel])
    need_job = np.concatenate(need_job) if need_job else np.zeros(0, np.int64)
    need_dst = np.concatenate(need_dst) if need_dst else np.zeros(0, np.int64)
    need_key = need_job * n_tiles + need_dst
    # the schedule's noc transfers, each matched to the job it names
    layer_t, set_t, inf_t = (np.asarray(getattr(tr, c), np.int64)[noc] for c in ("layer", "set", "inference"))
    src_t, dst_t, st_t, en_t = (np.asarray(getattr(tr, c), np.int64)[noc] for c in ("src", "dst", "start", "end"))
    good = np.zeros(len(s), dtype=bool)
    for jobs in plan.jobs:
        for lj in jobs:
            good[lj.idx] = True
    gidx = np.flatnonzero(good)
    width = int(max(s.set[gidx].max(initial=0), set_t.max(initial=0))) + 1
    jkey = (s.inference[gidx] * n_layers + s.layer[gidx]) * width + s.set[gidx]
    korder = np.argsort(jkey, kind="stable")
    ksorted = jkey[korder]
    tkey = (inf_t * n_layers + layer_t) * width + set_t
    at = np.minimum(np.searchsorted(ksorted, tkey), max(len(ksorted) - 1, 0))
    found = (layer_t >= 0) & (layer_t < n_layers) & (set_t >= 0) & (len(ksorted) > 0)
    if len(ksorted):
        found &= ksorted[at] == tkey
        job = np.where(found, gidx[korder[at]], -1)
    else:
        job = np.full(len(noc), -1, np.int64)
    home = np.zeros(len(s), np.int64)
    store = np.zeros(len(s), np.int64)
    ser = np.zeros(len(s), np.int64)
    for jobs in plan.jobs:
        for lj in jobs:
            home[lj.idx], store[lj.idx], ser[lj.idx] = lj.tile, lj.store, lj.ser
    jsafe = np.maximum(job, 0)
    hops = np.where(dst_t >= 0, np.abs(src_t // mesh.cols - dst_t // mesh.cols)
                    + np.abs(src_t % mesh.cols - dst_t % mesh.cols), 0)
    flight = hops * hw.noc_hop_cycles + ser[jsafe]

    def name(i: int) -> str:
        if job[i] < 0:
            return f"noc transfer {int(noc[i])}"
        return f"the message of {desc(plan, int(job[i]))} from tile {int(src_t[i])} to tile {int(dst_t[i])}"

    def bad(cond: np.ndarray, why) -> np.ndarray:
        idx = np.flatnonzero(cond)
        rep.add_many("message", len(idx), lambda i: Violation(
            "message", wl.layers[int(layer_t[i])].name if 0 <= layer_t[i] < n_layers else None, int(set_t[i]),
            int(st_t[i]), why(i)), idx)
        return cond

    err = bad(~found, lambda i: f"{name(i)} names layer {int(layer_t[i])} set {int(set_t[i])} of inference "
                                f"{int(inf_t[i])}, which no well-formed job computes")
    detour = store[jsafe] != home[jsafe]
    want_src = np.where(detour & (dst_t == store[jsafe]), home[jsafe], store[jsafe])
    err |= bad(found & (src_t != want_src), lambda i: (
        f"{name(i)} leaves from tile {int(src_t[i])}, but the job's outputs leave from tile {int(want_src[i])} ("
        + ("its copy's home, for the tile that buffers them)" if want_src[i] == home[jsafe[i]] and detour[i]
           else "where they are buffered)" if detour[i] else "its copy's home tile)")))
    err |= bad(~err & ((dst_t == src_t) | (dst_t < 0)),
               lambda i: f"{name(i)} goes from tile {int(src_t[i])} to tile {int(dst_t[i])}: a message goes to "
                         "another tile")
    tkey_m = job * n_tiles + dst_t
    needed = np.isin(tkey_m, need_key)
    err |= bad(~err & ~needed, lambda i: f"{name(i)} is not needed: no job on tile {int(dst_t[i])} reads a pixel "
                                         "of it")
    # doubles: the first transfer of a (job, destination) counts
    first = np.zeros(len(noc), dtype=bool)
    ok_idx = np.flatnonzero(~err)
    if len(ok_idx):
        _, first_pos = np.unique(tkey_m[ok_idx], return_index=True)
        first[ok_idx[first_pos]] = True
    err |= bad(~err & ~first, lambda i: f"{name(i)} is sent twice")
    err |= bad(~err & (st_t < s.end[jsafe]), lambda i: f"{name(i)} starts at cycle {int(st_t[i])}, before the "
                                                       f"job ends at cycle {int(s.end[jsafe[i]])}")
    err |= bad(~err & (en_t - st_t != flight), lambda i: (
        f"{name(i)} runs [{int(st_t[i])}, {int(en_t[i])}) = {int(en_t[i] - st_t[i])} cycles, but {int(hops[i])} "
        f"hops of {hw.noc_hop_cycles} cycles and {int(ser[jsafe[i]])} cycles on each link take {int(flight[i])}"))
    # a message from the storage tile leaves once the outputs are there (after the detour message arrives)
    det_end = np.full(len(s), -1, np.int64)
    d_ok = np.flatnonzero(~err & detour & (dst_t == store[jsafe]))
    det_end[job[d_ok]] = en_t[d_ok]
    late = ~err & detour & (dst_t != store[jsafe]) & (st_t < det_end[jsafe])
    err |= bad(late, lambda i: f"{name(i)} starts at cycle {int(st_t[i])}, before the outputs reach the tile that "
                               f"buffers them at cycle {int(det_end[jsafe[i]])}")
    # missing messages
    have = np.unique(tkey_m[~err])
    missing = np.flatnonzero(~np.isin(need_key, have))
    rep.add_many("message", len(missing), lambda i: Violation(
        "message", wl.layers[int(s.layer[need_job[i]])].name, int(s.set[need_job[i]]), int(s.end[need_job[i]]),
        f"{desc(plan, int(need_job[i]))} must send its outputs to tile {int(need_dst[i])} (a job there reads them), "
        "but no noc transfer carries them"), missing)
    # links: the well-formed messages' intervals per link may not overlap
    ok = np.flatnonzero(~err)
    ptr, links = routes(mesh, src_t[ok], dst_t[ok])
    rep_m = np.repeat(ok, np.diff(ptr))
    a = st_t[rep_m]
    b = a + ser[jsafe[rep_m]]
    busy = np.bincount(links, weights=b - a, minlength=mesh.link_ids).astype(np.int64)
    elements = np.zeros(len(s), np.int64)
    for jobs in plan.jobs:
        for li, lj in enumerate(jobs):
            elements[lj.idx] = np.diff(lj.offs) * wl.layers[li].out.channels
    nb = np.asarray(hw.transfer_bytes(elements[jsafe[rep_m]]), np.int64)
    nbytes = np.bincount(links, weights=nb, minlength=mesh.link_ids).astype(np.int64)
    if len(links) > 1:
        order = np.lexsort((b, a, links))
        lk, sa, sb, mm = links[order], a[order], b[order], rep_m[order]
        same = np.zeros(len(order), dtype=bool)
        same[1:] = lk[1:] == lk[:-1]
        seg = np.cumsum(~same) - 1
        big = int(sb.max()) + 1
        run = np.maximum.accumulate(seg * big + sb) - seg * big  # running max end per link
        clash = np.flatnonzero(same & (sa < np.concatenate([[0], run[:-1]])))
        seg_first = np.flatnonzero(~same)

        def make(c: int) -> Violation:
            i = int(mm[c])
            prev = np.arange(seg_first[seg[c]], c)
            o = int(mm[prev[np.argmax(sb[prev])]])
            return Violation("link", wl.layers[int(layer_t[i])].name, int(set_t[i]), int(st_t[i]),
                             f"link {mesh.name(int(lk[c]))} carries {name(i)} over [{int(sa[c])}, {int(sb[c])}) "
                             f"while it carries {name(o)} over [{int(st_t[o])}, "
                             f"{int(st_t[o] + ser[jsafe[o]])}): a link carries one message at a time")

        rep.add_many("link", len(clash), make, clash)
    arrivals: dict = {}
    for k, jobs in enumerate(plan.jobs):
        for li, lj in enumerate(jobs):
            sel = ok[(inf_t[ok] == k) & (layer_t[ok] == li)]
            if len(sel):
                arrivals[(k, li)] = (np.searchsorted(lj.idx, job[sel]), dst_t[sel], en_t[sel])
    delay = int((st_t[ok] - s.end[jsafe[ok]]).sum())
    return LinkTimes(arrivals, busy, nbytes, delay, len(ok), mesh)
