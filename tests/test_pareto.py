"""The Pareto design sweep (issue 20): crossbar and link axes, steady state and area per point, the Pareto mark
in the CSV and its plot, invalid points recorded honestly, and the reproduce part."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimopt.cli import main
from cimopt.experiments.pareto import OBJECTIVES, front, mark_pareto
from cimopt.experiments.sweep import Point, SweepSpec, read_csv, run_sweep
from cimopt.hardware import Hardware
from tests.graphs import residual_block

CHIP = Hardware(
    name="toy", xbar_rows=16, xbar_cols=16, mvm_cycles=2, mvm_ns=20.0, pes_per_tile=2, noc_hop_cycles=1, bits=16,
    link_bytes_per_cycle=8, energy_mvm_pj=100.0, energy_buffer_pj=1.0, energy_noc_pj=2.0, energy_static_pj=5.0,
    power_noc_bytes_per_ns=0.5, area_pe_mm2=0.01, area_noc_mm2=0.02, area_tile_mm2=0.03, area_buffer_mm2_per_kib=0.1,
    area_buffer_kib=1.0, area_offchip_mm2=1.0)


def test_front_by_hand():
    pts = np.array([[1, 2], [2, 1], [2, 2], [1, 2], [3, 0]])
    assert front(pts).tolist() == [True, True, False, True, True]


def test_mark_pareto_keeps_invalid_points_out():
    base = {"model": "m", "granularity": "row", "inferences": 1, "valid": True, "steady_valid": True}
    rows = [base | dict(zip(OBJECTIVES, v, strict=True)) for v in ([1, 1, 1, 1, 1], [2, 2, 2, 2, 2], [0, 9, 9, 9, 9])]
    rows += [base | dict(zip(OBJECTIVES, [0, 0, 0, 0, 0], strict=True)) | {"valid": False},
             base | dict(zip(OBJECTIVES, [0, 0, 0, 0, 0], strict=True)) | {"steady_valid": False},
             base | {"latency_cycles": None, "valid": None, "status": "NO_SOLUTION"},
             base | dict(zip(OBJECTIVES, [5, 5, 5, 5, 5], strict=True)) | {"model": "other"}]
    assert [r["pareto"] for r in mark_pareto(rows)] == [True, False, True, None, None, None, True]


def test_design_sweep_axes_pareto_and_resume(tmp_path):
    spec = SweepSpec(models=(residual_block(),), budget_kind="extra_pes", budgets=(0, 4), schedulers=("clsa",),
                     duplications=("greedy",), granularities=("row",), hardware=CHIP, crossbars=(8, 16),
                     links=(4, 8), pareto=True)
    res = run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    rows = read_csv(tmp_path / "s" / "sweep.csv")
    assert len(rows) == 2 * 2 * 2 and all(isinstance(r["pareto"], bool) for r in rows)
    assert {r["crossbar"] for r in rows} == {"8x8", "16x16"} and {r["link_bytes_per_cycle"] for r in rows} == {4, 8}
    assert any(r["pareto"] for r in rows)
    assert (tmp_path / "s" / "resblock-pareto.png").exists()
    for r in rows:
        assert r["valid"] and r["steady_valid"] and r["steady_periods"] >= 2
        assert r["steady_interval_cycles"] <= r["latency_cycles"] and r["steady_energy_pj"] <= r["energy_pj"]
        # area by hand: tiles x (PEs per tile x 0.01, scaled by the columns and by an ADC bit less for half the
        # rows, + 1 KiB x 0.1 + NoC 0.02 scaled by the link + 0.03) + 1.0 off-chip
        size = int(r["crossbar"].split("x")[1])
        f, g = size / 16 * (1828 / 1200) ** np.log2(size / 16), r["link_bytes_per_cycle"] / 8
        assert r["area_mm2"] == pytest.approx(r["tiles"] * (2 * 0.01 * f + 0.1 + 0.02 * g + 0.03) + 1.0)
    # smaller crossbars need more of them
    assert min(r["min_pes"] for r in rows if r["crossbar"] == "8x8") > max(r["min_pes"] for r in rows
                                                                             if r["crossbar"] == "16x16")
    again = run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    assert again.computed == 0 and again.rows == res.rows


def test_buffers_below_the_peak_are_invalid_and_do_not_compete(tmp_path):
    spec = SweepSpec(models=(residual_block(),), budget_kind="extra_pes", budgets=(0,), schedulers=("clsa",),
                     duplications=("greedy",), granularities=("row",), hardware=CHIP, buffers=("8", "inf"), pareto=True)
    res = run_sweep(spec, tmp_path / "s", workers=1, progress=False, plots=False)
    small, inf = res.rows
    assert small["valid"] is False and small["pareto"] is None and small["steady_valid"] is False
    assert inf["valid"] and inf["pareto"] is True


def test_point_keys_of_older_sweeps_stay():
    p = Point("m", "hw", "extra_pes", 0, "row", "none", "clsa")
    assert "crossbar" not in p.key and "link" not in p.key and "steady" not in p.key


def test_sweep_cli_flags(tmp_path, capsys):
    assert main(["sweep", "mini-cnn", "--sets", "row", "--crossbar", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--crossbar: every value must be an integer >= 1" in capsys.readouterr().err
    out = tmp_path / "b"
    assert main(["sweep", "mini-cnn", "--hw", "isaac-like", "--sets", "row", "--schedulers", "clsa", "--link",
                 "24,48", "--pareto", "--workers", "1", "--quiet", "--json", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["link_bytes_per_cycle"] for r in rows] == [24, 48] and all(r["pareto"] is not None for r in rows)
    # the narrower link: less area (its routers are narrower)
    assert rows[0]["area_mm2"] < rows[1]["area_mm2"]


def test_reproduce_pareto_part(tmp_path):
    from cimopt.experiments.reproduce import Config, ParetoStudy, reproduce

    toml = tmp_path / "toy.toml"
    toml.write_text("""name = "toy"
[crossbar]
rows = 16
cols = 16
mvm_cycles = 2
mvm_ns = 20.0
[chip]
pes_per_tile = 2
bits = 16
[noc]
hop_cycles = 1
link_bytes_per_cycle = 8
[energy]
mvm_pj = 100.0
buffer_pj = 1.0
noc_pj = 2.0
static_pj = 5.0
[area]
pe_mm2 = 0.01
noc_mm2 = 0.02
tile_mm2 = 0.03
buffer_mm2_per_kib = 0.1
""")
    study = ParetoStudy("pareto-toy", (residual_block,), hardware=str(toml), extra_pes=(0, 4), crossbars=(16,),
                        links=(8,), buffers=("4096",), inferences=8, reference=(4, 16, 8))
    res = reproduce(out=tmp_path / "r", config=Config("toy", (residual_block,), (0,), parts=("pareto",), pareto=study),
                    workers=1, progress=False, command="cimopt reproduce --toy")
    text = (tmp_path / "r" / "README.md").read_text()
    assert "## 1. Design space" in text and "Pareto-optimal designs" in text and "resblock-pareto.png" in text
    ref = res.tables["isaac_reference"]
    assert ref["valid"] and ref["inferences"] == 8 and ref["ratio"] == pytest.approx(
        ref["steady_energy_pj"] / ref["isaac_pj"])
    assert all(r["pareto"] for r in res.tables["pareto"])
