"""Duplication search: moves of one copy scored by CLSA-CIM; never worse than its start, within the budget."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimopt.duplication import copies_greedy, copies_search
from cimopt.mapping import crossbars_per_layer, make_mapping, resolve_budget
from cimopt.schedulers.clsa import schedule_clsa
from cimopt.sets import build_sets
from cimopt.simulator import simulate
from tests.graphs import random_dags
from tests.test_bounds import HW
from tests.test_cpsat import mini_yolo


def test_search_beats_greedy_on_mini_yolo():
    """mini-yolo 8x8, 6 extra PEs, row sets: greedy (5, 2, 1, 1, 1, 2) gives CLSA 38 cycles; the joint optimum
    is 34 (test_cpsat), and moving copies to the later layers reaches it with CLSA-CIM itself."""
    w = mini_yolo(8)
    budget = resolve_budget(w, HW, extra_pes=6)
    s = build_sets(w, HW, "row")
    greedy = copies_greedy(w, HW, budget)
    assert schedule_clsa(w, HW, make_mapping(w, HW, budget, greedy), s).makespan == 38
    copies, makespan = copies_search(w, HW, budget, s)
    m = make_mapping(w, HW, budget, copies, "search")
    sch = schedule_clsa(w, HW, m, s)
    assert makespan == sch.makespan == 34 and simulate(w, sch).valid and m.pes_used <= budget.pes


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(), st.integers(0, 6), st.sampled_from(["row", "pixel"]))
def test_search_never_worse_and_within_budget(w, extra, gran):
    budget = resolve_budget(w, HW, extra_pes=extra)
    s = build_sets(w, HW, gran)
    greedy = copies_greedy(w, HW, budget)
    base = schedule_clsa(w, HW, make_mapping(w, HW, budget, greedy), s).makespan
    copies, makespan = copies_search(w, HW, budget, s, max_evals=200)
    xb = crossbars_per_layer(w, HW)
    assert makespan <= base and sum(x * d for x, d in zip(xb, copies, strict=True)) <= budget.pes
    assert all(1 <= d <= ls.count for d, ls in zip(copies, s.layers, strict=True))
    assert schedule_clsa(w, HW, make_mapping(w, HW, budget, copies), s).makespan == makespan


def test_search_is_a_duplication_strategy(capsys):
    """`--dup search` (prepare, compare, sweep): the copies the search chose are the mapping's, recorded in the
    run and checked by the simulator; on mini-yolo 8x8 +6 PEs at row sets CLSA-CIM gets 34 cycles with them
    (greedy: 38), and the forward-backward schedule is no slower than on greedy's copies."""
    import json

    from cimopt import api
    from cimopt.cli import main

    w = mini_yolo(8)
    p = api.prepare(w, dup="search", extra_pes=6, sets="row")
    assert p.mapping.strategy == "search" and p.mapping.pes_used <= p.budget.pes
    run = api.run(p, "clsa")
    assert run.sim.valid and run.sim.latency == 34 and run.schedule.mapping.copies == p.mapping.copies
    g = api.with_duplication(p, "greedy")
    assert api.run(p, "clsa-fb").sim.latency <= api.run(g, "clsa-fb").sim.latency
    rec = api.record(p, run)
    assert rec.duplication == "search" and dict(rec.copies) == dict(zip([x.name for x in w.layers], p.mapping.copies))
    assert main(["compare", "mini-yolo", "--sets", "row", "--dup", "search", "--extra-pes", "4", "--schedulers",
                 "clsa,clsa-fb", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["duplication"] == "search" and all(r["valid"] and r["duplication"] == "search" for r in d["results"])


def test_unknown_duplication_names_search():
    import pytest

    from cimopt import api
    from cimopt.errors import InputError

    with pytest.raises(InputError, match="choose from none, greedy, minmax, search"):
        api.prepare("mini-cnn", dup="smart")
