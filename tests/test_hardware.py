import pytest

from cimopt.errors import InputError
from cimopt.hardware import Hardware, load_hardware, parse_hardware

BASE = {"crossbar": {"rows": 256, "cols": 256, "mvm_cycles": 1}, "chip": {"pes_per_tile": 16}}


def test_default_is_the_abstract_paper_model():
    hw = load_hardware()
    assert (hw.xbar_rows, hw.xbar_cols, hw.mvm_cycles, hw.pes_per_tile) == (256, 256, 1, 16)
    assert hw.tiles is None and hw.noc_hop_cycles == 0 and hw.buffer_elements is None
    assert hw.gpeu_cost("pool") == 0


def test_presets_by_name():
    assert load_hardware("paper-512").xbar_rows == 512
    hw = load_hardware("noc-mesh")
    assert hw.noc_hop_cycles == 2 and hw.gpeu_cost("pool") == 1 and hw.gpeu_cost("activation") == 0
    assert hw.gpeu_latency("pool", 64) == 64


@pytest.mark.parametrize("section,key,value,needle", [
    ("crossbar", "rows", 0, "crossbar.rows: must be > 0"),
    ("crossbar", "cols", -4, "crossbar.cols: must be > 0"),
    ("crossbar", "mvm_cycles", 1.5, "crossbar.mvm_cycles: expected an integer"),
    ("chip", "pes_per_tile", 0, "chip.pes_per_tile"),
    ("chip", "tiles", -1, "chip.tiles"),
    ("chip", "cores", 3, "unknown field chip.cores"),
])
def test_bad_values_name_file_and_field(tmp_path, section, key, value, needle):
    d = {k: dict(v) for k, v in BASE.items()}
    d[section][key] = value
    with pytest.raises(InputError, match="hw.toml") as exc:
        parse_hardware(d, str(tmp_path / "hw.toml"))
    assert needle in str(exc.value)


def test_missing_field_and_section(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text("[crossbar]\nrows = 128\nmvm_cycles = 1\n[chip]\npes_per_tile = 4\n")
    with pytest.raises(InputError, match=r"x\.toml: missing field crossbar\.cols"):
        load_hardware(f)
    f.write_text("[crossbar]\nrows = 128\ncols = 128\nmvm_cycles = 1\n")
    with pytest.raises(InputError, match=r"missing section \[chip\]"):
        load_hardware(f)
    f.write_text("[crossbar\nrows=")
    with pytest.raises(InputError, match="not valid TOML"):
        load_hardware(f)
    with pytest.raises(InputError, match="no such hardware file"):
        load_hardware(tmp_path / "nope.toml")


def test_mesh_and_hops():
    hw = Hardware(noc_hop_cycles=2)
    assert hw.mesh_shape(16) == (4, 4)
    assert hw.mesh_shape(6) == (2, 3)
    assert hw.hops(0, 15, 16) == 6
    assert hw.hops(5, 6, 16) == 1
    with pytest.raises(InputError, match="noc.mesh"):
        parse_hardware(BASE | {"chip": {"pes_per_tile": 4, "tiles": 9}, "noc": {"mesh": [2, 2]}}, "m.toml")
