"""Integer arithmetic the model uses in many places: ceiling division, for ints and numpy int arrays alike."""

from __future__ import annotations

import numpy as np


def ceil_div(a: int | np.ndarray, b: int | np.ndarray) -> int | np.ndarray:
    """`ceil(a / b)` for a positive `b`, exactly (integer arithmetic, no floats)."""
    return -(-a // b)
