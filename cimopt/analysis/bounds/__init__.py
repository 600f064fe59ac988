"""Lower bounds on the makespan: combinatorial ones without a solver, and an optional closure bound.

Every bound here is sound: no valid schedule (same sets, lags, releases and copies) finishes earlier.
The simulator's rules apply (durations, releases, GPEU lags, NoC transfer between home tiles); buffers are
not modelled, and none is needed for a lower bound.

- `critical_path`: the longest path through the set DAG (release + durations + GPEU lags + the least NoC
  transfer any copy pair of the two layers could have).
- heads and tails (`heads_and_tails`): a set's earliest start and the least time from its end to the end of
  the schedule, from precedences and, per producer layer, from its predecessors there sharing that layer's
  copies (the predecessors with the latest heads must all run, D at a time, before the set can start).
- `layer_work`: per layer, its sets must run on its `D_l` copies: for any subset S of its sets, all of S runs
  inside [min head(S), C - min tail(S)]. On D copies that window holds at most D * length cycles of work,
  and one copy runs at least ceil(|S|/D) sets of S, so
  C >= min head(S) + max(ceil(W(S)/D), ceil(|S|/D) * min duration(S)) + min tail(S).
  The subsets tried are the sets with the largest heads (every prefix in that order) and those with the
  largest tails; also every single set (head + duration + tail).
- joint duplication (`lower_bounds_joint`): D_l is unknown, but any duplication under the budget with
  makespan C needs, per layer, at least the smallest D whose layer bound is <= C; the bound is the smallest C
  for which those minimum copy counts fit in the PEs. Also: total crossbar-cycles / PEs.
- tiles (`tiles`, when the NoC costs cycles): heads and tails per home tile of a set's copies, the critical
  path over tiles, copy windows per tile, and the pipeline bound counting each tile's copies apart: the copy
  interplay the least transfer between two layers leaves out.
- `closure_bound` (small instances, asked for explicitly): how little of a layer can be finished while an
  upstream layer is still running (a max-closure problem per time point, solved with CP-SAT). This is what
  proves the golden chain's 84 cycles at pixel sets optimal, where the bounds above give 74.
"""

from cimopt.analysis.bounds.closure import CLOSURE_MAX_CELLS, CLOSURE_MAX_SETS, ClosureBound, closure_bound
from cimopt.analysis.bounds.combined import (
    LowerBounds,
    best_rule,
    closure_rule,
    lower_bounds,
    lower_bounds_joint,
    max_copies,
)
from cimopt.analysis.bounds.heads import heads_and_tails
from cimopt.analysis.bounds.links import LinkBound, _preemptive_one_machine, link_bound, with_link_bound
from cimopt.analysis.bounds.pipeline import (
    PIPELINE_MAX_CELLS,
    PIPELINE_MAX_GRID_CELLS,
    PIPELINE_MAX_INTERVAL_SETS,
    PipelineBound,
    _completions,
    _meet,
    coarse_grid_closure,
    grid_closure,
    interval_closure,
    pipeline_bound,
)
from cimopt.analysis.bounds.tiles import TileTimes, copy_window_bound, tile_path, tile_times
from cimopt.timing import min_transfer_lags

__all__ = ["CLOSURE_MAX_CELLS", "CLOSURE_MAX_SETS", "PIPELINE_MAX_CELLS", "PIPELINE_MAX_GRID_CELLS",
           "PIPELINE_MAX_INTERVAL_SETS", "ClosureBound", "LinkBound", "LowerBounds", "PipelineBound", "_completions",
           "_meet", "_preemptive_one_machine", "best_rule", "closure_bound", "closure_rule", "coarse_grid_closure",
           "grid_closure", "heads_and_tails", "interval_closure", "link_bound", "lower_bounds", "lower_bounds_joint",
           "max_copies", "min_transfer_lags", "pipeline_bound", "with_link_bound", "TileTimes", "copy_window_bound",
           "tile_path", "tile_times"]
