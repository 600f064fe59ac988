"""The scheduling problem: everything fixed before a scheduler runs (model, chip, mapping, sets)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cimopt.duplication import duplicate
from cimopt.errors import InputError
from cimopt.hardware import Hardware, load_hardware, with_contention
from cimopt.mapping import Budget, Mapping, resolve_budget
from cimopt.memory import check_memory
from cimopt.placement import place, resolve
from cimopt.sets import SetGraph, build_sets
from cimopt.workload import Workload, require_layers

DEFAULT_MODEL = "tiny-yolov3"


def load_model(spec: str | Path | Workload) -> Workload:
    """A Workload from a zoo name, an ONNX path, or as given."""
    if isinstance(spec, Workload):
        return spec
    from cimopt.zoo import load_model as zoo_load

    return zoo_load(spec)


@dataclass(frozen=True)
class Problem:
    """Everything fixed before scheduling: the model, the chip, the mapping and the sets, and the stream of
    `inferences` inputs (input k available at cycle `k * arrival_interval`) that share them."""

    model: str
    workload: Workload
    hardware: Hardware
    budget: Budget
    mapping: Mapping
    sets: SetGraph
    inferences: int = 1
    arrival_interval: int = 0
    placement: str = "sequential"  # how the mapping's copies were placed on tiles (`cimopt.placement`)

    @property
    def is_stream(self) -> bool:
        return self.inferences != 1 or self.arrival_interval != 0


def check_stream(inferences: int, arrival_interval: int) -> None:
    """A clear error for a stream that cannot be: fewer than one inference, or a negative interval."""
    for flag, v, low in (("--inferences", inferences, 1), ("--arrival-interval", arrival_interval, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise InputError(f"{flag} must be an integer >= {low}, got {v!r}")


def prepare(model: str | Path | Workload = DEFAULT_MODEL, hardware: str | Path | Hardware | None = None, *,
            dup: str = "none", pes: int | None = None, tiles: int | None = None, extra_pes: int | None = None,
            sets: str = "pixel", inferences: int = 1, arrival_interval: int = 0,
            placement: str = "auto", buffer: int | str | None = None, contention: bool | None = None) -> Problem:
    """Load model and hardware, size the chip, duplicate weights, cut sets and find dependencies (once: a
    stream of `inferences` inputs shares them), place the copies (`auto`: for the tile buffers when they are
    finite). `buffer` overrides the hardware's `buffer.elements_per_tile` (elements, or a size such as "64KB",
    "inf"; `sizes.parse_capacity`); `contention`: link contention on or off (None: as the hardware says).
    Refused up front, with a coarser granularity that fits, if the run would need more memory than is
    available (`cimopt.memory`)."""
    check_stream(inferences, arrival_interval)
    workload = require_layers(load_model(model))
    hw = hardware if isinstance(hardware, Hardware) else load_hardware(hardware)
    if buffer is not None:
        from cimopt.sizes import parse_capacity

        hw = replace(hw, buffer_elements=parse_capacity(buffer, hw) if isinstance(buffer, str) else buffer)
    if contention is not None:
        hw = with_contention(hw, contention)
    placement = resolve(placement, hw)
    budget = resolve_budget(workload, hw, pes=pes, tiles=tiles, extra_pes=extra_pes)
    mapping = duplicate(workload, hw, budget, dup)
    name = model if isinstance(model, str) else (str(model) if isinstance(model, Path) else workload.name)
    check_memory(workload, hw, sets, inferences=inferences)
    set_graph = build_sets(workload, hw, sets)
    if placement != "sequential":  # copies on tiles for least NoC traffic (cimopt.placement)
        mapping = place(workload, set_graph, hw, mapping, placement)
    return Problem(name, workload, hw, budget, mapping, set_graph, inferences, arrival_interval, placement)


def with_placement(problem: Problem, placement: str) -> Problem:
    """The same problem with its copies placed by another strategy."""
    placement = resolve(placement, problem.hardware)
    if placement == problem.placement:
        return problem
    mapping = place(problem.workload, problem.sets, problem.hardware, problem.mapping, placement)
    return replace(problem, mapping=mapping, placement=placement)


def with_duplication(problem: Problem, dup: str) -> Problem:
    """The same problem with another duplication strategy (same budget, sets and placement strategy)."""
    if dup == problem.mapping.strategy:
        return problem
    mapping = duplicate(problem.workload, problem.hardware, problem.budget, dup)
    if problem.placement != "sequential":
        mapping = place(problem.workload, problem.sets, problem.hardware, mapping, problem.placement)
    return replace(problem, mapping=mapping)


def with_stream(problem: Problem, inferences: int = 1, arrival_interval: int = 0) -> Problem:
    """The same problem for another stream (same mapping and sets)."""
    check_stream(inferences, arrival_interval)
    return replace(problem, inferences=inferences, arrival_interval=arrival_interval)
