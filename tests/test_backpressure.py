"""The buffer-aware list scheduler (clsa-bp): hand-checked back-pressure, CLSA equality, random DAGs."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt.analysis.buffers import footprint, schedule_peaks
from cimopt.duplication import duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_scheduling import round_robin_copies
from cimopt.mapping import Budget, make_mapping, resolve_budget
from cimopt.schedulers.backpressure import backpressure_pass, schedule_backpressure
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.sets import build_sets
from cimopt.simulator import simulate
from tests.graphs import pointwise_chain, random_dags, residual_block, yolo_like


def three_pointwise(cap: int | None):
    """1x1 convs A -> B -> C (4 channels, 4 x 4), A on 2 copies, one crossbar per tile: A runs ahead of B."""
    w = pointwise_chain(3, 4)
    hw = Hardware(pes_per_tile=1, buffer_elements=cap)
    m = make_mapping(w, hw, Budget(4, 4), (2, 1, 1))
    return w, hw, m, build_sets(w, hw, "pixel")


def test_backpressure_delays_the_fast_producer_by_known_cycles():
    w, hw, m, sg = three_pointwise(4)  # room for one pixel (4 elements) per tile
    clsa = schedule_clsa(w, hw, m, sg)
    # unlimited: A pixel i starts at i // 2 on copy i % 2 (tiles 0, 1), B pixel i at i + 1, C at i + 2
    assert clsa.start[:16].tolist() == [i // 2 for i in range(16)]
    assert simulate(w, clsa).peak_buffer[:2] == (4 * 4, 4 * 4)  # A pixel i is held [i // 2 + 1, i + 1): up to 4
    assert not simulate(w, clsa).valid
    bp = schedule_backpressure(w, hw, m, sg)
    # each A tile holds one pixel: A pixel i (i >= 2) waits for B pixel i - 2 to start (at i - 1) on its tile
    assert bp.start[:16].tolist() == [0, 0] + [i - 1 for i in range(2, 16)]
    assert (bp.start[16:] == clsa.start[16:]).all()  # B and C are not delayed: no latency lost
    assert bp.makespan == clsa.makespan == 18
    assert int(bp.start[15] - clsa.start[15]) == 7  # the last A pixel is held back 7 cycles
    sim = simulate(w, bp)
    assert sim.valid and max(sim.peak_buffer) <= 4


def test_backpressure_costs_latency_on_one_tile():
    """The golden chain (three 3x3 convs, 4 channels, 8 x 8, row sets of 8 pixels = 32 elements) on one tile
    with room for 5 rows (160 elements), one end-ordered pass (a row is placed at its end, when its 32 elements
    appear; an input is freed when its last reader is placed, or at the reader's start for the reader itself;
    later layers first at equal ends). Ends: A0 8, A1 16 (64 held); B0 24 then A2 24 (128); B1 32 frees A0,
    then A3 32 (160). At 40: C0 (holds nothing), B2 (frees A1, 160), then A4 does not fit and waits; C1 ends at
    48 and frees B0: A4 ends at 48, so it starts at 40, 8 cycles after CLSA-CIM's 32, and B3 (needs A4) at 48."""
    from cimopt.builder import conv_chain

    w = conv_chain()
    hw = Hardware()
    m = make_mapping(w, hw, resolve_budget(w, hw))
    sg = build_sets(w, hw, "row")
    clsa = schedule_clsa(w, hw, m, sg)
    assert clsa.makespan == 96 and clsa.start[:8].tolist() == [0, 8, 16, 24, 32, 40, 48, 56]
    fp = footprint(w, sg, m, round_robin_copies(sg, m))
    assert (fp.elements, fp.reason, fp.layer) == (3 * 8 * 4, "inputs", "conv1")  # three rows of A at B's start
    bp = backpressure_pass(w, hw, m, sg, 160, rule="drain")
    a, b, c = bp.start[:8].tolist(), bp.start[8:16].tolist(), bp.start[16:].tolist()
    assert a[:5] == [0, 8, 16, 24, 40] and b[:4] == [16, 24, 32, 48]
    assert a == [0, 8, 16, 24, 40, 56, 72, 88] and b == [16, 24, 32, 48, 64, 80, 96, 104]
    assert c == [32, 40, 56, 72, 88, 104, 112, 120] and bp.makespan == 128  # 32 cycles lost
    sim = simulate(w, bp)
    assert sim.valid and max(sim.peak_buffer) <= 160
    # the scheduler itself returns CLSA-CIM's schedule wherever it fits (its exact peak is 4 rows = 128)
    assert simulate(w, clsa).peak_buffer == (128,)
    assert np.array_equal(schedule_backpressure(w, hw, m, sg, capacity=160).start, clsa.start)
    assert np.array_equal(schedule_backpressure(w, hw, m, sg, capacity=128).start, clsa.start)
    with pytest.raises(InputError, match=r"smallest capacity that could work is 96 elements"):
        schedule_backpressure(w, hw, m, sg, capacity=95)
    with pytest.raises(InputError, match=r"when conv1 set 2 starts, tile 0 must still hold 128 elements.*could work is 128"):
        schedule_backpressure(w, hw, m, sg, capacity=127)


def test_compiled_pass_equals_its_python_source():
    """The numba-compiled event loop and the same function run as Python give the same schedule, every rule."""
    from cimopt.schedulers import backpressure as bp

    w = yolo_like(16)
    hw = Hardware(pes_per_tile=2, noc_hop_cycles=1)
    m = duplicate(w, hw, resolve_budget(w, hw, extra_pes=6), "greedy")
    sg = build_sets(w, hw, "row")
    prep = bp.prepare(w, hw, m, sg)
    peak = bp._peak(sg, prep.tile, prep.elem, prep.n_tiles, schedule_clsa(w, hw, m, sg).start)
    waited = 0
    for cap, rule in [(float("inf"), "drain")] + [(peak * k // 8, r) for k in (7, 6, 5) for r in bp.RULES]:
        compiled = bp._run(sg, prep, cap, rule)
        args = (sg.duration, sg.release, prep.tile, prep.elem, prep.layer, prep.rank, prep.nxt, prep.head,
                prep.p_ptr, prep.p_src, prep.p_lag, prep.readers, bp.UNBOUNDED if cap == float("inf") else cap,
                rule.startswith("drain"), prep.n_tiles, len(sg.layers), max(1, (sg.num_sets - 1).bit_length()),
                bp.UNBOUNDED, prep.rest, rule.endswith("in-order"), prep.first)
        python = bp._pass.py_func(*args)
        assert compiled[1:3] == python[1:3] and all(np.array_equal(a, b) for a, b in zip(compiled[3:], python[3:]))
        assert np.array_equal(compiled[0], python[0])
        waited += compiled[1]
        if cap == float("inf"):
            assert compiled[1] == 0 and (compiled[0] >= 0).all()
        if compiled[2] == 0 and rule == "drain":  # no wait caused by claims: greedy makes the same choices
            assert np.array_equal(bp._run(sg, prep, cap, "greedy")[0], compiled[0])
    assert waited > 0


def test_in_order_rules_rescue_what_drain_and_greedy_cannot_finish():
    """mini-yolo, row sets, noc-mesh, +64 PEs, at half of CLSA-CIM's set-level peak: neither drain nor greedy
    can finish (producers run ahead and fill the shared tiles), the in-order drain rule (a set waits for its
    layer's previous set) can; the scheduler then returns it, valid."""
    from cimopt import api
    from cimopt.capacity import with_buffer
    from cimopt.schedulers import backpressure as bp

    p = api.prepare("mini-yolo", "noc-mesh", dup="greedy", extra_pes=64, sets="row")
    prep = bp.prepare(p.workload, p.hardware, p.mapping, p.sets)
    peak = bp._peak(p.sets, prep.tile, prep.elem, prep.n_tiles, api.run(p, "clsa").schedule.start)
    cap = peak // 2
    done = {r: bool((bp._run(p.sets, prep, cap, r)[0] >= 0).all()) for r in bp.RULES}
    assert done == {"drain": False, "greedy": False, "drain-in-order": True, "greedy-in-order": False}
    r = api.run(with_buffer(p, cap), "clsa-bp")
    assert r.sim.valid and r.schedule.info["buffer_rule"] == "drain-in-order" and max(r.sim.peak_buffer) <= cap


def test_a_request_below_the_hold_bound_names_it():
    """TinyYOLOv3, row sets, noc-mesh, +64 PEs: conv_8's rows wait on tile 9 for the upsampled 13x13 branch; when
    conv_10 set 3 starts, its rows 0-9 (10 x 6,656 elements) must all still be held in CLSA-CIM's order. Below
    that the request is an error naming it; at it clsa-bp finishes 658 cycles (1.2%) after unlimited CLSA-CIM."""
    from cimopt import api
    from cimopt.capacity import with_buffer

    p = api.prepare("tiny-yolov3", "noc-mesh", dup="greedy", extra_pes=64, sets="row")
    with pytest.raises(InputError, match=r"when conv_10 set 3 starts, tile 9 must still hold 66,560 elements.*"
                                         r"smallest capacity that could work is 66,560"):
        api.run(with_buffer(p, 53_248), "clsa-bp")
    r = api.run(with_buffer(p, 66_560), "clsa-bp")
    assert r.sim.valid and max(r.sim.peak_buffer) == 66_560
    assert (r.sim.latency, api.run(p, "clsa").sim.latency) == (56_976, 56_318)


def test_unlimited_equals_clsa_on_zoo_like_graphs():
    for w in (yolo_like(16), residual_block(6), pointwise_chain(3, 4)):
        hw = Hardware(pes_per_tile=2, noc_hop_cycles=1)
        budget = resolve_budget(w, hw, extra_pes=6)
        m = duplicate(w, hw, budget, "greedy")
        for gran in ("pixel", "row", "block:2x2"):
            sg = build_sets(w, hw, gran)
            c = schedule_clsa(w, hw, m, sg)
            b = backpressure_pass(w, hw, m, sg, float("inf"))
            for col in ("copy", "start", "end", "layer", "set", "y0", "y1", "x0", "x1"):
                assert np.array_equal(getattr(c, col), getattr(b, col)), (w.name, gran, col)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(), st.sampled_from(["pixel", "row", "block:2x2"]), st.integers(0, 6), st.integers(0, 2),
       st.floats(0.0, 1.2))
def test_random_dags_valid_or_clear_error(w, gran, extra, hop, frac):
    hw = Hardware(pes_per_tile=2, noc_hop_cycles=hop)
    budget = resolve_budget(w, hw, extra_pes=extra)
    m = duplicate(w, hw, budget, "greedy")
    sg = build_sets(w, hw, gran)
    clsa = schedule_clsa(w, hw, m, sg)
    b = backpressure_pass(w, hw, m, sg, float("inf"))
    assert np.array_equal(b.start, clsa.start) and np.array_equal(b.copy, clsa.copy)
    peak = int(schedule_peaks(w, sg, m, clsa.copy, clsa.start, reserve=True).max())
    cap = max(1, int(peak * frac))
    hw_c = dataclasses.replace(hw, buffer_elements=cap)
    try:
        bp = schedule_backpressure(w, hw_c, m, sg)
    except InputError as exc:
        assert "buffer" in str(exc)
        return
    sim = simulate(w, bp)
    assert sim.valid, sim.violations[:3]
    assert max(sim.peak_buffer, default=0) <= cap
    assert bp.makespan >= clsa.makespan
    if cap >= peak:
        assert np.array_equal(bp.start, clsa.start)  # enough room for CLSA's own reservations: no change


def test_capacity_sizes():
    from cimopt.capacity import parse_capacities, parse_capacity

    hw = Hardware(bits=16)
    assert parse_capacity("65536", hw) == 65536
    assert parse_capacity("64k", hw) == 65536
    assert parse_capacity("64KB", hw) == 32768  # bytes: two per element
    assert parse_capacity("4096B", hw) == 2048
    assert parse_capacity("inf", hw) is None
    assert parse_capacities("8k,16k,inf,8192", hw) == (8192, 16384, None)
    for bad in ("lots", "-5", "0", "1B"):
        with pytest.raises(InputError, match="--buffer"):
            parse_capacity(bad, hw)


def test_min_buffer_on_the_hand_checked_chain():
    from cimopt.capacity import min_buffer
    from cimopt.problem import Problem

    w, hw, m, sg = three_pointwise(None)
    r = min_buffer(Problem("pw3", w, hw, m.budget, m, sg))
    # one pixel per tile already keeps CLSA's latency (the producer is only held back)
    assert (r.elements, r.latency_cycles, r.footprint_elements) == (4, 18, 4)


def test_cli_reports_peak_buffer_violations_and_infeasible_capacity(capsys):
    import json

    from cimopt.cli import main

    args = ["schedule", "mini-yolo", "--hw", "noc-mesh", "--extra-pes", "16", "--dup", "greedy", "--sets", "row",
            "--json", "--placement", "sequential"]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    peak = d["peak_buffer_elements"]
    assert peak == max(d["peak_buffer_per_tile"]) > 0 and d["buffer_elements"] is None
    half = str(peak * 3 // 4)
    assert main(args + ["--buffer", half, "--scheduler", "clsa"]) == 1  # it ignores the buffer: invalid, says why
    d = json.loads(capsys.readouterr().out)
    assert d["violation_counts"]["buffer"] >= 1 and "its buffer holds" in d["violation_messages"][0]
    assert main(args + ["--buffer", half, "--scheduler", "clsa-bp"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["valid"] and d["peak_buffer_elements"] <= peak * 3 // 4
    assert main(args + ["--buffer", "10", "--scheduler", "clsa-bp"]) == 2
    err = capsys.readouterr().err
    assert "smallest capacity that could work is" in err and "tile" in err
    assert main(["schedule", "mini-yolo", "--sets", "row", "--min-buffer"]) == 0
    assert "elements per tile" in capsys.readouterr().out
