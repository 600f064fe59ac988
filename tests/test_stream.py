"""Streams of inferences: hand-computed streams, N = 1 unchanged, the referee's stream rules, metrics."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api
from cimopt.builder import conv_chain
from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule
from cimopt.mapping import Budget, make_mapping
from cimopt.problem import Problem, with_stream
from cimopt.schedule import JOB_COLUMNS, Schedule
from cimopt.schedulers.stream_list import stream_list_schedule
from cimopt.simulator import simulate
from cimopt.stream import interval_bound, stream_metrics
from tests.conftest import HW
from tests.graphs import pointwise_chain, random_dags, residual_block, yolo_like

STREAM_SCHEDULERS = ("lbl", "layer-pipeline", "clsa")


def chain_problem(n: int = 3, c: int = 0, copies: tuple[int, int] = (1, 1)) -> Problem:
    w = pointwise_chain(2, 4)  # 16 pixels per layer, set i of layer 1 needs set i of layer 0
    p = api.prepare(w, HW, sets="pixel")
    m = make_mapping(w, HW, Budget(sum(copies), 1), copies)
    return with_stream(Problem(p.model, w, HW, m.budget, m, p.sets), n, c)


def run(p: Problem, name: str):
    r = api.run(p, name)
    assert r.sim.valid, r.sim.violations[:3]
    return r, stream_metrics(p.workload, r.schedule)


# ---------------------------------------------------------------------------------------------------------
# hand-computed streams on a 2-layer chain


def test_two_layer_chain_by_hand():
    p = chain_problem(3)
    # lbl: 32 cycles per inference, one after another
    r, m = run(p, "lbl")
    assert m.inference_end == (32, 64, 96) and m.interval_cycles == 32 and r.sim.latency == 96
    # layer pipeline: layer 0 ends inference k at 16(k+1); layer 1 starts it then and takes 16
    r, m = run(p, "layer-pipeline")
    assert m.inference_end == (32, 48, 64) and m.interval_cycles == 16
    # CLSA: set i of inference k on layer 0 ends at 16k + i + 1; layer 1 follows one cycle behind
    r, m = run(p, "clsa")
    assert m.inference_end == (17, 33, 49) and m.interval_cycles == 16 and r.sim.latency == 49
    assert m.interval_bound_cycles == 16 and m.interval_gap == 0
    assert r.schedule.start[32 + 16:32 + 20].tolist() == [17, 18, 19, 20]  # inference 1, layer 1
    assert m.inference_latency_mean_cycles == (17 + 33 + 49) / 3 and m.inference_latency_max_cycles == 49


def test_two_layer_chain_with_arrivals_by_hand():
    p = chain_problem(3, c=20)
    r, m = run(p, "clsa")  # inference k arrives at 20k: its layer-0 sets run 20k .. 20k + 16
    assert m.inference_end == (17, 37, 57) and m.interval_cycles == 20
    assert m.inference_latency_max_cycles == 17 and m.inference_latency_mean_cycles == 17
    r, m = run(p, "lbl")  # 32 per inference, each waits for the previous one: 0-32, 32-64, 64-96
    assert m.inference_end == (32, 64, 96)
    r, m = run(p, "layer-pipeline")  # layer 0: 0-16, 20-36, 40-56; layer 1 behind it, 16 each
    assert m.inference_end == (32, 52, 72)


def test_two_copies_bound():
    p = chain_problem(4, copies=(2, 1))  # layer 0: 8 per copy, layer 1: 16 on one copy -> bound 16
    r, m = run(p, "clsa")
    assert m.interval_bound_cycles == 16 == interval_bound(p.workload, HW, p.mapping)
    assert m.interval_cycles == 16


# ---------------------------------------------------------------------------------------------------------
# N = 1 is today's scheduler, and today's file


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_dags(), st.sampled_from(["pixel", "row", "block:2x3"]), st.integers(0, 2), st.integers(0, 1),
       st.integers(0, 4))
def test_single_inference_stream_engine_is_todays_list_scheduler(w, gran, hop, gpeu, extra):
    hw = Hardware(noc_hop_cycles=hop, gpeu_cycles=(("default", gpeu),), pes_per_tile=2, xbar_rows=32, xbar_cols=32)
    p = api.prepare(w, hw, dup="greedy", extra_pes=extra, sets=gran)
    for mode, barrier in (("lbl", True), ("clsa", False)):
        old = list_schedule(w, hw, p.mapping, p.sets, barrier=barrier, name=mode)
        new = stream_list_schedule(p, mode, mode)
        assert all(np.array_equal(getattr(old, c), getattr(new, c)) for c in JOB_COLUMNS)
        assert json.dumps(old.to_json()) == json.dumps(new.to_json())


def test_single_inference_file_has_no_stream_fields(tmp_path):
    p = api.prepare(conv_chain(), sets="row")
    s = api.run(p, "clsa").schedule
    d = s.to_json()
    assert set(d) == {"format", "version", "scheduler", "model", "fingerprint", "granularity", "hardware",
                      "mapping", "info", "jobs"}
    assert set(d["jobs"]) == set(JOB_COLUMNS) and "mvm_ns" not in d["hardware"]
    s.save(tmp_path / "a.json")
    back = Schedule.load(tmp_path / "a.json")
    assert back.inferences == 1 and not back.inference.any() and simulate(p.workload, back).valid


def test_stream_file_round_trip(tmp_path):
    p = chain_problem(3, c=5)
    s = api.run(p, "clsa").schedule
    s.save(tmp_path / "s.json")
    back = Schedule.load(tmp_path / "s.json")
    assert (back.inferences, back.arrival_interval) == (3, 5)
    assert np.array_equal(back.inference, s.inference) and np.array_equal(back.start, s.start)
    sim = simulate(p.workload, back)
    assert sim.valid and sim.latency == s.makespan
    d = json.loads((tmp_path / "s.json").read_text())
    d["inferences"] = 0
    with pytest.raises(InputError, match="inferences must be an integer >= 1"):
        Schedule.from_json(d)


def test_bad_stream_requests_are_input_errors():
    with pytest.raises(InputError, match="--inferences"):
        api.prepare(conv_chain(), inferences=0)
    with pytest.raises(InputError, match="--arrival-interval"):
        api.prepare(conv_chain(), arrival_interval=-1)


# ---------------------------------------------------------------------------------------------------------
# layer-by-layer takes N times one inference; everything is valid on random graphs


@pytest.mark.parametrize("wl", [conv_chain(), residual_block(6), yolo_like(16)], ids=lambda w: w.name)
def test_lbl_stream_is_n_times_single(wl):
    p = api.prepare(wl, dup="greedy", extra_pes=4, sets="row")
    single = api.run(p, "lbl").sim.latency
    for n in (2, 5):
        r, m = run(with_stream(p, n), "lbl")
        assert r.sim.latency == n * single
        assert m.interval_cycles == single


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_dags(), st.sampled_from(["pixel", "row", "layer"]), st.integers(0, 2), st.integers(0, 1),
       st.integers(0, 4), st.integers(2, 4), st.sampled_from([0, 1, 7, 40]))
def test_random_streams_are_valid(w, gran, hop, gpeu, extra, n, c):
    hw = Hardware(noc_hop_cycles=hop, gpeu_cycles=(("default", gpeu),), pes_per_tile=2, xbar_rows=32, xbar_cols=32)
    p = api.prepare(w, hw, dup="greedy", extra_pes=extra, sets=gran, inferences=n, arrival_interval=c)
    single = api.run(with_stream(p, 1), "clsa").sim.latency
    for name in STREAM_SCHEDULERS:
        r, m = run(p, name)
        assert len(r.schedule) == n * p.sets.num_sets
        assert r.sim.self_timed_latency <= r.sim.latency
        if name == "clsa":  # ASAP: the self-timed run is the schedule; inference 0 is unhindered
            assert r.sim.self_timed_latency == r.sim.latency
            assert m.inference_end[0] == single


# ---------------------------------------------------------------------------------------------------------
# the referee's stream rules


def stream_jobs(copies=(1, 1)):
    p = chain_problem(2, copies=copies)
    s = api.run(p, "clsa").schedule
    assert simulate(p.workload, s).valid
    return p.workload, s


def test_set_reading_another_inferences_data_is_rejected():
    # pw1 on 2 copies: inference 0's pw1 set i runs [i + 1, i + 2) on copy i % 2, so copy 1 is free at [7, 8)
    w, s = stream_jobs(copies=(1, 2))
    j = int(np.nonzero((s.inference == 1) & (s.layer == 1) & (s.set == 5))[0][0])
    assert (s.copy[j], s.start[j]) == (1, 22)  # it needs inference 1's pw0 set 5, which ends at 22
    start, end = s.start.copy(), s.end.copy()
    start[j], end[j] = 7, 8  # inference 0's pw0 set 5 has ended (at 6): its data, not inference 1's
    sim = simulate(w, s.with_jobs(start=start, end=end))
    assert sim.violation_counts == {"dependency": 1}
    msg = sim.violations[0].message
    assert "pw1 set 5 of inference 1" in msg and "pw0 pixel (1, 1), ready at cycle 22" in msg


def test_swapped_inference_labels_break_coverage():
    w, s = stream_jobs()
    inf = s.inference.copy()
    k = np.nonzero((s.inference == 1) & (s.layer == 0))[0][3]
    inf[k] = 0  # inference 0 gets pw0 set 3 twice, inference 1 never
    sim = simulate(w, s.with_jobs(inference=inf))
    assert sim.violation_counts == {"pixel-missing": 1, "pixel-doubled": 1}
    assert any("pw0 pixel (0, 3) of inference 1 is computed by no job" in v.message for v in sim.violations)


def test_inference_out_of_range_and_shared_copy():
    w, s = stream_jobs()
    inf = s.inference.copy()
    inf[0] = 2
    sim = simulate(w, s.with_jobs(inference=inf))
    assert sim.violation_counts.get("job") == 1 and "inferences 0..1" in sim.violations[0].message
    start, end = s.start.copy(), s.end.copy()
    a = np.nonzero((s.inference == 1) & (s.layer == 0))[0][0]
    start[a], end[a] = 0, 1  # inference 0's pw0 set 0 runs [0, 1) on the same copy
    sim = simulate(w, s.with_jobs(start=start, end=end))
    assert sim.violation_counts == {"copy-overlap": 1}


def test_job_before_its_arrival_is_rejected():
    w, s = stream_jobs()  # inference 1's pw0 sets run from 16, its pw1 sets from 17
    early = Schedule(s.scheduler, s.model, s.fingerprint, s.hardware, s.mapping, s.granularity,
                     **{c: getattr(s, c) for c in JOB_COLUMNS}, inference=s.inference, inferences=2,
                     arrival_interval=20)
    sim = simulate(w, early)
    assert sim.violation_counts == {"dependency": 4 + 3}  # pw0 sets 0-3 and pw1 sets 0-2 start before 20
    assert "pw0 set 0 of inference 1" in sim.violations[0].message
    assert "its input, which arrives at cycle 20" in sim.violations[0].message


# ---------------------------------------------------------------------------------------------------------
# CP-SAT over the stream


def test_cpsat_stream_on_the_chain_is_optimal_and_ordered():
    p = chain_problem(3)
    r = api.run(p, "cpsat", time_limit=5)
    assert r.sim.valid and r.sim.latency == 49 and r.status == "OPTIMAL"  # layer 0 works 48 cycles, then 1 more
    s = r.schedule
    assert s.inferences == 3 and s.info["symmetry_breaking"]
    for k in (1, 2):  # inference k's set starts no earlier than inference k-1's
        assert (s.start[s.inference == k] >= s.start[s.inference == k - 1]).all()


def test_cpsat_stream_row_sets_no_worse_than_clsa():
    p = api.prepare(yolo_like(16), dup="greedy", extra_pes=3, sets="row", inferences=2, arrival_interval=3)
    c = api.compare(p, ("clsa", "cpsat"), time_limit=3)
    clsa, cp = c.records
    assert clsa.valid and cp.valid and cp.latency_cycles <= clsa.latency_cycles
    assert c.bound_cycles <= cp.latency_cycles and cp.inferences == 2


def test_unrolled_set_graph():
    from cimopt.schedulers.unrolled import unroll

    p = api.prepare(residual_block(6), sets="row")
    big = unroll(p.sets, 3, 10)
    assert big.num_sets == 3 * p.sets.num_sets and len(big.src) == 3 * len(p.sets.src)
    assert np.array_equal(np.diff(big.offset), 3 * np.diff(p.sets.offset))
    # inference 2's copy of set s: same duration, release shifted by 2 * 10, edges inside inference 2
    li = 1
    a, c = int(big.offset[li]), p.sets.layers[li].count
    assert np.array_equal(big.duration[a + 2 * c:a + 3 * c], p.sets.duration[p.sets.offset[li]:p.sets.offset[li + 1]])
    assert np.array_equal(big.release[a + 2 * c:a + 3 * c], p.sets.release[p.sets.offset[li]:p.sets.offset[li + 1]] + 20)
    assert big.layers[li].rects[0][c] == 6  # inference 1's first row block starts below inference 0's OFM


def test_backpressure_stream_keeps_a_finite_buffer():
    hw = Hardware(buffer_elements=1000, pes_per_tile=4)
    p = api.prepare(yolo_like(16), hw, sets="row", dup="greedy", extra_pes=4, inferences=3, placement="sequential")
    clsa = api.run(p, "clsa")
    assert clsa.sim.violation_counts == {"buffer": 2}  # CLSA-CIM's stream overflows some tile
    r, m = run(p, "clsa-bp")
    assert r.schedule.inferences == 3 and max(r.sim.peak_buffer) <= 1000
    assert r.sim.latency >= clsa.sim.latency and len(m.inference_end) == 3


# ---------------------------------------------------------------------------------------------------------
# sweep axis


def test_sweep_inferences_axis(tmp_path):
    from cimopt.experiments.sweep import Point, SweepSpec, run_sweep

    spec = SweepSpec(models=(conv_chain(),), budget_kind="extra_pes", budgets=(2,), schedulers=("lbl", "clsa"),
                     duplications=("greedy",), granularities=("row",), inferences=(1, 3))
    res = run_sweep(spec, tmp_path / "s", workers=1, progress=False, plots=False)
    rows = {(r["scheduler"], r["inferences"]): r for r in res.rows}
    assert set(rows) == {("lbl", 1), ("clsa", 1), ("lbl", 3), ("clsa", 3)} and all(r["valid"] for r in res.rows)
    p = api.prepare(conv_chain(), dup="greedy", extra_pes=2, sets="row")
    for name in ("lbl", "clsa"):
        assert rows[(name, 1)]["latency_cycles"] == api.run(p, name).sim.latency
        assert rows[(name, 3)]["latency_cycles"] == api.run(with_stream(p, 3), name).sim.latency
    assert rows[("lbl", 3)]["latency_cycles"] == 3 * rows[("lbl", 1)]["latency_cycles"]
    assert rows[("clsa", 3)]["speedup_vs_lbl_same_dup"] == rows[("lbl", 3)]["latency_cycles"] / rows[("clsa", 3)]["latency_cycles"]
    assert rows[("clsa", 1)]["interval_cycles"] is None and rows[("clsa", 3)]["interval_cycles"] > 0
    one = Point("m", "hw", "extra_pes", 2, "row", "greedy", "clsa")
    assert "inferences" not in one.key and '"inferences":3' in Point(**{**one.__dict__, "inferences": 3}).key


# ---------------------------------------------------------------------------------------------------------
# reproduce: the throughput part


def test_reproduce_throughput_table(tmp_path):
    from cimopt.experiments.reproduce import Config, ThroughputSweep, reproduce

    chain = conv_chain()  # three 3x3 convs on 8 x 8: 64 pixels each
    cfg = Config("tp", (chain,), (0,), parts=("throughput",),
                 throughput=ThroughputSweep("tp-tiny", (chain,), (0, 3), inferences=3))
    res = reproduce(out=tmp_path, config=cfg, workers=1, progress=False, command="cimopt reproduce --tp")
    assert res.valid
    at0, at3 = res.tables["throughput"]
    # one copy each: every layer works 64 cycles per inference; lbl takes 192 per inference
    assert at0["interval_bound_cycles"] == 64 and at0["lbl"]["interval_cycles"] == 192
    assert at0["clsa"]["interval_cycles"] == 64 and at0["layer-pipeline"]["interval_cycles"] == 64
    assert at0["clsa"]["per_second"] == 1e9 / (64 * 100)  # ISAAC's 100 ns per MVM, 1 cycle per MVM
    assert at0["lbl"]["latency_cycles"] == 3 * 192 and at0["clsa"]["latency_cycles"] == 84 + 2 * 64
    assert at3["interval_bound_cycles"] == 32 and at3["clsa"]["interval_cycles"] == 32  # 2 copies each
    readme = (tmp_path / "README.md").read_text()
    assert "## 1. Throughput: a stream of 3 inferences" in readme and "| chain3x8 | 0 | 3 | 64 | 192 |" in readme
    assert (tmp_path / "throughput.png").exists() and (tmp_path / "throughput-makespan.png").exists()


# ---------------------------------------------------------------------------------------------------------
# the done-when on the zoo (slow)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-yolov3", "resnet18"])
def test_zoo_streams_reach_the_bottleneck(model):
    p = api.prepare(model, dup="greedy", extra_pes=64, sets="pixel")
    single = api.run(p, "clsa").sim.latency
    q = with_stream(p, 8)
    r, m = run(q, "clsa")
    assert m.interval_cycles <= 1.05 * m.interval_bound_cycles and r.sim.latency < 8 * single
    run(q, "layer-pipeline")
    lbl = api.run(q, "lbl")
    assert lbl.sim.valid and lbl.sim.latency == 8 * api.run(p, "lbl").sim.latency


@pytest.mark.slow
def test_cpsat_stream_mini_yolo_rows_no_slower_than_clsa():
    p = api.prepare("mini-yolo", sets="row", inferences=2)
    clsa, cp = api.run(p, "clsa"), api.run(p, "cpsat", time_limit=5)
    assert cp.sim.valid and cp.sim.latency <= clsa.sim.latency and cp.schedule.inferences == 2


def test_backpressure_stream_on_lent_storage_tiles():
    """With the buffer placement (copies buffering on several tiles) the stream's storage positions count a
    layer's sets over the inferences, in the set-level rule (unrolled graph) and in the simulator alike."""
    hw = Hardware(buffer_elements=750, pes_per_tile=4)
    p = api.prepare(yolo_like(16), hw, sets="row", dup="greedy", extra_pes=4, inferences=3)
    assert p.placement == "buffer" and any(len(t) > 1 for layer in p.mapping.storage for t in layer)
    r, m = run(p, "clsa-bp")
    assert r.sim.valid and max(r.sim.peak_buffer) <= 750 and len(m.inference_end) == 3
