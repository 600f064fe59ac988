"""Energy per inference from activity counts: the arithmetic of the `[energy]` hardware section.

The simulator counts what happens (crossbar activations, buffer accesses, NoC bytes x hops, GPEU output
elements, tile-cycles) on its own; this module only prices the counts. Six parts, in picojoules:
- `mvm`: per crossbar activation (one MVM of one crossbar, its ADC conversions included);
- `buffer`: per element written to or read from a tile buffer;
- `noc`: per byte per hop;
- `gpeu`: per output element of a GPEU operation, by kind;
- `static`: per tile per cycle, over the latency;
- `memory`: per byte moved to or from the memory tier (`[memory] pj_per_byte`: spills and fills).
Counts are of the whole schedule; energies are per inference (a stream of N inferences: the counts / N, the
static part of the chip powered for the whole stream shared by its N inferences). `energy_pj` is their sum,
taken in this order (so it equals `sum(parts.values())` exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

from cimopt.hardware import Hardware

PARTS = ("mvm", "buffer", "noc", "gpeu", "static", "memory")


@dataclass(frozen=True)
class Activity:
    """What a schedule does, as counted by the simulator (all its inferences together)."""

    crossbar_activations: int  # sum over computed pixels of the crossbars of their copy
    buffer_writes: int  # elements written into tile buffers (every MVM output element)
    buffer_reads: int  # elements read from tile buffers (every MVM input vector)
    noc_byte_hops: int  # sum over NoC messages of bytes x hops
    gpeu_elements: tuple[tuple[str, int], ...]  # (kind, output elements)
    tile_cycles: int  # tiles x latency
    inferences: int = 1
    tier_bytes: int = 0  # bytes moved to and from the memory tier


def energy_parts(hw: Hardware, a: Activity) -> dict[str, float]:
    """Picojoules per inference and part (every part of PARTS, 0.0 where the hardware gives no figure)."""
    n = max(a.inferences, 1)
    return {
        "mvm": float(a.crossbar_activations * hw.energy_mvm_pj) / n,
        "buffer": float((a.buffer_writes + a.buffer_reads) * hw.energy_buffer_pj) / n,
        "noc": float(a.noc_byte_hops * hw.energy_noc_pj) / n,
        "gpeu": float(sum(c * hw.gpeu_energy(kind) for kind, c in a.gpeu_elements)) / n,
        "static": float(a.tile_cycles * hw.energy_static_pj) / n,
        "memory": float(a.tier_bytes * hw.tier_pj_per_byte) / n,
    }


def steady_parts(hw: Hardware, parts: dict[str, float], tiles: int, interval: float) -> dict[str, float]:
    """Energy per inference in steady state: the dynamic parts of one inference (`parts`, per inference) and
    static power over the initiation interval (`static_pj x tiles x interval`), not over a latency: in a
    stream the tiles are powered all the time and one inference finishes per interval."""
    return parts | {"static": float(hw.energy_static_pj * tiles * interval)}


def steady_fields(hw: Hardware, parts: dict[str, float], tiles: int, interval: float | None) -> dict:
    """A run record's steady-state energy fields (`steady_energy_pj`, `steady_static_pj`) from per-inference
    parts and an interval (None: both None)."""
    if interval is None:
        return {"steady_energy_pj": None, "steady_static_pj": None}
    steady = steady_parts(hw, parts, tiles, interval)
    return {"steady_energy_pj": total(steady), "steady_static_pj": steady["static"]}


def total(parts: dict[str, float]) -> float:
    """The sum of the parts, in `PARTS` order."""
    return sum(parts[p] for p in PARTS)


def has_energy(hw: Hardware) -> bool:
    """Whether the hardware gives any energy figure."""
    return bool(hw.energy_mvm_pj or hw.energy_buffer_pj or hw.energy_noc_pj or hw.energy_static_pj
                or hw.tier_pj_per_byte or any(v for _, v in hw.energy_gpeu_pj))
