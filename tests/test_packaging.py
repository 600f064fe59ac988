"""The wheel carries the bundled models, hardware presets and report templates (they live inside the package)."""

import subprocess
import sys
import zipfile
from pathlib import Path

from cimopt.hardware import HARDWARE_DIR
from cimopt.zoo import MODELS_DIR, ZOO

REPO = Path(__file__).resolve().parent.parent


def test_wheel_holds_models_presets_and_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("cimopt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ZOO.values():
        assert f"cimopt/data/models/{f}" in names
    presets = sorted(p.name for p in HARDWARE_DIR.glob("*.toml"))
    assert "default.toml" in presets
    for p in presets:
        assert f"cimopt/data/hardware/{p}" in names
    templates = sorted(p.name for p in (REPO / "cimopt" / "experiments" / "templates").glob("*.md"))
    assert templates and all(f"cimopt/experiments/templates/{t}" in names for t in templates)
    dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(f"{dist}/METADATA").decode()
    assert "License-Expression: MIT" in meta.splitlines() and f"{dist}/licenses/LICENSE" in names
    assert zipfile.ZipFile(wheel).read(f"{dist}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()


def test_top_level_folders_are_the_package_data():
    """models/ and hardware/ at the top of the repo are the bundled folders themselves (no copies kept by hand)."""
    assert (REPO / "models").resolve() == MODELS_DIR.resolve()
    assert (REPO / "hardware").resolve() == HARDWARE_DIR.resolve()
