"""Maxima over receptive windows, forwards (what a pixel reads) and transposed (who reads a pixel)."""

from __future__ import annotations

import numpy as np

from cimopt.simulator.result import NEG
from cimopt.workload import Access, AxisMap


def range_max0(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`out[o] = max(a[lo[o] .. hi[o]])` along axis 0 (NEG where `lo > hi`), by a sparse table of needed levels."""
    n_out = len(lo)
    if n_out == a.shape[0] and np.array_equal(lo, np.arange(n_out)) and np.array_equal(hi, lo):
        return a
    out = np.full((n_out,) + a.shape[1:], NEG, dtype=np.int64)
    valid = lo <= hi
    if not valid.any():
        return out
    length = np.where(valid, hi - lo + 1, 1)
    k = np.floor(np.log2(length)).astype(np.int64)
    level = a
    for kk in range(int(k[valid].max()) + 1):
        if kk:
            h = 1 << (kk - 1)
            level = np.maximum(level[:-h], level[h:])
        sel = np.nonzero(valid & (k == kk))[0]
        if len(sel):
            out[sel] = np.maximum(level[lo[sel]], level[hi[sel] - (1 << kk) + 1])
    return out


def stable_order(*keys: np.ndarray) -> np.ndarray:
    """A stable sort order by several integer keys, the first one primary: one combined int64 key when the
    ranges allow (much faster than lexsort), else lexsort."""
    lo = [int(k.min()) if len(k) else 0 for k in keys]
    span = [int(k.max()) - a + 1 if len(k) else 1 for k, a in zip(keys, lo, strict=True)]
    if np.prod([float(x) for x in span]) < 2.0 ** 62:
        combined = np.zeros(len(keys[0]), dtype=np.int64)
        for k, a, w in zip(keys, lo, span, strict=True):
            combined = combined * w + (k - a)
        return np.argsort(combined, kind="stable")
    return np.lexsort(tuple(reversed(keys)))


def window_max(a: np.ndarray, access: Access, h_out: int, w_out: int) -> np.ndarray:
    """Per output pixel, the max of `a` (the input's map) over the pixel's input window."""
    if access.full:
        return np.full((h_out, w_out), a.max(), dtype=np.int64)
    rlo, rhi = access.rows.window(np.arange(h_out), a.shape[0])
    clo, chi = access.cols.window(np.arange(w_out), a.shape[1])
    r = range_max0(a, rlo, rhi)
    return range_max0(r.T, clo, chi).T


def readers(amap: AxisMap, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray] | None:
    """For every input index, the range of output indices whose window holds it (None if not monotone)."""
    if amap.num < 0 or amap.extent < 0 or amap.den <= 0:
        return None
    o = np.arange(n_out, dtype=np.int64)
    raw_lo = (amap.num * o + amap.offset) // amap.den
    raw_hi = (amap.num * o + amap.offset + amap.extent) // amap.den
    i = np.arange(n_in, dtype=np.int64)
    return np.searchsorted(raw_hi, i, side="left"), np.searchsorted(raw_lo, i, side="right") - 1


def scatter_max0(b: np.ndarray, amap: AxisMap, n_in: int) -> np.ndarray:
    """Transposed window max along axis 0: `out[i] = max(b[o])` over outputs `o` whose window holds `i`."""
    rng = readers(amap, n_in, b.shape[0])
    if rng is not None:
        lo, hi = rng
        return range_max0(b, np.clip(lo, 0, b.shape[0] - 1), np.where(lo > hi, -1, np.minimum(hi, b.shape[0] - 1)))
    lo, hi = amap.window(np.arange(b.shape[0]), n_in)
    n = np.maximum(hi - lo + 1, 0)
    o = np.repeat(np.arange(b.shape[0]), n)
    i = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    out = np.full((n_in,) + b.shape[1:], NEG, dtype=np.int64)
    np.maximum.at(out, i, b[o])
    return out


def scatter_max(b: np.ndarray, access: Access, h_in: int, w_in: int) -> np.ndarray:
    """Per input pixel, the max of `b` (a map over the consumer's pixels) over the consumers that read it."""
    if access.full:
        return np.full((h_in, w_in), b.max(), dtype=np.int64)
    r = scatter_max0(b, access.rows, h_in)
    return scatter_max0(r.T, access.cols, w_in).T
