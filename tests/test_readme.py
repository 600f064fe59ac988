"""The README's quick examples produce exactly the output it shows (scripts/readme_examples.py; the full check,
every example, is `python scripts/readme_examples.py`, and `--update` regenerates them)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_examples():
    spec = importlib.util.spec_from_file_location("_cimopt_readme_examples", ROOT / "scripts" / "readme_examples.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses need their module registered
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    return mod


def test_quick_readme_examples_match():
    mod = readme_examples()
    assert sum(ex.quick for ex in mod.parse((ROOT / "README.md").read_text().splitlines())) >= 5
    problems = mod.check(quick=True, in_process=True, log=lambda s: None)
    assert not problems, "README examples differ (python scripts/readme_examples.py --update):\n" + "\n".join(problems)


def test_the_check_catches_a_changed_number_and_an_exit_code(tmp_path):
    mod = readme_examples()
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- check quick -->\n```\n$ cimopt inspect mini-cnn")
    block = text[start:text.index("```\n", text.index("$ cimopt inspect", start)) + 4]
    wrong = block.replace("1,401,152", "1,401,153").replace("<!-- check quick -->", "<!-- check quick exit=1 -->")
    (tmp_path / "README.md").write_text(wrong)
    problems = mod.check(tmp_path / "README.md", in_process=True, log=lambda s: None)
    assert any("numbers differ (1,401,153 -> 1,401,152)" in p for p in problems)
    assert any("exited 0, expected 1" in p for p in problems)
    mod.check(tmp_path / "README.md", update=True, in_process=True, log=lambda s: None)
    assert "1,401,152" in (tmp_path / "README.md").read_text()
