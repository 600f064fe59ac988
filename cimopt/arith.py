"""Integer arithmetic the model uses in many places: ceiling division (ints and numpy int arrays alike) and
the binary search for the least integer that satisfies a monotone test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def ceil_div(a: int | np.ndarray, b: int | np.ndarray) -> int | np.ndarray:
    """`ceil(a / b)` for a positive `b`, exactly (integer arithmetic, no floats)."""
    return -(-a // b)


def least_true(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The least `x` in `lo .. hi` with `pred(x)`, for a `pred` that only turns from false to true as `x`
    grows (binary search); `hi` if none below it holds."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
