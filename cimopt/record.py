"""One run, as every output reports it: `schedule --json`, `compare --json`, sweep rows and reproduce tables
are all made from a `RunRecord`, so a key has one name everywhere.

A record is built from a problem and a run (`record_of`); the figures that need other runs (layer-by-layer
references for the speedups, the best lower bound for the gap) are filled in by `with_references`. Gaps are
computed in `cimopt.metrics` only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING

from cimopt.mapping import min_pes
from cimopt.metrics import bottleneck, gap_to_bound, speedup
from cimopt.stream import stream_metrics

if TYPE_CHECKING:
    from cimopt.hardware import Hardware
    from cimopt.simulator import SimResult


@dataclass(frozen=True)
class RunRecord:
    """One scheduler run on one problem, checked by the simulator.

    `bound_cycles` is the best lower bound known for the problem (the exact scheduler's proven bound, or
    the combinatorial bounds); `gap` is `latency / bound - 1` for every scheduler: the proven distance from
    the optimum at most (exactly the distance when the optimum is proven, `bound == optimum`).
    `optimality_gap` is the exact solver's own `(best - bound) / best`.
    """

    model: str
    hardware: str
    pes: int
    tiles: int
    scheduler: str
    duplication: str
    granularity: str
    latency_cycles: int | None
    utilization: float | None
    utilization_mapped: float | None
    speedup_vs_lbl: float | None = None
    speedup_vs_lbl_same_dup: float | None = None
    gap: float | None = None
    status: str = "HEURISTIC"
    solve_seconds: float | None = None
    valid: bool | None = None
    extra_pes: int = 0
    min_pes: int = 0
    pes_used: int = 0
    sets: int = 0
    lbl_latency_cycles: int | None = None
    lbl_same_dup_latency_cycles: int | None = None
    bound_cycles: int | None = None
    self_timed_latency_cycles: int | None = None
    optimality_gap: float | None = None
    bound_rule: str = ""
    violations: int = 0  # how many rule breaches the simulator found
    bottleneck_layer: str = ""
    bottleneck_busy_fraction: float | None = None
    error: str = ""
    buffer_elements: int | None = None  # the tile buffer capacity the run had (None: unlimited)
    peak_buffer_elements: int = 0  # the largest per-tile peak the simulator measured
    # a stream of inferences (cimopt.stream): latency_cycles is then the makespan of all of them
    inferences: int = 1
    arrival_interval: int = 0
    inference_latency_mean_cycles: float | None = None
    inference_latency_max_cycles: int | None = None
    interval_cycles: float | None = None  # (end of the last - end of the first) / (N - 1)
    interval_bound_cycles: int | None = None  # max over layers of ceil(N_l / D_l) * mvm_cycles
    interval_gap: float | None = None  # interval / bound - 1
    throughput_per_s: float | None = None  # with crossbar.mvm_ns: 1 / interval (one inference: 1 / latency)
    placement: str = "sequential"  # copies on tiles: sequential | optimized
    energy_pj: float | None = None  # per inference, the sum of `energy` (None when the hardware gives no figures)
    edp: float | None = None  # energy-delay product: energy_pj x latency_cycles (pJ x cycles)
    noc_energy_pj: float | None = None  # the `noc` part of `energy`
    noc_byte_hops: int | None = None  # NoC traffic, bytes x hops (None: the chip models no data volume)
    spill_bytes: int = 0  # bytes moved through the memory tier (spills + fills)
    spill_write_bytes: int = 0  # of which spilled (tile -> tier)
    spill_read_bytes: int = 0  # of which filled back
    contention: bool = False  # NoC links as shared resources (`noc.contention`)
    link_peak_utilization: float | None = None  # under contention: the busiest link's busy cycles / latency
    busiest_link: str = ""  # under contention, e.g. "tile 2 -> tile 3 (east)"
    contention_delay_cycles: int | None = None  # under contention: sum over messages of (start - its job's end)
    solver_note: str = ""  # why the solver did not search, or what stopped it early
    interrupted: bool = False  # stopped by Ctrl-C: the best schedule so far
    # steady state of a stream (cimopt.steady): energy per inference with static power over the interval
    steady_energy_pj: float | None = None  # dynamic parts of one inference + static power x the interval
    steady_static_pj: float | None = None  # its static part
    steady_interval_cycles: float | None = None  # the interval it uses (a periodic schedule's, or the stream's)
    steady_latency_cycles: int | None = None  # one inference's latency in the periodic schedule
    steady_periods: int | None = None  # inferences of the periodic schedule the simulator checked
    steady_valid: bool | None = None  # the periodic schedule's verdict (a stream's own: `valid`)
    steady_peak_buffer_elements: int | None = None  # the periodic schedule's peak tile buffer (its steady state)
    periodic: bool = False  # the run is a periodic schedule (latency: its N-stream's makespan)
    area_mm2: float | None = None  # the chip's area (cimopt.chip), None when the hardware gives no area figures
    crossbar: str = ""  # rows x cols
    link_bytes_per_cycle: int | None = None  # the NoC link bandwidth the run had (None: links not modelled)
    # not in the CSV (not scalars): JSON objects/lists
    copies: tuple[tuple[str, int], ...] = ()  # layer name -> copies
    violation_counts: tuple[tuple[str, int], ...] = ()  # kind -> count
    violation_messages: tuple[str, ...] = ()  # the first few, as the simulator words them
    peak_buffer_per_tile: tuple[int, ...] = ()  # elements, tile by tile
    energy: tuple[tuple[str, float], ...] = ()  # part -> pJ per inference (mvm, buffer, noc, gpeu, static, memory)

    def to_json(self) -> dict:
        d = asdict(self)
        for k in _PAIRS:
            d[k] = dict(getattr(self, k))
        d["violation_messages"] = list(self.violation_messages)
        d["peak_buffer_per_tile"] = list(self.peak_buffer_per_tile)
        d["energy"] = dict(self.energy) if self.energy else None  # None: the hardware gives no energy figure
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}

    @staticmethod
    def from_json(d: dict) -> RunRecord:
        names = {f.name for f in fields(RunRecord)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in _PAIRS:
            kw[k] = tuple((str(a), int(b)) for a, b in (kw.get(k) or {}).items())
        kw["violation_messages"] = tuple(kw.get("violation_messages") or ())
        kw["peak_buffer_per_tile"] = tuple(int(x) for x in kw.get("peak_buffer_per_tile") or ())
        kw["energy"] = tuple((str(a), float(b)) for a, b in (kw.get("energy") or {}).items())
        return RunRecord(**kw)


_PAIRS = ("copies", "violation_counts")
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RunRecord)
                                 if f.name not in _PAIRS + ("violation_messages", "peak_buffer_per_tile", "energy"))
"""The scalar fields, in order: the columns of `sweep.csv`."""
MAX_MESSAGES = 5


def record_of(problem, run) -> RunRecord:
    """The record of `run` (an `api.Run`) on `problem` (an `api.Problem`), without references."""
    sim, m = run.sim, run.schedule.mapping
    need = min_pes(problem.workload, problem.hardware)
    bn = bottleneck(problem.workload, run.schedule, sim)
    s = run.solve
    st = stream_metrics(problem.workload, run.schedule)
    return RunRecord(
        **st.to_json(),
        model=problem.model, hardware=problem.hardware.name, pes=m.budget.pes, tiles=m.budget.tiles,
        scheduler=run.scheduler, duplication=m.strategy, granularity=problem.sets.granularity.spec,
        latency_cycles=int(sim.latency), utilization=float(sim.utilization),
        utilization_mapped=float(sim.utilization_mapped), status=run.status,
        solve_seconds=None if s is None else float(s.solve_seconds), valid=bool(sim.valid),
        extra_pes=m.budget.pes - need, min_pes=need, pes_used=m.pes_used, sets=problem.sets.num_sets,
        bound_cycles=None if s is None else int(s.bound),
        self_timed_latency_cycles=None if sim.self_timed_latency is None else int(sim.self_timed_latency),
        optimality_gap=None if s is None or s.gap is None else float(s.gap),
        bound_rule="" if s is None else s.bound_rule,
        solver_note="" if s is None else s.note, interrupted=False if s is None else s.interrupted,
        violations=int(sum(sim.violation_counts.values())), bottleneck_layer=bn.layer,
        bottleneck_busy_fraction=float(bn.busy_fraction),
        copies=tuple((lay.name, int(c)) for lay, c in zip(problem.workload.layers, m.copies, strict=True)),
        violation_counts=tuple(sorted((k, int(n)) for k, n in sim.violation_counts.items())),
        violation_messages=tuple(v.message for v in sim.violations[:MAX_MESSAGES]),
        buffer_elements=run.schedule.hardware.buffer_elements,
        peak_buffer_elements=max((int(x) for x in sim.peak_buffer), default=0),
        peak_buffer_per_tile=tuple(int(x) for x in sim.peak_buffer),
        placement=getattr(problem, "placement", "sequential"),
        noc_byte_hops=sim.noc_byte_hops, spill_bytes=int(sim.spill_bytes),
        spill_write_bytes=int(sim.spill_write_bytes), spill_read_bytes=int(sim.spill_read_bytes),
        contention=bool(run.schedule.hardware.noc_contention), link_peak_utilization=sim.link_peak_utilization,
        busiest_link=sim.busiest_link or "", contention_delay_cycles=sim.contention_delay_cycles,
        **energy_fields(run.schedule.hardware, sim), **_steady_of_stream(run, st.interval_cycles),
        area_mm2=_area(run.schedule.hardware, m.budget.tiles),
        crossbar=f"{run.schedule.hardware.xbar_rows}x{run.schedule.hardware.xbar_cols}",
        link_bytes_per_cycle=run.schedule.hardware.link_bytes_per_cycle or None,
    )


def _steady_of_stream(run, interval: float | None) -> dict:
    """A stream's steady-state energy (static power over its measured interval); nothing for one inference."""
    from cimopt.energy import has_energy, steady_fields

    if interval is None:
        return {}
    hw = run.schedule.hardware
    steady = steady_fields(hw, dict(run.sim.energy), run.schedule.mapping.budget.tiles, interval) \
        if has_energy(hw) else steady_fields(hw, {}, 0, None)  # no energy figures: no steady energy either
    return steady | {"steady_interval_cycles": interval}


def _area(hw, tiles: int) -> float | None:
    from cimopt.chip import chip_area_mm2

    area = chip_area_mm2(hw, tiles)
    return area if area > 0 else None


def energy_fields(hw: Hardware, sim: SimResult) -> dict:
    """`energy_pj`, `edp`, `noc_energy_pj` and `energy` of a run; absent (None, no parts) when the hardware gives
    no energy figure, so that a chip without `[energy]` never reports an energy of 0."""
    from cimopt.energy import has_energy

    if not has_energy(hw):
        return {"energy_pj": None, "edp": None, "noc_energy_pj": None, "energy": ()}
    return {"energy_pj": float(sim.energy_pj), "edp": float(sim.energy_pj) * int(sim.latency),
            "noc_energy_pj": float(sim.energy["noc"]), "energy": tuple((k, float(v)) for k, v in sim.energy.items())}


def with_references(rec: RunRecord, *, lbl: int | None, lbl_same: int | None, bound: int | None) -> RunRecord:
    """Fill in the speedups over layer-by-layer (without and with the same duplication) and the gap to the
    best lower bound known for the problem (`bound`; the record's own bound if it is larger)."""
    lat = rec.latency_cycles
    best = max((b for b in (bound, rec.bound_cycles) if b is not None), default=None)
    return replace(rec, lbl_latency_cycles=lbl, lbl_same_dup_latency_cycles=lbl_same,
                   speedup_vs_lbl=speedup(lbl, lat) if lbl and lat else None,
                   speedup_vs_lbl_same_dup=speedup(lbl_same, lat) if lbl_same and lat else None,
                   bound_cycles=best, gap=gap_to_bound(lat, best) if lat is not None and best else None)
