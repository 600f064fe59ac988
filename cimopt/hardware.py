"""Hardware description: crossbars, tiles, GPEU and NoC costs, buffers; loaded from TOML files.

File format (all sections optional except [crossbar] and [chip].pes_per_tile):

    name = "paper-256"
    [crossbar]
    rows = 256
    cols = 256
    mvm_cycles = 1
    cell_bits = 2            # optional, with weight_bits: a weight spans ceil(weight_bits / cell_bits) columns
    weight_bits = 16         # optional (default: one cell per weight, today's crossbar count)
    mvm_ns = 100             # optional: wall time of one MVM (a cycle is mvm_ns / mvm_cycles); gives throughput/s
    [chip]
    pes_per_tile = 16
    tiles = 64               # optional: without it the chip is sized by the budget (--pes/--tiles/--extra-pes)
    tiles_per_chip = 168     # optional: the physical chip's tiles, for chip totals (a larger budget: several chips)
    bits = 16                # optional: bits per activation element (default 8): NoC bytes, NoC energy
    [gpeu]                   # cycles per output element, by operation kind (workload.GPEU_KINDS; others: error)
    default = 0
    pool = 0
    [noc]
    hop_cycles = 0           # added to a dependency per mesh hop between producer and consumer copy
    mesh = [8, 8]            # optional: rows x cols of the tile mesh (default: ceil(sqrt(tiles)) columns)
    link_bytes_per_cycle = 0 # optional: a transfer between tiles also takes ceil(bytes / this); 0 or absent: free
    contention = false       # optional: links are shared resources (needs link_bytes_per_cycle > 0; see routing.py)
    [buffer]
    elements_per_tile = 0    # 0 or absent: unlimited
    [memory]                 # optional: a memory tier below the tiles (an off-chip link, or a global buffer)
    bytes_per_cycle = 0      # its bandwidth, one transfer at a time; 0 or absent: no tier
    capacity_bytes = 0       # what it holds; 0 or absent: unlimited
    latency_cycles = 0       # added to every transfer (spill or fill)
    pj_per_byte = 0.0        # energy per byte moved to or from it
    [energy]                 # optional, picojoules (absent: energy 0)
    mvm_pj = 0.0             # per crossbar activation (one MVM of one crossbar, with its ADC conversions)
    buffer_pj = 0.0          # per element written to or read from a tile buffer
    noc_pj = 0.0             # per byte per hop
    static_pj = 0.0          # per tile per cycle
    [energy.gpeu]            # per output element, by operation kind; "default" for the rest
    default = 0.0
    [area]                   # optional, mm2 (chip totals only: cimopt inspect, sweep's area)
    pe_mm2 = 0.0             # one crossbar with its converters and registers
    noc_mm2 = 0.0            # per tile: its share of the NoC (routers)
    tile_mm2 = 0.0           # per tile, all but its crossbars, buffer and NoC share (bus, GPEU units, registers)
    buffer_mm2_per_kib = 0.0 # tile buffer per KiB of capacity
    buffer_kib = 0           # the capacity the area counts while buffer.elements_per_tile is unlimited
    offchip_mm2 = 0.0        # per chip: the off-chip link
    [power]                  # optional (chip totals only): each unit's full rate, and the off-chip link
    buffer_elements_per_ns = 0.0  # tile buffer flat out: elements written or read per ns
    noc_bytes_per_ns = 0.0   # a tile's share of the NoC flat out: bytes per hop per ns
    offchip_mw = 0.0         # the off-chip link, always on (per chip)
    [power.gpeu]             # GPEU units flat out: output elements per ns, by operation kind
    default = 0.0
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path

from cimopt.arith import ceil_div
from cimopt.errors import InputError

HARDWARE_DIR = Path(str(files("cimopt.data") / "hardware"))  # the presets; top-level hardware/ links here
DEFAULT_HARDWARE = HARDWARE_DIR / "default.toml"


@dataclass(frozen=True)
class Hardware:
    """A tiled CIM chip. `tiles=None` means the chip is sized by the mapping budget."""

    name: str = "default"
    xbar_rows: int = 256
    xbar_cols: int = 256
    mvm_cycles: int = 1
    pes_per_tile: int = 16
    tiles: int | None = None
    tiles_per_chip: int | None = None  # the physical chip's tiles (chip totals); a larger budget spans several chips
    gpeu_cycles: tuple[tuple[str, int], ...] = ()  # (kind, cycles per output element); "default" for the rest
    noc_hop_cycles: int = 0
    mesh: tuple[int, int] | None = None
    buffer_elements: int | None = None  # per tile; None = unlimited
    cell_bits: int = 1  # bits per crossbar cell; with weight_bits: columns per weight (1/1: one cell per weight)
    weight_bits: int = 1
    bits: int = 8  # bits per activation element (what the NoC carries)
    link_bytes_per_cycle: int = 0  # NoC link bandwidth; 0 = transfers are not serialised
    energy_mvm_pj: float = 0.0  # per crossbar activation, with its ADC
    energy_buffer_pj: float = 0.0  # per element written or read
    energy_noc_pj: float = 0.0  # per byte per hop
    energy_static_pj: float = 0.0  # per tile per cycle
    energy_gpeu_pj: tuple[tuple[str, float], ...] = ()  # (kind, pJ per output element); "default" for the rest
    mvm_ns: float | None = None  # wall time of one MVM; None = unknown (no per-second figures)
    # chip totals only (cimopt.chip: power, area, peak throughput); the schedule's energy uses energy_* alone
    area_pe_mm2: float = 0.0  # one crossbar with its converters and registers
    area_noc_mm2: float = 0.0  # per tile: its share of the NoC
    area_tile_mm2: float = 0.0  # per tile, all but its crossbars, buffer and NoC share
    area_buffer_mm2_per_kib: float = 0.0  # tile buffer area per KiB of capacity
    area_buffer_kib: float | None = None  # buffer size for the area while buffer_elements is unlimited
    area_offchip_mm2: float = 0.0  # per chip: the off-chip link
    power_buffer_elements_per_ns: float = 0.0  # full rate of a tile buffer (elements written or read per ns)
    power_noc_bytes_per_ns: float = 0.0  # full rate of a tile's share of the NoC (bytes per hop per ns)
    power_gpeu_per_ns: tuple[tuple[str, float], ...] = ()  # full rate of the GPEU units by kind (elements per ns)
    power_offchip_mw: float = 0.0  # the off-chip link, always on (per chip)
    noc_contention: bool = False  # links are shared resources: messages are timed transfers (docs/model.md)
    tier_bytes_per_cycle: int = 0  # the memory tier's bandwidth; 0 = no tier
    tier_capacity_bytes: int | None = None  # None = unlimited
    tier_latency_cycles: int = 0
    tier_pj_per_byte: float = 0.0
    source: str = field(default="<builtin>", compare=False)

    @property
    def cycle_ns(self) -> float | None:
        """Nanoseconds per cycle, when the file gives the MVM time."""
        return None if self.mvm_ns is None else self.mvm_ns / self.mvm_cycles

    def gpeu_cost(self, kind: str) -> int:
        """GPEU cycles per output element of an operation of this kind."""
        costs = dict(self.gpeu_cycles)
        return costs.get(kind, costs.get("default", 0))

    def gpeu_latency(self, kind: str, channels: int) -> int:
        """Cycles a GPEU op adds to every dependency through it: its cost per output element times the
        elements of one output pixel (its channels). Pixels are processed as they arrive (pipelined)."""
        return self.gpeu_cost(kind) * channels

    @property
    def weight_slices(self) -> int:
        """Crossbar columns one weight spans: ceil(weight_bits / cell_bits) (1 by default)."""
        return ceil_div(self.weight_bits, self.cell_bits)

    @property
    def noc_costs(self) -> bool:
        """Whether a transfer between tiles costs time (hop latency or serialisation)."""
        return self.noc_hop_cycles > 0 or self.link_bytes_per_cycle > 0

    def transfer_bytes(self, elements):
        """Bytes that carry `elements` activation elements: ceil(elements * bits / 8) (int or numpy array)."""
        return ceil_div(elements * self.bits, 8)

    def serialise_cycles(self, elements):
        """Cycles to push `elements` activation elements through one link: ceil(bytes / link_bytes_per_cycle),
        0 without a link bandwidth. Pure hardware arithmetic, shared by the simulator and the schedulers."""
        if self.link_bytes_per_cycle <= 0:
            return elements * 0
        return ceil_div(self.transfer_bytes(elements), self.link_bytes_per_cycle)

    @property
    def has_tier(self) -> bool:
        """Whether the chip has a memory tier below its tiles (`[memory] bytes_per_cycle > 0`)."""
        return self.tier_bytes_per_cycle > 0

    def tier_cycles(self, elements):
        """Cycles one transfer of `elements` activation elements takes to or from the memory tier:
        ceil(bytes / bytes_per_cycle) on its link, plus its latency (int or numpy array)."""
        return ceil_div(self.transfer_bytes(elements), self.tier_bytes_per_cycle) + self.tier_latency_cycles

    def tier_link_cycles(self, elements):
        """Of `tier_cycles`, the cycles the tier's link is busy (without the latency, which is pipelined)."""
        return ceil_div(self.transfer_bytes(elements), self.tier_bytes_per_cycle)

    def gpeu_energy(self, kind: str) -> float:
        """GPEU energy (pJ) per output element of an operation of this kind."""
        costs = dict(self.energy_gpeu_pj)
        return costs.get(kind, costs.get("default", 0.0))

    def mesh_shape(self, tiles: int) -> tuple[int, int]:
        """Rows x cols of the tile mesh for a chip of `tiles` tiles: `noc.mesh`, else the squarest grid with
        `ceil(sqrt(tiles))` columns (its last row may be partly empty)."""
        if self.mesh is not None:
            return self.mesh
        cols = max(1, math.isqrt(tiles - 1) + 1) if tiles > 1 else 1
        return ceil_div(tiles, cols), cols

    def hops(self, tile_a, tile_b, tiles: int):
        """Manhattan distance between tiles on the mesh of a `tiles`-tile chip (tiles numbered row-major).

        Ints or numpy arrays (broadcast). The one hop metric of the NoC: schedulers and simulator both use it."""
        _, cols = self.mesh_shape(max(tiles, 1))
        return abs(tile_a // cols - tile_b // cols) + abs(tile_a % cols - tile_b % cols)


@dataclass(frozen=True)
class HardwareField:
    """One number of the hardware file: where it lives in the TOML (`section.key`), which `Hardware` attribute
    it fills, its type and range, and its value when absent (`required` fields have none)."""

    attr: str
    section: str
    key: str
    low: float = 1  # inclusive (exclusive with `above`)
    high: float = 10**6
    required: bool = False
    default: float | None = None
    number: type = int  # int: an integer (96.5 is an error, not 96); float: any finite number
    above: bool = False  # the value must be > low
    zero_is_none: bool = False  # 0 in the file means "unlimited" (None in Hardware)


MAX_TILES = 2**20  # the simulator and the mesh keep per-tile arrays
MAX_PJ = 1e15
MAX_MM2 = 1e6

#: The numeric fields, one line each; `high` keeps every array they size, and every cycle count they add up to,
#: far inside int64. A new field is one more line here plus its attribute on `Hardware`.
FIELDS = (
    HardwareField("xbar_rows", "crossbar", "rows", required=True, high=2**20),
    HardwareField("xbar_cols", "crossbar", "cols", required=True, high=2**20),
    HardwareField("mvm_cycles", "crossbar", "mvm_cycles", required=True, high=10**6),
    HardwareField("cell_bits", "crossbar", "cell_bits", high=64, default=1),
    HardwareField("weight_bits", "crossbar", "weight_bits", high=64, default=1),
    HardwareField("mvm_ns", "crossbar", "mvm_ns", low=0, above=True, high=1e12, number=float),
    HardwareField("pes_per_tile", "chip", "pes_per_tile", required=True, high=2**16),
    HardwareField("tiles", "chip", "tiles", high=MAX_TILES),
    HardwareField("tiles_per_chip", "chip", "tiles_per_chip", high=MAX_TILES),
    HardwareField("bits", "chip", "bits", high=64, default=8),
    HardwareField("noc_hop_cycles", "noc", "hop_cycles", low=0, default=0),
    HardwareField("link_bytes_per_cycle", "noc", "link_bytes_per_cycle", low=0, high=2**30, default=0),
    HardwareField("buffer_elements", "buffer", "elements_per_tile", low=0, high=2**40, zero_is_none=True),
    HardwareField("energy_mvm_pj", "energy", "mvm_pj", low=0, high=MAX_PJ, default=0.0, number=float),
    HardwareField("energy_buffer_pj", "energy", "buffer_pj", low=0, high=MAX_PJ, default=0.0, number=float),
    HardwareField("energy_noc_pj", "energy", "noc_pj", low=0, high=MAX_PJ, default=0.0, number=float),
    HardwareField("energy_static_pj", "energy", "static_pj", low=0, high=MAX_PJ, default=0.0, number=float),
    HardwareField("area_pe_mm2", "area", "pe_mm2", low=0, high=MAX_MM2, default=0.0, number=float),
    HardwareField("area_noc_mm2", "area", "noc_mm2", low=0, high=MAX_MM2, default=0.0, number=float),
    HardwareField("area_tile_mm2", "area", "tile_mm2", low=0, high=MAX_MM2, default=0.0, number=float),
    HardwareField("area_buffer_mm2_per_kib", "area", "buffer_mm2_per_kib", low=0, high=MAX_MM2, default=0.0,
                  number=float),
    HardwareField("area_buffer_kib", "area", "buffer_kib", low=0, high=2**40, number=float, zero_is_none=True),
    HardwareField("area_offchip_mm2", "area", "offchip_mm2", low=0, high=MAX_MM2, default=0.0, number=float),
    HardwareField("power_buffer_elements_per_ns", "power", "buffer_elements_per_ns", low=0, high=1e9, default=0.0,
                  number=float),
    HardwareField("power_noc_bytes_per_ns", "power", "noc_bytes_per_ns", low=0, high=1e9, default=0.0, number=float),
    HardwareField("power_offchip_mw", "power", "offchip_mw", low=0, high=1e12, default=0.0, number=float),
    HardwareField("tier_bytes_per_cycle", "memory", "bytes_per_cycle", low=0, high=2**30, default=0),
    HardwareField("tier_capacity_bytes", "memory", "capacity_bytes", low=0, high=2**50, zero_is_none=True),
    HardwareField("tier_latency_cycles", "memory", "latency_cycles", low=0, high=10**6, default=0),
    HardwareField("tier_pj_per_byte", "memory", "pj_per_byte", low=0, high=MAX_PJ, default=0.0, number=float),
)
#: Attributes only the chip totals read (cimopt.chip): saved schedules and sweep metas leave them out at their
#: defaults, so files made before they existed stay byte for byte what they were.
CHIP_TOTAL_ATTRS = ("area_pe_mm2", "area_noc_mm2", "area_tile_mm2", "area_buffer_mm2_per_kib", "area_buffer_kib",
                    "area_offchip_mm2", "power_buffer_elements_per_ns", "power_noc_bytes_per_ns", "power_gpeu_per_ns",
                    "power_offchip_mw")
#: Tables of cost per GPEU operation kind: (TOML section, Hardware attribute, number type, unit).
KIND_TABLES = (("gpeu", "gpeu_cycles", int, "cycles per output element"),
               ("energy.gpeu", "energy_gpeu_pj", float, "pJ per output element"),
               ("power.gpeu", "power_gpeu_per_ns", float, "output elements per ns"))
SECTIONS = ("crossbar", "chip", "gpeu", "noc", "buffer", "energy", "memory", "area",
            "power")  # `name` and `description` are top-level
OTHER_KEYS = {"noc": ("mesh", "contention"), "energy": ("gpeu",), "power": ("gpeu",)}  # fields not plain numbers
GPEU_HIGH = 10**6  # cycles per output element
MESH_HIGH = 2**20


def _number(value: object, where: str, f: HardwareField | None = None, *, low: float = 0, high: float = GPEU_HIGH,
            number: type = int, above: bool = False) -> int | float:
    """`value` checked as `f` says (or as the keywords say): no bools, an integer where one belongs (96.5 is
    not 96), finite, inside the range; else an InputError naming `where`."""
    if f is not None:
        low, high, number, above = f.low, f.high, f.number, f.above
    ok = int if number is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok):
        raise InputError(f"{where}: expected {'an integer' if number is int else 'a number'}, got {value!r}")
    if (number is float and not math.isfinite(value)) or value < low or (above and value == low):
        sign = "> 0" if (low == 1 and number is int) or (above and low == 0) else f"{'>' if above else '>='} {low:g}"
        what = "a finite number " if number is float else ""
        raise InputError(f"{where}: must be {what}{sign}, got {value}")
    if value > high:
        raise InputError(f"{where}: must be at most {high:,}, got {value}")
    return value if number is int else float(value)


def gpeu_kinds() -> tuple[str, ...]:
    """The keys a [gpeu] table may have: every GPEU operation kind, and `default` for the others."""
    from cimopt.workload import GPEU_KINDS

    return ("default", *GPEU_KINDS)


def _kind_costs(items: list[tuple[object, object]], where: str, number: type) -> tuple:
    """(kind, cost) pairs with known kinds (a typo such as `poool` is an error listing them), sorted."""
    known = gpeu_kinds()
    out = []
    for kind, cost in items:
        if kind not in known:
            raise InputError(f"{where}: unknown GPEU kind {kind!r} (known: {', '.join(known)})")
        out.append((kind, _number(cost, f"{where}.{kind}", number=number, high=GPEU_HIGH if number is int else MAX_PJ)))
    return tuple(sorted(out))


def _mesh(m: object, where: str, tiles: int | None) -> tuple[int, int] | None:
    if m is None:
        return None
    if not (isinstance(m, (list, tuple)) and len(m) == 2):
        raise InputError(f"{where}: must be [rows, cols], got {m!r}")
    mesh = (_number(m[0], f"{where}[0]", low=1, high=MESH_HIGH), _number(m[1], f"{where}[1]", low=1, high=MESH_HIGH))
    if tiles is not None and mesh[0] * mesh[1] < tiles:
        raise InputError(f"{where} {mesh[0]}x{mesh[1]} holds fewer than chip.tiles={tiles}")
    return mesh


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InputError(f"{where}: must be a non-empty string, got {value!r}")
    return value


def _hardware(values: dict, name: str, kinds: dict[str, tuple], mesh, source: str, where: str,
              contention: tuple[bool, str] = (False, "")) -> Hardware:
    """The Hardware once every value is checked, after the rules that tie fields together; `kinds`: each
    `KIND_TABLES` attribute's (kind, value) pairs (float tables of zeros only are left empty); `contention`: the
    `noc.contention` flag and where it was given."""
    given = {k for k in ("cell_bits", "weight_bits") if values.get(k) is not None}
    if len(given) == 1:
        raise InputError(f"{where}: fields crossbar.cell_bits and crossbar.weight_bits go together (give both)")
    kw = {f.attr: (f.default if values.get(f.attr) is None else values[f.attr]) for f in FIELDS}
    kw |= {attr: kinds[attr] if number is int or any(v for _, v in kinds[attr]) else ()
           for _, attr, number, _ in KIND_TABLES}
    hw = Hardware(name=name, mesh=mesh, source=source, **kw)
    return with_contention(hw, True, contention[1]) if contention[0] else hw


def with_contention(hw: Hardware, on: bool, where: str = "--contention") -> Hardware:
    """`hw` with link contention on or off; on needs a link bandwidth (else an InputError naming `where`)."""
    if on and hw.link_bytes_per_cycle <= 0:
        raise InputError(f"{where}: link contention needs a link bandwidth (noc.link_bytes_per_cycle > 0; "
                         f"{hw.name} has none)")
    return hw if hw.noc_contention == on else replace(hw, noc_contention=on)


def _flag(value: object, where: str) -> tuple[bool, str]:
    """A boolean field (and where it was given); anything but true or false is an InputError."""
    if not isinstance(value, bool):
        raise InputError(f"{where}: expected true or false, got {value!r}")
    return value, where


def parse_hardware(data: dict, source: str = "<dict>") -> Hardware:
    """Validate a parsed hardware TOML file (see the module docstring); errors name `source` and the field."""
    known = {"name", "description", *SECTIONS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    tables: dict[str, dict] = {}
    for sname in SECTIONS:
        sec = data.get(sname, {})
        if not isinstance(sec, dict):
            raise InputError(f"{source}: [{sname}] must be a table")
        tables[sname] = sec
    for sname in dict.fromkeys(f.section for f in FIELDS if f.required):
        if sname not in data:
            raise InputError(f"{source}: missing section [{sname}]")
    for sname, sec in tables.items():
        if sname == "gpeu":
            continue
        keys = {f.key for f in FIELDS if f.section == sname} | set(OTHER_KEYS.get(sname, ()))
        for key in sec:
            if key not in keys:
                raise InputError(f"{source}: unknown field {sname}.{key} (known: {', '.join(sorted(keys))})")
    values: dict[str, float | None] = {}
    for f in FIELDS:
        sec = tables[f.section]
        if f.key not in sec:
            if f.required:
                raise InputError(f"{source}: missing field {f.section}.{f.key}")
            continue
        v = _number(sec[f.key], f"{source}: field {f.section}.{f.key}", f)
        values[f.attr] = None if f.zero_is_none and v == 0 else v
    kinds = {}
    for sname, attr, number, _ in KIND_TABLES:
        parent, _, sub = sname.partition(".")
        sec = tables[parent].get(sub, {}) if sub else tables[parent]
        if not isinstance(sec, dict):
            raise InputError(f"{source}: [{sname}] must be a table")
        kinds[attr] = _kind_costs(list(sec.items()), f"{source}: field {sname}", number)
    return _hardware(values, _name(data.get("name", Path(source).stem or "hardware"), f"{source}: field name"),
                     kinds, _mesh(tables["noc"].get("mesh"), f"{source}: field noc.mesh", values.get("tiles")),
                     source, source, _flag(tables["noc"].get("contention", False), f"{source}: field noc.contention"))


def hardware_from_json(d: object, source: str) -> Hardware:
    """A `Hardware` from its `asdict` form (as saved in a schedule), validated by the same table as a TOML
    file; errors name `source` and `hardware.<attribute>`. Absent optional fields take their defaults."""
    if not isinstance(d, dict):
        raise InputError(f"{source}: field hardware must be an object, got {type(d).__name__}")
    attrs = {f.attr: f for f in FIELDS}
    pairs = [attr for _, attr, _, _ in KIND_TABLES]
    known = {"name", "mesh", "noc_contention", *pairs, *attrs}
    unknown = sorted(set(d) - known)
    if unknown:
        raise InputError(f"{source}: unknown field hardware.{unknown[0]} (known: {', '.join(sorted(known))})")
    values: dict[str, float | None] = {}
    for attr, f in attrs.items():
        if d.get(attr) is None:
            if f.required:
                raise InputError(f"{source}: missing field hardware.{attr}")
            continue
        v = _number(d[attr], f"{source}: field hardware.{attr}", f)
        values[attr] = None if f.zero_is_none and v == 0 else v
    kinds = {}
    for _, attr, number, _ in KIND_TABLES:
        p = d.get(attr, [])
        if not isinstance(p, list) or not all(isinstance(x, list) and len(x) == 2 for x in p):
            raise InputError(f"{source}: field hardware.{attr} must be a list of [kind, cost] pairs")
        kinds[attr] = _kind_costs([tuple(x) for x in p], f"{source}: field hardware.{attr}", number)
    return _hardware(values, _name(d.get("name", "hardware"), f"{source}: field hardware.name"), kinds,
                     _mesh(d.get("mesh"), f"{source}: field hardware.mesh", values.get("tiles")), source, source,
                     _flag(d.get("noc_contention", False), f"{source}: field hardware.noc_contention"))


def resolve_hardware_path(spec: str | Path | None) -> Path:
    """A hardware file path, or the name of a bundled preset (`default`, `paper-512`, ...)."""
    if spec is None:
        return DEFAULT_HARDWARE
    p = Path(spec)
    if p.exists():
        return p
    names = ", ".join(sorted(f.stem for f in HARDWARE_DIR.glob("*.toml")))
    text = str(spec)
    if "/" in text or "\\" in text or text in (".", "..") or text.endswith(".toml"):  # a path, never a preset
        raise InputError(f"{spec}: no such hardware file (a preset is a bare name: {names})")
    preset = HARDWARE_DIR / f"{spec}.toml"
    if preset.exists():
        return preset
    raise InputError(f"{spec}: no such hardware file (bundled presets: {names})")


def load_hardware(spec: str | Path | None = None) -> Hardware:
    """Load and validate a hardware TOML file (or a bundled preset name; None = default)."""
    path = resolve_hardware_path(spec)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_hardware(data, str(path))
