"""Routes on the tile mesh: dimension-order (XY) routing and directed link ids (docs/model.md, "Link contention").

Pure hardware geometry, shared by the simulator, the schedulers, placement and the bounds. The mesh is
`Hardware.mesh_shape(tiles)`: tiles numbered row-major, tile t at row `t // cols`, column `t % cols`; every
position of the `rows x cols` grid has a router (a position without a tile, in a partly empty last row, still
forwards). Between two neighbouring positions there are two directed links, one each way. A message from tile
a to tile b first travels along a's row to b's column (X), then along that column to b's row (Y): its route
is `hops(a, b)` links, fixed by a and b alone.

Link ids: the link leaving position p eastwards (to p + 1) is `4p`, westwards `4p + 1`, southwards (to
p + cols) `4p + 2`, northwards `4p + 3`; ids of links that would leave the grid are never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.hardware import Hardware

EAST, WEST, SOUTH, NORTH = range(4)
DIRECTIONS = ("east", "west", "south", "north")


@dataclass(frozen=True)
class Mesh:
    """The tile mesh of a chip: `rows x cols` router positions holding `tiles` tiles row-major."""

    rows: int
    cols: int
    tiles: int

    @staticmethod
    def of(hw: Hardware, tiles: int) -> Mesh:
        rows, cols = hw.mesh_shape(max(tiles, 1))
        return Mesh(int(rows), int(cols), int(tiles))

    @property
    def link_ids(self) -> int:
        """Size of an array indexed by link id (4 per position, some unused at the border)."""
        return 4 * self.rows * self.cols

    def links(self) -> np.ndarray:
        """Every directed link of the grid, ascending."""
        p = np.arange(self.rows * self.cols, dtype=np.int64)
        r, c = p // self.cols, p % self.cols
        ok = np.stack([c < self.cols - 1, c > 0, r < self.rows - 1, r > 0], axis=1)
        return (4 * p[:, None] + np.arange(4)[None, :])[ok]

    def ends(self, link: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """The positions a link leaves and enters (ints or arrays)."""
        link = np.asarray(link, dtype=np.int64)
        p, d = link // 4, link % 4
        step = np.choose(d, [1, -1, self.cols, -self.cols])
        return p, p + step

    def name(self, link: int) -> str:
        """`tile 3 -> tile 4 (east)`; a position without a tile is named by its grid place."""
        a, b = (int(x) for x in self.ends(int(link)))
        return f"{self._pos(a)} -> {self._pos(b)} ({DIRECTIONS[int(link) % 4]})"

    def _pos(self, p: int) -> str:
        return f"tile {p}" if p < self.tiles else f"router ({p // self.cols}, {p % self.cols})"


def routes(mesh: Mesh, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """XY routes of messages from tiles `src[m]` to `dst[m]` as a CSR: the links of message m, in the order
    it crosses them, are `links[ptr[m]:ptr[m + 1]]` (none when src == dst)."""
    src, dst = np.asarray(src, np.int64).ravel(), np.asarray(dst, np.int64).ravel()
    cols = mesh.cols
    r0, c0, r1, c1 = src // cols, src % cols, dst // cols, dst % cols
    nx, ny = np.abs(c1 - c0), np.abs(r1 - r0)
    n = nx + ny
    ptr = np.zeros(len(src) + 1, dtype=np.int64)
    np.cumsum(n, out=ptr[1:])
    m = np.repeat(np.arange(len(src)), n)
    k = np.arange(int(ptr[-1]), dtype=np.int64) - ptr[:-1][m]  # step index along the route
    in_x = k < nx[m]
    sx = np.sign(c1 - c0)[m]
    sy = np.sign(r1 - r0)[m]
    # X leg: from (r0, c0 + k*sx) one step along the row; Y leg: from (r0 + (k-nx)*sy, c1) one step down/up
    col = np.where(in_x, c0[m] + k * sx, c1[m])
    row = np.where(in_x, r0[m], r0[m] + (k - nx[m]) * sy)
    d = np.where(in_x, np.where(sx > 0, EAST, WEST), np.where(sy > 0, SOUTH, NORTH))
    return ptr, 4 * (row * cols + col) + d


def route(mesh: Mesh, a: int, b: int) -> tuple[int, ...]:
    """The links of the XY route from tile a to tile b, in order."""
    ptr, links = routes(mesh, np.array([a]), np.array([b]))
    return tuple(int(x) for x in links)


def cuts(mesh: Mesh) -> list[tuple[str, np.ndarray]]:
    """The straight cuts of the mesh, each with the directed links that cross it one way: between columns c
    and c + 1 (eastwards, westwards) and between rows r and r + 1 (southwards, northwards)."""
    out = []
    rows, cols = mesh.rows, mesh.cols
    for c in range(cols - 1):
        p = np.arange(rows, dtype=np.int64) * cols + c
        out.append((f"columns {c} | {c + 1} eastwards", 4 * p + EAST))
        out.append((f"columns {c} | {c + 1} westwards", 4 * (p + 1) + WEST))
    for r in range(rows - 1):
        p = r * cols + np.arange(cols, dtype=np.int64)
        out.append((f"rows {r} | {r + 1} southwards", 4 * p + SOUTH))
        out.append((f"rows {r} | {r + 1} northwards", 4 * (p + cols) + NORTH))
    return out
