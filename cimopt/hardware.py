"""Hardware description: crossbars, tiles, GPEU and NoC costs, buffers; loaded from TOML files.

File format (all sections optional except [crossbar] and [chip].pes_per_tile):

    name = "paper-256"
    [crossbar]
    rows = 256
    cols = 256
    mvm_cycles = 1
    [chip]
    pes_per_tile = 16
    tiles = 64               # optional: without it the chip is sized by the budget (--pes/--tiles/--extra-pes)
    [gpeu]                   # cycles per output element, by operation kind (see workload GpeuOp.kind)
    default = 0
    pool = 0
    [noc]
    hop_cycles = 0           # added to a dependency per mesh hop between producer and consumer copy
    mesh = [8, 8]            # optional: rows x cols of the tile mesh (default: ceil(sqrt(tiles)) columns)
    [buffer]
    elements_per_tile = 0    # 0 or absent: unlimited
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
    source: str = field(default="<builtin>", compare=False)

    def gpeu_cost(self, kind: str) -> int:
        """GPEU cycles per output element of an operation of this kind."""
        costs = dict(self.gpeu_cycles)
        return costs.get(kind, costs.get("default", 0))

    def gpeu_latency(self, kind: str, channels: int) -> int:
        """Cycles a GPEU op adds to every dependency through it: its cost per output element times the
        elements of one output pixel (its channels). Pixels are processed as they arrive (pipelined)."""
        return self.gpeu_cost(kind) * channels

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

    known = {"name", "crossbar", "chip", "gpeu", "noc", "buffer", "description"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    xb = section("crossbar", required=True)
    chip = section("chip", required=True)
    gpeu = section("gpeu")
    noc = section("noc")
    buf = section("buffer")
    for sname, sec, keys in (("crossbar", xb, {"rows", "cols", "mvm_cycles"}), ("chip", chip, {"pes_per_tile", "tiles"}),
                             ("noc", noc, {"hop_cycles", "mesh"}), ("buffer", buf, {"elements_per_tile"})):
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
        source=source,
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
