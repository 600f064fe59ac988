"""Memory a run will need, checked against what the machine has before the big arrays are built.

A run that would not fit is refused with the estimate, the memory available and a coarser `--sets` that fits,
instead of being killed by the kernel halfway. The byte costs are measured (bench/bench.py `memory` prints
estimate vs measured peak): building the dependencies costs about 75 B each (the src/dst/lag arrays, their
sort and deduplication); scheduling and simulating cost about 150 B per MVM output pixel and 25 B per GPEU
output pixel (the simulator's per-pixel arrays), 270 B per set (schedule columns, list-scheduling state) and
35 B per dependency. The peak is the larger of the two phases. CP-SAT's interleaved search needs about
0.7 MB per set (`CPSAT_BYTES_PER_SET`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from cimopt.errors import InputError
from cimopt.granularity import Granularity
from cimopt.hardware import Hardware
from cimopt.sets import SetCounts, count_sets
from cimopt.workload import Workload

BUILD_BYTES_PER_PIXEL = 8
BUILD_BYTES_PER_SET = 55
BUILD_BYTES_PER_DEPENDENCY = 75
RUN_BYTES_PER_PIXEL = 150
RUN_BYTES_PER_GPEU_PIXEL = 25
RUN_BYTES_PER_SET = 270
RUN_BYTES_PER_DEPENDENCY = 35
CPSAT_BYTES_PER_SET = 700_000  # interleaved search, 2 workers
ENV_AVAILABLE = "CIMOPT_MEMORY_AVAILABLE"  # bytes; overrides /proc/meminfo (for tests and for capping a run)
COARSER = ("block:2x2", "block:4x4", "row", "block:8x8", "rows:2", "rows:4", "rows:8", "rows:16", "rows:32", "layer")


@dataclass(frozen=True)
class Estimate:
    """Peak bytes of building the sets of `counts` and then scheduling and simulating them (a stream of
    `inferences` inputs schedules and simulates every set once per inference)."""

    counts: SetCounts
    inferences: int = 1

    @property
    def build_bytes(self) -> int:
        c = self.counts
        return BUILD_BYTES_PER_PIXEL * c.pixels + BUILD_BYTES_PER_SET * c.sets + BUILD_BYTES_PER_DEPENDENCY * c.dependencies

    @property
    def run_bytes(self) -> int:
        c = self.counts
        return self.inferences * (RUN_BYTES_PER_PIXEL * c.pixels + RUN_BYTES_PER_GPEU_PIXEL * c.gpeu_pixels
                                  + RUN_BYTES_PER_SET * c.sets + RUN_BYTES_PER_DEPENDENCY * c.dependencies)

    @property
    def bytes(self) -> int:
        return max(self.build_bytes, self.run_bytes)


def estimate(workload: Workload, hw: Hardware, granularity: str | Granularity, *, dependencies: bool = True,
             inferences: int = 1) -> Estimate:
    """The estimate for these sets; without `dependencies` a lower bound that takes no time to compute."""
    return Estimate(count_sets(workload, hw, granularity, dependencies=dependencies), inferences)


def _fits(workload: Workload, hw: Hardware, g: Granularity, avail: int, inferences: int) -> Estimate | None:
    """The estimate if it fits in `avail` bytes (the instant lower bound first), else None."""
    if estimate(workload, hw, g, dependencies=False, inferences=inferences).bytes > avail:
        return None
    est = estimate(workload, hw, g, inferences=inferences)
    return est if est.bytes <= avail else None


def available_memory() -> int | None:
    """Bytes the run may still use: $CIMOPT_MEMORY_AVAILABLE, else MemAvailable of /proc/meminfo, else None
    (unknown: no check)."""
    env = os.environ.get(ENV_AVAILABLE)
    if env is not None and env.strip():
        return env_bytes(env)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


MAX_BYTES = 2**60  # an exbibyte: beyond any machine, still an int64


def env_bytes(text: str) -> int:
    """$CIMOPT_MEMORY_AVAILABLE as bytes: a whole number from 1 to 2^60 (`1e9` is fine); an InputError naming
    the variable for anything a machine cannot have (infinite, nan, negative, zero, fractional, too large)."""
    try:
        value = float(text.strip().replace("_", ""))
    except ValueError:
        raise InputError(f"${ENV_AVAILABLE}: expected a number of bytes, got {text!r}") from None
    if not math.isfinite(value) or value < 1 or value > MAX_BYTES or value != int(value):
        raise InputError(f"${ENV_AVAILABLE}: expected a whole number of bytes from 1 to 2^60, got {text.strip()!r}")
    return int(value)


def gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**29 else f"{n / 2**20:.0f} MB"


def check_memory(workload: Workload, hw: Hardware, granularity: str | Granularity,
                 available: int | None = None, inferences: int = 1) -> Estimate | None:
    """The estimate for these sets (None when the memory available is unknown); an InputError if it exceeds
    `available` (default: `available_memory()`), naming the estimate, the memory available and the finest
    coarser granularity that fits."""
    g = granularity if isinstance(granularity, Granularity) else Granularity.parse(granularity)
    avail = available_memory() if available is None else available
    if avail is None:
        return None
    low = estimate(workload, hw, g, dependencies=False, inferences=inferences)
    est = estimate(workload, hw, g, inferences=inferences) if low.bytes <= avail else low
    if est.bytes <= avail:
        return est
    c = est.counts
    fits = "; no coarser --sets fits either: use a machine with more memory or a smaller model"
    for spec in COARSER:
        alt = Granularity.parse(spec)
        if spec == g.spec or (alt.block_h and g.block_h == 0) or (alt.block_w and g.block_w == 0):
            continue  # not coarser along an axis the current granularity already takes whole
        if count_sets(workload, hw, alt, dependencies=False).sets >= c.sets:
            continue
        if (alt_est := _fits(workload, hw, alt, avail, inferences)) is not None:
            fits = (f"; --sets {spec} would fit ({alt_est.counts.sets:,} sets, {alt_est.counts.dependencies:,} "
                    f"dependencies, about {gb(alt_est.bytes)})")
            break
    need = (f"{c.sets:,} sets and {c.dependencies:,} dependencies need about {gb(est.bytes)}" if est is not low
            else f"{c.sets:,} sets need more than {gb(est.bytes)} (before counting their dependencies)")
    stream = f" x {inferences} inferences" if inferences > 1 else ""
    raise InputError(f"{workload.name} with --sets {g.spec}{stream}: {need}, {gb(avail)} of memory is available"
                     f"{fits}")
