"""Lower bounds: hand-checked values on the golden chain, and soundness against enumerated optima.

`brute_force_optimum` (also used by test_cpsat.py) enumerates every semi-active schedule of a tiny instance:
it shares no code with the schedulers, only the instance data (sets, lags, copies, home tiles).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cimopt.analysis.bounds import (
    _completions,
    _meet,
    closure_bound,
    coarse_grid_closure,
    grid_closure,
    heads_and_tails,
    interval_closure,
    lower_bounds,
    lower_bounds_joint,
    max_copies,
    min_transfer_lags,
    pipeline_bound,
)
from cimopt.builder import WorkloadBuilder, conv_chain
from cimopt.duplication import duplicate
from cimopt.mapping import make_mapping, resolve_budget
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.schedulers.layer_by_layer import schedule_layer_by_layer
from cimopt.sets import build_sets
from tests.conftest import HW, brute_force_optimum, setup

# ------------------------------------------------------------------------------------ brute force




def tiny_chain(gpeu: bool = False):
    """conv 3x3/p1 on 3x4 (3 row sets of 4 pixels), relu, conv 2x2/p0 -> 2x3 (2 row sets of 3)."""
    b = WorkloadBuilder("tiny-chain")
    x = b.input(4, 3, 4)
    x = b.relu(b.conv(x, 4, name="a"))
    b.conv(x, 4, k=2, pad=0, name="b")
    hw = replace(HW, gpeu_cycles=(("activation", 1),), mvm_cycles=2) if gpeu else HW
    return b.build(), hw


def tiny_concat():
    """a: 3x3/p1 on 2x4 (2 row sets); b from a (2 sets); c reads concat(a, b) (2 sets)."""
    b = WorkloadBuilder("tiny-concat")
    x = b.input(2, 2, 4)
    a = b.conv(x, 2, name="a")
    c = b.conv(a, 2, name="b")
    b.conv(b.concat([a, c]), 2, k=1, name="c")
    return b.build(), HW


def tiny_instances():
    """(name, workload, hw, copies, granularity) of instances small enough to enumerate."""
    w1, hw1 = tiny_chain()
    w2, hw2 = tiny_chain(gpeu=True)
    w3, hw3 = tiny_concat()
    noc = replace(HW, pes_per_tile=1, noc_hop_cycles=3)
    return [
        ("chain-1-1", w1, hw1, (1, 1), "row"),
        ("chain-2-1", w1, hw1, (2, 1), "row"),
        ("chain-2-2-gpeu", w2, hw2, (2, 2), "row"),
        ("chain-noc-2-2", w1, noc, (2, 2), "row"),
        ("concat-1-1-1", w3, hw3, (1, 1, 1), "row"),
        ("concat-2-1-1", w3, hw3, (2, 1, 1), "row"),
        ("chain-pixel-2-1", *tiny_pixel(), (2, 1), "pixel"),
    ]


def tiny_pixel():
    """conv 3x3/p1 on 2x2 (4 pixel sets), conv 2x2/p0 -> 1x1 (1 set)."""
    b = WorkloadBuilder("tiny-pixel")
    x = b.input(3, 2, 2)
    x = b.conv(x, 3, name="a")
    b.conv(x, 3, k=2, pad=0, name="b")
    return b.build(), HW


@st.composite
def tiny_random(draw):
    """A random instance of at most 7 row sets: 2-3 convs (k 1 or 3, stride 1-2), maybe an add or concat with
    an earlier node, 1-2 copies per layer, MVM cycles 1-2, GPEU costs 0-1, NoC hops 0-2 with one PE per tile."""
    b = WorkloadBuilder("tiny-random")
    nodes = [b.input(2, draw(st.integers(2, 3)), draw(st.integers(1, 3)))]
    for i in range(draw(st.integers(2, 3))):
        src = draw(st.sampled_from(nodes))
        k = draw(st.sampled_from([1, 3]))
        stride = draw(st.integers(1, 2)) if b._shape(src).height >= 3 else 1
        x = b.conv(src, 2, k=k, stride=stride, name=f"c{i}")
        join = draw(st.sampled_from(["none", "none", "add", "cat"]))
        same = [n for n in nodes if b._shape(n).height == b._shape(x).height and b._shape(n).width == b._shape(x).width
                and b._shape(n).channels == 2]
        if join == "add" and same:
            x = b.add(x, draw(st.sampled_from(same)))
        elif join == "cat" and same:
            x = b.concat([x, draw(st.sampled_from(same))])
        nodes.append(b.relu(x))
    w = b.build()
    assume(sum(layer.out.height for layer in w.layers) <= 7)
    hop = draw(st.integers(0, 2))
    hw = replace(HW, mvm_cycles=draw(st.integers(1, 2)), pes_per_tile=1 if hop else 16, noc_hop_cycles=hop,
                 gpeu_cycles=(("default", draw(st.integers(0, 1))),))
    copies = tuple(draw(st.integers(1, min(2, layer.out.height))) for layer in w.layers)
    return w, hw, copies




# ------------------------------------------------------------------------------------------ tests


def test_brute_force_matches_hand_values():
    """The enumerator itself, on cases worked out by hand."""
    w, hw = tiny_chain()
    # one copy each: a runs rows 0,1,2 at 0,4,8; b row 0 needs a rows 0..1 (end 8), row 1 needs a rows 1..2
    # (end 12): b at 8..11 and 12..15
    assert brute_force_optimum(w, hw, *setup(w, hw, (1, 1), "row")) == 15
    # two copies of a: rows 0 and 1 at 0..4, row 2 at 4..8; b rows at 4..7 and 8..11
    assert brute_force_optimum(w, hw, *setup(w, hw, (2, 1), "row")) == 11
    # GPEU: relu adds 1 cycle per channel (4) to every dependency, MVMs take 2 cycles per pixel (a row of a:
    # 8, of b: 6). Two copies each: a rows 0-1 at 0..8, row 2 at 8..16; b row 1 needs a rows 1-2: 16 + 4 + 6
    w2, hw2 = tiny_chain(gpeu=True)
    assert brute_force_optimum(w2, hw2, *setup(w2, hw2, (2, 2), "row")) == 26


def test_golden_chain_row_bounds():
    w = conv_chain()
    m, s = setup(w, HW, (1, 1, 1), "row")
    lb = lower_bounds(w, HW, m, s)
    # critical path: three 8-cycle rows in a row
    assert lb.critical_path == 24
    # conv2's first row needs conv1 rows 0-1, which need conv0 rows 0-2 on its one copy: starts >= 32,
    # then 8 rows of 8 cycles on one copy: 32 + 64 = 96 (the optimum)
    assert lb.layer_work == 96 and lb.best == 96
    assert lb.closure == 0 and lb.bottleneck == "conv0"  # all three layers give 96; the first one is named


def test_golden_chain_heads_and_tails():
    w = conv_chain()
    m, s = setup(w, HW, (1, 1, 1), "row")
    head, tail = heads_and_tails(s, s.lag)
    assert head.tolist() == [0] * 8 + [8] * 8 + [16] * 8
    head, tail = heads_and_tails(s, s.lag, m.copies)
    # conv1 row 0 needs conv0 rows 0-1 (16 cycles on one copy), rows 1-6 need three rows (24), row 7 two
    assert head[8:16].tolist() == [16, 24, 24, 24, 24, 24, 24, 16]
    # conv2 row 0 needs conv1 rows 0 (head 16) and 1 (head 24): max(24 + 8, 16 + 16) = 32
    assert head[16] == 32
    # tails mirror the heads (the chain is symmetric top to bottom)
    assert tail[0:8].tolist() == head[16:24][::-1].tolist()


def test_golden_chain_pixel_bounds():
    w = conv_chain()
    m, s = setup(w, HW, (1, 1, 1), "pixel")
    lb = lower_bounds(w, HW, m, s)
    assert lb.critical_path == 3
    # conv2 pixel (0,0) needs conv1 (0..1, 0..1); conv1 (1,1) needs 9 conv0 pixels: head 10; 10 + 64 = 74
    assert lb.layer_work == 74
    # the pipeline bound reaches the optimum 84 without a solver (the closure bound below needs CP-SAT)
    assert lb.pipeline == 84 and lb.best == 84 and lb.rule == "pipeline, conv2"
    # closure bound: while conv0 has done T pixels, conv2 can have finished only the pixels whose 5x5
    # window lies inside them; at T=54 that is at most 36 of 64, and the 28 others need 28 more cycles
    # after T + 2: 54 + 2 + 28 = 84, CLSA's makespan, so 84 is optimal
    assert closure_bound(w, s, s.lag, m.copies, max_solves=8).value == 84
    assert schedule_clsa(w, HW, m, s).makespan == 84


def test_closure_bound_stops_at_target():
    w = conv_chain()
    m, s = setup(w, HW, (1, 1, 1), "pixel")
    cb = closure_bound(w, s, s.lag, m.copies, target=80, max_solves=8)
    assert 80 <= cb.value <= 84 and cb.producer == "conv0" and cb.consumer == "conv2"
    assert closure_bound(w, s, s.lag, m.copies, max_solves=0).value == 0


def test_noc_transfer_in_bounds():
    """With one PE per tile the two layers sit on tiles 0 and 1: every dependency crosses one hop."""
    w, _ = tiny_chain()
    hw = replace(HW, pes_per_tile=1, noc_hop_cycles=5)
    m, s = setup(w, hw, (1, 1), "row")
    lags = min_transfer_lags(s, hw, m)
    assert lags.tolist() == [5] * len(s.src)
    lb = lower_bounds(w, hw, m, s)
    assert lb.critical_path == 4 + 5 + 3
    assert lb.best <= brute_force_optimum(w, hw, m, s) == 4 + 4 + 4 + 5 + 3


@pytest.mark.parametrize("case", tiny_instances(), ids=lambda c: c[0])
def test_bounds_below_enumerated_optimum(case):
    _, w, hw, copies, gran = case
    m, s = setup(w, hw, copies, gran)
    opt = brute_force_optimum(w, hw, m, s)
    lb = lower_bounds(w, hw, m, s, closure_solves=4)
    assert 0 < lb.critical_path <= lb.best <= opt
    assert lb.layer_work <= opt and lb.closure <= opt
    assert opt <= schedule_clsa(w, hw, m, s).makespan <= schedule_layer_by_layer(w, hw, m, s).makespan


def test_joint_bounds_below_every_duplication():
    w, hw = tiny_chain()
    budget = resolve_budget(w, hw, extra_pes=2)
    s = build_sets(w, hw, "row")
    assert max_copies((1, 1), [3, 2], budget) == (3, 2)
    best = min(brute_force_optimum(w, hw, make_mapping(w, hw, budget, (a, b)), s)
               for a in (1, 2, 3) for b in (1, 2) if a + b <= 4)
    # (3, 1): all rows of a at 0..4, then b's two rows one after the other on its copy: 10; (2, 2): a's third
    # row ends at 8, so b's second row ends at 11
    assert best == 10
    lb = lower_bounds_joint(w, hw, budget, s, closure_solves=4)
    assert lb.best <= best
    assert lb.critical_path == 7  # a row (4) then a b row (3)


def test_joint_bounds_area():
    """Total crossbar-cycles over the PEs: the golden chain, rows, 3 extra PEs (6 PEs for 192 cycles of work)."""
    w = conv_chain()
    budget = resolve_budget(w, HW, extra_pes=3)
    s = build_sets(w, HW, "row")
    lb = lower_bounds_joint(w, HW, budget, s)
    assert lb.layer_work >= 192 // 6
    greedy = duplicate(w, HW, budget, "greedy")
    assert lb.best <= schedule_clsa(w, HW, greedy, s).makespan


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(tiny_random())
def test_bounds_sound_on_random_tiny_instances(case):
    w, hw, copies = case
    m, s = setup(w, hw, copies, "row")
    opt = brute_force_optimum(w, hw, m, s)
    lb = lower_bounds(w, hw, m, s, closure_solves=4)
    assert lb.best <= opt
    budget = resolve_budget(w, hw, extra_pes=sum(copies) - len(copies))
    if hw.noc_hop_cycles == 0:
        assert lower_bounds_joint(w, hw, budget, s, closure_solves=4).best <= opt


# --------------------------------------------------------------------------------------- pipeline bound


def closure_by_enumeration(rows, cols) -> np.ndarray:
    """G[m] by trying every producer subset of an R x Q grid (R * Q <= 12)."""
    (ra, rb, n_r), (ca, cb, n_q) = rows, cols
    best = np.zeros(n_r * n_q + 1, np.int64)
    for mask in range(1 << (n_r * n_q)):
        have = np.array([(mask >> k) & 1 for k in range(n_r * n_q)], bool).reshape(n_r, n_q)
        cov = sum(bool(have[ra[i]:rb[i] + 1, ca[j]:cb[j] + 1].all()) for i in range(len(ra)) for j in range(len(ca)))
        best[int(have.sum())] = max(best[int(have.sum())], cov)
    return np.maximum.accumulate(best)


@st.composite
def interval_families(draw, n_max: int = 4):
    n_p = draw(st.integers(1, n_max))
    a = draw(st.lists(st.integers(0, n_p - 1), min_size=1, max_size=4))
    b = [draw(st.integers(x, n_p - 1)) for x in a]
    return np.asarray(a), np.asarray(b), n_p


@settings(max_examples=150, deadline=None)
@given(interval_families(3), interval_families(4))
def test_grid_closure_bounds_enumeration(rows, cols):
    """grid_closure >= the true closure on every small grid, and exact with one column (interval_closure)."""
    g = grid_closure(rows, cols)
    truth = closure_by_enumeration(rows, cols)
    assert (g >= truth).all()
    one = (np.zeros(1, np.int64), np.zeros(1, np.int64), 1)
    assert interval_closure(*rows).tolist() == closure_by_enumeration(rows, one).tolist()
    assert grid_closure(rows, one).tolist() == interval_closure(*rows).tolist()


@settings(max_examples=60, deadline=None)
@given(interval_families(4), interval_families(3))
def test_coarse_grid_closure_bounds_enumeration(rows, cols):
    """On 2 x 2 super-blocks the closure is coarser but still never below the truth."""
    g = coarse_grid_closure(rows, cols, 2)
    assert (g >= closure_by_enumeration(rows, cols)).all()
    assert g[-1] == len(rows[0]) * len(cols[0])


def test_grid_closure_hand_values():
    """A 3x3 conv (pad 1) on a 4x4 grid: consumer (i, j) needs rows i-1..i+1 and columns j-1..j+1, clipped.
    A corner 2x2 of the producer covers one consumer, 3x3 covers four (the corner 2x2), the full grid all 16."""
    a = np.clip(np.arange(4) - 1, 0, 3)
    b = np.clip(np.arange(4) + 1, 0, 3)
    g = grid_closure((a, b, 4), (a, b, 4))
    assert g[4] == 1 and g[9] == 4 and g[16] == 16
    assert g[3] == 0


def test_completions_counts_rounds():
    """Two copies, sets of 3 cycles, all startable from 0: by t at most 2 * floor(t / 3) finish."""
    m = _completions(np.full(20, 100, np.int64), 2, 3)
    assert m.tolist() == [2 * (t // 3) for t in range(20)]
    # nothing startable before 5: by t, 2 * floor((t - 5) / 3) + ... of what was startable
    avail = np.where(np.arange(20) >= 5, 100, 0)
    assert _completions(avail, 2, 3)[7] == 0 and _completions(avail, 2, 3)[8] == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=40), st.integers(1, 4), st.integers(1, 6))
def test_completions_match_the_recurrence(avail, copies, pmin):
    """The vectorized form equals M(t) = min(avail(t - pmin), M(t - pmin) + D), M = 0 before pmin."""
    avail = np.sort(np.asarray(avail, np.int64))
    m = np.zeros(len(avail), np.int64)
    for t in range(pmin, len(avail)):
        m[t] = min(avail[t - pmin], m[t - pmin] + copies)
    assert _completions(avail, copies, pmin).tolist() == m.tolist()


def test_meet_hand_values():
    """Two copies of unit sets, 10 sets: forward and backward both finish at most 2 per cycle, so C >= 5; if the
    producers let nothing finish before t = 3, C >= 3 + 5 = 8."""
    t = np.arange(30)
    rate = 2 * t
    assert _meet(rate, rate, 10, 1, 30) == 5
    assert _meet(np.maximum(0, 2 * (t - 3)), rate, 10, 1, 30) == 8


def test_pipeline_bound_golden_row_chain_with_copies():
    """mini-yolo-like: conv0 rows come in two waves of its copies, so conv1's late rows wait (hand-checked).

    tiny chain, two copies of a (3 rows of 4 cycles): rows 0-1 end at 4, row 2 at 8; b's row 1 needs a's
    rows 1-2, so b (3 cycles a row, one copy) ends at >= 8 + 3 = 11 = the optimum."""
    w, hw = tiny_chain()
    m, s = setup(w, hw, (2, 1), "row")
    pb = pipeline_bound(w, s, s.lag, m.copies, horizon=schedule_clsa(w, hw, m, s).makespan)
    assert pb.value == 11 == brute_force_optimum(w, hw, m, s)


@pytest.mark.parametrize("case", tiny_instances(), ids=lambda c: c[0])
def test_pipeline_bound_below_enumerated_optimum(case):
    _, w, hw, copies, gran = case
    m, s = setup(w, hw, copies, gran)
    opt = brute_force_optimum(w, hw, m, s)
    pb = pipeline_bound(w, s, min_transfer_lags(s, hw, m), m.copies, horizon=schedule_clsa(w, hw, m, s).makespan)
    assert pb.value <= opt


def cpsat_only_optimum(w, hw, m, s, limit: float = 5.0) -> int | None:
    """The optimum proven by CP-SAT on its own (no combinatorial floor, none of the bounds under test but heads
    and tails), or None if not proven within `limit` deterministic seconds."""
    from ortools.sat.python import cp_model

    from cimopt.schedulers import cpsat

    inc = cpsat.incumbent(w, hw, m, s, False, m.budget)
    head, tail = heads_and_tails(s, min_transfer_lags(s, hw, m), m.copies)
    v = cpsat.build_model(s, hw, m, cpsat.TileGroups.of(m, hw), m.copies, None, m.budget, head, tail,
                          inc.makespan, 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = limit
    solver.parameters.num_workers = 1
    return int(solver.ObjectiveValue()) if solver.Solve(v.model) == cp_model.OPTIMAL else None


@st.composite
def small_problems(draw):
    """A random small DAG (tests/graphs.py), a granularity and 1-3 copies per layer, maybe NoC hops."""
    from tests.graphs import random_dags

    w = draw(random_dags())
    gran = draw(st.sampled_from(["row", "pixel", "block:2x2", "rows:2"]))
    hop = draw(st.sampled_from([0, 0, 2]))
    hw = replace(HW, pes_per_tile=1 if hop else 16, noc_hop_cycles=hop,
                 gpeu_cycles=(("default", draw(st.integers(0, 1))),))
    copies = tuple(draw(st.integers(1, 3)) for _ in w.layers)
    return w, hw, copies, gran


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(small_problems())
def test_pipeline_bound_below_cpsat_optimum(case):
    """On random DAGs at every granularity: the pipeline bound never exceeds the optimum CP-SAT proves."""
    w, hw, copies, gran = case
    m, s = setup(w, hw, copies, gran)
    assume(s.num_sets <= 120)
    opt = cpsat_only_optimum(w, hw, m, s, limit=2.0)
    assume(opt is not None)
    lb = lower_bounds(w, hw, m, s)
    assert lb.pipeline <= lb.best <= opt
