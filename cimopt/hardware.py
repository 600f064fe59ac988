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
    bits = 16                # optional: bits per activation element (default 8): NoC bytes, NoC energy
    [gpeu]                   # cycles per output element, by operation kind (see workload GpeuOp.kind)
    default = 0
    pool = 0
    [noc]
    hop_cycles = 0           # added to a dependency per mesh hop between producer and consumer copy
    mesh = [8, 8]            # optional: rows x cols of the tile mesh (default: ceil(sqrt(tiles)) columns)
    link_bytes_per_cycle = 0 # optional: a transfer between tiles also takes ceil(bytes / this); 0 or absent: free
    [buffer]
    elements_per_tile = 0    # 0 or absent: unlimited
    [energy]                 # optional, picojoules (absent: energy 0)
    mvm_pj = 0.0             # per crossbar activation (one MVM of one crossbar, with its ADC conversions)
    buffer_pj = 0.0          # per element written to or read from a tile buffer
    noc_pj = 0.0             # per byte per hop
    static_pj = 0.0          # per tile per cycle
    [energy.gpeu]            # per output element, by operation kind; "default" for the rest
    default = 0.0
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

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
        return -(-self.weight_bits // self.cell_bits)

    @property
    def noc_costs(self) -> bool:
        """Whether a transfer between tiles costs time (hop latency or serialisation)."""
        return self.noc_hop_cycles > 0 or self.link_bytes_per_cycle > 0

    def transfer_bytes(self, elements):
        """Bytes that carry `elements` activation elements: ceil(elements * bits / 8) (int or numpy array)."""
        return -(-(elements * self.bits) // 8)

    def serialise_cycles(self, elements):
        """Cycles to push `elements` activation elements through one link: ceil(bytes / link_bytes_per_cycle),
        0 without a link bandwidth. Pure hardware arithmetic, shared by the simulator and the schedulers."""
        if self.link_bytes_per_cycle <= 0:
            return elements * 0
        return -(-self.transfer_bytes(elements) // self.link_bytes_per_cycle)

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
        return -(-tiles // cols), cols

    def hops(self, tile_a, tile_b, tiles: int):
        """Manhattan distance between tiles on the mesh of a `tiles`-tile chip (tiles numbered row-major).

        Ints or numpy arrays (broadcast). The one hop metric of the NoC: schedulers and simulator both use it."""
        _, cols = self.mesh_shape(max(tiles, 1))
        return abs(tile_a // cols - tile_b // cols) + abs(tile_a % cols - tile_b % cols)


def _positive(value: object, where: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: expected an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{where}: must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _energy(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a number of picojoules, got {value!r}")
    if not value >= 0 or value == float("inf"):
        raise InputError(f"{where}: must be a finite number >= 0, got {value}")
    return float(value)


ENERGY_FIELDS = {"mvm_pj": "energy_mvm_pj", "buffer_pj": "energy_buffer_pj", "noc_pj": "energy_noc_pj",
                 "static_pj": "energy_static_pj"}


def _parse_energy(sec: dict, source: str) -> dict:
    """The [energy] section as Hardware keyword arguments (all optional; absent = 0 pJ)."""
    out: dict = {}
    for key, value in sec.items():
        if key == "gpeu":
            if not isinstance(value, dict):
                raise InputError(f"{source}: [energy.gpeu] must be a table")
            gpeu = tuple(sorted((k, _energy(v, f"{source}: field energy.gpeu.{k}")) for k, v in value.items()))
            out["energy_gpeu_pj"] = gpeu if any(v for _, v in gpeu) else ()  # all zero = absent
        elif key in ENERGY_FIELDS:
            out[ENERGY_FIELDS[key]] = _energy(value, f"{source}: field energy.{key}")
        else:
            known = ", ".join(sorted([*ENERGY_FIELDS, "gpeu"]))
            raise InputError(f"{source}: unknown field energy.{key} (known: {known})")
    return out


def parse_hardware(data: dict, source: str = "<dict>") -> Hardware:
    """Validate a parsed hardware description; errors name `source` and the field."""

    def section(name: str, required: bool = False) -> dict:
        if name not in data:
            if required:
                raise InputError(f"{source}: missing section [{name}]")
            return {}
        if not isinstance(data[name], dict):
            raise InputError(f"{source}: [{name}] must be a table")
        return data[name]

    def need(sec: dict, sname: str, key: str, **kw) -> int:
        if key not in sec:
            raise InputError(f"{source}: missing field {sname}.{key}")
        return _positive(sec[key], f"{source}: field {sname}.{key}", **kw)

    known = {"name", "crossbar", "chip", "gpeu", "noc", "buffer", "energy", "description"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    xb = section("crossbar", required=True)
    chip = section("chip", required=True)
    gpeu = section("gpeu")
    noc = section("noc")
    buf = section("buffer")
    energy = _parse_energy(section("energy"), source)
    for sname, sec, keys in (("crossbar", xb, {"rows", "cols", "mvm_cycles", "cell_bits", "weight_bits", "mvm_ns"}),
                             ("chip", chip, {"pes_per_tile", "tiles", "bits"}),
                             ("noc", noc, {"hop_cycles", "mesh", "link_bytes_per_cycle"}),
                             ("buffer", buf, {"elements_per_tile"})):
        for key in sec:
            if key not in keys:
                raise InputError(f"{source}: unknown field {sname}.{key} (known: {', '.join(sorted(keys))})")
    tiles = need(chip, "chip", "tiles") if "tiles" in chip else None
    mesh = None
    if "mesh" in noc:
        m = noc["mesh"]
        if not (isinstance(m, list) and len(m) == 2):
            raise InputError(f"{source}: field noc.mesh must be [rows, cols], got {m!r}")
        mesh = (_positive(m[0], f"{source}: field noc.mesh[0]"), _positive(m[1], f"{source}: field noc.mesh[1]"))
        if tiles is not None and mesh[0] * mesh[1] < tiles:
            raise InputError(f"{source}: field noc.mesh {mesh[0]}x{mesh[1]} holds fewer than chip.tiles={tiles}")
    buffer = need(buf, "buffer", "elements_per_tile", allow_zero=True) if "elements_per_tile" in buf else 0
    if ("cell_bits" in xb) != ("weight_bits" in xb):
        raise InputError(f"{source}: fields crossbar.cell_bits and crossbar.weight_bits go together (give both)")
    precision = {k: need(xb, "crossbar", k) for k in ("cell_bits", "weight_bits") if k in xb}
    if "bits" in chip:
        precision["bits"] = need(chip, "chip", "bits")
    if "link_bytes_per_cycle" in noc:
        precision["link_bytes_per_cycle"] = need(noc, "noc", "link_bytes_per_cycle", allow_zero=True)
    mvm_ns = xb.get("mvm_ns")
    if mvm_ns is not None and (isinstance(mvm_ns, bool) or not isinstance(mvm_ns, (int, float)) or not mvm_ns > 0):
        raise InputError(f"{source}: field crossbar.mvm_ns: must be a number > 0 (nanoseconds), got {mvm_ns!r}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str):
        raise InputError(f"{source}: field name must be a string")
    return Hardware(
        name=name,
        xbar_rows=need(xb, "crossbar", "rows"),
        xbar_cols=need(xb, "crossbar", "cols"),
        mvm_cycles=need(xb, "crossbar", "mvm_cycles"),
        pes_per_tile=need(chip, "chip", "pes_per_tile"),
        tiles=tiles,
        gpeu_cycles=tuple(sorted((k, _positive(v, f"{source}: field gpeu.{k}", allow_zero=True)) for k, v in gpeu.items())),
        noc_hop_cycles=need(noc, "noc", "hop_cycles", allow_zero=True) if "hop_cycles" in noc else 0,
        mesh=mesh,
        buffer_elements=buffer or None,
        mvm_ns=None if mvm_ns is None else float(mvm_ns),
        source=source,
        **precision,
        **energy,
    )


def resolve_hardware_path(spec: str | Path | None) -> Path:
    """A hardware file path, or the name of a bundled preset (`default`, `paper-512`, ...)."""
    if spec is None:
        return DEFAULT_HARDWARE
    p = Path(spec)
    if p.exists():
        return p
    preset = HARDWARE_DIR / f"{spec}.toml"
    if preset.exists() and not str(spec).endswith(".toml"):
        return preset
    names = ", ".join(sorted(f.stem for f in HARDWARE_DIR.glob("*.toml")))
    raise InputError(f"{spec}: no such hardware file (bundled presets: {names})")


def load_hardware(spec: str | Path | None = None) -> Hardware:
    """Load and validate a hardware TOML file (or a bundled preset name; None = default)."""
    path = resolve_hardware_path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_hardware(data, str(path))
