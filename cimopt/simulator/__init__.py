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

Time model (the same as cimopt/list_scheduling.py):
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

The package: one module per check, each over the plan (`plan.py`: the jobs grouped by inference and layer,
pixels expanded) -- `chip.py` (mapping, placement, budget, job form), `coverage.py`, `copies.py`,
`dependencies.py` (the ready-time pass and its messages), `buffers.py`, `noc.py`, `measure.py` (metrics, the
self-timed run, activity for energy); `windows.py` holds the window maxima, `result.py` the verdict.

Cost: a few passes over H x W maps per layer and GPEU op (times the distinct consumer tiles when NoC hops
cost), plus work linear in the jobs and in the pixels they claim. TinyYOLOv3 at 416 x 416, pixel sets
(233k jobs): about 0.3 s and 60 MB with the self-timed run.
"""

from __future__ import annotations

import numpy as np

from cimopt.energy import PARTS, energy_parts, has_energy, total
from cimopt.schedule import STREAM_COLUMNS, Schedule
from cimopt.simulator.buffers import check_buffers
from cimopt.simulator.chip import check_input, check_jobs, check_mapping
from cimopt.simulator.copies import check_overlap
from cimopt.simulator.coverage import check_coverage
from cimopt.simulator.dependencies import check_dependencies
from cimopt.simulator.links import LinkTimes, check_links
from cimopt.simulator.measure import activity, measure, self_timed_run
from cimopt.simulator.noc import noc_traffic
from cimopt.simulator.plan import make_plan
from cimopt.simulator.result import KINDS, Report, SimResult, Violation
from cimopt.simulator.tier import check_residency, check_transfers
from cimopt.workload import Workload

__all__ = ["KINDS", "SimResult", "Violation", "simulate"]


def simulate(workload: Workload, schedule: Schedule, *, self_timed: bool = True, max_reports: int = 20) -> SimResult:
    """Check `schedule` against `workload` on its hardware and mapping, measure it, and run it self-timed.

    A schedule of another model (fingerprint or layer count) is an InputError; every other fault is a
    Violation in the result (at most `max_reports` reported per kind, all counted).
    """
    check_input(workload, schedule)
    s = schedule.with_jobs(**{c: np.asarray(getattr(schedule, c), dtype=np.int64) for c in STREAM_COLUMNS})
    hw = s.hardware
    rep = Report(max_reports)
    xb, homes, stores = check_mapping(workload, hw, s, rep)
    good = check_jobs(hw, workload, s, tuple(s.mapping.copies), rep)
    plan = make_plan(workload, s, homes, stores, good)
    check_coverage(plan, rep)
    check_overlap(plan, good, rep)
    links = check_links(plan, rep)
    req, ends, tiles = check_dependencies(plan, good, rep, links)
    tier = check_transfers(plan, rep)
    check_residency(plan, tier, rep)
    peak = check_buffers(plan, tier, rep)
    meas = measure(plan, xb, good)
    st_latency, st_start = self_timed_run(plan, req, links) if self_timed and not rep.counts["job"] else (None, None)
    traffic = noc_traffic(plan) if hw.link_bytes_per_cycle > 0 or hw.energy_noc_pj > 0 else None
    parts = (energy_parts(hw, activity(plan, xb, meas.latency, traffic or 0, tier)) if has_energy(hw)
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
        spill_bytes=tier.bytes_written + tier.bytes_read,
        spill_write_bytes=tier.bytes_written,
        spill_read_bytes=tier.bytes_read,
        **({} if links is None else link_measures(links, meas.latency)),
    )


def link_measures(links: LinkTimes, latency: int) -> dict:
    """The SimResult fields of link contention: per-link load, the busiest link's utilisation, the delay."""
    top = int(np.argmax(links.busy)) if len(links.busy) else 0
    peak = int(links.busy[top]) if len(links.busy) else 0
    return {"link_busy": links.busy, "link_bytes": links.nbytes,
            "link_peak_utilization": peak / latency if latency else 0.0,
            "busiest_link": links.mesh.name(top) if peak else "", "contention_delay_cycles": links.delay,
            "messages": links.messages}
