"""Pure axis and access helpers: axis roles, feature maps, and fitting `AxisMap` windows to index pairs.

Every tensor axis has a role: `h` (part of the pixel row), `w` (pixel column) or `c` (values inside a pixel).
Fresh tensors follow workload.py's convention (4-D NCHW is (h, c, h, w), 3-D [N, T, D] is (h, h, c), 2-D [B, F]
is (h, c), 1-D is (c,)). An op's access is found either from per-axis windows (`axis_access`) or by fitting the
smallest window that holds what each output element reads (`fit_pairs`); whatever cannot be expressed becomes a
wider window, at worst `WHOLE`. Nothing here knows ONNX.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from cimopt.arith import ceil_div
from cimopt.workload import ELEMENTWISE, IDENTITY, WHOLE, Access, AxisMap, FeatureMap

Dims = tuple[int, ...]
Roles = tuple[str, ...]

#: Ops whose index arrays (one int64 per element) would exceed this many elements get a cheaper answer:
#: a reduced problem when one exists (movement.py), else a conservative access.
INDEX_LIMIT = 1 << 23


def default_roles(rank: int) -> Roles:
    if rank == 0:
        return ()
    if rank == 1:
        return ("c",)
    if rank == 2:
        return ("h", "c")
    if rank == 3:
        return ("h", "h", "c")
    return ("h", "c") + ("h",) * (rank - 3) + ("w",)


def canon_roles(dims: Dims, roles: Roles) -> Roles:
    """Size-1 axes take their default role: they carry no pixel, so this changes nothing but comparisons."""
    default = default_roles(len(dims))
    return tuple(default[a] if d == 1 else r for a, (d, r) in enumerate(zip(dims, roles, strict=True)))


def rows_roles(rank: int) -> Roles:
    """All axes but the last are pixel rows (a matrix of row vectors)."""
    return ("h",) * (rank - 1) + ("c",) if rank else ()


def fmap(dims: Dims, roles: Roles) -> FeatureMap:
    c = h = w = 1
    for d, r in zip(dims, roles, strict=True):
        if r == "h":
            h *= d
        elif r == "w":
            w *= d
        else:
            c *= d
    return FeatureMap(c, h, w, tuple(int(d) for d in dims))


def pixel_coords(dims: Dims, roles: Roles, flat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel row and column of the elements with flat (row-major) indices `flat` (default: all elements)."""
    rank = len(dims)
    dtype = np.int32 if math.prod(dims) < 2**31 else np.int64
    row: np.ndarray = np.zeros((1,) * rank, dtype=dtype)
    col: np.ndarray = np.zeros((1,) * rank, dtype=dtype)
    for axis, (d, r) in enumerate(zip(dims, roles, strict=True)):
        if r == "c" or d == 1:
            continue
        idx = np.arange(d, dtype=dtype).reshape((1,) * axis + (d,) + (1,) * (rank - axis - 1))
        if r == "h":
            row = row * d + idx
        else:
            col = col * d + idx
    full_row = np.broadcast_to(row, dims).ravel()
    full_col = np.broadcast_to(col, dims).ravel()
    if flat is None:
        return full_row, full_col
    return full_row[flat], full_col[flat]


def full_map(n_in: int) -> AxisMap:
    return AxisMap(num=0, extent=max(n_in - 1, 0))


def is_full(m: AxisMap, n_out: int, n_in: int) -> bool:
    lo, hi = m.window(np.arange(n_out), n_in)
    return bool(np.all(lo == 0) and np.all(hi == n_in - 1))


def make_access(rows: AxisMap, cols: AxisMap, fm_out: FeatureMap, fm_in: FeatureMap) -> Access:
    """`Access(rows, cols)`, or WHOLE when every output pixel reads every pixel of a multi-pixel input."""
    if fm_in.pixels > 1 and is_full(rows, fm_out.height, fm_in.height) and is_full(cols, fm_out.width,
                                                                                      fm_in.width):
        return WHOLE
    return Access(rows, cols)


def fit_axis(lo: np.ndarray, hi: np.ndarray, n_in: int) -> AxisMap:
    """The tightest AxisMap whose windows contain `[lo[o], hi[o]]` for every output `o` with `hi[o] >= 0`.

    Candidate slopes (num/den) are tried, each with its tightest offset and extent; the one reading the fewest
    input indices wins (the first on ties), so exact patterns come out in their simplest form.
    """
    n_out = len(lo)
    if n_in == 1:
        return IDENTITY if n_out == 1 else AxisMap(num=0)
    valid = hi >= 0
    o = np.arange(n_out, dtype=np.int64)[valid]
    low, high = lo[valid], hi[valid]
    if len(o) == 0:
        return IDENTITY
    candidates: list[tuple[int, int]] = [(1, 1), (0, 1)]
    ratio = Fraction(n_in, n_out)
    candidates.append((ratio.numerator, ratio.denominator))
    if len(o) >= 2:
        for seq in (low, high):
            slope = Fraction(int(seq[-1] - seq[0]), int(o[-1] - o[0]))
            if slope >= 0:
                s = slope.limit_denominator(max(n_out, 1))
                candidates.append((s.numerator, s.denominator))
                candidates.append((round(slope), 1))
    best: tuple[tuple[int, int, int], AxisMap] | None = None
    seen: set[tuple[int, int]] = set()
    all_o = np.arange(n_out, dtype=np.int64)
    for num, den in candidates:
        if (num, den) in seen or den <= 0 or num < 0:
            continue
        seen.add((num, den))
        off = int(np.min(low * den - num * o + den - 1))
        ext = max(0, int(np.max(high * den - num * o)) - off)
        m = AxisMap(num=num, den=den, offset=off, extent=ext)
        wl, wh = m.window(all_o, n_in)
        if np.any(wl[valid] > low) or np.any(wh[valid] < high):
            continue  # cannot happen by construction; kept as a guard
        cost = (int(np.sum(np.where(wl <= wh, wh - wl + 1, 0))), den, num)
        if best is None or cost < best[0]:
            best = (cost, m)
    return best[1] if best is not None else full_map(n_in)


def fit_pairs(out_dims: Dims, out_roles: Roles, in_dims: Dims, in_roles: Roles, out_flat: np.ndarray | None,
               in_flat: np.ndarray) -> Access:
    """The access of a node whose output element `out_flat[i]` (default: `i`) reads input element `in_flat[i]`."""
    fm_out, fm_in = fmap(out_dims, out_roles), fmap(in_dims, in_roles)
    orow, ocol = pixel_coords(out_dims, out_roles, out_flat)
    irow, icol = pixel_coords(in_dims, in_roles, in_flat)
    maps = []
    for o_idx, i_idx, n_out, n_in in ((orow, irow, fm_out.height, fm_in.height),
                                      (ocol, icol, fm_out.width, fm_in.width)):
        if n_in == 1 or len(i_idx) == 0:
            maps.append(fit_axis(np.zeros(n_out, np.int64), np.full(n_out, -1 if len(i_idx) == 0 else 0), n_in))
            continue
        if n_out == 1:
            maps.append(fit_axis(np.array([i_idx.min()], np.int64), np.array([i_idx.max()], np.int64), n_in))
            continue
        lo = np.full(n_out, n_in, dtype=i_idx.dtype)  # same dtype as the values: ufunc.at's fast path
        hi = np.full(n_out, -1, dtype=i_idx.dtype)
        np.minimum.at(lo, o_idx, i_idx)
        np.maximum.at(hi, o_idx, i_idx)
        maps.append(fit_axis(lo.astype(np.int64), hi.astype(np.int64), n_in))
    return make_access(maps[0], maps[1], fm_out, fm_in)


def axis_access(in_dims: Dims, in_roles: Roles, out_dims: Dims, out_roles: Roles,
                 per_axis: dict[int, AxisMap]) -> Access | None:
    """Access of an op that keeps the axes' roles and reads axis `a` through `per_axis[a]` (others unchanged).

    None when the roles differ (the caller then falls back to something more general).
    """
    if in_roles != out_roles or len(in_dims) != len(out_dims):
        return None
    fm_in, fm_out = fmap(in_dims, in_roles), fmap(out_dims, out_roles)
    maps = []
    for role, n_in in (("h", fm_in.height), ("w", fm_in.width)):
        axes = [a for a, r in enumerate(in_roles) if r == role and (in_dims[a] > 1 or out_dims[a] > 1)]
        if not axes:
            maps.append(IDENTITY)
        elif len(axes) == 1:
            a = axes[0]
            if a in per_axis:
                maps.append(per_axis[a])
            elif in_dims[a] == out_dims[a]:
                maps.append(IDENTITY)
            elif in_dims[a] == 1:
                maps.append(AxisMap(num=0))
            else:
                maps.append(full_map(n_in))
        elif all(a not in per_axis and in_dims[a] == out_dims[a] for a in axes):
            maps.append(IDENTITY)
        else:
            maps.append(full_map(n_in))
    return make_access(maps[0], maps[1], fm_out, fm_in)


def fiber_access(dims: Dims, roles: Roles, axes: Sequence[int]) -> Access:
    """Same-shape op whose output element depends on all elements along `axes` (softmax, norms)."""
    fm = fmap(dims, roles)
    rows = cols = IDENTITY
    for a in axes:
        if dims[a] > 1 and roles[a] == "h":
            rows = full_map(fm.height)
        elif dims[a] > 1 and roles[a] == "w":
            cols = full_map(fm.width)
    return make_access(rows, cols, fm, fm)


def reshape_roles(in_dims: Dims, in_roles: Roles, out_dims: Dims) -> Roles:
    """Roles after a reshape (row-major order kept). Axes are matched in groups of equal size product; a group
    of output axes takes the role its input axes share (splitting a pixel axis keeps the pixel index); pixel
    axes merged into one axis become one pixel-row axis. Groups that mix channels and pixels: default roles."""
    n_out = len(out_dims)
    out: list[str] = []
    i = j = 0
    try:
        while j < n_out:
            if out_dims[j] == 1:
                out.append("c")
                j += 1
                continue
            while in_dims[i] == 1:
                i += 1
            gi, gj = [i], [j]
            pi, pj = in_dims[i], out_dims[j]
            i, j = i + 1, j + 1
            while pi != pj:
                if pi < pj:
                    pi *= in_dims[i]
                    gi.append(i)
                    i += 1
                else:
                    pj *= out_dims[j]
                    gj.append(j)
                    j += 1
            roles = {in_roles[a] for a in gi if in_dims[a] > 1}
            if len(roles) == 1:
                out += [roles.pop()] * len(gj)
            elif "c" not in roles and len(gj) == 1:
                out.append("h")
            else:
                return default_roles(n_out)
    except IndexError:
        return default_roles(n_out)
    return tuple(out)


def channel_only(in_dims: Dims, in_roles: Roles, out_dims: Dims, out_roles: Roles, touched: set[int]) -> bool:
    """True when an axis-wise op that changes only axes `touched` keeps every pixel where it is."""
    if in_roles != out_roles or len(in_dims) != len(out_dims):
        return False
    for axis, r in enumerate(in_roles):
        if r != "c" and (axis in touched or in_dims[axis] != out_dims[axis]):
            if in_dims[axis] == 1 and out_dims[axis] == 1:
                continue
            return False
    return True


def broadcast(shapes: Sequence[Dims]) -> Dims:
    return tuple(int(d) for d in np.broadcast_shapes(*shapes))


def pool_out(n: int, k: int, s: int, p0: int, p1: int, d: int, ceil_mode: bool) -> int:
    span = n + p0 + p1 - d * (k - 1) - 1
    out = (ceil_div(span, s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p0:  # the last window must start inside the input (PyTorch, ONNX 19)
        out -= 1
    return out


def auto_pads(auto_pad: str, n: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
               pads: Sequence[int]) -> list[int]:
    """ONNX pads [begin..., end...] after resolving auto_pad."""
    r = len(n)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for i in range(r):
            out = ceil_div(n[i], s[i])
            total = max((out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - n[i], 0)
            small, big = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else big)
            ends.append(big if auto_pad == "SAME_UPPER" else small)
        return begins + ends
    if auto_pad == "VALID":
        return [0] * (2 * r)
    return list(pads) if pads else [0] * (2 * r)



def norm_axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a



def forward_access(in_dims: Dims, in_roles: Roles, out_dims: Dims, out_roles: Roles,
                   coord_map: Callable[[tuple[np.ndarray, ...]], tuple[np.ndarray, ...]]) -> Access | None:
    """Access of an op where input element with coordinates `c` feeds output element `coord_map(c)`.

    None when the input is too large for index arrays."""
    size = math.prod(in_dims)
    if size > INDEX_LIMIT:
        return None
    flat = np.arange(size, dtype=np.int64)
    coords = np.unravel_index(flat, in_dims) if in_dims else ()
    out_coords = coord_map(tuple(np.asarray(c, dtype=np.int64) for c in coords))
    out_flat = np.ravel_multi_index(out_coords, out_dims) if out_dims else np.zeros(size, dtype=np.int64)
    return fit_pairs(out_dims, out_roles, in_dims, in_roles, np.asarray(out_flat, dtype=np.int64), flat)


def broadcast_access(in_dims: Dims, in_roles: Roles, dims: Dims, roles: Roles) -> Access:
    """Access of an input broadcast to `dims` (numpy rules).

    Over INDEX_LIMIT, the channel axes (of input and output alike) are cut to size 1 first: a pixel's reads do not
    depend on how many channels it has, so the fit stays exact; only when even that is too large: WHOLE."""
    if in_dims == dims and in_roles == roles:
        return ELEMENTWISE
    if math.prod(dims) > INDEX_LIMIT:
        lead = len(dims) - len(in_dims)
        chan = {a for a in range(len(dims)) if roles[a] == "c" and (a < lead or in_roles[a - lead] == "c"
                                                                    or in_dims[a - lead] == 1)}
        dims = tuple(1 if a in chan else d for a, d in enumerate(dims))
        in_dims = tuple(1 if a + lead in chan else d for a, d in enumerate(in_dims))
        if math.prod(dims) > INDEX_LIMIT:
            return WHOLE
    idx = np.broadcast_to(np.arange(math.prod(in_dims), dtype=np.int64).reshape(in_dims), dims)
    return fit_pairs(dims, roles, in_dims, in_roles, None, idx.ravel())
