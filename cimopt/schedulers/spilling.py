"""List scheduling with a memory tier: the engine of `clsa-spill` and of the memory-aware scheduler.

Same copies, per-copy order and earliest start as CLSA-CIM (set i on copy i mod D_l, raster order; a set starts
at `max(release, ends of its inputs + GPEU and NoC lags, its copy free)`), and the end-ordered buffer rule of
`clsa-bp` (docs/model.md, "Buffers"): a set is placed when its end comes up, its outputs must fit on the tile
that buffers them at that moment, next to everything held there; an output is freed once its last reader is
placed. What differs is what happens when they do not fit: space is made by *spilling* held outputs to the
memory tier below the tiles, and a set whose input was spilled gets it back by a *fill* before it starts
(docs/model.md, "Memory tier"). Transfers are timed on the tier's one link, first come first served, and each
set is spilled at most once (a filled set stays until its last read).

One pass (`_pass`, compiled with numba) takes a policy:
- `patience`: how long a set that does not fit waits for space before outputs are spilled for it (0: at once,
  CLSA-CIM's timing as far as the tier allows; -1: never, unless every set waits, which is a deadlock that only
  a spill can break);
- `drain`: a set also has to fit next to the space claimed by the waiting sets of later layers on its tile
  (consumers before producers, as clsa-bp's drain rule);
- `prefetch`: a set's spilled inputs are filled as soon as it becomes a candidate (its inputs ended and its
  copy reached it), so the fill overlaps its wait, instead of when its end comes up;
- `in_order`: a set becomes a candidate only after its layer's previous set is placed (no copy runs ahead of
  its layer's other copies).
Victims are chosen by furthest next use (Belady): among the held, never-spilled outputs on the tile that no
candidate has pinned, the one whose next reader comes latest in CLSA-CIM's unlimited-buffer schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from cimopt.analysis.buffers import Footprint
from cimopt.hardware import Hardware
from cimopt.list_scheduling import list_schedule, round_robin_copies, to_schedule
from cimopt.mapping import Mapping
from cimopt.messages import Messages, messages
from cimopt.routing import Mesh
from cimopt.schedule import TIER, Schedule, Transfers
from cimopt.schedulers.backpressure import Prepared, _inputs_ended, _peak, _pop, _push, prepare
from cimopt.sets import SetGraph
from cimopt.timing import edge_lags, home_tiles
from cimopt.workload import Workload

NOTYET, HELD, SPILLING, AWAY, FREED = 0, 1, 2, 3, 4  # where a set's outputs are
UNBOUNDED = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Policy:
    """What a pass does when a set's outputs do not fit (module docstring)."""

    name: str
    patience: int  # cycles to wait before spilling for a set; 0: at once; -1: only to break a deadlock
    drain: bool
    prefetch: bool
    in_order: bool = False  # a set is placed only after its layer's previous set (clsa-bp's in-order rules)


CLSA_SPILL = Policy("spill-at-once", 0, False, False)


@dataclass(frozen=True)
class SpillResult:
    """What one pass placed: starts (-1: never placed), the transfers it booked (kind 1 spill, 2 fill, per set,
    in booking order), and why it stopped."""

    start: np.ndarray
    tr_kind: np.ndarray
    tr_set: np.ndarray
    tr_start: np.ndarray
    tr_end: np.ndarray
    complete: bool
    pruned: bool  # gave up because it could not end by `stop`
    waiting: np.ndarray  # sets waiting for space when it stopped (a deadlock report)
    occ: np.ndarray  # elements counted per tile when it stopped
    state: np.ndarray  # where each set's outputs were (NOTYET, HELD, SPILLING, AWAY, FREED, FILLING)
    pinned: np.ndarray  # how many candidates needed each set on its tile
    remaining: np.ndarray  # readers not placed
    wait_tile: np.ndarray  # the tile each waiting set waited on
    msg_start: np.ndarray  # under link contention: when each message left (`Links.messages` order)
    msg_end: np.ndarray  # and arrived


FILLING = 5


@njit(cache=True)
def _hpush(h_off, h_key, h_size, t, key):
    """Push `key` on tile t's max-heap (a slice of the flat `h_key`); False when it is full."""
    base = h_off[t]
    i = h_size[t]
    if i >= h_off[t + 1] - base:
        return False
    while i > 0:
        up = (i - 1) >> 1
        if h_key[base + up] >= key:
            break
        h_key[base + i] = h_key[base + up]
        i = up
    h_key[base + i] = key
    h_size[t] += 1
    return True


@njit(cache=True)
def _hpop(h_off, h_key, h_size, t):
    """Remove and return the largest key of tile t's heap (the caller checks it is not empty)."""
    base = h_off[t]
    top = h_key[base]
    size = h_size[t] - 1
    h_size[t] = size
    if size > 0:
        key = h_key[base + size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and h_key[base + c + 1] > h_key[base + c]:
                c += 1
            if key >= h_key[base + c]:
                break
            h_key[base + i] = h_key[base + c]
            i = c
        h_key[base + i] = key
    return top


@njit(cache=True)
def _held(s, t, state, remaining, s_ptr, s_dst, start, ref, h_off, h_key, h_size, mark):
    """Set s is held on tile t and may be spilled: onto t's heap, keyed by its next use (furthest first). A full
    heap is compacted first (stale entries of sets no longer held dropped)."""
    n = len(state)
    key = min(_next_use(s, s_ptr, s_dst, start, ref), (1 << 62) // n - 1) * n + (n - 1 - s)
    if _hpush(h_off, h_key, h_size, t, key):
        return
    base, size = h_off[t], h_size[t]
    keep = 0
    for k in range(size):  # compact: the held sets' entries, once each
        v = n - 1 - h_key[base + k] % n
        if state[v] == HELD and remaining[v] > 0 and mark[v] != -2 - t:
            mark[v] = -2 - t
            h_key[base + keep] = h_key[base + k]
            keep += 1
    for k in range(keep):
        mark[n - 1 - h_key[base + k] % n] = 0
    h_size[t] = 0
    for k in range(keep):
        _hpush(h_off, h_key, h_size, t, h_key[base + k])
    _hpush(h_off, h_key, h_size, t, key)


@njit(cache=True)
def _next_use(v, s_ptr, s_dst, start, ref):
    """The earliest reference start among v's readers not yet placed."""
    best = np.iinfo(np.int64).max
    for e in range(s_ptr[v], s_ptr[v + 1]):
        r = s_dst[e]
        if start[r] < 0 and ref[r] < best:
            best = ref[r]
    return best


@njit(cache=True)
def _readable(q, last_tr, tr_prev, tr_kind, tr_end, st):
    """Whether set q's outputs are on their tile at time st: 0 yes, -1 no (away: it needs a fill), or the
    time a booked fill lands (> st). Walks q's transfers back from the latest (their ends increase)."""
    k = last_tr[q]
    after = -1
    while k >= 0 and tr_end[k] > st:
        after = k
        k = tr_prev[k]
    if k < 0 or tr_kind[k] == 2:  # nothing has left by st, or the last to land by st was a fill
        return 0
    return tr_end[after] if after >= 0 and tr_kind[after] == 2 else -1


@njit(cache=True)
def _log(kind, q, ts, te, tr_kind, tr_set, tr_start, tr_end, tr_next, first_tr, last_tr, n_tr):
    """Append a transfer of set q to the log (`tr_next[k]`: q's transfer before k, -1 for its first); False
    when the log is full."""
    k = n_tr[0]
    if k >= len(tr_kind):
        return False
    tr_kind[k], tr_set[k], tr_start[k], tr_end[k], tr_next[k] = kind, q, ts, te, last_tr[q]
    if last_tr[q] < 0:
        first_tr[q] = k
    last_tr[q] = k
    n_tr[0] = k + 1
    return True


@njit(cache=True)
def _evict(T, amount, now, h_off, h_key, h_size, state, pinned, remaining, elem, s_ptr, s_dst, start, ref, link_c,
           tier_c, nbytes, link, tier_occ, tier_cap, pending, pend_until, ev_time, ev_code, n_ev, tr_kind, tr_set,
           tr_start, tr_end, tr_next, first_tr, last_tr, n_tr, aside):
    """Spill held outputs of tile T, furthest next use first (its heap, each entry's next use refreshed when it
    comes up), until `amount` elements will be freed; books each spill on the tier's link (`link[0]`: when it is
    free) and records its completion as an event. Returns the time the last of them leaves (-1: none could go).
    Pinned outputs are put aside and back."""
    n = len(state)
    freed = 0
    last = now
    n_aside = 0
    while freed < amount and h_size[T] > 0:
        key = _hpop(h_off, h_key, h_size, T)
        v = n - 1 - key % n
        if state[v] != HELD or remaining[v] <= 0:
            continue  # stale: spilled, freed or filling
        if pinned[v] > 0 or (tier_cap >= 0 and tier_occ[0] + nbytes[v] > tier_cap):
            aside[n_aside] = key
            n_aside += 1
            continue
        use = min(_next_use(v, s_ptr, s_dst, start, ref), (1 << 62) // n - 1)
        if use > key // n:  # readers placed since: its next use is later now
            _hpush(h_off, h_key, h_size, T, use * n + (n - 1 - v))
            continue
        ss = max(now, link[0])
        if not _log(1, v, ss, ss + tier_c[v], tr_kind, tr_set, tr_start, tr_end, tr_next, first_tr, last_tr, n_tr):
            aside[n_aside] = key
            n_aside += 1
            break
        link[0] = ss + link_c[v]
        state[v] = SPILLING
        tier_occ[0] += nbytes[v]
        pending[T] += elem[v]
        if ss + tier_c[v] > pend_until[T]:
            pend_until[T] = ss + tier_c[v]
        ev_time[n_ev[0]] = ss + tier_c[v]
        ev_code[n_ev[0]] = v
        n_ev[0] += 1
        freed += elem[v]
        if ss + tier_c[v] > last:
            last = ss + tier_c[v]
    for k in range(n_aside):
        _hpush(h_off, h_key, h_size, T, aside[k])
    return last if freed > 0 else -1


@njit(cache=True)
def _pin(s, delta, p_ptr, p_src, pinned, pinning):
    """Pin (delta 1) or unpin (-1) the inputs of s: pinned outputs are not spilled."""
    if (delta > 0) == pinning[s]:
        return
    for e in range(p_ptr[s], p_ptr[s + 1]):
        pinned[p_src[e]] += delta
    pinning[s] = delta > 0


@njit(cache=True)
def _pass(dur, release, tile, elem, layer, rank, nxt, head0, p_ptr, p_src, p_lag, readers, s_ptr, s_dst, ref,
          link_c, tier_c, nbytes, cap, tier_cap, n_tiles, n_layers, patience, drain, prefetch, stop, in_order,
          first, m_ptr, m_flight, m_ser, m_lptr, m_links, m_after, p_msg, p_glag, o_ptr, o_pos, n_link_ids):
    """One pass of the engine (module docstring). Heap keys: time << shift | code, with codes (in this order at
    equal times) 0..n-1 a spill of that set completing, n..2n-1 a fill completing, 2n..3n-1 a waiting set's
    patience running out, 3n + rank a candidate set coming up at its earliest end. Under link contention
    (`m_ptr` non-empty: set q's messages are m_ptr[q]..m_ptr[q+1], their routes m_lptr/m_links), a placed set
    sends its messages at once, each after the last message on any link of its route (per link first come,
    first served), and its readers wait for the arrival (`p_msg`: the message of each input edge, `p_glag`: the
    edge's GPEU lag)."""
    n = len(dur)
    p_lag = p_lag.copy()
    contention = len(m_ptr) > 0
    link_free = np.zeros(n_link_ids, np.int64)
    msg_start = np.full(len(m_flight), -1, np.int64)
    msg_end = np.full(len(m_flight), -1, np.int64)
    shift = 1
    while (1 << shift) < 4 * n + 4:
        shift += 1
    mask = (1 << shift) - 1
    who = np.empty(n, np.int64)
    who[rank] = np.arange(n)
    ready = release.copy()
    head = head0.copy()
    cursor = p_ptr[:-1].copy()
    remaining = readers.copy()
    free_at = np.zeros(n, np.int64)
    start = np.full(n, -1, np.int64)
    state = np.zeros(n, np.int8)
    occ = np.zeros(n_tiles, np.int64)
    pending = np.zeros(n_tiles, np.int64)
    pend_until = np.zeros(n_tiles, np.int64)
    claim = np.zeros((n_tiles, n_layers), np.int64)
    claimed = np.zeros(n, np.bool_)
    pinned = np.zeros(n, np.int64)
    pinning = np.zeros(n, np.bool_)
    per_tile = np.bincount(tile, minlength=n_tiles)  # the sets each tile buffers
    r_head = np.zeros(n_tiles + 1, np.int64)  # per tile, its max-heap of spillable outputs: a slice of r_next
    r_head[1:] = np.cumsum(4 * per_tile + 16)
    r_next = np.zeros(r_head[-1], np.int64)
    r_prev = np.zeros(n_tiles, np.int64)  # heap sizes
    mark = np.zeros(n, np.int64)
    aside = np.zeros(int((4 * per_tile + 16).max()) + 1, np.int64)
    w_head = np.full(n_tiles, -1, np.int64)
    w_next = np.full(n, -1, np.int64)
    waiting = np.zeros(n, np.bool_)
    wait_tile = np.zeros(n, np.int64)  # the tile a waiting set needs space on
    wait_need = np.zeros(n, np.int64)  # the elements it needs there
    waits_on = np.full(n, -1, np.int64)
    wait_link = np.full(n, -1, np.int64)
    link = np.zeros(1, np.int64)
    tier_occ = np.zeros(1, np.int64)
    n_log = 8 * n + 64
    tr_kind = np.zeros(n_log, np.int64)
    tr_set = np.zeros(n_log, np.int64)
    tr_start = np.zeros(n_log, np.int64)
    tr_end = np.zeros(n_log, np.int64)
    tr_next = np.full(n_log, -1, np.int64)
    first_tr = np.full(n, -1, np.int64)
    last_tr = np.full(n, -1, np.int64)
    n_tr = np.zeros(1, np.int64)
    ev_time = np.empty(n + 1, np.int64)  # events booked by _evict, moved into the heap after each call
    ev_code = np.empty(n + 1, np.int64)
    n_ev = np.zeros(1, np.int64)
    heap = np.empty(8 * n + 64, np.int64)
    size = 0
    complete = True
    pruned = False

    for s in range(n):
        if head[s] and _inputs_ended(s, cursor, p_ptr, p_src, p_lag, start, ready, waits_on, wait_link, in_order,
                                     first, 0):
            _push(heap, size, (ready[s] + dur[s]) << shift | (3 * n + rank[s]))
            size += 1
            if drain:
                claim[tile[s], layer[s]] += elem[s]
                claimed[s] = True
    placed = 0
    now = 0
    while placed < n:
        if size == 0:  # every remaining set waits for space: spill for the one that comes first
            best = -1
            for t_ in range(n_tiles):
                w = w_head[t_]
                while w >= 0:
                    if best < 0 or rank[w] < rank[best]:
                        best = w
                    w = w_next[w]
            if best < 0:
                complete = False
                break
            T = wait_tile[best]
            amount = occ[T] - pending[T] + wait_need[best] - cap
            if amount > 0 and _evict(T, amount, now, r_head, r_next, r_prev, state, pinned, remaining, elem, s_ptr,
                                     s_dst, start, ref, link_c, tier_c, nbytes, link, tier_occ, tier_cap, pending,
                                     pend_until, ev_time, ev_code, n_ev, tr_kind, tr_set, tr_start, tr_end, tr_next,
                                     first_tr, last_tr, n_tr, aside) < 0:
                complete = False  # nothing on that tile can go: no schedule under these rules
                break
            w = w_head[T]
            w_head[T] = -1
            while w >= 0:
                waiting[w] = False
                _push(heap, size, now << shift | (3 * n + rank[w]))
                size += 1
                w = w_next[w]
        for k in range(n_ev[0]):
            _push(heap, size, ev_time[k] << shift | ev_code[k])
            size += 1
        n_ev[0] = 0
        if size == 0:
            continue
        key = heap[0]
        t = key >> shift
        code = key & mask
        if code >= 3 * n and t > stop:
            pruned = True
            complete = False
            break
        _pop(heap, size)
        size -= 1
        now = t
        if code < n:  # a spill completed: its space is free
            v = code
            T = tile[v]
            occ[T] -= elem[v]
            pending[T] -= elem[v]
            if remaining[v] > 0:
                state[v] = AWAY
            else:
                state[v] = FREED
                tier_occ[0] -= nbytes[v]
            w = w_head[T]
            w_head[T] = -1
            while w >= 0:
                waiting[w] = False
                _push(heap, size, t << shift | (3 * n + rank[w]))
                size += 1
                w = w_next[w]
            continue
        if code < 2 * n:  # a fill completed: back on its tile, the tier's copy gone
            v = code - n
            tier_occ[0] -= nbytes[v]
            if state[v] == FILLING:
                if remaining[v] > 0:
                    state[v] = HELD
                    _held(v, tile[v], state, remaining, s_ptr, s_dst, start, ref, r_head, r_next, r_prev, mark)
                else:
                    state[v] = FREED
                    occ[tile[v]] -= elem[v]
            continue
        if code < 3 * n:  # a waiting set's patience ran out: spill for it now
            s = code - 2 * n
            if not waiting[s] or start[s] >= 0:
                continue
            T = wait_tile[s]
            amount = occ[T] - pending[T] + wait_need[s] - cap
            if drain and T == tile[s]:
                for lc in range(layer[s] + 1, n_layers):
                    amount += claim[T, lc]
            if amount > 0:
                _evict(T, amount, t, r_head, r_next, r_prev, state, pinned, remaining, elem, s_ptr, s_dst, start, ref,
                       link_c, tier_c, nbytes, link, tier_occ, tier_cap, pending, pend_until, ev_time, ev_code, n_ev,
                       tr_kind, tr_set, tr_start, tr_end, tr_next, first_tr, last_tr, n_tr, aside)
            continue
        s = who[code - 3 * n]
        if start[s] >= 0 or waiting[s]:
            continue  # a stale key: already placed, or parked on a wait list
        st = t - dur[s]
        # 1) its inputs on their tiles at its start: fill what was spilled
        latest = -1
        blocked = -1
        for e in range(p_ptr[s], p_ptr[s + 1]):
            q = p_src[e]
            if first_tr[q] < 0:
                continue
            r_ = _readable(q, last_tr, tr_next, tr_kind, tr_end, st)
            if r_ == 0:
                continue
            if r_ > 0:
                latest = max(latest, r_)
                continue
            if state[q] == SPILLING or state[q] == FILLING:
                # still on its way out, or already on its way back for another reader: wait for that
                latest = max(latest, tr_end[last_tr[q]] + (0 if state[q] == FILLING else 1))
                continue
            Tq = tile[q]
            _pin(s, 1, p_ptr, p_src, pinned, pinning)
            if occ[Tq] + elem[q] <= cap:
                room = t
            elif occ[Tq] - pending[Tq] + elem[q] <= cap:
                room = pend_until[Tq]
            else:
                room = _evict(Tq, occ[Tq] - pending[Tq] + elem[q] - cap, t, r_head, r_next, r_prev, state, pinned,
                              remaining, elem, s_ptr, s_dst, start, ref, link_c, tier_c, nbytes, link, tier_occ,
                              tier_cap, pending, pend_until, ev_time, ev_code, n_ev, tr_kind, tr_set, tr_start, tr_end,
                              tr_next, first_tr, last_tr, n_tr, aside)
                if room < 0:
                    blocked = e
                    break
            fs = max(t, link[0], room)
            if not _log(2, q, fs, fs + tier_c[q], tr_kind, tr_set, tr_start, tr_end, tr_next, first_tr, last_tr, n_tr):
                complete = False
                break
            link[0] = fs + link_c[q]
            occ[Tq] += elem[q]
            state[q] = FILLING
            ev_time[n_ev[0]] = fs + tier_c[q]
            ev_code[n_ev[0]] = n + q
            n_ev[0] += 1
            latest = max(latest, fs + tier_c[q])
        if not complete:
            break
        if blocked >= 0:  # no room to fill an input yet: wait for space on that tile (unpinned meanwhile)
            q = p_src[blocked]
            _pin(s, -1, p_ptr, p_src, pinned, pinning)
            w_next[s] = w_head[tile[q]]
            w_head[tile[q]] = s
            waiting[s] = True
            wait_tile[s] = tile[q]
            wait_need[s] = elem[q]
            continue
        if latest > st:
            _pin(s, 1, p_ptr, p_src, pinned, pinning)
            _push(heap, size, (latest + dur[s]) << shift | (3 * n + rank[s]))
            size += 1
            continue
        # 2) its outputs on their tile at its end
        T = tile[s]
        if elem[s] > 0:
            need = occ[T] + elem[s]
            for e in range(p_ptr[s], p_ptr[s + 1]):  # the inputs it is the last reader of go at its start
                q = p_src[e]
                if remaining[q] == 1 and tile[q] == T and state[q] == HELD:
                    need -= elem[q]
            ahead = 0
            if drain:
                for lc in range(layer[s] + 1, n_layers):
                    ahead += claim[T, lc]
            if need + ahead > cap:
                _pin(s, 1, p_ptr, p_src, pinned, pinning)
                soon = need - pending[T] + ahead <= cap  # spills under way will make room
                if not soon and patience == 0:
                    soon = _evict(T, need - pending[T] + ahead - cap, t, r_head, r_next, r_prev, state, pinned,
                                  remaining, elem, s_ptr, s_dst, start, ref, link_c, tier_c, nbytes, link, tier_occ,
                                  tier_cap, pending, pend_until, ev_time, ev_code, n_ev, tr_kind, tr_set, tr_start,
                                  tr_end, tr_next, first_tr, last_tr, n_tr, aside) >= 0
                if soon:  # parked, pinned, until a spill on its tile completes (that wakes it)
                    w_next[s] = w_head[T]
                    w_head[T] = s
                    waiting[s] = True
                    wait_tile[s] = T
                    wait_need[s] = elem[s]
                    continue
                _pin(s, -1, p_ptr, p_src, pinned, pinning)  # parked: its inputs may be spilled meanwhile
                w_next[s] = w_head[T]
                w_head[T] = s
                waiting[s] = True
                wait_tile[s] = T
                wait_need[s] = elem[s]
                if patience > 0 and size < len(heap) - n - 8:
                    _push(heap, size, (t + patience) << shift | (2 * n + s))
                    size += 1
                continue
        # 3) place it
        start[s] = st
        placed += 1
        if contention:  # its messages leave now; its readers wait for them
            for m in range(m_ptr[s], m_ptr[s + 1]):
                ms = t if m_after[m] < 0 else max(t, msg_end[m_after[m]])  # after the detour to its storage tile
                for k in range(m_lptr[m], m_lptr[m + 1]):
                    if link_free[m_links[k]] > ms:
                        ms = link_free[m_links[k]]
                for k in range(m_lptr[m], m_lptr[m + 1]):
                    link_free[m_links[k]] = ms + m_ser[m]
                msg_start[m] = ms
                msg_end[m] = ms + m_flight[m]
            for k in range(o_ptr[s], o_ptr[s + 1]):
                e = o_pos[k]
                m = p_msg[e]
                if m >= 0:
                    p_lag[e] = msg_end[m] - st + p_glag[e]
        if elem[s] > 0:
            occ[T] += elem[s]
            state[s] = HELD
            _held(s, T, state, remaining, s_ptr, s_dst, start, ref, r_head, r_next, r_prev, mark)
        else:
            state[s] = FREED
        wake = -1
        if drain and claimed[s]:
            claim[T, layer[s]] -= elem[s]
            if claim[T, layer[s]] == 0:
                wake = T
        _pin(s, -1, p_ptr, p_src, pinned, pinning)
        for e in range(p_ptr[s], p_ptr[s + 1]):
            q = p_src[e]
            remaining[q] -= 1
            if elem[q] == 0:
                continue
            if remaining[q] > 0:
                if state[q] == HELD:  # its next use moved on: a fresh heap entry (the old one goes stale)
                    _held(q, tile[q], state, remaining, s_ptr, s_dst, start, ref, r_head, r_next, r_prev, mark)
                continue
            Tq = tile[q]
            if state[q] == HELD:  # (its heap entry goes stale)
                occ[Tq] -= elem[q]
                state[q] = FREED
            elif state[q] == AWAY:
                state[q] = FREED
                tier_occ[0] -= nbytes[q]
            # SPILLING or FILLING: freed when that completes
            w = w_head[Tq]
            w_head[Tq] = -1
            while w >= 0:
                waiting[w] = False
                _push(heap, size, t << shift | (3 * n + rank[w]))
                size += 1
                w = w_next[w]
        if wake >= 0:  # this layer no longer holds the waiting back (drain)
            w = w_head[wake]
            w_head[wake] = -1
            while w >= 0:
                waiting[w] = False
                _push(heap, size, t << shift | (3 * n + rank[w]))
                size += 1
                w = w_next[w]
        # 4) what it unblocks: its copy's next set, and consumers whose inputs are all placed
        m = nxt[s]
        if m >= 0:
            head[m] = True
            free_at[m] = t
        c = waits_on[s]
        waits_on[s] = -1
        while True:
            if c < 0:
                if m < 0:
                    break
                c, m = m, -1
                nxt_c = -1
            else:
                nxt_c = wait_link[c]
            if head[c] and start[c] < 0 and _inputs_ended(c, cursor, p_ptr, p_src, p_lag, start, ready, waits_on,
                                                          wait_link, in_order, first, t - dur[c] if t > dur[c] else 0):
                end_c = max(ready[c], free_at[c]) + dur[c]
                if prefetch:  # fill its spilled inputs now, where there is room without spilling
                    for e in range(p_ptr[c], p_ptr[c + 1]):
                        q = p_src[e]
                        if state[q] != AWAY or _readable(q, last_tr, tr_next, tr_kind, tr_end, end_c - dur[c]) >= 0:
                            continue
                        Tq = tile[q]
                        if occ[Tq] + elem[q] > cap or w_head[Tq] >= 0:  # no room, or sets wait for it there
                            continue
                        fs = max(t, link[0])
                        if not _log(2, q, fs, fs + tier_c[q], tr_kind, tr_set, tr_start, tr_end, tr_next, first_tr,
                                    last_tr, n_tr):
                            continue
                        link[0] = fs + link_c[q]
                        occ[Tq] += elem[q]
                        state[q] = FILLING
                        _push(heap, size, (fs + tier_c[q]) << shift | (n + q))
                        size += 1
                _push(heap, size, end_c << shift | (3 * n + rank[c]))
                size += 1
                if drain and not claimed[c]:
                    claim[tile[c], layer[c]] += elem[c]
                    claimed[c] = True
            c = nxt_c
    k = n_tr[0]
    return (start, tr_kind[:k], tr_set[:k], tr_start[:k], tr_end[:k], complete and placed == n, pruned,
            np.flatnonzero(waiting), occ, state, pinned, remaining, wait_tile, msg_start, msg_end)


@dataclass(frozen=True, eq=False)
class Links:
    """Under link contention: the messages of the round-robin copies (`cimopt.messages`) and, per input edge
    in the engine's order, the message it waits for (-1: same tile) and its GPEU lag; per set its input-edge
    positions (to update their lags when its messages are sent)."""

    messages: Messages
    m_ptr: np.ndarray
    p_msg: np.ndarray
    p_glag: np.ndarray
    o_ptr: np.ndarray
    o_pos: np.ndarray
    n_link_ids: int

    @staticmethod
    def none() -> Links:
        z = np.zeros(0, np.int64)
        return Links(None, z, z, z, z, z, 1)


def links_of(sets: SetGraph, hw: Hardware, mapping: Mapping, prep: Prepared) -> Links:
    """The messages and edge tables of `Links` for the round-robin copies (`Links.none()` without contention)."""
    if not hw.noc_contention:
        return Links.none()
    home = home_tiles(sets, mapping, prep.copy)
    msgs = messages(hw, mapping.budget.tiles, sets.src, sets.dst, home, sets.elements,
                    None if mapping.storage is None else prep.tile)
    m_ptr = np.searchsorted(msgs.job, np.arange(sets.num_sets + 1)).astype(np.int64)
    _, by_dst = sets.csr("dst")
    p_msg = msgs.of_edge[by_dst]
    p_glag = sets.lag[by_dst]
    o_order = np.argsort(prep.p_src, kind="stable")
    o_ptr = np.searchsorted(prep.p_src[o_order], np.arange(sets.num_sets + 1)).astype(np.int64)
    return Links(msgs, m_ptr, p_msg, p_glag, o_ptr, o_order.astype(np.int64),
                 Mesh.of(hw, mapping.budget.tiles).link_ids)


def run_pass(prep: Prepared, dur: np.ndarray, release: np.ndarray, s_ptr: np.ndarray, s_dst: np.ndarray,
             ref: np.ndarray, link_c: np.ndarray, tier_c: np.ndarray, nbytes: np.ndarray, cap: int,
             tier_cap: int | None, n_layers: int, policy: Policy, stop: int = UNBOUNDED,
             links: Links | None = None) -> SpillResult:
    """One pass of the engine under `policy` (`spill_problem` makes the arrays)."""
    lk = links or Links.none()
    z = np.zeros(0, np.int64)
    msgs = lk.messages
    out = _pass(dur, release, prep.tile, prep.elem, prep.layer, prep.rank, prep.nxt, prep.head, prep.p_ptr,
                prep.p_src, prep.p_lag, prep.readers, s_ptr, s_dst, ref, link_c, tier_c, nbytes, int(cap),
                -1 if tier_cap is None else int(tier_cap), prep.n_tiles, n_layers, int(policy.patience),
                policy.drain, policy.prefetch, int(stop), policy.in_order, prep.first, lk.m_ptr,
                z if msgs is None else msgs.flight, z if msgs is None else msgs.ser,
                z if msgs is None else msgs.ptr, z if msgs is None else msgs.links, z if msgs is None else msgs.after,
                lk.p_msg, lk.p_glag, lk.o_ptr, lk.o_pos, lk.n_link_ids)
    return SpillResult(*out)


@dataclass(frozen=True, eq=False)
class SpillProblem:
    """What every pass needs, computed once: clsa-bp's preparation (copies, lags, buffering tiles, held
    elements, inputs by destination), each set's readers, CLSA-CIM's unlimited-buffer starts (the reference
    order for furthest-next-use eviction), and each set's transfer costs on the tier."""

    prep: Prepared
    clsa: Schedule
    s_ptr: np.ndarray
    s_dst: np.ndarray
    nbytes: np.ndarray  # bytes of each set's outputs
    link_c: np.ndarray  # cycles each set's transfer keeps the tier's link busy
    tier_c: np.ndarray  # cycles each transfer takes (link + latency)
    links: Links  # the messages under link contention (`Links.none()` without)


def spill_problem(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, model: str = "") -> SpillProblem:
    lag = edge_lags(sets, hw, mapping, round_robin_copies(sets, mapping))
    clsa = list_schedule(workload, hw, mapping, sets, barrier=False, name="clsa", model=model, lag=lag)
    prep = prepare(workload, hw, mapping, sets, lag=lag)
    s_ptr, by_src = sets.csr("src")
    elements = np.concatenate([ls.pixels * lay.out.channels for ls, lay in zip(sets.layers, workload.layers,
                                                                                strict=True)] or [np.zeros(0, np.int64)])
    nbytes = np.asarray(hw.transfer_bytes(elements.astype(np.int64)), np.int64)
    if hw.has_tier:
        link_c = np.asarray(hw.tier_link_cycles(elements.astype(np.int64)), np.int64)
        tier_c = np.asarray(hw.tier_cycles(elements.astype(np.int64)), np.int64)
    else:
        link_c = tier_c = np.zeros(sets.num_sets, np.int64)
    return SpillProblem(prep, clsa, s_ptr, sets.dst[by_src], nbytes, link_c, tier_c, links_of(sets, hw, mapping, prep))


def spill_pass(sp: SpillProblem, sets: SetGraph, hw: Hardware, cap: int, policy: Policy,
               stop: int = UNBOUNDED) -> SpillResult:
    """One pass of the engine under `policy`."""
    return run_pass(sp.prep, sets.duration, sets.release, sp.s_ptr, sp.s_dst, sp.clsa.start, sp.link_c, sp.tier_c,
                    sp.nbytes, UNBOUNDED if cap is None else cap, hw.tier_capacity_bytes, len(sets.layers), policy,
                    stop, sp.links)


def moved_bytes(sp: SpillProblem, r: SpillResult) -> int:
    """Bytes a pass moves through the tier: every spill and every fill."""
    return int(sp.nbytes[r.tr_set].sum())


def clsa_fits(sp: SpillProblem, sets: SetGraph, cap: int | None) -> bool:
    """Whether CLSA-CIM's own schedule is the answer: it fits `cap` under the set-level rule, and no link
    contention re-times it (then no pass is needed)."""
    if sp.links.messages is not None:
        return False
    return cap is None or _peak(sets, sp.prep.tile, sp.prep.elem, sp.prep.n_tiles, sp.clsa.start) <= cap


def to_spill_schedule(workload: Workload, hw: Hardware, mapping: Mapping, sets: SetGraph, sp: SpillProblem,
                      r: SpillResult, *, name: str, model: str, info: dict) -> Schedule:
    """The pass's sets as jobs, its spills and fills as the schedule's transfers."""
    s = to_schedule(workload, hw, mapping, sets, sp.prep.copy, r.start, r.start + sets.duration, name=name,
                    model=model, info=info)
    local = np.arange(sets.num_sets) - sets.offset[sp.prep.layer]
    q = r.tr_set
    tile = sp.prep.tile[q]
    kind, src, dst, t0, t1 = r.tr_kind, np.where(r.tr_kind == 1, tile, TIER), np.where(r.tr_kind == 1, TIER, tile), \
        r.tr_start, r.tr_end
    msgs = sp.links.messages
    if msgs is not None:  # the NoC messages, as noc transfers
        sent = np.flatnonzero(r.msg_start >= 0)
        q = np.concatenate([q, msgs.job[sent]])
        kind = np.concatenate([kind, np.zeros(len(sent), np.int64)])
        src, dst = np.concatenate([src, msgs.src[sent]]), np.concatenate([dst, msgs.dst[sent]])
        t0, t1 = np.concatenate([t0, r.msg_start[sent]]), np.concatenate([t1, r.msg_end[sent]])
    t = Transfers.of(kind=kind, layer=sp.prep.layer[q], set=local[q], inference=np.zeros(len(q)), src=src, dst=dst,
                     start=t0, end=t1)
    order = np.lexsort((t.kind, t.start))
    return replace(s, transfers=t.select(order))


def deadlock_message(workload: Workload, sets: SetGraph, sp: SpillProblem, r: SpillResult, cap: int, name: str,
                     fp: Footprint) -> str:
    """Why no pass could finish: the waiting sets and the tile they wait on."""
    left = int((r.start < 0).sum())
    names = [lay.name for lay in workload.layers]
    if len(r.waiting):
        s = int(r.waiting[0])
        li = int(sp.prep.layer[s])
        t = int(sp.prep.tile[s])
        who = (f"{names[li]} set {s - int(sets.offset[li])} waits for space on tile {t}, which holds "
               f"{int(r.occ[t]):,} of {cap:,} elements that no spill can free (inputs of waiting sets)")
    else:
        who = "no set can start"
    return (f"{name} cannot finish with a buffer of {cap:,} elements per tile ({left:,} of {sets.num_sets:,} sets "
            f"left; {who}); one set's inputs need {fp.elements:,} on tile {fp.tile}: try a larger "
            "buffer.elements_per_tile or more PEs")
