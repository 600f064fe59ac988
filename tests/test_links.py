"""NoC links as shared resources (issue 19): XY routes, messages as timed transfers, the simulator's link
rules, the schedulers under contention, the link bound, contention-aware placement, and contention off =
today's results byte for byte."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.analysis.bounds import _preemptive_one_machine, link_bound, lower_bounds
from cimopt.builder import WorkloadBuilder
from cimopt.errors import InputError
from cimopt.hardware import Hardware, load_hardware, parse_hardware, resolve_hardware_path
from cimopt.messages import LinkCalendar, retime
from cimopt.placement import objective
from cimopt.routing import Mesh, route, routes
from cimopt.schedule import Schedule, Transfers
from cimopt.simulator import simulate
from tests.graphs import random_dags, residual_block, yolo_like

# Two 1x1 convs a, b (4 -> 4 channels) on a 2 x 2 input feed c through a concat; one crossbar each, one PE per
# tile, a 1 x 3 mesh: a on tile 0, b on tile 1, c on tile 2. Layer sets: a and b run [0, 4). Each sends
# 4 pixels x 4 channels x 16 bits = 32 bytes, 4 cycles on a link of 8 B/cycle; 3 cycles per hop. a's message
# crosses 0 -> 1 -> 2 (2 hops: arrives 4 + 6 + 4 = 14), b's crosses 1 -> 2 (1 hop: 4 + 3 + 4 = 11 without
# contention). Both need link 1 -> 2: b's message waits until a's leaves it at 8, so it arrives at 15, and c
# starts at 15 (14 without contention).
FAN_IN_HW = Hardware(pes_per_tile=1, noc_hop_cycles=3, bits=16, link_bytes_per_cycle=8, mesh=(1, 3),
                     noc_contention=True)


def fan_in():
    b = WorkloadBuilder("fan-in")
    x = b.input(4, 2, 2)
    a = b.conv(x, 4, k=1, name="a")
    bb = b.conv(x, 4, k=1, name="b")
    b.conv(b.concat([a, bb]), 4, k=1, name="c")
    return b.build()


def _fan_in_run(scheduler: str = "clsa", hw: Hardware = FAN_IN_HW):
    p = api.prepare(fan_in(), hw, sets="layer")
    return p, api.run(p, scheduler, time_limit=2)


def test_xy_routes_and_link_names():
    mesh = Mesh(3, 4, 12)  # tiles row-major: tile 6 at (1, 2)
    # 1 -> 11: east along row 0 to column 3, then south to row 2
    assert route(mesh, 1, 11) == (4 * 1 + 0, 4 * 2 + 0, 4 * 3 + 2, 4 * 7 + 2)
    assert route(mesh, 11, 1) == (4 * 11 + 1, 4 * 10 + 1, 4 * 9 + 3, 4 * 5 + 3)  # west, then north
    assert route(mesh, 5, 5) == ()
    ptr, links = routes(mesh, np.array([0, 3, 7]), np.array([11, 0, 7]))
    assert np.diff(ptr).tolist() == [5, 3, 0]
    assert mesh.name(4 * 2 + 2) == "tile 2 -> tile 6 (south)"
    assert Mesh(2, 2, 3).name(4 * 1 + 2) == "tile 1 -> router (1, 1) (south)"
    assert len(mesh.links()) == 2 * (3 * 3 + 2 * 4)


def test_two_messages_share_a_link_by_hand():
    p, r = _fan_in_run()
    assert p.mapping.placement == (((0,),), ((1,),), ((2,),))
    t = r.schedule.transfers
    assert t.src.tolist() == [0, 1] and t.dst.tolist() == [2, 2] and t.layer.tolist() == [0, 1]
    assert t.start.tolist() == [4, 8] and t.end.tolist() == [14, 15]  # b's message waits 4 cycles for link 1 -> 2
    assert r.schedule.start.tolist() == [0, 0, 15] and r.sim.latency == 19
    assert r.sim.valid and r.sim.contention_delay_cycles == 4 and r.sim.messages == 2
    shared = route(Mesh(1, 3, 3), 1, 2)[0]
    assert r.sim.link_busy[shared] == 8 and r.sim.link_busy[route(Mesh(1, 3, 3), 0, 1)[0]] == 4
    assert r.sim.busiest_link == "tile 1 -> tile 2 (east)" and r.sim.link_peak_utilization == 8 / 19
    off = api.run(api.prepare(fan_in(), replace(FAN_IN_HW, noc_contention=False), sets="layer"), "clsa")
    assert off.sim.latency == 18 and len(off.schedule.transfers) == 0 and off.sim.link_busy is None
    # every scheduler finds the same: the link is the bottleneck, and the bound proves it (4 + 8 + 3 + 4 = 19)
    for s in ("lbl", "layer-pipeline", "cpsat", "lns"):
        assert _fan_in_run(s)[1].sim.latency == 19, s
    assert link_bound(p.sets, FAN_IN_HW, p.mapping).value == 19
    assert _fan_in_run("cpsat")[1].status == "OPTIMAL"


def test_simulator_rejects_a_schedule_that_ignores_a_shared_link():
    _, r = _fan_in_run()
    s = r.schedule
    t = s.transfers
    # b's message sent at 4 (arrives 11) while a's holds link 1 -> 2 over [4, 8); c at 14 is then in time
    both = replace(s, transfers=replace(t, start=np.array([4, 4]), end=np.array([14, 11])))
    sim = simulate(fan_in(), both.with_jobs(start=np.array([0, 0, 14]), end=np.array([4, 4, 18])))
    assert not sim.valid and sim.violation_counts == {"link": 1}
    assert "link tile 1 -> tile 2 (east) carries the message of b set 0" in sim.violations[0].message
    # c before b's message arrives
    early = simulate(fan_in(), s.with_jobs(start=np.array([0, 0, 14]), end=np.array([4, 4, 18])))
    assert early.violation_counts == {"dependency": 1}
    assert "+ 11 NoC from tile 1 to tile 2" in early.violations[0].message


@pytest.mark.parametrize("change, kind, text", [
    (lambda t: t.select(np.array([True, False])), "message", "no noc transfer carries them"),
    (lambda t: Transfers.of(**{c: np.r_[getattr(t, c), getattr(t, c)[:1]] for c in t.to_json()}), "message",
     "is sent twice"),
    (lambda t: replace(t, start=np.array([3, 8]), end=np.array([13, 15])), "message", "before the job ends"),
    (lambda t: replace(t, end=np.array([15, 15])), "message", "take 10"),
    (lambda t: replace(t, dst=np.array([1, 2])), "message", "is not needed"),
    (lambda t: replace(t, src=np.array([1, 1])), "message", "leaves from tile 1"),
])
def test_simulator_derives_the_messages_on_its_own(change, kind, text):
    _, r = _fan_in_run()
    sim = simulate(fan_in(), replace(r.schedule, transfers=change(r.schedule.transfers)))
    assert not sim.valid and kind in sim.violation_counts
    assert any(text in v.message for v in sim.violations), [v.message for v in sim.violations]


def test_no_messages_without_contention():
    _, r = _fan_in_run()
    off = replace(r.schedule, hardware=replace(FAN_IN_HW, noc_contention=False))
    sim = simulate(fan_in(), off)
    assert sim.violation_counts == {"message": 1} and "models no link contention" in sim.violations[0].message


def test_schedule_file_round_trip_keeps_messages(tmp_path):
    _, r = _fan_in_run()
    r.schedule.save(tmp_path / "s.json")
    back = Schedule.load(tmp_path / "s.json")
    assert back.hardware.noc_contention and back.transfers.start.tolist() == [4, 8]
    assert simulate(fan_in(), back).valid
    d = json.loads((tmp_path / "s.json").read_text())
    assert d["hardware"]["noc_contention"] is True


def test_contention_field_parses_and_checks():
    base = {"crossbar": {"rows": 128, "cols": 128, "mvm_cycles": 1}, "chip": {"pes_per_tile": 8}}
    hw = parse_hardware(base | {"noc": {"link_bytes_per_cycle": 8, "contention": True}})
    assert hw.noc_contention and not parse_hardware(base).noc_contention
    with pytest.raises(InputError, match="noc.contention: expected true or false"):
        parse_hardware(base | {"noc": {"link_bytes_per_cycle": 8, "contention": 1}})
    with pytest.raises(InputError, match="noc.contention: link contention needs a link bandwidth"):
        parse_hardware(base | {"noc": {"contention": True}})
    with pytest.raises(InputError, match="--contention: link contention needs a link bandwidth"):
        api.prepare(fan_in(), Hardware(), contention=True)
    assert load_hardware("isaac-like").noc_contention
    assert not api.prepare(fan_in(), FAN_IN_HW, contention=False).hardware.noc_contention


def test_schedulers_that_do_not_plan_contention_refuse_it():
    p = api.prepare(fan_in(), FAN_IN_HW, sets="layer")
    with pytest.raises(InputError, match="scheduler clsa-bp does not plan link contention"):
        api.run(p, "clsa-bp")
    assert "clsa-bp" not in api.compare(p, time_limit=1).to_json()["results"][0]["scheduler"]


def test_calendar_finds_the_earliest_common_gap():
    cal = LinkCalendar()
    cal.reserve([1], 10, 5)  # link 1 busy [10, 15)
    cal.reserve([2], 16, 4)  # link 2 busy [16, 20)
    assert cal.earliest([1], 0, 10) == 0 and cal.earliest([1], 0, 11) == 15
    assert cal.earliest([1, 2], 12, 3) == 20  # 15..18 collides on link 2
    assert cal.earliest([1, 2], 0, 10) == 0


def test_preemptive_one_machine_by_hand():
    # job 0: r 0, p 4, q 10; job 1: r 1, p 2, q 20 preempts it: 1 + 2 + 20 = 23; job 0 ends 6 + 10 = 16
    assert _preemptive_one_machine([0, 1], [4, 2], [10, 20]) == 23
    assert _preemptive_one_machine([5], [3], [1]) == 9


# sha256 of lbl and CLSA schedules (saved JSON), their simulation and the lower bounds, as tests/test_chip.py,
# on chips with a link bandwidth and contention off: computed by the code before issue 19 (with issue 20's
# isaac-like figures: energies split into leakage and events, area and power tables)
OLD_DIGEST = "62960f1875d844dc502ceffbfda7fee5d9590d6f6873726e44e654177d891bbd"


def _digest(explicit: bool = True) -> str:
    """`explicit`: the hardware says `contention = false` (as code before issue 19 could not parse)."""
    h = hashlib.sha256()
    for wl in (yolo_like(16), residual_block(6)):
        for hwname, link in (("noc-mesh", 4), ("isaac-like", 48)):
            data = tomllib.loads(resolve_hardware_path(hwname).read_text())
            if hwname == "isaac-like":  # the preset as it was then: 168 tiles, unlimited buffers, no memory tier
                data["chip"]["tiles"], data["buffer"] = 168, {"elements_per_tile": 0}
                data["chip"].pop("tiles_per_chip", None)
                data.pop("memory", None)
            noc = {k: v for k, v in data.get("noc", {}).items() if k != "contention"} | {"link_bytes_per_cycle": link}
            data["noc"] = noc | ({"contention": False} if explicit else {})
            hw = parse_hardware(data, hwname)
            for sets in ("pixel", "row"):
                for dup, extra, placement in (("none", 0, "sequential"), ("greedy", 6, "optimized")):
                    p = api.prepare(wl, hw, dup=dup, extra_pes=extra, sets=sets, placement=placement)
                    h.update(repr(lower_bounds(p.workload, p.hardware, p.mapping, p.sets)).encode())
                    for sch in ("lbl", "clsa", "layer-pipeline"):
                        r = api.run(p, sch, time_limit=2)
                        h.update(json.dumps(r.schedule.to_json(), separators=(",", ":")).encode())
                        sim = r.sim
                        h.update(repr((sim.valid, sim.latency, sim.self_timed_latency, sim.peak_buffer, sim.copy_busy,
                                       sim.utilization, sim.layer_start, sim.layer_end, sim.noc_byte_hops,
                                       sim.energy_pj)).encode())
    return h.hexdigest()


def test_contention_off_gives_todays_results_byte_for_byte():
    assert _digest() == OLD_DIGEST


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_dags(), st.integers(1, 2), st.integers(0, 2), st.integers(1, 8), st.sampled_from(["row", "pixel"]))
def test_every_scheduler_valid_and_the_bounds_below_under_contention(wl, ppt, hop, bandwidth, sets):
    hw = Hardware(pes_per_tile=ppt, noc_hop_cycles=hop, bits=16, link_bytes_per_cycle=bandwidth, noc_contention=True)
    p = api.prepare(wl, hw, dup="greedy", extra_pes=3, sets=sets)
    link = link_bound(p.sets, hw, p.mapping)
    lb = lower_bounds(p.workload, p.hardware, p.mapping, p.sets).best
    runs = {s: api.run(p, s, time_limit=1) for s in ("lbl", "clsa", "layer-pipeline", "cpsat", "lns")}
    for s, r in runs.items():
        assert r.sim.valid, (s, r.sim.violations[:2])
        assert max(link.value, lb) <= r.sim.latency, s
        # the bound with the schedule's own copies holds for it too
        g = p.sets.offset[r.schedule.layer] + r.schedule.set
        copy = np.zeros(p.sets.num_sets, np.int64)
        copy[g] = r.schedule.copy
        assert link_bound(p.sets, hw, p.mapping, copy).value <= r.sim.latency
    assert runs["cpsat"].sim.latency <= runs["clsa"].sim.latency
    # the contention-free model is never slower
    free = api.run(api.prepare(wl, replace(hw, noc_contention=False), dup="greedy", extra_pes=3, sets=sets), "clsa")
    assert free.sim.latency <= runs["clsa"].sim.latency


# contention on, unlimited buffers; several tiles for yolo_like
SMALL_TILES = replace(load_hardware("isaac-like"), pes_per_tile=4, buffer_elements=None)


def test_retime_keeps_every_copys_order_and_a_valid_contention_free_schedule():
    hw = SMALL_TILES
    p = api.prepare(yolo_like(16), hw, dup="greedy", extra_pes=40, sets="row")
    free = api.run(api.prepare(yolo_like(16), hw, dup="greedy", extra_pes=40, sets="row", contention=False), "clsa")
    timed = retime(p.sets, replace(free.schedule, hardware=hw))
    assert simulate(p.workload, timed).valid
    for sch in (free.schedule, timed):
        key = sch.layer * 1000 + sch.copy
        order = np.lexsort((sch.start, key))
        if sch is free.schedule:
            before = order
    assert np.array_equal(before, order)
    assert (timed.start >= free.schedule.start).all() and len(timed.transfers) > 0
    with pytest.raises(InputError, match="start order respects its dependencies"):
        retime(p.sets, free.schedule.with_jobs(start=free.schedule.start[::-1].copy()))


def test_streams_under_contention():
    p = api.prepare(yolo_like(16), SMALL_TILES, dup="greedy", extra_pes=40, sets="row", inferences=3)
    for s in ("lbl", "clsa", "layer-pipeline", "cpsat"):
        r = api.run(p, s, time_limit=2)
        assert r.sim.valid and r.schedule.inferences == 3, (s, r.sim.violations[:2])
        assert set(r.schedule.transfers.inference.tolist()) == {0, 1, 2}
    with pytest.raises(InputError, match="lns scheduler schedules one inference"):
        api.run(p, "lns")


def test_contention_aware_placement_never_worse_on_its_objective_nor_slower():
    hw = SMALL_TILES
    for extra in (40, 200):
        seq = api.prepare(yolo_like(16), hw, dup="greedy", extra_pes=extra, sets="row")
        opt = api.prepare(yolo_like(16), hw, dup="greedy", extra_pes=extra, sets="row", placement="optimized")
        assert objective(opt.sets, hw, opt.mapping) <= objective(seq.sets, hw, seq.mapping)
        assert api.run(opt, "clsa").sim.latency <= api.run(seq, "clsa").sim.latency
