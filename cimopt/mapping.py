"""Mapping layers onto crossbars: crossbars per copy, the PE budget, copies per layer, tile placement."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cimopt.errors import InputError
from cimopt.hardware import MAX_TILES, Hardware
from cimopt.workload import Layer, Workload


def cell_cols(layer: Layer, hw: Hardware) -> int:
    """Crossbar columns one group's weights occupy: a weight of `weight_bits` spans `weight_slices` cells."""
    return layer.group_cols * hw.weight_slices


def groups_per_crossbar(layer: Layer, hw: Hardware) -> int:
    """How many groups of a grouped conv share one crossbar block-diagonally (1 if a group does not fit)."""
    cols = cell_cols(layer, hw)
    if layer.groups == 1 or layer.group_rows > hw.xbar_rows or cols > hw.xbar_cols:
        return 1
    return min(hw.xbar_rows // layer.group_rows, hw.xbar_cols // cols, layer.groups)


def crossbars(layer: Layer, hw: Hardware) -> int:
    """Crossbars one copy of `layer` needs (docs/model.md, "Mapping"), its weights sliced over `weight_slices` cells."""
    per_group = math.ceil(layer.group_rows / hw.xbar_rows) * math.ceil(cell_cols(layer, hw) / hw.xbar_cols)
    if layer.groups == 1:
        return per_group
    packed = groups_per_crossbar(layer, hw)
    if packed > 1:
        return math.ceil(layer.groups / packed)
    return per_group * layer.groups


def crossbars_per_layer(workload: Workload, hw: Hardware) -> tuple[int, ...]:
    return tuple(crossbars(layer, hw) for layer in workload.layers)


def min_pes(workload: Workload, hw: Hardware) -> int:
    """PEs needed for one copy of every MVM layer."""
    return sum(crossbars_per_layer(workload, hw))


def min_tiles(workload: Workload, hw: Hardware) -> int:
    return math.ceil(min_pes(workload, hw) / hw.pes_per_tile)


@dataclass(frozen=True)
class Budget:
    """The chip a mapping may use: `pes` crossbars on `tiles` tiles."""

    pes: int
    tiles: int


def resolve_budget(workload: Workload, hw: Hardware, *, pes: int | None = None, tiles: int | None = None,
                   extra_pes: int | None = None) -> Budget:
    """The chip size from at most one of --pes/--tiles/--extra-pes, else the hardware file, else the minimum.

    With `pes` or `extra_pes` the chip has `ceil(pes / pes_per_tile)` tiles but only `pes` crossbars may hold
    weights. A budget below the model's minimum is an InputError naming the PEs needed.
    """
    given = [n for n, v in (("--pes", pes), ("--tiles", tiles), ("--extra-pes", extra_pes)) if v is not None]
    if len(given) > 1:
        raise InputError(f"give at most one of --pes, --tiles, --extra-pes (got {', '.join(given)})")
    need = min_pes(workload, hw)
    for flag, v in (("--pes", pes), ("--tiles", tiles), ("--extra-pes", extra_pes)):
        if v is not None and (v < 0 or (v == 0 and flag != "--extra-pes")):
            raise InputError(f"{flag} must be {'>= 0' if flag == '--extra-pes' else '> 0'}, got {v}")
    if pes is None and tiles is None and extra_pes is None:
        tiles = hw.tiles
        if tiles is None:
            extra_pes = 0
    if extra_pes is not None:
        pes = need + extra_pes
    if pes is not None:
        budget = Budget(pes, math.ceil(pes / hw.pes_per_tile))
    else:
        budget = Budget(tiles * hw.pes_per_tile, tiles)
    if budget.tiles > MAX_TILES:
        raise InputError(f"a chip of {budget.tiles:,} tiles ({budget.pes:,} PEs) is beyond the {MAX_TILES:,} tiles "
                         "cimopt models")
    if hw.mesh is not None and hw.mesh[0] * hw.mesh[1] < budget.tiles:
        why = given[0] if given else "the minimum chip" if hw.tiles is None else "chip.tiles"
        raise InputError(f"{hw.source}: field noc.mesh {hw.mesh[0]}x{hw.mesh[1]} holds {hw.mesh[0] * hw.mesh[1]} tiles, "
                         f"but the chip has {budget.tiles:,} tiles ({budget.pes:,} PEs, from {why}): give a larger "
                         "noc.mesh, or leave it out for the squarest mesh")
    if budget.pes < need:
        where = "" if hw.tiles is None or given else f" (chip.tiles = {hw.tiles} in {hw.source})"
        raise InputError(
            f"model {workload.name!r} does not fit: it needs {need} PEs ({math.ceil(need / hw.pes_per_tile)} tiles of "
            f"{hw.pes_per_tile}), the chip has {budget.pes} PEs{where}")
    return budget


@dataclass(frozen=True)
class Mapping:
    """Copies per MVM layer (in workload layer order) and the tile of every crossbar of every copy.

    `placement[l][c]` lists the tiles holding copy `c` of layer `l`, one entry per crossbar; a copy's first
    tile is its home tile, where its outputs leave for the NoC. `storage[l][c]`, when given, lists the tiles
    whose buffers hold that copy's outputs, in turn (docs/model.md, "Buffers"); None: every copy buffers on its
    home tile.
    """

    budget: Budget
    crossbars: tuple[int, ...]
    copies: tuple[int, ...]
    placement: tuple[tuple[tuple[int, ...], ...], ...]
    strategy: str = "none"
    storage: tuple[tuple[tuple[int, ...], ...], ...] | None = None

    @property
    def pes_used(self) -> int:
        return sum(c * x for c, x in zip(self.copies, self.crossbars, strict=False))

    def home_tile(self, layer: int, copy: int) -> int:
        return self.placement[layer][copy][0]

    def home_tiles(self, layer: int) -> tuple[int, ...]:
        return tuple(p[0] for p in self.placement[layer])

    def storage_tiles(self, layer: int, copy: int) -> tuple[int, ...]:
        """The tiles whose buffers hold a copy's outputs, in turn: `storage` if given, else its home tile."""
        if self.storage is not None:
            return self.storage[layer][copy]
        return (self.placement[layer][copy][0],)

    def to_json(self) -> dict:
        d = {"pes": self.budget.pes, "tiles": self.budget.tiles, "crossbars": list(self.crossbars),
             "copies": list(self.copies), "strategy": self.strategy,
             "placement": [[list(c) for c in layer] for layer in self.placement]}
        if self.storage is not None:  # written only when given: files without it stay as they were
            d["storage"] = [[list(c) for c in layer] for layer in self.storage]
        return d


def place_sequential(crossbars: tuple[int, ...], copies: tuple[int, ...], pes_per_tile: int) -> tuple:
    """Fill PEs in order (layer by layer, copy by copy): crossbar k goes on tile k // pes_per_tile."""
    placement, k = [], 0
    for xb, d in zip(crossbars, copies, strict=False):
        layer = []
        for _ in range(d):
            layer.append(tuple((k + i) // pes_per_tile for i in range(xb)))
            k += xb
        placement.append(tuple(layer))
    return tuple(placement)


def make_mapping(workload: Workload, hw: Hardware, budget: Budget, copies: tuple[int, ...] | None = None,
                 strategy: str = "none") -> Mapping:
    """A mapping with the given copies per layer (default one each), placed sequentially."""
    xb = crossbars_per_layer(workload, hw)
    copies = copies or tuple(1 for _ in xb)
    if len(copies) != len(xb) or min(copies, default=1) < 1:
        raise ValueError("need one copy count >= 1 per MVM layer")
    used = sum(c * x for c, x in zip(copies, xb, strict=False))
    if used > budget.pes:
        raise InputError(f"mapping needs {used} PEs, the budget is {budget.pes}")
    return Mapping(budget, xb, tuple(copies), place_sequential(xb, tuple(copies), hw.pes_per_tile), strategy)
