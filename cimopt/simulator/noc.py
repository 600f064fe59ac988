"""NoC traffic: bytes x hops of every message, found from the pixels each consumer tile reads."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cimopt.simulator.plan import LayerJobs, Plan
from cimopt.simulator.result import NEG
from cimopt.simulator.windows import scatter_max
from cimopt.workload import GpeuOp, Layer


def noc_traffic(plan: Plan) -> int:
    """Bytes x hops of every NoC message, all inferences together (each inference reads its own pixels)."""
    return sum(noc_traffic_of(plan, jobs) for jobs in plan.jobs)


def noc_traffic_of(plan: Plan, jobs: tuple[LayerJobs, ...]) -> int:
    """Bytes x hops of one inference's messages (`message_reads`): to each reader tile from the tile that buffers
    the job's outputs, reached first from the copy's home tile when that is another (once, when anyone reads
    it)."""
    wl, hw, cols = plan.workload, plan.hw, plan.mesh_cols
    traffic = 0
    read: dict[int, np.ndarray] = {}
    for pli, k, hit in message_reads(plan, jobs):
        lj = jobs[pli]
        nbytes = np.asarray(hw.transfer_bytes(np.diff(lj.offs) * wl.layers[pli].out.channels), dtype=np.int64)
        hops = np.abs(lj.store // cols - k // cols) + np.abs(lj.store % cols - k % cols)
        traffic += int((nbytes * hops * hit).sum())
        read[pli] = read[pli] | hit if pli in read else hit
    for pli, hit in read.items():
        lj = jobs[pli]
        nbytes = np.asarray(hw.transfer_bytes(np.diff(lj.offs) * wl.layers[pli].out.channels), dtype=np.int64)
        detour = np.abs(lj.tile // cols - lj.store // cols) + np.abs(lj.tile % cols - lj.store % cols)
        traffic += int((nbytes * detour * hit).sum())
    return traffic


def message_reads(plan: Plan, jobs: tuple[LayerJobs, ...]) -> Iterator[tuple[int, int, np.ndarray]]:
    """Who reads whose outputs, for one inference's jobs: (producer layer, consumer tile k, a mask over the
    producer layer's jobs of those with a pixel some MVM job on tile k reads, through GPEU ops, which run on
    the way). A job sends all its outputs (`transfer_bytes(pixels * channels)`) once to every other home tile
    in its mask; readers are found by pushing each consumer tile's pixel mask back through the windows."""
    wl = plan.workload
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
                r = scatter_max(m, e.access, src.out.height, src.out.width)
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
    for pli, by_tile in reads.items():
        lj = jobs[pli]
        if not len(lj.idx):
            continue
        for k, m in by_tile.items():
            yield pli, k, np.maximum.reduceat(m.ravel()[lj.flat].astype(np.int8), lj.offs[:-1]) > 0
