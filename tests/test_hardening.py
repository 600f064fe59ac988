"""Bad input of every class gives one clear line and exit 2 (or the simulator's verdict, exit 1), never a
traceback; what did not happen is said; a run that would not fit in memory is refused up front."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt import api, arguments, memory
from cimopt.builder import conv_chain
from cimopt.cli import main
from cimopt.errors import InputError
from cimopt.hardware import FIELDS, gpeu_kinds, load_hardware, parse_hardware
from cimopt.schedulers import cpsat
from cimopt.sets import build_sets, count_sets
from cimopt.workload import GPEU_KINDS

ROOT = Path(__file__).resolve().parent.parent
BASE_TOML = "[crossbar]\nrows = 256\ncols = 256\nmvm_cycles = 1\n[chip]\npes_per_tile = 16\n"


def cli(*argv: str) -> tuple[int, str, str]:
    """`cimopt argv` in-process: (exit code, stdout, stderr); an exception escaping main fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, needle: str = "") -> bool:
    return code == 2 and err.startswith("cimopt: error: ") and err.count("\n") == 1 and needle in err


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A valid schedule of mini-cnn at row sets."""
    f = tmp_path_factory.mktemp("sched") / "s.json"
    code, _, _ = cli("schedule", "mini-cnn", "--sets", "row", "--out", str(f))
    assert code == 0
    return f


# --- 1. output paths ---------------------------------------------------------------------------------------


@pytest.fixture
def no_compute(monkeypatch):
    """Fail if anything is computed: the path checks must come first."""
    import cimopt.experiments.reproduce  # noqa: F401  imported unpatched: it binds run_sweep at import

    def boom(*a, **k):
        raise AssertionError("computed before the output path was checked")

    monkeypatch.setattr(api, "prepare", boom)
    monkeypatch.setattr("cimopt.experiments.sweep.run_sweep", boom)
    monkeypatch.setattr("cimopt.experiments.reproduce.reproduce", boom)
    monkeypatch.setattr("cimopt.schedule.Schedule.load", boom)


@pytest.mark.parametrize("kind", ["folder", "missing folder", "below a file", "not writable"])
@pytest.mark.parametrize("command", ["schedule", "trace", "sweep", "reproduce"])
def test_output_paths_are_checked_before_computing(tmp_path, no_compute, command, kind):
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "file").write_text("x")
    if kind == "not writable" and not Path("/proc/self").is_dir():
        pytest.skip("needs /proc: a folder nobody can write, even root")
    is_dir_out = command in ("sweep", "reproduce")
    path = {"folder": tmp_path / ("file" if is_dir_out else "dir.json"),
            "missing folder": tmp_path / "nope" / "x.json",
            "below a file": tmp_path / "file" / "x.json",
            "not writable": Path("/proc/cimopt-x.json")}[kind]
    if kind == "missing folder" and is_dir_out:
        pytest.skip("a missing output folder is created, with its parents")
    argv = {"schedule": ["schedule", "mini-cnn", "--out", str(path)],
            "trace": ["trace", "s.json", "-o", str(path)],
            "sweep": ["sweep", "mini-cnn", "--out", str(path)],
            "reproduce": ["reproduce", "--quick", "--out", str(path)]}[command]
    code, out, err = cli(*argv)
    assert one_line_error(code, err, str(path)), err
    assert out == ""


def test_trace_checks_the_gantt_png_beside_the_json(tmp_path, saved):
    (tmp_path / "t.png").mkdir()
    code, _, err = cli("trace", str(saved), "-o", str(tmp_path / "t.json"))
    assert one_line_error(code, err, "its Gantt chart") and not (tmp_path / "t.json").exists()


def test_path_checks_leave_nothing_behind(tmp_path):
    f = tmp_path / "x.json"
    assert arguments.check_output_file(f, "--out") == f and not f.exists()
    assert arguments.check_output_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="is a folder"):
        arguments.check_output_file(f"{tmp_path}/new/", "--out")


# --- 2. schedule files ---------------------------------------------------------------------------------------


def mutate(d: dict, path: tuple, value) -> dict:
    d = json.loads(json.dumps(d))
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return d


def leaves(d, prefix=()):
    """Every leaf of the schedule's JSON except the free-form `info` (a job column: its first element)."""
    if isinstance(d, dict):
        for k, v in d.items():
            if k != "info":
                yield from leaves(v, prefix + (k,))
    elif isinstance(d, list) and d:
        yield from leaves(d[0], prefix + (0,))
    else:
        yield prefix, d


BAD_VALUES = st.sampled_from(["float", "huge", "text", "nested", "bool"])


def bad(value, how: str):
    if how == "float":
        return (value if isinstance(value, int) and not isinstance(value, bool) else 96) + 0.5
    if how == "huge":
        return 2**64 + 7
    if how == "text":
        return 42 if isinstance(value, str) else str(value)
    if how == "nested":
        return [value, [value]]
    return True if not isinstance(value, bool) else "yes"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), how=BAD_VALUES)
def test_mutated_schedules_exit_1_or_2_with_one_line(tmp_path, saved, data, how):
    d = json.loads(saved.read_text())
    paths = sorted(p for p, _ in leaves(d))
    path = data.draw(st.sampled_from(paths))
    leaf = dict(leaves(d))[path]
    f = tmp_path / "m.json"
    f.write_text(json.dumps(mutate(d, path, bad(leaf, how))))
    code, out, err = cli("simulate", str(f))
    assert code in (1, 2), (path, how, code)
    if code == 2:
        assert one_line_error(code, err), (path, how, err)
    else:
        assert "INVALID" in out and err == ""


@pytest.mark.parametrize("path,value,needle", [
    (("jobs", "start", 0), 96.5, "jobs.start must be a flat list of integers, got 96.5"),
    (("jobs", "end"), [[1, 2]], "jobs.end must be a flat list of integers"),
    (("jobs", "end", 0), 2**63, "jobs.end: value 9223372036854775808 is out of range"),
    (("granularity",), "pixels", "field granularity: unknown set granularity 'pixels'"),
    (("scheduler",), "magic", "field scheduler: unknown scheduler 'magic' (known: lbl, clsa"),
    (("hardware", "xbar_rows"), 0, "field hardware.xbar_rows: must be > 0"),
    (("hardware", "mvm_cycles"), 10**12, "field hardware.mvm_cycles: must be at most"),
    (("hardware", "gpeu_cycles"), [["poool", 1]], "unknown GPEU kind 'poool'"),
    (("mapping", "copies"), [1, 2], "2 copy counts for 5 layers"),
    (("mapping", "placement", 0, 0, 0), 99, "mapping.placement[0][0]: value 99 is out of range"),
])
def test_schedule_fields_are_validated(tmp_path, saved, path, value, needle):
    f = tmp_path / "m.json"
    f.write_text(json.dumps(mutate(json.loads(saved.read_text()), path, value)))
    for command in (["simulate", str(f)], ["trace", str(f), "-o", str(tmp_path / "t.png")]):
        code, _, err = cli(*command)
        assert one_line_error(code, err, needle), err


def test_relative_model_path_says_how_to_point_at_it(tmp_path, saved, monkeypatch):
    from cimopt.zoo import resolve_model

    model = tmp_path / "mini-cnn.onnx"
    model.write_bytes(resolve_model("mini-cnn").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert cli("schedule", "mini-cnn.onnx", "--sets", "row", "--out", "s.json")[0] == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = cli("simulate", "../s.json")
    assert one_line_error(code, err, "relative to where the schedule was made: give the model with --model PATH")
    assert cli("simulate", "../s.json", "--model", "../mini-cnn.onnx")[0] == 0


def test_trace_of_a_rejected_schedule_says_so_and_exits_1(tmp_path, saved):
    d = json.loads(saved.read_text())
    d["jobs"]["start"][-1] -= 1
    d["jobs"]["end"][-1] -= 1
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    code, out, _ = cli("trace", str(f), "-o", str(tmp_path / "t.png"))
    assert code == 1 and "the simulator rejects this schedule" in out and "INVALID" in out
    d["jobs"]["copy"][0] = 7
    f.write_text(json.dumps(d))
    code, out, _ = cli("trace", str(f), "-o", str(tmp_path / "u.png"))
    assert code == 1 and "not traced: job 0 runs on copy 7" in out and not (tmp_path / "u.png").exists()


# --- 3. hardware files ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), how=st.sampled_from(["float", "huge", "negative", "text", "list"]))
def test_mutated_hardware_files_exit_2_with_one_line(tmp_path, field, how):
    value = {"float": "96.5" if field.number is int else "inf", "huge": str(10**30), "negative": "-1",
             "text": '"8"', "list": "[8]"}[how]
    tables: dict[str, dict[str, str]] = {"crossbar": {"rows": "256", "cols": "256", "mvm_cycles": "1"},
                                         "chip": {"pes_per_tile": "16"}}
    tables.setdefault(field.section, {})[field.key] = value
    if field.key in ("cell_bits", "weight_bits"):  # they go together
        tables["crossbar"].setdefault("weight_bits" if field.key == "cell_bits" else "cell_bits", "1")
    f = tmp_path / "hw.toml"
    f.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for s, kv in tables.items()))
    code, _, err = cli("inspect", "mini-cnn", "--hw", str(f))
    assert one_line_error(code, err, f"{field.section}.{field.key}"), err


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.attr)
def test_every_field_of_the_table_is_range_checked(field):
    d = {"crossbar": {"rows": 256, "cols": 256, "mvm_cycles": 1, "cell_bits": 1, "weight_bits": 1},
         "chip": {"pes_per_tile": 16}}
    d.setdefault(field.section, {})[field.key] = field.high * 2 + 1
    with pytest.raises(InputError, match=rf"{field.section}\.{field.key}: must be at most"):
        parse_hardware(d, "hw.toml")
    d[field.section][field.key] = field.high
    assert getattr(parse_hardware(d, "hw.toml"), field.attr) == field.high


def test_hardware_file_bytes_and_gpeu_kinds(tmp_path):
    f = tmp_path / "bin.toml"
    f.write_bytes(b"\xff\xfe" + BASE_TOML.encode())
    code, _, err = cli("inspect", "mini-cnn", "--hw", str(f))
    assert one_line_error(code, err, "not a text file (byte 0 is not UTF-8)")
    f.write_text(BASE_TOML + "[gpeu]\npoool = 1\n")
    code, _, err = cli("inspect", "mini-cnn", "--hw", str(f))
    assert one_line_error(code, err, "unknown GPEU kind 'poool' (known: default, activation,") and "pool," in err
    f.write_text(BASE_TOML + "[gpeu]\npool = 2\nresize = 1\n")
    assert load_hardware(f).gpeu_cost("pool") == 2


def test_gpeu_kinds_cover_every_op_of_the_zoo():
    kinds = {op.kind for m in ("tiny-yolov3", "mobilenetv2", "resnet18", "mini-yolo")
             for op in api.load_model(m).gpeu_ops}
    assert kinds <= set(GPEU_KINDS) and {"pool", "activation", "concat", "resize"} <= kinds
    assert gpeu_kinds()[0] == "default"
    for preset in ("default", "noc-mesh", "paper-512"):
        load_hardware(preset)  # every bundled preset uses known kinds only


# --- 5. numbers on the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("argv,needle", [
    (["schedule", "mini-cnn", "--pes", "1" * 23], "argument --pes: must be at most 1,000,000,000"),
    (["schedule", "mini-cnn", "--tiles", "0"], "argument --tiles: must be >= 1"),
    (["schedule", "mini-cnn", "--extra-pes", "-4"], "argument --extra-pes: must be >= 0, got -4"),
    (["compare", "mini-cnn", "--time-limit", "inf"], "argument --time-limit: must be a finite number"),
    (["compare", "mini-cnn", "--time-limit", "nan"], "argument --time-limit: must be a finite number"),
    (["compare", "mini-cnn", "--time-limit", "-1"], "argument --time-limit: must be > 0"),
    (["compare", "mini-cnn", "--workers", "-2"], "argument --workers: must be >= 1"),
    (["compare", "mini-cnn", "--seed", "1e3"], "argument --seed: expected an integer seed"),
    (["sweep", "mini-cnn", "--out", "x", "--workers", "0"], "argument --workers: must be >= 1"),
    (["sweep", "mini-cnn", "--out", "x", "--time-limit", "inf"], "argument --time-limit: must be a finite"),
    (["sweep", "mini-cnn", "--out", "x", "--cpsat-workers", "99999999999"], "must be at most"),
    (["sweep", "mini-cnn", "--out", "x", "--tiles", "1:99999999999"], "has 99,999,999,999 values"),
    (["sweep", "mini-cnn", "--out", "x", "--pes", "12345678901234567890123"], "values must be at most"),
    (["reproduce", "--workers", "-1"], "argument --workers: must be >= 1"),
    (["schedule", "mini-cnn", "--tiles", "1000000000"], "beyond the 1,048,576 tiles cimopt models"),
    (["schedule", "mini-cnn", "--bogus"], "unrecognized arguments: --bogus (see cimopt --help)"),
    (["schedule", "mini-cnn", "--inferences", "0"], "argument --inferences: must be >= 1"),
    (["schedule", "mini-cnn", "--arrival-interval", "-3"], "argument --arrival-interval: must be >= 0"),
    (["schedule", "mini-cnn", "--buffer", "9" * 26], "elements per tile, more than 1,099,511,627,776"),
])
def test_numbers_on_the_command_line(tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*argv)
    assert one_line_error(code, err, needle), err


# --- 6. say what did not happen ----------------------------------------------------------------------------


def test_cpsat_not_run_is_never_a_feasible_solve(monkeypatch):
    code, out, _ = cli("compare", "mini-cnn", "--sets", "row", "--quiet", "--json")
    cp = json.loads(out)["results"][-1]
    assert code == 0 and cp["status"] == "OPTIMAL" and "optimal without a search" in cp["solver_note"]
    monkeypatch.setattr(cpsat, "MAX_CPSAT_SETS", 20)
    # CLSA-CIM's 4,448 cycles are above the bound (clsa-fb would meet it and leave CP-SAT nothing to do)
    code, out, _ = cli("compare", "mini-yolo", "--sets", "row", "--quiet", "--schedulers", "lbl,clsa,cpsat")
    assert code == 0 and "SKIPPED" in out and "not run: 208 sets > 20, too large for CP-SAT" in out
    monkeypatch.setattr(cpsat, "MAX_CPSAT_SETS", 20_000)
    monkeypatch.setenv(memory.ENV_AVAILABLE, str(100 * 2**20))
    code, out, _ = cli("schedule", "mini-yolo", "--sets", "row", "--scheduler", "cpsat", "--json")
    r = json.loads(out)
    assert r["status"] == "SKIPPED" and "need about 139 MB for CP-SAT's interleaved search" in r["solver_note"]


def test_stopped_by_and_safety_net():
    # 20 deterministic seconds took 398 wall seconds on a loaded machine: the net is far beyond that
    assert cpsat.safety_net_seconds(20) == 1500 and cpsat.safety_net_seconds(0.5) >= 300

    class P:
        max_deterministic_time, max_time_in_seconds = 20.0, 1500.0

    assert cpsat._stopped_by("FEASIBLE", False, True, 1501.0, 7.5, P) == "wall-clock safety net"
    assert cpsat._stopped_by("FEASIBLE", False, True, 90.0, 20.0, P) == "deterministic time limit"
    assert cpsat._stopped_by("OPTIMAL", False, True, 9.0, 3.0, P) == "proof"
    assert cpsat._stopped_by("FEASIBLE", True, True, 9.0, 3.0, P) == "interrupt"
    assert "safety net" in cpsat.solve_note("FEASIBLE", "", "wall-clock safety net", False)


def test_interrupt_stops_the_search_and_keeps_the_best():
    p = api.prepare("mini-yolo", sets="row", extra_pes=8, dup="greedy")
    began: list[float] = []  # progress is first called just before the search starts

    res = cpsat._solve(p.workload, p.hardware, p.mapping, p.sets, joint=False, budget=p.budget, hint=None,
                       time_limit=5, workers=2, seed=0, progress=lambda *a: began.append(time.perf_counter()),
                       model="x", deterministic=True, interrupted=lambda: bool(began) and
                       time.perf_counter() - began[0] > 1.0)
    info = res.schedule.info
    assert time.perf_counter() - began[0] < 10 and info["interrupted"] and info["stopped_by"] == "interrupt"
    assert res.status in ("FEASIBLE", "OPTIMAL") and res.objective <= info["horizon"] and info["cp_sat_ran"]
    assert "interrupted (Ctrl-C)" in info["note"]


def _popen(argv: list[str], cwd: Path) -> subprocess.Popen:
    """A cimopt process with Ctrl-C at its default (a background shell would leave SIGINT ignored)."""
    return subprocess.Popen([sys.executable, "-m", "cimopt.cli", *argv], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_prints_the_best_so_far_and_exits_130(tmp_path):
    proc = _popen(["schedule", "mini-yolo", "--sets", "row", "--dup", "greedy", "--extra-pes", "8",
                   "--scheduler", "cpsat", "--time-limit", "5"], tmp_path)
    try:
        for line in proc.stderr:  # the first progress line: the search is about to start
            if line.startswith("cpsat:"):
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        t0 = time.perf_counter()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.perf_counter() - t0 < 10 and proc.returncode == 130, (out, err)
    assert "interrupted (Ctrl-C): the best schedule found so far" in out and "valid         yes" in out
    assert "interrupted: the results above are the best found so far" in err


def test_sweep_stops_within_seconds_of_ctrl_c(tmp_path):
    proc = _popen(["sweep", "mini-yolo", "resnet18", "--extra-pes", "0:256:16", "--sets", "row", "--schedulers",
                   "lbl,clsa,cpsat", "--time-limit", "60", "--out", "sw", "--no-plots", "--quiet"], tmp_path)
    points = tmp_path / "sw" / "points.jsonl"
    deadline = time.time() + 60
    while not (points.exists() and points.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    t0 = time.perf_counter()
    _, err = proc.communicate(timeout=60)
    assert time.perf_counter() - t0 < 5 and proc.returncode == 130
    assert "points saved in" in err and "run the same command again to resume" in err
    assert all(not json.loads(s)["result"]["interrupted"] for s in points.read_text().splitlines())


# --- 7. memory -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["mini-yolo", "resnet18", "tiny-yolov3"])
def test_counts_before_building_match_the_built_graph(model):
    w, hw = api.load_model(model), load_hardware()
    for g in ("pixel", "row", "block:4x4"):
        c, s = count_sets(w, hw, g), build_sets(w, hw, g)
        assert (c.sets, c.dependencies) == (s.num_sets, len(s.src))


def test_a_run_that_would_not_fit_is_refused_with_a_coarser_granularity(monkeypatch):
    monkeypatch.setenv(memory.ENV_AVAILABLE, str(100 * 2**20))
    code, _, err = cli("schedule", "tiny-yolov3", "--sets", "pixel")
    assert one_line_error(code, err, "tiny-yolov3 with --sets pixel: 232,882 sets")
    assert "100 MB of memory is available; --sets block:2x2 would fit (58,261 sets" in err
    monkeypatch.setenv(memory.ENV_AVAILABLE, "1000")
    code, _, err = cli("schedule", "mini-cnn", "--sets", "row")
    assert one_line_error(code, err, "no coarser --sets fits either")
    big = conv_chain(3, 16, 20_000)  # 1.2e9 sets: refused at once, before its dependencies are counted
    monkeypatch.delenv(memory.ENV_AVAILABLE)
    with pytest.raises(InputError, match=r"need more than .*\(before counting their dependencies\)"):
        memory.check_memory(big, load_hardware(), "pixel", available=8 * 2**30)


def test_estimate_formula():
    from cimopt.sets import SetCounts

    e = memory.Estimate(SetCounts("pixel", sets=10, dependencies=100, pixels=10, gpeu_pixels=20))
    assert e.build_bytes == 8 * 10 + 55 * 10 + 75 * 100
    assert e.run_bytes == 150 * 10 + 25 * 20 + 270 * 10 + 35 * 100
    assert e.bytes == max(e.build_bytes, e.run_bytes)
