import json
import re
import subprocess
import sys

import numpy as np
import pytest

from cimopt.cli import main
from cimopt.schedule import Schedule


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json_tiny_yolov3(capsys):
    code, out, _ = run(capsys, "inspect", "tiny-yolov3", "--json")
    d = json.loads(out)
    assert code == 0 and len(d["layers"]) == 13
    first = d["layers"][0]
    assert (first["rows"], first["cols"], first["ofm"], first["pixels"], first["crossbars"]) == (27, 16, [416, 416],
                                                                                               173056, 1)
    assert d["crossbars_min"] == sum(la["crossbars"] for la in d["layers"])
    assert {"name", "op"} <= set(d["gpeu_ops"][0])
    assert d["macs"] == sum(la["macs"] for la in d["layers"])


def test_inspect_text(capsys):
    code, out, _ = run(capsys, "inspect", "mini-cnn")
    assert code == 0 and "MVM layers" in out and "crossbars" in out


def test_schedule_simulate_round_trip(capsys, tmp_path):
    f = tmp_path / "s.json"
    code, out, _ = run(capsys, "schedule", "mini-yolo", "--dup", "greedy", "--extra-pes", "8", "--sets", "row",
                       "--out", str(f), "--json")
    d = json.loads(out)
    assert code == 0 and d["valid"] and d["scheduler"] == "clsa"
    assert d["latency_cycles"] < d["lbl_same_dup_latency_cycles"] <= d["lbl_latency_cycles"]
    assert d["pes_used"] <= d["pes"] and d["sets"] > 0 and d["bottleneck_layer"] in d["copies"]
    code, out, _ = run(capsys, "simulate", str(f), "--json")
    s = json.loads(out)
    assert code == 0 and s["valid"] and s["latency_cycles"] == d["latency_cycles"]
    # break it: start one job a cycle too early -> the simulator rejects it, exit 1
    sched = Schedule.load(f)
    i = int(np.argmax(sched.start))
    bad = sched.with_jobs(start=sched.start - (np.arange(len(sched)) == i), end=sched.end - (np.arange(len(sched)) == i))
    bad.save(tmp_path / "bad.json")
    code, out, _ = run(capsys, "simulate", str(tmp_path / "bad.json"))
    assert code == 1 and "dependency" in out


def test_schedule_of_another_model_is_bad_input(capsys, tmp_path):
    f = tmp_path / "s.json"
    assert run(capsys, "schedule", "mini-cnn", "--sets", "row", "--out", str(f))[0] == 0
    code, _, err = run(capsys, "simulate", str(f), "--model", "mini-yolo")
    assert code == 2 and "belongs to" in err


@pytest.mark.parametrize("argv,needle", [
    (["inspect", "no-such-model"], "no-such-model"),
    (["schedule", "mini-cnn", "--scheduler", "magic"], "unknown scheduler"),
    (["schedule", "mini-cnn", "--dup", "smart"], "unknown duplication strategy"),
    (["schedule", "mini-cnn", "--sets", "rows:0"], "unknown set granularity"),
    (["schedule", "mini-cnn", "--pes", "1"], "does not fit"),
    (["schedule", "mini-cnn", "--hw", "nope.toml"], "nope.toml"),
    (["compare", "mini-cnn", "--time-limit", "0"], "time-limit"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_not_a_schedule_file(capsys, tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"hello": 1}')
    code, _, err = run(capsys, "simulate", str(f))
    assert code == 2 and "not a cimopt schedule" in err


def test_compare_json_mini_cnn(capsys):
    code, out, _ = run(capsys, "compare", "mini-cnn", "--sets", "row", "--time-limit", "30", "--json")
    d = json.loads(out)
    lat = {r["scheduler"]: r["latency_cycles"] for r in d["results"]}
    assert code == 0 and all(r["valid"] for r in d["results"])
    assert d["bound_cycles"] <= lat["cpsat"] <= lat["clsa"] <= lat["lbl"]
    cp = next(r for r in d["results"] if r["scheduler"] == "cpsat")
    assert cp["status"] == "OPTIMAL" and d["bound_cycles"] == lat["cpsat"] and d["optimum_proven"]
    assert d["best_latency_cycles"] == lat["cpsat"] and d["proven_gap"] == 0.0 and d["bound_rule"]


def test_compare_prints_the_bound_rule_and_certificate(capsys):
    """mini-yolo, row sets, greedy +64 PEs: the pipeline bound proves CLSA-CIM's 336 cycles optimal."""
    code, out, _ = run(capsys, "compare", "mini-yolo", "--sets", "row", "--dup", "greedy", "--extra-pes", "64",
                       "--time-limit", "5", "--quiet")
    assert code == 0
    assert "lower bound 336 cycles (pipeline, conv4): it is the optimum, proven" in out
    assert "best schedule 336 cycles (clsa), proven gap 0.0%" in out and "CLSA-CIM is optimal" in out
    assert re.search(r"proven gap 0\.0% \(\d+\.\d s CPU, \d+\.\d s wall\)", out)


def test_compare_defaults_and_their_times(capsys):
    """compare's default set on one inference with unlimited buffers: the references, CLSA-CIM, clsa-bp, clsa-fb
    and CP-SAT (ready-order and LNS are opt-in: they never paid on the zoo); every run and the whole
    comparison report CPU and wall seconds."""
    code, out, _ = run(capsys, "compare", "mini-cnn", "--sets", "row", "--time-limit", "5", "--json")
    d = json.loads(out)
    assert code == 0 and [r["scheduler"] for r in d["results"]] == ["lbl", "clsa", "clsa-bp", "clsa-fb", "cpsat"]
    assert all(r["cpu_seconds"] >= 0 and r["wall_seconds"] > 0 for r in d["results"])
    assert d["wall_seconds"] >= max(r["wall_seconds"] for r in d["results"]) and d["cpu_seconds"] > 0


def test_end_to_end_console_script():
    """The installed `cimopt` command on the default model, as the README's quick start runs it."""
    p = subprocess.run([sys.executable, "-m", "cimopt.cli", "schedule", "--dup", "greedy", "--extra-pes", "200",
                        "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["model"] == "tiny-yolov3" and d["valid"] and d["speedup_vs_lbl"] > 1


def test_reproduce_quick_end_to_end(capsys, tmp_path):
    """`cimopt reproduce --quick`, as CI runs it: every schedule valid, tables, plots and README written."""
    code, out, err = run(capsys, "reproduce", "--quick", "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0, err
    readme = (tmp_path / "r" / "README.md").read_text()
    assert "17.9" in readme and "29.2" in readme and "cimopt reproduce --quick" in readme
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary
    assert list((tmp_path / "r").rglob("*.png")) and list((tmp_path / "r").rglob("sweep.csv"))


def test_isaac_like_at_a_small_buffer_spills_validly(capsys, tmp_path):
    """The chip at a buffer that binds: `schedule` defaults to memory-aware, which spills to the memory tier; the
    schedule file re-checks on its own with the same tier bytes; `compare` reports CLSA-CIM's overflow as
    INVALID yet exits 0 (it does not plan buffers), and the memory-aware row is valid and no slower than
    clsa-spill's."""
    f = tmp_path / "s.json"
    code, out, _ = run(capsys, "schedule", "mini-yolo", "--hw", "isaac-like", "--sets", "row", "--buffer", "4k",
                       "--out", str(f), "--json")
    d = json.loads(out)
    assert code == 0 and d["scheduler"] == "memory-aware" and d["valid"] and d["spill_bytes"] > 0
    assert d["spill_bytes"] == d["spill_write_bytes"] + d["spill_read_bytes"]
    code, out, _ = run(capsys, "simulate", str(f), "--json")
    s = json.loads(out)
    assert code == 0 and s["valid"] and s["spill_bytes"] == d["spill_bytes"] and s["latency_cycles"] == d["latency_cycles"]
    code, out, _ = run(capsys, "compare", "mini-yolo", "--hw", "isaac-like", "--sets", "row", "--buffer", "4k",
                       "--json", "--quiet")
    rows = {r["scheduler"]: r for r in json.loads(out)["results"]}
    assert code == 0 and not rows["clsa"]["valid"] and rows["memory-aware"]["valid"] and rows["clsa-spill"]["valid"]
    assert rows["memory-aware"]["latency_cycles"] <= rows["clsa-spill"]["latency_cycles"]
    assert rows["memory-aware"]["latency_cycles"] == d["latency_cycles"]


def test_placement_that_ignores_buffers_is_warned(capsys):
    code, _, err = run(capsys, "schedule", "mini-cnn", "--hw", "isaac-like", "--placement", "optimized")
    assert code == 0 and "--placement optimized does not plan the tile buffers (32,768 elements per tile)" in err
    code, _, err = run(capsys, "schedule", "mini-cnn", "--hw", "isaac-like", "--placement", "optimized", "--buffer", "inf")
    assert code == 0 and "does not plan the tile buffers" not in err
