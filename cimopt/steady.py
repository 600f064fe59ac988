"""Steady state of a stream: a periodic (modulo) schedule, one period repeated at the initiation interval.

A periodic schedule repeats one inference's jobs every `interval` cycles: inference k runs set s at
`start[s] + k * interval` on the same copy, so N inferences cost what one does, for any N. The period is
CLSA-CIM's (docs/model.md, "Steady state"): its copies (set i on copy i mod D), each copy's sets in raster
order, each set as soon as its inputs are there (dependencies of its own inference, GPEU and NoC lags); a
copy serves the inferences one after another, so its sets of one inference must end within `interval` of its
first set's start (the wrap: `start(first) + interval >= end(last)`, inference k + 1's first set on it after
inference k's last).
- Interval: the busiest copy's work per inference (the sum of its sets' durations; with these copies and this
  order nothing repeats faster), and at least the stream's arrival interval.
- Starts: layers in graph order; in each, a copy's first set waits until `max over its sets i (ready_i + the
  work of sets i, i+1, .. on the copy) - interval`, so that its last set ends within the interval; then the
  copy runs its sets as early as their inputs allow (CLSA-CIM's chain). A copy's sets depend only on upstream
  layers, final when the copy is placed, and the only cycle is the copy's own wrap: one pass gives the
  earliest periodic schedule of this order.

Under link contention (`noc.contention`) the period also times its messages: after each layer, its jobs'
messages (in order of the jobs' ends) each take the earliest slot of their route free modulo the interval
(`ModuloCalendar`), so messages of different inferences never share a link; sets wait for the messages that
carry their inputs. The interval is then at least the busiest link's load per inference too.

The simulator is the judge, not this module: `check` expands the period into an ordinary stream of K
inferences and simulates it. K = max(2, ceil(L / interval)) periods, L the period's latency (its last end),
prove the schedule for every N:
- inference k's jobs lie in [k * interval, k * interval + L), and so do the buffer intervals of its pixels
  (held from their set's end to a reader's start); jobs of inferences k and k + d meet only if d * interval < L,
  so d <= K - 1, and every rule is invariant under a shift by whole periods (a copy conflict between
  inferences depends only on d; dependencies, coverage, NoC traffic and energy are per inference): the pairs
  (0, d) of the K-stream cover them all;
- the buffer occupancy at t sums the inferences k with k * interval <= t < k * interval + L; for t in
  [(K - 1) * interval, K * interval) that is all of k = 0 .. K - 1, so the K-stream's peak is the steady
  state's; a longer stream holds no more at any time, a shorter one a subset.
The period does not plan finite buffers: it is valid only if the simulator finds them within capacity.

Energy per inference in steady state: the dynamic parts of one inference plus static power over the interval
(`energy.steady_parts`): the tiles are powered all the time, and one inference finishes per interval.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

import numpy as np

from cimopt.arith import ceil_div
from cimopt.energy import has_energy, steady_fields, total
from cimopt.errors import InputError
from cimopt.list_scheduling import chain_starts, round_robin_copies, to_schedule
from cimopt.messages import link_loads, noc_transfers, round_robin_messages
from cimopt.problem import Problem
from cimopt.record import RunRecord, record_of
from cimopt.routing import Mesh
from cimopt.schedule import TRANSFER_COLUMNS, Schedule, Transfers
from cimopt.simulator import SimResult, simulate
from cimopt.stream import interval_bound, per_second, stream_schedule
from cimopt.timing import edge_lags
from cimopt.workload import Workload

NAME = "clsa"  # the period is CLSA-CIM's schedule, with the wrap


@dataclass(frozen=True, eq=False)
class Periodic:
    """One period (a single inference's jobs, times from its arrival) repeated every `interval` cycles; input k
    of the stream arrives at `k * arrival_interval` (at most the interval)."""

    period: Schedule
    interval: int
    arrival_interval: int = 0

    @property
    def latency(self) -> int:
        """Cycles from an inference's first possible start (its arrival) to its last end."""
        return self.period.makespan

    @property
    def periods(self) -> int:
        """Inferences whose stream proves the period for every N (module docstring)."""
        return max(2, ceil_div(self.latency, max(self.interval, 1)))

    def expand(self, n: int) -> Schedule:
        """The ordinary stream schedule of its first `n` inferences (inference-major jobs; the period's
        transfers, its NoC messages under contention, once per inference)."""
        shift = np.arange(n, dtype=np.int64)[:, None] * self.interval
        start = np.asarray(self.period.start, np.int64)[None, :] + shift
        end = np.asarray(self.period.end, np.int64)[None, :] + shift
        info = dict(self.period.info) | {"period_cycles": self.interval}
        out = stream_schedule(self.period, start, end, self.arrival_interval, info)
        t = self.period.transfers
        if not len(t):
            return out
        rep = {c: np.tile(np.asarray(getattr(t, c), np.int64), n) for c in TRANSFER_COLUMNS}
        k = np.repeat(np.arange(n, dtype=np.int64), len(t))
        rep |= {"inference": k, "start": rep["start"] + k * self.interval, "end": rep["end"] + k * self.interval}
        return replace(out, transfers=Transfers.of(**rep))


def copy_work(problem: Problem) -> int:
    """The busiest copy's work per inference: max over copies of the durations of the sets it runs."""
    sets, mapping = problem.sets, problem.mapping
    copy = round_robin_copies(sets, mapping)
    best = 0
    for li, d in enumerate(mapping.copies):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        if b > a:
            best = max(best, int(np.bincount(copy[a:b], weights=sets.duration[a:b], minlength=int(d)).max()))
    return best


class NoSlot(Exception):
    """A message finds no free slot on its links modulo the interval."""


class ModuloCalendar:
    """Busy intervals per directed link modulo the period (`messages.LinkCalendar`'s interface): a reservation
    [t, t + length) holds the link at t + k x period for every k, so messages of different inferences of a
    periodic schedule never meet on a link."""

    def __init__(self, period: int) -> None:
        self.p = period
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}

    def _clash(self, lk: int, r: int, length: int) -> int | None:
        """How far past r (in [0, p)) a reservation meeting [r, r + length) mod p ends; None if none does."""
        st, en = self.starts.get(lk), self.ends.get(lk)
        if not st:
            return None
        i = bisect_right(en, r)
        if i < len(st) and st[i] < min(r + length, self.p):
            return en[i] - r
        if r + length > self.p:  # the wrapped piece [0, r + length - p)
            i = bisect_right(en, 0)
            if i < len(st) and st[i] < r + length - self.p:
                return en[i] + self.p - r
        return None

    def earliest(self, links: list[int], t: int, length: int) -> int:
        """The least s >= t such that [s, s + length) is free modulo the period on every link of `links`;
        `NoSlot` when a whole period has no such s."""
        if length > self.p:
            raise NoSlot
        t0, moved = t, True
        while moved:
            moved = False
            for lk in links:
                step = self._clash(lk, t % self.p, length)
                if step is not None:
                    t, moved = t + step, True
                    if t - t0 >= self.p:
                        raise NoSlot
        return t

    def reserve(self, links: list[int], t: int, length: int) -> None:
        r = t % self.p
        pieces = [(r, min(r + length, self.p))] + ([(0, r + length - self.p)] if r + length > self.p else [])
        for lk in links:
            st = self.starts.setdefault(lk, [])
            en = self.ends.setdefault(lk, [])
            for a, b in pieces:
                i = bisect_left(st, a)
                st.insert(i, a)
                en.insert(i, b)


def least_interval(problem: Problem) -> int:
    """The least interval of a periodic schedule with CLSA-CIM's copies: the busiest copy's work per inference,
    the arrival interval, and under link contention the busiest link's load per inference."""
    least = max(copy_work(problem), problem.arrival_interval, 1)
    if problem.hardware.noc_contention:
        copy = round_robin_copies(problem.sets, problem.mapping)
        msg = round_robin_messages(problem.sets, problem.hardware, problem.mapping, copy)
        least = max(least, int(link_loads(Mesh.of(problem.hardware, problem.budget.tiles), msg).max(initial=0)))
    return least


def periodic_schedule(problem: Problem, interval: int | None = None) -> Periodic:
    """The earliest periodic CLSA-CIM schedule of `problem`'s stream (module docstring) at `interval` (default
    and at least: `least_interval`). Under link contention the period also times its messages, each on the
    earliest slot of its route modulo the interval; where the default interval leaves a message no slot, the
    interval grows by a sixteenth until every message has one."""
    if problem.mapping.storage is not None:
        raise InputError("the periodic schedule does not route copies buffered on lent storage tiles (the buffer "
                         "placement for finite tile buffers, which it does not plan either): give --buffer inf or "
                         "--placement sequential")
    least = least_interval(problem)
    ii = least if interval is None else int(interval)
    if ii < least:
        raise ValueError(f"interval {ii} is below the least periodic interval {least} of this problem")
    while True:
        try:
            return _period(problem, ii)
        except NoSlot:
            if interval is not None:
                raise ValueError(f"interval {ii}: a message finds no free slot on its links") from None
            ii += max(1, ii // 16)


def _period(problem: Problem, ii: int) -> Periodic:
    """One period at interval `ii`: layers in graph order, each copy's first set delayed for the wrap, then
    CLSA-CIM's chain; under contention each layer's messages reserved (by end, then job) modulo `ii`."""
    p, sets = problem, problem.sets
    copy = round_robin_copies(sets, p.mapping)
    contention = p.hardware.noc_contention
    lag = sets.lag if contention else edge_lags(sets, p.hardware, p.mapping, copy)
    msg = round_robin_messages(sets, p.hardware, p.mapping, copy) if contention else None
    if msg is not None and not len(msg):  # nothing crosses the NoC: nothing to time
        msg = None
    order = sets.dst_order
    dst_sorted = sets.dst[order]
    start = np.zeros(sets.num_sets, np.int64)
    end = np.zeros(sets.num_sets, np.int64)
    if msg is not None:
        cal = ModuloCalendar(ii)
        m_start, m_arrive = np.zeros(len(msg), np.int64), np.zeros(len(msg), np.int64)
        m_ptr = np.searchsorted(msg.job, np.arange(sets.num_sets + 1)).tolist()
        r_ptr, r_links, ser, flight = msg.ptr.tolist(), msg.links.tolist(), msg.ser.tolist(), msg.flight.tolist()
    for li, d in enumerate(p.mapping.copies):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        ready = sets.release[a:b].copy()
        e0, e1 = np.searchsorted(dst_sorted, [a, b])
        idx = order[e0:e1]
        if msg is None:
            need = end[sets.src[idx]] + lag[idx]
        else:  # the message carrying the input, or the producer itself on the same tile
            via = msg.of_edge[idx]
            need = np.where(via < 0, end[sets.src[idx]], m_arrive[np.maximum(via, 0)]) + lag[idx]
        np.maximum.at(ready, sets.dst[idx] - a, need)
        m = ceil_div(b - a, int(d))
        pad = m * int(d) - (b - a)
        r = np.concatenate([ready, np.zeros(pad, np.int64)]).reshape(m, int(d))
        dur = np.concatenate([sets.duration[a:b], np.zeros(pad, np.int64)]).reshape(m, int(d))
        rest = np.cumsum(dur[::-1], axis=0)[::-1]  # work of sets i, i+1, .. on each copy
        r[0] = np.maximum(r[0], (r + rest).max(axis=0) - ii)  # the wrap: the copy's last set ends by first + ii
        st = chain_starts(r, dur, np.zeros(int(d), np.int64)).ravel()[: b - a]
        start[a:b] = st
        end[a:b] = st + sets.duration[a:b]
        if msg is not None:
            for j in (a + np.argsort(end[a:b], kind="stable")).tolist():
                for k in range(m_ptr[j], m_ptr[j + 1]):
                    links = r_links[r_ptr[k]:r_ptr[k + 1]]
                    s0 = cal.earliest(links, int(end[j]), ser[k])
                    cal.reserve(links, s0, ser[k])
                    m_start[k], m_arrive[k] = s0, s0 + flight[k]
    one = to_schedule(p.workload, p.hardware, p.mapping, sets, copy, start, end, name=NAME, model=p.model,
                      info={"periodic": True})
    if msg is not None:
        one = replace(one, transfers=noc_transfers(sets, one, msg, m_start, m_arrive))
    return Periodic(one, ii, p.arrival_interval)


def check(workload: Workload, periodic: Periodic, n: int | None = None) -> tuple[Schedule, SimResult]:
    """The stream the simulator checks (its `periods` inferences, or `n` if fewer: a subset of them) and its
    verdict; valid means valid for every N (at least `n`)."""
    k = periodic.periods if n is None else min(n, periodic.periods)
    stream = periodic.expand(k)
    return stream, simulate(workload, stream, self_timed=False)


@dataclass(frozen=True, eq=False)
class PeriodicRun:
    """A periodic schedule for a stream of `inferences`, the stream the simulator checked, and its verdict."""

    periodic: Periodic
    checked: Schedule
    sim: SimResult
    inferences: int


def run_periodic(problem: Problem) -> PeriodicRun:
    """The periodic schedule of `problem`'s stream (`problem.inferences` inferences), checked on the simulator."""
    per = periodic_schedule(problem)
    checked, sim = check(problem.workload, per, problem.inferences)
    return PeriodicRun(per, checked, sim, problem.inferences)


def steady_of(problem: Problem) -> dict:
    """The record's steady-state fields of `problem`'s chip and copies, from its periodic schedule (checked)."""
    per = periodic_schedule(problem)
    checked, sim = check(problem.workload, per)
    return {"steady_interval_cycles": float(per.interval), "steady_latency_cycles": per.latency,
            "steady_periods": checked.inferences, "steady_valid": bool(sim.valid),
            "steady_peak_buffer_elements": max(sim.peak_buffer, default=0),
            **steady_fields(problem.hardware, dict(sim.energy), problem.budget.tiles, per.interval)}


def periodic_record(problem: Problem, run: PeriodicRun) -> RunRecord:
    """The run record of a periodic stream of `run.inferences` inferences: figures of the whole stream from the
    period (ends `L + k * interval`), checks and per-inference counts from the simulated periods; no
    layer-by-layer references (they would need the unrolled stream)."""
    per, sim, n = run.periodic, run.sim, run.inferences
    k = run.checked.inferences
    base = record_of(replace(problem, inferences=k), _Checked(run.checked, sim))
    hw, tiles = problem.hardware, problem.budget.tiles
    lat, ii, c = per.latency, per.interval, per.arrival_interval
    makespan = lat + (n - 1) * ii
    parts = dict(sim.energy)
    parts["static"] = hw.energy_static_pj * tiles * makespan / n  # the stream's: every tile for its makespan
    busy = sim.busy_crossbar_cycles / k * n
    pes_used = problem.mapping.pes_used
    return replace(
        base, inferences=n, arrival_interval=c, latency_cycles=makespan,
        utilization=busy / (problem.budget.pes * makespan) if makespan else 0.0,
        utilization_mapped=busy / (pes_used * makespan) if makespan and pes_used else 0.0,
        inference_latency_mean_cycles=lat + (n - 1) / 2 * (ii - c), inference_latency_max_cycles=lat + (n - 1) * (ii - c),
        interval_cycles=float(ii) if n > 1 else None,
        interval_bound_cycles=interval_bound(problem.workload, hw, problem.mapping),
        throughput_per_s=per_second(float(ii) if n > 1 else float(lat), hw),
        **({"energy_pj": total(parts), "edp": total(parts) * makespan, "energy": tuple(parts.items())}
           if has_energy(hw) else {}),  # no energy figures: the record's none stand
        noc_byte_hops=None if sim.noc_byte_hops is None else sim.noc_byte_hops // k * n,  # the same per inference
        self_timed_latency_cycles=None, periodic=True, steady_interval_cycles=float(ii),
        bottleneck_busy_fraction=max((max(b, default=0) for b in sim.copy_busy), default=0) / k / ii,  # per period
        steady_latency_cycles=lat, steady_periods=k, steady_valid=bool(sim.valid),
        steady_peak_buffer_elements=max(sim.peak_buffer, default=0),
        **steady_fields(hw, dict(sim.energy), tiles, ii),
    )


@dataclass(frozen=True)
class _Checked:
    """What `record_of` reads of a run: the checked stream schedule and its verdict."""

    schedule: Schedule
    sim: SimResult
    scheduler: str = NAME
    status: str = "HEURISTIC"
    solve: None = None
