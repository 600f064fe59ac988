"""Chip totals (issue 20): the isaac-like preset pinned to ISAAC's Tables I and IV, and a one-tile chip whose
power, area and steady-state energy are computed by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cimopt import api
from cimopt.chip import chip_area_mm2, chip_totals, with_crossbar, with_link
from cimopt.cli import main
from cimopt.errors import InputError
from cimopt.hardware import Hardware, load_hardware, parse_hardware
from cimopt.schedule import Schedule
from cimopt.steady import periodic_record, run_periodic
from tests.graphs import pointwise_chain


def near(value: float, target: float, tol: float = 0.03) -> bool:
    return abs(value / target - 1) <= tol


def test_isaac_like_is_pinned_to_isaac_tables_i_and_iv():
    """ISAAC (ISCA 2016) Table I: a tile draws 330 mW in 0.372 mm2; the chip's 168 tiles 55.4 W in 62.5 mm2, its
    HyperTransport link 10.4 W in 22.88 mm2, the chip 65.8 W in 85.4 mm2; Table IV: 627.5 GOPS/W and 478.95
    GOPS/(s mm2). The paper's 65.8 W includes the off-chip link: without it the chip (its 168 tiles) draws
    55.4 W. We pin both: `tiles_power_w` (the chip without its off-chip link) to 55.4 W and `chip_power_w`
    (with it) to 65.8 W, and the efficiencies to Table IV, which divides the peak (41.3 TOPS, every crossbar
    busy) by the 65.8 W and the 85.4 mm2 of the whole chip."""
    t = chip_totals(load_hardware("isaac-like"), 168)
    assert near(t.tile_power_mw, 330) and near(t.tile_area_mm2, 0.372)
    assert near(t.tiles_power_w, 55.4) and near(t.offchip_power_w, 10.4, 0) and near(t.chip_power_w, 65.8)
    assert near(t.chip_area_mm2, 85.4) and near(168 * t.tile_area_mm2, 62.5)
    assert near(t.peak_gops_per_w, 627.5) and near(t.peak_gops_per_mm2, 478.95)
    # every crossbar busy: 16,128 crossbars x 2 x 128 rows x 16 weights per 1.6 us
    assert t.peak_gops == pytest.approx(168 * 96 * 2 * 128 * 16 / 1600)
    # the parts add up, and the IMAs are ISAAC's 289 mW for 12 (24.08 mW each, the leakage in static)
    parts = dict(t.tile_power_parts_mw)
    assert sum(parts.values()) == pytest.approx(t.tile_power_mw)
    assert near(parts["crossbars"] + 12 * 2.391, 289, 0.001)


def test_isaac_like_counts_the_edram_once():
    """The eDRAM's 20.7 mW is split: its leakage (0.46 mW) is static power, the rest is charged per access at the
    eDRAM's full rate (19.2 elements per ns); with the bus and output register the buffer flat out is 27.92 mW
    and the static power is the tile's leakage only (30.5 mW, not the eDRAM's whole power)."""
    hw = load_hardware("isaac-like")
    assert hw.energy_buffer_pj * hw.power_buffer_elements_per_ns == pytest.approx(20.7 + 7 + 1.68 - (0.46 + 0.5 + 0.5),
                                                                                 abs=0.01)
    assert hw.energy_static_pj / hw.cycle_ns == pytest.approx(30.51, abs=0.01)
    assert 1.1 <= hw.energy_buffer_pj <= 5.4  # inside the published range per 16-bit element


# A one-tile chip: 2 crossbars of 4 x 4 one-bit cells, 2 cycles of 10 ns per MVM, a 1 KiB buffer (1,024 8-bit
# elements), and round figures for every energy, rate and area.
ONE_TILE = Hardware(
    name="one-tile", xbar_rows=4, xbar_cols=4, mvm_cycles=2, mvm_ns=20.0, pes_per_tile=2, tiles=1,
    buffer_elements=1024, energy_mvm_pj=100.0, energy_buffer_pj=1.0, energy_noc_pj=2.0, energy_static_pj=50.0,
    energy_gpeu_pj=(("pool", 4.0),), power_buffer_elements_per_ns=3.0, power_noc_bytes_per_ns=0.5,
    power_gpeu_per_ns=(("pool", 1.0),), power_offchip_mw=100.0, area_pe_mm2=0.01, area_noc_mm2=0.02,
    area_tile_mm2=0.03, area_buffer_mm2_per_kib=0.1, area_offchip_mm2=1.0)


def test_one_tile_chip_by_hand():
    t = chip_totals(ONE_TILE, 1)
    # static 50 pJ / 10 ns = 5 mW; crossbars 2 x 100 pJ / 20 ns = 10 mW; buffer 1 pJ x 3 per ns = 3 mW;
    # NoC 2 pJ x 0.5 B per ns = 1 mW; max-pool unit 4 pJ x 1 per ns = 4 mW
    assert dict(t.tile_power_parts_mw) == {"static": 5.0, "crossbars": 10.0, "buffer": 3.0, "noc": 1.0, "gpeu": 4.0}
    assert t.tile_power_mw == 23.0 and t.tiles_power_w == 0.023 and t.chip_power_w == pytest.approx(0.123)
    # area: 2 x 0.01 + 1 KiB x 0.1 + 0.02 + 0.03 = 0.17 per tile; + 1.0 for the off-chip link
    assert t.tile_area_mm2 == pytest.approx(0.17) and t.chip_area_mm2 == pytest.approx(1.17)
    # peak: 2 crossbars x 2 x 4 x 4 operations per 20 ns = 3.2 GOPS
    assert t.peak_gops == pytest.approx(3.2)
    assert t.peak_gops_per_w == pytest.approx(3.2 / 0.123) and t.peak_gops_per_mm2 == pytest.approx(3.2 / 1.17)


def test_one_tile_steady_state_energy_by_hand():
    """Two 1x1 convs (4 channels, 4 x 4 pixels), row sets: each row is 4 pixels x 2 cycles = 8 cycles; conv 0 runs
    its rows at 0, 8, 16, 24, conv 1 each row 8 cycles later: one inference takes 40 cycles, each copy works 32
    per inference, so the period repeats every 32. Per inference: MVM 32 pixels x 1 crossbar x 100 pJ = 3,200;
    buffer (32 x 4 written + 32 x 4 read) x 1 pJ = 256; no NoC (one tile), no GPEU op; static 50 pJ x 1 tile
    x 32 cycles = 1,600 in steady state (not x 40, one inference's latency): 5,056 pJ."""
    p = api.prepare(pointwise_chain(2, 4), ONE_TILE, sets="row", inferences=10)
    run = run_periodic(p)
    assert (run.periodic.interval, run.periodic.latency, run.periodic.periods) == (32, 40, 2) and run.sim.valid
    rec = periodic_record(p, run)
    assert rec.steady_static_pj == 1600.0 and rec.steady_energy_pj == 3200 + 256 + 1600
    # the stream of 10: makespan 40 + 9 x 32 = 328 cycles, static shared by the 10 inferences
    assert rec.latency_cycles == 328 and rec.energy_pj == pytest.approx(3200 + 256 + 50 * 328 / 10)
    assert rec.area_mm2 == pytest.approx(1.17)


def test_area_and_power_tables_parse_and_check(tmp_path):
    base = {"crossbar": {"rows": 4, "cols": 4, "mvm_cycles": 1}, "chip": {"pes_per_tile": 2}}
    hw = parse_hardware(base | {"area": {"pe_mm2": 0.5, "buffer_kib": 8, "buffer_mm2_per_kib": 0.25},
                                "power": {"offchip_mw": 7.0, "gpeu": {"pool": 2.0}}})
    assert (hw.area_pe_mm2, hw.area_buffer_kib, hw.power_offchip_mw, hw.power_gpeu_per_ns) == (
        0.5, 8.0, 7.0, (("pool", 2.0),))
    assert chip_area_mm2(hw, 3) == pytest.approx(3 * (2 * 0.5 + 8 * 0.25))
    for bad, needle in (({"area": {"pe_mm2": -1}}, "area.pe_mm2: must be"),
                        ({"area": {"core_mm2": 1}}, "unknown field area.core_mm2"),
                        ({"power": {"gpeu": {"poool": 1}}}, "unknown GPEU kind 'poool'"),
                        ({"power": {"noc_bytes_per_ns": "fast"}}, "power.noc_bytes_per_ns: expected a number")):
        with pytest.raises(InputError, match="hw.toml") as exc:
            parse_hardware(base | bad, str(tmp_path / "hw.toml"))
        assert needle in str(exc.value)


def test_saved_schedule_keeps_the_chip_figures(tmp_path):
    p = api.prepare(pointwise_chain(2, 4), ONE_TILE, sets="row")
    r = api.run(p, "clsa")
    r.schedule.save(tmp_path / "s.json")
    assert Schedule.load(tmp_path / "s.json").hardware == ONE_TILE
    # a chip without them writes the file it always did (no area or power keys)
    plain = api.run(api.prepare(pointwise_chain(2, 4), Hardware(), sets="row"), "clsa").schedule.to_json()
    assert not any(k.startswith(("area_", "power_")) for k in plain["hardware"])


def test_variants_scale_as_documented():
    hw = load_hardware("isaac-like")
    big = with_crossbar(hw, 256, 256)  # twice the columns, one more ADC bit: 1.67 -> 1.97 pJ, 1,200 -> 1,828 um2
    assert big.energy_mvm_pj == pytest.approx(2 * hw.energy_mvm_pj * 1.97 / 1.67)
    assert big.area_pe_mm2 == pytest.approx(2 * hw.area_pe_mm2 * 1828 / 1200) and big.mvm_cycles == hw.mvm_cycles
    wide_only = with_crossbar(hw, 128, 256)
    assert wide_only.energy_mvm_pj == pytest.approx(2 * hw.energy_mvm_pj)
    wide = with_link(hw, 96)
    assert wide.power_noc_bytes_per_ns == pytest.approx(2 * hw.power_noc_bytes_per_ns)
    assert wide.area_noc_mm2 == pytest.approx(2 * hw.area_noc_mm2) and wide.energy_noc_pj == hw.energy_noc_pj
    assert with_crossbar(hw, 128, 128) is hw and with_link(hw, 48) is hw


def test_inspect_prints_the_chip(capsys):
    assert main(["inspect", "mini-cnn", "--hw", "isaac-like", "--json"]) == 0
    chip = json.loads(capsys.readouterr().out)["chip"]
    assert chip["tiles"] == 168 and near(chip["chip_power_w"], 65.8) and near(chip["chip_area_mm2"], 85.4)
    assert set(chip) >= {"tile_power_mw", "chip_power_w", "tile_area_mm2", "chip_area_mm2", "peak_gops",
                         "peak_gops_per_w", "peak_gops_per_mm2"}
    assert main(["inspect", "mini-cnn", "--hw", "isaac-like", "--tiles", "4"]) == 0
    out = capsys.readouterr().out
    assert "chip (4 tiles): 329.8 mW per tile flat out" in out and "peak (every crossbar busy)" in out
    assert main(["inspect", "mini-cnn", "--json"]) == 0  # no figures: powers None, area 0, no chip lines
    chip = json.loads(capsys.readouterr().out)["chip"]
    assert chip["chip_power_w"] is None and chip["chip_area_mm2"] == 0
    assert main(["inspect", "mini-cnn"]) == 0 and "chip (" not in capsys.readouterr().out


def test_record_has_area_and_crossbar():
    p = api.prepare(pointwise_chain(2, 4), replace(ONE_TILE, tiles=None), sets="row", tiles=3)
    rec = api.record(p, api.run(p, "clsa"))
    assert rec.area_mm2 == pytest.approx(3 * 0.17 + 1.0) and rec.crossbar == "4x4"


def test_chip_part_recomputes_records_of_another_chip(tmp_path):
    """Results of the chip part are kept per chip: an edited hardware file (new energy figures) is recomputed,
    never read back from records made with the old one."""
    from cimopt.experiments.reproduce import ChipStudy, chip_rows

    toml = tmp_path / "hw.toml"
    text = ("[crossbar]\nrows = 16\ncols = 16\nmvm_cycles = 1\nmvm_ns = 10.0\n[chip]\npes_per_tile = 2\n"
            "[energy]\nmvm_pj = 10.0\nstatic_pj = {}\n")
    toml.write_text(text.format(1.0))
    study = ChipStudy("c", (lambda: pointwise_chain(2, 4),), hardware=str(toml), extra_pes=0, time_limit=1.0,
                      placements=("sequential",))
    first, _, _ = chip_rows(study, tmp_path / "c")
    again, _, _ = chip_rows(study, tmp_path / "c")
    assert again == first  # reused as they are
    toml.write_text(text.format(2.0))
    changed, _, _ = chip_rows(study, tmp_path / "c")
    assert [r["energy"]["static"] for r in changed] == [2 * r["energy"]["static"] for r in first]
