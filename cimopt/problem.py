"""The scheduling problem: everything fixed before a scheduler runs (model, chip, mapping, sets)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cimopt.duplication import duplicate
from cimopt.hardware import Hardware, load_hardware
from cimopt.mapping import Budget, Mapping, resolve_budget
from cimopt.sets import SetGraph, build_sets
from cimopt.workload import Workload

DEFAULT_MODEL = "tiny-yolov3"


def load_model(spec: str | Path | Workload) -> Workload:
    """A Workload from a zoo name, an ONNX path, or as given."""
    if isinstance(spec, Workload):
        return spec
    from cimopt.zoo import load_model as zoo_load

    return zoo_load(spec)


@dataclass(frozen=True)
class Problem:
    """Everything fixed before scheduling: the model, the chip, the mapping and the sets."""

    model: str
    workload: Workload
    hardware: Hardware
    budget: Budget
    mapping: Mapping
    sets: SetGraph


def prepare(model: str | Path | Workload = DEFAULT_MODEL, hardware: str | Path | Hardware | None = None, *,
            dup: str = "none", pes: int | None = None, tiles: int | None = None, extra_pes: int | None = None,
            sets: str = "pixel") -> Problem:
    """Load model and hardware, size the chip, duplicate weights, cut sets and find dependencies."""
    workload = load_model(model)
    hw = hardware if isinstance(hardware, Hardware) else load_hardware(hardware)
    budget = resolve_budget(workload, hw, pes=pes, tiles=tiles, extra_pes=extra_pes)
    mapping = duplicate(workload, hw, budget, dup)
    name = model if isinstance(model, str) else (str(model) if isinstance(model, Path) else workload.name)
    return Problem(name, workload, hw, budget, mapping, build_sets(workload, hw, sets))


def with_duplication(problem: Problem, dup: str) -> Problem:
    """The same problem with another duplication strategy (same budget and sets)."""
    if dup == problem.mapping.strategy:
        return problem
    return replace(problem, mapping=duplicate(problem.workload, problem.hardware, problem.budget, dup))
