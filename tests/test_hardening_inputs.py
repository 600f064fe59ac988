"""Bad input, round two (issue 21): each class a new user hit gives one clear line naming the variable, field,
node, tensor or flag and exit 2, before any work; legal but suspicious input runs with a warning."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cimopt import api, memory
from cimopt.cli import main
from cimopt.errors import InputError
from cimopt.hardware import HARDWARE_DIR, resolve_hardware_path

BASE_TOML = "[crossbar]\nrows = 256\ncols = 256\nmvm_cycles = 1\n[chip]\npes_per_tile = 16\n"
F32 = np.float32


def cli(*argv: str) -> tuple[int, str, str]:
    """`cimopt argv` in-process: (exit code, stdout, stderr); an exception escaping main fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def refused(res: tuple[int, str, str], *needles: str) -> bool:
    """Exit 2 with one line `cimopt: error: ...` holding every needle, and nothing on stdout."""
    code, out, err = res
    return (code == 2 and out == "" and err.startswith("cimopt: error: ") and err.count("\n") == 1
            and all(n in err for n in needles))


@pytest.fixture
def no_work(monkeypatch):
    """Fail if a model is loaded or a problem prepared: the refusal must come first."""
    def boom(*a, **k):
        raise AssertionError("work started before the refusal")

    monkeypatch.setattr(api, "prepare", boom)
    monkeypatch.setattr(api, "load_model", boom)


# --- 1. memory guard override -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "0", "1e400", "1.5", "12GB", "0x10"])
def test_memory_override_must_be_bytes_a_machine_can_have(monkeypatch, no_work, value):
    monkeypatch.setenv(memory.ENV_AVAILABLE, value)
    assert refused(cli("schedule", "mini-cnn"), "$CIMOPT_MEMORY_AVAILABLE", repr(value))
    with pytest.raises(InputError, match=r"^\$CIMOPT_MEMORY_AVAILABLE: expected"):
        memory.available_memory()


def test_memory_override_checked_before_sweep_and_reproduce_make_folders(monkeypatch, tmp_path):
    monkeypatch.setenv(memory.ENV_AVAILABLE, "inf")
    for argv in (["sweep", "mini-cnn", "--out", str(tmp_path / "s"), "--quiet"],
                 ["reproduce", "--quick", "--out", str(tmp_path / "r"), "--quiet"],
                 ["compare", "mini-cnn"]):
        assert refused(cli(*argv), "$CIMOPT_MEMORY_AVAILABLE")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value, expected", [("1e9", 10**9), ("4_000_000_000", 4 * 10**9), (" 65536 ", 65536)])
def test_memory_override_accepts_whole_byte_counts(monkeypatch, value, expected):
    monkeypatch.setenv(memory.ENV_AVAILABLE, value)
    assert memory.available_memory() == expected


# --- 2. hardware: a mesh smaller than the chip, preset names that are paths ------------------------------------


def hw_file(tmp_path: Path, text: str) -> str:
    f = tmp_path / "hw.toml"
    f.write_text(BASE_TOML + text)
    return str(f)


@pytest.mark.parametrize("mesh, extra, needle", [
    ("[2, 2]", ["--tiles", "9"], "from --tiles"),
    ("[2, 2]", ["--pes", "140"], "from --pes"),
    ("[1, 3]", ["--extra-pes", "100"], "from --extra-pes"),
    ("[1, 1]", [], "from the minimum chip"),  # mini-cnn needs 5 PEs: 5 tiles of 1 PE
])
def test_mesh_smaller_than_the_resolved_tile_count(tmp_path, mesh, extra, needle):
    path = hw_file(tmp_path, f"[noc]\nhop_cycles = 1\nmesh = {mesh}\n")
    if not extra:  # one PE per tile
        Path(path).write_text(Path(path).read_text().replace("pes_per_tile = 16", "pes_per_tile = 1"))
    res = cli("schedule", "mini-cnn", "--hw", path, *extra)
    assert refused(res, "field noc.mesh", needle, "tiles")


def test_mesh_checked_for_sweep_points_and_against_chip_tiles(tmp_path):
    path = hw_file(tmp_path, "[noc]\nmesh = [2, 2]\n")
    assert refused(cli("sweep", "mini-cnn", "--hw", path, "--tiles", "4,9", "--out", str(tmp_path / "s"),
                       "--quiet", "--no-plots", "--workers", "1"), "field noc.mesh 2x2", "9 tiles")
    f = tmp_path / "t9.toml"
    f.write_text(BASE_TOML + "tiles = 9\n[noc]\nmesh = [2, 2]\n")
    assert refused(cli("schedule", "mini-cnn", "--hw", str(f)), "field noc.mesh 2x2", "chip.tiles=9")
    assert cli("schedule", "mini-cnn", "--hw", path, "--tiles", "4")[0] == 0  # a mesh that holds the chip


@pytest.mark.parametrize("spec", ["../../etc/x", "../hardware/default", "../../data/hardware/default", "sub/default",
                                  "/nonexistent/default", "default.toml", "./default"])
def test_a_preset_name_is_never_a_path(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # none of these exists from here
    with pytest.raises(InputError, match=r"no such hardware file \(a preset is a bare name: "):
        resolve_hardware_path(spec)
    assert refused(cli("schedule", "mini-cnn", "--hw", spec), spec, "no such hardware file")


def test_preset_names_and_existing_files_still_resolve(tmp_path, monkeypatch):
    assert resolve_hardware_path("noc-mesh") == HARDWARE_DIR / "noc-mesh.toml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my.toml").write_text(BASE_TOML)
    assert resolve_hardware_path("sub/my.toml") == Path("sub/my.toml")


# --- 3. ONNX: negative pads, zero-sized dimensions, recurrent ops, weights that are graph inputs ---------------


def vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(tmp_path: Path, nodes, inputs, inits=(), out="y") -> str:
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, [vi(out, None)], list(inits)),
                          opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    return str(path)


W4333 = np.zeros((4, 3, 3, 3), F32)


@pytest.mark.parametrize("op, attrs", [
    ("Conv", {"pads": [-1, -1, -1, -1]}),
    ("Conv", {"pads": [0, 0, -2, 0]}),
    ("MaxPool", {"kernel_shape": [2, 2], "pads": [-1, 0, 0, 0]}),
    ("AveragePool", {"kernel_shape": [2, 2], "pads": [0, 0, 0, -1]}),
    ("ConvTranspose", {"pads": [0, -1, 0, 0]}),
])
def test_negative_pads_on_windows_are_refused_naming_the_node(tmp_path, op, attrs):
    ins = ["x", "w"] if op.startswith("Conv") else ["x"]
    w = W4333 if op == "Conv" else np.zeros((3, 4, 3, 3), F32)
    path = save(tmp_path, [helper.make_node(op, ins, ["y"], name="win", **attrs)], [vi("x", [1, 3, 8, 8])],
                [init("w", w)] if len(ins) > 1 else [])
    assert refused(cli("schedule", path), f"node 'win' ({op}): negative pads", "pads >= 0")


@pytest.mark.parametrize("pads, dims", [
    ([0, 0, -1, -2, 0, 0, -1, 0], (1, 4, 4, 4)),  # crop top, left, bottom
    ([0, 0, -1, 1, 0, 0, 1, -1], (1, 4, 6, 6)),  # crop and pad on the same axis
])
def test_pad_with_negative_pads_crops_as_onnx_says(tmp_path, pads, dims):
    path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
                           helper.make_node("Pad", ["c", "p"], ["cp"], name="crop"),
                           helper.make_node("Conv", ["cp", "w2"], ["y"], name="c2")],
                [vi("x", [1, 3, 8, 8])], [init("w", W4333), init("p", np.array(pads, np.int64)),
                                          init("w2", np.zeros((2, 4, 1, 1), F32))])
    w = api.load_model(path)
    assert w.node("crop").out.dims == dims and w.warnings == ()
    p = api.prepare(path, sets="pixel")
    assert api.run(p, "clsa").sim.valid


def test_pad_that_crops_everything_is_refused(tmp_path):
    path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
                           helper.make_node("Pad", ["c", "p"], ["y"], name="crop")],
                [vi("x", [1, 3, 8, 8])], [init("w", W4333), init("p", np.array([0, 0, -3, 0, 0, 0, -3, 0], np.int64))])
    assert refused(cli("inspect", path), "node 'crop' (Pad)", "crop axis 2", "to nothing")


@pytest.mark.parametrize("case, needle", [
    ("input", "graph input 'x': dimension 2 has size 0"),
    ("input_channels", "graph input 'x': dimension 1 has size 0"),
    ("weight", "node 'c1' (Conv): weight 'w' has a zero-sized dimension [0, 3, 3, 3]"),
    ("gemm", "node 'g1' (Gemm): output 'y' has shape [1, 0], with a zero-sized dimension"),
    ("slice", "node 'sl' (Slice): output 'sl' has shape [1, 4, 0, 6], with a zero-sized dimension"),
])
def test_zero_sized_dimensions_name_the_tensor(tmp_path, case, needle):
    x = vi("x", [1, 3, 0, 8] if case == "input" else [1, 0, 8, 8] if case == "input_channels" else [1, 3, 8, 8])
    if case in ("input", "input_channels", "weight"):
        w = np.zeros((0, 3, 3, 3) if case == "weight" else (4, 0, 3, 3) if case == "input_channels" else (4, 3, 3, 3),
                     F32)
        path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="c1")], [x], [init("w", w)])
    elif case == "gemm":
        path = save(tmp_path, [helper.make_node("Flatten", ["x"], ["f"], name="fl"),
                               helper.make_node("Gemm", ["f", "w"], ["y"], name="g1", transB=1)],
                    [vi("x", [1, 3, 4, 4])], [init("w", np.zeros((0, 48), F32))])
    else:
        path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
                               helper.make_node("Slice", ["c", "s", "e", "a"], ["sl"], name="sl"),
                               helper.make_node("Conv", ["sl", "w2"], ["y"], name="c2")],
                    [x], [init("w", W4333), init("s", np.array([2])), init("e", np.array([2])), init("a", np.array([2])),
                          init("w2", np.zeros((2, 4, 1, 1), F32))])
    assert refused(cli("inspect", path), needle)


@pytest.mark.parametrize("op, gates", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
@pytest.mark.parametrize("after_conv", [False, True])
def test_recurrent_ops_are_refused_naming_the_node(tmp_path, op, gates, after_conv):
    """[seq, batch, features] inputs: the error is the recurrent op, not a 'batch size 20' on the input."""
    h = 16
    rec = helper.make_node(op, ["t" if after_conv else "x", "W", "R"], ["y"], name="rec", hidden_size=h)
    inits = [init("W", np.zeros((1, gates * h, 8), F32)), init("R", np.zeros((1, gates * h, h), F32))]
    if after_conv:
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="c1", pads=[1, 1]),
                 helper.make_node("Transpose", ["c"], ["t"], perm=[2, 0, 1], name="tr"), rec]
        inputs, inits = [vi("x", [1, 8, 20])], inits + [init("w", np.zeros((8, 8, 3), F32))]
    else:
        nodes, inputs = [rec], [vi("x", [20, 1, 8])]
    assert refused(cli("inspect", save(tmp_path, nodes, inputs, inits)),
                   f"node 'rec' ({op}) is a recurrent op, which cimopt does not support")


@pytest.mark.parametrize("nodes, inputs, name", [
    ([helper.make_node("Conv", ["x", "w"], ["y"], name="c1")], [vi("w", [4, 3, 3, 3])], "'w'"),
    ([helper.make_node("Transpose", ["w"], ["wt"], perm=[0, 1, 3, 2]), helper.make_node("Conv", ["x", "wt"], ["y"])],
     [vi("w", [4, 3, 3, 3])], "'w'"),
    ([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c1")], [vi("w", [4, 3, 3, 3]), vi("b", [4])],
     "graph inputs 'w', 'b'"),
])
def test_weight_that_is_a_graph_input_is_taken_as_constant_loudly(tmp_path, nodes, inputs, name):
    path = save(tmp_path, nodes, [vi("x", [1, 3, 8, 8]), *inputs])
    code, out, err = cli("schedule", path)
    assert code == 0 and "valid         yes" in out
    assert err.startswith("cimopt: warning: graph input") and name in err and "taken as CONSTANT weights" in err
    assert err.count("\n") == 1  # one line for all of them


def test_zoo_files_declare_their_weight_inputs_and_do_not_warn():
    code, _, err = cli("inspect", "resnet18")
    assert code == 0 and err == ""


# --- 4. flags that would do nothing, refused before any work --------------------------------------------------


@pytest.mark.parametrize("extra, flag", [
    (["--scheduler", "cpsat"], "--scheduler"),
    (["--scheduler", "clsa"], "--scheduler"),
    (["--buffer", "64k"], "--buffer"),
    (["--inferences", "2"], "--inferences 2"),
    (["--arrival-interval", "5"], "--inferences 1"),
    (["--out", "x.json"], "--out"),
    (["--joint"], "--joint"),
    (["--time-limit", "5"], "--time-limit"),
    (["--seed", "3"], "--seed"),
])
def test_min_buffer_refuses_flags_it_ignores(no_work, extra, flag):
    assert refused(cli("schedule", "mini-cnn", "--min-buffer", *extra), flag, "--min-buffer")


@pytest.mark.parametrize("argv, needles", [
    (["schedule", "mini-cnn", "--joint"], ("--joint", "scheduler clsa")),
    (["schedule", "mini-cnn", "--scheduler", "lns", "--joint"], ("--joint: only cpsat", "scheduler lns")),
    (["schedule", "mini-cnn", "--scheduler", "lbl", "--time-limit", "5"], ("--time-limit", "scheduler lbl")),
    (["schedule", "mini-cnn", "--nondeterministic"], ("--nondeterministic", "scheduler clsa")),
    (["compare", "mini-cnn", "--schedulers", "lbl,clsa", "--joint"], ("--joint", "schedulers lbl, clsa")),
    (["compare", "mini-cnn", "--schedulers", "lbl,clsa-bp", "--workers", "1"], ("--workers",)),
    (["compare", "mini-cnn", "--schedulers", "clsa,lns", "--joint"], ("--joint: only cpsat",)),
])
def test_solver_flags_need_a_scheduler_that_reads_them(no_work, argv, needles):
    assert refused(cli(*argv), *needles)


@pytest.mark.parametrize("value", ["", ",", " , ", ",,"])
def test_empty_scheduler_list_is_refused(no_work, value):
    assert refused(cli("compare", "mini-cnn", "--schedulers", value), "--schedulers: empty list")


# --- 5. combinations refused before a solver runs ------------------------------------------------------------


@pytest.fixture
def no_solve(monkeypatch):
    """Fail if any scheduler runs: the refusal must come before the heuristics and CP-SAT."""
    def boom(*a, **k):
        raise AssertionError("a scheduler ran before the refusal")

    monkeypatch.setattr(api, "run", boom)


@pytest.mark.parametrize("argv, needles", [
    (["compare", "mini-cnn", "--schedulers", "clsa,cpsat,lns", "--inferences", "2"], ("--inferences 2", "lns")),
    (["schedule", "mini-cnn", "--scheduler", "lns", "--inferences", "3", "--sets", "row"], ("--inferences 3", "lns")),
    (["schedule", "mini-cnn", "--scheduler", "lns", "--arrival-interval", "9"], ("--arrival-interval 9", "lns")),
    (["compare", "mini-cnn", "--hw", "noc-mesh", "--joint"], ("--joint on", "noc-mesh.toml", "free NoC")),
    (["schedule", "mini-cnn", "--scheduler", "cpsat", "--hw", "isaac-like", "--joint"], ("--joint on", "free NoC")),
    (["compare", "mini-cnn", "--buffer", "64k", "--joint"], ("--joint with finite tile buffers",)),
    (["schedule", "mini-cnn", "--scheduler", "cpsat", "--joint", "--placement", "optimized"],
     ("--joint with --placement optimized",)),
])
def test_combinations_a_solver_would_refuse_are_refused_first(no_solve, argv, needles):
    assert refused(cli(*argv), *needles)


def test_sweep_refuses_a_one_inference_scheduler_on_a_stream_axis(tmp_path, monkeypatch):
    from cimopt.experiments import sweep

    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: pytest.fail("the sweep ran"))
    assert refused(cli("sweep", "mini-cnn", "--schedulers", "clsa,lns", "--inferences", "1,2", "--out",
                       str(tmp_path / "s"), "--quiet"), "--inferences 1,2", "lns")


def test_finite_buffer_of_the_hardware_file_with_joint_and_inf_lifting_it(tmp_path, no_solve):
    path = hw_file(tmp_path, "[buffer]\nelements_per_tile = 4096\n")
    assert refused(cli("compare", "mini-cnn", "--hw", path, "--joint"), "--joint with finite tile buffers")


def test_joint_still_runs_where_cpsat_honours_it():
    code, out, _ = cli("schedule", "mini-cnn", "--scheduler", "cpsat", "--joint", "--sets", "row", "--time-limit",
                       "2", "--buffer", "inf")
    assert code == 0 and "duplication cpsat-joint" in out


# --- 6. a chip without [energy] figures reports no energy (not 0.0) ---------------------------------------------


def test_energy_is_absent_without_energy_figures(tmp_path):
    import json

    sched = tmp_path / "s.json"
    code, out, _ = cli("schedule", "mini-cnn", "--sets", "row", "--json", "--out", str(sched))
    rec = json.loads(out)
    assert code == 0 and (rec["energy_pj"], rec["edp"], rec["noc_energy_pj"], rec["energy"]) == (None,) * 4
    assert "energy" not in cli("schedule", "mini-cnn", "--sets", "row")[1]
    sim = json.loads(cli("simulate", str(sched), "--json")[1])
    assert (sim["energy_pj"], sim["energy"]) == (None, None)
    c = json.loads(cli("compare", "mini-cnn", "--schedulers", "lbl,clsa", "--json")[1])
    assert all(r["energy_pj"] is None for r in c["results"])


def test_energy_is_kept_with_energy_figures():
    import json

    rec = json.loads(cli("schedule", "mini-cnn", "--hw", "isaac-like", "--sets", "row", "--json")[1])
    assert rec["energy_pj"] > 0 and rec["energy_pj"] == pytest.approx(sum(rec["energy"].values()))
    assert rec["edp"] == pytest.approx(rec["energy_pj"] * rec["latency_cycles"])
    assert "  energy        " in cli("schedule", "mini-cnn", "--hw", "isaac-like", "--sets", "row")[1]


def test_compare_on_a_stream_runs_the_defaults_that_schedule_streams():
    """The one-inference schedulers among the defaults stay out (they would refuse the stream after the first
    runs); the layer pipeline joins."""
    import json

    from cimopt.arguments import ONE_INFERENCE
    from cimopt.schedulers import registry

    code, out, _ = cli("compare", "mini-cnn", "--inferences", "2", "--time-limit", "2", "--json")
    ran = [r["scheduler"] for r in json.loads(out)["results"]]
    assert code == 0 and ran == [n for n in registry.defaults(True) if n not in ONE_INFERENCE]
    assert registry.PIPELINE in ran and not set(ran) & set(ONE_INFERENCE)
