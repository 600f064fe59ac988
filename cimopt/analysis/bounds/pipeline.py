"""The pipeline bound: how many sets each layer can have finished by every time t, propagated down the layers
(and up), through the receptive-field closures of each pair of layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.analysis.bounds.heads import heads_and_tails
from cimopt.analysis.bounds.tiles import TileTimes, tile_transfers
from cimopt.arith import ceil_div, least_true
from cimopt.sets import SetGraph
from cimopt.workload import Workload

PIPELINE_MAX_INTERVAL_SETS = 512  # `interval_closure` on axes of up to this many blocks
PIPELINE_MAX_GRID_CELLS = 200_000_000  # `grid_closure`: producer columns x producer rows x producer sets
PIPELINE_MAX_CELLS = 20_000_000  # time points x layers the pipeline bound may evaluate


@dataclass(frozen=True)
class PipelineBound:
    """The pipeline bound: its value, the layer that gives it, and the direction ("forward": the layer's
    last set plus its least tail; "backward": the same in reversed time, from its first set; "meet": both
    directions' finish counts of the layer together)."""

    value: int
    layer: str
    direction: str = "forward"


def interval_closure(a: np.ndarray, b: np.ndarray, n_p: int) -> np.ndarray:
    """G[m]: the most consumers whose producer intervals [a_v, b_v] (inclusive, in 0..n_p-1) all lie in a set
    of at most m producers, for m = 0..n_p (exact).

    An optimal producer set is a union of maximal runs; a consumer's interval lies in the union iff it lies in
    one run, so the covered consumers of the runs add up. Dynamic programme over the runs: F[j][c], the most
    consumers covered using c producers among the first j, where a run [x, j-1] is preceded by an unused
    position x-1; `cov(x, y)` (consumers inside [x, y]) comes from 2-D prefix sums. O(n_p^3 / vector).
    """
    k = np.zeros((n_p + 1, n_p + 1), np.int64)
    np.add.at(k, (a, b), 1)
    cov = np.cumsum(np.cumsum(k[::-1], axis=0)[::-1], axis=1)  # cov[x, y] = #{v : a_v >= x, b_v <= y}
    neg = np.int64(-(1 << 40))
    f = np.full((n_p + 1, n_p + 1), neg, np.int64)  # f[j, c]
    f[0, 0] = 0
    cs = np.arange(n_p + 1)
    for j in range(1, n_p + 1):
        x = np.arange(j)
        prior = f[np.maximum(x - 1, 0)]  # (x, c): positions before x - 1 (x = 0: nothing before)
        src = cs[None, :] - (j - x)[:, None]
        vals = np.where(src >= 0, prior[x[:, None], np.clip(src, 0, None)], neg) + cov[x, j - 1][:, None]
        f[j] = np.maximum(f[j - 1], vals.max(axis=0))
    return np.maximum.accumulate(f[n_p])


def grid_closure(rows: tuple[np.ndarray, np.ndarray, int], cols: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """An upper bound on G[m], m = 0..R*Q: the most consumer blocks (i, j) whose producer blocks, the rectangle
    rows [ra_i, rb_i] x columns [ca_j, cb_j] of an R x Q producer grid, all lie in a set S of at most m blocks.

    Proof: let s_r be the blocks of S in producer row r and L_w = {r : s_r >= w} (nested, shrinking in w,
    sum_w |L_w| = |S|). Consumer (i, j) is covered only if its columns lie in the intersection of S's rows
    r in A_i, which has at most min_{A_i} s_r blocks, so row i has at most g(min_{A_i} s) covered blocks,
    g = `interval_closure` of the column intervals. Writing g(k) = sum_{w <= k} dg_w (dg_w >= 0),
    sum_i g(min_{A_i} s) = sum_w dg_w #{i : A_i in L_w} <= sum_w dg_w F(|L_w|), F = `interval_closure` of the
    row intervals. So G[m] <= max sum_w dg_w F(c_w) over R >= c_1 >= c_2 >= ... >= c_Q >= 0 with
    sum c_w <= m, a dynamic programme over the levels w with state (c_w, sum so far). Exact for one column.
    """
    (ra, rb, n_r), (ca, cb, n_q) = rows, cols
    f_rows = interval_closure(ra, rb, n_r)  # over consumer rows
    g = interval_closure(ca, cb, n_q)  # over consumer columns
    dg = np.diff(g)
    n = n_r * n_q
    neg = np.int64(-(1 << 40))
    # v[c, t]: best value of the levels so far with the last level's c_w = c and sum of c_w = t
    v = np.full((n_r + 1, n + 1), neg, np.int64)
    v[n_r, 0] = 0  # before level 1: any c_1 <= n_r allowed
    for w in range(n_q):
        u = np.maximum.accumulate(v[::-1], axis=0)[::-1]  # u[c, t] = max over c' >= c of v[c', t]
        nv = np.full_like(v, neg)
        for c in range(n_r + 1):
            nv[c, c:] = u[c, : n + 1 - c] + int(dg[w]) * int(f_rows[c])
        v = nv
    return np.maximum.accumulate(v.max(axis=0))


def coarse_grid_closure(rows: tuple[np.ndarray, np.ndarray, int], cols: tuple[np.ndarray, np.ndarray, int],
                        k: int) -> np.ndarray:
    """`grid_closure` on k x k super-blocks of the producer grid, for grids too large for it (sound, coarser).

    Proof: for a producer set S, let S' be the full k x k super-blocks (the last partial row and column of
    super-blocks left out) lying wholly in S, so |S'| <= |S| / k^2. A consumer whose rectangle lies in S has
    every full super-block inside its rectangle in S' (its inner rectangle, clipped to the full ones). So at
    most grid_closure'(floor(m / k^2)) consumers with a non-empty inner rectangle are covered by m producer
    blocks, plus every consumer whose inner rectangle is empty.
    """
    (ra, rb, n_r), (ca, cb, n_q) = rows, cols
    nr, nq = n_r // k, n_q // k
    ia, ib = ceil_div(ra, k), np.minimum((rb + 1) // k, nr) - 1
    ja, jb = ceil_div(ca, k), np.minimum((cb + 1) // k, nq) - 1
    row_ok, col_ok = ia <= ib, ja <= jb
    free = len(ra) * len(ca) - int(row_ok.sum()) * int(col_ok.sum())
    m = np.arange(n_r * n_q + 1) // (k * k)
    if nr == 0 or nq == 0 or not row_ok.any() or not col_ok.any():
        return np.full(n_r * n_q + 1, len(ra) * len(ca), np.int64)
    g = grid_closure((ia[row_ok], ib[row_ok], nr), (ja[col_ok], jb[col_ok], nq))
    return g[np.minimum(m, nr * nq)] + free


def _pair_closure(sets: SetGraph, p: int, l_: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """An upper bound on G[m], m = 0..n_p: the most sets of l whose predecessors in p (edges u -> v, local
    set numbers) number at most m.

    When every l-set's predecessors are a full rectangle of p's block grid whose rows depend only on the
    l-set's block row and columns only on its block column (receptive fields through one path, at any
    blocking), `grid_closure` (exact for one-column blockings such as row sets), on super-blocks
    (`coarse_grid_closure`) for large grids; always capped by the count of l-sets with at most m
    predecessors in p (any m-closure holds only such sets), which is also the fallback.
    """
    lp, ll = sets.layers[p], sets.layers[l_]
    n_p, n_l = lp.count, ll.count
    pair = np.unique(v * n_p + u)
    v, u = pair // n_p, pair % n_p
    cnt = np.bincount(v, minlength=n_l)
    counts = np.cumsum(np.bincount(cnt, minlength=n_p + 1)[: n_p + 1])
    if not (cnt > 0).all():
        return counts
    pr, pc = u // lp.ncols, u % lp.ncols
    box = []
    for x in (pr, pc):
        lo = np.full(n_l, 1 << 40, np.int64)
        hi = np.full(n_l, -1, np.int64)
        np.minimum.at(lo, v, x)
        np.maximum.at(hi, v, x)
        box.append((lo, hi))
    (r0, r1), (c0, c1) = box
    if not np.array_equal((r1 - r0 + 1) * (c1 - c0 + 1), cnt):
        return counts
    grid = (ll.nrows, ll.ncols)
    r0, r1, c0, c1 = (x.reshape(grid) for x in (r0, r1, c0, c1))
    if not ((r0 == r0[:, :1]).all() and (r1 == r1[:, :1]).all() and (c0 == c0[:1]).all() and (c1 == c1[:1]).all()):
        return counts
    rows, cols = (r0[:, 0], r1[:, 0], lp.nrows), (c0[0], c1[0], lp.ncols)
    k = 1  # the grid in k x k super-blocks: the DP costs (R Q / k^2)^2, the interval closures (R / k)^3
    while (((lp.nrows // k) * (lp.ncols // k)) ** 2 > PIPELINE_MAX_GRID_CELLS
           or max(lp.nrows, lp.ncols) // k > PIPELINE_MAX_INTERVAL_SETS):
        k += 1
    if k == 1:
        return np.minimum(grid_closure(rows, cols), counts)
    return np.minimum(coarse_grid_closure(rows, cols, k), counts)


def _completions(avail: np.ndarray, copies: int, pmin: int) -> np.ndarray:
    """M[t] >= completions by t of a layer with `copies` copies and sets of at least `pmin` cycles, when at
    most avail[s] of its sets can have started by s: M(t) = min over q >= 0 of avail(t - (q+1) pmin) + q D.

    The sets started by t - (q+1) pmin are at most avail there; each copy starts at most q more sets in the
    q pmin cycles after that which still end by t. With t = k pmin + r: M = (k - 1) D + min(D, min over
    0 <= j < k of avail(j pmin + r) - j D) (j = -1: nothing startable before 0), a running minimum per
    residue r (the columns of a (k, pmin) matrix).
    """
    h = len(avail)
    rows = ceil_div(h, pmin)
    a = np.full(rows * pmin, avail[-1] if h else 0, np.int64)
    a[:h] = avail
    a = a.reshape(rows, pmin) - copies * np.arange(rows)[:, None]
    m = np.zeros((rows, pmin), np.int64)
    if rows > 1:
        m[1:] = np.minimum(np.minimum.accumulate(a[:-1], axis=0), copies) + copies * np.arange(rows - 1)[:, None]
    return m.ravel()[:h]


def _started(heads: np.ndarray, h: int) -> np.ndarray:
    """#{sets with head <= s} for s = 0..h-1."""
    return np.searchsorted(np.sort(heads), np.arange(h), side="right").astype(np.int64)


def _pipeline_pass(sets: SetGraph, src: np.ndarray, dst: np.ndarray, lag: np.ndarray, copies: np.ndarray,
                   head: np.ndarray, tail: np.ndarray, order: list[int], h: int,
                   closures: dict, done: dict[int, np.ndarray], groups: TileGroups | None = None) -> tuple[int, int]:
    """One direction of `pipeline_bound`: layers in `order` (producers first), edges src -> dst.

    Returns (bound, layer) and fills `done[l]` = M_l. `closures` caches `_pair_closure` per layer pair.
    `groups`: each layer's copies counted per home tile as well (`pipeline_bound`, tiles).
    """
    src_l, dst_l = sets.layer_of(src), sets.layer_of(dst)
    best, where = 0, -1
    for li in order:
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        avail = _started(head[a:b], h)
        per_tile = None if groups is None else [_started(groups.heads[li][:, g], h)
                                                for g in range(len(groups.copies[li]))]
        into = np.flatnonzero(dst_l == li)
        for p in np.unique(src_l[into]).tolist():
            if p == li or p not in done:
                continue
            e = into[src_l[into] == p]
            key = (p, li)
            if key not in closures:
                closures[key] = _pair_closure(sets, p, li, src[e] - int(sets.offset[p]), dst[e] - a)
            g = closures[key]

            def ready(d: int, g=g, p=p) -> np.ndarray:  # at most g(M_p(s - d)) sets of l startable by s
                shifted = np.concatenate([np.zeros(min(h, d), np.int64), done[p][: max(0, h - d)]])
                return g[np.minimum(shifted, len(g) - 1)]

            avail = np.minimum(avail, ready(int(lag[e].min())))
            if per_tile is not None:
                for k, d in enumerate(groups.least_lags(sets, p, li, e).tolist()):
                    per_tile[k] = np.minimum(per_tile[k], ready(d))
        pmin = int(sets.duration[a:b].min())
        m = _completions(avail, int(copies[li]), pmin)
        if per_tile is not None:
            m = np.minimum(m, sum(_completions(x, int(c), pmin) for x, c in zip(per_tile, groups.copies[li],
                                                                                 strict=True)))
        done[li] = m
        reach = np.flatnonzero(m >= b - a)
        value = (int(reach[0]) if len(reach) else h - 1) + int(tail[a:b].min())
        if value > best:
            best, where = value, li
    return best, where


def _meet(fwd: np.ndarray, bwd: np.ndarray, n: int, pmax: int, h: int) -> int:
    """Least C with fwd(t) + bwd(C - t - 1 + pmax) >= n for every t in 0..C (bwd = n beyond the time axis).

    With makespan C, a set of the layer not finished by t starts at or after t + 1 - pmax, so it is finished by
    C - t - 1 + pmax in reversed time: the sets finished by t (at most fwd(t)) and those (at most bwd(...))
    make up all n. Feasibility only grows with C, so a binary search finds the least C (h - 1 if none).
    """
    def ok(c: int) -> bool:
        t = np.arange(c + 1)
        idx = c - t - 1 + pmax
        back = np.where(idx >= h, n, bwd[np.clip(idx, 0, h - 1)])
        f = fwd[np.minimum(t, h - 1)]
        return bool((f + back >= n).all())

    return least_true(0, h - 1, ok)  # h - 1 also when even it fails


@dataclass(frozen=True, eq=False)
class TileGroups:
    """A layer's copies by home tile for one direction of the pipeline bound: the copies on each tile and the
    sets' heads there (`tiles.TileTimes`; its tails for the backward pass)."""

    times: TileTimes
    heads: tuple[np.ndarray, ...]

    @property
    def copies(self) -> tuple[np.ndarray, ...]:
        return self.times.copies

    def least_lags(self, sets: SetGraph, p: int, li: int, e: np.ndarray) -> np.ndarray:
        """Per tile of layer li: the least lag of the edges e between layers p and li (GPEU lag plus the least
        transfer between any tile of p and that tile; hops are symmetric, so both directions are one)."""
        t = self.times
        tr = tile_transfers(t.hw, t.mapping, t.tiles[p], t.tiles[li], sets.elements[sets.src[e]])
        return (sets.lag[e][:, None] + tr.min(axis=1)).min(axis=0)


def pipeline_bound(workload: Workload, sets: SetGraph, lag: np.ndarray, copies: tuple[int, ...] | np.ndarray, *,
                   horizon: int, tiles: TileTimes | None = None) -> PipelineBound:
    """How many sets each layer can have finished by every time t, propagated down the layers (and up).

    Forward, per layer l and time t (0..horizon), an upper bound M_l(t) on its sets finished by t in any
    schedule:
    - a set can have started by s only if head <= s (`heads_and_tails`, with copies) and all its
      predecessors in every producer layer p ended by s - (least lag p -> l); at most M_p(s - lag) p-sets have,
      and at most G_pl(M_p(...)) l-sets have all their p-predecessors among them (`_pair_closure`): so the sets
      startable by s are at most avail_l(s) = min(#{head <= s}, min_p G_pl(M_p(s - lag_pl)));
    - `_completions` turns that into finishes with D_l copies and the shortest set of l.
    Every M_l counts at least the sets any schedule finishes (by induction over the topological layer order),
    so all n_l sets of l end no earlier than T_l = min {t : M_l(t) >= n_l}, and the makespan is at least
    T_l + the least tail of l's sets. Backward: the same on the reversed schedule (time C - t, edges reversed,
    heads and tails swapped), which is a schedule of the reversed instance with the same makespan. Meet: both
    together per layer (`_meet`): what the producers let it finish early and what the consumers need it to
    start late must cover all its sets.
    Tiles (`tiles`, when the NoC costs cycles: `tiles.tile_times`): heads and tails are the least over each
    set's tiles, and each layer's sets are also counted per home tile g of its copies. A set of l started on a
    copy of g by s has head H(v, g) <= s, and its p-predecessors ended by s - d_g, d_g the least lag from any
    tile of p to g (`TileGroups.least_lags`), so at most min(#{H(., g) <= s}, G_pl(M_p(s - d_g))) of them;
    `_completions` with g's k_g copies bounds those finished, and every set runs on one tile, so M_l(t) is
    also at most the sum over g. The copies on the producers' own tile get the inputs first; the others wait
    for the NoC.
    The value is the largest bound over layers and directions. `horizon` (a valid schedule's makespan, so
    T_l <= horizon) limits the time axis; the value is capped at horizon + 1 if that ever fails (the caller
    treats a bound above a valid makespan as an internal error).
    """
    copies = np.asarray(copies, dtype=np.int64)
    nl = len(sets.layers)
    if sets.num_sets == 0 or 2 * (horizon + 2) * nl > PIPELINE_MAX_CELLS:
        return PipelineBound(0, "")
    h = horizon + 2
    fwd_g = bwd_g = None
    if tiles is None:
        head, tail = heads_and_tails(sets, lag, copies)
    else:
        head, tail = tiles.set_head, tiles.set_tail
        if 2 * h * sum(len(c) for c in tiles.copies) <= PIPELINE_MAX_CELLS:
            fwd_g, bwd_g = TileGroups(tiles, tiles.head), TileGroups(tiles, tiles.tail)
    done_f: dict[int, np.ndarray] = {}
    done_b: dict[int, np.ndarray] = {}
    fwd = _pipeline_pass(sets, sets.src, sets.dst, lag, copies, head, tail, list(range(nl)), h, {}, done_f, fwd_g)
    bwd = _pipeline_pass(sets, sets.dst, sets.src, lag, copies, tail, head, list(range(nl - 1, -1, -1)), h, {},
                         done_b, bwd_g)
    cands = [(fwd[0], fwd[1], "forward"), (bwd[0], bwd[1], "backward")]
    for li in range(nl):
        a, b = int(sets.offset[li]), int(sets.offset[li + 1])
        cands.append((_meet(done_f[li], done_b[li], b - a, int(sets.duration[a:b].max()), h), li, "meet"))
    value, li, direction = max(cands, key=lambda x: x[0])
    if li < 0:
        return PipelineBound(0, "")
    return PipelineBound(min(value, horizon + 1), workload.layers[li].name, direction)
