"""Sweeps (resume, parallel, Dask), the reproduce tables, traces and Gantt charts: small grids, hand-checked values.

The golden chain (docs/model.md: three 3x3 convs, 8 x 8, one crossbar each) gives the numbers: layer-by-layer
192 cycles, CLSA 84 at pixel sets; with 2 extra PEs greedy duplication gives copies (2, 2, 1): LbL 32 + 32 + 64
= 128 cycles, CLSA 75; with 4 extra PEs copies (3, 2, 2): LbL 22 + 32 + 32 = 86, CLSA 42.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cimopt import api, cli
from cimopt.builder import conv_chain
from cimopt.errors import InputError
from cimopt.experiments import sweep as sweep_mod
from cimopt.experiments.plots import merged_runs
from cimopt.experiments.reproduce import Config, GapSweep, golden_chain, reproduce
from cimopt.experiments.sweep import COLUMNS, SweepSpec, parse_int_axis, parse_names, read_csv, run_sweep
from cimopt.experiments.trace import trace_json, write_trace

CHAIN = conv_chain()  # named "chain3x8"


def chain_spec(**kw) -> SweepSpec:
    base = dict(models=(CHAIN,), budget_kind="extra_pes", budgets=(0, 2), schedulers=("lbl", "clsa"),
                duplications=("greedy",))
    return SweepSpec(**(base | kw))


def lines(path) -> list[str]:
    return path.read_text().splitlines()


# --- parsing --------------------------------------------------------------------------------------------------


def test_axis_parsing():
    assert parse_int_axis("0:64:16", "--extra-pes") == (0, 16, 32, 48, 64)
    assert parse_int_axis("32,0,8:10", "--pes") == (0, 8, 9, 10, 32)
    assert parse_int_axis("4:4:1", "--tiles") == (4,)
    with pytest.raises(InputError, match="reads backwards"):
        parse_int_axis("10:2:1", "--tiles")
    with pytest.raises(InputError, match="empty"):
        parse_int_axis(" , ", "--pes")
    with pytest.raises(InputError, match="positive STEP"):
        parse_int_axis("0:8:0", "--pes")
    with pytest.raises(InputError, match="not an integer"):
        parse_int_axis("a:b", "--pes")
    assert parse_names("clsa,lbl,clsa", api.SCHEDULERS, "--schedulers") == ("clsa", "lbl")
    with pytest.raises(InputError, match="unknown value 'foo'"):
        parse_names("lbl,foo", api.SCHEDULERS, "--schedulers")


# --- the sweep ------------------------------------------------------------------------------------------------


def test_sweep_rows_match_api_runs(tmp_path):
    res = run_sweep(chain_spec(), tmp_path / "s", workers=1, progress=False)
    with open(tmp_path / "s" / "sweep.csv") as f:
        header = next(csv.reader(f))
    assert tuple(header) == COLUMNS
    rows = read_csv(tmp_path / "s" / "sweep.csv")
    assert rows == res.rows == json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [(r["extra_pes"], r["scheduler"], r["latency_cycles"]) for r in rows] == [
        (0, "lbl", 192), (0, "clsa", 84), (2, "lbl", 128), (2, "clsa", 75)]
    for r in rows:  # every value is the API's
        p = api.prepare(CHAIN, dup="greedy", extra_pes=r["extra_pes"], sets="pixel")
        run = api.run(p, r["scheduler"])
        lbl0 = api.run(api.with_duplication(p, "none"), "lbl").sim.latency
        assert r["latency_cycles"] == run.sim.latency
        assert r["utilization"] == run.sim.utilization and r["utilization_mapped"] == run.sim.utilization_mapped
        assert (r["pes"], r["tiles"], r["pes_used"]) == (p.budget.pes, p.budget.tiles, p.mapping.pes_used)
        assert r["speedup_vs_lbl"] == lbl0 / run.sim.latency
        assert r["valid"] is True and r["status"] == "HEURISTIC" and r["gap"] is None
    assert rows[3]["speedup_vs_lbl"] == 192 / 75 and rows[3]["speedup_vs_lbl_same_dup"] == 128 / 75
    # 4 requested points + the LbL-without-duplication reference at +2 PEs (greedy differs from none there;
    # at +0 PEs greedy gives one copy each, but it is a different point and is computed too)
    assert res.computed == 6 and len(lines(tmp_path / "s" / "points.jsonl")) == 6
    assert (tmp_path / "s" / "chain3x8.png").stat().st_size > 1000
    meta = json.loads((tmp_path / "s" / "sweep.meta.json").read_text())
    assert meta["budget"] == {"kind": "extra_pes", "values": [0, 2]} and meta["models"][0]["name"] == "chain3x8"


def test_rerun_recomputes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "s"
    first = run_sweep(chain_spec(), out, workers=1, progress=False, plots=False)
    calls = []
    real = sweep_mod.run_point
    monkeypatch.setattr(sweep_mod, "run_point", lambda *a: calls.append(a[0]) or real(*a))
    again = run_sweep(chain_spec(), out, workers=1, progress=False, plots=False)
    assert calls == [] and again.computed == 0 and again.reused == 6
    assert again.rows == first.rows and len(lines(out / "points.jsonl")) == 6


def test_interrupted_sweep_finishes_only_missing_points(tmp_path, monkeypatch):
    out = tmp_path / "s"
    full = run_sweep(chain_spec(), out, workers=1, progress=False, plots=False)
    kept = lines(out / "points.jsonl")[:2]
    # two finished points, then a line torn by a kill in mid-write
    (out / "points.jsonl").write_text("".join(s + "\n" for s in kept) + kept[0][:40])
    calls = []
    real = sweep_mod.run_point
    monkeypatch.setattr(sweep_mod, "run_point", lambda *a: calls.append(a[0].key) or real(*a))
    res = run_sweep(chain_spec(), out, workers=1, progress=False, plots=False)
    assert res.computed == 4 and res.reused == 2 and len(calls) == 4
    assert not {json.loads(s)["key"] for s in kept} & set(calls)
    recs = lines(out / "points.jsonl")
    assert len(recs) == 6 and len({json.loads(s)["key"] for s in recs}) == 6
    assert res.rows == full.rows


def test_process_pool_gives_the_same_rows(tmp_path):
    inline = run_sweep(chain_spec(budgets=(0, 2, 4)), tmp_path / "a", workers=1, progress=False, plots=False)
    pool = run_sweep(chain_spec(budgets=(0, 2, 4)), tmp_path / "b", workers=2, progress=False, plots=False)
    assert pool.rows == inline.rows and pool.computed == inline.computed == 9  # 6 requested + 3 LbL references
    assert [r["latency_cycles"] for r in pool.rows if r["extra_pes"] == 4] == [86, 42]
    assert (tmp_path / "a" / "sweep.csv").read_text() == (tmp_path / "b" / "sweep.csv").read_text()


def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    inline = run_sweep(chain_spec(), tmp_path / "a", workers=1, progress=False, plots=False)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        res = run_sweep(chain_spec(), tmp_path / "b", dask=cluster.scheduler_address, progress=False, plots=False)
    assert res.rows == inline.rows and res.computed == 6
    assert len(lines(tmp_path / "b" / "points.jsonl")) == 6


def test_cpsat_points_and_gaps(tmp_path):
    spec = chain_spec(budgets=(0,), duplications=("none",), schedulers=("lbl", "clsa", "cpsat"),
                      granularities=("row",), time_limit=10.0)
    rows = run_sweep(spec, tmp_path / "s", workers=1, progress=False, plots=False).rows
    lbl, clsa, cp = rows
    assert (lbl["latency_cycles"], clsa["latency_cycles"], cp["latency_cycles"]) == (192, 96, 96)
    assert cp["status"] == "OPTIMAL" and cp["bound_cycles"] == 96 and cp["gap"] == 0.0 and cp["valid"]
    assert clsa["gap"] == 0.0 and lbl["gap"] == 192 / 96 - 1
    assert cp["solve_seconds"] is not None and clsa["solve_seconds"] is None


# --- bad input: one line, exit 2 --------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--schedulers", ","], "empty"),
    (["--extra-pes", "10:2:1"], "reads backwards"),
    (["--schedulers", "lbl,magic"], "unknown value 'magic'"),
    (["--dup", "best"], "unknown value 'best'"),
    (["--pes", ""], "empty"),
    (["--sets", "cols"], "unknown set granularity"),
    (["--time-limit", "0", "--schedulers", "cpsat"], "--time-limit"),
    (["--workers", "0"], "--workers"),
])
def test_bad_sweep_input_exits_2(tmp_path, capsys, args, message):
    assert cli.main(["sweep", "mini-cnn", "--out", str(tmp_path / "s"), "--quiet"] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cimopt: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_folder_of_another_sweep_exits_2(tmp_path, capsys):
    out = str(tmp_path / "s")
    assert cli.main(["sweep", "mini-cnn", "--extra-pes", "0", "--out", out, "--quiet", "--workers", "1",
                     "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "mini-cnn" in text and "2 points computed, 0 reused" in text
    assert cli.main(["sweep", "mini-cnn", "--extra-pes", "0,4", "--out", out, "--quiet", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds a different sweep (budget:" in err and err.count("\n") == 1


def test_unreachable_dask_exits_2(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep_mod, "DASK_CONNECT_TIMEOUT", 1.0)
    assert cli.main(["sweep", "mini-cnn", "--out", str(tmp_path / "s"), "--quiet",
                     "--dask", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' within 1 s" in err
    assert not (tmp_path / "s").exists()


# --- reproduce, on a tiny grid ----------------------------------------------------------------------------------


def test_reproduce_tables_on_a_tiny_grid(tmp_path):
    cfg = Config("tiny", (CHAIN,), (0, 2, 4),
                 gap=(GapSweep("gap-tiny", (golden_chain,), ("row",), time_limit=10.0),))
    res = reproduce(out=tmp_path, config=cfg, workers=1, progress=False, command="cimopt reproduce --tiny")
    t = res.tables
    assert res.valid
    assert t["networks"] == [{"model": "chain3x8", "mvm_layers": 3, "macs": 3 * 64 * 36 * 4, "min_pes": 3,
                              "min_tiles": 1, "sets": 192, "lbl_latency_cycles": 192}]
    at4 = t["configs"]["chain3x8"][2]
    assert (at4["extra_pes"], at4["pes"]) == (4, 7)
    assert [at4[c]["latency_cycles"] for c in ("LbL", "LbL+dup", "CLSA", "CLSA+dup")] == [192, 86, 84, 42]
    best = t["headline"]["best"]
    assert best["speedup"]["value"] == 192 / 42 and best["speedup"]["extra_pes"] == 4
    # mapped utilization: LbL keeps 3 PEs busy 192 cycles (576/(3*192) = 1/3); CLSA at +0 PEs: 576/(3*84)
    assert best["utilization_mapped"]["value"] == pytest.approx(192 / 84) and best["utilization_mapped"]["extra_pes"] == 0
    (g,) = t["gap"]
    assert (g["model"], g["granularity"], g["clsa_latency_cycles"], g["cpsat_latency_cycles"], g["status"]) == (
        "golden-chain", "row", 96, 96, "OPTIMAL")
    assert g["lbl_latency_cycles"] == 192 and g["clsa_gap"] == 0.0
    readme = (tmp_path / "README.md").read_text()
    for text in ("## 1. Networks", "## 4. Heuristic vs optimum", "`cimopt reproduce --tiny`", "| chain3x8 | 3 |",
                 "29.2x", "17.9x", "4.57x", "networks-tiny/chain3x8.png"):
        assert text in readme
    assert (tmp_path / "headline.png").exists() and (tmp_path / "networks-tiny" / "chain3x8.png").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["tables"]["gap"][0]["status"] == "OPTIMAL"
    again = reproduce(out=tmp_path, config=cfg, workers=1, progress=False)
    assert again.tables == t  # deterministic, and resumed: nothing recomputed
    assert "0 points computed in this run" in (tmp_path / "README.md").read_text()


# --- traces and Gantt charts ------------------------------------------------------------------------------------


def chain_schedule(extra_pes=2, sets="row"):
    p = api.prepare(CHAIN, dup="greedy", extra_pes=extra_pes, sets=sets)
    return api.run(p, "clsa").schedule


def test_trace_events(tmp_path):
    s = chain_schedule()
    assert s.mapping.copies == (2, 2, 1) and len(s) == 24
    names = ["conv0", "conv1", "conv2"]
    files = write_trace(s, tmp_path / "t.json", names)
    assert files == [tmp_path / "t.json", tmp_path / "t.png"] and (tmp_path / "t.png").stat().st_size > 1000
    tr = json.loads((tmp_path / "t.json").read_text())
    assert tr == trace_json(s, names)
    xs = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    assert len(xs) == 24
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in tr["traceEvents"] if e["name"] == "thread_name"}
    assert threads == {(1, 1): "conv0/copy 0", (1, 2): "conv0/copy 1", (2, 3): "conv1/copy 0",
                       (2, 4): "conv1/copy 1", (3, 5): "conv2/copy 0"}
    for e, lay, st, en, y0, cp in zip(xs, s.layer, s.start, s.end, s.y0, s.copy, strict=True):
        assert (e["ts"], e["dur"], e["cat"], e["pid"]) == (st, en - st, names[lay], lay + 1)
        assert threads[(e["pid"], e["tid"])] == f"{names[lay]}/copy {cp}"
        assert (e["args"]["y0"], e["args"]["y1"], e["args"]["x0"], e["args"]["x1"]) == (y0, y0 + 1, 0, 8)
    # conv0's first row set: on copy 0, cycles 0..8
    assert xs[0] | {"args": None} == {"name": "set 0", "cat": "conv0", "ph": "X", "ts": 0, "dur": 8, "pid": 1,
                                      "tid": 1, "args": None}


def test_trace_command(tmp_path, capsys):
    sched = tmp_path / "s.json"
    chain_schedule().save(sched)
    assert cli.main(["trace", str(sched), "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").exists() and not (tmp_path / "g.json").exists()
    captured = capsys.readouterr()
    assert "using layer numbers" in captured.err  # the builder model cannot be reloaded by name
    assert "24 sets on 5 copies" in captured.out
    assert cli.main(["trace", str(sched), "-o", str(tmp_path / "t.json")]) == 0
    tr = json.loads((tmp_path / "t.json").read_text())
    assert sum(e["ph"] == "X" for e in tr["traceEvents"]) == 24 and (tmp_path / "t.png").exists()
    assert cli.main(["trace", str(sched), "-o", str(tmp_path / "t.txt")]) == 2
    assert "must end in .json" in capsys.readouterr().err


def test_gantt_runs_merge_back_to_back_jobs():
    row = np.array([0, 0, 0, 1, 1])
    start = np.array([4, 0, 2, 0, 5])
    end = np.array([6, 2, 4, 3, 6])
    layer = np.array([0, 0, 0, 1, 1])
    r, s, e, lay = merged_runs(row, start, end, layer)
    assert (r.tolist(), s.tolist(), e.tolist(), lay.tolist()) == ([0, 1, 1], [0, 0, 5], [6, 3, 6], [0, 1, 1])
    r, s, e, _ = merged_runs(row, start, end, layer, min_gap=2)  # the 2-cycle idle gap on row 1 is closed
    assert (r.tolist(), s.tolist(), e.tolist()) == ([0, 1], [0, 0], [6, 6])


def test_reproduce_buffer_part_on_the_chain(tmp_path):
    from cimopt.experiments.reproduce import BufferStudy

    study = BufferStudy((CHAIN,), (0, 2), "row", (CHAIN,), ("96", "160", "inf"))
    cfg = Config("tinybuf", (CHAIN,), (0,), parts=("buffers",), buffers=study)
    res = reproduce(out=tmp_path, config=cfg, workers=1, progress=False, command="cimopt reproduce --tinybuf")
    assert res.valid  # every schedule clsa-bp returns is within its buffer
    mins = res.tables["min_buffer"]
    assert [(r["extra_pes"], r["latency_cycles"]) for r in mins] == [(0, 96), (2, 88)]
    for r in mins:
        assert r["footprint_elements"] <= r["min_buffer_elements"] <= max(r["clsa_peak_elements"], r["footprint_elements"]) * 2
    readme = (tmp_path / "README.md").read_text()
    assert "## 1. Finite tile buffers" in readme and "buffers-tinybuf/chain3x8-row-buffer.png" in readme
    assert (tmp_path / "buffers-tinybuf" / "chain3x8-row-buffer.png").exists()
    rows = json.loads((tmp_path / "buffers-tinybuf" / "sweep.json").read_text())
    bp = {r["buffer_elements"]: r for r in rows if r["scheduler"] == "clsa-bp"}
    assert set(bp) == {96, 160, None} and bp[None]["latency_cycles"] == 88 and bp[None]["valid"]
    for cap, r in bp.items():  # within the buffer, or a clear reason why not
        assert (r["valid"] and r["peak_buffer_elements"] <= (cap or 10**9)) or (
            r["status"] == "NO_SOLUTION" and "buffer" in r["error"])
    assert bp[160]["valid"] and {r["scheduler"] for r in rows} == {"clsa-bp"}
