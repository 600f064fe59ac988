"""The referee's verdict: violations (one kind per rule) and the measurements of one schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cimopt.energy import PARTS

NEG = -(1 << 60)  # "never needed": the ready time of nothing


KINDS = ("mapping", "placement", "budget", "job", "duration", "pixel-missing", "pixel-doubled", "copy-overlap",
         "dependency", "buffer", "transfer", "tier", "residency", "message", "link")


@dataclass(frozen=True)
class Violation:
    """One broken rule; `message` says precisely what and where."""

    kind: str
    layer: str | None
    set: int | None
    cycle: int | None
    message: str


@dataclass(frozen=True, eq=False)
class SimResult:
    """The referee's verdict and the measurements of one schedule (docs/model.md, "Metrics")."""

    valid: bool
    violations: tuple[Violation, ...]  # at most `max_reports` per kind
    violation_counts: dict[str, int]  # every violation, by kind (kinds with none are left out)
    latency: int
    utilization: float  # busy crossbar-cycles / (budget.pes * latency)
    utilization_mapped: float  # busy crossbar-cycles / (PEs used by the mapping * latency)
    busy_crossbar_cycles: int
    layer_start: tuple[int, ...]  # per MVM layer; -1 for a layer without jobs
    layer_end: tuple[int, ...]
    copy_busy: tuple[tuple[int, ...], ...]  # per layer, per copy: busy cycles
    peak_buffer: tuple[int, ...]  # per tile: peak elements held
    self_timed_latency: int | None
    self_timed_start: np.ndarray | None  # per job, in schedule order
    energy: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))  # part -> pJ per inference
    energy_pj: float = 0.0  # the sum of `energy`
    noc_byte_hops: int | None = None  # bytes x hops of all NoC messages, all inferences (None: no data volume modelled)
    # link contention (None without it: `noc.contention` false); per link id (`cimopt.routing`)
    link_busy: np.ndarray | None = None  # cycles each link carries a message
    link_bytes: np.ndarray | None = None  # bytes each link carries
    link_peak_utilization: float | None = None  # the busiest link's busy cycles / latency
    busiest_link: str | None = None  # e.g. "tile 3 -> tile 4 (east)"
    contention_delay_cycles: int | None = None  # sum over messages of (start - its job's end)
    messages: int | None = None  # well-formed noc transfers
    spill_bytes: int = 0  # bytes moved through the memory tier (spills + fills), all inferences
    spill_write_bytes: int = 0  # of which spilled (tile -> tier)
    spill_read_bytes: int = 0  # of which filled back (tier -> tile)


class Report:
    """Collects violations: all are counted, at most `max_reports` per kind are kept."""

    def __init__(self, max_reports: int) -> None:
        self.max = max(0, max_reports)
        self.items: dict[str, list[Violation]] = {k: [] for k in KINDS}
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)

    def room(self, kind: str) -> int:
        return max(0, self.max - len(self.items[kind]))

    def add(self, kind: str, layer: str | None, set_: int | None, cycle: int | None, message: str) -> None:
        self.counts[kind] += 1
        if self.room(kind):
            self.items[kind].append(Violation(kind, layer, set_, cycle, message))

    def add_many(self, kind: str, count: int, make: Callable[[int], Violation], order: np.ndarray) -> None:
        """Count `count` violations, building messages only for the first ones of `order`."""
        self.counts[kind] += int(count)
        for i in order[: self.room(kind)]:
            self.items[kind].append(make(int(i)))

    def result(self) -> tuple[tuple[Violation, ...], dict[str, int]]:
        return (tuple(v for k in KINDS for v in self.items[k]), {k: n for k, n in self.counts.items() if n})
