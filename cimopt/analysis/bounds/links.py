"""Bounds under link contention: every link (and every straight cut of the mesh) as one machine."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cimopt.analysis.bounds.combined import LowerBounds
from cimopt.analysis.bounds.heads import heads_and_tails
from cimopt.arith import ceil_div
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping
from cimopt.sets import SetGraph
from cimopt.timing import min_transfer_lags


@dataclass(frozen=True)
class LinkBound:
    """The link bounds under link contention (`link_bound`): the best one and where it comes from."""

    value: int  # max of `link` and `cut`
    link: int  # the busiest link's bound
    link_name: str  # e.g. "tile 3 -> tile 4 (east)"
    load: int  # cycles the busiest link must carry (the sum of its messages' `ser`)
    cut: int  # the best straight cut's bound
    cut_name: str

    @property
    def rule(self) -> str:
        return f"link, {self.link_name}" if self.link >= self.cut else f"cut, {self.cut_name}"


def _preemptive_one_machine(r: list[int], p: list[int], q: list[int]) -> int:
    """The optimum of one machine with heads r, processing times p and tails q when jobs may be preempted
    (Jackson's preemptive schedule: at every moment the available job with the largest tail runs): a lower
    bound on every non-preemptive schedule, max over job subsets S of min r(S) + p(S) + min q(S)."""
    import heapq

    order = sorted(range(len(r)), key=lambda j: r[j])
    heap: list[tuple[int, int]] = []  # (-tail, job)
    left = list(p)
    t, i, best = 0, 0, 0
    while i < len(order) or heap:
        if not heap:
            t = max(t, r[order[i]])
        while i < len(order) and r[order[i]] <= t:
            heapq.heappush(heap, (-q[order[i]], order[i]))
            i += 1
        negq, j = heap[0]
        nxt = r[order[i]] if i < len(order) else None
        run = left[j] if nxt is None else min(left[j], nxt - t)
        t += run
        left[j] -= run
        if left[j] == 0:
            heapq.heappop(heap)
            best = max(best, t - negq)
    return best


def link_bound(sets: SetGraph, hw: Hardware, mapping: Mapping, copy: np.ndarray | None = None) -> LinkBound:
    """Lower bounds from the links, for every valid schedule under link contention whose sets sit on copies
    with the home tiles of `copy` (default: round robin, set i on copy i mod D, what every scheduler keeps
    under contention). Zero without contention.

    Proof. The home tiles fix the messages (one per source set and other destination tile that reads it) and
    XY routing fixes their links; a message holds each link of its route for `ser` cycles, one message at a
    time per link. Message m cannot be sent before its source set can end: head(src) + duration(src), heads
    from `heads_and_tails` (contention-free, so a lower bound under contention too). After its link interval it
    still flies `hops x hop_cycles`, then each of its consumers w waits the GPEU lag, runs and needs its tail:
    tail(m) = hops x hop_cycles + max over its edges (lag + duration(w) + tail(w)). So a link is one machine
    with heads, processing times `ser` and tails, and the makespan is at least its preemptive optimum
    (`_preemptive_one_machine`; in particular at least min head + the link's whole load + min tail). A
    straight cut of the mesh with k links one way is crossed that way by every message whose route crosses
    it (every route between its sides, whatever the routing): at least min head + ceil(load / k) + min tail
    of those messages; under XY routing the busiest link of the cut gives at least as much, so the cut bound
    is what holds for any routing."""
    from cimopt.list_scheduling import round_robin_copies
    from cimopt.messages import round_robin_messages
    from cimopt.routing import Mesh, cuts

    if not hw.noc_contention or len(sets.src) == 0:
        return LinkBound(0, 0, "", 0, 0, "")
    copy = round_robin_copies(sets, mapping) if copy is None else np.asarray(copy, np.int64)
    msg = round_robin_messages(sets, hw, mapping, copy)
    if not len(msg):
        return LinkBound(0, 0, "", 0, 0, "")
    head, tail = heads_and_tails(sets, min_transfer_lags(sets, hw, mapping), mapping.copies)
    r = head[msg.job] + sets.duration[msg.job]
    hops = np.diff(msg.ptr)
    e = np.flatnonzero(msg.of_edge >= 0)
    after = np.zeros(len(msg), np.int64)
    np.maximum.at(after, msg.of_edge[e], sets.lag[e] + sets.duration[sets.dst[e]] + tail[sets.dst[e]])
    q = hops * hw.noc_hop_cycles + after
    mesh = Mesh.of(hw, mapping.budget.tiles)
    owner = np.repeat(np.arange(len(msg)), hops)
    order = np.argsort(msg.links, kind="stable")
    lk, own = msg.links[order], owner[order]
    bounds = np.zeros(mesh.link_ids, np.int64)
    cut_at = np.flatnonzero(np.diff(lk)) + 1
    for a, b in zip(np.r_[0, cut_at].tolist(), np.r_[cut_at, len(lk)].tolist(), strict=True):
        m = own[a:b]
        bounds[lk[a]] = _preemptive_one_machine(r[m].tolist(), msg.ser[m].tolist(), q[m].tolist())
    top = int(np.argmax(bounds))
    load = int(np.bincount(lk, weights=msg.ser[own], minlength=mesh.link_ids)[top])
    cut_v, cut_n = 0, ""
    on_link = np.zeros(mesh.link_ids, bool)
    for name, links in cuts(mesh):
        on_link[:] = False
        on_link[links] = True
        m = np.unique(own[on_link[lk]])
        if len(m):
            v = int(r[m].min()) + ceil_div(int(msg.ser[m].sum()), len(links)) + int(q[m].min())
            if v > cut_v:
                cut_v, cut_n = v, name
    link_v = int(bounds[top])
    return LinkBound(max(link_v, cut_v), link_v, mesh.name(top), load, cut_v, cut_n)


def with_link_bound(lb: LowerBounds, link: LinkBound) -> LowerBounds:
    """`lb` with the link bound joined: `best` and `rule` from it when it is larger."""
    if link.value <= lb.best:
        return lb
    return replace(lb, best=link.value, rule=link.rule)
