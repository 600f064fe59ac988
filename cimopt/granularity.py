"""Set granularity: how each MVM layer's OFM is cut into sets (a grid of row blocks x column blocks)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from cimopt.errors import InputError

GRANULARITIES = ("pixel", "row", "rows:K", "block:HxW", "layer")


@dataclass(frozen=True)
class Granularity:
    """How a layer's OFM is cut into sets: blocks of `block_h x block_w` pixels (0 = the whole axis)."""

    spec: str
    block_h: int
    block_w: int

    @staticmethod
    def parse(spec: str) -> Granularity:
        s = spec.strip().lower()
        if s == "pixel":
            return Granularity(s, 1, 1)
        if s == "row":
            return Granularity(s, 1, 0)
        if s == "layer":
            return Granularity(s, 0, 0)
        if m := re.fullmatch(r"rows:(\d+)", s):
            if int(m[1]) > 0:
                return Granularity(s, int(m[1]), 0)
        if m := re.fullmatch(r"block:(\d+)x(\d+)", s):
            if int(m[1]) > 0 and int(m[2]) > 0:
                return Granularity(s, int(m[1]), int(m[2]))
        raise InputError(f"unknown set granularity {spec!r} (choose from {', '.join(GRANULARITIES)}, e.g. rows:4, block:4x4)")

    def edges(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Block boundaries along rows and columns of a `height x width` OFM."""
        bh = self.block_h or height
        bw = self.block_w or width
        return (np.append(np.arange(0, height, bh), height).astype(np.int64),
                np.append(np.arange(0, width, bw), width).astype(np.int64))
