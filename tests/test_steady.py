"""Steady state (issue 20): the periodic schedule, checked on the simulator over enough periods; it equals the
unrolled stream on small streams, a tampered period is rejected, and its record matches the stream expanded."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.capacity import with_buffer
from cimopt.cli import main
from cimopt.hardware import Hardware
from cimopt.record import record_of
from cimopt.simulator import simulate
from cimopt.steady import Periodic, check, copy_work, periodic_record, periodic_schedule, run_periodic
from cimopt.stream import stream_metrics
from tests.graphs import pointwise_chain, random_dags, residual_block, yolo_like

NOC = Hardware(pes_per_tile=2, noc_hop_cycles=1, bits=16, link_bytes_per_cycle=8, energy_mvm_pj=10.0,
               energy_buffer_pj=1.0, energy_noc_pj=2.0, energy_static_pj=0.5)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_dags(), st.integers(0, 2), st.integers(0, 8), st.sampled_from(["row", "pixel"]), st.integers(0, 3))
def test_periodic_equals_the_unrolled_stream(wl, hop, bandwidth, gran, extra):
    """On small streams the unrolled CLSA-CIM stream settles into the periodic schedule's interval (its last
    inferences end one interval apart), and the periodic schedule of the same copies is valid on the simulator,
    as checked and expanded to the whole stream. The unrolled stream runs ahead of the interval while the
    pipeline fills (ends 4, 4, 4, 6, then 8 apart on a resize net whose period spans 3 intervals), so it is
    given twice the period's span plus four inferences to settle."""
    hw = Hardware(pes_per_tile=2, noc_hop_cycles=hop, bits=16, link_bytes_per_cycle=bandwidth)
    p = api.prepare(wl, hw, sets=gran, dup="greedy", extra_pes=extra, inferences=6)
    per = periodic_schedule(p)
    assert per.interval == copy_work(p) and per.periods == max(2, -(-per.latency // per.interval))
    _, sim = check(p.workload, per)
    assert sim.valid, sim.violations[:3]
    p = api.with_stream(p, max(6, 2 * per.periods + 4))
    assert copy_work(p) == per.interval
    unrolled = api.run(p, "clsa")
    ends = stream_metrics(p.workload, unrolled.schedule).inference_end
    assert ends[-1] - ends[-2] == ends[-2] - ends[-3] == per.interval
    assert simulate(p.workload, per.expand(6)).valid
    # never slower per inference than one inference of CLSA-CIM allows, never faster than the interval bound
    assert per.latency >= api.run(api.with_stream(p, 1), "clsa").sim.latency
    assert per.interval >= stream_metrics(p.workload, unrolled.schedule).interval_bound_cycles


@pytest.mark.parametrize("wl", [pointwise_chain(3, 4), residual_block(), yolo_like()], ids=lambda w: w.name)
def test_small_streams_are_the_expanded_period(wl):
    """A chain of 1x1 convs and the small nets: the unrolled stream of 5 is the period expanded, job for job."""
    p = api.prepare(wl, NOC, sets="row", inferences=5)
    unrolled = api.run(p, "clsa").schedule
    expanded = periodic_schedule(p).expand(5)
    assert np.array_equal(unrolled.start, expanded.start) and np.array_equal(unrolled.copy, expanded.copy)


def test_record_matches_the_stream_expanded():
    """What the record says of N inferences (from one period) is what simulating all N says."""
    p = api.prepare(residual_block(), NOC, sets="row", dup="greedy", extra_pes=3, inferences=7)
    run = run_periodic(p)
    rec = periodic_record(p, run)
    full = simulate(p.workload, run.periodic.expand(7))
    direct = record_of(p, api.Run("clsa", run.periodic.expand(7), full))
    assert run.checked.inferences == run.periodic.periods < 7 and rec.valid and full.valid
    for f in ("latency_cycles", "inference_latency_mean_cycles", "inference_latency_max_cycles", "interval_cycles",
              "noc_byte_hops", "peak_buffer_elements"):
        assert getattr(rec, f) == getattr(direct, f), f
    for f in ("utilization", "utilization_mapped", "energy_pj", "steady_energy_pj"):
        assert getattr(rec, f) == pytest.approx(getattr(direct, f)), f
    assert dict(rec.energy) == pytest.approx(dict(direct.energy))
    # steady state: the static part over the interval, not the makespan share
    assert rec.steady_static_pj == 0.5 * p.budget.tiles * run.periodic.interval
    assert rec.steady_energy_pj < rec.energy_pj


def test_a_tampered_period_is_rejected():
    p = api.prepare(yolo_like(), NOC, sets="row", inferences=4)
    per = periodic_schedule(p)
    assert check(p.workload, per)[1].valid
    # a shorter interval: the busiest copy's next inference starts before this one's last set ends
    _, sim = check(p.workload, Periodic(per.period, per.interval - 1))
    assert not sim.valid and sim.violation_counts.get("copy-overlap")
    with pytest.raises(ValueError, match="below the least periodic interval"):
        periodic_schedule(p, per.interval - 1)
    # the busiest copy's last set moved later by one cycle: its inference no longer fits the interval
    sets = p.sets
    busiest = max(range(len(sets.layers)), key=lambda li: int(sets.duration[sets.offset[li]:sets.offset[li + 1]].sum()))
    j = int(sets.offset[busiest + 1]) - 1
    start, end = per.period.start.copy(), per.period.end.copy()
    start[j] += 1
    end[j] += 1
    late = Periodic(per.period.with_jobs(start=start, end=end), per.interval)
    _, sim = check(p.workload, late)
    assert not sim.valid and sim.violation_counts.get("copy-overlap")
    # the last layer's first set at cycle 0, before its inputs exist: a dependency violation
    start, end = per.period.start.copy(), per.period.end.copy()
    j = int(sets.offset[-2])
    end[j] -= start[j]
    start[j] = 0
    _, sim = check(p.workload, Periodic(per.period.with_jobs(start=start, end=end), per.interval))
    assert not sim.valid and sim.violation_counts.get("dependency")


def test_enough_periods_prove_any_stream():
    """The checked periods give the peak buffer of every longer stream: at that capacity a stream of
    `periods + 3` inferences is valid, one element less and it is not."""
    p = api.prepare(residual_block(), NOC, sets="row", dup="greedy", extra_pes=3, inferences=2)
    per = periodic_schedule(p)
    k = per.periods
    _, sim = check(p.workload, per)
    peak = max(sim.peak_buffer)
    n = k + 3
    fits = with_buffer(p, peak).hardware
    long = per.expand(n)
    assert simulate(p.workload, replace(long, hardware=fits)).valid
    tight = simulate(p.workload, replace(long, hardware=replace(fits, buffer_elements=peak - 1)))
    assert not tight.valid and tight.violation_counts.get("buffer")
    assert max(simulate(p.workload, long).peak_buffer) == peak


def test_arrivals_slower_than_the_work_set_the_interval():
    p = api.prepare(pointwise_chain(2, 4), NOC, sets="row", inferences=3, arrival_interval=100)
    per = periodic_schedule(p)
    assert per.interval == 100 and check(p.workload, per)[1].valid
    rec = periodic_record(p, run_periodic(p))
    assert rec.inference_latency_max_cycles == per.latency and rec.interval_cycles == 100.0


def test_schedule_periodic_cli(tmp_path, capsys):
    args = ["schedule", "mini-cnn", "--sets", "row", "--inferences", "1000", "--periodic"]
    assert main(args + ["--out", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "periodic: one period every" in out and "1000 inferences" in out and "valid         yes" in out
    assert main(["simulate", str(tmp_path / "p.json")]) == 0  # the checked periods, an ordinary stream
    capsys.readouterr()
    assert main(args + ["--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["periodic"] and rec["inferences"] == 1000 and rec["steady_valid"]
    assert rec["latency_cycles"] == rec["steady_latency_cycles"] + 999 * rec["interval_cycles"]
    assert main(["schedule", "mini-cnn", "--periodic", "--scheduler", "lbl"]) == 2
    assert "--periodic repeats CLSA-CIM's schedule (clsa), not --scheduler lbl" in capsys.readouterr().err


def test_stream_records_report_steady_energy(capsys):
    assert main(["schedule", "resnet18", "--hw", "isaac-like", "--sets", "row", "--dup", "greedy", "--extra-pes",
                 "64", "--inferences", "64", "--periodic", "--buffer", "inf"]) == 0
    out = capsys.readouterr().out
    assert "steady state" in out and "static power over the 501,760-cycle interval" in out


def test_modulo_calendar_by_hand():
    from cimopt.steady import ModuloCalendar, NoSlot

    cal = ModuloCalendar(10)
    cal.reserve([7], 8, 4)  # holds [8, 10) and [0, 2) of every period
    assert cal.earliest([7], 0, 3) == 2 and cal.earliest([7], 25, 3) == 25 and cal.earliest([7], 17, 3) == 22
    assert cal.earliest([5], 8, 3) == 8  # another link is free
    cal.reserve([7], 2, 6)  # the link is now full but for nothing: [2, 8) taken too
    with pytest.raises(NoSlot):
        cal.earliest([7], 0, 1)
    with pytest.raises(NoSlot):
        ModuloCalendar(4).earliest([1], 0, 5)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_dags(), st.integers(1, 8), st.sampled_from(["row", "pixel"]), st.integers(0, 3))
def test_periodic_under_link_contention(wl, bandwidth, gran, extra):
    """With shared links the period also times its messages modulo the interval: valid on the simulator as
    checked and expanded, never faster than the busiest copy or link allows."""
    from cimopt.hardware import with_contention
    from cimopt.steady import least_interval

    hw = with_contention(Hardware(pes_per_tile=1, noc_hop_cycles=1, bits=16, link_bytes_per_cycle=bandwidth), True)
    p = api.prepare(wl, hw, sets=gran, dup="greedy", extra_pes=extra, inferences=5)
    per = periodic_schedule(p)
    assert per.interval >= least_interval(p) >= copy_work(p)
    _, sim = check(p.workload, per)
    assert sim.valid, sim.violations[:3]
    assert simulate(p.workload, per.expand(5)).valid
    assert len(per.expand(3).transfers) == 3 * len(per.period.transfers)
