"""The chip as a design: its totals (power, area, peak throughput) and the variants a design sweep explores.

Power is what the chip draws with every unit flat out, the way ISAAC's Table I gives it, computed from the
same `[energy]` figures the simulator prices a schedule with (pJ per ns = mW), so the two cannot disagree:
- per tile: static power (`energy.static_pj` per cycle) + every crossbar doing one MVM per `crossbar.mvm_ns`
  (`pes_per_tile x mvm_pj / mvm_ns`: the peak) + the buffer, the NoC and the GPEU units each at its full rate
  (`power.*`: `buffer_pj x buffer_elements_per_ns`, `noc_pj x noc_bytes_per_ns`, `sum of gpeu[kind] x
  power.gpeu[kind]`);
- per chip: tiles x that, plus the off-chip link (`power.offchip_mw`, always on).
Area: per tile `pes_per_tile x area.pe_mm2 + area.noc_mm2 + area.tile_mm2 + area.buffer_mm2_per_kib x
capacity` (the capacity of `buffer.elements_per_tile` in KiB, or `area.buffer_kib` while the model leaves the
buffer unlimited); per chip tiles x that + `area.offchip_mm2`.
Peak throughput: every crossbar busy, `2 x rows x cols / weight slices` operations (a multiply-accumulate is
two) per `mvm_ns`. Efficiencies divide it by the chip's power (with the off-chip link) and area.

Variants (`with_crossbar`, `with_link`): a sweep's crossbar size and link bandwidth. Rules (docs/model.md):
energy and area per crossbar scale with its columns (each MVM converts every column: the ADCs dominate) and
with one more ADC bit per doubling of its rows, the MVM time stays; the NoC's full rate and area scale with the
link bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from cimopt.hardware import Hardware

POWER_PARTS = ("static", "crossbars", "buffer", "noc", "gpeu")
AREA_PARTS = ("crossbars", "buffer", "noc", "other")


def buffer_kib(hw: Hardware) -> float:
    """The tile buffer's size for its area: the enforced capacity (elements x bits), else `area.buffer_kib`."""
    if hw.buffer_elements is not None:
        return hw.buffer_elements * hw.bits / 8 / 1024
    return hw.area_buffer_kib or 0.0


def tile_power_parts_mw(hw: Hardware) -> dict[str, float] | None:
    """mW per tile with every unit flat out, by part (`POWER_PARTS`); None without `crossbar.mvm_ns`."""
    if hw.mvm_ns is None:
        return None
    rates = dict(hw.power_gpeu_per_ns)
    return {
        "static": hw.energy_static_pj / hw.cycle_ns,
        "crossbars": hw.pes_per_tile * hw.energy_mvm_pj / hw.mvm_ns,
        "buffer": hw.energy_buffer_pj * hw.power_buffer_elements_per_ns,
        "noc": hw.energy_noc_pj * hw.power_noc_bytes_per_ns,
        "gpeu": sum(hw.gpeu_energy(kind) * rate for kind, rate in sorted(rates.items())),
    }


def tile_area_parts_mm2(hw: Hardware) -> dict[str, float]:
    """mm2 per tile, by part (`AREA_PARTS`)."""
    return {"crossbars": hw.pes_per_tile * hw.area_pe_mm2, "buffer": hw.area_buffer_mm2_per_kib * buffer_kib(hw),
            "noc": hw.area_noc_mm2, "other": hw.area_tile_mm2}


def chip_area_mm2(hw: Hardware, tiles: int) -> float:
    """The area of a chip of `tiles` tiles, off-chip link included (mm2)."""
    return tiles * sum(tile_area_parts_mm2(hw).values()) + hw.area_offchip_mm2


def peak_gops(hw: Hardware, tiles: int) -> float | None:
    """Giga-operations per second with every crossbar busy (None without `crossbar.mvm_ns`)."""
    if hw.mvm_ns is None:
        return None
    ops = 2 * hw.xbar_rows * hw.xbar_cols / hw.weight_slices  # per MVM of one crossbar
    return tiles * hw.pes_per_tile * ops / hw.mvm_ns


@dataclass(frozen=True)
class ChipTotals:
    """A chip's power, area and peak throughput (module docstring); power figures are None without
    `crossbar.mvm_ns` (no time scale), efficiencies None where a divisor is 0."""

    tiles: int
    tile_power_mw: float | None
    tiles_power_w: float | None  # the tiles alone: the chip without its off-chip link
    offchip_power_w: float
    chip_power_w: float | None  # tiles + off-chip link
    tile_area_mm2: float
    chip_area_mm2: float  # tiles + off-chip link
    peak_gops: float | None
    peak_gops_per_w: float | None  # over chip_power_w
    peak_gops_per_mm2: float | None  # over chip_area_mm2 (GOPS / (s mm2))
    tile_power_parts_mw: tuple[tuple[str, float], ...] | None
    tile_area_parts_mm2: tuple[tuple[str, float], ...]

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("tile_power_parts_mw", "tile_area_parts_mm2"):
            d[k] = None if d[k] is None else dict(d[k])
        return d


def chip_totals(hw: Hardware, tiles: int) -> ChipTotals:
    """The totals of a chip of `tiles` tiles of `hw`."""
    parts = tile_power_parts_mw(hw)
    area = tile_area_parts_mm2(hw)
    tile_mw = None if parts is None else sum(parts.values())
    tiles_w = None if tile_mw is None else tiles * tile_mw / 1000
    offchip_w = hw.power_offchip_mw / 1000
    chip_w = None if tiles_w is None else tiles_w + offchip_w
    chip_mm2 = chip_area_mm2(hw, tiles)
    gops = peak_gops(hw, tiles)
    return ChipTotals(
        tiles=tiles, tile_power_mw=tile_mw, tiles_power_w=tiles_w, offchip_power_w=offchip_w, chip_power_w=chip_w,
        tile_area_mm2=sum(area.values()), chip_area_mm2=chip_mm2, peak_gops=gops,
        peak_gops_per_w=gops / chip_w if gops is not None and chip_w else None,
        peak_gops_per_mm2=gops / chip_mm2 if gops is not None and chip_mm2 else None,
        tile_power_parts_mw=None if parts is None else tuple(parts.items()),
        tile_area_parts_mm2=tuple(area.items()))


#: Per extra bit of ADC resolution: energy and area per conversion (Accelergy's ISAAC ADC model, after Saberi et
#: al. 2011 scaled to 32 nm: 8 bits 1.67 pJ and 1,200 um2, 9 bits 1.97 pJ and 1,828 um2).
ADC_BIT_ENERGY = 1.97 / 1.67
ADC_BIT_AREA = 1828 / 1200


def with_crossbar(hw: Hardware, rows: int, cols: int) -> Hardware:
    """`hw` with rows x cols crossbars. Energy per activation and area per crossbar scale with the columns (an
    MVM converts every column; ISAAC's ADCs are 2 of its 3 mW and 1.2 of its 1.6 thousandths of a mm2 per
    crossbar) and with the ADC's resolution, one bit more per doubling of the rows (a column sums twice the
    cells): x `ADC_BIT_ENERGY` and `ADC_BIT_AREA` per bit, applied to the whole crossbar as the ADCs dominate.
    The MVM time stays (as many ADCs per column as before)."""
    if (rows, cols) == (hw.xbar_rows, hw.xbar_cols):
        return hw
    bits = math.log2(rows / hw.xbar_rows)
    f = cols / hw.xbar_cols
    return replace(hw, xbar_rows=rows, xbar_cols=cols, energy_mvm_pj=hw.energy_mvm_pj * f * ADC_BIT_ENERGY ** bits,
                   area_pe_mm2=hw.area_pe_mm2 * f * ADC_BIT_AREA ** bits)


def with_link(hw: Hardware, bytes_per_cycle: int) -> Hardware:
    """`hw` whose NoC links carry `bytes_per_cycle`: a router's full rate and area grow with its ports' width
    (linearly here); its energy per byte stays. From or to 0 (no serialisation) only the timing changes."""
    if bytes_per_cycle == hw.link_bytes_per_cycle:
        return hw
    f = bytes_per_cycle / hw.link_bytes_per_cycle if hw.link_bytes_per_cycle and bytes_per_cycle else 1.0
    return replace(hw, link_bytes_per_cycle=bytes_per_cycle, power_noc_bytes_per_ns=hw.power_noc_bytes_per_ns * f,
                   area_noc_mm2=hw.area_noc_mm2 * f)
