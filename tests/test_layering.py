"""The package's import graph has no circle across packages (README, "Layout"): data flows one way."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import cimopt

ROOT = Path(cimopt.__file__).parent


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """What a circle is counted between: a subpackage as a whole (`cimopt.onnx`), a top-level module alone."""
    parts = module.split(".")
    if len(parts) >= 2 and (ROOT / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _imports(path: Path, module: str) -> set[str]:
    """Every cimopt module `path` imports, at any depth (function-level imports too), except under
    `if TYPE_CHECKING:` (annotations only, never executed)."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    out = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("cimopt")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("cimopt"):
                continue
            for a in node.names:  # `from cimopt.x import y`: y may be a module of package x
                sub = f"{base}.{a.name}"
                out.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                        or (ROOT.parent / sub.replace(".", "/")).is_dir() else base)
    return out


def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for path in sorted(ROOT.rglob("*.py")):
        mod = _module(path)
        for dep in _imports(path, mod):
            a, b = _unit(mod), _unit(dep)
            if a != b and b != "cimopt":
                g.add_edge(a, b)
    return g


def test_no_import_circle_across_packages():
    g = import_graph()
    cycles = list(nx.simple_cycles(g))
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles[:10])


def test_the_referee_imports_no_scheduler_or_analysis():
    g = import_graph()
    reach = nx.descendants(g, "cimopt.simulator") if "cimopt.simulator" in g else set()
    assert not {n for n in reach if n.startswith(("cimopt.schedulers", "cimopt.analysis", "cimopt.sets"))}


def test_the_core_knows_no_screen():
    """Nothing below the API imports the CLI, the experiments or plotting."""
    g = import_graph()
    front = {"cimopt.cli", "cimopt.experiments", "cimopt.api", "cimopt.arguments", "cimopt.report"}
    for core in ("cimopt.problem", "cimopt.schedulers", "cimopt.analysis", "cimopt.simulator", "cimopt.onnx"):
        if core in g:
            assert not (nx.descendants(g, core) & front), core
